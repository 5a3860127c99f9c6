"""Cohort analysis, the loading step: the stored follow-up results of a cohort as plain records (a Django module).

:func:`load_cohort` reads everything once — a constant number of SQL queries, whatever the cohort size — into the
frozen records of :mod:`assessment.cohort_data` (a :class:`Cohort` of :class:`PatientRecord`). The tables
(:mod:`assessment.cohort_tables`, per lesion :mod:`assessment.cohort_lesions`) and the report formats
(:mod:`assessment.cohort_formats`) take only that plain data, so the dashboard, the ``cohort_report`` command and a
future PDF share the same numbers. Table 4 is computed here at load from the implants' plans of record
(``dosimetry.selectors.pre_post_pairs``).

Choices made at load (the tables state them in their notes):

* A time point (m2, m6, m12) is the patient's first visit recorded with that label inside the time point's
  protocol window (``SEEDTRACK_PROTOCOL["cohort"]["in_window_only"]``, default True; the windows of
  ``assessment.schedule``); days count from the index implant (the first one, day 0).
* Tg: TSH-suppressed Tg (ng/mL) recorded at the visit of each time point; stimulated Tg is left out.
* Enhancement at baseline: any followed lesion with mild or marked enhancement at the baseline measurement (else as
  registered). Distant metastasis: M1 or any lung or bone lesion.
* Remission follows ``SEEDTRACK_PROTOCOL["followup"]["remission_definition"]`` ("dcr" or "orr"); the mode is the
  filter's, else the protocol's ``recist.mode``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.db.models import Min, Prefetch
from django.utils import timezone

from assessment import choices as ac
from assessment.cohort_data import (
    MODES,
    REMISSION,
    RULE_SET,
    RULE_SETS,
    TIMEPOINTS,
    Cohort,
    CohortFilter,
    CohortFilterError,
    LesionResponse,
    PatientRecord,
    RegisteredRecord,
    TgRecord,
    VisitRecord,
)
from assessment.cohort_tables import table4_of
from assessment.models import (
    FollowUpResult,
    FollowUpStatus,
    LabResult,
    LesionDesignation,
    LesionVisitResult,
    Measurement,
    NewTherapy,
    Visit,
)
from assessment.protocol import CohortSettings, FollowupSettings
from assessment.recist import RecistSettings
from assessment.schedule import ScheduleSettings, timepoint_window
from assessment.services import recist_settings
from common.protocol import section_settings
from dosimetry.models import ImplantProcedure, StructureDose
from dosimetry.selectors import plan_of_record, pre_post_pairs, target_of
from registry import choices as rc
from registry.models import Lesion, Patient, Site
from registry.selectors import patients_for
from registry.staging import age_in_completed_years

__all__ = ["load_cohort"]

ENHANCED = {ac.Enhancement.MILD, ac.Enhancement.MARKED}
DISTANT_REGIONS = {rc.LesionRegion.LUNG, rc.LesionRegion.BONE}


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _remission_definition() -> str:
    value = section_settings("followup", FollowupSettings).remission_definition
    if value not in REMISSION:
        raise CohortFilterError("followup.remission_definition", value, f"one of {', '.join(REMISSION)}")
    return value


def _registered(user, flt: CohortFilter):
    """Every registered patient of the filter, implanted or not (an implant-period filter leaves out only the
    patients implanted outside the period: a patient without an implant has no implant date to filter on)."""
    qs = Patient.objects.all() if user is None else patients_for(user)
    if flt.site is not None:
        qs = qs.filter(site__code=flt.site)
    if flt.histology is not None:
        qs = qs.filter(histology=flt.histology)
    qs = qs.annotate(first_implant=Min("procedures__date"))
    if flt.implant_from is not None:
        qs = qs.exclude(first_implant__lt=flt.implant_from)
    if flt.implant_to is not None:
        qs = qs.exclude(first_implant__gt=flt.implant_to)
    return qs


def _patients(user, flt: CohortFilter):
    return _registered(user, flt).filter(first_implant__isnull=False)


def _in_window_only() -> bool:
    value = section_settings("cohort", CohortSettings).in_window_only
    if not isinstance(value, bool):
        raise CohortFilterError("cohort.in_window_only", value, "true or false")
    return value


def _schedule_settings() -> ScheduleSettings:
    return section_settings("schedule", ScheduleSettings)


def load_cohort(user_or_none, flt: CohortFilter | None = None) -> Cohort:
    """The patients visible to the user (None = all, for commands) with an implant, filtered, as plain records.

    A constant number of queries (14, or 15 with a site filter) for any cohort size: one per table, grouped in
    Python. Raises :class:`CohortFilterError` for an unknown site code, or for ``mode="strict"`` when the stored
    patient-level results were computed in per-lesion mode (protocol ``recist.mode``).
    """
    flt = flt or CohortFilter()
    protocol_mode = section_settings("recist", RecistSettings).mode.value
    mode = flt.mode or protocol_mode
    if mode not in MODES:
        raise CohortFilterError("recist.mode", mode, f"one of {', '.join(MODES)}")
    remission = _remission_definition()
    if flt.site is not None:
        codes = list(Site.objects.values_list("code", flat=True))
        if flt.site not in codes:
            raise CohortFilterError("site", flt.site, f"one of {', '.join(codes) or '(no sites recorded)'}")

    qs = _patients(user_or_none, flt)
    patients = list(qs.select_related("site").order_by("study_id"))
    ids = qs.values("pk")

    procedures: dict[int, ImplantProcedure] = {}
    for proc in (ImplantProcedure.objects.filter(patient__in=ids).order_by("patient_id", "date", "id")
                 .prefetch_related(Prefetch("plans__structures", queryset=StructureDose.objects.defer("dvh")))):
        procedures.setdefault(proc.patient_id, proc)  # the index implant: the first one

    lesions: dict[int, list[dict]] = defaultdict(list)
    for row in Lesion.objects.filter(patient__in=ids).values("id", "patient_id", "label", "region", "enhancement"):
        lesions[row["patient_id"]].append(row)
    roles = dict(LesionDesignation.objects.filter(lesion__patient__in=ids).values_list("lesion_id", "role"))

    visits: dict[int, list[dict]] = defaultdict(list)
    visit_rows = Visit.objects.filter(patient__in=ids).order_by("patient_id", "visit_date").values(
        "id", "patient_id", "timepoint", "visit_date", "result__day", "result__is_baseline", "result__overall",
        "result__target", "result__non_target", "result__sum_mm", "result__change_from_baseline_pct",
        "result__volume_cm3", "result__counts_for_bor", "result__rule_set",
    )
    visit_info: dict[int, dict] = {}
    for row in visit_rows:
        visits[row["patient_id"]].append(row)
        visit_info[row["id"]] = row

    baseline_enhancement: dict[int, str] = {}
    for row in Measurement.objects.filter(visit__patient__in=ids, visit__result__is_baseline=True).values(
            "lesion_id", "enhancement"):
        baseline_enhancement[row["lesion_id"]] = row["enhancement"]

    lesion_results: dict[int, list[dict]] = defaultdict(list)
    for row in LesionVisitResult.objects.filter(visit__patient__in=ids).order_by("visit__visit_date", "lesion_id").values(
            "visit_id", "visit__patient_id", "lesion__label", "response", "size_mm", "volume_cm3"):
        lesion_results[row["visit__patient_id"]].append(row)

    tg: dict[int, list[dict]] = defaultdict(list)
    for row in LabResult.objects.filter(patient__in=ids, analyte=ac.Analyte.TG).order_by("sample_date", "id").values(
            "patient_id", "visit_id", "sample_date", "qualifier", "value_std", "tsh_state"):
        tg[row["patient_id"]].append(row)

    followups = {row["patient_id"]: row for row in FollowUpResult.objects.filter(patient__in=ids).values(
        "patient_id", "bor_unconfirmed", "bor_confirmed", "best_change_pct", "max_rtog_grade", "max_ctcae_grade",
        "rule_set")}
    therapies: dict[int, list[date]] = defaultdict(list)
    for pid, start in NewTherapy.objects.filter(patient__in=ids).values_list("patient_id", "start_date"):
        therapies[pid].append(start)
    statuses = {row["patient_id"]: row for row in FollowUpStatus.objects.filter(patient__in=ids).values(
        "patient_id", "status", "status_date", "death_cause")}
    registered = tuple(RegisteredRecord(sid, elig, first is not None) for sid, elig, first in
                       _registered(user_or_none, flt).order_by("study_id").values_list(
                           "study_id", "eligibility_status", "first_implant"))

    in_window_only = _in_window_only()
    schedule = _schedule_settings()
    today = timezone.localdate()
    records = []
    for p in patients:
        proc = procedures.get(p.pk)
        if proc is None:  # pragma: no cover - the query keeps only patients with an implant
            continue
        records.append(_record(p, proc, lesions[p.pk], roles, visits[p.pk], baseline_enhancement,
                               lesion_results[p.pk], visit_info, tg[p.pk], followups.get(p.pk), therapies[p.pk],
                               statuses.get(p.pk), in_window_only, schedule, today))

    stored = sorted({v.rule_set for r in records for v in r.visits if v.rule_set})
    if mode == "strict" and any(rs != RULE_SET for rs in stored):
        raise CohortFilterError(
            "mode", mode, f"'per_lesion' here: the stored results are {', '.join(stored)} (protocol recist.mode "
            f"'{protocol_mode}'); recompute the follow-up in strict mode first")
    index_procedures = [procedures[r.patient_id] for r in records]
    dosimetry = table4_of(pre_post_pairs(index_procedures), len(index_procedures))
    return Cohort(
        filter=flt, mode=mode, rule_set=RULE_SETS[mode],
        patient_rule_set=", ".join(stored) or RULE_SETS.get(protocol_mode, RULE_SET),
        remission_definition=remission, patients=tuple(records),
        dosimetry=dosimetry, in_window_only=in_window_only, registered=registered, as_of=today,
        lesion_settings=recist_settings("per_lesion"),
    )


def _record(p: Patient, proc: ImplantProcedure, lesions: list[dict], roles: Mapping[int, str], visits: list[dict],
            baseline_enhancement: Mapping[int, str], lesion_results: list[dict], visit_info: Mapping[int, dict],
            tg: list[dict], followup: dict | None, therapies: list[date], status: dict | None = None,
            in_window_only: bool = True, schedule: ScheduleSettings | None = None,
            today: date | None = None) -> PatientRecord:
    implant = proc.date
    windows = {tp: tuple((d - implant).days for d in timepoint_window(implant, tp, schedule))
               for tp in ("baseline", *(t for t, _ in TIMEPOINTS))}
    vrecs = []
    for v in visits:
        has_result = v["result__day"] is not None
        window = windows.get(v["timepoint"])
        day = (v["visit_date"] - implant).days
        vrecs.append(VisitRecord(
            timepoint=v["timepoint"], visit_date=v["visit_date"],
            day=v["result__day"] if has_result else (v["visit_date"] - implant).days,
            overall=(v["result__overall"] or "") if has_result else "",
            target=v["result__target"] or "", non_target=v["result__non_target"] or "",
            sum_mm=_f(v["result__sum_mm"]), change_from_baseline_pct=v["result__change_from_baseline_pct"],
            volume_cm3=v["result__volume_cm3"], counts_for_bor=bool(v["result__counts_for_bor"]),
            is_baseline=bool(v["result__is_baseline"]), rule_set=v["result__rule_set"] or "",
            in_window=None if window is None else window[0] <= day <= window[1],
        ))
    followed = [les for les in lesions if roles.get(les["id"]) != ac.LesionRole.NOT_FOLLOWED]
    enhanced = any((baseline_enhancement.get(les["id"]) or les["enhancement"]) in ENHANCED for les in followed)
    distant = p.m_category == rc.MCategory.M1 or any(les["region"] in DISTANT_REGIONS for les in lesions)
    responses = []
    for row in lesion_results:
        v = visit_info[row["visit_id"]]
        responses.append(LesionResponse(
            row["lesion__label"], v["timepoint"], v["visit_date"], (v["visit_date"] - implant).days,
            row["response"] or "", _f(row["size_mm"]), _f(row["volume_cm3"])))
    tg_recs = tuple(TgRecord(
        day=(row["sample_date"] - implant).days,
        timepoint=visit_info[row["visit_id"]]["timepoint"] if row["visit_id"] in visit_info else None,
        qualifier=row["qualifier"], value_ng_ml=float(row["value_std"]), tsh_state=row["tsh_state"] or "",
        visit_date=visit_info[row["visit_id"]]["visit_date"] if row["visit_id"] in visit_info else None,
    ) for row in tg)
    after = sorted(d for d in therapies if d > implant)
    therapy_day = (after[0] - implant).days if after else None
    follow = [v.day for v in vrecs if not v.is_baseline and v.day > 0]
    pd_days = [v.day for v in vrecs if v.overall == "PD" and v.counts_for_bor and not v.is_baseline]
    post = target_of(plan_of_record(list(proc.plans.all()), "post"))
    fu = followup or {}
    st = status or {}
    return PatientRecord(
        patient_id=p.pk, study_id=p.study_id, site=p.site.code, sex=p.sex, histology=p.histology,
        age_at_implant=age_in_completed_years(p.birth_date, implant), implant_date=implant,
        distant_metastasis=distant, enhancement_at_baseline=enhanced, visits=tuple(vrecs),
        lesion_responses=tuple(responses), tg=tg_recs,
        bor_unconfirmed=fu.get("bor_unconfirmed") or "", bor_confirmed=fu.get("bor_confirmed") or "",
        best_change_pct=fu.get("best_change_pct"),
        post_d90_gy=post.d90_gy if post is not None else None, prescription_gy=_f(proc.prescription_gy),
        last_follow_up_day=max(follow) if follow else None, first_pd_day=min(pd_days) if pd_days else None,
        new_therapy_day=therapy_day, max_rtog_grade=fu.get("max_rtog_grade"),
        max_ctcae_grade=fu.get("max_ctcae_grade"), followup_rule_set=fu.get("rule_set") or "",
        eligibility_status=p.eligibility_status, followup_status=st.get("status") or ac.FollowUpState.IN_FOLLOW_UP,
        status_recorded=status is not None,
        status_day=(st["status_date"] - implant).days if st.get("status_date") else None,
        death_cause=st.get("death_cause") or "", in_window_only=in_window_only,
        windows_days=tuple((tp, a, b) for tp, (a, b) in windows.items() if tp != "baseline"),
        days_since_implant=(today - implant).days if today else None,
    )

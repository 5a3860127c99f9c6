"""Cohort analysis, the loading step: the stored follow-up results of a cohort as plain records (a Django module).

:func:`load_cohort` reads everything once — a constant number of SQL queries, whatever the cohort size — into the
frozen records of :mod:`assessment.cohort_data` (a :class:`Cohort` of :class:`PatientRecord`). The tables
(:mod:`assessment.cohort_tables`, per lesion :mod:`assessment.cohort_lesions`) and the report formats
(:mod:`assessment.cohort_formats`) take only that plain data, so the dashboard, the ``cohort_report`` command and a
future PDF share the same numbers. The implants' pre/post pairs of plans of record are loaded here
(``dosimetry.selectors.records_of``); Table 4 is computed from them only when a report asks for it.

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
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
from django.db.models import Exists, OuterRef
from django.utils import timezone

from assessment import choices as ac
from assessment.cohort_data import (
    MODES,
    NO_DAY,
    REMISSION,
    RULE_SET,
    RULE_SETS,
    TIMEPOINTS,
    TSH_STIMULATED,
    Cohort,
    CohortColumns,
    CohortFilter,
    CohortFilterError,
    LesionResponse,
    LoadedPatients,
    PatientRecord,
    RegisteredRecord,
    TgColumns,
    TgRecord,
    VisitColumns,
    VisitRecord,
    record_maker,
)
from assessment.models import (
    FollowUpResult,
    FollowUpStatus,
    LabResult,
    LesionDesignation,
    LesionVisitResult,
    Measurement,
    NewTherapy,
    Visit,
    VisitResult,
)
from assessment.protocol import CohortSettings, FollowupSettings
from assessment.recist import RecistSettings
from assessment.schedule import ScheduleSettings, timepoint_windows, window_offsets
from assessment.services import recist_settings
from common.protocol import section_settings
from common.rows import DayNumber, gc_paused, value_rows
from dosimetry.models import ImplantProcedure
from dosimetry.selectors import Record, pre_post_pair, records_of
from registry import choices as rc
from registry.models import Lesion, Patient, Site
from registry.selectors import patients_for
from registry.staging import age_in_completed_years

__all__ = ["load_cohort"]

ENHANCED = {ac.Enhancement.MILD, ac.Enhancement.MARKED}

# The records built per patient (some 200 000 at 10 000 patients), filled without one setattr per field.
_visit_record = record_maker(VisitRecord)
_lesion_response = record_maker(LesionResponse)
_tg_record = record_maker(TgRecord)
_patient_record = record_maker(PatientRecord)
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
    patients implanted outside the period: a patient without an implant has no implant date to filter on),
    annotated ``implanted``. EXISTS subqueries, no GROUP BY: the loader filters each of its queries by this set."""
    qs = Patient.objects.all() if user is None else patients_for(user)
    if flt.site is not None:
        qs = qs.filter(site__code=flt.site)
    if flt.histology is not None:
        qs = qs.filter(histology=flt.histology)
    implants = ImplantProcedure.objects.filter(patient=OuterRef("pk"))
    if flt.implant_from is not None:  # first implant before the period
        qs = qs.exclude(Exists(implants.filter(date__lt=flt.implant_from)))
    if flt.implant_to is not None:  # first implant after the period: implanted, none on or before its end
        qs = qs.filter(~Exists(implants) | Exists(implants.filter(date__lte=flt.implant_to)))
    return qs.annotate(implanted=Exists(implants))


def _in_window_only() -> bool:
    value = section_settings("cohort", CohortSettings).in_window_only
    if not isinstance(value, bool):
        raise CohortFilterError("cohort.in_window_only", value, "true or false")
    return value


def _schedule_settings() -> ScheduleSettings:
    return section_settings("schedule", ScheduleSettings)


@gc_paused()  # about 250 000 acyclic objects at 10 000 patients: common.rows.gc_paused
def load_cohort(user_or_none, flt: CohortFilter | None = None) -> Cohort:
    """The patients visible to the user (None = all, for commands) with an implant, filtered, as plain records.

    A constant number of queries (13, or 14 with a site filter; the records, read only in per-lesion mode and by
    tests, add 2) for any cohort size: one per table, grouped in Python. Every query reads plain values
    (``common.rows.value_rows``: no model instance, no ORM converter per value; dates as day numbers,
    ``common.rows.DayNumber``); Table 4 is computed from the loaded pairs only when asked (``cohort_tables.table4``). Raises
    :class:`CohortFilterError` for an unknown site code, or for ``mode="strict"`` when the stored patient-level
    results were computed in per-lesion mode (protocol ``recist.mode``).
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

    registered_qs = _registered(user_or_none, flt)
    rows = value_rows(registered_qs.order_by("study_id").values_list(
        "pk", "study_id", "site__code", "sex", "histology", "birth_date", "m_category", "eligibility_status",
        "implanted"))
    registered = tuple(RegisteredRecord(r[1], r[7], bool(r[8])) for r in rows)
    patients = [r[:8] for r in rows if r[8]]
    ids = registered_qs.filter(implanted=True).values("pk")

    all_procedures = ImplantProcedure.objects.filter(patient__in=ids)
    procedures: dict[int, tuple] = {}  # patient → (pk, day number, prescription_gy, seeds_implanted) of the index implant
    for pk, pid, day, rx, seeds in value_rows(all_procedures.order_by("patient_id", "date", "id").values_list(
            "pk", "patient_id", DayNumber("date"), "prescription_gy", "seeds_implanted")):
        procedures.setdefault(pid, (pk, day, rx, seeds))  # the index implant: the first one
    plan_records = records_of(all_procedures)

    lesions: dict[int, list[tuple]] = defaultdict(list)
    for lid, pid, region, enhancement in value_rows(Lesion.objects.filter(patient__in=ids).values_list(
            "id", "patient_id", "region", "enhancement")):
        lesions[pid].append((lid, region, enhancement))
    roles = dict(value_rows(LesionDesignation.objects.filter(lesion__patient__in=ids).values_list("lesion_id", "role")))

    # visit dates as day numbers (common.rows.DayNumber); what only the records read is queried with them
    visits = _grouped(value_rows(Visit.objects.filter(patient__in=ids).order_by("patient_id", "visit_date").values_list(
        "id", "patient_id", "timepoint", DayNumber("visit_date"), "result__day", "result__is_baseline",
        "result__overall", "result__sum_mm", "result__change_from_baseline_pct", "result__volume_cm3",
        "result__counts_for_bor")), 1)

    # a lesion's baseline measurement; were there two, the later one (ordered by the visit date only: the
    # measurements' default order joins the patient and the lesion twice and sorts 17 000 rows)
    baseline_enhancement = dict(value_rows(Measurement.objects.filter(
        visit__patient__in=ids, visit__result__is_baseline=True).order_by("visit__visit_date").values_list(
            "lesion_id", "enhancement")))

    tg = _grouped(value_rows(LabResult.objects.filter(patient__in=ids, analyte=ac.Analyte.TG)
                             .order_by("sample_date", "id").values_list(
                                 "patient_id", "visit_id", DayNumber("sample_date"), "qualifier", "value_std",
                                 "tsh_state")), 0)

    followups = {row[0]: row for row in value_rows(FollowUpResult.objects.filter(patient__in=ids).values_list(
        "patient_id", "bor_unconfirmed", "bor_confirmed", "best_change_pct", "max_rtog_grade", "max_ctcae_grade",
        "rule_set"))}
    therapies: dict[int, list[int]] = defaultdict(list)
    for pid, start in value_rows(NewTherapy.objects.filter(patient__in=ids).values_list(
            "patient_id", DayNumber("start_date"))):
        therapies[pid].append(start)
    statuses = {row[0]: row for row in value_rows(FollowUpStatus.objects.filter(patient__in=ids).values_list(
        "patient_id", "status", DayNumber("status_date"), "death_cause"))}
    stored_rule_sets = sorted(rs for (rs,) in value_rows(VisitResult.objects.filter(visit__patient__in=ids)
                                                        .exclude(rule_set="").order_by().values_list("rule_set")
                                                        .distinct()))

    in_window_only = _in_window_only()
    schedule = _schedule_settings()
    today = timezone.localdate()
    windows = _Windows(schedule)
    loaded = []  # (patient row, index implant, post-implant D90) of each patient with an index implant
    pairs = []
    no_record: dict[str, Record] = {"pre": (None, None), "post": (None, None)}
    for p in patients:
        proc = procedures.get(p[0])
        if proc is None:  # pragma: no cover - the query keeps only patients with an implant
            continue
        phases = plan_records.get(proc[0], no_record)
        post = phases["post"][1]
        loaded.append((p, proc, post.d90_gy if post is not None else None))
        pair = pre_post_pair(proc[0], proc[2], proc[3], phases["pre"], phases["post"])
        if pair is not None:
            pairs.append(pair)

    def record_rows() -> tuple[dict[int, tuple], dict[int, list[tuple]]]:
        """What only the records read: each visit's target / non-target response and rule set, and the
        per-lesion results (about 90 000 rows at 10 000 patients, which the columns never need)."""
        extra = {row[0]: row[1:] for row in value_rows(Visit.objects.filter(patient__in=ids).values_list(
            "id", "result__target", "result__non_target", "result__rule_set"))}
        lesion_rows = value_rows(LesionVisitResult.objects.filter(visit__patient__in=ids)
                                 .order_by("visit__visit_date", "lesion_id").values_list(
                                     "visit__patient_id", "visit_id", "lesion__label", "response", "size_mm",
                                     "volume_cm3"))
        return extra, _grouped(lesion_rows, 0)

    # read at load in per-lesion mode, whose tables read the records; else when the records are first asked for
    eager = record_rows() if mode == "per_lesion" else None

    @gc_paused()  # built on first access, maybe outside the load's pause: some 200 000 records at 10 000 patients
    def make_records() -> tuple[PatientRecord, ...]:
        extra, lesion_results = eager or record_rows()
        visit_info = {row[0]: (row[2], date.fromordinal(row[3])) for vs in visits.values() for row in vs}
        return tuple(_record(p, proc[1], proc[2], post_d90, lesions[p[0]], roles, visits[p[0]], extra,
                             baseline_enhancement, lesion_results[p[0]], visit_info, tg[p[0]], followups.get(p[0]),
                             therapies[p[0]], statuses.get(p[0]), in_window_only, windows(proc[1]), today)
                     for p, proc, post_d90 in loaded)

    columns = _columns(loaded, lesions, roles, visits, baseline_enhancement, tg, followups, therapies, statuses,
                       in_window_only, windows, today)
    if mode == "strict" and any(rs != RULE_SET for rs in stored_rule_sets):
        raise CohortFilterError(
            "mode", mode, f"'per_lesion' here: the stored results are {', '.join(stored_rule_sets)} (protocol "
            f"recist.mode '{protocol_mode}'); recompute the follow-up in strict mode first")
    return Cohort(
        filter=flt, mode=mode, rule_set=RULE_SETS[mode],
        patient_rule_set=", ".join(stored_rule_sets) or RULE_SETS.get(protocol_mode, RULE_SET),
        remission_definition=remission, patients=LoadedPatients(columns, make_records),
        plan_pairs=tuple(pairs), in_window_only=in_window_only, registered=registered, as_of=today,
        lesion_settings=recist_settings("per_lesion"),
    )


def _grouped(rows: list[tuple], key: int) -> defaultdict[int, list[tuple]]:
    """``rows`` grouped by the patient ID in column ``key``, each group in the rows' order."""
    out: defaultdict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


_NO_FOLLOWUP = (None, None, None, None, None, None, None)
_NO_STATUS = (None, None, None, None)


def _columns(loaded: list[tuple], lesions: Mapping[int, list[tuple]], roles: Mapping[int, str],
             visits: Mapping[int, list[tuple]], baseline_enhancement: Mapping[int, str], tg: Mapping[int, list[tuple]],
             followups: Mapping[int, tuple], therapies: Mapping[int, list[int]], statuses: Mapping[int, tuple],
             in_window_only: bool, windows: _Windows, today: date | None) -> CohortColumns:
    """The cohort's columns straight from the rows of :func:`load_cohort` (the same values :func:`_record`
    puts in the records, which ``tests/assessment/test_cohort_columns.py`` checks), a column at a time."""
    n = len(loaded)
    p_rows = [p for p, _, _ in loaded]
    pks = [p[0] for p in p_rows]
    implants = [proc[1] for _, proc, _ in loaded]
    implant_day = np.array(implants, dtype=np.int64)
    plesions = [lesions.get(pk, ()) for pk in pks]
    fu = [followups.get(pk) or _NO_FOLLOWUP for pk in pks]
    st = [statuses.get(pk) or _NO_STATUS for pk in pks]
    firsts = [min((d for d in therapies.get(pk, ()) if d > implant), default=None) for pk, implant in zip(
        pks, implants, strict=True)]
    not_followed = ac.LesionRole.NOT_FOLLOWED
    today_day = today.toordinal() if today else None
    pat: dict[str, list[Any]] = {
        "study_id": [p[1] for p in p_rows],
        "patient_id": pks,
        "sex": [p[3] for p in p_rows],
        "histology": [p[4] for p in p_rows],
        "age_at_implant": [age_in_completed_years(p[5], date.fromordinal(d)) for p, d in zip(p_rows, implants,
                                                                                              strict=True)],
        "distant_metastasis": [p[6] == rc.MCategory.M1 or any(les[1] in DISTANT_REGIONS for les in pl)
                               for p, pl in zip(p_rows, plesions, strict=True)],
        "enhancement_at_baseline": [any((baseline_enhancement.get(lid) or enhancement) in ENHANCED
                                        for lid, _, enhancement in pl if roles.get(lid) != not_followed)
                                    for pl in plesions],
        "bor_unconfirmed": [f[1] or "" for f in fu],
        "bor_confirmed": [f[2] or "" for f in fu],
        "followup_rule_set": [f[6] or "" for f in fu],
        "new_therapy_day": [None if d is None else d - i for d, i in zip(firsts, implants, strict=True)],
        "eligibility_status": [p[7] for p in p_rows],
        "followup_status": [s[1] or ac.FollowUpState.IN_FOLLOW_UP for s in st],
        "status_day": [None if s[2] is None else s[2] - i for s, i in zip(st, implants, strict=True)],
        "days_since_implant": [None if today_day is None else today_day - i for i in implants],
        "best_change_pct": [f[3] for f in fu],
        "post_d90_gy": [d90 for _, _, d90 in loaded],
        "prescription_gy": [_f(proc[2]) for _, proc, _ in loaded],
        "max_rtog_grade": [f[4] for f in fu],
        "max_ctcae_grade": [f[5] for f in fu],
    }
    implant_index, offsets = windows.prepare(implants)
    pat["windows_days"] = [windows.cache_days[i] for i in implants]
    win_start = {tp: a[implant_index] for tp, (a, _) in offsets.items()}
    win_end = {tp: b[implant_index] for tp, (_, b) in offsets.items()}

    vrows = [row for pk in pks for row in visits.get(pk, ())]
    vpatient = np.repeat(np.arange(n, dtype=np.int64), [len(visits.get(pk, ())) for pk in pks])
    vc = list(zip(*vrows, strict=True)) if vrows else [()] * 11
    visit_date = np.array(vc[3], dtype=np.int64)
    day_since = visit_date - implant_day[vpatient]
    timepoint = np.array(vc[2], dtype=object)
    in_window = np.full(len(vrows), -1, dtype=np.int8)
    for tp in win_start:
        m = timepoint == tp
        who, d = vpatient[m], day_since[m]
        in_window[m] = (win_start[tp][who] <= d) & (d <= win_end[tp][who])
    visit_cols = VisitColumns(
        patient=vpatient, timepoint=list(vc[2]), visit_date=visit_date,
        day=[d if r is None else r for r, d in zip(vc[4], day_since.tolist(), strict=True)],
        overall=["" if r is None else (o or "") for r, o in zip(vc[4], vc[6], strict=True)],
        is_baseline=np.array([bool(b) for b in vc[5]], dtype=np.bool_), in_window=in_window,
        volume_cm3=list(vc[9]), sum_mm=[_f(x) for x in vc[7]], change_from_baseline_pct=list(vc[8]))

    trows = [row for pk in pks for row in tg.get(pk, ())]
    tpatient = np.repeat(np.arange(n, dtype=np.int64), [len(tg.get(pk, ())) for pk in pks])
    tc = list(zip(*trows, strict=True)) if trows else [()] * 6
    visit_day = dict(zip(vc[0], vc[3], strict=True))
    sample_day = np.array(tc[2], dtype=np.int64)
    tg_cols = TgColumns(
        patient=tpatient, day=(sample_day - implant_day[tpatient]).tolist(),
        visit_date=np.array([visit_day.get(vid, NO_DAY) for vid in tc[1]], dtype=np.int64),
        suppressed=np.array([(s or "") != TSH_STIMULATED for s in tc[5]], dtype=np.bool_),
        qualifier=list(tc[3]), value_ng_ml=[float(v) for v in tc[4]])
    day = np.array(visit_cols.day, dtype=np.int64)
    later = ~visit_cols.is_baseline
    last = np.full(n, NO_DAY, dtype=np.int64)  # the latest follow-up visit after the implant
    np.maximum.at(last, vpatient[later & (day > 0)], day[later & (day > 0)])
    pd = np.array([o == "PD" for o in visit_cols.overall], dtype=np.bool_) & later & np.array(
        [bool(x) for x in vc[10]], dtype=np.bool_)
    first_pd = np.full(n, -NO_DAY, dtype=np.int64)  # the first progression counted for the best response
    np.minimum.at(first_pd, vpatient[pd], day[pd])
    pat["last_follow_up_day"] = [None if d == NO_DAY else d for d in last.tolist()]
    pat["first_pd_day"] = [None if d == -NO_DAY else d for d in first_pd.tolist()]
    return CohortColumns(**pat, in_window_only=np.full(n, in_window_only, dtype=np.bool_), visits=visit_cols,
                         tg=tg_cols)


class _Windows:
    """The protocol windows of an implant (a day number) in days since the implant, computed once per date
    (10 000 implants fall on about a thousand dates)."""

    def __init__(self, schedule: ScheduleSettings) -> None:
        self.schedule = schedule
        self.cache: dict[int, dict[str, tuple[int, int]]] = {}
        self.cache_days: dict[int, tuple[tuple[str, int, int], ...]] = {}

    def prepare(self, implants: Sequence[int]) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """The windows of every implant at once (``schedule.window_offsets`` over the distinct dates), kept for
        :meth:`__call__` and in ``cache_days`` (the follow-up windows as (time point, first day, last day));
        returns each implant's index into the distinct dates and their windows (time point → first, last days)."""
        unique, index = np.unique(np.asarray(implants, dtype=np.int64), return_inverse=True)
        offsets = window_offsets(unique, self.schedule)
        order = ("baseline", *(t for t, _ in TIMEPOINTS))
        columns = [(tp, offsets[tp][0].tolist(), offsets[tp][1].tolist()) for tp in order]
        for i, implant in enumerate(unique.tolist()):
            if implant not in self.cache:
                self.cache[implant] = {tp: (a[i], b[i]) for tp, a, b in columns}
                self.cache_days[implant] = tuple((tp, a[i], b[i]) for tp, a, b in columns if tp != "baseline")
        return index, offsets

    def __call__(self, implant: int) -> dict[str, tuple[int, int]]:
        found = self.cache.get(implant)
        if found is None:
            windows = timepoint_windows(date.fromordinal(implant), self.schedule)
            found = self.cache[implant] = {
                tp: (windows[tp][0].toordinal() - implant, windows[tp][1].toordinal() - implant)
                for tp in ("baseline", *(t for t, _ in TIMEPOINTS))}
        return found


def _record(p: tuple, implant_day: int, prescription_gy: Any, post_d90_gy: float | None, lesions: list[tuple],
            roles: Mapping[int, str], visits: list[tuple], visit_extra: Mapping[int, tuple],
            baseline_enhancement: Mapping[int, str], lesion_results: list[tuple],
            visit_info: Mapping[int, tuple[str, date]], tg: list[tuple], followup: tuple | None, therapies: list[int],
            status: tuple | None, in_window_only: bool, windows: Mapping[str, tuple[int, int]],
            today: date | None) -> PatientRecord:
    """One patient's record from the rows of :func:`load_cohort` (tuples in the order of its ``values_list``;
    dates as day numbers) and the rows only the records read (``visit_extra``, ``lesion_results``)."""
    pk, study_id, site, sex, histology, birth_date, m_category, eligibility = p
    implant = date.fromordinal(implant_day)
    vrecs = []
    for (visit_id, _, timepoint, visit_day, r_day, r_baseline, r_overall, r_sum_mm, r_change_pct, r_volume_cm3,
         r_counts_for_bor) in visits:
        r_target, r_non_target, r_rule_set = visit_extra.get(visit_id, (None, None, None))
        has_result = r_day is not None
        window = windows.get(timepoint)
        day = visit_day - implant_day
        vrecs.append(_visit_record(
            timepoint=timepoint, visit_date=date.fromordinal(visit_day),
            day=r_day if has_result else day,
            overall=(r_overall or "") if has_result else "",
            target=r_target or "", non_target=r_non_target or "",
            sum_mm=_f(r_sum_mm), change_from_baseline_pct=r_change_pct,
            volume_cm3=r_volume_cm3, counts_for_bor=bool(r_counts_for_bor),
            is_baseline=bool(r_baseline), rule_set=r_rule_set or "",
            in_window=None if window is None else window[0] <= day <= window[1],
        ))
    followed = [les for les in lesions if roles.get(les[0]) != ac.LesionRole.NOT_FOLLOWED]
    enhanced = any((baseline_enhancement.get(lid) or enhancement) in ENHANCED for lid, _, enhancement in followed)
    distant = m_category == rc.MCategory.M1 or any(region in DISTANT_REGIONS for _, region, _ in lesions)
    responses = []
    for _, visit_id, label, response, size_mm, volume_cm3 in lesion_results:
        timepoint, visit_date = visit_info[visit_id]
        responses.append(_lesion_response(
            lesion_label=label, timepoint=timepoint, visit_date=visit_date, day=(visit_date - implant).days,
            response=response or "", size_mm=_f(size_mm), volume_cm3=_f(volume_cm3)))
    tg_recs = []
    for _, visit_id, sample_day, qualifier, value_std, tsh_state in tg:
        info = visit_info.get(visit_id)
        tg_recs.append(_tg_record(
            day=sample_day - implant_day, timepoint=info[0] if info is not None else None,
            qualifier=qualifier, value_ng_ml=float(value_std), tsh_state=tsh_state or "",
            visit_date=info[1] if info is not None else None))
    after = [d for d in therapies if d > implant_day]
    therapy_day = min(after) - implant_day if after else None
    follow = [v.day for v in vrecs if not v.is_baseline and v.day > 0]
    pd_days = [v.day for v in vrecs if v.overall == "PD" and v.counts_for_bor and not v.is_baseline]
    _, bor_unconfirmed, bor_confirmed, best_change_pct, max_rtog, max_ctcae, fu_rule_set = followup or _NO_FOLLOWUP
    _, st_status, st_day, st_death_cause = status or _NO_STATUS
    return _patient_record(
        patient_id=pk, study_id=study_id, site=site, sex=sex, histology=histology,
        age_at_implant=age_in_completed_years(birth_date, implant), implant_date=implant,
        distant_metastasis=distant, enhancement_at_baseline=enhanced, visits=tuple(vrecs),
        lesion_responses=tuple(responses), tg=tuple(tg_recs),
        bor_unconfirmed=bor_unconfirmed or "", bor_confirmed=bor_confirmed or "",
        best_change_pct=best_change_pct,
        post_d90_gy=post_d90_gy, prescription_gy=_f(prescription_gy),
        last_follow_up_day=max(follow) if follow else None, first_pd_day=min(pd_days) if pd_days else None,
        new_therapy_day=therapy_day, max_rtog_grade=max_rtog,
        max_ctcae_grade=max_ctcae, followup_rule_set=fu_rule_set or "",
        eligibility_status=eligibility, followup_status=st_status or ac.FollowUpState.IN_FOLLOW_UP,
        status_recorded=status is not None,
        status_day=None if st_day is None else st_day - implant_day,
        death_cause=st_death_cause or "", in_window_only=in_window_only,
        windows_days=tuple((tp, a, b) for tp, (a, b) in windows.items() if tp != "baseline"),
        days_since_implant=(today - implant).days if today else None,
    )

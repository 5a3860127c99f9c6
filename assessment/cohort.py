"""Cohort analysis: the index study's Tables 1–4 from the stored follow-up results (a Django service module).

:func:`load_cohort` reads everything once — a constant number of SQL queries, whatever the cohort size — into plain
frozen records (:class:`Cohort` of :class:`PatientRecord`). The table functions take only that plain data and call
the pure cores (``assessment.stats``; Table 4 ``dosimetry.services.cohort_table4`` on prefetched plans), so the
dashboard, the ``cohort_report`` command and a future PDF share the same numbers. Every table says which unit
(patient or lesion) and which rule set (``RECIST1.1`` or ``RECIST1.1-MODIFIED-PER-LESION``) it counts.

Choices made here (each is also stated in the output's notes):

* A time point (m2, m6, m12) is the patient's first visit recorded with that label inside the time point's
  protocol window (``SEEDTRACK_PROTOCOL["cohort"]["in_window_only"]``, default True; the windows of
  ``assessment.schedule``); visits outside their window are listed (study ID, time point, day, window), not counted.
  N = patients (lesions in per-lesion mode) with a computed category there, NE included in N; patients without the
  visit are listed as "not assessed"; visits after a new anticancer therapy are left out and listed (RECIST §1.9).
* Populations (:class:`Population`, defined once here, named with their n by every table and figure): *all
  implanted* (every patient of the filter with an index implant); *evaluable at a time point* (a category computed
  from the in-window visit of that time point, before any new therapy; NE included, clinical reference §1.10);
  *paired at a time point* (the value — volume or Tg — at baseline and at that time point): Table 2 compares each
  time point with the baseline of the same paired patients.
* :func:`flow` counts registered → eligible (latest eligibility) → implanted → evaluable at 2 / 6 / 12 months and
  gives the reason for every patient missing at a step; follow-up status (``FollowUpStatus``) ends the follow-up at
  death, withdrawal, loss (last contact) or completion.
* Non-CR/Non-PD (non-target disease only) is counted with SD.
* Remission follows ``SEEDTRACK_PROTOCOL["followup"]["remission_definition"]`` ("dcr" = CR+PR+SD, the index study;
  "orr" = CR+PR); ORR (CR+PR) is always given too. Proportions carry Wilson 95 % CIs (``stats.proportion_ci``).
* Tg: TSH-suppressed Tg (ng/mL) recorded at the visit of each time point; stimulated Tg is left out.
* Table 2 forces the paired t-test for volumes and the Wilcoxon signed-rank test for Tg, as the study did, and
  also gives the test ``stats.paired_compare`` would choose (normality of the differences).
* Table 3 is per patient in both modes (the factors are patient facts): 12-month CR/PR/SD (effective) vs PD.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

from django.db.models import Min, Prefetch
from django.utils import timezone

from assessment import choices as ac
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
from assessment.recist import RULE_SET, RULE_SET_PER_LESION, RecistSettings
from assessment.schedule import ScheduleSettings, timepoint_window
from assessment.stats import (
    PairedComparison,
    PairedSettings,
    PairedTest,
    Proportion,
    StatsInputError,
    TableTest,
    compare_2x2,
    mean_sd,
    median_iqr,
    paired_compare,
    proportion_ci,
)
from assessment.thyroglobulin import LabValue, Qualifier
from common.protocol import section_settings
from dosimetry.models import ImplantProcedure, StructureDose
from dosimetry.services import cohort_table4, plan_of_record, target_of
from registry import choices as rc
from registry.models import Lesion, Patient, Site
from registry.selectors import patients_for
from registry.staging import age_in_completed_years

__all__ = [
    "Cohort",
    "CohortFilter",
    "CohortFilterError",
    "Flow",
    "FlowPatient",
    "FlowStep",
    "OutsideWindowVisit",
    "Population",
    "LesionResponse",
    "PatientRecord",
    "TgRecord",
    "VisitRecord",
    "evaluable",
    "flow",
    "flow_csv",
    "implanted",
    "load_cohort",
    "paired",
    "report",
    "report_csv",
    "report_text",
    "table1",
    "table2",
    "table3",
    "table4",
]

MODES = ("strict", "per_lesion")
MODE_LABELS = {"strict": "RECIST 1.1 (per patient)", "per_lesion": "modified RECIST (per lesion)"}
RULE_SETS = {"strict": RULE_SET, "per_lesion": RULE_SET_PER_LESION}
TIMEPOINTS = (("m2", "2 months"), ("m6", "6 months"), ("m12", "12 months"))
TIMEPOINT_LABELS = {"baseline": "Baseline", **dict(TIMEPOINTS)}
REMISSION = {"dcr": ("Remission (CR+PR+SD)", ("CR", "PR", "SD")), "orr": ("Remission (CR+PR)", ("CR", "PR"))}
ORR = ("ORR (CR+PR)", ("CR", "PR"))
CATEGORIES = ("CR", "PR", "SD", "PD", "NE")
ENHANCED = {ac.Enhancement.MILD, ac.Enhancement.MARKED}
DISTANT_REGIONS = {rc.LesionRegion.LUNG, rc.LesionRegion.BONE}
AGE_CUT_YEARS = 45


# --- the filter --------------------------------------------------------------------------------------------------


class CohortFilterError(ValueError):
    """A bad filter value; the one-line message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}: got {value!r}; allowed: {allowed}")


@dataclass(frozen=True)
class CohortFilter:
    """Which patients: site code, index-implant date range (inclusive), histology code, analysis mode.

    ``mode`` None = the protocol's ``recist.mode``. The site code is checked against the database by
    :func:`load_cohort`; everything else here.
    """

    site: str | None = None
    implant_from: date | None = None
    implant_to: date | None = None
    histology: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.site is not None and (not isinstance(self.site, str) or not self.site.strip()):
            raise CohortFilterError("site", self.site, "a site code such as 'NTC', or None for every site")
        for name in ("implant_from", "implant_to"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
                raise CohortFilterError(name, value, "a date (YYYY-MM-DD) or None")
        if self.implant_from and self.implant_to and self.implant_from > self.implant_to:
            raise CohortFilterError(
                "implant_from", self.implant_from.isoformat(), f"a date on or before implant_to ({self.implant_to})"
            )
        if self.histology is not None and self.histology not in rc.Histology.values:
            raise CohortFilterError("histology", self.histology, f"one of {', '.join(rc.Histology.values)}")
        if self.mode is not None and self.mode not in MODES:
            raise CohortFilterError("mode", self.mode, f"one of {', '.join(MODES)} (or None for the protocol's)")


# --- plain records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitRecord:
    """One visit and its stored patient-level result (``overall`` "" when nothing was computed)."""

    timepoint: str
    visit_date: date
    day: int
    overall: str
    target: str
    non_target: str
    sum_mm: float | None
    change_from_baseline_pct: float | None
    volume_cm3: float | None
    counts_for_bor: bool
    is_baseline: bool = False
    rule_set: str = ""
    in_window: bool | None = None  # inside its time point's protocol window (None: unscheduled)


@dataclass(frozen=True)
class LesionResponse:
    """One lesion at one visit: the per-lesion ("modified RECIST") response ("" at baseline / not assessed)."""

    lesion_label: str
    timepoint: str
    visit_date: date
    day: int
    response: str
    size_mm: float | None
    volume_cm3: float | None = None


@dataclass(frozen=True)
class TgRecord:
    """One Tg result in ng/mL; ``qualifier`` "=", "<" (below the limit) or ">"; ``timepoint`` of its visit."""

    day: int
    timepoint: str | None
    qualifier: str
    value_ng_ml: float
    tsh_state: str = ""
    visit_date: date | None = None

    def lab_value(self) -> LabValue:
        return LabValue(Qualifier(self.qualifier), self.value_ng_ml, unit="ng/mL")


@dataclass(frozen=True)
class PatientRecord:
    """Everything the tables use about one patient (plain data; days count from the index implant, day 0)."""

    patient_id: int
    study_id: str
    site: str
    sex: str
    histology: str
    age_at_implant: int
    implant_date: date
    distant_metastasis: bool
    enhancement_at_baseline: bool
    visits: tuple[VisitRecord, ...]
    lesion_responses: tuple[LesionResponse, ...]
    tg: tuple[TgRecord, ...]
    bor_unconfirmed: str
    bor_confirmed: str
    best_change_pct: float | None
    post_d90_gy: float | None
    prescription_gy: float | None
    last_follow_up_day: int | None
    first_pd_day: int | None
    new_therapy_day: int | None
    max_rtog_grade: int | None
    max_ctcae_grade: int | None
    followup_rule_set: str = ""
    eligibility_status: str = ""
    followup_status: str = ac.FollowUpState.IN_FOLLOW_UP  # "in_follow_up" also when none was recorded
    status_recorded: bool = False
    status_day: int | None = None  # completed / withdrawn / died on, or last contact when lost (day since implant)
    death_cause: str = ""
    in_window_only: bool = True  # protocol cohort.in_window_only when loaded
    windows_days: tuple[tuple[str, int, int], ...] = ()  # (time point, first day, last day) since the implant
    days_since_implant: int | None = None  # on the day the cohort was loaded

    @property
    def baseline(self) -> VisitRecord | None:
        return next((v for v in self.visits if v.is_baseline), None)

    def visit_at(self, timepoint: str) -> VisitRecord | None:
        """The baseline, or the first visit recorded with this time point (inside its protocol window when
        ``in_window_only``)."""
        if timepoint == ac.Timepoint.BASELINE:
            return self.baseline
        return next((v for v in self.visits if v.timepoint == timepoint and not v.is_baseline
                     and (v.in_window or not self.in_window_only)), None)

    def outside_window(self, timepoint: str) -> tuple[VisitRecord, ...]:
        """Visits labelled with this follow-up time point but outside its window (not counted when
        ``in_window_only``)."""
        return tuple(v for v in self.visits if v.timepoint == timepoint and not v.is_baseline
                     and v.in_window is False)

    def window_days(self, timepoint: str) -> tuple[int, int] | None:
        return next(((a, b) for tp, a, b in self.windows_days if tp == timepoint), None)

    @property
    def left_follow_up(self) -> bool:
        return self.followup_status in ac.LEFT_FOLLOW_UP

    @property
    def died(self) -> bool:
        return self.followup_status == ac.FollowUpState.DIED

    @property
    def last_known_alive_day(self) -> int | None:
        """The latest of the last visit and the last contact (a status date other than death), in days since the
        implant; None when nothing after the implant is known."""
        days = [v.day for v in self.visits if v.day > 0]
        if self.status_day is not None and not self.died:
            days.append(self.status_day)
        return max(days) if days else None

    def after_new_therapy(self, day: int) -> bool:
        return self.new_therapy_day is not None and day > self.new_therapy_day

    def tg_at(self, timepoint: str) -> TgRecord | None:
        """The first TSH-suppressed Tg recorded at the visit of this time point."""
        visit = self.visit_at(timepoint)
        if visit is None:
            return None
        return next((t for t in self.tg if t.visit_date == visit.visit_date
                     and t.tsh_state != ac.TshState.STIMULATED), None)


@dataclass(frozen=True)
class Cohort:
    """The loaded cohort: filter, mode and rule sets, the patient records, and Table 4 computed at load."""

    filter: CohortFilter
    mode: str
    rule_set: str
    patient_rule_set: str
    remission_definition: str
    patients: tuple[PatientRecord, ...]
    dosimetry: Table4
    in_window_only: bool = True
    registered: tuple[RegisteredRecord, ...] = ()
    as_of: date | None = None


@dataclass(frozen=True)
class RegisteredRecord:
    """A registered patient of the filter (for the flow diagram): latest eligibility and whether implanted."""

    study_id: str
    eligibility_status: str
    implanted: bool


# --- output dataclasses ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseCounts:
    """Counts per category; ``non_cr_non_pd`` is already included in ``sd``."""

    cr: int
    pr: int
    sd: int
    pd: int
    ne: int
    non_cr_non_pd: int

    @property
    def total(self) -> int:
        return self.cr + self.pr + self.sd + self.pd + self.ne

    def of(self, categories: Iterable[str]) -> int:
        return sum(getattr(self, cat.lower()) for cat in categories)


@dataclass(frozen=True)
class Rate:
    """A rate with its categories, Wilson 95 % CI (``proportion`` None when N = 0) and the printed text."""

    name: str
    categories: tuple[str, ...]
    proportion: Proportion | None
    text: str


@dataclass(frozen=True)
class Table1Row:
    timepoint: str
    label: str
    n: int
    counts: ResponseCounts
    remission: Rate
    orr: Rate
    not_assessed: tuple[str, ...]
    after_new_therapy: tuple[str, ...]
    outside_window: tuple[str, ...] = ()  # patients (lesions) whose only visit of this time point is outside it
    population: str = ""


@dataclass(frozen=True)
class OutsideWindowVisit:
    """A visit labelled with a follow-up time point but dated outside its window (days since the implant)."""

    study_id: str
    timepoint: str
    day: int
    window_start_day: int
    window_end_day: int
    counted: bool  # False when the protocol counts in-window visits only

    @property
    def text(self) -> str:
        return (f"{self.study_id} {TIMEPOINT_LABELS[self.timepoint]}: day {self.day}, window days "
                f"{self.window_start_day}–{self.window_end_day}{'' if self.counted else ' (not counted)'}")


@dataclass(frozen=True)
class BorSummary:
    kind: str  # "unconfirmed" | "confirmed"
    n: int
    counts: ResponseCounts
    remission: Rate
    orr: Rate
    not_computed: tuple[str, ...]


@dataclass(frozen=True)
class Table1:
    mode: str
    mode_label: str
    rule_set: str
    unit: str  # "patient" | "lesion"
    remission_definition: str
    remission_label: str
    rows: tuple[Table1Row, ...]
    bor_rule_set: str
    bor: tuple[BorSummary, ...]
    notes: tuple[str, ...]
    outside_window: tuple[OutsideWindowVisit, ...] = ()
    in_window_only: bool = True


@dataclass(frozen=True)
class PairedResult:
    """A paired comparison vs baseline, flattened for reports (``statistic`` is t or Z)."""

    test: str
    n_pairs: int
    n_dropped_incomplete: int
    statistic_name: str
    statistic: float | None
    df: int | None
    p_value: float
    text: str
    reason: str

    @classmethod
    def of(cls, r: PairedComparison) -> PairedResult:
        t = r.test is PairedTest.PAIRED_T
        return cls(r.test.value, r.n_pairs, r.n_dropped_incomplete, "t" if t else "Z", r.t if t else r.z,
                   r.df, r.p_value, r.format_statistic(), r.reason)


@dataclass(frozen=True)
class VolumeRow:
    timepoint: str
    label: str
    n: int
    mean_cm3: float | None
    sd_cm3: float | None
    text: str
    vs_baseline: PairedResult | None  # paired t-test, forced (as the study)
    vs_baseline_auto: PairedResult | None  # the test chosen from the normality of the differences
    note: str = ""
    population: str = ""  # the population of the row, with its n
    baseline_mean_cm3: float | None = None  # baseline of the same (paired) patients; None on the baseline row
    baseline_sd_cm3: float | None = None
    baseline_text: str = ""


@dataclass(frozen=True)
class Quantity:
    """A possibly censored number: ``qualifier`` "=", "<" (at most) or ">" (at least)."""

    qualifier: str
    value: float


@dataclass(frozen=True)
class TgRow:
    timepoint: str
    label: str
    n: int
    n_left_censored: int
    n_right_censored: int
    median_ng_ml: Quantity | None
    p25_ng_ml: Quantity | None
    p75_ng_ml: Quantity | None
    text: str
    vs_baseline: PairedResult | None  # Wilcoxon signed-rank, forced (as the study)
    vs_baseline_auto: PairedResult | None
    note: str = ""
    population: str = ""
    baseline_text: str = ""  # baseline median (P25, P75) of the same paired patients


@dataclass(frozen=True)
class Table2:
    rule_set: str
    unit: str
    volume: tuple[VolumeRow, ...]
    tg: tuple[TgRow, ...]
    quantile_method: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class FactorRow:
    factor: str
    level_a: str
    level_b: str
    effective_a: int
    ineffective_a: int
    effective_b: int
    ineffective_b: int
    n: int
    n_unknown: int
    test: str | None
    statistic: float | None
    p_value: float | None
    text: str
    reason: str
    cut: str = ""


@dataclass(frozen=True)
class Table3:
    timepoint: str
    rule_set: str
    unit: str
    outcome: str
    n_included: int
    excluded_ne: tuple[str, ...]
    excluded_not_assessed: tuple[str, ...]
    excluded_after_new_therapy: tuple[str, ...]
    rows: tuple[FactorRow, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Table4Row:
    key: str
    label: str
    n: int
    pre_mean: float | None
    pre_sd: float | None
    post_mean: float | None
    post_sd: float | None
    pre_text: str
    post_text: str
    comparison: PairedResult | None


@dataclass(frozen=True)
class Table4:
    n_procedures: int
    n_pairs: int
    rows: tuple[Table4Row, ...]
    post_d90_below_rx: int
    notes: tuple[str, ...]


# --- loading -----------------------------------------------------------------------------------------------------


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
    try:
        dosimetry = _table4_from(cohort_table4(index_procedures), len(index_procedures))
    except StatsInputError as exc:  # e.g. every pre/post difference of one parameter is zero
        dosimetry = Table4(len(index_procedures), 0, (), 0, (f"Table 4 not computable: {exc}",))
    return Cohort(
        filter=flt, mode=mode, rule_set=RULE_SETS[mode],
        patient_rule_set=", ".join(stored) or RULE_SETS.get(protocol_mode, RULE_SET),
        remission_definition=remission, patients=tuple(records),
        dosimetry=dosimetry, in_window_only=in_window_only, registered=registered, as_of=today,
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


# --- analysis populations ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """A named analysis population: its key, label, definition and the study IDs in it (``n``)."""

    key: str
    label: str
    definition: str
    study_ids: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.study_ids)

    @property
    def text(self) -> str:
        return f"{self.label} (n = {self.n})"


def implanted(c: Cohort) -> Population:
    """All implanted: every patient of the filter with an index implant (the cohort)."""
    return Population("implanted", "All implanted", "every patient of the filter with an index implant (day 0)",
                      tuple(r.study_id for r in c.patients))


def _window_rule(c: Cohort) -> str:
    return "inside its protocol window" if c.in_window_only else "whatever its date (protocol cohort.in_window_only "\
        "= false)"


def evaluable(c: Cohort, timepoint: str) -> Population:
    """Evaluable at a time point: a category (NE included) computed from the visit of that time point — inside its
    window when the protocol says so — before any new anticancer therapy."""
    ids = tuple(r.study_id for r in c.patients if (v := r.visit_at(timepoint)) is not None and v.overall
                and not r.after_new_therapy(v.day))
    label = TIMEPOINT_LABELS[timepoint]
    return Population(f"evaluable:{timepoint}", f"Evaluable at {label}",
                      f"all implanted with a category (NE included) computed from the {label} visit "
                      f"{_window_rule(c)}, before any new anticancer therapy", ids)


def paired(c: Cohort, timepoint: str, measure: str) -> Population:
    """Paired at a time point: patients with the measure ("volume" or "tg") at baseline and at that time point."""
    get = {"volume": _volume, "tg": _tg}[measure]
    ids = tuple(r.study_id for r in c.patients if get(r, "baseline") is not None and get(r, timepoint) is not None)
    label = TIMEPOINT_LABELS[timepoint]
    what = "total lesion volume" if measure == "volume" else "suppressed Tg"
    return Population(f"paired:{measure}:{timepoint}", f"Paired {what}, baseline and {label}",
                      f"all implanted with the {what} at baseline and at the {label} visit {_window_rule(c)}, "
                      "before any new anticancer therapy", ids)


def _outside_window(c: Cohort) -> tuple[OutsideWindowVisit, ...]:
    out = []
    for r in c.patients:
        for tp, _ in TIMEPOINTS:
            window = r.window_days(tp)
            for v in r.outside_window(tp):
                counted = not c.in_window_only and r.visit_at(tp) is v
                out.append(OutsideWindowVisit(r.study_id, tp, v.day, window[0], window[1], counted))
    return tuple(out)


# --- Table 1: response per time point ----------------------------------------------------------------------------


def _bucket(response: str) -> str | None:
    if not response:
        return None
    return "SD" if response == "NON_CR_NON_PD" else response


def _counts(responses: Sequence[str]) -> ResponseCounts:
    buckets = [_bucket(r) for r in responses]
    return ResponseCounts(*(buckets.count(cat) for cat in CATEGORIES),
                          non_cr_non_pd=sum(1 for r in responses if r == "NON_CR_NON_PD"))


def _rate(name: str, categories: tuple[str, ...], counts: ResponseCounts) -> Rate:
    n = counts.total
    if n == 0:
        return Rate(name, categories, None, "not computable (N = 0)")
    prop = proportion_ci(counts.of(categories), n)
    return Rate(name, categories, prop, prop.format())


def _rates(c: Cohort, counts: ResponseCounts) -> tuple[Rate, Rate]:
    name, cats = REMISSION[c.remission_definition]
    return _rate(name, cats, counts), _rate(ORR[0], ORR[1], counts)


def _timepoint_patients(c: Cohort, timepoint: str) -> tuple[list[str], list[str], list[str]]:
    responses, missing, after = [], [], []
    for r in c.patients:
        v = r.visit_at(timepoint)
        if v is None and r.outside_window(timepoint):
            continue  # listed with the visits outside their window
        if v is None or not v.overall:
            missing.append(r.study_id)
        elif r.after_new_therapy(v.day):
            after.append(r.study_id)
        else:
            responses.append(v.overall)
    return responses, missing, after


def _timepoint_lesions(c: Cohort, timepoint: str) -> tuple[list[str], list[str], list[str]]:
    responses, missing, after = [], [], []
    for r in c.patients:
        labels = list(dict.fromkeys(lr.lesion_label for lr in r.lesion_responses
                                    if lr.response or (lr.timepoint == ac.Timepoint.BASELINE and lr.size_mm is not None)))
        v = r.visit_at(timepoint)
        if v is None and r.outside_window(timepoint):
            continue  # listed with the visits outside their window
        at = {lr.lesion_label: lr for lr in r.lesion_responses if v is not None and lr.visit_date == v.visit_date}
        for label in labels:
            name = f"{r.study_id} {label}"
            lr = at.get(label)
            if lr is None or not lr.response:
                missing.append(name)
            elif r.after_new_therapy(lr.day):
                after.append(name)
            else:
                responses.append(lr.response)
    return responses, missing, after


def table1(c: Cohort) -> Table1:
    """CR/PR/SD/PD/NE at 2, 6 and 12 months with remission rate and ORR (Wilson 95 % CI), and the BOR counts."""
    per_lesion = c.mode == "per_lesion"
    rows = []
    outside = _outside_window(c)
    for tp, label in TIMEPOINTS:
        responses, missing, after = (_timepoint_lesions if per_lesion else _timepoint_patients)(c, tp)
        counts = _counts(responses)
        remission, orr = _rates(c, counts)
        pop = evaluable(c, tp)
        rows.append(Table1Row(tp, label, counts.total, counts, remission, orr, tuple(missing), tuple(after),
                              tuple(dict.fromkeys(o.study_id for o in outside if o.timepoint == tp and not o.counted)),
                              f"{pop.text} of {len(c.patients)} implanted"))
    bor = []
    # Patients without any follow-up assessment yet (early in follow-up) have no best response to count.
    followed = [r for r in c.patients if any(not v.is_baseline and v.day > 0 for v in r.visits)]
    followed_ids = {r.patient_id for r in followed}
    waiting = tuple(r.study_id for r in c.patients if r.patient_id not in followed_ids)
    for kind in ("unconfirmed", "confirmed"):
        values = [getattr(r, f"bor_{kind}") for r in followed]
        counts = _counts(values)
        remission, orr = _rates(c, counts)
        bor.append(BorSummary(kind, counts.total, counts, remission, orr,
                              waiting + tuple(r.study_id for r, v in zip(followed, values, strict=True) if not v)))
    bor_rule_sets = sorted({r.followup_rule_set for r in c.patients if r.followup_rule_set})
    if per_lesion:  # every row counts lesions: the best response of each lesion (assessment.cohort_lesions)
        from assessment import cohort_lesions

        bor, bor_rule_sets = list(cohort_lesions.bor_summaries(c)), [RULE_SET_PER_LESION]
    unit = "lesion" if per_lesion else "patient"
    notes = [
        f"Unit: {unit}; categories by {MODE_LABELS[c.mode]} (rule set {c.rule_set}).",
        "Non-CR/Non-PD (non-target disease only) is counted with SD.",
        f"Population per time point: evaluable = all implanted with a category computed from the time point's visit "
        f"{_window_rule(c)} (NE included, §1.10); N = the {unit}s of those patients; {unit}s without the visit are "
        "listed as not assessed; visits after a new anticancer therapy are left out and listed.",
        ("Visits outside their protocol window are listed (study ID, time point, day, window in days since the "
         "implant) and not counted (protocol cohort.in_window_only = true)." if c.in_window_only else
         "Visits outside their protocol window are counted (protocol cohort.in_window_only = false) and listed."),
        f"Remission rate = {'+'.join(REMISSION[c.remission_definition][1])} (protocol "
        f"followup.remission_definition = '{c.remission_definition}'); ORR = CR+PR. 95 % CI: Wilson score.",
        f"Best overall response is per {unit} ({'each lesion from its own stored categories' if per_lesion else 'stored follow-up result'}, "
        f"RECIST §1.9; confirmation ≥ 28 days); {unit}s with no follow-up assessment yet are listed as not "
        "assessed, not counted as NE.",
    ]
    if per_lesion:
        notes.append("Modified RECIST (per lesion) is not RECIST 1.1: every measurable lesion is judged on its own "
                     "diameter.")
    return Table1(c.mode, MODE_LABELS[c.mode], c.rule_set, unit, c.remission_definition,
                  REMISSION[c.remission_definition][0], tuple(rows), ", ".join(bor_rule_sets) or c.patient_rule_set,
                  tuple(bor), tuple(notes), outside, c.in_window_only)


# --- Table 2: volume and Tg --------------------------------------------------------------------------------------


def _paired(base: Sequence, follow: Sequence, force: PairedTest) -> tuple[PairedResult | None, PairedResult | None, str]:
    try:
        auto = PairedResult.of(paired_compare(base, follow))
    except StatsInputError as exc:
        return None, None, f"no comparison: {exc}"
    try:
        forced = PairedResult.of(paired_compare(base, follow, PairedSettings(force_test=force)))
    except StatsInputError as exc:
        return None, auto, f"{force.value} not computable: {exc}"
    return forced, auto, ""


def _quantity(x) -> Quantity:
    return Quantity(x.qualifier.value, float(x.value))


def _mean_sd_text(values: Sequence[float]) -> tuple[float | None, float | None, str]:
    if len(values) < 2:
        return None, None, f"n = {len(values)}: mean ± SD needs at least 2 values"
    mean, sd = mean_sd(values)
    return mean, sd, f"{mean:.2f} ± {sd:.2f}"


def table2(c: Cohort) -> Table2:
    """Total lesion volume mean ± SD (paired t vs baseline) and Tg median (P25, P75) (Wilcoxon vs baseline).

    The baseline row describes all implanted patients with a baseline value; each follow-up row describes the
    patients *paired* at that time point (baseline and follow-up value) and gives their own baseline beside it, so
    both sides of every comparison are the same patients (n stated per row).

    Per-lesion mode: lesion volumes, no Tg (``assessment.cohort_lesions.table2``)."""
    if c.mode == "per_lesion":
        from assessment import cohort_lesions

        return cohort_lesions.table2(c)
    base_vol = [_volume(r, "baseline") for r in c.patients]
    base_tg = [_tg(r, "baseline") for r in c.patients]
    n_all = len(c.patients)
    vol_rows, tg_rows = [], []
    present = [v for v in base_vol if v is not None]
    mean, sd, text = _mean_sd_text(present)
    vol_rows.append(VolumeRow("baseline", "Baseline", len(present), mean, sd, text, None, None, "",
                              f"All implanted with a baseline volume (n = {len(present)} of {n_all})"))
    labs = [v for v in base_tg if v is not None]
    mi = median_iqr(labs) if labs else None
    tg_rows.append(TgRow(
        "baseline", "Baseline", len(labs), mi.n_left_censored if mi else 0, mi.n_right_censored if mi else 0,
        _quantity(mi.median) if mi else None, _quantity(mi.q1) if mi else None, _quantity(mi.q3) if mi else None,
        mi.format() if mi else "no values", None, None, mi.note if mi else "",
        f"All implanted with a baseline Tg (n = {len(labs)} of {n_all})"))
    for tp, label in TIMEPOINTS:
        vols = [_volume(r, tp) for r in c.patients]
        pairs = [(b, f) for b, f in zip(base_vol, vols, strict=True) if b is not None and f is not None]
        mean, sd, text = _mean_sd_text([f for _, f in pairs])
        b_mean, b_sd, b_text = _mean_sd_text([b for b, _ in pairs])
        forced, auto, note = _paired(base_vol, vols, PairedTest.PAIRED_T)
        pop = paired(c, tp, "volume")
        vol_rows.append(VolumeRow(tp, label, len(pairs), mean, sd, text, forced, auto, note,
                                  f"{pop.text} of {n_all} implanted", b_mean, b_sd, b_text))

        values = [_tg(r, tp) for r in c.patients]
        tg_pairs = [(b, f) for b, f in zip(base_tg, values, strict=True) if b is not None and f is not None]
        mi = median_iqr([f for _, f in tg_pairs]) if tg_pairs else None
        b_mi = median_iqr([b for b, _ in tg_pairs]) if tg_pairs else None
        forced, auto, note = _paired(base_tg, values, PairedTest.WILCOXON)
        pop = paired(c, tp, "tg")
        tg_rows.append(TgRow(
            tp, label, len(tg_pairs), mi.n_left_censored if mi else 0, mi.n_right_censored if mi else 0,
            _quantity(mi.median) if mi else None, _quantity(mi.q1) if mi else None, _quantity(mi.q3) if mi else None,
            mi.format() if mi else "no values", forced, auto, note or (mi.note if mi else ""),
            f"{pop.text} of {n_all} implanted", b_mi.format() if b_mi else "no values"))
    notes = (
        f"Patient-level volumes and Tg; categories behind them by {c.patient_rule_set}.",
        "Populations: the baseline row is every implanted patient with a baseline value; each follow-up row is "
        f"the patients paired at that time point (baseline and follow-up value, the follow-up visit {_window_rule(c)}"
        ", before any new therapy), shown with their own baseline: both sides of each comparison are the same "
        "patients, n per row.",
        "Volume: total of the ellipsoid volumes (π/6·a·b·c) of every followed lesion, cm³; mean ± sample SD. "
        "vs baseline on complete pairs with the paired t-test, forced as the study did; 'auto' is the test chosen "
        "from the Kolmogorov–Smirnov (Lilliefors) normality of the differences.",
        "Tg: TSH-suppressed Tg (ng/mL) recorded at the visit; median (P25, P75), quantiles type 6 (SPSS); '<' "
        "values are ranked below every detected value and '>' values above. vs baseline with the Wilcoxon "
        "signed-rank test (Z as SPSS), forced as the study did; censored values tie at their limit.",
    )
    return Table2(c.patient_rule_set, "patient", tuple(vol_rows), tuple(tg_rows), "weibull (type 6)",
                  notes)


def _volume(r: PatientRecord, tp: str) -> float | None:
    v = r.visit_at(tp)
    if v is None or (tp != "baseline" and r.after_new_therapy(v.day)):
        return None
    return v.volume_cm3


def _tg(r: PatientRecord, tp: str) -> LabValue | None:
    t = r.tg_at(tp)
    if t is None or (tp != "baseline" and r.after_new_therapy(t.day)):
        return None
    return t.lab_value()


# --- Table 3: 12-month efficacy by factor ------------------------------------------------------------------------


def _fmt_p(p: float) -> str:
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


def _cut_groups(values: Sequence[LabValue | float | None], cut: float) -> list[bool | None]:
    """True = above the cut, False = at or below, None = unknown (missing, or a censored value straddling it)."""
    out: list[bool | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, LabValue) and v.qualifier is Qualifier.LT:
            out.append(False if v.value <= cut else None)
        elif isinstance(v, LabValue) and v.qualifier is Qualifier.GT:
            out.append(True if v.value >= cut else None)
        else:
            out.append(float(v.value if isinstance(v, LabValue) else v) > cut)
    return out


def _factor(name: str, level_a: str, level_b: str, groups: Sequence[bool | None], effective: Sequence[bool],
            cut: str = "") -> FactorRow:
    """``groups`` True = level A, False = level B, None = unknown."""
    cells = {(g, e): 0 for g in (True, False) for e in (True, False)}
    unknown = 0
    for g, e in zip(groups, effective, strict=True):
        if g is None:
            unknown += 1
        else:
            cells[(g, e)] += 1
    table = [[cells[(True, True)], cells[(True, False)]], [cells[(False, True)], cells[(False, False)]]]
    n = sum(map(sum, table))
    try:
        res = compare_2x2(table)
    except StatsInputError as exc:
        return FactorRow(name, level_a, level_b, *table[0], *table[1], n, unknown, None, None, None,
                         "not computable", str(exc), cut)
    if res.test is TableTest.FISHER:
        text = f"Fisher exact {_fmt_p(res.p_value)}"
    else:
        chi = "Yates χ²" if res.test is TableTest.YATES else "χ²"
        text = f"{chi} = {res.statistic:.3f}, {_fmt_p(res.p_value)}"
    return FactorRow(name, level_a, level_b, *table[0], *table[1], n, unknown, res.test.value, res.statistic,
                     res.p_value, text, res.reason, cut)


def table3(c: Cohort) -> Table3:
    """12-month effective (CR+PR+SD) vs ineffective (PD) by sex, histology, age, baseline Tg and volume,
    enhancement and distant metastasis, each with the 2×2 test chosen by ``stats.compare_2x2``.
    Per-lesion mode: lesions counted (``assessment.cohort_lesions.table3``)."""
    if c.mode == "per_lesion":
        from assessment import cohort_lesions

        return cohort_lesions.table3(c)
    included: list[tuple[PatientRecord, bool]] = []
    ne, missing, after = [], [], []
    for r in c.patients:
        v = r.visit_at("m12")
        if v is None or not v.overall:
            missing.append(r.study_id)
        elif r.after_new_therapy(v.day):
            after.append(r.study_id)
        elif v.overall == "NE":
            ne.append(r.study_id)
        else:
            included.append((r, v.overall != "PD"))
    eff = [e for _, e in included]
    pts = [r for r, _ in included]
    rows = [
        _factor("Sex", "Male", "Female", [r.sex == rc.Sex.MALE for r in pts], eff),
        _factor("Histology", "Papillary", "Other", [r.histology == rc.Histology.PAPILLARY for r in pts], eff),
        _factor("Age at implant", f"≤ {AGE_CUT_YEARS} years", f"> {AGE_CUT_YEARS} years",
                [r.age_at_implant <= AGE_CUT_YEARS for r in pts], eff),
    ]
    all_tg = [t for t in (_tg(r, "baseline") for r in c.patients) if t is not None]
    if all_tg:
        mi = median_iqr(all_tg)
        cut = mi.median.value
        cut_text = f"cohort median baseline Tg {mi.median.format()} ng/mL (n = {mi.n})"
        above = _cut_groups([_tg(r, "baseline") for r in pts], cut)
        rows.append(_factor("Baseline Tg", f"≤ {cut:g} ng/mL", f"> {cut:g} ng/mL",
                            [None if a is None else not a for a in above], eff, cut_text))
    else:
        rows.append(_factor("Baseline Tg", "≤ median", "> median", [None] * len(pts), eff, "no baseline Tg"))
    all_vol = [v for v in (_volume(r, "baseline") for r in c.patients) if v is not None]
    if all_vol:
        mi = median_iqr(all_vol)
        cut = mi.median.value
        cut_text = f"cohort median baseline volume {cut:.2f} cm³ (n = {mi.n})"
        above = _cut_groups([_volume(r, "baseline") for r in pts], cut)
        rows.append(_factor("Baseline volume", f"≤ {cut:.2f} cm³", f"> {cut:.2f} cm³",
                            [None if a is None else not a for a in above], eff, cut_text))
    else:
        rows.append(_factor("Baseline volume", "≤ median", "> median", [None] * len(pts), eff, "no baseline volume"))
    rows.append(_factor("Enhancement", "Yes", "No", [r.enhancement_at_baseline for r in pts], eff))
    rows.append(_factor("Distant metastasis", "Yes", "No", [r.distant_metastasis for r in pts], eff))
    notes = (
        f"Population: evaluable at 12 months without NE (n = {len(included)} of {len(c.patients)} implanted; the "
        f"12-month visit {_window_rule(c)}).",
        f"Per patient, 12-month category by {c.patient_rule_set}: effective = CR+PR+SD (Non-CR/Non-PD with SD), "
        "ineffective = PD; NE, no 12-month result, or a 12-month visit after new therapy are excluded and listed.",
        "Test per 2×2 table (rows = factor levels, columns = effective / ineffective): n ≥ 40 and all expected ≥ 5 "
        "→ Pearson χ²; n ≥ 40 and some expected in [1, 5) → Yates χ²; n < 40 or any expected < 1 → Fisher exact.",
        "Enhancement: any followed lesion with mild or marked enhancement at the baseline measurement (else as "
        "registered). Distant metastasis: M1 or any lung or bone lesion. Age in completed years at the implant.",
    )
    return Table3("m12", c.patient_rule_set, "patient", "effective (CR+PR+SD) vs ineffective (PD)",
                  len(included), tuple(ne), tuple(missing), tuple(after), tuple(rows), notes)


# --- flow diagram -------------------------------------------------------------------------------------------------

FLOW_REASONS = {
    "not_eligible": "not eligible",
    "not_implanted": "not implanted",
    "implanted_not_eligible": "implanted without an eligible latest assessment",
    "outside_window": "visit outside window",
    "no_category": "no category computed",
    "ne": "NE",
    "after_new_therapy": "new anticancer therapy",
    "died": "died",
    "lost": "lost to follow-up",
    "withdrawn": "withdrawn",
    "completed": "follow-up completed",
    "not_yet_due": "not yet due",
    "not_done": "visit not done",
}
_STATUS_REASON = {ac.FollowUpState.DIED: ("died", "died on day {d}"),
                  ac.FollowUpState.LOST: ("lost", "lost to follow-up, last contact on day {d}"),
                  ac.FollowUpState.WITHDRAWN: ("withdrawn", "withdrawn on day {d}"),
                  ac.FollowUpState.COMPLETED: ("completed", "follow-up completed on day {d}")}


@dataclass(frozen=True)
class FlowPatient:
    """A patient at a step: missing from it (``counted`` False) or counted but flagged (NE; implanted without an
    eligible assessment). ``detail`` uses days since the implant, never calendar dates."""

    study_id: str
    reason: str  # a key of FLOW_REASONS
    detail: str
    counted: bool = False

    @property
    def reason_label(self) -> str:
        return FLOW_REASONS[self.reason]


@dataclass(frozen=True)
class FlowStep:
    key: str  # registered, eligible, implanted, m2, m6, m12
    label: str
    n: int
    of: str  # the step this one is counted from ("" for registered)
    patients: tuple[FlowPatient, ...]  # missing (with the reason) and flagged

    @property
    def missing(self) -> tuple[FlowPatient, ...]:
        return tuple(p for p in self.patients if not p.counted)

    @property
    def flagged(self) -> tuple[FlowPatient, ...]:
        return tuple(p for p in self.patients if p.counted)

    def reasons(self) -> list[tuple[str, int]]:
        """(reason label, patients) for the missing patients, most frequent first."""
        counts: dict[str, int] = defaultdict(int)
        for p in self.missing:
            counts[p.reason_label] += 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class Flow:
    steps: tuple[FlowStep, ...]
    notes: tuple[str, ...]


def _flow_reason(c: Cohort, r: PatientRecord, tp: str) -> FlowPatient | None:
    """Why patient ``r`` is not evaluable at ``tp`` (None when evaluable and not NE; NE is flagged, counted)."""
    start, end = r.window_days(tp) or (0, 0)
    window = f"window days {start}–{end}"
    v = r.visit_at(tp)
    if v is not None and v.overall and not r.after_new_therapy(v.day):
        return FlowPatient(r.study_id, "ne", f"visit on day {v.day}: NE", True) if v.overall == "NE" else None
    if v is not None and r.after_new_therapy(v.day):
        return FlowPatient(r.study_id, "after_new_therapy",
                           f"visit on day {v.day}, after a new anticancer therapy from day {r.new_therapy_day}")
    if v is not None:
        return FlowPatient(r.study_id, "no_category", f"visit on day {v.day}: no category computed (e.g. no "
                                                      "baseline or no measurement)")
    outside = r.outside_window(tp)
    if outside:
        days = ", ".join(str(o.day) for o in outside)
        return FlowPatient(r.study_id, "outside_window", f"visit on day {days}, {window}")
    if r.new_therapy_day is not None and r.new_therapy_day < start:
        return FlowPatient(r.study_id, "after_new_therapy",
                           f"new anticancer therapy from day {r.new_therapy_day}, before the {window}")
    if r.left_follow_up and r.status_day is not None and r.status_day <= end:
        reason, text = _STATUS_REASON[ac.FollowUpState(r.followup_status)]
        return FlowPatient(r.study_id, reason, f"{text.format(d=r.status_day)}, {window}")
    if r.days_since_implant is not None and r.days_since_implant <= end:
        return FlowPatient(r.study_id, "not_yet_due", f"{window} not closed yet (today is day {r.days_since_implant})")
    return FlowPatient(r.study_id, "not_done", f"no visit recorded in the {window}")


def flow(c: Cohort) -> Flow:
    """Registered → eligible (latest eligibility) → implanted → evaluable at 2, 6 and 12 months, with the reason
    for every patient missing at each step. The time-point steps count from all implanted (a patient missing at 2
    months may be evaluable at 6); NE patients are counted (in Table 1's N) and flagged."""
    reg = c.registered
    eligible = [x for x in reg if x.eligibility_status == rc.EligibilityStatus.ELIGIBLE]
    status_label = dict(rc.EligibilityStatus.choices)
    steps = [
        FlowStep("registered", "Registered", len(reg), "", ()),
        FlowStep("eligible", "Eligible (latest eligibility)", len(eligible), "registered", tuple(
            FlowPatient(x.study_id, "not_eligible",
                        f"latest eligibility: {status_label.get(x.eligibility_status, x.eligibility_status)}")
            for x in reg if x.eligibility_status != rc.EligibilityStatus.ELIGIBLE and not x.implanted)
            + tuple(FlowPatient(x.study_id, "not_eligible",
                                f"latest eligibility: {status_label.get(x.eligibility_status, x.eligibility_status)}"
                                " (implanted nevertheless)")
                    for x in reg if x.eligibility_status != rc.EligibilityStatus.ELIGIBLE and x.implanted)),
        FlowStep("implanted", "Implanted (all implanted)", len(c.patients), "eligible", tuple(
            FlowPatient(x.study_id, "not_implanted", "eligible, no implant recorded")
            for x in eligible if not x.implanted) + tuple(
            FlowPatient(r.study_id, "implanted_not_eligible",
                        f"latest eligibility: {status_label.get(r.eligibility_status, r.eligibility_status)}", True)
            for r in c.patients if r.eligibility_status != rc.EligibilityStatus.ELIGIBLE)),
    ]
    for tp, label in TIMEPOINTS:
        pop = evaluable(c, tp)
        found = [fp for r in c.patients if (fp := _flow_reason(c, r, tp)) is not None]
        steps.append(FlowStep(tp, f"Evaluable at {label}", pop.n, "implanted", tuple(found)))
    notes = (
        "Counts are patients. Eligible = the latest eligibility assessment says eligible; the time-point steps "
        "count from all implanted.",
        f"Evaluable = a category (NE included, flagged) computed from the time point's visit {_window_rule(c)}, "
        "before any new anticancer therapy; days count from the implant (day 0).",
        "Follow-up status (died, lost, withdrawn, completed) explains a missing visit when it came before the "
        "window closed; 'not yet due' = the window is still open today.",
        *(("With an implant-period filter, registered patients without an implant are kept (they have no implant "
           "date); patients implanted outside the period are left out.",)
          if c.filter.implant_from or c.filter.implant_to else ()),
    )
    return Flow(tuple(steps), notes)


def flow_csv(f: Flow) -> str:
    """One row per step and patient: step, step_label, n, of, study_id, counted, reason, detail (steps without
    anyone missing give one row with empty patient columns)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("step", "step_label", "n", "of", "study_id", "counted", "reason", "detail"))
    for step in f.steps:
        if not step.patients:
            w.writerow((step.key, step.label, step.n, step.of, "", "", "", ""))
        for p in step.patients:
            w.writerow((step.key, step.label, step.n, step.of, p.study_id, "yes" if p.counted else "no",
                        p.reason_label, p.detail))
    return out.getvalue()


# --- Table 4: dosimetry ------------------------------------------------------------------------------------------


def _table4_from(raw: Mapping[str, Any], n_procedures: int) -> Table4:
    rows = []
    for row in raw["rows"]:
        pre, post, test = row["pre"], row["post"], row["test"]
        rows.append(Table4Row(
            row["key"], row["label"], row["n"], pre[0] if pre else None, pre[1] if pre else None,
            post[0] if post else None, post[1] if post else None,
            f"{pre[0]:.2f} ± {pre[1]:.2f}" if pre else "n < 3", f"{post[0]:.2f} ± {post[1]:.2f}" if post else "n < 3",
            PairedResult.of(test) if test is not None else None))
    notes = ("Index implant of each patient with both a pre-plan and a post-implant plan (planning-system numbers "
             "preferred over the TG-43 recomputation); GTV, else PTV. Paired test chosen from the normality of the "
             "differences (dosimetry.services.cohort_table4).",)
    return Table4(n_procedures, raw["n_pairs"], tuple(rows), raw["post_d90_below_rx"], notes)


def table4(c: Cohort) -> Table4:
    """Pre- vs post-implant dosimetry of the cohort's index implants (``dosimetry.services.cohort_table4``)."""
    return c.dosimetry


# --- reports -----------------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """JSON-ready: dataclasses → dicts, enums → values, dates → ISO, Fractions/Decimals → float, NaN/inf → None."""
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, Enum):
        return x.value
    if x is None or isinstance(x, bool | str | int):
        return x
    if isinstance(x, float | Fraction | Decimal):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, date | datetime):
        return x.isoformat()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, Sequence):
        return [_plain(v) for v in x]
    if hasattr(x, "item"):  # numpy scalar
        return _plain(x.item())
    raise TypeError(f"cannot make {type(x).__name__} JSON-ready")


def report(c: Cohort) -> dict[str, Any]:
    """The whole analysis as a JSON-ready dict (floats, ints, strings, lists, None; no NaN)."""
    return {
        "filter": _plain(c.filter),
        "mode": c.mode,
        "mode_label": MODE_LABELS[c.mode],
        "rule_set": c.rule_set,
        "patient_rule_set": c.patient_rule_set,
        "remission_definition": c.remission_definition,
        "n_patients": len(c.patients),
        "table1": _plain(table1(c)),
        "table2": _plain(table2(c)),
        "table3": _plain(table3(c)),
        "table4": _plain(table4(c)),
        "populations": _plain([implanted(c), *(evaluable(c, tp) for tp, _ in TIMEPOINTS)]),
        "flow": _plain(flow(c)),
        "generated_at": timezone.now().isoformat(),
    }


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else k, v)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(f"{prefix}.{i}", v)
    elif isinstance(value, list):
        yield prefix, "; ".join(str(v) for v in value)
    else:
        yield prefix, value


ROW_KEYS = {"rows": ("timepoint", "factor", "key"), "bor": ("kind",), "volume": ("timepoint",), "tg": ("timepoint",)}


def report_csv(c: Cohort) -> str:
    """One tidy CSV (table, row, column, value): metadata rows first, then every cell of Tables 1–4."""
    rep = report(c)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("table", "row", "column", "value"))
    for key in ("mode", "mode_label", "rule_set", "patient_rule_set", "remission_definition", "n_patients",
                "generated_at"):
        w.writerow(("report", "", key, rep[key]))
    for col, value in _flatten("", rep["filter"]):
        w.writerow(("report", "filter", col, "" if value is None else value))
    for t in ("table1", "table2", "table3", "table4"):
        table = rep[t]
        for key, value in table.items():
            if key in ROW_KEYS and isinstance(value, list):
                for row in value:
                    name = next(row[k] for k in ROW_KEYS[key] if k in row)
                    row_id = name if key == "rows" else f"{key}:{name}"
                    for col, v in _flatten("", row):
                        w.writerow((t, row_id, col, "" if v is None else v))
            else:
                for col, v in _flatten(key, value):
                    w.writerow((t, "", col, "" if v is None else v))
    return out.getvalue()


def _lines_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*r).rstrip() for r in rows)]


def _listing(title: str, names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) + (f" … (+{len(names) - limit})" if len(names) > limit else "")
    return f"  {title} ({len(names)}): {shown}"


def report_text(c: Cohort) -> str:
    """Aligned plain text of Tables 1–4 for a terminal."""
    f = c.filter
    t1, t2, t3, t4 = table1(c), table2(c), table3(c), table4(c)
    out = [
        "SeedTrack cohort report",
        f"Generated {timezone.now().isoformat(timespec='seconds')}",
        f"Filter: site {f.site or 'all'}; implant {f.implant_from or '…'} to {f.implant_to or '…'}; "
        f"histology {f.histology or 'all'}",
        f"Mode: {MODE_LABELS[c.mode]} — rule set {c.rule_set}; patients: {len(c.patients)}",
        "",
        f"Table 1. Response per time point — {t1.mode_label}, rule set {t1.rule_set}, unit: {t1.unit}",
    ]
    rows = [(r.label, str(r.n), str(r.counts.cr), str(r.counts.pr), str(r.counts.sd), str(r.counts.pd),
             str(r.counts.ne), r.remission.text, r.orr.text) for r in t1.rows]
    out += _lines_table(("Time point", "N", "CR", "PR", "SD", "PD", "NE", t1.remission_label, "ORR (CR+PR)"), rows)
    for r in t1.rows:
        if r.not_assessed:
            out.append(_listing(f"{r.label} not assessed", r.not_assessed))
        if r.after_new_therapy:
            out.append(_listing(f"{r.label} after new therapy (left out)", r.after_new_therapy))
        out.append(f"  {r.label} population: {r.population}")
    if t1.outside_window:
        out.append(_listing("Visits outside their window" + (" (not counted)" if t1.in_window_only else " (counted)"),
                            [o.text for o in t1.outside_window]))
    out.append(f"Best overall response per {t1.unit} ({t1.bor_rule_set}):")
    rows = [(b.kind, str(b.n), str(b.counts.cr), str(b.counts.pr), str(b.counts.sd), str(b.counts.pd),
             str(b.counts.ne), b.remission.text, b.orr.text) for b in t1.bor]
    out += _lines_table(("BOR", "N", "CR", "PR", "SD", "PD", "NE", t1.remission_label, "ORR (CR+PR)"), rows)
    out += [f"  Note: {n}" for n in t1.notes]

    out += ["", f"Table 2. Lesion volume and Tg — {t2.unit} level ({t2.rule_set}"
                f"{', ' + MODE_LABELS[c.mode] if c.mode == 'per_lesion' else ''})"]
    rows = [(r.label, str(r.n), r.baseline_text or "—", r.text, r.vs_baseline.text if r.vs_baseline else r.note or "—",
             f"{r.vs_baseline_auto.test}: {r.vs_baseline_auto.text}" if r.vs_baseline_auto else "—")
            for r in t2.volume]
    out += _lines_table(("Volume (cm³)", "n", "paired baseline", "mean ± SD", "paired t vs baseline", "auto test"),
                        rows)
    out.append("")
    rows = [(r.label, str(r.n), f"{r.n_left_censored}/{r.n_right_censored}", r.baseline_text or "—", r.text,
             r.vs_baseline.text if r.vs_baseline else r.note or "—",
             f"{r.vs_baseline_auto.test}: {r.vs_baseline_auto.text}" if r.vs_baseline_auto else "—") for r in t2.tg]
    out += _lines_table(("Tg (ng/mL)", "n", "</>", "paired baseline", "median (P25, P75)", "Wilcoxon vs baseline",
                         "auto test"), rows)
    out += [f"  {r.label} population: {r.population}" for r in t2.volume]
    out += [f"  Note: {n}" for n in t2.notes]

    out += ["", f"Table 3. 12-month efficacy by factor — per {t3.unit} ({t3.rule_set}"
                f"{', ' + MODE_LABELS[c.mode] if c.mode == 'per_lesion' else ''}); {t3.outcome}; "
                f"n = {t3.n_included}{' lesions' if c.mode == 'per_lesion' else ''}"]
    rows = [(r.factor, r.level_a, f"{r.effective_a}/{r.ineffective_a}", r.level_b,
             f"{r.effective_b}/{r.ineffective_b}", str(r.n_unknown), r.text) for r in t3.rows]
    out += _lines_table(("Factor", "Level A", "eff/ineff", "Level B", "eff/ineff", "unknown", "test"), rows)
    for r in t3.rows:
        if r.cut:
            out.append(f"  {r.factor} cut: {r.cut}")
    for title, names in (("excluded, NE at 12 months", t3.excluded_ne),
                         ("excluded, no 12-month result", t3.excluded_not_assessed),
                         ("excluded, 12-month visit after new therapy", t3.excluded_after_new_therapy)):
        if names:
            out.append(_listing(title, names))
    out += [f"  Note: {n}" for n in t3.notes]

    out += ["", f"Table 4. Pre- vs post-implant dosimetry — {t4.n_pairs} of {t4.n_procedures} implants with both "
                f"plans; post D90 below the prescription: {t4.post_d90_below_rx}"]
    rows = [(r.label, str(r.n), r.pre_text, r.post_text, r.comparison.text if r.comparison else "—",
             r.comparison.test if r.comparison else "") for r in t4.rows]
    out += _lines_table(("Parameter", "n", "pre", "post", "paired test", "test"), rows)
    out += [f"  Note: {n}" for n in t4.notes]

    out += ["", "Flow: registered → eligible → implanted → evaluable per time point (patients)"]
    for step in flow(c).steps:
        out.append(f"  {step.label}: {step.n}" + (f" (of {step.of})" if step.of else ""))
        for p in step.patients:
            out.append(f"    {'flagged' if p.counted else 'missing'}: {p.study_id} — {p.reason_label}: {p.detail}")
    return "\n".join(out) + "\n"

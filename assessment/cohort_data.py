"""The plain data of the cohort analysis (a pure core: no Django, no database).

The loader (:mod:`assessment.cohort`) turns the stored follow-up into these frozen records: a :class:`Cohort` of
:class:`PatientRecord`. The tables (:mod:`assessment.cohort_tables`, per lesion :mod:`assessment.cohort_lesions`) and
the report formats (:mod:`assessment.cohort_formats`) read only them. This module also holds the filter, the output
dataclasses of Tables 1–4, the analysis populations (:class:`Population`: all implanted, evaluable at a time point,
paired at a time point) and the small counting and test helpers that both table modules share.

Rules kept here:

* No import of Django or of a project module other than the pure cores: a core cannot see ``assessment.choices`` or
  ``registry.choices``, so the few stored choice values the tables compare against are named below (for example
  :data:`IN_FOLLOW_UP`); ``tests/assessment/test_cohort_tables.py`` checks that they are the models' values.
* Days count from the index implant (day 0); a time point's visit is the first one recorded with that label,
  inside its protocol window when ``in_window_only`` (the protocol's ``cohort.in_window_only``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from typing import Generic, Protocol, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

from assessment.recist import RULE_SET, RULE_SET_PER_LESION, RecistSettings
from assessment.schedule import BASELINE
from assessment.stats import (
    CensoredNumber,
    MedianIqr,
    Observation,
    PairedComparison,
    PairedData,
    PairedSettings,
    PairedTest,
    Proportion,
    StatsInputError,
    TableTest,
    compare_2x2,
    mean_sd,
    median_iqr,
    proportion_ci,
)
from assessment.thyroglobulin import LabValue, Qualifier
from common.errors import InputError

T = TypeVar("T")
R = TypeVar("R")


class _once(Generic[R, T]):  # noqa: N801 - used like functools.cached_property
    """``functools.cached_property`` without its lock (Python 3.11 takes an RLock on every first access, which cost
    more than the lookups it saves at 10 000 records). The value is computed on first access and kept in the
    instance's ``__dict__``, which then answers directly (a non-data descriptor); records are frozen, so two threads
    computing it at once compute the same value."""

    def __init__(self, fn: Callable[[R], T]) -> None:
        self.fn = fn
        self.name = fn.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _once[R, T]: ...
    @overload
    def __get__(self, obj: R, owner: type | None = None) -> T: ...

    def __get__(self, obj: R | None, owner: type | None = None) -> T | _once[R, T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


MODES = ("strict", "per_lesion")
MODE_LABELS = {"strict": "RECIST 1.1 (per patient)", "per_lesion": "modified RECIST (per lesion)"}
RULE_SETS = {"strict": RULE_SET, "per_lesion": RULE_SET_PER_LESION}
TIMEPOINTS = (("m2", "2 months"), ("m6", "6 months"), ("m12", "12 months"))
TIMEPOINT_LABELS = {"baseline": "Baseline", **dict(TIMEPOINTS)}
REMISSION = {"dcr": ("Remission (CR+PR+SD)", ("CR", "PR", "SD")), "orr": ("Remission (CR+PR)", ("CR", "PR"))}
ORR = ("ORR (CR+PR)", ("CR", "PR"))
CATEGORIES = ("CR", "PR", "SD", "PD", "NE")
AGE_CUT_YEARS = 45

# Stored choice values (assessment.choices / registry.choices), named here because a core cannot import the models.
IN_FOLLOW_UP, COMPLETED, LOST, WITHDRAWN, DIED = "in_follow_up", "completed", "lost", "withdrawn", "died"
LEFT_FOLLOW_UP = (COMPLETED, LOST, WITHDRAWN, DIED)  # the patient has left the follow-up
TSH_STIMULATED = "stimulated"
SEX_MALE = "M"
HISTOLOGIES = ("papillary", "follicular", "oncocytic", "poorly_differentiated", "other")
HISTOLOGY_PAPILLARY = "papillary"
ELIGIBLE = "eligible"
ELIGIBILITY_LABELS = {"eligible": "Eligible", "not_eligible": "Not eligible", "incomplete": "Incomplete",
                      "not_assessed": "Not assessed"}


# --- the filter --------------------------------------------------------------------------------------------------


class CohortFilterError(InputError):
    """A bad filter value; the one-line message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        super().__init__(f"{field_name}: got {value!r}; allowed: {allowed}", field=field_name, value=value,
                         allowed=allowed)


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
        if self.histology is not None and self.histology not in HISTOLOGIES:
            raise CohortFilterError("histology", self.histology, f"one of {', '.join(HISTOLOGIES)}")
        if self.mode is not None and self.mode not in MODES:
            raise CohortFilterError("mode", self.mode, f"one of {', '.join(MODES)} (or None for the protocol's)")


# --- plain records -----------------------------------------------------------------------------------------------


def record_maker(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor of the frozen dataclass ``cls`` for the loader's hundreds of thousands of
    records: the instance's ``__dict__`` filled at once (the defaults, then the values) instead of one
    ``object.__setattr__`` per field, about twice as fast. It does not check the names: the caller passes every
    field without a default, spelled as declared (``tests/assessment/test_cohort.py`` rebuilds loaded
    records with the real constructor and compares)."""
    defaults = {f.name: f.default for f in fields(cls)  # type: ignore[arg-type]
                if f.default is not MISSING}
    new = object.__new__

    def make(**values: object) -> T:
        obj = new(cls)
        d = obj.__dict__
        d.update(defaults)
        d.update(values)
        return obj

    return make



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
        return self._lab_value

    @_once
    def _lab_value(self) -> LabValue:  # made once: Table 2, Table 3 and the populations ask for it again
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
    followup_status: str = IN_FOLLOW_UP  # "in_follow_up" also when none was recorded
    status_recorded: bool = False
    status_day: int | None = None  # completed / withdrawn / died on, or last contact when lost (day since implant)
    death_cause: str = ""
    in_window_only: bool = True  # protocol cohort.in_window_only when loaded
    windows_days: tuple[tuple[str, int, int], ...] = ()  # (time point, first day, last day) since the implant
    days_since_implant: int | None = None  # on the day the cohort was loaded

    @property
    def baseline(self) -> VisitRecord | None:
        return self._at.get(BASELINE)

    @_once
    def _at(self) -> dict[str, VisitRecord]:
        """Time point → its visit (:meth:`visit_at`), found in one pass over the visits the first time it is asked
        (the tables ask each patient for each time point many times; the record is frozen, so this never
        changes)."""
        at: dict[str, VisitRecord] = {}
        for v in self.visits:
            if v.is_baseline:
                at.setdefault(BASELINE, v)
            elif v.timepoint != BASELINE and (v.in_window or not self.in_window_only):
                at.setdefault(v.timepoint, v)
        return at

    def visit_at(self, timepoint: str) -> VisitRecord | None:
        """The baseline, or the first visit recorded with this time point (inside its protocol window when
        ``in_window_only``)."""
        return self._at.get(timepoint)

    def outside_window(self, timepoint: str) -> tuple[VisitRecord, ...]:
        """Visits labelled with this follow-up time point but outside its window (not counted when
        ``in_window_only``)."""
        return self._outside.get(timepoint, ())

    @_once
    def _outside(self) -> dict[str, tuple[VisitRecord, ...]]:
        """Time point → its visits outside the window (:meth:`outside_window`), in one pass, once."""
        out: dict[str, list[VisitRecord]] = {}
        for v in self.visits:
            if not v.is_baseline and v.in_window is False:
                out.setdefault(v.timepoint, []).append(v)
        return {tp: tuple(vs) for tp, vs in out.items()}

    def window_days(self, timepoint: str) -> tuple[int, int] | None:
        return next(((a, b) for tp, a, b in self.windows_days if tp == timepoint), None)

    @property
    def left_follow_up(self) -> bool:
        return self.followup_status in LEFT_FOLLOW_UP

    @property
    def died(self) -> bool:
        return self.followup_status == DIED

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
        return self._suppressed_tg.get(visit.visit_date)

    def measures_at(self, timepoint: str) -> tuple[float | None, LabValue | None]:
        """(total lesion volume, TSH-suppressed Tg) at the visit of this time point, each None when missing or,
        after the baseline, measured after a new anticancer therapy (what Tables 2 and 3 compare); kept once
        found."""
        found = self._measures.get(timepoint)
        if found is None:
            v, t = self.visit_at(timepoint), self.tg_at(timepoint)
            later = timepoint != BASELINE
            found = self._measures[timepoint] = (
                None if v is None or (later and self.after_new_therapy(v.day)) else v.volume_cm3,
                None if t is None or (later and self.after_new_therapy(t.day)) else t.lab_value())
        return found

    @_once
    def _measures(self) -> dict[str, tuple[float | None, LabValue | None]]:
        return {}

    @_once
    def _suppressed_tg(self) -> dict[date, TgRecord]:
        """Visit date → the first TSH-suppressed Tg recorded at it (:meth:`tg_at`), built once."""
        out: dict[date, TgRecord] = {}
        for t in self.tg:
            if t.visit_date is not None and t.tsh_state != TSH_STIMULATED:
                out.setdefault(t.visit_date, t)
        return out


# --- the columnar cohort -----------------------------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
NO_DAY = -(2**62)  # "no value" in an integer day column (every real day is far from it)
_NEVER = 2**62  # a day after every real day


def _first_per_patient(patient: IntArray, rows: IntArray, n: int) -> IntArray:
    """For each of the ``n`` patients, the first of ``rows`` (child-table row numbers in table order, the table
    sorted by patient) that belongs to it, or -1."""
    out = np.full(n, -1, dtype=np.int64)
    if rows.size:
        owners, first = np.unique(patient[rows], return_index=True)
        out[owners] = rows[first]
    return out


def _ranges(patient: IntArray, n: int) -> list[range]:
    bounds = np.searchsorted(patient, np.arange(n + 1)).tolist()
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass(frozen=True, eq=False)
class VisitColumns:
    """The cohort's visits as columns (one entry per visit, sorted by patient, each patient's visits in the
    order of its record's ``visits``): the :class:`VisitRecord` fields the tables read, ``patient`` the row of its
    patient in :class:`CohortColumns`, ``visit_date`` as a day number (``date.toordinal``) and ``in_window`` 1 /
    0 / -1 (None)."""

    patient: IntArray
    timepoint: list[str]
    visit_date: IntArray
    day: list[int]
    overall: list[str]
    is_baseline: BoolArray
    in_window: npt.NDArray[np.int8]
    volume_cm3: list[float | None]
    sum_mm: list[float | None]
    change_from_baseline_pct: list[float | None]


@dataclass(frozen=True, eq=False)
class TgColumns:
    """The cohort's Tg results as columns (sorted by patient, each patient's in its record's order):
    ``visit_date`` the day number of its visit's date (``NO_DAY`` without a visit), ``suppressed`` True unless
    TSH-stimulated."""

    patient: IntArray
    day: list[int]
    visit_date: IntArray
    suppressed: BoolArray
    qualifier: list[str]
    value_ng_ml: list[float]


@dataclass(frozen=True, eq=False)
class CohortColumns:
    """The cohort as columns: one list or array per :class:`PatientRecord` field the tables read (same names; a
    missing day is None), and the visits and Tg results as child tables with a ``patient`` row index. The
    tables compute on these instead of on the records; :meth:`of_records` is the reference conversion (the
    loader fills them straight from its rows)."""

    study_id: list[str]
    patient_id: list[int]
    sex: list[str]
    histology: list[str]
    age_at_implant: list[int]
    distant_metastasis: list[bool]
    enhancement_at_baseline: list[bool]
    bor_unconfirmed: list[str]
    bor_confirmed: list[str]
    new_therapy_day: list[int | None]
    followup_rule_set: list[str]
    eligibility_status: list[str]
    followup_status: list[str]
    status_day: list[int | None]
    days_since_implant: list[int | None]
    in_window_only: BoolArray
    windows_days: list[tuple[tuple[str, int, int], ...]]
    best_change_pct: list[float | None]
    last_follow_up_day: list[int | None]
    first_pd_day: list[int | None]
    post_d90_gy: list[float | None]
    prescription_gy: list[float | None]
    max_rtog_grade: list[int | None]
    max_ctcae_grade: list[int | None]
    visits: VisitColumns
    tg: TgColumns

    @property
    def n(self) -> int:
        return len(self.study_id)

    @classmethod
    def of_records(cls, patients: Sequence[PatientRecord]) -> CohortColumns:
        """The columns of ``patients`` (each record's visits and Tg results in its own order)."""
        vs = [(i, v) for i, r in enumerate(patients) for v in r.visits]
        ts = [(i, t) for i, r in enumerate(patients) for t in r.tg]
        visits = VisitColumns(
            patient=np.array([i for i, _ in vs], dtype=np.int64), timepoint=[v.timepoint for _, v in vs],
            visit_date=np.array([v.visit_date.toordinal() for _, v in vs], dtype=np.int64),
            day=[v.day for _, v in vs], overall=[v.overall for _, v in vs],
            is_baseline=np.array([v.is_baseline for _, v in vs], dtype=np.bool_),
            in_window=np.array([-1 if v.in_window is None else int(v.in_window) for _, v in vs], dtype=np.int8),
            volume_cm3=[v.volume_cm3 for _, v in vs], sum_mm=[v.sum_mm for _, v in vs],
            change_from_baseline_pct=[v.change_from_baseline_pct for _, v in vs])
        tg = TgColumns(
            patient=np.array([i for i, _ in ts], dtype=np.int64), day=[t.day for _, t in ts],
            visit_date=np.array([NO_DAY if t.visit_date is None else t.visit_date.toordinal() for _, t in ts],
                                dtype=np.int64),
            suppressed=np.array([t.tsh_state != TSH_STIMULATED for _, t in ts], dtype=np.bool_),
            qualifier=[t.qualifier for _, t in ts], value_ng_ml=[t.value_ng_ml for _, t in ts])
        return cls(
            study_id=[r.study_id for r in patients], patient_id=[r.patient_id for r in patients],
            sex=[r.sex for r in patients], histology=[r.histology for r in patients],
            age_at_implant=[r.age_at_implant for r in patients],
            distant_metastasis=[r.distant_metastasis for r in patients],
            enhancement_at_baseline=[r.enhancement_at_baseline for r in patients],
            bor_unconfirmed=[r.bor_unconfirmed for r in patients], bor_confirmed=[r.bor_confirmed for r in patients],
            new_therapy_day=[r.new_therapy_day for r in patients],
            followup_rule_set=[r.followup_rule_set for r in patients],
            eligibility_status=[r.eligibility_status for r in patients],
            followup_status=[r.followup_status for r in patients], status_day=[r.status_day for r in patients],
            days_since_implant=[r.days_since_implant for r in patients],
            in_window_only=np.array([r.in_window_only for r in patients], dtype=np.bool_),
            windows_days=[r.windows_days for r in patients], best_change_pct=[r.best_change_pct for r in patients],
            last_follow_up_day=[r.last_follow_up_day for r in patients],
            first_pd_day=[r.first_pd_day for r in patients], post_d90_gy=[r.post_d90_gy for r in patients],
            prescription_gy=[r.prescription_gy for r in patients],
            max_rtog_grade=[r.max_rtog_grade for r in patients],
            max_ctcae_grade=[r.max_ctcae_grade for r in patients], visits=visits, tg=tg)

    def _memo(self, key: tuple[str, ...], make: Callable[[], T]) -> T:
        memo: dict[tuple[str, ...], object] = self.__dict__.setdefault("_memos", {})
        if key not in memo:
            memo[key] = make()
        return cast(T, memo[key])

    def visit_at(self, timepoint: str) -> list[int]:
        """Per patient, the visit row of :meth:`PatientRecord.visit_at` (the baseline, or the first visit with
        this label, inside its window when ``in_window_only``), or -1."""
        return self._memo(("at", timepoint), lambda: self._at(timepoint).tolist())

    def _at(self, timepoint: str) -> IntArray:
        v = self.visits
        if timepoint == BASELINE:
            mask = v.is_baseline
        else:
            labels, code = self._labels()
            label = code == labels.get(timepoint, -1)
            mask = ~v.is_baseline & label & ((v.in_window == 1) | ~self.in_window_only[v.patient])
        return _first_per_patient(v.patient, np.flatnonzero(mask), self.n)

    def _labels(self) -> tuple[dict[str, int], IntArray]:
        """The visits' time-point labels as codes (label → code, code per visit), made once."""
        def make() -> tuple[dict[str, int], IntArray]:
            labels: dict[str, int] = {}  # in order of first appearance: a dict look-up per visit, no sort
            code = np.fromiter((labels.setdefault(t, len(labels)) for t in self.visits.timepoint), dtype=np.int64,
                               count=len(self.visits.timepoint))
            return labels, code
        return self._memo(("labels",), make)

    def outside_window(self, timepoint: str) -> list[list[int]]:
        """Per patient, the rows of its visits labelled ``timepoint`` but outside its window
        (:meth:`PatientRecord.outside_window`), in visit order."""
        def make() -> list[list[int]]:
            v = self.visits
            out: list[list[int]] = [[] for _ in range(self.n)]
            for row in np.flatnonzero(~v.is_baseline & (v.in_window == 0)).tolist():
                if v.timepoint[row] == timepoint:
                    out[int(v.patient[row])].append(row)
            return out
        return self._memo(("outside", timepoint), make)

    def visit_rows(self) -> list[range]:
        """Per patient, the range of its rows in :attr:`visits` (the table is sorted by patient)."""
        return self._memo(("visit rows",), lambda: _ranges(self.visits.patient, self.n))

    def tg_rows(self) -> list[range]:
        """Per patient, the range of its rows in :attr:`tg`."""
        return self._memo(("tg rows",), lambda: _ranges(self.tg.patient, self.n))

    def followed_up(self) -> list[bool]:
        """Per patient: any visit after the implant other than the baseline (a follow-up assessment)."""
        def make() -> list[bool]:
            v = self.visits
            out = np.zeros(self.n, dtype=np.bool_)
            out[v.patient[~v.is_baseline & (np.array(v.day, dtype=np.int64) > 0)]] = True
            return out.tolist()
        return self._memo(("followed up",), make)

    def _days(self) -> tuple[IntArray, IntArray]:
        """The day columns of the visits and of the Tg results as arrays, made once."""
        return self._memo(("days",), lambda: (np.array(self.visits.day, dtype=np.int64).reshape(-1),
                                              np.array(self.tg.day, dtype=np.int64).reshape(-1)))

    def _therapy_cut(self) -> IntArray:
        """Per patient, the first day of a new therapy (a day after every real day without one): a measure on a
        later day is left out."""
        return self._memo(("therapy cut",), lambda: np.array(
            [_NEVER if d is None else d for d in self.new_therapy_day], dtype=np.int64).reshape(-1))

    def after_new_therapy(self, i: int, day: int) -> bool:
        started = self.new_therapy_day[i]
        return started is not None and day > started

    def window_days(self, i: int, timepoint: str) -> tuple[int, int] | None:
        return next(((a, b) for tp, a, b in self.windows_days[i] if tp == timepoint), None)

    def tg_at(self, timepoint: str) -> list[int]:
        """Per patient, the Tg row of :meth:`PatientRecord.tg_at` (the first TSH-suppressed Tg recorded at the
        visit of this time point), or -1."""
        def make() -> list[int]:
            at = self._at(timepoint)
            t = self.tg
            span = np.int64(1 << 24)  # above every day number (31 Dec 9999 is 3 652 059)
            rows = np.flatnonzero(t.suppressed & (t.visit_date != NO_DAY))
            out = np.full(self.n, -1, dtype=np.int64)
            has = np.flatnonzero(at >= 0)
            if rows.size and has.size:
                keys, first = np.unique(t.patient[rows] * span + t.visit_date[rows], return_index=True)
                wanted = has * span + self.visits.visit_date[at[has]]
                pos = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
                hit = keys[pos] == wanted
                out[has[hit]] = rows[first[pos[hit]]]
            return out.tolist()
        return self._memo(("tg", timepoint), make)

    def measures_at(self, timepoint: str) -> tuple[list[float | None], list[LabValue | None]]:
        """Per patient, :meth:`PatientRecord.measures_at`: (total lesion volume, TSH-suppressed Tg) at the visit
        of this time point, each None when missing or, after the baseline, measured after a new therapy."""
        def make() -> tuple[list[float | None], list[LabValue | None]]:
            v, t = self._at(timepoint), np.array(self.tg_at(timepoint), dtype=np.int64)
            cut = self._therapy_cut() if timepoint != BASELINE else np.full(self.n, _NEVER, dtype=np.int64)
            v_ok, t_ok = v >= 0, t >= 0  # found, and measured on or before the new therapy (after the baseline)
            v_ok[v_ok] = self._days()[0][v[v_ok]] <= cut[v_ok]
            t_ok[t_ok] = self._days()[1][t[t_ok]] <= cut[t_ok]
            volume, qualifier, value = self.visits.volume_cm3, self.tg.qualifier, self.tg.value_ng_ml
            vols = [volume[r] if ok else None for r, ok in zip(v.tolist(), v_ok.tolist(), strict=True)]
            labs: list[LabValue | None] = [
                _lab_value(qualifier=_QUALIFIERS[qualifier[r]], value=value[r], unit="ng/mL") if ok else None
                for r, ok in zip(t.tolist(), t_ok.tolist(), strict=True)]
            return vols, labs
        return self._memo(("measures", timepoint), make)


_lab_value = record_maker(LabValue)  # tens of thousands per cohort; the loaded values need no parsing
_QUALIFIERS = {q.value: q for q in Qualifier}


class LoadedPatients(Sequence[PatientRecord]):
    """The records of a cohort loaded as columns: ``len`` from the columns, the records themselves built by
    ``make`` on first access and kept (the code not ported to columns, and the tests, read them)."""

    def __init__(self, columns: CohortColumns, make: Callable[[], tuple[PatientRecord, ...]]) -> None:
        self.columns = columns
        self._make: Callable[[], tuple[PatientRecord, ...]] | None = make
        self._records: tuple[PatientRecord, ...] | None = None

    @property
    def records(self) -> tuple[PatientRecord, ...]:
        if self._records is None:
            assert self._make is not None
            self._records, self._make = self._make(), None
        return self._records

    def __len__(self) -> int:
        return self.columns.n

    @overload
    def __getitem__(self, index: int) -> PatientRecord: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[PatientRecord, ...]: ...

    def __getitem__(self, index: int | slice) -> PatientRecord | tuple[PatientRecord, ...]:
        return self.records[index]

    def __iter__(self) -> Iterator[PatientRecord]:
        return iter(self.records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LoadedPatients):
            other = other.records
        return self.records == other

    def __hash__(self) -> int:
        return hash(self.records)

    def __reduce__(self) -> tuple[object, ...]:  # pickled as the plain tuple of records
        return (tuple, (self.records,))


class PlanPair(Protocol):
    """What Table 4 reads of one implant with both plans (``dosimetry.selectors.PrePostPair`` has this shape)."""

    prescription_gy: float | None
    pre: Mapping[str, float | None]
    post: Mapping[str, float | None]


@dataclass(frozen=True)
class Cohort:
    """The loaded cohort: filter, mode and rule sets, the patient records, and the index implants with both plans
    (Table 4 is computed from them when asked: ``cohort_tables.table4``)."""

    filter: CohortFilter
    mode: str
    rule_set: str
    patient_rule_set: str
    remission_definition: str
    patients: Sequence[PatientRecord]  # a tuple, or the loader's LoadedPatients (records built on first access)
    plan_pairs: tuple[PlanPair, ...]
    in_window_only: bool = True
    registered: tuple[RegisteredRecord, ...] = ()
    as_of: date | None = None
    lesion_settings: RecistSettings | None = None  # the protocol's RECIST settings in per-lesion mode

    @_once
    def _populations(self) -> dict[tuple[str, ...], Population]:
        return {}

    @_once
    def columns(self) -> CohortColumns:
        """The cohort as columns (what Tables 1–3, the flow and the populations compute on): the loader's own,
        or converted from the records once (a cohort made of records, as in the tests)."""
        p = self.patients
        return p.columns if isinstance(p, LoadedPatients) else CohortColumns.of_records(p)


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
                      tuple(c.columns.study_id))


def _window_rule(c: Cohort) -> str:
    return "inside its protocol window" if c.in_window_only else "whatever its date (protocol cohort.in_window_only "\
        "= false)"


def _kept(c: Cohort, key: tuple[str, ...], make: Callable[[], Population]) -> Population:
    """A population of the cohort, made once (Table 1, the flow, Table 2 and the report's list ask again; the
    cohort is frozen, so it never changes)."""
    found = c._populations.get(key)
    if found is None:
        found = c._populations[key] = make()
    return found


def evaluable(c: Cohort, timepoint: str) -> Population:
    """Evaluable at a time point: a category (NE included) computed from the visit of that time point — inside its
    window when the protocol says so — before any new anticancer therapy."""
    return _kept(c, ("evaluable", timepoint), lambda: _evaluable(c, timepoint))


def _evaluable(c: Cohort, timepoint: str) -> Population:
    k = c.columns
    overall, day = k.visits.overall, k.visits.day
    ids = tuple(sid for i, (sid, v) in enumerate(zip(k.study_id, k.visit_at(timepoint), strict=True))
                if v >= 0 and overall[v] and not k.after_new_therapy(i, day[v]))
    label = TIMEPOINT_LABELS[timepoint]
    return Population(f"evaluable:{timepoint}", f"Evaluable at {label}",
                      f"all implanted with a category (NE included) computed from the {label} visit "
                      f"{_window_rule(c)}, before any new anticancer therapy", ids)


def paired(c: Cohort, timepoint: str, measure: str) -> Population:
    """Paired at a time point: patients with the measure ("volume" or "tg") at baseline and at that time point."""
    return _kept(c, ("paired", timepoint, measure), lambda: _paired_population(c, timepoint, measure))


def _paired_population(c: Cohort, timepoint: str, measure: str) -> Population:
    which = {"volume": 0, "tg": 1}[measure]
    k = c.columns
    base, at = k.measures_at(BASELINE)[which], k.measures_at(timepoint)[which]
    ids = tuple(sid for sid, b, a in zip(k.study_id, base, at, strict=True) if b is not None and a is not None)
    label = TIMEPOINT_LABELS[timepoint]
    what = "total lesion volume" if measure == "volume" else "suppressed Tg"
    return Population(f"paired:{measure}:{timepoint}", f"Paired {what}, baseline and {label}",
                      f"all implanted with the {what} at baseline and at the {label} visit {_window_rule(c)}, "
                      "before any new anticancer therapy", ids)


def _outside_window(c: Cohort) -> tuple[OutsideWindowVisit, ...]:
    k = c.columns
    v = k.visits
    outside = {tp: k.outside_window(tp) for tp, _ in TIMEPOINTS}
    at = {tp: k.visit_at(tp) for tp, _ in TIMEPOINTS}
    out = []
    for i in np.unique(v.patient[~v.is_baseline & (v.in_window == 0)]).tolist():
        for tp, _ in TIMEPOINTS:
            rows = outside[tp][i]
            window = k.window_days(i, tp) if rows else None
            for row in rows:
                if window is None:  # the loader marks a visit outside a window only where the protocol has one
                    raise TypeError(f"{k.study_id[i]} {tp}: a visit is marked outside a window the record lacks")
                counted = not c.in_window_only and at[tp][i] == row
                out.append(OutsideWindowVisit(k.study_id[i], tp, v.day[row], window[0], window[1], counted))
    return tuple(out)


# --- counting helpers (Table 1) -----------------------------------------------------------------------------------


def _bucket(response: str) -> str | None:
    if not response:
        return None
    return "SD" if response == "NON_CR_NON_PD" else response


def _counts(responses: Sequence[str]) -> ResponseCounts:
    buckets = [_bucket(r) for r in responses]
    cr, pr, sd, pd, ne = (buckets.count(cat) for cat in CATEGORIES)
    return ResponseCounts(cr, pr, sd, pd, ne, non_cr_non_pd=sum(1 for r in responses if r == "NON_CR_NON_PD"))


def _rate(name: str, categories: tuple[str, ...], counts: ResponseCounts) -> Rate:
    n = counts.total
    if n == 0:
        return Rate(name, categories, None, "not computable (N = 0)")
    prop = proportion_ci(counts.of(categories), n)
    return Rate(name, categories, prop, prop.format())


def _rates(c: Cohort, counts: ResponseCounts) -> tuple[Rate, Rate]:
    name, cats = REMISSION[c.remission_definition]
    return _rate(name, cats, counts), _rate(ORR[0], ORR[1], counts)


# --- helpers shared by the patient and the lesion tables -----------------------------------------------------------


def _paired(base: Sequence[Observation | None], follow: Sequence[Observation | None],
            force: PairedTest) -> tuple[PairedResult | None, PairedResult | None, str]:
    try:  # the pairs prepared once for both comparisons
        data = PairedData(base, follow)
        auto = PairedResult.of(data.compare())
    except StatsInputError as exc:
        return None, None, f"no comparison: {exc}"
    try:
        forced = PairedResult.of(data.compare(PairedSettings(force_test=force)))
    except StatsInputError as exc:
        return None, auto, f"{force.value} not computable: {exc}"
    return forced, auto, ""


def _quantity(x: CensoredNumber) -> Quantity:
    return Quantity(x.qualifier.value, float(x.value))


def _mean_sd_text(values: Sequence[float]) -> tuple[float | None, float | None, str]:
    if len(values) < 2:
        return None, None, f"n = {len(values)}: mean ± SD needs at least 2 values"
    mean, sd = mean_sd(values)
    return mean, sd, f"{mean:.2f} ± {sd:.2f}"


def _volume(r: PatientRecord, tp: str) -> float | None:
    return r.measures_at(tp)[0]


def _tg(r: PatientRecord, tp: str) -> LabValue | None:
    return r.measures_at(tp)[1]


# --- 2×2 helpers (Table 3) ---------------------------------------------------------------------------------------


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


def _median_split(name: str, everyone: Sequence[LabValue | float | None], included: Sequence[LabValue | float | None],
                  effective: Sequence[bool], *, level: Callable[[float], str], note: Callable[[MedianIqr], str],
                  missing_note: str) -> FactorRow:
    """A Table 3 factor cut at the median of ``everyone`` (all units with a value, evaluable or not): level A is
    at or below the median, level B above; ``included`` are the evaluable units' values, in ``effective``'s
    order. ``level(cut)`` writes the cut with its unit, ``note(median)`` says how it was found."""
    known = [v for v in everyone if v is not None]
    if not known:
        return _factor(name, "≤ median", "> median", [None] * len(included), effective, missing_note)
    mi = median_iqr(known)
    cut = mi.median.value
    above = _cut_groups(included, cut)
    return _factor(name, f"≤ {level(cut)}", f"> {level(cut)}", [None if a is None else not a for a in above],
                   effective, note(mi))


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
    (eff_a, ineff_a), (eff_b, ineff_b) = table
    n = sum(map(sum, table))
    try:
        res = compare_2x2(table)
    except StatsInputError as exc:
        return FactorRow(name, level_a, level_b, eff_a, ineff_a, eff_b, ineff_b, n, unknown, None, None, None,
                         "not computable", str(exc), cut)
    if res.test is TableTest.FISHER:
        text = f"Fisher exact {_fmt_p(res.p_value)}"
    else:
        chi = "Yates χ²" if res.test is TableTest.YATES else "χ²"
        text = f"{chi} = {res.statistic:.3f}, {_fmt_p(res.p_value)}"
    return FactorRow(name, level_a, level_b, eff_a, ineff_a, eff_b, ineff_b, n, unknown, res.test.value,
                     res.statistic, res.p_value, text, res.reason, cut)

"""Follow-up visit schedule after CT-guided ¹²⁵I seed implantation (implant date = day 0).

Pure core (no Django). ONE function, :func:`visit_schedule`, gives every protocol visit its status; every page
and report uses it, so a visit is never "overdue" on one page and "missed" on another.

Protocol time points
    * ``baseline`` imaging: window [implant − ``baseline_max_days_before`` (28), implant]; its target date
      is the implant date.
    * ``m2``, ``m6``, ``m12``: target = implant + 2 / 6 / 12 calendar months, each computed from the implant
      (not chained) with ``dateutil.relativedelta``, which clamps the day to the month's end
      (2024-12-31 + 2 months = 2025-02-28; 2024-02-29 + 12 months = 2025-02-28).
      Window = target ± ``windows_days`` (m2 ±14, m6 ±30, m12 ±30), both ends inclusive.
    * ``unscheduled`` visits are allowed and never count as a protocol visit.

Status of a protocol visit (decided with ``today``; :class:`VisitStatus`)
    * ``done``: a recorded visit carries that time point (the latest one if several). ``in_window`` tells
      whether its date lies in the window; a done visit outside its window is still done, only flagged.
      ``done`` wins over every other rule, ``follow_up_end`` included (a visit that took place is a fact).
    * ``not_required``: ``follow_up_end`` (death, withdrawal or new anticancer therapy) is given and the
      window opens after it (``window_start > follow_up_end``).
    * ``missed`` because the follow-up ended: ``follow_up_end`` is given, the window opened on or before it,
      the visit was not done and ``today > follow_up_end``: it can no longer take place (the end date itself
      still counts as follow-up). Without this rule a patient who died during a window would show "overdue".
    * ``upcoming``: today < window_start; ``due``: window_start ≤ today ≤ window_end.
    * ``overdue``: window_end < today ≤ window_end + ``missed_after_days`` (30) and no later protocol visit
      is done.
    * ``missed``: otherwise (past the grace period, or a later protocol visit is done).
    * Baseline: done if recorded; otherwise missed once today > implant (it can no longer be taken before
      the treatment), else due (today in its window) or upcoming.

``days_overdue`` = today − window_end when the status is overdue or missed (0 when that is not positive,
e.g. a visit missed because the follow-up ended while its window was still open); 0 for other statuses.

Entry check (:func:`visit_window_warnings`): a visit recorded under a protocol time point whose date lies
outside that time point's window gives a warning naming the study days ("6 months visit on day 120: the window
is day 151 to day 211 (6 months ± 30 days)"); the service shows it before saving and only a physician may save past it
with a reason. Unscheduled visits never warn.

A visit dated before the implant is refused unless it is a baseline visit. A recorded visit dated after
``today`` is not refused here (the visit form checks dates; a page must not fail on a clock difference).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

import numpy as np
from dateutil.relativedelta import relativedelta

from common.errors import InputError

__all__ = [
    "BASELINE",
    "FOLLOW_UP_TIMEPOINTS",
    "PROTOCOL_MONTHS",
    "PROTOCOL_TIMEPOINTS",
    "TIMEPOINT_LABELS",
    "UNSCHEDULED",
    "RecordedVisit",
    "ScheduleInputError",
    "ScheduleSettings",
    "ScheduledVisit",
    "VisitStatus",
    "end_of_follow_up_warnings",
    "suggest_timepoint",
    "timepoint_window",
    "timepoint_windows",
    "window_offsets",
    "urgency_key",
    "visit_schedule",
    "visit_window_warnings",
]

BASELINE = "baseline"
UNSCHEDULED = "unscheduled"
PROTOCOL_MONTHS: Mapping[str, int] = MappingProxyType({"m2": 2, "m6": 6, "m12": 12})
FOLLOW_UP_TIMEPOINTS: tuple[str, ...] = tuple(PROTOCOL_MONTHS)
PROTOCOL_TIMEPOINTS: tuple[str, ...] = (BASELINE, *FOLLOW_UP_TIMEPOINTS)
TIMEPOINT_LABELS: Mapping[str, str] = MappingProxyType(
    {BASELINE: "Baseline", "m2": "2 months", "m6": "6 months", "m12": "12 months", UNSCHEDULED: "Unscheduled"}
)
_ALL_TIMEPOINTS = (*PROTOCOL_TIMEPOINTS, UNSCHEDULED)

# Shortest distance in days between consecutive targets over every implant date (month lengths vary):
# implant→m2 59 (2023-01-01 → 2023-03-01), m2→m6 120, m6→m12 181; checked by brute force in the tests.
# Settings whose windows could overlap for some implant date are refused.
_MIN_GAP_DAYS = {("implant", "m2"): 59, ("m2", "m6"): 120, ("m6", "m12"): 181}

_DEFAULT_WINDOWS_DAYS = MappingProxyType({"m2": 14, "m6": 30, "m12": 30})


class ScheduleInputError(InputError):
    """Bad schedule input; the one-line message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str, message: str | None = None) -> None:
        super().__init__(message or f"{field_name}: got {value!r}; allowed: {allowed}", field=field_name, value=value,
                         allowed=allowed)


class VisitStatus(StrEnum):
    """Status of one protocol visit on a given day (see the module docstring for the rules)."""

    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    MISSED = "missed"
    DONE = "done"
    NOT_REQUIRED = "not_required"


def _check_date(field_name: str, value: object) -> date:
    # datetime is a subclass of date, but comparing one with a date raises TypeError: refuse it here.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ScheduleInputError(field_name, value, "a datetime.date (not a datetime)")
    return value


def _check_days(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScheduleInputError(field_name, value, "an integer >= 0 (days)")
    return value


@dataclass(frozen=True)
class ScheduleSettings:
    """Protocol windows, in days.

    ``baseline_max_days_before``: the baseline window opens this many days before the implant (28).
    ``windows_days``: half-width of the m2 / m6 / m12 windows around their targets (14 / 30 / 30); keys
    left out keep their default, unknown keys are refused. Stored read-only.
    ``missed_after_days``: grace after a window closes during which a visit not done is "overdue"; after
    it the visit is "missed" (30).

    All values are integers >= 0. Windows that could overlap (the m2 window reaching the implant day, or two
    follow-up windows touching for some implant date) are refused.
    """

    baseline_max_days_before: int = 28
    windows_days: Mapping[str, int] = field(default_factory=lambda: dict(_DEFAULT_WINDOWS_DAYS))
    missed_after_days: int = 30

    def __post_init__(self) -> None:
        _check_days("baseline_max_days_before", self.baseline_max_days_before)
        _check_days("missed_after_days", self.missed_after_days)
        if not isinstance(self.windows_days, Mapping):
            raise ScheduleInputError(
                "windows_days", self.windows_days, "a mapping of time point (m2, m6, m12) to days"
            )
        merged = dict(_DEFAULT_WINDOWS_DAYS)
        for key, days in self.windows_days.items():
            if key not in PROTOCOL_MONTHS:
                raise ScheduleInputError(
                    "windows_days", key, f"time points {', '.join(FOLLOW_UP_TIMEPOINTS)}"
                )
            merged[key] = _check_days(f"windows_days[{key!r}]", days)
        object.__setattr__(self, "windows_days", MappingProxyType(merged))
        _check_no_overlap(merged, {tp: f"windows_days[{tp!r}]" for tp in FOLLOW_UP_TIMEPOINTS})

    def __hash__(self) -> int:
        return hash((self.baseline_max_days_before, tuple(self.windows_days.items()), self.missed_after_days))

    def __reduce__(self) -> tuple[type[ScheduleSettings], tuple[int, dict[str, int], int]]:
        # a mappingproxy cannot be pickled or deep-copied: rebuild from a plain dict
        return type(self), (self.baseline_max_days_before, dict(self.windows_days), self.missed_after_days)

    @classmethod
    def from_protocol(cls, protocol: Mapping[str, object]) -> ScheduleSettings:
        """Build from the plain settings dict: keys ``baseline_max_days_before``, ``m2_window_days``,
        ``m6_window_days``, ``m12_window_days``, ``missed_after_days``. Missing keys keep their default;
        unknown keys are refused (a misspelt key must not silently fall back to the default)."""
        if not isinstance(protocol, Mapping):
            raise ScheduleInputError("protocol", protocol, "a dict of schedule settings")
        allowed = ("baseline_max_days_before", *(f"{tp}_window_days" for tp in FOLLOW_UP_TIMEPOINTS),
                   "missed_after_days")
        for key in protocol:
            if key not in allowed:
                raise ScheduleInputError("protocol", key, f"keys {', '.join(allowed)}")
        values = {key: _check_days(key, protocol[key]) for key in allowed if key in protocol}
        names = {tp: f"{tp}_window_days" for tp in FOLLOW_UP_TIMEPOINTS}
        windows = {tp: values.pop(key) for tp, key in names.items() if key in values}
        _check_no_overlap({**_DEFAULT_WINDOWS_DAYS, **windows}, names)
        return cls(windows_days=windows, **values)


def _check_no_overlap(windows: Mapping[str, int], names: Mapping[str, str]) -> None:
    w2 = windows["m2"]
    gap = _MIN_GAP_DAYS[("implant", "m2")]
    if w2 >= gap:
        raise ScheduleInputError(
            names["m2"], w2, f"at most {gap - 1} days so the 2 months window opens after the implant day"
        )
    for a, b in (("m2", "m6"), ("m6", "m12")):
        gap = _MIN_GAP_DAYS[(a, b)]
        total = windows[a] + windows[b]
        if total >= gap:
            name = f"{names[a]} + {names[b]}"
            allowed = (
                f"a sum of at most {gap - 1} days so the {TIMEPOINT_LABELS[a]} and {TIMEPOINT_LABELS[b]} "
                "windows cannot overlap"
            )
            raise ScheduleInputError(
                name, total, allowed, f"{name}: got {windows[a]} + {windows[b]} = {total}; allowed: {allowed}"
            )


@dataclass(frozen=True)
class RecordedVisit:
    """A visit as recorded: its date and time point (baseline, m2, m6, m12 or unscheduled)."""

    visit_date: date
    timepoint: str

    def __post_init__(self) -> None:
        _check_date("visit_date", self.visit_date)
        if not isinstance(self.timepoint, str) or self.timepoint not in _ALL_TIMEPOINTS:
            raise ScheduleInputError("timepoint", self.timepoint, ", ".join(_ALL_TIMEPOINTS))
        object.__setattr__(self, "timepoint", str(self.timepoint))  # a StrEnum member becomes its plain value


@dataclass(frozen=True)
class ScheduledVisit:
    """One protocol visit with its window and status on ``today``.

    ``visit_date`` is the recorded visit used (the latest with that time point) or None; ``in_window`` is
    set for done visits only; ``days_overdue`` is > 0 only for overdue or missed visits; ``reason`` is one
    line.
    """

    timepoint: str
    label: str
    target_date: date
    window_start: date
    window_end: date
    status: VisitStatus
    visit_date: date | None
    in_window: bool | None
    days_overdue: int
    reason: str


@dataclass(frozen=True)
class _Window:
    timepoint: str
    target: date
    start: date
    end: date


def _windows(implant_date: date, cfg: ScheduleSettings) -> tuple[_Window, ...]:
    baseline_start = implant_date - timedelta(days=cfg.baseline_max_days_before)
    out = [_Window(BASELINE, implant_date, baseline_start, implant_date)]
    for tp, months in PROTOCOL_MONTHS.items():
        target = implant_date + relativedelta(months=months)
        half = timedelta(days=cfg.windows_days[tp])
        out.append(_Window(tp, target, target - half, target + half))
    return tuple(out)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def visit_schedule(
    implant_date: date,
    visits: Iterable[RecordedVisit],
    today: date,
    settings: ScheduleSettings | None = None,
    *,
    follow_up_end: date | None = None,
) -> tuple[ScheduledVisit, ...]:
    """Status of every protocol visit (baseline, m2, m6, m12, in that order) on ``today``.

    ``visits``: the recorded visits of one implant (unscheduled ones are ignored). ``follow_up_end``: date
    the follow-up ended (death, withdrawal or new anticancer therapy), on or after the implant; visits whose
    window opens after it are ``not_required``, visits not done whose window opened on or before it are
    ``missed`` once ``today`` is past it. Raises :class:`ScheduleInputError` for bad input.
    """
    cfg = ScheduleSettings() if settings is None else settings
    if not isinstance(cfg, ScheduleSettings):
        raise ScheduleInputError("settings", cfg, "a ScheduleSettings")
    _check_date("implant_date", implant_date)
    _check_date("today", today)
    if follow_up_end is not None:
        _check_date("follow_up_end", follow_up_end)
        if follow_up_end < implant_date:
            raise ScheduleInputError(
                "follow_up_end", follow_up_end.isoformat(), f"a date on or after the implant ({implant_date})"
            )
    if isinstance(visits, (str, bytes)) or not isinstance(visits, Iterable):
        raise ScheduleInputError("visits", visits, "a sequence of RecordedVisit")

    latest: dict[str, RecordedVisit] = {}
    counts: dict[str, int] = {}
    for i, v in enumerate(visits):
        if not isinstance(v, RecordedVisit):
            raise ScheduleInputError(f"visits[{i}]", v, "a RecordedVisit")
        if v.visit_date < implant_date and v.timepoint != BASELINE:
            raise ScheduleInputError(
                f"visits[{i}].visit_date",
                v.visit_date.isoformat(),
                "'baseline' only",
                f"visits[{i}].visit_date: {v.visit_date} is before the implant {implant_date} "
                f"(allowed for 'baseline' only)",
            )
        if v.timepoint == UNSCHEDULED:
            continue
        counts[v.timepoint] = counts.get(v.timepoint, 0) + 1
        if v.timepoint not in latest or v.visit_date > latest[v.timepoint].visit_date:
            latest[v.timepoint] = v

    windows = _windows(implant_date, cfg)
    out: list[ScheduledVisit] = []
    for idx, w in enumerate(windows):
        label = TIMEPOINT_LABELS[w.timepoint]
        done = latest.get(w.timepoint)
        later_done = next((latest[x.timepoint] for x in windows[idx + 1:] if x.timepoint in latest), None)
        # m6 / m12: the follow-up visit before this one was not done either (lost to follow-up pattern)
        previous_missing = idx >= 2 and windows[idx - 1].timepoint not in latest
        n_recorded = counts.get(w.timepoint, 0)
        status, reason = _status(
            w, label, done, n_recorded, later_done, previous_missing, today, follow_up_end, cfg
        )
        days_over = max(0, (today - w.end).days) if status in (VisitStatus.OVERDUE, VisitStatus.MISSED) else 0
        in_window = (w.start <= done.visit_date <= w.end) if done is not None else None
        out.append(
            ScheduledVisit(
                timepoint=w.timepoint,
                label=label,
                target_date=w.target,
                window_start=w.start,
                window_end=w.end,
                status=status,
                visit_date=done.visit_date if done is not None else None,
                in_window=in_window,
                days_overdue=days_over,
                reason=reason,
            )
        )
    return tuple(out)


def _status(
    w: _Window,
    label: str,
    done: RecordedVisit | None,
    n_recorded: int,
    later_done: RecordedVisit | None,
    previous_missing: bool,
    today: date,
    follow_up_end: date | None,
    cfg: ScheduleSettings,
) -> tuple[VisitStatus, str]:
    window = f"window {w.start} to {w.end}"
    if done is not None:
        d = done.visit_date
        if d < w.start:
            where = f", {_days((w.start - d).days)} before the {window}"
        elif d > w.end:
            where = f", {_days((d - w.end).days)} after the {window}"
        else:
            where = f" (in {window})"
        several = f"; {n_recorded} visits recorded, latest used" if n_recorded > 1 else ""
        return VisitStatus.DONE, f"{label} done {d}{where}{several}"

    if w.timepoint == BASELINE:
        if today > w.end:
            reason = f"{label} missed: none recorded in the {window} (closed on the implant day)"
            return VisitStatus.MISSED, reason
        if today >= w.start:
            return VisitStatus.DUE, f"{label} due: {window} (closes on the implant day)"
        return (
            VisitStatus.UPCOMING,
            f"{label} upcoming: window opens {w.start} (in {_days((w.start - today).days)}), implant {w.end}",
        )

    if follow_up_end is not None:
        if w.start > follow_up_end:
            return (
                VisitStatus.NOT_REQUIRED,
                f"{label} not required: follow-up ended {follow_up_end}, before the window opens {w.start}",
            )
        if today > follow_up_end:
            return VisitStatus.MISSED, f"{label} missed: follow-up ended {follow_up_end} ({window}), not done"

    if today < w.start:
        opens_in = _days((w.start - today).days)
        reason = f"{label} upcoming: window opens {w.start} (in {opens_in}), target {w.target}"
        return VisitStatus.UPCOMING, reason
    if today <= w.end:
        return VisitStatus.DUE, f"{label} due: {window}, target {w.target}"

    late = (today - w.end).days
    if later_done is None and late <= cfg.missed_after_days:
        return VisitStatus.OVERDUE, f"{label} overdue by {_days(late)} (window closed {w.end})"
    reason = f"{label} missed: window closed {w.end}"
    if later_done is not None:
        reason += f", {TIMEPOINT_LABELS[later_done.timepoint]} visit done {later_done.visit_date}"
    if previous_missing:
        idx = FOLLOW_UP_TIMEPOINTS.index(w.timepoint)
        reason += f", {TIMEPOINT_LABELS[FOLLOW_UP_TIMEPOINTS[idx - 1]]} visit not done either"
    return VisitStatus.MISSED, reason


def timepoint_window(implant_date: date, timepoint: str, settings: ScheduleSettings | None = None) -> tuple[date, date]:
    """The window (first day, last day, both inclusive) of one protocol time point of this implant — the same
    windows :func:`visit_schedule` uses (baseline: implant − ``baseline_max_days_before`` to the implant day)."""
    window = timepoint_windows(implant_date, settings).get(timepoint)
    if window is None:
        raise ScheduleInputError("timepoint", timepoint, ", ".join(PROTOCOL_TIMEPOINTS))
    return window


def timepoint_windows(implant_date: date, settings: ScheduleSettings | None = None) -> dict[str, tuple[date, date]]:
    """Every protocol time point's window of this implant (baseline, m2, m6, m12 → first day, last day), computed
    once (:func:`timepoint_window` gives one of them)."""
    cfg = ScheduleSettings() if settings is None else settings
    if not isinstance(cfg, ScheduleSettings):
        raise ScheduleInputError("settings", cfg, "a ScheduleSettings")
    _check_date("implant_date", implant_date)
    return {w.timepoint: (w.start, w.end) for w in _windows(implant_date, cfg)}


_ORDINAL_OF_1970 = date(1970, 1, 1).toordinal()


def window_offsets(implant_days: np.ndarray, settings: ScheduleSettings | None = None
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`timepoint_windows` of many implants at once, in days from the implant: ``implant_days`` are day
    numbers (``date.toordinal()``); returns time point → (first day, last day) arrays aligned with them.

    The same calendar rule as :func:`timepoint_windows`: the target of a follow-up time point is the implant
    date plus its months, on the same day of the month, or the month's last day where that day does not
    exist (31 January + 1 month = 28 or 29 February), as ``relativedelta`` adds months."""
    cfg = ScheduleSettings() if settings is None else settings
    if not isinstance(cfg, ScheduleSettings):
        raise ScheduleInputError("settings", cfg, "a ScheduleSettings")
    days = np.asarray(implant_days, dtype=np.int64)
    d64 = (days - _ORDINAL_OF_1970).astype("datetime64[D]")
    month = d64.astype("datetime64[M]")
    day_of_month = (d64 - month.astype("datetime64[D]")).astype(np.int64)  # 0-based
    out = {BASELINE: (np.full(days.shape, -cfg.baseline_max_days_before, dtype=np.int64),
                      np.zeros(days.shape, dtype=np.int64))}
    for tp, months in PROTOCOL_MONTHS.items():
        first = (month + months).astype("datetime64[D]")
        length = ((month + months + 1).astype("datetime64[D]") - first).astype(np.int64)
        target = (first + np.minimum(day_of_month, length - 1) - d64).astype(np.int64)
        half = cfg.windows_days[tp]
        out[tp] = (target - half, target + half)
    return out


def suggest_timepoint(implant_date: date, visit_date: date, settings: ScheduleSettings | None = None) -> str:
    """Time point to prefill the visit form with.

    * on or before the implant: ``baseline`` if within the baseline window, or within twice its length
      (``2 × baseline_max_days_before`` days before the implant); else ``unscheduled``;
    * after the implant: the follow-up time point whose window contains the date; else the time point of the
      nearest target if the date is within twice its window (``|date − target| ≤ 2 × window_days``); else
      ``unscheduled``. Baseline is never suggested after the implant day.
    """
    cfg = ScheduleSettings() if settings is None else settings
    if not isinstance(cfg, ScheduleSettings):
        raise ScheduleInputError("settings", cfg, "a ScheduleSettings")
    _check_date("implant_date", implant_date)
    _check_date("visit_date", visit_date)
    if visit_date <= implant_date:
        before = (implant_date - visit_date).days
        return BASELINE if before <= 2 * cfg.baseline_max_days_before else UNSCHEDULED
    follow_up = [w for w in _windows(implant_date, cfg) if w.timepoint != BASELINE]
    for w in follow_up:  # windows never overlap (settings guarantee it)
        if w.start <= visit_date <= w.end:
            return w.timepoint
    nearest = min(follow_up, key=lambda w: abs((visit_date - w.target).days))  # first (earlier) on ties
    if abs((visit_date - nearest.target).days) <= 2 * cfg.windows_days[nearest.timepoint]:
        return nearest.timepoint
    return UNSCHEDULED


_URGENCY_RANK = {
    VisitStatus.OVERDUE: 0,
    VisitStatus.DUE: 1,
    VisitStatus.UPCOMING: 2,
    VisitStatus.MISSED: 3,
    VisitStatus.DONE: 4,
    VisitStatus.NOT_REQUIRED: 5,
}


def urgency_key(sv: ScheduledVisit) -> tuple[int, int, int]:
    """Sort key for a worklist, most urgent first.

    Overdue (most days overdue first), then due (window closing soonest first), then upcoming (window opening
    soonest first), then missed (most recently missed first: fewest days since the window closed), then done,
    then not required (both by target date). Ties keep protocol order (baseline, m2, m6, m12).
    """
    if not isinstance(sv, ScheduledVisit):
        raise ScheduleInputError("sv", sv, "a ScheduledVisit")
    if sv.timepoint not in PROTOCOL_TIMEPOINTS:
        raise ScheduleInputError("sv.timepoint", sv.timepoint, ", ".join(PROTOCOL_TIMEPOINTS))
    order = PROTOCOL_TIMEPOINTS.index(sv.timepoint)
    status = VisitStatus(sv.status)
    if status is VisitStatus.OVERDUE:
        primary = -sv.days_overdue
    elif status is VisitStatus.DUE:
        primary = sv.window_end.toordinal()
    elif status is VisitStatus.UPCOMING:
        primary = sv.window_start.toordinal()
    elif status is VisitStatus.MISSED:
        primary = sv.days_overdue
    else:
        primary = sv.target_date.toordinal()
    return (_URGENCY_RANK[status], primary, order)


def end_of_follow_up_warnings(
    implant_date: date,
    visits: Iterable[RecordedVisit],
    status: str,
    status_date: date | None,
    today: date,
    settings: ScheduleSettings | None = None,
) -> list[dict[str, str]]:
    """Warnings (``{"code", "message"}``) for a follow-up status a physician should confirm:

    * ``completed_without_m12``: "completed" while no 12-month visit is recorded (the protocol's last visit);
    * ``lost_recent_contact``: "lost" with the last contact fewer than ``missed_after_days`` days before today (a
      visit is only called missed after that grace: the patient may still come).
    Other statuses give none. Dates are checked (datetime refused)."""
    cfg = ScheduleSettings() if settings is None else settings
    _check_date("implant_date", implant_date)
    _check_date("today", today)
    if status_date is not None:
        _check_date("status_date", status_date)
    out: list[dict[str, str]] = []
    if status == "completed" and not any(v.timepoint == "m12" for v in visits):
        start, end = timepoint_window(implant_date, "m12", cfg)
        when = f" on {status_date} (day {(status_date - implant_date).days})" if status_date else ""
        out.append({"code": "completed_without_m12",
                    "message": f"Follow-up marked completed{when} but no 12-month visit is recorded (window {start} "
                               f"to {end})."})
    if status == "lost" and status_date is not None and (today - status_date).days < cfg.missed_after_days:
        days = (today - status_date).days
        out.append({"code": "lost_recent_contact",
                    "message": f"Lost to follow-up with the last contact {status_date}, only {_days(days)} ago "
                               f"(a visit counts as missed only {cfg.missed_after_days} days after its window)."})
    return out


WINDOW_WARNING_CODE = "visit_out_of_window"


def _window_text(timepoint: str, cfg: ScheduleSettings) -> str:
    if timepoint == BASELINE:
        return f"at most {_days(cfg.baseline_max_days_before)} before the implant"
    return f"{TIMEPOINT_LABELS[timepoint]} ± {_days(cfg.windows_days[timepoint])}"


def visit_window_warnings(
    implant_date: date, visit_date: date, timepoint: str, settings: ScheduleSettings | None = None
) -> list[dict[str, str]]:
    """Warnings for a visit about to be recorded: its date against the chosen time point's window.

    Returns ``[]`` when the date lies in the window (both ends inclusive) or the time point is ``unscheduled``;
    otherwise one ``{"code": "visit_out_of_window", "message": ...}`` whose message names the time point, the
    study day of the visit (implant = day 0) and the window in study days with its definition, e.g.
    "6 months visit on day 120: the window is day 151 to day 211 (6 months ± 30 days); 31 days before the window
    opens. Choose the right time point or 'Unscheduled', or have a physician confirm." Raises :class:`ScheduleInputError` for bad input.
    """
    cfg = ScheduleSettings() if settings is None else settings
    if not isinstance(cfg, ScheduleSettings):
        raise ScheduleInputError("settings", cfg, "a ScheduleSettings")
    _check_date("implant_date", implant_date)
    _check_date("visit_date", visit_date)
    if not isinstance(timepoint, str) or timepoint not in _ALL_TIMEPOINTS:
        raise ScheduleInputError("timepoint", timepoint, ", ".join(_ALL_TIMEPOINTS))
    timepoint = str(timepoint)
    if timepoint == UNSCHEDULED:
        return []
    w = next(x for x in _windows(implant_date, cfg) if x.timepoint == timepoint)
    if w.start <= visit_date <= w.end:
        return []
    day = (visit_date - implant_date).days
    first, last = (w.start - implant_date).days, (w.end - implant_date).days
    side = "before the window opens" if visit_date < w.start else "after the window closed"
    gap = (w.start - visit_date).days if visit_date < w.start else (visit_date - w.end).days
    label = TIMEPOINT_LABELS[timepoint]
    message = (
        f"{label} visit on day {day}: the window is day {first} to day {last} ({_window_text(timepoint, cfg)}); "
        f"{_days(gap)} {side}. Choose the right time point or 'Unscheduled', or have a physician confirm."
    )
    return [{"code": WINDOW_WARNING_CODE, "message": message}]

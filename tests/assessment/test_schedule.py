"""Tests for assessment/schedule.py: protocol windows, visit status on a day, suggestions, worklist order."""

from __future__ import annotations

import copy
import pickle
import random
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assessment.schedule import (
    PROTOCOL_TIMEPOINTS,
    RecordedVisit,
    ScheduledVisit,
    ScheduleInputError,
    ScheduleSettings,
    VisitStatus,
    suggest_timepoint,
    timepoint_windows,
    urgency_key,
    visit_schedule,
    window_offsets,
)

# Implant 2025-01-10: m2 target 2025-03-10 (window 02-24..03-24), m6 2025-07-10 (06-10..08-09),
# m12 2026-01-10 (2025-12-11..2026-02-09); baseline window 2024-12-13..2025-01-10.
IMPLANT = date(2025, 1, 10)
D = timedelta(days=1)


def _by_tp(schedule: tuple[ScheduledVisit, ...]) -> dict[str, ScheduledVisit]:
    return {sv.timepoint: sv for sv in schedule}


def _one(
    timepoint: str, today: date, visits: list[RecordedVisit] | None = None, **kw: object
) -> ScheduledVisit:
    return _by_tp(visit_schedule(IMPLANT, visits or [], today, **kw))[timepoint]  # type: ignore[arg-type]


BASELINE_DONE = RecordedVisit(date(2025, 1, 3), "baseline")
M2_DONE = RecordedVisit(date(2025, 3, 12), "m2")


# --- windows and targets ------------------------------------------------------------------------------------


def test_protocol_windows_and_labels_in_order() -> None:
    out = visit_schedule(IMPLANT, [], IMPLANT)
    assert [(sv.timepoint, sv.label) for sv in out] == [
        ("baseline", "Baseline"), ("m2", "2 months"), ("m6", "6 months"), ("m12", "12 months"),
    ]
    assert [(sv.window_start, sv.target_date, sv.window_end) for sv in out] == [
        (date(2024, 12, 13), date(2025, 1, 10), date(2025, 1, 10)),
        (date(2025, 2, 24), date(2025, 3, 10), date(2025, 3, 24)),
        (date(2025, 6, 10), date(2025, 7, 10), date(2025, 8, 9)),
        (date(2025, 12, 11), date(2026, 1, 10), date(2026, 2, 9)),
    ]


def test_month_end_clamping_each_target_from_the_implant_not_chained() -> None:
    out = _by_tp(visit_schedule(date(2024, 12, 31), [], date(2024, 12, 31)))
    assert out["m2"].target_date == date(2025, 2, 28)
    assert out["m6"].target_date == date(2025, 6, 30)  # chaining from 2025-02-28 would give 06-28
    assert out["m12"].target_date == date(2025, 12, 31)
    assert out["m2"].window_start == date(2025, 2, 14)
    assert out["m2"].window_end == date(2025, 3, 14)
    # into a leap February
    leap = _by_tp(visit_schedule(date(2023, 12, 31), [], date(2024, 1, 1)))
    assert leap["m2"].target_date == date(2024, 2, 29)


def test_leap_day_implant() -> None:
    out = _by_tp(visit_schedule(date(2024, 2, 29), [], date(2024, 3, 1)))
    assert out["m2"].target_date == date(2024, 4, 29)
    assert out["m6"].target_date == date(2024, 8, 29)
    assert out["m12"].target_date == date(2025, 2, 28)
    assert out["m12"].window_start == date(2025, 1, 29)
    assert out["m12"].window_end == date(2025, 3, 30)


def test_windows_follow_settings() -> None:
    cfg = ScheduleSettings(baseline_max_days_before=14, windows_days={"m6": 21})
    out = _by_tp(visit_schedule(IMPLANT, [], IMPLANT, cfg))
    assert out["baseline"].window_start == date(2024, 12, 27)
    assert out["m2"].window_start == date(2025, 2, 24)  # default kept for keys left out
    assert (out["m6"].window_start, out["m6"].window_end) == (date(2025, 6, 19), date(2025, 7, 31))


# --- status boundaries (6-month visit: window 2025-06-10..2025-08-09) ---------------------------------------


@pytest.mark.parametrize(
    ("today", "status", "days_overdue"),
    [
        (date(2025, 6, 9), VisitStatus.UPCOMING, 0),  # day before window_start
        (date(2025, 6, 10), VisitStatus.DUE, 0),  # window_start inclusive
        (date(2025, 8, 9), VisitStatus.DUE, 0),  # window_end inclusive
        (date(2025, 8, 10), VisitStatus.OVERDUE, 1),  # window_end + 1
        (date(2025, 9, 8), VisitStatus.OVERDUE, 30),  # window_end + 30: last overdue day
        (date(2025, 9, 9), VisitStatus.MISSED, 31),  # window_end + 31
    ],
)
def test_status_boundaries(today: date, status: VisitStatus, days_overdue: int) -> None:
    sv = _one("m6", today, [BASELINE_DONE, M2_DONE])
    assert sv.status is status
    assert sv.days_overdue == days_overdue
    assert sv.visit_date is None and sv.in_window is None


def test_grace_period_is_a_setting() -> None:
    cfg = ScheduleSettings(missed_after_days=0)
    assert _one("m6", date(2025, 8, 10), [M2_DONE], settings=cfg).status is VisitStatus.MISSED
    cfg = ScheduleSettings(missed_after_days=45)
    assert _one("m6", date(2025, 9, 23), [M2_DONE], settings=cfg).status is VisitStatus.OVERDUE  # end + 45
    assert _one("m6", date(2025, 9, 24), [M2_DONE], settings=cfg).status is VisitStatus.MISSED


def test_reasons_due_overdue_upcoming() -> None:
    assert _one("m6", date(2025, 7, 1)).reason == (
        "6 months due: window 2025-06-10 to 2025-08-09, target 2025-07-10"
    )
    assert _one("m2", date(2025, 3, 29)).reason == "2 months overdue by 5 days (window closed 2025-03-24)"
    assert _one("m2", date(2025, 3, 25)).reason == "2 months overdue by 1 day (window closed 2025-03-24)"
    assert _one("m6", date(2025, 6, 9)).reason == (
        "6 months upcoming: window opens 2025-06-10 (in 1 day), target 2025-07-10"
    )


def test_missed_reason_names_the_previous_follow_up_visit_not_done() -> None:
    out = _by_tp(visit_schedule(IMPLANT, [BASELINE_DONE, M2_DONE], date(2026, 3, 12)))
    assert out["m12"].status is VisitStatus.MISSED
    assert out["m12"].days_overdue == 31
    assert out["m12"].reason == "12 months missed: window closed 2026-02-09, 6 months visit not done either"
    assert out["m6"].reason == "6 months missed: window closed 2025-08-09"  # m2 was done: no "either"
    # m2 missed does not mention the baseline
    assert _one("m2", date(2025, 6, 1)).reason == "2 months missed: window closed 2025-03-24"


# --- a later protocol visit done makes an earlier one missed ------------------------------------------------


def test_later_visit_done_turns_overdue_into_missed() -> None:
    # 5 days after the m2 window closed (would be overdue), but a 6-month visit was recorded (early) already
    m6_early = RecordedVisit(date(2025, 3, 27), "m6")
    out = _by_tp(visit_schedule(IMPLANT, [BASELINE_DONE, m6_early], date(2025, 3, 29)))
    assert out["m2"].status is VisitStatus.MISSED
    assert out["m2"].days_overdue == 5
    assert out["m2"].reason == "2 months missed: window closed 2025-03-24, 6 months visit done 2025-03-27"
    assert out["m6"].status is VisitStatus.DONE
    assert out["m6"].in_window is False
    assert out["m6"].reason == "6 months done 2025-03-27, 75 days before the window 2025-06-10 to 2025-08-09"
    # without the later visit it is overdue
    assert _one("m2", date(2025, 3, 29), [BASELINE_DONE]).status is VisitStatus.OVERDUE


def test_any_later_visit_counts_not_only_the_next_one() -> None:
    m12 = RecordedVisit(date(2025, 8, 20), "m12")  # mislabelled or very early; m6 would be 11 days overdue
    sv = _one("m6", date(2025, 8, 20), [M2_DONE, m12])
    assert sv.status is VisitStatus.MISSED
    assert sv.reason == "6 months missed: window closed 2025-08-09, 12 months visit done 2025-08-20"


def test_later_visit_done_does_not_change_a_due_visit() -> None:
    m6 = RecordedVisit(date(2025, 3, 20), "m6")
    assert _one("m2", date(2025, 3, 24), [m6]).status is VisitStatus.DUE


# --- done visits --------------------------------------------------------------------------------------------


def test_done_in_and_out_of_window() -> None:
    inside = _one("m6", date(2025, 9, 1), [RecordedVisit(date(2025, 8, 9), "m6")])
    assert (inside.status, inside.in_window, inside.days_overdue) == (VisitStatus.DONE, True, 0)
    assert inside.reason == "6 months done 2025-08-09 (in window 2025-06-10 to 2025-08-09)"
    late = _one("m6", date(2025, 9, 1), [RecordedVisit(date(2025, 8, 10), "m6")])
    assert (late.status, late.in_window, late.visit_date) == (VisitStatus.DONE, False, date(2025, 8, 10))
    assert late.reason == "6 months done 2025-08-10, 1 day after the window 2025-06-10 to 2025-08-09"


def test_duplicate_timepoint_takes_the_latest_whatever_the_input_order() -> None:
    visits = [RecordedVisit(date(2025, 3, 28), "m2"), RecordedVisit(date(2025, 3, 5), "m2")]
    sv = _one("m2", date(2025, 4, 1), visits)
    assert sv.visit_date == date(2025, 3, 28)
    assert sv.in_window is False  # the latest is out of window even though the earlier one was in it
    assert sv.reason == (
        "2 months done 2025-03-28, 4 days after the window 2025-02-24 to 2025-03-24; "
        "2 visits recorded, latest used"
    )


def test_unscheduled_visits_are_ignored() -> None:
    visits = [RecordedVisit(date(2025, 3, 10), "unscheduled"), RecordedVisit(date(2025, 7, 1), "unscheduled")]
    out = _by_tp(visit_schedule(IMPLANT, visits, date(2025, 3, 29)))
    assert out["m2"].status is VisitStatus.OVERDUE  # an unscheduled visit neither fills m2 ...
    assert out["m2"].visit_date is None
    assert out["m6"].status is VisitStatus.UPCOMING  # ... nor counts as a later protocol visit


def test_timepoint_may_be_a_str_enum_member() -> None:
    class Timepoint(StrEnum):
        M2 = "m2"

    v = RecordedVisit(date(2025, 3, 12), Timepoint.M2)  # Django TextChoices members are str enums too
    assert type(v.timepoint) is str and v.timepoint == "m2"
    assert _one("m2", date(2025, 4, 1), [v]).status is VisitStatus.DONE


# --- baseline -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "status", "days_overdue"),
    [
        (date(2024, 12, 12), VisitStatus.UPCOMING, 0),  # implant − 29
        (date(2024, 12, 13), VisitStatus.DUE, 0),  # implant − 28
        (date(2025, 1, 10), VisitStatus.DUE, 0),  # implant day
        (date(2025, 1, 11), VisitStatus.MISSED, 1),  # day after implant: no overdue grace for baseline
    ],
)
def test_baseline_status(today: date, status: VisitStatus, days_overdue: int) -> None:
    sv = _one("baseline", today)
    assert (sv.status, sv.days_overdue) == (status, days_overdue)


def test_baseline_reasons() -> None:
    assert _one("baseline", date(2025, 1, 11)).reason == (
        "Baseline missed: none recorded in the window 2024-12-13 to 2025-01-10 (closed on the implant day)"
    )
    assert _one("baseline", date(2025, 1, 1)).reason == (
        "Baseline due: window 2024-12-13 to 2025-01-10 (closes on the implant day)"
    )
    assert _one("baseline", date(2024, 12, 10)).reason == (
        "Baseline upcoming: window opens 2024-12-13 (in 3 days), implant 2025-01-10"
    )


def test_baseline_done_outside_its_window_is_flagged() -> None:
    early = _one("baseline", date(2025, 2, 1), [RecordedVisit(date(2024, 12, 12), "baseline")])
    assert (early.status, early.in_window) == (VisitStatus.DONE, False)
    assert early.reason == "Baseline done 2024-12-12, 1 day before the window 2024-12-13 to 2025-01-10"
    after = _one("baseline", date(2025, 2, 1), [RecordedVisit(date(2025, 1, 12), "baseline")])
    assert (after.status, after.in_window) == (VisitStatus.DONE, False)


def test_today_before_implant_everything_ahead() -> None:
    out = visit_schedule(IMPLANT, [], date(2024, 11, 1))
    assert [sv.status for sv in out] == [VisitStatus.UPCOMING] * 4


# --- follow_up_end ------------------------------------------------------------------------------------------


def test_follow_up_end_makes_later_windows_not_required() -> None:
    end = date(2025, 7, 1)  # inside the m6 window
    out = _by_tp(visit_schedule(IMPLANT, [BASELINE_DONE, M2_DONE], date(2025, 9, 1), follow_up_end=end))
    assert out["m12"].status is VisitStatus.NOT_REQUIRED
    assert out["m12"].days_overdue == 0
    assert out["m12"].reason == (
        "12 months not required: follow-up ended 2025-07-01, before the window opens 2025-12-11"
    )
    assert out["m6"].status is VisitStatus.MISSED
    assert out["m6"].days_overdue == 23
    assert out["m6"].reason == (
        "6 months missed: follow-up ended 2025-07-01 (window 2025-06-10 to 2025-08-09), not done"
    )


def test_follow_up_end_inside_an_open_window() -> None:
    end = date(2025, 7, 1)
    assert _one("m6", date(2025, 7, 1), follow_up_end=end).status is VisitStatus.DUE  # end day still counts
    after = _one("m6", date(2025, 7, 2), follow_up_end=end)  # cannot take place any more, never "overdue"
    assert (after.status, after.days_overdue) == (VisitStatus.MISSED, 0)


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (date(2025, 6, 9), VisitStatus.NOT_REQUIRED),  # window_start after the end
        (date(2025, 6, 10), VisitStatus.MISSED),  # window opened on the end day: was required
    ],
)
def test_follow_up_end_boundary(end: date, status: VisitStatus) -> None:
    assert _one("m6", date(2025, 12, 1), [M2_DONE], follow_up_end=end).status is status


def test_follow_up_end_in_the_future_already_marks_later_windows() -> None:
    out = _by_tp(visit_schedule(IMPLANT, [], date(2025, 4, 1), follow_up_end=date(2025, 5, 1)))
    assert out["m6"].status is VisitStatus.NOT_REQUIRED
    assert out["m2"].status is VisitStatus.OVERDUE  # today has not passed the end: normal rules


def test_a_visit_that_took_place_after_the_end_is_still_done() -> None:
    visits = [RecordedVisit(date(2026, 1, 12), "m12")]
    sv = _one("m12", date(2026, 3, 1), visits, follow_up_end=date(2025, 7, 1))
    assert (sv.status, sv.in_window) == (VisitStatus.DONE, True)


def test_follow_up_end_before_implant_refused() -> None:
    with pytest.raises(ScheduleInputError, match=r"^follow_up_end: got '2025-01-09'; allowed: .*2025-01-10"):
        visit_schedule(IMPLANT, [], date(2025, 2, 1), follow_up_end=date(2025, 1, 9))


# --- input errors -------------------------------------------------------------------------------------------


def test_visit_before_implant_refused_for_follow_up_timepoints() -> None:
    visits = [RecordedVisit(date(2024, 1, 20), "baseline"), RecordedVisit(date(2024, 1, 1), "m2")]
    with pytest.raises(ScheduleInputError) as err:
        visit_schedule(date(2024, 2, 1), visits, date(2024, 6, 1))
    assert str(err.value) == (
        "visits[1].visit_date: 2024-01-01 is before the implant 2024-02-01 (allowed for 'baseline' only)"
    )
    assert err.value.field == "visits[1].visit_date"
    with pytest.raises(ScheduleInputError, match=r"^visits\[0\]\.visit_date: 2024-01-31 is before"):
        visit_schedule(date(2024, 2, 1), [RecordedVisit(date(2024, 1, 31), "unscheduled")], date(2024, 6, 1))
    # on the implant day is fine
    visit_schedule(date(2024, 2, 1), [RecordedVisit(date(2024, 2, 1), "m2")], date(2024, 6, 1))


def test_unknown_timepoint_refused_with_the_allowed_list() -> None:
    with pytest.raises(ScheduleInputError) as err:
        RecordedVisit(date(2025, 3, 1), "m3")
    assert str(err.value) == "timepoint: got 'm3'; allowed: baseline, m2, m6, m12, unscheduled"
    with pytest.raises(ScheduleInputError, match="^timepoint: got 'M2'"):
        RecordedVisit(date(2025, 3, 1), "M2")


def test_bad_types_refused() -> None:
    with pytest.raises(ScheduleInputError, match=r"^implant_date: got datetime\.datetime\(.*not a datetime"):
        visit_schedule(datetime(2025, 1, 10, 9, 0), [], date(2025, 2, 1))  # type: ignore[arg-type]
    with pytest.raises(ScheduleInputError, match=r"^today: got '2025-02-01'; allowed: a datetime\.date"):
        visit_schedule(IMPLANT, [], "2025-02-01")  # type: ignore[arg-type]
    with pytest.raises(ScheduleInputError, match=r"^visit_date: got None"):
        RecordedVisit(None, "m2")  # type: ignore[arg-type]
    with pytest.raises(ScheduleInputError, match=r"^visits\[0\]: got \('2025-03-01', 'm2'\); allowed: a Rec"):
        visit_schedule(IMPLANT, [("2025-03-01", "m2")], date(2025, 4, 1))  # type: ignore[list-item]
    with pytest.raises(ScheduleInputError, match=r"^settings: got \{\}; allowed: a ScheduleSettings$"):
        visit_schedule(IMPLANT, [], date(2025, 4, 1), {})  # type: ignore[arg-type]


# --- settings -----------------------------------------------------------------------------------------------


def test_from_protocol_builds_settings() -> None:
    cfg = ScheduleSettings.from_protocol(
        {"baseline_max_days_before": 21, "m2_window_days": 10, "m6_window_days": 20, "m12_window_days": 45,
         "missed_after_days": 14}
    )
    assert cfg == ScheduleSettings(21, {"m2": 10, "m6": 20, "m12": 45}, 14)
    assert dict(cfg.windows_days) == {"m2": 10, "m6": 20, "m12": 45}
    assert ScheduleSettings.from_protocol({}) == ScheduleSettings()
    assert ScheduleSettings.from_protocol({"m12_window_days": 60}).windows_days["m12"] == 60


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        ({"m6_window_day": 30}, "protocol: got 'm6_window_day'; allowed: keys baseline_max_days_before, "
                                "m2_window_days, m6_window_days, m12_window_days, missed_after_days"),
        ({"m6_window_days": -1}, "m6_window_days: got -1; allowed: an integer >= 0 (days)"),
        ({"missed_after_days": "30"}, "missed_after_days: got '30'; allowed: an integer >= 0 (days)"),
        ({"baseline_max_days_before": True},
         "baseline_max_days_before: got True; allowed: an integer >= 0 (days)"),
        ({"m2_window_days": 14.0}, "m2_window_days: got 14.0; allowed: an integer >= 0 (days)"),
        ({"m2_window_days": 59},
         "m2_window_days: got 59; allowed: at most 58 days so the 2 months window opens after the implant "
         "day"),
        ({"m2_window_days": 40, "m6_window_days": 80},
         "m2_window_days + m6_window_days: got 40 + 80 = 120; allowed: a sum of at most 119 days so the "
         "2 months and 6 months windows cannot overlap"),
        ({"m6_window_days": 90, "m12_window_days": 91},
         "m6_window_days + m12_window_days: got 90 + 91 = 181; allowed: a sum of at most 180 days so the "
         "6 months and 12 months windows cannot overlap"),
    ],
)
def test_from_protocol_refusals(protocol: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleInputError) as err:
        ScheduleSettings.from_protocol(protocol)
    assert str(err.value) == message


def test_from_protocol_needs_a_mapping() -> None:
    with pytest.raises(ScheduleInputError, match=r"^protocol: got \[\('m2_window_days', 14\)\]; allowed"):
        ScheduleSettings.from_protocol([("m2_window_days", 14)])  # type: ignore[arg-type]


def test_settings_constructor_refusals() -> None:
    with pytest.raises(ScheduleInputError) as err:
        ScheduleSettings(windows_days={"m3": 10})
    assert str(err.value) == "windows_days: got 'm3'; allowed: time points m2, m6, m12"
    with pytest.raises(ScheduleInputError, match=r"^windows_days\['m6'\]: got -5; allowed: an integer >= 0"):
        ScheduleSettings(windows_days={"m6": -5})
    with pytest.raises(ScheduleInputError, match=r"^missed_after_days: got -1;"):
        ScheduleSettings(missed_after_days=-1)
    with pytest.raises(ScheduleInputError, match=r"^baseline_max_days_before: got 28\.5;"):
        ScheduleSettings(baseline_max_days_before=28.5)  # type: ignore[arg-type]
    overlap = r"^windows_days\['m2'\] \+ windows_days\['m6'\]: got 58 \+ 62 = 120; allowed: a sum of at most"
    with pytest.raises(ScheduleInputError, match=overlap):
        ScheduleSettings(windows_days={"m2": 58, "m6": 62})
    with pytest.raises(ScheduleInputError, match=r"^windows_days: got \[14, 30, 30\]; allowed: a mapping"):
        ScheduleSettings(windows_days=[14, 30, 30])  # type: ignore[arg-type]


def test_settings_are_read_only_hashable_and_picklable() -> None:
    source = {"m2": 10}
    cfg = ScheduleSettings(windows_days=source)
    source["m2"] = 50  # the caller's dict is copied
    assert cfg.windows_days["m2"] == 10
    with pytest.raises(TypeError):
        cfg.windows_days["m2"] = 20  # type: ignore[index]
    assert hash(cfg) == hash(ScheduleSettings(windows_days={"m2": 10, "m6": 30}))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg


def test_widest_allowed_windows_never_overlap_for_any_implant_date() -> None:
    # the refusal limits are tight: with zero-width windows the targets come exactly that close for some date
    widest = ScheduleSettings(windows_days={"m2": 58, "m6": 61, "m12": 119})
    gaps = {"implant-m2": [], "m2-m6": [], "m6-m12": []}
    zero = ScheduleSettings(windows_days={"m2": 0, "m6": 0, "m12": 0})
    start = date(2020, 1, 1)
    for i in range(366 * 8):
        implant = start + timedelta(days=i)
        b, m2, m6, m12 = visit_schedule(implant, [], implant, widest)
        assert b.window_end < m2.window_start
        assert m2.window_end < m6.window_start
        assert m6.window_end < m12.window_start
        _, z2, z6, z12 = visit_schedule(implant, [], implant, zero)
        gaps["implant-m2"].append((z2.target_date - implant).days)
        gaps["m2-m6"].append((z6.target_date - z2.target_date).days)
        gaps["m6-m12"].append((z12.target_date - z6.target_date).days)
    assert {k: min(v) for k, v in gaps.items()} == {"implant-m2": 59, "m2-m6": 120, "m6-m12": 181}


# --- suggest_timepoint --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visit_date", "expected"),
    [
        (date(2025, 1, 10), "baseline"),  # implant day
        (date(2024, 12, 13), "baseline"),  # implant − 28: window start
        (date(2024, 11, 15), "baseline"),  # implant − 56: within twice the baseline window
        (date(2024, 11, 14), "unscheduled"),  # implant − 57
        (date(2025, 1, 11), "unscheduled"),  # day after implant: baseline is never suggested after it
        (date(2025, 2, 10), "m2"),  # m2 target − 28 (2 × 14)
        (date(2025, 2, 9), "unscheduled"),  # m2 target − 29
        (date(2025, 2, 24), "m2"),  # m2 window start
        (date(2025, 3, 24), "m2"),  # m2 window end
        (date(2025, 4, 7), "m2"),  # m2 target + 28
        (date(2025, 4, 8), "unscheduled"),  # m2 target + 29; nearest target is still m2
        (date(2025, 5, 11), "m6"),  # m6 target − 60 (2 × 30)
        (date(2025, 5, 10), "unscheduled"),  # m6 target − 61
        (date(2025, 7, 10), "m6"),  # target
        (date(2025, 10, 20), "unscheduled"),  # nearest target m12 is 82 days away (> 2 × 30)
        (date(2025, 9, 8), "m6"),  # m6 target + 60
        (date(2025, 9, 9), "unscheduled"),  # m6 target + 61
        (date(2025, 11, 11), "m12"),  # m12 target − 60
        (date(2026, 2, 9), "m12"),  # m12 window end
        (date(2026, 3, 11), "m12"),  # m12 target + 60
        (date(2026, 3, 12), "unscheduled"),  # m12 target + 61
        (date(2027, 1, 10), "unscheduled"),  # 2 years: no protocol visit
    ],
)
def test_suggest_timepoint(visit_date: date, expected: str) -> None:
    assert suggest_timepoint(IMPLANT, visit_date, ScheduleSettings()) == expected


def test_suggest_timepoint_uses_settings_and_defaults() -> None:
    narrow = ScheduleSettings(windows_days={"m2": 7})
    assert suggest_timepoint(IMPLANT, date(2025, 2, 24)) == "m2"
    assert suggest_timepoint(IMPLANT, date(2025, 2, 24), narrow) == "m2"  # 14 days = 2 × 7
    assert suggest_timepoint(IMPLANT, date(2025, 2, 23), narrow) == "unscheduled"
    with pytest.raises(ScheduleInputError, match=r"^visit_date: got '2025-02-23'"):
        suggest_timepoint(IMPLANT, "2025-02-23")  # type: ignore[arg-type]


def test_suggestion_agrees_with_the_schedule_windows() -> None:
    for sv in visit_schedule(IMPLANT, [], IMPLANT)[1:]:
        assert suggest_timepoint(IMPLANT, sv.window_start) == sv.timepoint
        assert suggest_timepoint(IMPLANT, sv.window_end) == sv.timepoint


# --- urgency_key --------------------------------------------------------------------------------------------


def _sv(
    name: str, status: VisitStatus, *, start: date, end: date, days: int = 0, tp: str = "m6"
) -> ScheduledVisit:
    return ScheduledVisit(tp, name, start + (end - start) / 2, start, end, status, None, None, days, name)


def test_urgency_order() -> None:
    d0 = date(2025, 6, 1)
    expected = [
        _sv("overdue 20", VisitStatus.OVERDUE, start=d0 - 80 * D, end=d0 - 20 * D, days=20),
        _sv("overdue 5", VisitStatus.OVERDUE, start=d0 - 65 * D, end=d0 - 5 * D, days=5),
        _sv("due closes soon", VisitStatus.DUE, start=d0 - 50 * D, end=d0 + 3 * D),
        _sv("due closes later", VisitStatus.DUE, start=d0 - 10 * D, end=d0 + 40 * D),
        _sv("upcoming soon", VisitStatus.UPCOMING, start=d0 + 2 * D, end=d0 + 62 * D),
        _sv("upcoming later", VisitStatus.UPCOMING, start=d0 + 90 * D, end=d0 + 118 * D),
        _sv("missed recently", VisitStatus.MISSED, start=d0 - 100 * D, end=d0 - 31 * D, days=31),
        _sv("missed long ago", VisitStatus.MISSED, start=d0 - 400 * D, end=d0 - 340 * D, days=340),
        _sv("done", VisitStatus.DONE, start=d0 - 300 * D, end=d0 - 240 * D),
        _sv("not required", VisitStatus.NOT_REQUIRED, start=d0 + 100 * D, end=d0 + 160 * D),
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    assert [sv.label for sv in sorted(shuffled, key=urgency_key)] == [sv.label for sv in expected]


def test_urgency_of_one_patient_schedule() -> None:
    # today 2025-09-01: baseline done, m2 missed (grace over), m6 overdue 23 days, m12 upcoming
    out = visit_schedule(IMPLANT, [BASELINE_DONE], date(2025, 9, 1))
    assert [sv.timepoint for sv in sorted(out, key=urgency_key)] == ["m6", "m12", "m2", "baseline"]


def test_urgency_ties_keep_protocol_order() -> None:
    d0 = date(2025, 6, 1)
    a = _sv("a", VisitStatus.DONE, start=d0, end=d0, tp="m12")
    b = _sv("b", VisitStatus.DONE, start=d0, end=d0, tp="m2")
    assert sorted([a, b], key=urgency_key) == [b, a]
    assert PROTOCOL_TIMEPOINTS == ("baseline", "m2", "m6", "m12")
    with pytest.raises(ScheduleInputError, match=r"^sv\.timepoint: got 'unscheduled'"):
        urgency_key(_sv("x", VisitStatus.DONE, start=d0, end=d0, tp="unscheduled"))


@given(st.lists(st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)), min_size=1, max_size=30),
       st.integers(0, 40), st.integers(0, 20), st.integers(0, 40))
def test_window_offsets_of_many_implants_equal_each_implants_windows(implants, before, m2, m6):
    # month ends (31 January + 1 month = the end of February, 29 February + 12 months = 28 February) included
    implants = [*implants, date(2023, 1, 31), date(2024, 1, 31), date(2024, 2, 29), date(2023, 8, 31)]
    cfg = ScheduleSettings(baseline_max_days_before=before, windows_days={"m2": m2, "m6": m6, "m12": m6})
    days = np.array([d.toordinal() for d in implants], dtype=np.int64)
    offsets = window_offsets(days, cfg)
    for i, implant in enumerate(implants):
        for tp, (first, last) in timepoint_windows(implant, cfg).items():
            assert (offsets[tp][0][i], offsets[tp][1][i]) == ((first - implant).days, (last - implant).days), (implant, tp)

"""¹³¹I courses: activity conversion, cumulative activity, months since the last course (clinical-rules.md §2.2)."""

from __future__ import annotations

from datetime import date

import pytest

from registry.iodine import (
    DAYS_PER_MONTH,
    IodineError,
    add_months,
    cumulative_activity_gbq,
    mci_to_gbq,
    months_since,
    whole_months_between,
)


@pytest.mark.parametrize(
    ("mci", "gbq"),
    [(600, 22.2), (100, 3.7), (200, 7.4), (150, 5.55), (30, 1.11), (0, 0.0), (0.4, 0.0148), (0.7, 0.0259)],
)
def test_mci_to_gbq_is_exact(mci: float, gbq: float) -> None:
    # §2.2: 600 mCi = 22.2 GBq, 100 mCi = 3.7 GBq; §6.4: seed 0.4–0.7 mCi = 14.8–25.9 MBq. Exact equality on purpose.
    assert mci_to_gbq(mci) == gbq


def test_mci_to_gbq_avoids_float_product_error() -> None:
    assert 200 * 0.037 != 7.4  # the naive float product is 7.3999999999999995
    assert mci_to_gbq(200) == 7.4
    assert not mci_to_gbq(600) > 22.2


@pytest.mark.parametrize(
    ("activities", "total"),
    [([], 0.0), ([3.7], 3.7), ([7.4, 7.4, 7.4], 22.2), ([5.55, 5.55, 5.55, 5.55, 3.0], 25.2), ([1.1, 1.1, 1.1], 3.3)],
)
def test_cumulative_activity_is_a_decimal_sum(activities: list[float], total: float) -> None:
    assert cumulative_activity_gbq(activities) == total


def test_cumulative_activity_accepts_a_generator() -> None:
    assert cumulative_activity_gbq(mci_to_gbq(m) for m in (200, 200, 200)) == 22.2


@pytest.mark.parametrize("bad", [[-1.0], [3.7, float("nan")], [float("inf")], [True], ["3.7"]])
def test_cumulative_activity_refuses_bad_values(bad: list[object]) -> None:
    with pytest.raises(IodineError, match=r"activities_gbq\[\d\]"):
        cumulative_activity_gbq(bad)  # type: ignore[arg-type]


def test_mci_to_gbq_refuses_negative() -> None:
    with pytest.raises(IodineError, match="activity_mci -5"):
        mci_to_gbq(-5)


@pytest.mark.parametrize(
    ("earlier", "later", "months"),
    [
        ("2020-01-31", "2020-07-30", 5),  # brief example
        ("2020-01-31", "2020-07-31", 6),
        ("2020-01-31", "2020-06-30", 5),  # 31 Jan + 5 months = 30 Jun (clamped)
        ("2020-01-31", "2020-06-29", 4),
        ("2020-01-31", "2020-02-29", 1),  # leap year: clamped to 29 Feb
        ("2020-01-31", "2020-02-28", 0),
        ("2021-01-31", "2021-02-28", 1),
        ("2023-09-08", "2024-03-08", 6),
        ("2023-09-09", "2024-03-08", 5),
        ("2023-08-31", "2024-02-29", 6),
        ("2024-03-08", "2024-03-08", 0),
        ("2019-03-15", "2024-03-14", 59),
    ],
)
def test_whole_months_between_counts_completed_calendar_months(earlier: str, later: str, months: int) -> None:
    assert whole_months_between(date.fromisoformat(earlier), date.fromisoformat(later)) == months


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2020, 1, 31), 1) == date(2020, 2, 29)
    assert add_months(date(2021, 1, 31), 1) == date(2021, 2, 28)
    assert add_months(date(2020, 11, 30), 3) == date(2021, 2, 28)
    assert add_months(date(2020, 3, 15), -3) == date(2019, 12, 15)


def test_months_since_uses_mean_gregorian_month() -> None:
    assert DAYS_PER_MONTH == 365.25 / 12
    assert months_since(date(2020, 1, 1), date(2021, 1, 1)) == pytest.approx(366 / 30.4375, abs=1e-12)
    assert months_since(date(2020, 1, 1), date(2020, 1, 1)) == 0.0
    # A calendar half-year is not exactly 6.0 continuous months: the eligibility rule must not use this.
    assert months_since(date(2023, 9, 8), date(2024, 3, 8)) == pytest.approx(5.98, abs=0.005)


@pytest.mark.parametrize("function", [months_since, whole_months_between])
def test_dates_in_wrong_order_are_refused(function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IodineError, match="2024-01-01 is before earlier date 2024-02-01"):
        function(date(2024, 2, 1), date(2024, 1, 1))


def test_non_date_is_refused() -> None:
    with pytest.raises(IodineError, match="earlier must be a date"):
        whole_months_between("2024-01-01", date(2024, 2, 1))  # type: ignore[arg-type]

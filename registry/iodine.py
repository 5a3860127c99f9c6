"""¹³¹I therapy courses: activity conversion, cumulative activity and time since the last course (pure core).

Reference: ``clinical-rules.md`` §2.2 (1 mCi = 37 MBq; 600 mCi = 22.2 GBq) and §8.2.

Design decisions
----------------
* **Decimal sums.** Activities are added with :class:`decimal.Decimal` on the shortest decimal representation of
  each float, so three courses of 7.4 GBq (200 mCi) give exactly 22.2 GBq (a float sum gives
  22.200000000000003, which would wrongly pass a strict "> 22.2 GBq" criterion).
* **Two month measures.** :func:`months_since` is a continuous figure for display and statistics
  (days / 30.4375, the mean Gregorian month = 365.25 / 12 days). :func:`whole_months_between` counts *completed
  calendar months* and is the one used for the eligibility rule "≥ 6 months since the last course": a month is
  completed when the same day-of-month is reached; when that day does not exist in the target month the month is
  completed on that month's last day (31 Jan + 1 month = 29 Feb 2020 / 28 Feb 2021; 31 Jan + 5 months = 30 Jun).
  This is the ``dateutil.relativedelta`` convention.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from common.errors import InputError

__all__ = [
    "DAYS_PER_MONTH",
    "IodineError",
    "add_months",
    "cumulative_activity_gbq",
    "mci_to_gbq",
    "months_since",
    "whole_months_between",
]

DAYS_PER_MONTH = 30.4375
"""Mean Gregorian calendar month in days (365.25 / 12), used by :func:`months_since`."""


class IodineError(InputError):
    """Invalid ¹³¹I input (negative or non-finite activity, dates in the wrong order)."""


def _checked_activity(field: str, value: float) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IodineError(f"{field} {value!r} is not a number", field=field, value=value,
                          allowed="a finite number ≥ 0")
    if not math.isfinite(value) or value < 0:
        raise IodineError(f"{field} {value!r} is not allowed; it must be a finite number ≥ 0", field=field,
                          value=value, allowed="a finite number ≥ 0")
    return Decimal(repr(float(value)))


def mci_to_gbq(mci: float) -> float:
    """Convert an activity in millicurie to gigabecquerel (1 mCi = 37 MBq = 0.037 GBq).

    >>> mci_to_gbq(600)
    22.2
    >>> mci_to_gbq(100)
    3.7
    """
    return float(_checked_activity("activity_mci", mci) * 37 / 1000)


def cumulative_activity_gbq(activities_gbq: Iterable[float]) -> float:
    """Sum the administered ¹³¹I activities of all courses, in GBq (decimal arithmetic; empty → 0.0).

    >>> cumulative_activity_gbq([7.4, 7.4, 7.4])
    22.2
    """
    total = Decimal(0)
    for index, activity in enumerate(activities_gbq):
        total += _checked_activity(f"activities_gbq[{index}]", activity)
    return float(total)


def _check_order(earlier: date, later: date) -> None:
    for name, value in (("earlier", earlier), ("later", later)):
        if not isinstance(value, date):
            raise IodineError(f"{name} must be a date, got {value!r}", field=name, value=value, allowed="a date")
    if later < earlier:
        raise IodineError(f"later date {later.isoformat()} is before earlier date {earlier.isoformat()}")


def months_since(earlier: date, later: date) -> float:
    """Elapsed time in (fractional) months: days between the dates / 30.4375.

    For display and statistics only; eligibility uses :func:`whole_months_between`.
    Raises :class:`IodineError` if ``later`` is before ``earlier``.
    """
    _check_order(earlier, later)
    return (later - earlier).days / DAYS_PER_MONTH


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months`` calendar months, clamped to the last day of the target month.

    >>> add_months(date(2020, 1, 31), 1)
    datetime.date(2020, 2, 29)
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last_day))


def whole_months_between(earlier: date, later: date) -> int:
    """Number of completed calendar months from ``earlier`` to ``later`` (largest n with
    ``add_months(earlier, n) <= later``).

    >>> whole_months_between(date(2020, 1, 31), date(2020, 7, 30))
    5
    >>> whole_months_between(date(2020, 1, 31), date(2020, 6, 30))
    5

    Raises :class:`IodineError` if ``later`` is before ``earlier``.
    """
    _check_order(earlier, later)
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    if add_months(earlier, months) > later:
        months -= 1
    return months

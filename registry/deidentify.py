"""De-identified dates and ages for the reviewer role (HIPAA Safe Harbor: no date element but the year).

Pure: no Django. The template tags (registry/templatetags/deid.py) and the CSV/figure code call these.

* A date becomes a **study day**, SDTM ``--DY`` convention: day 1 is the anchor (the patient's first implant
  procedure), the day before is day -1; there is no day 0.
* A patient without an implant has no anchor: the date shows as its year only ("2021").
* An age becomes a 5-year band ("60–64"), 90 and over pooled as "≥ 90".
"""

from __future__ import annotations

import re
from datetime import date, datetime

from registry.staging import age_in_completed_years

LEGEND = "study day (day 1 = implant day)"
TOP_BAND = 90


def _as_date(d: date | datetime) -> date:
    """A datetime counts on its (already localised) calendar day."""
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    raise TypeError(f"study day: expected a date or datetime, got {d!r}")


def study_day(d: date | datetime, anchor: date | datetime) -> int:
    """Day of ``d`` relative to ``anchor``: anchor day = 1, the day after = 2, the day before = -1 (no day 0)."""
    delta = (_as_date(d) - _as_date(anchor)).days
    return delta + 1 if delta >= 0 else delta


def day_from_offset(days_since_anchor: int) -> int:
    """Convert a "days since the implant" offset (implant = 0) to the study-day convention (implant = 1)."""
    if isinstance(days_since_anchor, bool) or not isinstance(days_since_anchor, int):
        raise TypeError(f"study day: expected an integer number of days, got {days_since_anchor!r}")
    return days_since_anchor + 1 if days_since_anchor >= 0 else days_since_anchor


def study_day_text(d: date | datetime, anchor: date | None) -> str:
    """``"day 12"``, ``"day -3"``; without an anchor (no implant yet) the year alone, ``"2021"``."""
    if anchor is None:
        return str(_as_date(d).year)
    return f"day {study_day(d, anchor)}"


def age_band(age: int) -> str:
    """5-year band of an age in completed years: 60–64 → "60–64"; 90 and over → "≥ 90"."""
    if isinstance(age, bool) or not isinstance(age, int):
        raise TypeError(f"age band: expected an age in completed years (integer), got {age!r}")
    if age < 0:
        raise ValueError(f"age band: age {age} is negative; an age in completed years is 0 or more")
    if age >= TOP_BAND:
        return f"≥ {TOP_BAND}"
    low = age - age % 5
    return f"{low}–{low + 4}"


def age_band_text(birth: date, implant: date | None, diagnosis: date | None) -> str:
    """The reviewer's age: band at the first implant, else at diagnosis (labelled so); "—" if neither."""
    if implant is not None:
        return f"{age_band(age_in_completed_years(birth, _as_date(implant)))} y at implant"
    if diagnosis is not None:
        return f"{age_band(age_in_completed_years(birth, _as_date(diagnosis)))} y at diagnosis"
    return "—"


def deidentify_value(value: object, anchor: date | None) -> object:
    """A date or datetime → its study-day text; any other value unchanged (history before → after values)."""
    if isinstance(value, date | datetime):
        return study_day_text(value, anchor)
    return value


# An ISO date, optionally with a time and zone, optionally followed by the day-0 offset the cores print with it
# ("on 2018-08-05 (day 181)"): the offset is dropped, the study day says it.
_ISO = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"(?: \(day -?\d+(?: [^)]*)?\))?(?!\d)")


# An exact age inside a computed text: the AJCC 8 stage reason says "age 50 < 55"; only the side of the cut-off
# is kept ("age < 55").
_AGE = re.compile(r"\bage \d+(?:\.\d+)? ?(<|≥|>=|<=|>)")


def scrub_ages(text: str) -> str:
    """An exact age in a computed text → the comparison alone: "age 50 < 55" → "age < 55"."""
    return _AGE.sub(lambda m: f"age {m.group(1)}", text)


def scrub_dates(text: str, anchor: date | None) -> str:
    """Every ISO date (or timestamp) in a computed text → its study-day text: the reasons and flags the rule
    cores write ("Baseline done 2018-01-20 (in window 2018-01-08 to 2018-02-05)") name dates."""

    def replace(m: re.Match[str]) -> str:
        try:
            d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return m.group(0)  # not a calendar date (e.g. part of a code)
        return study_day_text(d, anchor)

    return _ISO.sub(replace, text)

"""Implausible dates: pure rules, no Django (called from the models' ``clean()`` in registry, assessment and
dosimetry, so forms, the admin, imports and services share them).

Rules (a data-quality check, not a clinical reference section; thresholds in ``config/protocol.py``
``plausibility``):

* no clinical date before ``earliest`` (1900-01-01): a year typed wrong (1800 for 2018);
* a date of something that already happened (biopsy, surgery, ¹³¹I course, labs, implant, visit, toxicity) is not in
  the future;
* nothing done to the patient is dated before her birth;
* labs, visits, ¹³¹I courses and the implant are not more than ``max_years_before_diagnosis`` years before the
  diagnosis (the diagnosis date may be the pathology of the thyroidectomy, so a work-up shortly before it is
  accepted; decades before it is a typing error).

Every message names the field, the value and the limit: "Biopsy date 1950-03-01 is before the birth date
1961-07-04."
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class DateKind(Enum):
    EVENT = "event"  # happened: not in the future, not before birth
    SINCE_DIAGNOSIS = "since_diagnosis"  # happened, and not long before the diagnosis (labs, visits, courses, implant)
    PLANNED = "planned"  # may be in the future (a planned implant), still not before birth nor long before diagnosis


@dataclass(frozen=True)
class DateLimits:
    earliest: dt.date = dt.date(1900, 1, 1)
    max_years_before_diagnosis: int = 1

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DateLimits:
        """Build from the protocol's ``plausibility`` section; a bad value raises ``ValueError`` naming its key."""
        earliest = values.get("earliest_date", cls.earliest)
        if isinstance(earliest, str):
            try:
                earliest = dt.date.fromisoformat(earliest)
            except ValueError:
                raise ValueError(f"earliest_date: got {earliest!r}; allowed: a date YYYY-MM-DD") from None
        if not isinstance(earliest, dt.date):
            raise ValueError(f"earliest_date: got {earliest!r}; allowed: a date YYYY-MM-DD")
        years = values.get("max_years_before_diagnosis", 1)
        if isinstance(years, bool) or not isinstance(years, int) or years < 0:
            raise ValueError(f"max_years_before_diagnosis: got {years!r}; allowed: a whole number of years ≥ 0")
        return cls(earliest=earliest, max_years_before_diagnosis=years)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def date_problem(
    label: str,
    day: dt.date | None,
    *,
    kind: DateKind,
    today: dt.date,
    limits: DateLimits,
    birth: dt.date | None = None,
    diagnosis: dt.date | None = None,
) -> str | None:
    """The first rule ``day`` breaks, as a sentence starting with ``label`` (e.g. "Biopsy date"), or None."""
    if day is None:
        return None
    if day < limits.earliest:
        return f"{label} {day} is before {limits.earliest}, the earliest date accepted; check the year."
    if kind is not DateKind.PLANNED and day > today:
        return f"{label} {day} is in the future; it must be on or before today ({today})."
    if birth is not None and day < birth:
        return f"{label} {day} is before the birth date {birth}."
    if kind is not DateKind.EVENT and diagnosis is not None:
        n = limits.max_years_before_diagnosis
        limit = years_before(diagnosis, n)
        if day < limit:
            return (
                f"{label} {day} is more than {n} year{'s' if n != 1 else ''} before the diagnosis ({diagnosis}); "
                f"the earliest accepted is {limit}."
            )
    return None

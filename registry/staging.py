"""AJCC 8th edition stage groups for differentiated thyroid cancer (pure core, rule set ``AJCC8``).

Reference: ``clinical-rules.md`` §3 (Perrier 2018, PMC5766386; Tuttle 2017 Table 3, PMC5467103).

Age is the age **at initial diagnosis** in completed years (cut-off 55: 55 belongs to the ≥ 55 group), not the
age at seed implantation.

Decision procedure (§3.3)::

    age < 55:  M1 -> II, else I                       (T and N not used)
    age >= 55: M1 -> IVB; T4b -> IVA; T4a -> III; T3/T3a/T3b -> II;
               T1/T1a/T1b/T2 -> II with N1/N1a/N1b, I with N0/N0a/N0b/NX

Design decisions
----------------
* **Undecidable → ``stage=None`` with a reason, not an error**: age ≥ 55, M0 with TX/T0 (no T row in the stage
  table) or with an unsubdivided T4 (T4a → III vs T4b → IVA). An unsubdivided T3 is II either way, and T1 is I/II
  by N, so those are staged.
* **MX is refused**: it is not an AJCC 8 category; record M0 when there is no clinical evidence of distant
  metastasis.
* Codes are matched case-insensitively and normalised ("t1A" → "T1a"); a trailing multifocal marker "(m)" on T is
  accepted and dropped. Prefixes such as "p"/"c"/"yp" are *not* accepted (store the bare category).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from common.errors import InputError

__all__ = [
    "AGE_CUTOFF_YEARS",
    "M_CODES",
    "MAX_AGE_YEARS",
    "N_CODES",
    "RULE_SET",
    "T_CODES",
    "StageResult",
    "StagingError",
    "age_in_completed_years",
    "stage_dtc",
]

RULE_SET = "AJCC8"
AGE_CUTOFF_YEARS = 55
MAX_AGE_YEARS = 120

T_CODES: tuple[str, ...] = ("TX", "T0", "T1", "T1a", "T1b", "T2", "T3", "T3a", "T3b", "T4", "T4a", "T4b")
N_CODES: tuple[str, ...] = ("NX", "N0", "N0a", "N0b", "N1", "N1a", "N1b")
M_CODES: tuple[str, ...] = ("M0", "M1")

_N_POSITIVE = frozenset({"N1", "N1a", "N1b"})
_T_SMALL = frozenset({"T1", "T1a", "T1b", "T2"})
_T3 = frozenset({"T3", "T3a", "T3b"})


class StagingError(InputError):
    """Invalid staging input. Attributes: ``field``, ``value``, ``allowed`` (human-readable)."""

    def __init__(self, field: str, value: object, allowed: str, message: str | None = None) -> None:
        super().__init__(message or f"{field} {value!r} is not allowed; use one of: {allowed}", field=field, value=value,
                         allowed=allowed)


@dataclass(frozen=True)
class StageResult:
    """AJCC 8 stage group.

    ``stage`` is "I", "II", "III", "IVA", "IVB" or ``None`` when it cannot be decided from the categories given;
    ``reason`` is one line ("age 60 ≥ 55, T4a → III"); ``t``/``n``/``m`` are the normalised codes.
    """

    stage: str | None
    reason: str
    age_at_diagnosis_years: int
    t: str
    n: str
    m: str
    rule_set: str = RULE_SET


def age_in_completed_years(birth: date, on: date) -> int:
    """Age in completed years on date ``on`` (e.g. the date of initial diagnosis).

    A person born on 29 February completes a year on 1 March in non-leap years (28 Feb is still the year
    before). Raises :class:`StagingError` if ``on`` is before ``birth``.

    >>> age_in_completed_years(date(1960, 2, 29), date(2015, 2, 28))
    54
    >>> age_in_completed_years(date(1960, 2, 29), date(2015, 3, 1))
    55
    """
    for name, value in (("birth", birth), ("on", on)):
        if not isinstance(value, date):
            raise StagingError(name, value, "a date")
    if on < birth:
        raise StagingError(
            "on", on, f"a date on or after the birth date {birth.isoformat()}",
            f"date {on.isoformat()} is before the birth date {birth.isoformat()}",
        )
    before_birthday = (on.month, on.day) < (birth.month, birth.day)
    return on.year - birth.year - int(before_birthday)


def _normalise_code(field: str, value: object, codes: tuple[str, ...]) -> str:
    allowed = ", ".join(codes)
    if not isinstance(value, str):
        raise StagingError(field, value, allowed)
    text = value.strip().replace(" ", "")
    if field == "t" and text.lower().endswith("(m)"):
        text = text[:-3]
    if field == "m" and text.upper() == "MX":
        raise StagingError(
            field, value, allowed,
            f"m {value!r}: MX is not an AJCC 8th-edition category; record M0 (no clinical evidence of distant "
            f"metastasis) or M1. Allowed: {allowed}",
        )
    lookup = {code.lower(): code for code in codes}
    code = lookup.get(text.lower())
    if code is None:
        raise StagingError(field, value, allowed)
    return code


def _check_age(age: object) -> int:
    if isinstance(age, bool) or not isinstance(age, int):
        raise StagingError(
            "age_at_diagnosis_years", age, f"a whole number of completed years 0–{MAX_AGE_YEARS}",
            f"age_at_diagnosis_years {age!r} must be a whole number of completed years (0–{MAX_AGE_YEARS})",
        )
    if age < 0 or age > MAX_AGE_YEARS:
        raise StagingError(
            "age_at_diagnosis_years", age, f"0–{MAX_AGE_YEARS}",
            f"age_at_diagnosis_years {age} is outside the plausible range 0–{MAX_AGE_YEARS} years",
        )
    return age


def stage_dtc(age_at_diagnosis_years: int, t: str, n: str, m: str) -> StageResult:
    """Stage a differentiated thyroid cancer by AJCC 8 (§3.3).

    ``age_at_diagnosis_years``: completed years at initial diagnosis (see :func:`age_in_completed_years`).
    ``t``/``n``/``m``: categories from ``T_CODES``/``N_CODES``/``M_CODES`` (case-insensitive).
    Raises :class:`StagingError` naming the field for an invalid code or age.
    """
    age = _check_age(age_at_diagnosis_years)
    t_code = _normalise_code("t", t, T_CODES)
    n_code = _normalise_code("n", n, N_CODES)
    m_code = _normalise_code("m", m, M_CODES)

    def result(stage: str | None, reason: str) -> StageResult:
        return StageResult(stage=stage, reason=reason, age_at_diagnosis_years=age, t=t_code, n=n_code, m=m_code)

    if age < AGE_CUTOFF_YEARS:
        if m_code == "M1":
            return result("II", f"age {age} < 55, M1 → II (T and N not used)")
        return result("I", f"age {age} < 55, M0 → I (T and N not used)")

    prefix = f"age {age} ≥ 55"
    if m_code == "M1":
        return result("IVB", f"{prefix}, M1 → IVB")
    if t_code == "T4b":
        return result("IVA", f"{prefix}, T4b → IVA")
    if t_code == "T4a":
        return result("III", f"{prefix}, T4a → III")
    if t_code == "T4":
        return result(None, f"{prefix}, T4 not subdivided: T4a → III, T4b → IVA; record T4a or T4b")
    if t_code in _T3:
        return result("II", f"{prefix}, {t_code} → II (any N)")
    if t_code in _T_SMALL:
        if n_code in _N_POSITIVE:
            return result("II", f"{prefix}, {t_code} {n_code} → II")
        return result("I", f"{prefix}, {t_code} {n_code} → I")
    # TX or T0 with M0: the ≥ 55 stage table has no row without a T category.
    return result(None, f"{prefix}, {t_code} M0: no stage group without a T category (T1–T4b)")

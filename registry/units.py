"""Unit conversion for registry lab values and ¹³¹I activities (pure core, no Django).

Reference: ``clinical-rules.md`` §6.4 (units) and §8.2 (eligibility units).

Every analyte has one *canonical* unit (``CANONICAL_UNITS``); :func:`convert` turns a value entered in any
accepted spelling of any accepted unit into the canonical unit. Anything else is refused with
:class:`UnitError` — a wrong unit silently accepted is the classic registry error (Hb 9.5 g/dL stored as
9.5 g/L; 3500/mm³ stored as 3500 ×10⁹/L).

Design decisions
----------------
* **Haemoglobin in mmol/L is refused.** The factor depends on whether the lab counts the Hb monomer
  (1 mmol/L ≈ 16.1 g/L, Dutch/Scandinavian convention) or the tetramer (≈ 64.5 g/L); guessing is unsafe, so only
  g/L and g/dL are accepted.
* **Tg in pmol/L, TgAb in U/mL (non-IU) and ALT/AST in µkat/L are refused** (§6.4: "refuse unknown units").
* **Arithmetic is decimal.** ``value × factor`` is computed with :class:`decimal.Decimal` on the shortest
  decimal representation of both floats, so 200 mCi → exactly 7.4 GBq and 1595 ng/dL → exactly 15.95 µg/L
  (float products give 7.3999999999999995 and 15.950000000000001, which can flip a threshold comparison).
* **Matching is tolerant**: case-insensitive, spaces ignored, "µ"/"μ"/"u" equivalent, "x"/"×"/"*" equivalent,
  superscript digits equivalent to "^" + digits ("10⁹" = "10^9"). Case-insensitivity is safe here because no
  analyte table contains two units that differ only in case.
"""

from __future__ import annotations

import math
from decimal import Decimal

from common.errors import InputError

__all__ = [
    "ACCEPTED_UNITS",
    "CANONICAL_UNITS",
    "UnitError",
    "convert",
    "format_number",
    "normalise_unit",
]


class UnitError(InputError):
    """A unit (or analyte, or value) that the registry does not accept.

    Attributes: ``analyte``, ``unit`` (as entered), ``field`` (which of ``"analyte"``, ``"unit"`` or
    ``"value"`` was refused), ``value`` (what it held) and ``allowed`` (here the tuple of accepted unit spellings).
    """

    def __init__(self, message: str, *, analyte: str = "", unit: str = "", allowed: tuple[str, ...] = (),
                 field: str = "unit", value: object = None) -> None:
        super().__init__(message, field=field, value=unit if value is None and field == "unit" else value)
        self.analyte = analyte
        self.unit = unit
        self.allowed = allowed  # type: ignore[assignment]  # the spellings, kept as a tuple (callers list them)


# Cell counts: ×10⁹/L = ×10³/µL (same number); per mm³ = per µL (absolute count, ×0.001).
_CELL_COUNT_UNITS: dict[str, float] = {
    "×10⁹/L": 1.0,
    "x10^9/L": 1.0,
    "10^9/L": 1.0,
    "G/L": 1.0,
    "×10³/µL": 1.0,
    "x10^3/uL": 1.0,
    "10^3/uL": 1.0,
    "K/µL": 1.0,
    "/mm³": 0.001,
    "/µL": 0.001,
    "cells/mm³": 0.001,
    "cells/µL": 0.001,
}

CANONICAL_UNITS: dict[str, str] = {
    "wbc": "×10⁹/L",
    "hemoglobin": "g/L",
    "platelets": "×10⁹/L",
    "alt": "U/L",
    "ast": "U/L",
    "tgab": "IU/mL",
    "tg": "µg/L",
    "tsh": "mIU/L",
    "activity": "GBq",
    "pta": "%",
}
"""Analyte → canonical unit (the unit every stored standardized value is in)."""

ACCEPTED_UNITS: dict[str, dict[str, float]] = {
    "wbc": dict(_CELL_COUNT_UNITS),
    "hemoglobin": {"g/L": 1.0, "g/dL": 10.0},
    "platelets": dict(_CELL_COUNT_UNITS),
    "alt": {"U/L": 1.0, "IU/L": 1.0},
    "ast": {"U/L": 1.0, "IU/L": 1.0},
    "tgab": {"IU/mL": 1.0, "kIU/L": 1.0},
    "tg": {"µg/L": 1.0, "ng/mL": 1.0, "ng/dL": 0.01},
    "tsh": {"mIU/L": 1.0, "µIU/mL": 1.0, "mU/L": 1.0, "µU/mL": 1.0},
    "activity": {"GBq": 1.0, "MBq": 0.001, "mCi": 0.037},
    "pta": {"%": 1.0},
}
"""Analyte → {display spelling of an accepted unit → factor to the canonical unit}.

``canonical = value × factor``. Spellings are matched through :func:`normalise_unit`, so "x10^9/l",
"×10⁹/L" and "X10^9 / L" are the same unit.
"""

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_SUPERSCRIPT_CHARS = frozenset("⁰¹²³⁴⁵⁶⁷⁸⁹")


def normalise_unit(unit: str) -> str:
    """Return the matching key of a unit spelling (lower case, no spaces, µ→u, ×→x, ⁹→^9, then no "^").

    >>> normalise_unit("×10⁹/L") == normalise_unit("x10^9 / l") == "x109/l"
    True
    >>> normalise_unit("µIU/mL") == normalise_unit("uIU/ml")
    True
    """
    out: list[str] = []
    previous_was_superscript = False
    for char in unit.strip():
        if char in _SUPERSCRIPT_CHARS:
            if not previous_was_superscript:
                out.append("^")
            out.append(char.translate(_SUPERSCRIPTS))
            previous_was_superscript = True
            continue
        previous_was_superscript = False
        if char.isspace():
            continue
        if char in "µμ":  # micro sign U+00B5 and Greek mu U+03BC
            out.append("u")
        elif char in "×*":
            out.append("x")
        else:
            out.append(char.lower())
    return "".join(out).replace("^", "")


_LOOKUP: dict[str, dict[str, float]] = {
    analyte: {normalise_unit(spelling): factor for spelling, factor in units.items()}
    for analyte, units in ACCEPTED_UNITS.items()
}


def _decimal(value: float) -> Decimal:
    """Shortest decimal representation of a float (so 0.037 is 0.037, not 0.0369999…)."""
    return Decimal(repr(float(value)))


def convert(analyte: str, value: float, unit: str) -> float:
    """Convert ``value`` given in ``unit`` to the canonical unit of ``analyte`` (``CANONICAL_UNITS``).

    Raises :class:`UnitError` for an unknown analyte, an unaccepted unit (message names analyte, unit and the
    accepted spellings), a non-numeric, non-finite or negative value.

    >>> convert("hemoglobin", 9.5, "g/dL")
    95.0
    >>> convert("wbc", 3500, "/mm3")
    3.5
    >>> convert("activity", 600, "mCi")
    22.2
    """
    key = analyte.strip().lower() if isinstance(analyte, str) else analyte
    if key not in _LOOKUP:
        known = ", ".join(sorted(_LOOKUP))
        raise UnitError(f"Analyte {analyte!r} is not known; use one of: {known}", analyte=str(analyte),
                        field="analyte", value=analyte)
    allowed = tuple(ACCEPTED_UNITS[key])
    if not isinstance(unit, str):
        raise UnitError(
            f"Unit {unit!r} is not accepted for {key}; use one of: {', '.join(allowed)}",
            analyte=key,
            unit=str(unit),
            allowed=allowed,
        )
    factor = _LOOKUP[key].get(normalise_unit(unit))
    if factor is None:
        raise UnitError(
            f"Unit {unit!r} is not accepted for {key}; use one of: {', '.join(allowed)}",
            analyte=key,
            unit=unit,
            allowed=allowed,
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnitError(f"{key} value {value!r} is not a number", analyte=key, unit=unit, allowed=allowed,
                        field="value", value=value)
    if not math.isfinite(value):
        raise UnitError(f"{key} value {value!r} is not a finite number", analyte=key, unit=unit,
                        allowed=allowed, field="value", value=value)
    if value < 0:
        raise UnitError(f"{key} value {value!r} {unit} is negative; it must be ≥ 0", analyte=key, unit=unit,
                        allowed=allowed, field="value", value=value)
    return float(_decimal(value) * _decimal(factor))


def format_number(value: float) -> str:
    """Format a number for a message without trailing zeros: 88.0 → "88", 3.50 → "3.5", 0.2 → "0.2".

    Uses the shortest round-tripping decimal of the float, never scientific notation.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not math.isfinite(value):
        return repr(value)
    text = format(_decimal(value).normalize(), "f")
    return "0" if text == "-0" else text

"""Consistency checks of a plan's structure metrics (pure: used by hand entry, DICOM import and the API).

A TPS printout typed by hand is the usual source of error; these are the relations every cumulative DVH obeys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

MAX_DOSE_GY = 10000.0  # an ¹²⁵I implant's Dmax near a seed can reach thousands of Gy; beyond this is a typing error
LABELS = {
    "volume_cm3": "Volume", "d90_gy": "D90", "d100_gy": "D100", "dmin_gy": "Dmin", "dmean_gy": "Dmean",
    "dmax_gy": "Dmax", "v100_pct": "V100", "v150_pct": "V150", "v200_pct": "V200", "ci": "CI", "ei": "EI",
}
UNITS = {"volume_cm3": " cm³", "v100_pct": "%", "v150_pct": "%", "v200_pct": "%", "ci": "", "ei": ""}


def _show(key: str, value: float) -> str:
    return f"{LABELS[key]} {value:g}{UNITS.get(key, ' Gy')}"


def check_structure_metrics(m: Mapping[str, float | None]) -> dict[str, str]:
    """Return {field: message} for every violated relation (empty when consistent). Missing values are skipped."""
    errors: dict[str, str] = {}

    def value(key: str) -> float | None:
        v = m.get(key)
        return None if v is None else float(v)

    for key in LABELS:
        v = value(key)
        if v is None:
            continue
        if not math.isfinite(v):
            errors[key] = f"{LABELS[key]} {v} is not a number."
        elif key == "volume_cm3" and not (0 < v <= 5000):
            errors[key] = f"{_show(key, v)} must be > 0 and ≤ 5000 cm³."
        elif key.endswith("_pct") and not (0 <= v <= 100):
            errors[key] = f"{_show(key, v)} must be between 0 and 100%."
        elif key.endswith("_gy") and not (0 <= v <= MAX_DOSE_GY):
            errors[key] = f"{_show(key, v)} must be between 0 and {MAX_DOSE_GY:g} Gy."
        elif key == "ci" and not (0 <= v <= 1):
            errors[key] = f"{_show(key, v)} must be between 0 and 1."
        elif key == "ei" and v < 0:
            errors[key] = f"{_show(key, v)} must be ≥ 0."
    if errors:
        return errors

    def ordered(low: str, high: str, why: str) -> None:
        lo, hi = value(low), value(high)
        if lo is not None and hi is not None and lo > hi and low not in errors:
            errors[low] = f"{_show(low, lo)} is above {_show(high, hi)}; {why}"

    ordered("v200_pct", "v150_pct", "V200 ≤ V150 ≤ V100 ≤ 100 on any cumulative DVH.")
    ordered("v150_pct", "v100_pct", "V200 ≤ V150 ≤ V100 ≤ 100 on any cumulative DVH.")
    ordered("d100_gy", "d90_gy", "D100 ≤ D90 (the dose covering all of the volume cannot exceed that covering 90%).")
    ordered("d90_gy", "dmax_gy", "D90 ≤ Dmax.")
    ordered("dmin_gy", "dmean_gy", "Dmin ≤ Dmean ≤ Dmax.")
    ordered("dmean_gy", "dmax_gy", "Dmin ≤ Dmean ≤ Dmax.")
    ordered("dmin_gy", "d90_gy", "Dmin ≤ D90.")
    return errors

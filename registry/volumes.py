"""Lesion volumes from three orthogonal diameters (pure core, no Django).

It lives beside the lesions (``registry.models.Lesion.volume_cm3``, the baseline volume); the follow-up
(``assessment``) uses it for the volumes measured at visits and their change.

The ellipsoid formula V = π/6 · a · b · c is used (a, b, c = the three orthogonal diameters in mm); results are in
cm³ (1 cm³ = 1000 mm³). Volume changes are reported as percentages only: this module deliberately applies **no**
response thresholds — RECIST's −30 % / +20 % are *diameter* thresholds and must not be applied to volumes
(reference §1.10: for a sphere, −30 % in diameter ≈ −65.7 % in volume and +20 % ≈ +72.8 %).
:func:`sphere_volume_change_pct` gives that correspondence for information only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.errors import InputError

MM3_PER_CM3 = 1000.0


class VolumeError(InputError):
    """Invalid volume input; the message names the field, the value and what is allowed."""


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VolumeError(f"{name}: {value!r} is not a number (allowed: a finite number > 0)", field=name, value=value,
                          allowed="a finite number > 0")
    if not math.isfinite(value) or value <= 0:
        raise VolumeError(f"{name}: {value!r} is not allowed (allowed: a finite number > 0)", field=name, value=value,
                          allowed="a finite number > 0")
    return float(value)


def ellipsoid_volume_cm3(a_mm: float, b_mm: float, c_mm: float) -> float:
    """Ellipsoid volume π/6 · a · b · c in cm³ from three orthogonal diameters in mm (each > 0).

    >>> round(ellipsoid_volume_cm3(20, 20, 20), 3)  # sphere of 2 cm diameter
    4.189
    """
    a = _positive(a_mm, "a_mm")
    b = _positive(b_mm, "b_mm")
    c = _positive(c_mm, "c_mm")
    return math.pi / 6.0 * a * b * c / MM3_PER_CM3


@dataclass(frozen=True)
class VolumeChange:
    """Volume at baseline and follow-up (cm³) and the % change vs baseline (negative = shrinkage)."""

    baseline_cm3: float
    current_cm3: float
    change_pct: float
    reason: str


def volume_change_pct(baseline_cm3: float, current_cm3: float) -> float:
    """% change of ``current_cm3`` vs ``baseline_cm3`` (baseline > 0, current ≥ 0: 0 = lesion gone)."""
    base = _positive(baseline_cm3, "baseline_cm3")
    if (
        isinstance(current_cm3, bool)
        or not isinstance(current_cm3, int | float)
        or not math.isfinite(current_cm3)
    ):
        raise VolumeError(f"current_cm3: {current_cm3!r} is not allowed (allowed: a finite number ≥ 0)",
                          field="current_cm3", value=current_cm3, allowed="a finite number ≥ 0")
    if current_cm3 < 0:
        raise VolumeError(f"current_cm3: {current_cm3!r} is negative (allowed: a finite number ≥ 0)",
                          field="current_cm3", value=current_cm3, allowed="a finite number ≥ 0")
    return (float(current_cm3) - base) / base * 100.0


def volume_change(baseline_cm3: float, current_cm3: float) -> VolumeChange:
    """:func:`volume_change_pct` with a one-line reason (no response category: see the module docstring)."""
    pct = volume_change_pct(baseline_cm3, current_cm3)
    reason = (
        f"volume {current_cm3:.2f} cm³ vs baseline {baseline_cm3:.2f} cm³: {pct:+.1f}% "
        "(volume change only; RECIST diameter thresholds are not applied to volumes)"
    )
    return VolumeChange(float(baseline_cm3), float(current_cm3), pct, reason)


def sphere_volume_change_pct(diameter_change_pct: float) -> float:
    """Volume % change of a sphere whose diameter changes by ``diameter_change_pct`` % (> −100).

    Informational (reference §1.10): −30 % diameter → −65.7 % volume; +20 % diameter → +72.8 % volume.
    """
    if isinstance(diameter_change_pct, bool) or not isinstance(diameter_change_pct, int | float):
        raise VolumeError(f"diameter_change_pct: {diameter_change_pct!r} is not a number (allowed: > −100)")
    if not math.isfinite(diameter_change_pct) or diameter_change_pct <= -100:
        raise VolumeError(
            f"diameter_change_pct: {diameter_change_pct!r} is not allowed (allowed: a finite number > −100)"
        )
    return ((1.0 + diameter_change_pct / 100.0) ** 3 - 1.0) * 100.0

"""Tests of the ellipsoid lesion volume helpers (reference §1.10)."""

from __future__ import annotations

import math

import pytest

from registry import volumes
from registry.volumes import (
    VolumeError,
    ellipsoid_volume_cm3,
    sphere_volume_change_pct,
    volume_change,
    volume_change_pct,
)


@pytest.mark.parametrize(
    ("axes_mm", "expected_cm3"),
    [
        ((20, 20, 20), 4.18879),  # sphere of 2 cm: 4/3·π·1³
        ((10, 20, 30), 3.14159),  # π/6 · 6000 mm³ = π cm³
        ((15.5, 12.0, 8.0), 0.77911),
    ],
)
def test_ellipsoid_volume(axes_mm: tuple[float, float, float], expected_cm3: float) -> None:
    assert ellipsoid_volume_cm3(*axes_mm) == pytest.approx(expected_cm3, abs=1e-5)


@pytest.mark.parametrize(
    ("axes", "name"),
    [((0, 10, 10), "a_mm"), ((10, -1, 10), "b_mm"), ((10, 10, math.nan), "c_mm"), ((10, 10, True), "c_mm")],
)
def test_non_positive_axis_names_the_axis(axes: tuple[float, float, float], name: str) -> None:
    with pytest.raises(VolumeError, match=rf"^{name}: "):
        ellipsoid_volume_cm3(*axes)


def test_volume_change() -> None:
    assert volume_change_pct(10.0, 3.5) == pytest.approx(-65.0)
    assert volume_change_pct(2.0, 0) == pytest.approx(-100.0)
    result = volume_change(4.0, 5.0)
    assert result.change_pct == pytest.approx(25.0)
    assert "+25.0%" in result.reason and "not applied to volumes" in result.reason
    with pytest.raises(VolumeError, match="^baseline_cm3: 0 is not allowed"):
        volume_change_pct(0, 1)
    with pytest.raises(VolumeError, match="^current_cm3: -1 is negative"):
        volume_change_pct(1, -1)


@pytest.mark.parametrize(("diameter_pct", "volume_pct"), [(-30, -65.7), (20, 72.8)])
def test_sphere_correspondence_from_reference(diameter_pct: float, volume_pct: float) -> None:
    assert sphere_volume_change_pct(diameter_pct) == pytest.approx(volume_pct, abs=0.05)


def test_no_response_category_is_derived_from_volumes() -> None:
    # §1.10: RECIST diameter thresholds must not be applied to volumes — the module exposes no classifier.
    public = {name for name in dir(volumes) if not name.startswith("_")}
    assert not {n for n in public if "response" in n.lower() or "classif" in n.lower()}
    assert not hasattr(volume_change(1.0, 0.5), "response")

"""Tests for dosimetry.tg43: reference worked numbers (tests/cases/tg43.json) and physics sanity checks."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosimetry import tg43
from dosimetry.sources import get_seed_model
from dosimetry.tg43 import Tg43InputError, Tg43Settings

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "cases" / "tg43.json").read_text(encoding="utf-8")
)
M6711 = get_seed_model("6711")
EXACT = Tg43Settings(use_table=False)


def _point_at(r_cm: float, theta_deg: float) -> list[float]:
    """Point at (r, θ) in the frame of a seed at the origin with axis +z (y-z plane)."""
    t = math.radians(theta_deg)
    return [0.0, r_cm * math.sin(t), r_cm * math.cos(t)]


def _evaluate(case: dict[str, Any]) -> float:
    kind = case["kind"]
    if kind == "beta_rad":
        return float(tg43.line_source_beta_rad(case["r_cm"], case["theta_deg"], case["active_length_cm"]))
    if kind == "geometry_cm2":
        return float(tg43.geometry_function_line_cm2(case["r_cm"], case["theta_deg"], case["active_length_cm"]))
    if kind == "geometry_ratio":
        length = case["active_length_cm"]
        g = tg43.geometry_function_line_cm2(case["r_cm"], case["theta_deg"], length)
        return float(g / tg43.geometry_function_line_cm2(1.0, 90.0, length))
    model = get_seed_model(case["model"]) if "model" in case else None
    if kind == "dose_rate_per_u":
        return float(tg43.dose_rate_per_u_cgy_per_h(case["r_cm"], case["theta_deg"], model, case["formalism"]))
    if kind == "g_point":
        return float(tg43.radial_dose_function_point(case["r_cm"], model))
    if kind == "g_line":
        settings = Tg43Settings(radial_extrapolation=case["extrapolation"])
        return float(tg43.radial_dose_function_line(case["r_cm"], model, settings))
    if kind == "aniso_2d":
        return float(tg43.anisotropy_function_2d(case["r_cm"], case["theta_deg"], model))
    if kind == "aniso_1d":
        return float(tg43.anisotropy_factor_1d(case["r_cm"], model))
    if kind == "u_from_mbq":
        return float(tg43.air_kerma_strength_u_from_apparent_activity_mbq(case["activity_mbq"]))
    if kind == "u_from_mci":
        return float(tg43.air_kerma_strength_u_from_apparent_activity_mci(case["activity_mci"]))
    if kind == "mean_life_h":
        return tg43.mean_life_h(case["half_life_days"])
    if kind == "mean_life_days":
        return tg43.mean_life_days(case["half_life_days"])
    if kind == "seed_dose_rate":
        # through the public many-seed engine (table path), one seed along +z
        axes = [[0.0, 0.0, 1.0]] if case["formalism"] == "line" else None
        rate = tg43.dose_rate_cgy_per_h(
            [[0.0, 0.0, 0.0]], axes, [case["strength_u"]], [_point_at(case["r_cm"], case["theta_deg"])],
            model, case["formalism"],
        )
        return float(rate[0])
    if kind == "total_from_rate":
        return float(tg43.total_dose_cgy_from_initial_rate(case["initial_dose_rate_cgy_per_h"], case["half_life_days"]))
    if kind == "dose_between_hours":
        return float(
            tg43.dose_between_hours_cgy(
                case["initial_dose_rate_cgy_per_h"], case["start_h"], case["end_h"], case["half_life_days"]
            )
        )
    if kind == "engine_total_gy":
        dose = tg43.total_dose_gy(
            [[0.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]], [case["strength_u"]],
            [_point_at(case["r_cm"], case["theta_deg"])], model, "line", half_life_days=case["half_life_days"],
        )
        return float(dose[0])
    raise AssertionError(f"unknown case kind {kind!r}")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_case(case: dict[str, Any]) -> None:
    value = _evaluate(case)
    if "abs_tol" in case:
        assert value == pytest.approx(case["expected"], abs=case["abs_tol"]), case["why"]
    else:
        assert value == pytest.approx(case["expected"], rel=case["rel_tol"]), case["why"]


def test_cases_file_is_well_formed() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(c["why"] and "expected" in c for c in CASES)


# -------------------------------------------------------------------------------------------------------------
# Physics sanity
# -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [tg43.DEFAULT_SETTINGS, EXACT], ids=["table", "exact"])
@pytest.mark.parametrize("strength_u", [0.3, 0.635, 1.0])
def test_reference_point_is_sk_times_lambda(settings: Tg43Settings, strength_u: float) -> None:
    axis = np.array([[0.2, -0.4, 0.9]])
    axis_unit = axis / np.linalg.norm(axis)
    perp = np.cross(axis_unit[0], [1.0, 0.0, 0.0])
    perp /= np.linalg.norm(perp)
    seed = np.array([[3.0, -2.0, 7.5]])
    rate = tg43.dose_rate_cgy_per_h(seed, axis, [strength_u], seed + perp, M6711, "line", settings)
    tol = 1e-12 if not settings.use_table else 1e-5
    assert rate[0] == pytest.approx(strength_u * 0.965, rel=tol)


def test_exact_reference_point_per_unit_is_lambda() -> None:
    assert float(tg43.dose_rate_per_u_cgy_per_h(1.0, 90.0, M6711)) == pytest.approx(0.965, rel=1e-14)


@pytest.mark.parametrize(("settings", "rel"), [(EXACT, 5e-5), (tg43.DEFAULT_SETTINGS, 1e-3)], ids=["exact", "table"])
def test_point_formalism_inverse_square_far_away(settings: Tg43Settings, rel: float) -> None:
    """Exact path to 5e-5; the table (rows uniform in √r, so not on the g_L nodes) within its far-field
    accuracy (≤ 0.06 % beyond 1 cm, measured)."""
    r = np.array([4.0, 5.0, 8.0, 10.0])
    rate = tg43.dose_rate_cgy_per_h([[0, 0, 0]], None, [1.0], np.c_[r, 0 * r, 0 * r], M6711, "point", settings)
    # remove g_L and φ_an: what is left falls as 1/r² up to the line-source term G_L·r² ≈ 1 − L²/(12 r²)
    rest = rate * r**2 / (tg43.radial_dose_function_line(r, M6711) * tg43.anisotropy_factor_1d(r, M6711))
    line_term = 1.0 - 0.3**2 / (12.0 * r**2)
    assert rest / rest[-1] == pytest.approx(line_term / line_term[-1], rel=rel)
    assert rest[-1] == pytest.approx(0.965 / tg43.geometry_function_line_cm2(1.0, 90.0, 0.3), rel=3e-4 + rel)


def test_symmetry_about_transverse_plane() -> None:
    rng = np.random.default_rng(7)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    seed = np.array([1.0, 2.0, 3.0])
    offsets = rng.normal(size=(200, 3)) * 2.0
    z = offsets @ axis
    mirrored = offsets - 2.0 * z[:, None] * axis  # reflect through the plane ⊥ axis through the seed centre
    a = tg43.dose_rate_cgy_per_h(seed[None], axis[None], [1.0], seed + offsets, M6711)
    b = tg43.dose_rate_cgy_per_h(seed[None], axis[None], [1.0], seed + mirrored, M6711)
    assert b == pytest.approx(a, rel=1e-5)
    assert not np.allclose(a, a[::-1])  # the points differ, so symmetry is not trivial


def test_anisotropy_makes_axis_dose_lower_than_transverse() -> None:
    along = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 0, 1]], [1.0], [[0, 0, 2.0], [0, 2.0, 0]], M6711)
    assert along[0] / along[1] == pytest.approx(0.08794 / 0.19747, rel=0.005)


def test_superposition_of_two_seeds() -> None:
    rng = np.random.default_rng(11)
    seeds = np.array([[0.0, 0.0, 0.0], [0.7, -0.3, 0.4]])
    axes = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    strengths = np.array([0.5, 0.8])
    pts = rng.uniform(-3, 3, size=(500, 3))
    both = tg43.dose_rate_cgy_per_h(seeds, axes, strengths, pts, M6711)
    one = tg43.dose_rate_cgy_per_h(seeds[:1], axes[:1], strengths[:1], pts, M6711)
    two = tg43.dose_rate_cgy_per_h(seeds[1:], axes[1:], strengths[1:], pts, M6711)
    assert both == pytest.approx(one + two, rel=1e-5)
    assert np.all(one > 0) and np.all(two > 0)


def test_rotation_invariance() -> None:
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q if np.linalg.det(q) > 0 else -q
    seeds = rng.uniform(-1, 1, size=(6, 3))
    axes = rng.normal(size=(6, 3))
    pts = rng.uniform(-3, 3, size=(300, 3))
    strengths = rng.uniform(0.3, 0.8, size=6)
    a = tg43.dose_rate_cgy_per_h(seeds, axes, strengths, pts, M6711)
    b = tg43.dose_rate_cgy_per_h(seeds @ rot.T, axes @ rot.T, strengths, pts @ rot.T, M6711)
    assert b == pytest.approx(a, rel=1e-4)


def test_axis_is_normalised_and_sign_free() -> None:
    pts = np.array([[0.3, 0.2, 1.1], [0.0, 0.0, -0.8], [1.0, 2.0, 0.5]])
    a = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 1, 1]], [1.0], pts, M6711)
    b = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, -7, -7]], [1.0], pts, M6711)
    assert b == pytest.approx(a, rel=1e-6)


def test_axis_orientation_matters() -> None:
    pts = [[0.0, 0.0, 1.0]]
    along = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 0, 1]], [1.0], pts, M6711)
    across = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[1, 0, 0]], [1.0], pts, M6711)
    assert across[0] == pytest.approx(0.965, rel=1e-5)
    assert along[0] == pytest.approx(0.36799, rel=0.005)


def test_decay_halves_at_one_half_life() -> None:
    assert tg43.decay_factor(59.4, 59.4) == pytest.approx(0.5, rel=1e-14)
    assert tg43.decay_factor(2 * 59.6, 59.6) == pytest.approx(0.25, rel=1e-14)
    ref = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    later = ref + dt.timedelta(days=59.4)
    assert tg43.decayed_strength_u(0.8, ref, later, 59.4) == pytest.approx(0.4, rel=1e-12)
    # back-decay: strength before the calibration date is larger
    assert tg43.decayed_strength_u(0.8, later, ref, 59.4) == pytest.approx(1.6, rel=1e-12)


def test_dose_between_halves_at_half_life_and_sums() -> None:
    d0 = 0.612775
    total = tg43.total_dose_cgy_from_initial_rate(d0, 59.4)
    assert tg43.dose_between_hours_cgy(d0, 0.0, 59.4 * 24, 59.4) == pytest.approx(total / 2, rel=1e-12)
    a = tg43.dose_between_hours_cgy(d0, 0.0, 500.0, 59.4)
    b = tg43.dose_between_hours_cgy(d0, 500.0, math.inf, 59.4)
    assert a + b == pytest.approx(total, rel=1e-12)


def test_one_d_and_two_d_at_reference_point() -> None:
    """At (1 cm, 90°) the 1-D and 2-D forms differ by exactly φ_an(1 cm) (reference §3.4)."""
    pt = [[0.0, 1.0, 0.0]]
    two_d = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 0, 1]], [0.635], pt, M6711, "line")[0]
    one_d = tg43.dose_rate_cgy_per_h([[0, 0, 0]], None, [0.635], pt, M6711, "point")[0]
    assert two_d == pytest.approx(0.612775, rel=1e-5)
    assert one_d == pytest.approx(two_d * 0.944, rel=1e-5)


@pytest.mark.parametrize("r_cm", [1.0, 2.0, 5.0])
def test_phi_an_is_solid_angle_average_of_2d(r_cm: float) -> None:
    """φ_an(r) = ∫Ḋ(r,θ) sinθ dθ / (2 Ḋ(r,θ0)): the consensus F and φ_an tables must agree (to 0.3 %)."""
    theta = np.linspace(0.0, 90.0, 9001)
    rate = tg43.dose_rate_per_u_cgy_per_h(r_cm, theta, M6711)
    w = np.sin(np.radians(theta))
    avg = np.trapezoid(rate * w, theta) / np.trapezoid(w, theta)
    ratio = avg / float(tg43.dose_rate_per_u_cgy_per_h(r_cm, 90.0, M6711))
    assert ratio == pytest.approx(float(tg43.anisotropy_factor_1d(r_cm, M6711)), rel=0.003)


@pytest.mark.parametrize("formalism", ["line", "point"])
def test_table_path_matches_exact_path(formalism: tg43.Formalism) -> None:
    rng = np.random.default_rng(3)
    axis = np.array([0.3, -0.5, 0.8])
    axis /= np.linalg.norm(axis)
    seed = np.array([1.2, -3.4, 5.6])
    d = rng.normal(size=(20000, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    r = np.concatenate([rng.uniform(0.0, 1.0, 10000), rng.uniform(1.0, 15.0, 10000)])
    pts = seed + d * r[:, None]
    z = np.abs(d @ axis) * r
    dist = np.hypot(np.maximum(z - 0.15, 0.0), np.sqrt(np.maximum(r**2 - z**2, 0.0)))
    fast = tg43.dose_rate_cgy_per_h(seed[None], axis[None], [1.0], pts, M6711, formalism)
    exact = tg43.dose_rate_cgy_per_h(seed[None], axis[None], [1.0], pts, M6711, formalism, EXACT)
    far = dist >= 0.05 if formalism == "line" else r >= 0.05
    assert np.max(np.abs(fast[far] / exact[far] - 1.0)) < 0.002
    assert np.all(np.isfinite(fast)) and np.all(fast > 0)


def test_chunking_does_not_change_result() -> None:
    rng = np.random.default_rng(2)
    seeds = rng.uniform(-1, 1, size=(7, 3))
    axes = rng.normal(size=(7, 3))
    pts = rng.uniform(-4, 4, size=(5000, 3))
    a = tg43.dose_rate_cgy_per_h(seeds, axes, 0.5, pts, M6711)
    b = tg43.dose_rate_cgy_per_h(seeds, axes, 0.5, pts, M6711, settings=Tg43Settings(chunk_pairs=1024))
    assert b == pytest.approx(a, rel=1e-6)


def test_grid_matches_points() -> None:
    seeds = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.2]])
    axes = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    x, y, z = np.linspace(-2, 2, 9), np.linspace(-1, 3, 7), np.linspace(-1.5, 1.5, 5)
    grid = tg43.dose_rate_grid_cgy_per_h(seeds, axes, [0.6, 0.4], (x, y, z), M6711)
    pts = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1).reshape(-1, 3)
    flat = tg43.dose_rate_cgy_per_h(seeds, axes, [0.6, 0.4], pts, M6711)
    assert grid.shape == (9, 7, 5)
    assert grid.ravel() == pytest.approx(flat, rel=1e-6)
    assert grid[4, 1, 2] == pytest.approx(flat[(4 * 7 + 1) * 5 + 2], rel=1e-12)


def test_table_points_any_memory_layout_same_numbers() -> None:
    """The table path reads the caller's points in place (no copy): a Fortran-ordered or strided point array
    gives the same numbers, bit for bit, as a C-ordered copy, and the table covers the farthest point whatever
    the column that holds it (the bounding box is taken per column)."""
    rng = np.random.default_rng(12)
    seeds = rng.uniform(-1.5, 1.5, size=(6, 3))
    axes = rng.normal(size=(6, 3))
    wide = rng.uniform(-3.0, 3.0, size=(4000, 6))
    wide[17, 4] = 9.5  # the farthest point, in the y column of the strided view
    strided = wide[:, ::2]  # (P, 3) view with a stride of two columns
    ref = tg43.dose_rate_cgy_per_h(seeds, axes, 0.6, np.ascontiguousarray(strided), M6711)
    for pts in (strided, np.asfortranarray(strided)):
        assert np.array_equal(tg43.dose_rate_cgy_per_h(seeds, axes, 0.6, pts, M6711), ref)
    exact = tg43.dose_rate_cgy_per_h(seeds, axes, 0.6, strided[15:20], M6711, settings=EXACT)
    assert ref[15:20] == pytest.approx(exact, rel=2e-3)


@pytest.mark.parametrize("settings", [tg43.DEFAULT_SETTINGS, EXACT], ids=["table", "exact"])
def test_near_source_is_finite_and_positive(settings: Tg43Settings) -> None:
    pts = np.array(
        [[0, 0, 0], [0, 0, 0.1], [0, 0, 0.15], [0, 0, 0.16], [0, 0.01, 0.0], [0, 0.05, 0.14], [0, 0, -0.19]],
        dtype=float,
    )
    rate = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 0, 1]], [1.0], pts, M6711, "line", settings)
    assert np.all(np.isfinite(rate)) and np.all(rate > 0)
    # everything within 0.04 cm of the active segment is clamped to the dose at 0.04 cm beside the segment
    centre = float(tg43.dose_rate_per_u_cgy_per_h(0.04, 90.0, M6711))
    assert rate[0] == pytest.approx(centre, rel=0.05)
    assert rate[0] < 300.0  # finite cap, about 2.2e2 cGy/h/U at the capsule surface


def test_linear_extrapolation_never_gives_negative_dose() -> None:
    settings = Tg43Settings(radial_extrapolation="linear", use_table=False)
    assert float(tg43.radial_dose_function_line(14.0, M6711, settings)) < 0.0
    rate = tg43.dose_rate_cgy_per_h([[0, 0, 0]], [[0, 0, 1]], [1.0], [[0, 14.0, 0], [0, 11.0, 0]], M6711,
                                    "line", settings)
    assert rate[0] == 0.0 and rate[1] > 0.0


def test_total_dose_uses_model_half_life() -> None:
    pt = [[0.0, 1.0, 0.0]]
    study = get_seed_model("study-4.5ti")
    d_6711 = tg43.total_dose_gy([[0, 0, 0]], [[0, 0, 1]], [0.635], pt, M6711)[0]
    d_study = tg43.total_dose_gy([[0, 0, 0]], [[0, 0, 1]], [0.635], pt, study)[0]
    assert d_6711 == pytest.approx(12.603, rel=1e-4)
    assert d_study / d_6711 == pytest.approx(59.6 / 59.4, rel=1e-9)
    overridden = tg43.total_dose_gy([[0, 0, 0]], [[0, 0, 1]], [0.635], pt, study, half_life_days=59.4)[0]
    assert overridden == pytest.approx(d_6711, rel=1e-9)


def test_activity_round_trip() -> None:
    mbq = np.array([14.8, 18.5, 29.6])
    su = tg43.air_kerma_strength_u_from_apparent_activity_mbq(mbq)
    assert su == pytest.approx([0.50800, 0.63500, 1.01600], rel=1e-4)
    assert tg43.apparent_activity_mbq_from_air_kerma_strength_u(su) == pytest.approx(mbq, rel=1e-14)


def test_dose_between_datetimes() -> None:
    implant = dt.datetime(2026, 3, 1, 9, 0)
    d0 = 0.612775
    got = tg43.dose_between_cgy(d0, implant, implant, implant + dt.timedelta(days=30), 59.4)
    assert got == pytest.approx(372.25, rel=0.005)
    assert tg43.dose_between_cgy(d0, implant, implant, None, 59.4) == pytest.approx(1260.30, rel=0.005)
    same = implant + dt.timedelta(days=10)
    assert tg43.dose_between_cgy(d0, implant, same, same, 59.4) == 0.0  # end == start is allowed, zero dose


# -------------------------------------------------------------------------------------------------------------
# Bad input: clear errors that name the field
# -------------------------------------------------------------------------------------------------------------
def test_zero_length_axis_is_rejected() -> None:
    with pytest.raises(Tg43InputError, match=r"seed_axes\[1\].*zero length"):
        tg43.dose_rate_cgy_per_h([[0, 0, 0], [1, 0, 0]], [[0, 0, 1], [0, 0, 0]], [1, 1], [[0, 1, 0]], M6711)


def test_missing_axes_for_line_formalism() -> None:
    with pytest.raises(Tg43InputError, match="seed_axes is None.*formalism='point'"):
        tg43.dose_rate_cgy_per_h([[0, 0, 0]], None, [1.0], [[0, 1, 0]], M6711, "line")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"strengths_u": [1.0, 2.0]}, r"strengths_u must have shape \(1,\)"),
        ({"strengths_u": [-0.1]}, r"strengths_u must be ≥ 0"),
        ({"points_cm": [[0, 1]]}, r"points_cm must have shape \(N, 3\)"),
        ({"points_cm": [[0, np.nan, 1]]}, r"points_cm must be finite"),
        ({"seed_axes": [[0, 0, 1], [0, 1, 0]]}, r"seed_axes must have shape \(1, 3\)"),
        ({"formalism": "2d"}, r"formalism must be 'line'.*got '2d'"),
    ],
)
def test_bad_engine_input(kwargs: dict[str, Any], pattern: str) -> None:
    args: dict[str, Any] = {
        "seed_positions_cm": [[0, 0, 0]], "seed_axes": [[0, 0, 1]], "strengths_u": [1.0],
        "points_cm": [[0, 1, 0]], "model": M6711, "formalism": "line",
    }
    args.update(kwargs)
    with pytest.raises(Tg43InputError, match=pattern):
        tg43.dose_rate_cgy_per_h(**args)


def test_bad_time_input() -> None:
    implant = dt.datetime(2026, 3, 1, 9, 0)
    with pytest.raises(Tg43InputError, match="start_at .* must not be before implant_at"):
        tg43.dose_between_cgy(1.0, implant, implant - dt.timedelta(seconds=1), None, 59.4)
    with pytest.raises(Tg43InputError, match="end_at .* must not be before start_at"):
        tg43.dose_between_cgy(1.0, implant, implant + dt.timedelta(days=2), implant + dt.timedelta(days=1), 59.4)
    with pytest.raises(Tg43InputError, match="both be timezone-aware or both naive"):
        tg43.dose_between_cgy(1.0, implant, implant.replace(tzinfo=dt.UTC), None, 59.4)
    with pytest.raises(Tg43InputError, match="half_life_days must be a finite number > 0, got 0"):
        tg43.mean_life_h(0)
    with pytest.raises(Tg43InputError, match="end_h must be ≥ start_h"):
        tg43.dose_between_hours_cgy(1.0, 10.0, 5.0, 59.4)
    with pytest.raises(Tg43InputError, match="activity_mbq must be ≥ 0"):
        tg43.air_kerma_strength_u_from_apparent_activity_mbq(-1.0)


def test_bad_settings() -> None:
    with pytest.raises(Tg43InputError, match="radial_extrapolation must be 'log-linear' or 'linear', got 'cubic'"):
        Tg43Settings(radial_extrapolation="cubic")  # type: ignore[arg-type]
    with pytest.raises(Tg43InputError, match="min_distance_to_source_cm must be a finite number > 0"):
        Tg43Settings(min_distance_to_source_cm=0.0)

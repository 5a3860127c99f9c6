"""Tests for dosimetry.dvh: analytic spheres (reference §7), exact geometry, boundaries and errors."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dosimetry import dvh as D
from tests.dosimetry import phantoms as P

CASES = json.loads((Path(__file__).parent.parent / "cases" / "dvh.json").read_text(encoding="utf-8"))
SPHERES = [c for c in CASES if c["kind"] == "analytic_sphere"]
HI_CASES = [c for c in CASES if c["kind"] == "hi"]
CONFORMITY_CASES = [c for c in CASES if c["kind"] == "conformity"]


@functools.cache
def sphere_grid(offset_cm: float, extra_x_cm: float) -> D.DoseGrid:
    return P.point_source_grid((offset_cm, 0.0, 0.0), extra_x_cm=extra_x_cm)


@functools.cache
def sphere_dvh(offset_cm: float, extra_x_cm: float) -> D.DVH:
    return D.dvh(P.sphere_structure(), sphere_grid(offset_cm, extra_x_cm))


def rel(value: float, expected: float) -> float:
    return abs(value / expected - 1.0)


# --- Analytic spheres (§7) -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SPHERES, ids=[c["id"] for c in SPHERES])
def test_sphere_summary_matches_closed_form(case: dict) -> None:
    grid = sphere_grid(case["source_offset_cm"], case["extra_x_cm"])
    s = D.summary(P.sphere_structure(), grid, case["rx_gy"])
    exp, tol = case["expected"], case["tolerance"]
    for key in ("volume_cm3", "d90_gy", "d100_gy", "dmean_gy"):
        if key in exp:
            assert rel(s[key], exp[key]) <= tol["rel"][key], (key, s[key], exp[key])
    for pct in (100, 150, 200):
        assert s[f"v{pct}_pct"] / 100 == pytest.approx(exp[f"v{pct}_frac"], abs=tol["abs"]["v_frac"]), pct
    for key in ("hi", "ci", "ei"):
        if key in exp:
            assert s[key] == pytest.approx(exp[key], abs=tol["abs"][key]), key


@pytest.mark.parametrize("case", SPHERES, ids=[c["id"] for c in SPHERES])
def test_sphere_dose_and_volume_points(case: dict) -> None:
    h = sphere_dvh(case["source_offset_cm"], case["extra_x_cm"])
    tol = case["tolerance"]
    for pct, dose in case["dose_at_pct"].items():
        assert rel(D.dose_at_volume_pct(h, float(pct)), dose) <= tol["rel"]["d_at_pct"], pct
    for dose, frac in case["volume_frac_at_dose_gy"].items():
        assert D.volume_at_dose_gy(h, float(dose)) / h.volume_cm3 == pytest.approx(frac, abs=tol["abs"]["v_frac"])


@pytest.mark.parametrize("case", [c for c in SPHERES if "v_ref_cm3" in c["expected"]], ids=lambda c: c["id"])
def test_prescription_isodose_volume_of_point_source(case: dict) -> None:
    grid = sphere_grid(case["source_offset_cm"], case["extra_x_cm"])
    v_ref = D.prescription_isodose_volume_cm3(grid, case["rx_gy"])
    assert rel(v_ref, case["expected"]["v_ref_cm3"]) <= case["tolerance"]["rel"]["v_ref_cm3"]


@pytest.mark.parametrize("offset_cm", [0.0, 0.5, 2.0])
def test_sphere_d_x_closed_form_at_many_fractions(offset_cm: float) -> None:
    """The phantom's root-finder closed form, checked against the whole DVH, not just tabulated points."""
    extra = {0.0: 0.0, 0.5: 0.6, 2.0: 2.0}[offset_cm]
    h = sphere_dvh(offset_cm, extra)
    for x in (0.2, 0.4, 0.6, 0.8, 0.9, 0.95):
        assert rel(D.dose_at_volume_pct(h, 100 * x), P.dose_at_fraction_gy(x, offset_cm)) <= 0.01, x


def test_mean_dose_with_source_inside_is_limited_by_the_singular_voxels() -> None:
    """Closed form 250 Gy (§7.1). Voxel sampling of r⁻² next to the source undercounts: −4 % at 1 mm."""
    h = sphere_dvh(0.0, 0.0)
    assert 0.93 * 250.0 <= h.dmean_gy < 250.0


def test_voxel_in_plane_dose_gives_low_d100_but_same_volume() -> None:
    """VOXEL mode gives boundary voxels their centre dose, lying outside the sphere: D100 low (§7.3)."""
    grid = sphere_grid(0.0, 0.0)
    s = P.sphere_structure()
    voxel = D.dvh(s, grid, settings=D.SamplingSettings(in_plane_dose="voxel"))
    bilinear = D.dvh(s, grid, settings=D.SamplingSettings(in_plane_dose="bilinear"))
    assert voxel.volume_cm3 == pytest.approx(bilinear.volume_cm3, rel=1e-9)
    assert D.dose_at_volume_pct(voxel, 100) < 0.95 * 83.3333
    assert rel(D.dose_at_volume_pct(bilinear, 100), 83.3333) < 0.01


def test_auto_mode_switches_to_edge_bilinear_for_large_boxes() -> None:
    grid = sphere_grid(0.0, 0.0)
    s = P.sphere_structure()
    small = D.dvh(s, grid, settings=D.SamplingSettings(max_bilinear_subpoints=10))
    edge = D.dvh(s, grid, settings=D.SamplingSettings(in_plane_dose="edge_bilinear"))
    full = D.dvh(s, grid)
    assert small.dmean_gy == edge.dmean_gy
    assert full.dmean_gy != edge.dmean_gy
    assert rel(D.dose_at_volume_pct(edge, 90), 89.3972) < 0.02


# --- Exact geometry ------------------------------------------------------------------------------------------


def _linear_grid(n: int = 12, h: float = 0.1) -> D.DoseGrid:
    c = (np.arange(n) + 0.5) * h - n * h / 2  # −0.55 … 0.55
    zz, yy, xx = np.meshgrid(c, c, c, indexing="ij")
    dose = 10.0 + 5.0 * zz + 2.0 * xx + 0 * yy
    return D.DoseGrid(dose_gy=dose, x_cm=c, y_cm=c, z_cm=c)


WHOLE = D.SamplingSettings(end_caps="whole")


def test_voxel_aligned_cube_gives_exact_volume_and_binary_mask_with_whole_end_slabs() -> None:
    grid = _linear_grid()
    planes = [-0.25, -0.15, -0.05, 0.05, 0.15]  # 5 dose frames
    box = P.box_structure((-0.3, 0.3), (-0.2, 0.4), planes)
    mask = D.structure_mask(box, grid, settings=WHOLE)
    assert set(np.unique(mask).tolist()) == {0.0, 1.0}
    assert mask.sum() == 6 * 6 * 5
    expected = 0.6 * 0.6 * 0.5
    assert D.dvh(box, grid, settings=WHOLE).volume_cm3 == pytest.approx(expected, rel=1e-12)
    assert D.dvh(mask, grid).volume_cm3 == pytest.approx(expected, rel=1e-12)


def test_voxel_aligned_cube_with_half_end_slabs_by_default() -> None:
    """Default HALF: 5 planes 1 mm apart enclose 4 mm of height; the end voxels are half occupied."""
    grid = _linear_grid()
    planes = [-0.25, -0.15, -0.05, 0.05, 0.15]
    box = P.box_structure((-0.3, 0.3), (-0.2, 0.4), planes)
    mask = D.structure_mask(box, grid)
    assert set(np.unique(mask).tolist()) == {0.0, 0.5, 1.0}
    assert mask[3].max() == mask[7].max() == 0.5  # the voxels of the first and last planes (z −0.25, 0.15)
    assert mask.sum() == 6 * 6 * 4
    assert D.dvh(box, grid).volume_cm3 == pytest.approx(0.6 * 0.6 * 0.4, rel=1e-12)
    assert D.dvh(mask, grid).volume_cm3 == pytest.approx(0.6 * 0.6 * 0.4, rel=1e-12)


def test_half_voxel_offset_cube_gives_half_occupancy_at_edges() -> None:
    grid = _linear_grid()
    box = P.box_structure((-0.25, 0.25), (-0.3, 0.3), [-0.05, 0.05])
    row = D.structure_mask(box, grid, settings=WHOLE)[6, 6, :]  # plane z = 0.05, y = 0.05
    assert row.tolist() == [0, 0, 0, 0.5, 1, 1, 1, 1, 0.5, 0, 0, 0]
    assert D.dvh(box, grid, settings=WHOLE).volume_cm3 == pytest.approx(0.5 * 0.6 * 0.2, rel=1e-12)
    # half end slabs: two planes 1 mm apart enclose 1 mm, half of each voxel layer
    row = D.structure_mask(box, grid)[6, 6, :]
    assert row.tolist() == [0, 0, 0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.25, 0, 0, 0]
    assert D.dvh(box, grid).volume_cm3 == pytest.approx(0.5 * 0.6 * 0.1, rel=1e-12)


def test_end_caps_half_removes_half_a_slab_at_each_end() -> None:
    grid = _linear_grid()
    planes = [-0.25, -0.15, -0.05, 0.05, 0.15]
    box = P.box_structure((-0.3, 0.3), (-0.2, 0.4), planes)
    full = D.dvh(box, grid, settings=D.SamplingSettings(end_caps="whole")).volume_cm3
    half = D.dvh(box, grid, settings=D.SamplingSettings(end_caps="half")).volume_cm3
    assert full == pytest.approx(0.36 * 0.5)
    assert half == pytest.approx(0.36 * 0.4)
    assert D.structure_mask(box, grid, end_caps="half").sum() == pytest.approx(36 * 4)
    assert D.structure_mask(box, grid, end_caps="whole").sum() == pytest.approx(36 * 5)


def test_end_caps_none_is_the_former_name_of_whole() -> None:
    assert D.SamplingSettings(end_caps="none").end_caps is D.EndCaps.WHOLE
    assert D.SamplingSettings().end_caps is D.EndCaps.HALF


def test_single_plane_structure_keeps_its_whole_slab_with_half_end_caps() -> None:
    one = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [0.05])
    for caps in ("half", "whole"):
        h = D.dvh(one, _linear_grid(), settings=D.SamplingSettings(thickness_cm=0.1, end_caps=caps))
        assert h.volume_cm3 == pytest.approx(0.04 * 0.1)


def test_nested_contour_is_a_hole_and_separate_contour_an_island() -> None:
    grid = _linear_grid()
    outer = np.array([[-0.4, -0.4], [0.4, -0.4], [0.4, 0.4], [-0.4, 0.4]])
    inner = np.array([[-0.2, -0.2], [0.2, -0.2], [0.2, 0.2], [-0.2, 0.2]])
    holed = D.Structure("ring", [(z, c) for z in (-0.05, 0.05) for c in (outer, inner)])
    assert D.dvh(holed, grid).volume_cm3 == pytest.approx((0.64 - 0.16) * 0.1, rel=1e-12)  # half end slabs
    a = np.array([[-0.5, -0.5], [-0.3, -0.5], [-0.3, -0.3], [-0.5, -0.3]])
    b = a + 0.7
    islands = D.Structure("islands", [(z, c) for z in (-0.05, 0.05) for c in (a, b)])
    assert D.dvh(islands, grid).volume_cm3 == pytest.approx(2 * 0.04 * 0.1, rel=1e-12)


def test_contour_plane_between_dose_frames_interpolates_dose_linearly() -> None:
    grid = _linear_grid()  # dose = 10 + 5 z + 2 x, frames at ±0.05, ±0.15 …
    box = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [0.0, 0.1])  # planes midway between frames
    h = D.dvh(box, grid, settings=WHOLE)  # whole slabs: the dose of each slab is taken at its plane
    assert h.dmean_gy == pytest.approx(10.0 + 5.0 * 0.05, abs=1e-9)  # mean z 0.05, mean x 0
    # Dose at each plane: 10.0 (z = 0) and 10.5 (z = 0.1), ± 2·0.1 Gy across x.
    assert h.dmin_gy >= 10.0 - 0.2 - 1e-9
    nearest = D.dvh(box, grid, settings=D.SamplingSettings(dose_plane="nearest", end_caps="whole"))
    assert abs(nearest.dmean_gy - 10.25) == pytest.approx(0.25, abs=1e-9)  # both planes snap one way
    # half end slabs [0, 0.05] and [0.05, 0.1]: their dose is taken at their centres, z = 0.025 and 0.075,
    # both within the 0.5 mm match tolerance of frame 0.05; lowest sub-point x = −0.0875
    half = D.dvh(box, grid)
    assert half.dmean_gy == pytest.approx(10.25, abs=1e-9)
    assert half.dmin_gy == pytest.approx(10.0 + 5.0 * 0.05 - 2.0 * 0.0875, abs=1e-9)


def test_contour_plane_within_match_tolerance_uses_the_frame() -> None:
    grid = _linear_grid()
    box = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [0.03, 0.13])  # 0.02 cm from frames 0.05, 0.15
    snapped = D.dvh(box, grid)
    assert snapped.dmean_gy == pytest.approx(10.0 + 5.0 * 0.10, abs=1e-9)
    exact = D.dvh(box, grid, settings=D.SamplingSettings(plane_match_tolerance_cm=0.0))
    assert exact.dmean_gy == pytest.approx(10.0 + 5.0 * 0.08, abs=1e-9)


def test_mask_and_structure_paths_agree_in_voxel_mode_on_dose_frames() -> None:
    grid = sphere_grid(0.5, 0.6)
    s = P.sphere_structure()
    cfg = D.SamplingSettings(in_plane_dose="voxel")
    from_structure = D.dvh(s, grid, settings=cfg)
    from_mask = D.dvh(D.structure_mask(s, grid), grid)
    assert from_mask.volume_cm3 == pytest.approx(from_structure.volume_cm3, rel=1e-6)
    assert from_mask.dmean_gy == pytest.approx(from_structure.dmean_gy, rel=1e-5)
    assert D.dose_at_volume_pct(from_mask, 90) == pytest.approx(D.dose_at_volume_pct(from_structure, 90), rel=1e-5)


# --- Uniform field and threshold boundaries ------------------------------------------------------------------


def test_uniform_field_dx_equals_the_dose() -> None:
    grid = P.uniform_grid(145.0)
    h = D.dvh(P.sphere_structure(0.4), grid)
    for pct in (0, 50, 90, 98, 100):
        assert D.dose_at_volume_pct(h, pct) == 145.0
    assert h.dmin_gy == h.dmax_gy == 145.0
    assert h.dmean_gy == pytest.approx(145.0, rel=1e-12)


@pytest.mark.parametrize(
    ("rx_gy", "v100_pct"),
    [(145.0, 100.0), (144.999, 100.0), (145.001, 0.0), (72.5, 100.0)],
    ids=["rx_equals_dose_inclusive", "rx_just_below", "rx_just_above", "half"],
)
def test_uniform_field_v100_boundary_is_inclusive(rx_gy: float, v100_pct: float) -> None:
    h = D.dvh(P.sphere_structure(0.4), P.uniform_grid(145.0))
    assert D.volume_at_dose_pct_of_rx(h, 100, rx_gy).volume_pct == v100_pct


def test_uniform_field_v200_at_half_dose_is_inclusive_and_cm3_matches_pct() -> None:
    h = D.dvh(P.sphere_structure(0.4), P.uniform_grid(145.0))
    v = D.volume_at_dose_pct_of_rx(h, 200, 72.5)
    assert v.dose_gy == 145.0
    assert v.volume_pct == 100.0
    assert v.volume_cm3 == pytest.approx(h.volume_cm3)


def test_two_dose_levels_give_step_dvh_and_exact_dx() -> None:
    """Half the box at 100 Gy, half at 200 Gy: D50 = 200, D50.1 = 100, V(200) = 50 %."""
    grid = _linear_grid()
    dose = np.where(grid.x_cm[None, None, :] < 0, 100.0, 200.0) * np.ones(grid.shape)
    g2 = D.DoseGrid(dose_gy=dose, x_cm=grid.x_cm, y_cm=grid.y_cm, z_cm=grid.z_cm)
    box = P.box_structure((-0.3, 0.3), (-0.3, 0.3), [-0.05, 0.05])
    h = D.dvh(box, g2, settings=D.SamplingSettings(in_plane_dose="voxel"))  # bilinear would blur the step
    assert D.dose_at_volume_pct(h, 50) == 200.0
    assert D.dose_at_volume_pct(h, 50.1) == 100.0
    assert D.volume_at_dose_pct_of_rx(h, 100, 200.0).volume_pct == pytest.approx(50.0)
    assert h.dmean_gy == pytest.approx(150.0)
    # the binned curve counts a dose lying on a bin edge at that edge (≥, inclusive)
    bins, cum = h.dose_bins_gy, h.cumulative_cm3
    assert bins[10000] == 100.0 and bins[20000] == 200.0 == bins[-1]
    assert cum[10000] == pytest.approx(h.volume_cm3) and cum[10001] == pytest.approx(h.volume_cm3 / 2)
    assert cum[20000] == pytest.approx(h.volume_cm3 / 2)
    assert h.differential_cm3[10000] == pytest.approx(h.volume_cm3 / 2)


# --- DVH curves ----------------------------------------------------------------------------------------------


def test_cumulative_dvh_is_monotone_and_consistent() -> None:
    h = sphere_dvh(0.5, 0.6)
    cum = h.cumulative_cm3
    assert np.all(np.diff(cum) <= 1e-12)
    assert cum[0] == pytest.approx(h.volume_cm3)
    assert h.cumulative_pct[0] == pytest.approx(100.0)
    assert h.differential_cm3.sum() == pytest.approx(h.volume_cm3)
    assert np.all(h.differential_cm3 >= -1e-12)
    bins = h.dose_bins_gy
    assert bins[1] - bins[0] == pytest.approx(0.01)
    assert bins[-1] <= h.dmax_gy < bins[-1] + 0.01
    i = int(np.searchsorted(bins, 100.0))
    assert cum[i] == pytest.approx(D.volume_at_dose_gy(h, bins[i]))


# --- Indices -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", HI_CASES, ids=[c["id"] for c in HI_CASES])
def test_homogeneity_index(case: dict) -> None:
    assert D.homogeneity_index(case["v100"], case["v150"]) == pytest.approx(case["expected"])


@pytest.mark.parametrize("case", CONFORMITY_CASES, ids=[c["id"] for c in CONFORMITY_CASES])
def test_conformation_number_nci_and_external_index(case: dict) -> None:
    args = (case["v_t_cm3"], case["v_t_ref_cm3"], case["v_ref_cm3"])
    assert D.conformation_number(*args) == pytest.approx(case["expected_cn"])
    assert D.external_index(*args) == pytest.approx(case["expected_ei"])
    if case["expected_nci"] is None:
        with pytest.raises(D.DVHError, match="v_t_ref_cm3"):
            D.new_conformity_index(*args)
    else:
        assert D.new_conformity_index(*args) == pytest.approx(case["expected_nci"])
        assert D.new_conformity_index(*args) * D.conformation_number(*args) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("v100", "v150", "field"),
    [(0.0, 0.0, "v100"), (0.5, 0.6, "v150"), (-0.1, 0.0, "v100"), (0.5, math.nan, "v150")],
)
def test_homogeneity_index_rejects_bad_input(v100: float, v150: float, field: str) -> None:
    with pytest.raises(D.DVHError, match=field):
        D.homogeneity_index(v100, v150)


@pytest.mark.parametrize(
    ("v_t", "v_t_ref", "v_ref", "field"),
    [(0.0, 0.0, 1.0, "v_t_cm3"), (5.0, 6.0, 7.0, "v_t_ref_cm3"), (5.0, 4.0, 3.0, "v_ref_cm3")],
)
def test_conformity_rejects_inconsistent_volumes(v_t: float, v_t_ref: float, v_ref: float, field: str) -> None:
    with pytest.raises(D.DVHError, match=field):
        D.conformation_number(v_t, v_t_ref, v_ref)


def test_matched_peripheral_dose_of_point_source() -> None:
    """Ellipsoid 2 × 2 × 2 cm = ball of radius 1 cm, enclosed by the k/r² isodose of k = 120 Gy."""
    mpd = D.matched_peripheral_dose_gy(sphere_grid(0.0, 0.0), (2.0, 2.0, 2.0))
    assert rel(mpd, 120.0) < 0.02


def test_summary_keys() -> None:
    grid = sphere_grid(0.0, 0.0)
    s = D.summary(P.sphere_structure(), grid, 100.0)
    base = {"name", "volume_cm3", "d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy", "v100_pct", "v150_pct",
            "v200_pct", "hi"}
    assert set(s) == base | {"ci", "ei"}
    assert set(D.summary(P.sphere_structure(), grid, 100.0, include_conformity=False)) == base
    assert s["name"] == "GTV"


def test_structure_extent() -> None:
    box = P.box_structure((-0.3, 0.3), (-0.2, 0.4), [-0.25, -0.15, 0.15])
    assert D.structure_extent_cm(box) == pytest.approx((0.6, 0.6, 0.4))


# --- Errors --------------------------------------------------------------------------------------------------


def test_empty_contour_list_names_the_structure() -> None:
    with pytest.raises(D.DVHError, match="'PTV_empty'.*contours is empty"):
        D.dvh(D.Structure("PTV_empty", []), _linear_grid())


def test_contour_outside_grid_in_plane_names_structure_and_extent() -> None:
    far = P.box_structure((1.0, 1.2), (0.0, 0.2), [-0.05, 0.05], name="node_7")
    with pytest.raises(D.ContourOutsideGridError, match=r"'node_7'.*contour x in \[1, 1.2\]"):
        D.dvh(far, _linear_grid())


def test_contour_plane_outside_grid_z_raises_and_clip_mode_drops_it() -> None:
    grid = _linear_grid()
    box = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [0.45, 0.55, 0.65])
    with pytest.raises(D.ContourOutsideGridError, match="z = 0.65 cm lies outside"):
        D.structure_mask(box, grid)
    clipped = D.dvh(box, grid, settings=D.SamplingSettings(require_inside_grid=False))
    # plane 0.65 dropped; 0.45 is the structure's first plane (half slab 0.45–0.5), 0.55 not its last (0.5–0.6)
    assert clipped.volume_cm3 == pytest.approx(0.04 * 0.15)
    whole = D.dvh(box, grid, settings=D.SamplingSettings(require_inside_grid=False, end_caps="whole"))
    assert whole.volume_cm3 == pytest.approx(0.04 * 0.2)  # slabs 0.4–0.6 kept


def test_single_plane_structure_asks_for_thickness() -> None:
    one = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [0.05], name="seed_ring")
    with pytest.raises(D.DVHError, match="'seed_ring'.*thickness_cm"):
        D.dvh(one, _linear_grid())
    h = D.dvh(one, _linear_grid(), settings=D.SamplingSettings(thickness_cm=0.1))
    assert h.volume_cm3 == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"supersampling": 0}, "supersampling"),
        ({"end_caps": "round"}, "end_caps"),
        ({"dose_plane": "cubic"}, "dose_plane"),
        ({"thickness_cm": -1.0}, "thickness_cm"),
        ({"segments_between_planes": -1}, "segments_between_planes"),
    ],
)
def test_settings_validation_names_field(kwargs: dict, field: str) -> None:
    with pytest.raises(D.DVHError, match=field):
        D.SamplingSettings(**kwargs)


def test_conflicting_mask_arguments_are_rejected() -> None:
    box = P.box_structure((-0.1, 0.1), (-0.1, 0.1), [-0.05, 0.05])
    with pytest.raises(D.DVHError, match="supersampling=2"):
        D.structure_mask(box, _linear_grid(), supersampling=2, settings=D.SamplingSettings(supersampling=8))


def test_dose_grid_validation() -> None:
    c = np.array([0.0, 0.1, 0.2])
    with pytest.raises(D.DVHError, match="dose_gy: shape"):
        D.DoseGrid(dose_gy=np.zeros((3, 3, 2)), x_cm=c, y_cm=c, z_cm=c)
    with pytest.raises(D.DVHError, match="z_cm: must be strictly increasing"):
        D.DoseGrid(dose_gy=np.zeros((3, 3, 3)), x_cm=c, y_cm=c, z_cm=c[::-1])
    with pytest.raises(D.DVHError, match="negative"):
        D.DoseGrid(dose_gy=-np.ones((3, 3, 3)), x_cm=c, y_cm=c, z_cm=c)


def test_dose_grid_ascending_flips_decreasing_axes_with_the_dose() -> None:
    c = np.array([0.0, 0.1, 0.2])
    dose = np.arange(27, dtype=float).reshape(3, 3, 3)
    g = D.DoseGrid.ascending(dose, c, c, c[::-1])
    assert g.z_cm.tolist() == [0.0, 0.1, 0.2]
    assert g.dose_gy[0, 0, 0] == dose[2, 0, 0]


def test_metric_argument_validation() -> None:
    h = sphere_dvh(0.0, 0.0)
    with pytest.raises(D.DVHError, match="pct=101"):
        D.dose_at_volume_pct(h, 101)
    with pytest.raises(D.DVHError, match="rx_gy=0"):
        D.volume_at_dose_pct_of_rx(h, 100, 0)
    with pytest.raises(D.DVHError, match="bin_width_gy"):
        D.dvh(P.sphere_structure(), sphere_grid(0.0, 0.0), bin_width_gy=0)


# --- Protocol: end caps ---------------------------------------------------------------------------------------


def test_protocol_sampling_settings_carry_supersampling_and_end_caps() -> None:
    from common.errors import InputError
    from dosimetry.protocol import DosimetrySettings

    assert DosimetrySettings().sampling_settings() == D.SamplingSettings()  # defaults: 4 sub-points, half caps
    box = P.box_structure((-0.3, 0.3), (-0.2, 0.4), [-0.25, -0.15, -0.05, 0.05, 0.15])
    cfg = DosimetrySettings.from_protocol({"dvh_end_caps": "whole", "dvh_supersampling": 2}).sampling_settings(
        require_inside_grid=False)
    assert (cfg.end_caps, cfg.supersampling, cfg.require_inside_grid) == (D.EndCaps.WHOLE, 2, False)
    assert D.dvh(box, _linear_grid(), settings=cfg).volume_cm3 == pytest.approx(0.36 * 0.5)
    with pytest.raises(InputError, match=r"dvh_end_caps: got 'round'; allowed: 'half' or 'whole'"):
        DosimetrySettings(dvh_end_caps="round")


# --- Property: the vectorised engine against a slow point-by-point reference -----------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402


def _reference_samples(structure: D.Structure, grid: D.DoseGrid, s: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Point by point, from the definitions: matplotlib's even-odd point test on every sub-point, half end slabs,
    dose interpolated between frames (a frame within 0.5 mm is used as it is), bilinear in-plane dose clamped at
    the outer voxel centres, weights = sub-area × slab thickness."""
    planes = structure.planes()
    zs = np.array([z for z, _ in planes])
    t = float(np.min(np.diff(zs)))
    xe, ye, zg = grid.x_edges_cm, grid.y_edges_cm, grid.z_cm
    doses, weights = [], []
    for p, (z, group) in enumerate(planes):
        lo = z if p == 0 else z - t / 2
        hi = z if p == len(planes) - 1 else z + t / 2
        zc, thick = (lo + hi) / 2, hi - lo
        k = int(np.argmin(np.abs(zg - zc)))
        if abs(zg[k] - zc) < 0.05 - 1e-7:
            plane = grid.dose_gy[k].astype(np.float64)
        else:
            kb = int(np.clip(np.searchsorted(zg, zc, side="right"), 1, zg.size - 1))
            w = float(np.clip((zc - zg[kb - 1]) / (zg[kb] - zg[kb - 1]), 0.0, 1.0))
            plane = (1 - w) * grid.dose_gy[kb - 1] + w * grid.dose_gy[kb]

        def bilinear(y: float, x: float, plane: np.ndarray = plane) -> float:
            fy = np.interp(y, grid.y_cm, np.arange(grid.y_cm.size))
            fx = np.interp(x, grid.x_cm, np.arange(grid.x_cm.size))
            j, i = min(int(fy), grid.y_cm.size - 2), min(int(fx), grid.x_cm.size - 2)
            ty, tx = fy - j, fx - i
            return float((1 - ty) * ((1 - tx) * plane[j, i] + tx * plane[j, i + 1])
                         + ty * ((1 - tx) * plane[j + 1, i] + tx * plane[j + 1, i + 1]))

        paths = [MplPath(pts) for pts in group]
        for j in range(grid.y_cm.size):
            for i in range(grid.x_cm.size):
                sub_y = ye[j] + (ye[j + 1] - ye[j]) * (np.arange(s) + 0.5) / s
                sub_x = xe[i] + (xe[i + 1] - xe[i]) * (np.arange(s) + 0.5) / s
                yy, xx = np.meshgrid(sub_y, sub_x, indexing="ij")
                pts = np.column_stack([xx.ravel(), yy.ravel()])
                inside = np.zeros(len(pts), dtype=bool)
                for path in paths:
                    inside ^= path.contains_points(pts)
                n = int(inside.sum())
                area = (ye[j + 1] - ye[j]) * (xe[i + 1] - xe[i])
                if n == 0:
                    continue
                if mode == "voxel" or (mode == "edge_bilinear" and n == s * s):
                    doses.append(float(plane[j, i]))
                    weights.append(n / (s * s) * area * thick)
                    continue
                for x, y in pts[inside]:
                    doses.append(bilinear(y, x))
                    weights.append(area / (s * s) * thick)
    return np.array(doses), np.array(weights)


def _star(rng: np.random.Generator, centre: tuple[float, float], r_max: float) -> np.ndarray:
    n = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.3, 1.0, n) * r_max
    return np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["bilinear", "voxel", "edge_bilinear"]),
       s=st.sampled_from([1, 2, 3, 4]))
def test_engine_equals_point_by_point_reference_on_random_polygons(seed: int, mode: str, s: int) -> None:
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.1, 0.3, 3)  # voxel spacing x, y, z (cm)
    x = np.arange(8) * h[0] + rng.uniform(-1, 1)
    y = np.arange(7) * h[1] + rng.uniform(-1, 1)
    z = np.arange(6) * h[2]
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    dose = 50 + 20 * xx - 10 * yy + 5 * zz + 8 * np.sin(3 * xx * yy) + rng.uniform(0, 1, xx.shape)
    grid = D.DoseGrid(dose_gy=np.clip(dose, 0, None), x_cm=x, y_cm=y, z_cm=z)
    centre = (float(x.mean()), float(y.mean()))
    r_max = 0.45 * min(x[-1] - x[0], y[-1] - y[0])
    spacing = float(rng.uniform(0.06, 0.2))
    planes = z[0] + 0.05 + spacing * np.arange(int((z[-1] - z[0] - 0.1) / spacing) + 1)
    contours = []
    for zp in planes:
        outer = _star(rng, centre, r_max)
        contours.append((float(zp), outer))
        if rng.uniform() < 0.4:  # a hole inside, or an island that may overlap (both cancel there: even-odd)
            near = (centre[0] + 0.6 * r_max, centre[1] - 0.5 * r_max)
            contours.append((float(zp), centre + (outer - centre) * 0.3 if rng.uniform() < 0.5 else
                             _star(rng, near, 0.4 * r_max)))
    structure = D.Structure("random", contours)
    ours = D.dvh(structure, grid, settings=D.SamplingSettings(supersampling=s, in_plane_dose=mode))
    doses, weights = _reference_samples(structure, grid, s, mode)
    volume = weights.sum()
    assert ours.volume_cm3 == pytest.approx(volume, rel=1e-9)
    assert ours.dmean_gy == pytest.approx(np.dot(doses, weights) / volume, rel=1e-9)
    order = np.argsort(doses)
    d_sorted, at_or_above = doses[order], np.cumsum(weights[order][::-1])[::-1]
    for pct in (0, 10, 50, 90, 98, 100):
        target = volume * pct / 100 * (1 - 1e-9)
        expected = d_sorted[max(int(np.searchsorted(-at_or_above, -target, side="right")) - 1, 0)]
        assert D.dose_at_volume_pct(ours, pct) == pytest.approx(expected, rel=1e-9), pct
    for threshold in rng.uniform(doses.min(), doses.max(), 5):
        assert D.volume_at_dose_gy(ours, float(threshold)) == pytest.approx(
            weights[doses >= threshold].sum(), rel=1e-9, abs=1e-12)
    assert ours.cumulative_cm3[0] == pytest.approx(volume, rel=1e-12)

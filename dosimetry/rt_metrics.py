"""From parsed DICOM RT objects to plan metrics, and the independent TG-43 check (pure: numpy + the cores).

``plan_metrics`` computes each mapped structure's metrics and DVH on the planning system's dose grid (one DVH
per structure: the metrics and the stored curve read the same one); ``tg43_recompute`` recomputes the dose on the
same grid from the RT Plan's seeds (1-D formalism: the seed orientation is not in the plan) and
``tg43_differences`` compares D90 and V100 of the two. With ``require_inside_grid=False`` a structure reaching
beyond the dose grid is clipped to it and ``StructureResult.outside`` says how much of it was left out
(:func:`volume_outside_grid`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dosimetry import tg43
from dosimetry.dicom_io import RtDose, RtStructureSet, SeedPlan
from dosimetry.dvh import (
    DVH,
    DoseGrid,
    SamplingSettings,
    Structure,
    dvh,
    structure_mask,
    summary,
)
from dosimetry.sources import SeedModelData

TARGET_ROLES = {"GTV", "PTV"}
MAX_CURVE_POINTS = 200
Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class OutsideGrid:
    """The part of a structure beyond the dose grid, left out when it is clipped: cm³ and % of the whole."""

    outside_cm3: float
    total_cm3: float

    @property
    def outside_pct(self) -> float:
        return 100.0 * self.outside_cm3 / self.total_cm3


@dataclass(frozen=True)
class StructureResult:
    role: str
    name: str
    metrics: dict[str, float | None]
    curve: dict[str, list[float]]
    outside: OutsideGrid | None = None
    """Set when the structure was clipped to the dose grid (``require_inside_grid=False``) and reached beyond it."""


def _clean(value: object) -> float | None:
    if value is None:
        return None
    v = float(value)  # type: ignore[arg-type]
    return None if math.isnan(v) else v


def downsample_curve(dose_gy: np.ndarray, volume_pct: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> dict:
    """At most ``max_points`` points of a cumulative DVH, first and last kept (for storage and plotting)."""
    n = len(dose_gy)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.array([], int)
    return {
        "dose_gy": [round(float(d), 3) for d in dose_gy[idx]],
        "volume_pct": [round(float(v), 3) for v in volume_pct[idx]],
    }


def dose_grid(rtdose: RtDose) -> DoseGrid:
    return DoseGrid.ascending(rtdose.dose_gy, rtdose.x_cm, rtdose.y_cm, rtdose.z_cm)


def structure_metrics(
    structure: Structure, grid: DoseGrid, rx_gy: float, settings: SamplingSettings, *, include_conformity: bool
) -> tuple[dict[str, float | None], DVH]:
    """The metrics of :func:`dosimetry.dvh.summary` (same keys but ``name`` and ``hi``, NaN as None) and the DVH
    they were read from: one DVH computation, where ``summary`` and a curve took two. CI/EI (targets) also need
    the structure's voxel occupancy (one mask)."""
    h = dvh(structure, grid, settings=settings)
    full = summary(structure, grid, rx_gy, settings=settings, include_conformity=include_conformity, h=h)
    return {k: _clean(m) for k, m in full.items() if k not in ("name", "hi")}, h


_OUTSIDE_RTOL = 1e-6  # a volume left out below this fraction of the structure is float32 rounding of the mask


def _padded_axis(centres: np.ndarray, low: float, high: float) -> np.ndarray:
    """``centres`` extended with voxels of the end spacings until the voxel edges reach ``low`` and ``high``
    (the grid's own edges unchanged)."""
    step_lo = float(centres[1] - centres[0])
    step_hi = float(centres[-1] - centres[-2])
    edge_lo, edge_hi = centres[0] - step_lo / 2, centres[-1] + step_hi / 2
    n_lo = max(0, math.ceil((edge_lo - low) / step_lo))
    n_hi = max(0, math.ceil((high - edge_hi) / step_hi))
    below = centres[0] - step_lo * np.arange(n_lo, 0, -1)
    above = centres[-1] + step_hi * np.arange(1, n_hi + 1)
    return np.concatenate([below, centres, above])


def volume_outside_grid(
    structure: Structure, grid: DoseGrid, settings: SamplingSettings, clipped_cm3: float
) -> OutsideGrid | None:
    """How much of the structure a DVH clipped to the grid (volume ``clipped_cm3``) leaves out; None if nothing.

    The grid is extended (the same voxel edges inside, more voxels of the end spacings outside) until it holds
    the whole structure, including the half slabs beyond its end planes; the structure's occupancy summed over
    that grid is its whole volume as the DVH samples it, and the volume left out is that minus ``clipped_cm3``
    (so it also counts the inside part of a contour plane lying beyond the grid, which clipping drops). Only for
    an import clipped to the grid: one more rasterisation of that structure, not a DVH.
    """
    planes = structure.planes()
    zs = np.array([z for z, _ in planes])
    xy = np.concatenate([p for _, group in planes for p in group])
    spacing = float(np.max(np.diff(zs))) if zs.size > 1 else 0.0
    reach = max(spacing, settings.thickness_cm or 0.0)
    x = _padded_axis(grid.x_cm, float(xy[:, 0].min()), float(xy[:, 0].max()))
    y = _padded_axis(grid.y_cm, float(xy[:, 1].min()), float(xy[:, 1].max()))
    z = _padded_axis(grid.z_cm, float(zs.min() - reach), float(zs.max() + reach))
    nz, ny, nx = grid.shape
    if (x.size, y.size, z.size) == (nx, ny, nz):
        return None
    big = DoseGrid(np.zeros((z.size, y.size, x.size), dtype=np.float32), x, y, z)
    mask = structure_mask(structure, big, settings=settings)
    dz, dy, dx = (np.diff(edges) for edges in (big.z_edges_cm, big.y_edges_cm, big.x_edges_cm))
    # Σ occupancy × dz·dy·dx without an (nz, ny, nx) float64 product
    total = float(np.einsum("kji,k,j,i->", mask, dz, dy, dx, dtype=np.float64))
    if total - clipped_cm3 <= _OUTSIDE_RTOL * total:  # float32 occupancy: equal within its rounding
        return None
    return OutsideGrid(outside_cm3=total - clipped_cm3, total_cm3=total)


def plan_metrics(
    grid: DoseGrid,
    structures: RtStructureSet,
    mapping: Mapping[str, str],
    prescription_gy: float,
    *,
    sampling: SamplingSettings,
    progress: Progress | None = None,
    measure_outside: bool = True,
) -> list[StructureResult]:
    """Metrics and DVH curve of every mapped structure (``mapping``: ROI name → role; unmapped names are skipped),
    one DVH computation per structure. ``sampling.require_inside_grid=False`` clips structures to the grid and,
    with ``measure_outside``, reports the volume left out in ``StructureResult.outside`` (False for a second
    grid of the same geometry, e.g. the TG-43 check's: the same volume is left out)."""
    results = []
    items = [(name, role) for name, role in mapping.items() if role]
    for i, (name, role) in enumerate(items):
        roi = structures.get(name)
        structure = Structure(roi.name, roi.contours)
        metrics, curve = structure_metrics(structure, grid, prescription_gy, sampling,
                                           include_conformity=role in TARGET_ROLES)
        clipped = measure_outside and not sampling.require_inside_grid
        outside = volume_outside_grid(structure, grid, sampling, curve.volume_cm3) if clipped else None
        results.append(StructureResult(role, roi.name, metrics, downsample_curve(
            curve.dose_bins_gy, curve.cumulative_pct), outside))
        if progress:
            progress(10 + int(50 * (i + 1) / max(1, len(items))), f"DVH of {roi.name}")
    return results


def tg43_recompute(
    grid: DoseGrid,
    plan: SeedPlan,
    model: SeedModelData,
    implant_at: datetime,
) -> DoseGrid:
    """Total dose (Gy, to infinity) of the plan's seeds on the TPS grid, strengths decayed to the implant."""
    strengths = np.array([
        tg43.decayed_strength_u(s, plan.reference_datetime, implant_at, model.half_life_days)
        for s in plan.seed_strengths_u
    ])
    rate = tg43.dose_rate_grid_cgy_per_h(
        plan.positions_cm, None, strengths, (grid.x_cm, grid.y_cm, grid.z_cm), model, formalism="point"
    ).transpose(2, 1, 0)
    total = tg43.total_dose_cgy_from_initial_rate(rate, model.half_life_days) / 100.0
    return DoseGrid(np.ascontiguousarray(total, dtype=np.float32), grid.x_cm, grid.y_cm, grid.z_cm)


def tg43_differences(
    tps: Mapping[str, float | None], check: Mapping[str, float | None], flag_pct: float
) -> list[dict[str, object]]:
    """D90 and V100 of the TPS vs the TG-43 recomputation; relative difference in %, flagged above ``flag_pct``."""
    rows = []
    for key, label in (("d90_gy", "D90 (Gy)"), ("v100_pct", "V100 (%)")):
        a, b = tps.get(key), check.get(key)
        diff = None if a in (None, 0) or b is None else 100.0 * (b - a) / a
        rows.append({
            "metric": label, "tps": a, "tg43": b, "diff_pct": diff,
            "flagged": diff is not None and abs(diff) > flag_pct,
        })
    return rows

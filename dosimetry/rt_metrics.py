"""From parsed DICOM RT objects to plan metrics, and the independent TG-43 check (pure: numpy + the cores).

``plan_metrics`` computes each mapped structure's metrics and DVH on the planning system's dose grid;
``tg43_recompute`` recomputes the dose on the same grid from the RT Plan's seeds (1-D formalism: the seed
orientation is not in the plan) and ``tg43_differences`` compares D90 and V100 of the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dosimetry import tg43
from dosimetry.dicom_io import RtDose, RtStructureSet, SeedPlan
from dosimetry.dvh import DoseGrid, SamplingSettings, Structure, dvh, summary
from dosimetry.sources import SeedModelData

TARGET_ROLES = {"GTV", "PTV"}
MAX_CURVE_POINTS = 200
Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class StructureResult:
    role: str
    name: str
    metrics: dict[str, float | None]
    curve: dict[str, list[float]]


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


def plan_metrics(
    grid: DoseGrid,
    structures: RtStructureSet,
    mapping: Mapping[str, str],
    prescription_gy: float,
    *,
    supersampling: int = 4,
    sampling: SamplingSettings | None = None,
    progress: Progress | None = None,
) -> list[StructureResult]:
    """Metrics of every mapped structure (``mapping``: ROI name → role; unmapped names are skipped).

    ``sampling`` (the protocol's, :meth:`DosimetrySettings.sampling_settings`) wins over ``supersampling``.
    """
    settings = sampling if sampling is not None else SamplingSettings(supersampling=supersampling)
    results = []
    items = [(name, role) for name, role in mapping.items() if role]
    for i, (name, role) in enumerate(items):
        roi = structures.get(name)
        structure = Structure(roi.name, roi.contours)
        summ = summary(structure, grid, prescription_gy, settings=settings, include_conformity=role in TARGET_ROLES)
        curve = dvh(structure, grid, settings=settings)
        metrics = {k: _clean(v) for k, v in summ.items() if k not in ("name", "hi")}
        results.append(StructureResult(role, roi.name, metrics, downsample_curve(
            curve.dose_bins_gy, curve.cumulative_pct)))
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

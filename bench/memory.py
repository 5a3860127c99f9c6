"""Memory benchmark of the DVH engine: 10 structures on a 256³ float32 dose grid.

Run: ``.venv/bin/python bench/memory.py``

A 256 × 256 × 256 float32 dose grid with 2 mm spacing (51 cm cube, 64 MiB) holds the TG-43U1 total dose
(line formalism, model 6711) of 20 seeds of 0.6 U on 5 needles at the centre, computed plane block by plane
block with :func:`dosimetry.tg43.dose_rate_grid_cgy_per_h`. Ten spheres (radius 0.5 to 10 cm, up to 4.2 litres),
contoured on every dose plane (2 mm) with 128 vertices, centred on or near the implant, are summarised with :func:`dosimetry.dvh.summary`
(default SamplingSettings, include_conformity=False, Rx 145 Gy). Prints the time per structure and in total, and
the peak resident memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (whole process, dose computation
included) and the Linux VmHWM high-water mark reset just before the DVH phase (DVH phase only).
Target: peak under 2 GB.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dosimetry import tg43  # noqa: E402
from dosimetry.dvh import DoseGrid, Structure, summary  # noqa: E402
from dosimetry.sources import get_seed_model  # noqa: E402

N = 256
SPACING_CM = 0.2
RX_GY = 145.0
TARGET_MB = 2048.0
RADII_CM = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def ru_maxrss_mb() -> float:
    """Peak resident set of this process (Linux ru_maxrss is in KiB), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def dose_grid() -> DoseGrid:
    axis = (np.arange(N) - (N - 1) / 2.0) * SPACING_CM
    needles = [(0.0, 0.0), (0.6, 0.0), (-0.6, 0.0), (0.0, 0.6), (0.0, -0.6)]
    seeds = np.array([(x, y, z) for x, y in needles for z in (-0.95, -0.35, 0.25, 0.85)], dtype=float) + 0.03
    axes = np.tile([0.0, 0.0, 1.0], (len(seeds), 1))
    model = get_seed_model("6711")
    to_gy = tg43.mean_life_h(model.half_life_days) / 100.0
    dose = np.empty((N, N, N), dtype=np.float32)  # (z, y, x)
    block = 16
    for k0 in range(0, N, block):
        rate = tg43.dose_rate_grid_cgy_per_h(seeds, axes, 0.6, (axis, axis, axis[k0 : k0 + block]), model, "line")
        dose[k0 : k0 + block] = (rate * to_gy).transpose(2, 1, 0)
    return DoseGrid(dose_gy=dose, x_cm=axis, y_cm=axis, z_cm=axis)


def spheres(grid: DoseGrid) -> list[Structure]:
    """Ten spheres on every dose plane they cross, 128-gon contours; the small ones around the implant."""
    t = np.linspace(0.0, 2.0 * math.pi, 128, endpoint=False)
    out = []
    for i, radius in enumerate(RADII_CM):
        angle = 2.0 * math.pi * i / len(RADII_CM)
        offset = 0.0 if radius <= 1.5 else 0.5 * radius  # the larger spheres reach the implant or enclose it
        cx, cy, cz = offset * math.cos(angle), offset * math.sin(angle), 0.3 * i
        contours = []
        for z in grid.z_cm[np.abs(grid.z_cm - cz) < radius]:
            rho = math.sqrt(radius**2 - (z - cz) ** 2)
            contours.append((float(z), np.column_stack([cx + rho * np.cos(t), cy + rho * np.sin(t)])))
        out.append(Structure(name=f"sphere_r{radius:g}cm", contours=contours))
    return out


def main() -> None:
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"baseline (imports): ru_maxrss {ru_maxrss_mb():.0f} MB")
    t0 = time.perf_counter()
    grid = dose_grid()
    t_dose = time.perf_counter() - t0
    print(f"dose grid {N}³ float32 ({grid.dose_gy.nbytes / 2**20:.0f} MiB), 2 mm, TG-43 line, 20 seeds: "
          f"{t_dose:.1f} s; ru_maxrss {ru_maxrss_mb():.0f} MB, RSS {_status_mb('VmRSS'):.0f} MB")
    structures = spheres(grid)
    reset = reset_high_water_mark()
    rss_before = _status_mb("VmRSS")
    total = 0.0
    print(f"{'structure':>16s} {'planes':>6s} {'volume cm³':>11s} {'exact cm³':>10s} {'D90 Gy':>9s} "
          f"{'V100 %':>7s} {'time s':>7s}")
    for structure, radius in zip(structures, RADII_CM, strict=True):
        t1 = time.perf_counter()
        s = summary(structure, grid, RX_GY, include_conformity=False)
        dt = time.perf_counter() - t1
        total += dt
        exact = 4.0 / 3.0 * math.pi * radius**3
        print(f"{structure.name:>16s} {len(structure.contours):6d} {s['volume_cm3']:11.2f} {exact:10.2f} "
              f"{s['d90_gy']:9.2f} {s['v100_pct']:7.2f} {dt:7.2f}")
    peak = ru_maxrss_mb()
    hwm = _status_mb("VmHWM")
    print(f"10 DVH summaries: {total:.2f} s in total ({total / len(structures):.2f} s per structure on average)")
    print(f"peak RSS, whole process (ru_maxrss): {peak:.0f} MB")
    if reset:
        print(f"peak RSS during the DVH phase (VmHWM after reset): {hwm:.0f} MB "
              f"(RSS before it {rss_before:.0f} MB, so the DVHs added at most {hwm - rss_before:.0f} MB)")
    verdict = "OK" if peak < TARGET_MB else "OVER"
    print(f"target: peak < {TARGET_MB:.0f} MB → {verdict}")


if __name__ == "__main__":
    main()

"""Benchmark of the TG-43U1 engine (dosimetry.tg43) on one core.

Run: ``.venv/bin/python bench/tg43.py``  (add ``--quick`` for a smaller run).

Prints seed·point evaluations per second for the 2-D line and 1-D point formalisms (best of 3) on a
1-million-point grid (100³, 1 mm spacing) with 20 and 100 seeds, and the peak resident memory
(``resource.getrusage(...).ru_maxrss``) of a fresh process that computes a 256³ grid with 20 seeds, once with
:func:`dose_rate_grid_cgy_per_h` (no point array) and once with :func:`dose_rate_cgy_per_h` on an explicit
(P, 3) float64 point array. Target: ≥ 50 million seed·point evaluations per second per core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dosimetry import tg43  # noqa: E402
from dosimetry.sources import get_seed_model  # noqa: E402

TARGET_PER_S = 50e6


def _implant(n_seeds: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeds scattered in a 3 cm cube at the grid centre, random axes, 0.5–0.8 U."""
    pos = rng.uniform(-1.5, 1.5, size=(n_seeds, 3))
    axes = rng.normal(size=(n_seeds, 3))
    strengths = rng.uniform(0.5, 0.8, size=n_seeds)
    return pos, axes, strengths


def _grid_axes(n: int, spacing_cm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ax = (np.arange(n) - (n - 1) / 2.0) * spacing_cm
    return ax, ax.copy(), ax.copy()


def _rss_mb() -> float:
    """Peak resident set of this process in MB: ru_maxrss (Linux: KiB).

    Linux carries ru_maxrss over fork + exec from the parent, so the child is started while the parent is
    still small (memory is measured before the throughput runs) and VmHWM is printed too.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _vm_hwm_mb() -> float:
    """High-water mark of the current address space (Linux /proc VmHWM), MB; NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def throughput(n_grid: int, seed_counts: tuple[int, ...], repeats: int) -> None:
    model = get_seed_model("6711")
    grid = _grid_axes(n_grid, 0.1)
    pts = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 3)
    n_pts = pts.shape[0]
    print(f"throughput: {n_pts:,} points ({n_grid}³ grid, 1 mm), best of {repeats}, 1 thread")
    for n_seeds in seed_counts:
        pos, axes, strengths = _implant(n_seeds, np.random.default_rng(n_seeds))
        for formalism in ("line", "point"):
            tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts[:1000], model, formalism)  # build/cache the table
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, formalism)
                best = min(best, time.perf_counter() - t0)
            rate = n_seeds * n_pts / best
            flag = "OK " if rate >= TARGET_PER_S else "LOW"
            print(f"  {formalism:5s} {n_seeds:4d} seeds: {best:7.3f} s  {rate / 1e6:7.1f} M seed·point/s  [{flag}]")
    print(f"  target: ≥ {TARGET_PER_S / 1e6:.0f} M seed·point/s")


def _memory_child(mode: str, n_grid: int, n_seeds: int) -> None:
    model = get_seed_model("6711")
    pos, axes, strengths = _implant(n_seeds, np.random.default_rng(0))
    grid = _grid_axes(n_grid, 0.1)
    base = _vm_hwm_mb()
    t0 = time.perf_counter()
    if mode == "grid":
        dose = tg43.dose_rate_grid_cgy_per_h(pos, axes, strengths, grid, model, "line")
    else:
        pts = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 3)
        dose = tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, "line")
    elapsed = time.perf_counter() - t0
    out_mb = dose.nbytes / 2**20
    print(f"{_rss_mb():.0f} {_vm_hwm_mb():.0f} {base:.0f} {out_mb:.0f} {elapsed:.2f}")


def memory(n_grid: int, n_seeds: int) -> None:
    print(f"peak memory: {n_grid}³ grid ({n_grid**3:,} points), {n_seeds} seeds, line formalism, fresh process")
    for mode, label in (("grid", "dose_rate_grid_cgy_per_h (no point array)"),
                        ("points", "dose_rate_cgy_per_h with a (P, 3) float64 point array")):
        res = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(n_grid), str(n_seeds)],
            check=True, capture_output=True, text=True,
        )
        peak, hwm, base, out_mb, elapsed = res.stdout.split()
        rate = n_grid**3 * n_seeds / float(elapsed) / 1e6
        print(f"  {label}:\n    ru_maxrss {peak} MB, VmHWM {hwm} MB (before the call {base} MB; result array "
              f"{out_mb} MB); {elapsed} s = {rate:.1f} M seed·point/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50³ grid for throughput, 128³ for memory")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "N_GRID", "N_SEEDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _memory_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    if args.quick:
        memory(128, 20)
        throughput(50, (20,), 3)
    else:
        memory(256, 20)
        throughput(100, (20, 100), 3)


if __name__ == "__main__":
    main()

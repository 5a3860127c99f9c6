"""Benchmark of the TG-43U1 engine (dosimetry.tg43) and of ``manage.py tg43`` on one core.

Run: ``.venv/bin/python bench/tg43.py``  (add ``--quick`` for a smaller run; needs ``gcc`` for the C peer).

Prints, all as CPU time (``time.process_time``, best of N; the machine may be shared):

1. **Kernel vs C**: the table kernel (line source, 20 seeds, 1 million points on a 100³ grid) next to a C
   version of the same kernel (per seed the point's (z, y) in the seed frame in float64, then the same
   float32 (√r, sin θ) table and bilinear look-up, S_K × table, sum) that this script writes to
   ``bench/_work/tg43_kernel.c``, compiles with ``gcc -O2`` and with ``gcc -O3 -march=native`` and calls
   through ctypes on the same numpy arrays; it checks that C and numpy agree, prints both rates and
   numpy/C (target ≥ 80 % of the -O2 figure).
2. **Command end to end**: ``manage.py tg43 --model 6711 --seeds S.json --points P.json`` with 20 seeds ×
   100 000 points through ``call_command`` (stdout to a StringIO) in a set-up Django process, default
   ``--method exact`` and ``--method table``, split into parse / compute / write, next to the per-point path
   the command used before (json.loads, one tuple per point, one dict per point, to_json) in the same run;
   the largest relative difference table vs exact; and, apart, interpreter start and Django start-up
   (fresh processes). Target: ≥ 10 M seed·point evaluations/s end to end.
3. Throughput of both formalisms with 20 and 100 seeds, and the peak memory of a 256³ grid (fresh process).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
sys.path.insert(0, str(ROOT))

from dosimetry import tg43  # noqa: E402
from dosimetry.sources import get_seed_model  # noqa: E402

TARGET_PER_S = 50e6
COMMAND_TARGET_PER_S = 10e6
C_RATIO_TARGET = 0.80


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
    print(f"throughput: {n_pts:,} points ({n_grid}³ grid, 1 mm), CPU time, best of {repeats}, 1 thread")
    for n_seeds in seed_counts:
        pos, axes, strengths = _implant(n_seeds, np.random.default_rng(n_seeds))
        for formalism in ("line", "point"):
            tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, formalism)  # build/cache the table
            args = (pos, axes, strengths, pts, model, formalism)
            best = _best_cpu(lambda args=args: tg43.dose_rate_cgy_per_h(*args), repeats)
            rate = n_seeds * n_pts / best
            flag = "OK " if rate >= TARGET_PER_S else "LOW"
            print(f"  {formalism:5s} {n_seeds:4d} seeds: {best:7.3f} s  {rate / 1e6:7.1f} M seed·point/s  [{flag}]")
    print(f"  target: ≥ {TARGET_PER_S / 1e6:.0f} M seed·point/s")


def _memory_child(mode: str, n_grid: int, n_seeds: int) -> None:
    model = get_seed_model("6711")
    pos, axes, strengths = _implant(n_seeds, np.random.default_rng(0))
    grid = _grid_axes(n_grid, 0.1)
    base = _vm_hwm_mb()
    t0 = time.process_time()
    if mode == "grid":
        dose = tg43.dose_rate_grid_cgy_per_h(pos, axes, strengths, grid, model, "line")
    else:
        pts = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 3)
        dose = tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, "line")
    elapsed = time.process_time() - t0
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
              f"{out_mb} MB); {elapsed} s CPU = {rate:.1f} M seed·point/s")


# ---------------------------------------------------------------------------------------------------------------
# 1. kernel vs C
# ---------------------------------------------------------------------------------------------------------------
C_KERNEL = r"""
/* TG-43 table kernel, line source: the algorithm of dosimetry.tg43._chunk_dose_rate, one point at a time.
   Written by bench/tg43.py; float64 seed-frame geometry, float32 look-up as in numpy. */
#include <math.h>
#include <stdint.h>

void tg43_line(const double *pts, int64_t n_pts, const double *pos, const double *axes, const float *s,
               int64_t n_seeds, const float *table, int64_t n_r, int64_t n_p, float rows_per_sqrt_cm,
               float inv_dp, float r2_floor, double *out)
{
    for (int64_t k = 0; k < n_pts; ++k) {
        const double px = pts[3 * k], py = pts[3 * k + 1], pz = pts[3 * k + 2];
        float acc = 0.0f;
        for (int64_t q = 0; q < n_seeds; ++q) {
            const double dx = px - pos[3 * q], dy = py - pos[3 * q + 1], dz = pz - pos[3 * q + 2];
            float r2 = (float)(dx * dx + dy * dy + dz * dz);
            const float z = (float)(dx * axes[3 * q] + dy * axes[3 * q + 1] + dz * axes[3 * q + 2]);
            if (r2 < r2_floor) r2 = r2_floor;
            const float r = sqrtf(r2);
            float fr = sqrtf(r) * rows_per_sqrt_cm; /* row coordinate: rows are uniform in sqrt(r) */
            int32_t i = (int32_t)fr;
            if (i > n_r - 1) i = (int32_t)(n_r - 1);
            fr -= (float)i;
            float y = r2 - z * z;
            y = sqrtf(y > 0.0f ? y : 0.0f);
            float pp = y / r * inv_dp; /* column coordinate: sin(theta) = y / r */
            const int32_t j = (int32_t)pp;
            pp -= (float)j;
            const float *t = table + (int64_t)i * n_p + j;
            const float h0 = t[0] + (t[1] - t[0]) * pp;
            const float h1 = t[n_p] + (t[n_p + 1] - t[n_p]) * pp;
            acc += s[q] * ((h0 + (h1 - h0) * fr) / r2);
        }
        out[k] = acc;
    }
}
"""


def _best_cpu(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _compile_c(flags: list[str], name: str) -> ctypes.CDLL | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    WORK.mkdir(parents=True, exist_ok=True)
    src = WORK / "tg43_kernel.c"
    src.write_text(C_KERNEL, encoding="utf-8")
    lib = WORK / f"tg43_kernel_{name}.so"
    subprocess.run([gcc, *flags, "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    dll = ctypes.CDLL(str(lib))
    f64 = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    f32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
    i64, fl = ctypes.c_int64, ctypes.c_float
    dll.tg43_line.argtypes = [f64, i64, f64, f64, f32, i64, f32, i64, i64, fl, fl, fl, f64]
    dll.tg43_line.restype = None
    return dll


def kernel_vs_c(n_grid: int, n_seeds: int, repeats: int) -> None:
    """numpy and both C builds timed in turn (numpy, C -O2, C -O3, numpy, …), best of ``repeats`` each, so a
    load from other processes on the machine falls on all of them alike."""
    model = get_seed_model("6711")
    grid = _grid_axes(n_grid, 0.1)
    pts = np.ascontiguousarray(np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, 3))
    n_pts = pts.shape[0]
    pos, axes, strengths = _implant(n_seeds, np.random.default_rng(n_seeds))
    unit = np.ascontiguousarray(axes / np.linalg.norm(axes, axis=1)[:, None])
    ours = tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, "line")  # also builds/caches the table
    print(f"kernel vs C: table kernel, line source, {n_seeds} seeds × {n_pts:,} points ({n_grid}³ grid, 1 mm), "
          f"CPU time, best of {repeats}, runs interleaved (numpy, C -O2, C -O3, numpy, …)")
    settings = tg43.DEFAULT_SETTINGS
    far = np.maximum(np.abs(pos[:, None, :] - pts.min(axis=0)), np.abs(pos[:, None, :] - pts.max(axis=0)))
    n_r = tg43._table_rows_for(float(np.sqrt((far**2).sum(axis=2)).max()), settings.table_step_cm)
    table = tg43._kernel_table(model, "line", settings, n_r)
    s32 = strengths.astype(np.float32)
    calls: dict[str, object] = {"numpy": lambda: tg43.dose_rate_cgy_per_h(pos, axes, strengths, pts, model, "line")}
    flags_of = {"O2": ["-O2"], "O3native": ["-O3", "-march=native"]}
    diffs: dict[str, float] = {}
    for name, flags in flags_of.items():
        dll = _compile_c(flags, name)
        if dll is None:
            print("  C: gcc not found, no peer figure")
            break
        out = np.empty(n_pts)

        def call(dll: ctypes.CDLL = dll, out: np.ndarray = out) -> None:
            dll.tg43_line(pts, n_pts, np.ascontiguousarray(pos), unit, s32, n_seeds, table.values, table.n_r,
                          table.n_p, table.rows_per_sqrt_cm, table.inv_dp, table.r2_floor, out)

        call()
        diffs[name] = float(np.max(np.abs(out / ours - 1.0)))
        calls[name] = call
    best = {name: np.inf for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            best[name] = min(best[name], _best_cpu(fn, 1))  # type: ignore[arg-type]
    rate_np = n_seeds * n_pts / best["numpy"]
    print(f"  numpy  dosimetry.tg43.dose_rate_cgy_per_h : {best['numpy']:7.3f} s  {rate_np / 1e6:6.1f} M seed·point/s")
    for name in diffs:
        rate_c = n_seeds * n_pts / best[name]
        ratio = rate_np / rate_c
        verdict = "OK " if ratio >= C_RATIO_TARGET else "LOW"
        print(f"  C gcc {' '.join(flags_of[name]):20s}: {best[name]:7.3f} s  {rate_c / 1e6:6.1f} M seed·point/s   "
              f"numpy/C = {ratio:5.1%} [{verdict}]  (max |C/numpy − 1| = {diffs[name]:.1e})")
    print(f"  target: numpy ≥ {C_RATIO_TARGET:.0%} of C at -O2 (the conservative build; aim 85 %)")


# ---------------------------------------------------------------------------------------------------------------
# 2. the command end to end
# ---------------------------------------------------------------------------------------------------------------
DJANGO_ENV = {
    "DEBUG": "1",
    "SEEDTRACK_DEMO": "1",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECRET_KEY": "dev-only-secret-key-not-for-production-use-0123456789abcdef",
    "DATABASE_URL": f"sqlite:///{WORK / 'tg43_bench.sqlite3'}",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


def _command_inputs(n_seeds: int, n_pts: int, decimals: int | None) -> tuple[Path, Path]:
    """20 seeds in a 3 cm cube, points uniform in a 6 cm cube (rounded to 0.1 mm unless decimals is None)."""
    rng = np.random.default_rng(7)
    pos, axes, strengths = _implant(n_seeds, rng)
    seeds = [{"position_cm": p.tolist(), "axis": a.tolist(), "air_kerma_strength_u": float(s)}
             for p, a, s in zip(pos, axes, strengths, strict=True)]
    pts = rng.uniform(-3.0, 3.0, size=(n_pts, 3))
    if decimals is not None:
        pts = pts.round(decimals)
    WORK.mkdir(parents=True, exist_ok=True)
    tag = "full" if decimals is None else f"r{decimals}"
    s_path, p_path = WORK / f"tg43_S_{n_seeds}.json", WORK / f"tg43_P_{n_pts}_{tag}.json"
    s_path.write_text(json.dumps(seeds), encoding="utf-8")
    p_path.write_text(json.dumps(pts.tolist()), encoding="utf-8")
    return s_path, p_path


def _startup_cpu(code: str, repeats: int) -> float:
    """Best CPU time (user + sys) of a fresh interpreter running ``code``."""
    best = np.inf
    env = {**os.environ, **DJANGO_ENV}
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def _time_command(
    s_path: Path, p_path: Path, method: str, repeats: int, *, cold: bool
) -> tuple[float, float, float, float, str]:
    """(command, parse, compute, write) best CPU times in s and the command's output, for one --method.

    cold: the engine's table is dropped before every call, so the call builds it (the first call in a fresh
    process); otherwise it is cached (a set-up process that has run the command before).
    """
    from django.core.management import call_command

    from dosimetry import cli

    args = ["tg43", "--model", "6711", "--seeds", str(s_path), "--points", str(p_path), "--method", method]
    text = {"out": ""}

    def command() -> None:
        if cold:
            tg43._kernel_table.cache_clear()
        buf = io.StringIO()
        call_command(*args, stdout=buf)
        text["out"] = buf.getvalue()

    t_cmd = _best_cpu(command, repeats)
    seeds = cli.parse_seeds(cli.read_json_file(s_path, "--seeds"))
    model = get_seed_model("6711")
    state: dict[str, object] = {}

    def parse() -> None:
        state["points"], state["texts"] = cli.read_points_file(p_path, "--points")

    def compute() -> None:
        if cold:
            tg43._kernel_table.cache_clear()
        state["rate"], state["total"] = cli.tg43_rates(model, seeds, state["points"], method=method)  # type: ignore[arg-type]

    def write() -> None:
        cli.tg43_json(state["points"], state["rate"], state["total"], state["texts"])  # type: ignore[arg-type]

    t_parse, t_compute, t_write = (_best_cpu(f, repeats) for f in (parse, compute, write))
    return t_cmd, t_parse, t_compute, t_write, text["out"]


def _time_before(s_path: Path, p_path: Path) -> tuple[float, str]:
    """The per-point path the command used before: json.loads, a tuple per point, a dict per point, to_json."""
    from dosimetry import cli

    text = {"out": ""}

    def before() -> None:
        seeds = cli.parse_seeds(cli.read_json_file(s_path, "--seeds"))
        points = cli.parse_points_cm(cli.read_json_file(p_path, "--points"))
        text["out"] = cli.to_json(cli.tg43_point_doses(get_seed_model("6711"), seeds, points)) + "\n"

    return _best_cpu(before, 1), text["out"]


def command_end_to_end(n_seeds: int, n_pts: int, repeats: int) -> None:
    os.environ.update(DJANGO_ENV)
    import django

    django.setup()
    evals = n_seeds * n_pts
    print(f"manage.py tg43 end to end: {n_seeds} seeds × {n_pts:,} points = {evals / 1e6:g} M evaluations, "
          f"call_command (stdout to StringIO) in a set-up Django process, CPU time, best of {repeats} (exact: 1); "
          "table: 'cold' = the call builds the engine's table (first call in a fresh process), 'warm' = cached")
    for decimals, label in ((4, "points rounded to 0.1 mm (json.dumps of them: the canonical fast parse)"),
                            (None, "points at full float64 precision (17 digits: parsed through json.loads)")):
        s_path, p_path = _command_inputs(n_seeds, n_pts, decimals)
        print(f"  {label}; points file {p_path.stat().st_size / 1e6:.1f} MB")
        texts: dict[str, str] = {}
        for method, cold, tag in (("exact", True, ""), ("table", True, " cold"), ("table", False, " warm")):
            t_cmd, t_parse, t_compute, t_write, texts[method] = _time_command(
                s_path, p_path, method, 1 if method == "exact" else repeats, cold=cold
            )
            flag = "OK " if evals / t_cmd >= COMMAND_TARGET_PER_S else "LOW"
            print(f"    --method {method + tag:10s}: {t_cmd:6.3f} s = {evals / t_cmd / 1e6:5.1f} M evals/s [{flag}]   "
                  f"(parse {t_parse:.3f} s, compute {t_compute:.3f} s, write {t_write:.3f} s)")
        rate_e = np.array([r["dose_rate_cgy_per_h"] for r in json.loads(texts["exact"])])
        rate_t = np.array([r["dose_rate_cgy_per_h"] for r in json.loads(texts["table"])])
        print(f"    table vs exact: max |table/exact − 1| = {np.max(np.abs(rate_t / rate_e - 1.0)):.1e} "
              "(includes points inside a capsule)")
        if decimals is not None:
            t_before, before_text = _time_before(s_path, p_path)
            same = "identical" if before_text == texts["exact"] else "DIFFERENT"
            print(f"    before (json.loads, tuple and dict per point, to_json; exact): {t_before:6.3f} s = "
                  f"{evals / t_before / 1e6:5.2f} M evals/s; its output and --method exact's: {same}")
    t_python = _startup_cpu("pass", repeats)
    t_django = _startup_cpu("import django; django.setup()", repeats)
    print(f"  apart, per fresh process: interpreter start {t_python:.3f} s, + Django set-up {t_django - t_python:.3f} s"
          f" (total {t_django:.3f} s CPU)")
    print(f"  target: ≥ {COMMAND_TARGET_PER_S / 1e6:.0f} M evals/s end to end")


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
        kernel_vs_c(50, 20, 3)
        command_end_to_end(20, 20_000, 3)
        memory(128, 20)
        throughput(50, (20,), 3)
    else:
        kernel_vs_c(100, 20, 5)
        command_end_to_end(20, 100_000, 5)
        memory(256, 20)
        throughput(100, (20, 100), 3)


if __name__ == "__main__":
    main()

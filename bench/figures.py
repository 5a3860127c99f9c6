"""The physicians' dashboard figures at 100, 1 000 and 10 000 patients: CPU time to prepare, build and render each
figure as the page's SVG element, and its size, against the target of issue 12 (each < 0.5 s and < 200 kB).

Run: ``.venv/bin/python bench/figures.py [--db PATH] [--sizes 100,1000,10000] [--runs 3] [--no-per-item]
[--mode per_lesion]``

* ``--db``: a SQLite copy of a synthetic database with at least the largest size of patients (e.g. the one made
  by ``bench/dashboard.py --keep``); it is read, never written. Without it the bench writes one with
  :mod:`bench._synthetic` at ``/tmp/seedtrack-figures-<N>.sqlite3`` (about a minute for 10 000 patients; kept
  for the next run, ``--rebuild`` writes it again).
* The cohort is loaded once (``assessment.cohort.load_cohort``, not timed here: ``bench/dashboard.py`` times
  it); the smaller sizes are evenly spaced subsets of its patients. ``--mode per_lesion`` draws the per-lesion
  figures (one item per lesion; the lesion units, built once per dashboard, are timed once and apart).
* Per figure and size, best of ``--runs`` CPU times (``time.process_time``: the machine is shared):
  ``prep`` — the dashboard's builder of that figure (``assessment.dashboard``: records → the plot's inputs and
  caption, run once per dashboard build and cached with it; the remission bars' Table 1 is the page's own table,
  computed outside the timing); ``draw+svg`` — ``DashboardFigure.build()`` and
  ``reports.plots.svg_inline`` (each figure request); ``kB`` — the SVG element's size. The verdict is
  ``prep + draw+svg < 500 ms`` and ``kB < 200``.
* The same run draws each figure once more with the aggregation threshold lifted (``--no-per-item`` skips it):
  one artist per item, as every figure was drawn before the threshold (``tests/reports/test_plots_identity.py``
  pins those bytes to main's), so the ratio printed is before / after on the same data and machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _synthetic  # noqa: E402

TARGET_MS = 500.0
TARGET_KB = 200.0
PER_ITEM = 10**9  # a threshold no cohort reaches: every figure drawn one artist per item


def _database(args: argparse.Namespace, n: int) -> Path:
    if args.db:
        path = Path(args.db)
        if not path.exists():
            sys.exit(f"--db {path}: no such file")
        _synthetic.use_database(path)
        return path
    path = Path(f"/tmp/seedtrack-figures-{n}.sqlite3")
    fresh = args.rebuild or not path.exists()
    _synthetic.use_database(path)
    if fresh:
        from django.utils import timezone

        _synthetic.fresh_database(path)
        sites = _synthetic.make_sites()
        print(f"writing {n} synthetic patients to {path} …", file=sys.stderr, flush=True)
        _synthetic.build_cohort(n, today=timezone.localdate(), sites=sites)
    return path


def _builders(dash, ps, table1, units):
    """Figure key → the dashboard's builder of that figure on a cohort (``assessment.dashboard``, or
    ``assessment.dashboard_lesions`` on the cohort's lesion ``units`` per lesion). The remission bars are drawn
    from Table 1, which the page computes for itself, and the per-lesion figures from the lesion units, computed
    once per dashboard build: both are passed in, not timed per figure."""
    def figure(out):  # the waterfall and OS builders also return what they leave out
        return out[0] if isinstance(out, tuple) else out

    if ps.unit == "lesion":
        from assessment import dashboard_lesions as dl

        per_lesion = {"waterfall": dl.waterfall, "spider": dl.spider, "swimmer": dl.swimmer, "km": dl.km,
                      "volume": dl.volume, "dose": dl.dose_response}
        return {"remission": lambda c: dash._remission(c, table1, ps),
                **{k: (lambda c, f=f: figure(f(units, ps))) for k, f in per_lesion.items()}}
    per_patient = {"waterfall": dash._waterfall, "spider": dash._spider, "swimmer": dash._swimmer, "km": dash._km,
                   "os": dash._os, "tg": dash._tg, "volume": dash._volume, "dose": dash._dose_response}
    return {"remission": lambda c: dash._remission(c, table1, ps),
            **{k: (lambda c, f=f: figure(f(c, ps))) for k, f in per_patient.items()}}


def _best(fn, runs: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best * 1000.0, out


def _draw(f, runs: int) -> tuple[float, int]:
    from reports import plots

    ms, svg = _best(lambda: plots.svg_inline(f.build(), f.title, f.caption), runs)
    return ms, len(svg.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="SQLite copy of a synthetic database (read only)")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="write the bench's own database again")
    parser.add_argument("--no-per-item", action="store_true", help="skip the per-item (pre-threshold) drawing")
    parser.add_argument("--mode", choices=("strict", "per_lesion"), default="strict",
                        help="per_lesion: the figures count lesions (assessment.dashboard_lesions)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("SECRET_KEY", "dev-only-secret-key-not-for-production-use-0123456789abcdef")
    path = _database(args, sizes[-1])
    warnings.filterwarnings("ignore", message="No directory at")

    import numpy as np

    from assessment import cohort_tables as ct
    from assessment import dashboard as dash
    from assessment.cohort import load_cohort
    from assessment.cohort_data import CohortFilter
    from assessment.dashboard_figures import plot_settings
    from assessment.protocol import DashboardSettings
    from common import protocol

    t0 = time.process_time()
    cohort = load_cohort(None, CohortFilter(mode=args.mode))
    print(f"{path}: {len(cohort.patients)} patients loaded in {time.process_time() - t0:.1f} s CPU (not part of the "
          "figures' times)")
    if len(cohort.patients) < sizes[-1]:
        sys.exit(f"the database has {len(cohort.patients)} patients; --sizes asks for {sizes[-1]}")
    settings = protocol.section_settings("dashboard", DashboardSettings)
    unit = "lesion" if args.mode == "per_lesion" else "patient"
    ps = plot_settings(settings, unit)
    per_item = plot_settings(DashboardSettings(aggregate_above_items=PER_ITEM), unit)
    print(f"aggregate above {settings.aggregate_above_items} items (protocol dashboard.aggregate_above_items); "
          f"CPU ms best of {args.runs}; target per figure < {TARGET_MS:.0f} ms and < {TARGET_KB:.0f} kB\n")
    head = f"{'patients':>8} {'figure':<10} {'prep':>6} {'draw+svg':>8} {'total':>7} {'kB':>7}  verdict"
    if not args.no_per_item:
        head += f"   | per item: {'ms':>6} {'kB':>7}  ratio ms, kB"
    print(head)
    misses = []
    for n in sizes:
        idx = np.unique(np.round(np.linspace(0, len(cohort.patients) - 1, n)).astype(int))
        c = replace(cohort, patients=tuple(cohort.patients[i] for i in idx))
        table1 = ct.table1(c)
        units = None
        if unit == "lesion":
            from assessment.cohort_lesions import lesion_units

            units_ms, units = _best(lambda c=c: lesion_units(c), 1)
            print(f"{n:>8} (lesion units: {len(units)} lesions, {units_ms:.0f} ms, once per dashboard build)")
        for key, build in _builders(dash, ps, table1, units).items():
            prep_ms, f = _best(lambda build=build, c=c: build(c), args.runs)
            if f.build is None:
                print(f"{n:>8} {key:<10} {prep_ms:>6.0f} {'—':>8} {'—':>7} {'—':>7}  nothing to draw: {f.empty_reason}")
                continue
            draw_ms, size = _draw(f, args.runs)
            total = prep_ms + draw_ms
            ok = total < TARGET_MS and size / 1024 < TARGET_KB
            if not ok and n == sizes[-1]:
                misses.append(key)
            line = (f"{n:>8} {key:<10} {prep_ms:>6.0f} {draw_ms:>8.0f} {total:>7.0f} {size / 1024:>7.0f}  "
                    f"{'ok  ' if ok else 'MISS'}")
            if not args.no_per_item:
                g = _builders(dash, per_item, table1, units)[key](c)
                before_ms, before = _draw(g, 1)
                before_ms += prep_ms
                line += (f"   |           {before_ms:>6.0f} {before / 1024:>7.0f}  "
                         f"{before_ms / total:5.1f}×, {before / size:5.1f}×")
            print(line, flush=True)
    print(f"\nat {sizes[-1]} patients: " + (f"MISS {', '.join(misses)}" if misses else
                                            "every figure < 500 ms and < 200 kB"))


if __name__ == "__main__":
    main()

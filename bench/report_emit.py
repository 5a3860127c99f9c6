"""The costs around the cohort core at 1 000 / 10 000 patients: the report emitters, Table 4 and the dashboard page.

For a copy of ``DIR/seedtrack-<size>.sqlite3`` (never the file itself: logging in writes a session) it loads the
cohort once and prints, as CPU seconds (``time.process_time``, best of ``--runs``):

* ``json emit``: the text ``cohort_report --format json`` prints, from the report dict (``cohort_formats.json_text``),
  beside its peer ``json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False)`` (checked equal, ratio);
* ``report dict``: ``cohort_formats.report`` (Tables 1–4, populations, flow and their JSON-ready form), and the
  tables alone (``tables 1-3 + flow``, the cohort core's share);
* ``csv`` and ``text``: ``report_csv`` / ``report_text`` whole (tables included);
* ``table 4``: ``cohort_tables.table4`` of the loaded pairs, and ``records_of``: the plans of record and targets
  of every implant (its two queries included);
* ``page``: ``GET /dashboard/`` as the physician with the built dashboard kept (``views._boards``): the page's own
  queries (protocol deviations, implant years) and the template render, without the cohort build.

``--baseline DIR`` measures another checkout (e.g. /work/main) the same way in a child process, in turns with this
one (baseline, this, baseline, …), and prints both columns and this / baseline: before → after in one run.
Usage: ``.venv/bin/python bench/report_emit.py --from-db /work/benchdb --sizes 1000,10000 [--runs 3]
[--baseline /work/main]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _best(fn, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def measure(db: Path, runs: int) -> dict[str, float]:
    """The figures of one checkout (the one on ``sys.path``) on the database ``db`` (a copy)."""
    sys.path.insert(0, str(HERE))
    import _synthetic

    _synthetic.use_database(db)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from assessment import cohort_formats as cf
    from assessment import cohort_tables as ct
    from assessment import views
    from assessment.cohort import load_cohort
    from assessment.cohort_data import CohortFilter
    from common.rows import gc_paused
    from dosimetry import selectors
    from dosimetry.models import ImplantProcedure

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False  # as in production (bench/dashboard.py too): no query log, no template debug info
    out: dict[str, float] = {}
    with gc_paused():  # as the command and the dashboard run
        c = load_cohort(None, CohortFilter())
        rep = cf.report(c)
        rep_json = json.dumps(rep, ensure_ascii=False, indent=2, allow_nan=False)
        emit = getattr(cf, "json_text", None) or (
            lambda r: json.dumps(r, ensure_ascii=False, indent=2, allow_nan=False))  # a checkout before json_text
        if emit(rep) != rep_json:
            raise SystemExit("json emit differs from json.dumps")
        out["json emit"] = _best(lambda: emit(rep), runs)
        out["json.dumps (peer)"] = _best(lambda: json.dumps(rep, ensure_ascii=False, indent=2, allow_nan=False), runs)
        out["report dict"] = _best(lambda: cf.report(c), runs)
        out["tables 1-3 + flow"] = _best(lambda: (ct.table1(c), ct.table2(c), ct.table3(c), ct.flow(c)), runs)
        out["csv"] = _best(lambda: cf.report_csv(c), runs)
        out["text"] = _best(lambda: cf.report_text(c), runs)
        out["table 4"] = _best(lambda: ct.table4(c), runs)
        out["records_of"] = _best(lambda: selectors.records_of(ImplantProcedure.objects.all()), runs)

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username="physician"),
                       backend="django.contrib.auth.backends.ModelBackend")

    def page() -> None:
        r = client.get("/dashboard/")
        if r.status_code != 200:
            raise SystemExit(f"GET /dashboard/: {r.status_code}")

    views.clear_dashboard_cache()
    page()  # builds the dashboard once; the runs reuse it
    out["page (board kept)"] = _best(page, runs)
    return out


def _copy(from_db: Path, size: int, tmp: Path) -> Path:
    source = from_db / f"seedtrack-{size}.sqlite3"
    if not source.exists():
        raise SystemExit(f"--from-db: no {source}")
    path = tmp / source.name
    shutil.copyfile(source, path)
    return path


def _child(root: Path, db: Path, runs: int) -> dict[str, float]:
    """``measure`` in a fresh process with ``root`` as the project (its own settings, models and code)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = (f"import sys, json; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(HERE)!r}); "
            f"import report_emit; print(json.dumps(report_emit.measure(__import__('pathlib').Path({str(db)!r}), "
            f"{runs})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{root}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from-db", type=Path, required=True, metavar="DIR",
                    help="DIR/seedtrack-<size>.sqlite3 (copied: the copy is measured)")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline", type=Path, metavar="CHECKOUT", help="another checkout measured in turns")
    args = ap.parse_args()
    root = HERE.parent
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            mine: list[dict[str, float]] = []
            base: list[dict[str, float]] = []
            for _ in range(2 if args.baseline else 1):  # in turns, so both see the same machine load
                if args.baseline:
                    base.append(_child(args.baseline.resolve(), _copy(args.from_db, size, Path(tmp)), args.runs))
                mine.append(_child(root, _copy(args.from_db, size, Path(tmp)), args.runs))
        now = {k: min(m[k] for m in mine) for k in mine[0]}
        print(f"\n{size} patients — CPU s, best of {args.runs}" + (" ×2 turns" if args.baseline else ""))
        if args.baseline:
            before = {k: min(b[k] for b in base) for k in base[0]}
            print(f"  {'':<20} {'baseline':>9} {'this':>9} {'this/base':>9}")
            for k, v in now.items():
                print(f"  {k:<20} {before[k]:9.4f} {v:9.4f} {v / before[k]:9.2f}")
        else:
            for k, v in now.items():
                print(f"  {k:<20} {v:9.4f}")
        print(f"  json emit / json.dumps (same run): {now['json emit'] / now['json.dumps (peer)']:.2f}")


if __name__ == "__main__":
    main()

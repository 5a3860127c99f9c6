"""Speed of the read paths on synthetic cohorts of 1 000 and 10 000 patients: worklist, dashboard, cohort report.

Run: ``.venv/bin/python bench/dashboard.py [--sizes 1000,10000] [--runs 5] [--keep]``

For each size the script starts a fresh Python process (Django is set up once per process, and each size has
its own database) that:

1. points ``DATABASE_URL`` at ``/tmp/seedtrack-bench-<size>.sqlite3`` before ``django.setup()``, deletes the
   file and runs ``migrate`` (``--keep`` keeps the file afterwards; it is deleted otherwise);
2. builds the cohort with :mod:`bench._synthetic` (``bulk_create``, 1 000 patients per transaction): 4 sites,
   1–3 lesions per patient, an implant with pre/post plans and GTV rows, a baseline, the m2 / m6 / m12 visits
   whose window has opened and 2 unscheduled visits (about 5 visits per patient on average, since implants are
   spread over the last 3 years and recent patients have fewer), measurements, Tg / TgAb / TSH per visit,
   skin scores, a few complications and new therapies, **and the derived rows** (``VisitResult``,
   ``LesionVisitResult``, ``FollowUpResult``) with plausible values. Computing the derived rows through
   ``recompute_followup`` for 10 000 patients would take minutes and is not what is measured here (reads are);
   the build time is printed;
3. times ``assessment.services.recompute_followup`` (the cost of one save) on 50 patients spread over the
   cohort, and checks that the engine's categories agree with the synthetic ones;
4. measures, as the role says, with ``django.test.Client`` + ``force_login`` (in-process: no network, no
   browser; ``DEBUG`` off as in production, so no query log):
     * ``GET /worklist/`` as a nurse of one site and as a data manager (all sites);
     * ``GET /dashboard/`` as a physician (every site), as a data manager, and filtered by one site; and the
       figure requests the physician's page makes next (``static/dashboard.js`` fetches every
       ``data-svg-url``; each is its own request), fetched one after the other and timed once, as a sum;
     * ``assessment.cohort.load_cohort(None, CohortFilter())`` + ``report(...)`` (the service), and
       ``call_command("cohort_report", "--format", "json")`` (the command, output to a StringIO).
   Each is run once to warm up, once inside ``CaptureQueriesContext`` to count the SQL queries, then timed
   ``--runs`` times (default 5); the median wall time is reported ("server time": the whole request in this
   process, middleware, session write and template rendering included).

Prints a table (size, what, median / min ms, queries, response size) and one verdict per line against the
target: **< 1000 ms at 10 000 patients on SQLite, and a query count that does not depend on the cohort size**
(same count at every size). Parts that do not exist yet (no ``assessment:dashboard`` URL, no
``assessment.cohort``) are reported as not run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _pandas_bound  # noqa: E402
import _synthetic  # noqa: E402

TARGET_MS = 1000.0
TARGET_SIZE = 10_000
RECOMPUTE_SAMPLE = 50


DB_TAG = os.environ.get("SEEDTRACK_BENCH_TAG", "")  # --tag: runs side by side (e.g. two branches) need their own files


def db_path(size: int) -> Path:
    return Path(f"/tmp/seedtrack-bench-{size}{'-' + DB_TAG if DB_TAG else ''}.sqlite3")


# --- child: one cohort size in its own process -----------------------------------------------------------------


def _measure(fn, runs: int, warm_up: bool = True) -> dict:
    """Warm up, count queries on one run, then time ``runs`` runs. ``fn`` returns (ok, detail, bytes).

    Without ``warm_up`` the counting run is the first run (used where the same code was just warmed up by
    another case and each run is long)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    if warm_up:
        try:
            ok, detail, size = fn()
        except Exception as exc:  # noqa: BLE001 - a part being written elsewhere may fail: report it, go on
            return {"error": f"failed: {type(exc).__name__}: {exc}"[:300]}
        if not ok:
            return {"error": detail}
    # Django empties the query log when a request starts (request_started → reset_queries); start from an empty
    # log so that CaptureQueriesContext's slice [before:after] is not cut off by that reset.
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        ok, detail, size = fn()
    if not ok:
        return {"error": detail}
    n_queries = len(ctx.captured_queries)  # now: the property slices the live log, which the next request resets
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c0) * 1000)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "cpu_median_ms": statistics.median(cpu), "cpu_min_ms": min(cpu),
            "queries": n_queries, "kb": size / 1024, "detail": detail}


def _first_call(fn) -> dict:
    """One call, timed (wall and CPU): the first of its kind in this process, so "cold"."""
    t0, c0 = time.perf_counter(), time.process_time()
    ok, detail, _ = fn()
    return {"wall_ms": (time.perf_counter() - t0) * 1000, "cpu_ms": (time.process_time() - c0) * 1000,
            "ok": ok, "detail": detail}


def _get(client, *urls: str):
    """GET every url in turn (one measurement); all must answer 200."""
    def fn():
        size = 0
        for url in urls:
            r = client.get(url)
            if r.status_code != 200:
                return False, f"HTTP {r.status_code} for {url}", 0
            size += len(r.content)
        return True, "", size

    return fn


def _figure_urls(client, url: str) -> list[str]:
    """The figure requests the dashboard page makes next (static/dashboard.js fetches each data-svg-url)."""
    import html
    import re

    r = client.get(url)
    if r.status_code != 200:
        return []
    return [html.unescape(u) for u in re.findall(r'data-svg-url="([^"]+)"', r.content.decode())]


def _client(user):
    from django.test import Client

    c = Client(HTTP_HOST="localhost")
    c.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return c


def _recompute_sample(n_patients: int) -> dict:
    """recompute_followup on evenly spread patients: ms and queries per patient, engine vs synthetic categories."""
    from django.db import connection, reset_queries, transaction
    from django.test.utils import CaptureQueriesContext

    from assessment.models import VisitResult
    from assessment.services import recompute_followup
    from registry.models import Patient

    step = max(1, n_patients // RECOMPUTE_SAMPLE)
    patients = list(Patient.objects.order_by("pk")[::step][:RECOMPUTE_SAMPLE])
    times, queries = [], []
    agree = total = 0
    for p in patients:
        before = dict(VisitResult.objects.filter(visit__patient=p).values_list("visit_id", "overall"))
        reset_queries()
        with CaptureQueriesContext(connection) as ctx, transaction.atomic():
            recompute_followup(p)
        queries.append(len(ctx.captured_queries))
        after = dict(VisitResult.objects.filter(visit__patient=p).values_list("visit_id", "overall"))
        total += len(before)
        agree += sum(1 for k, v in before.items() if after.get(k) == v)
        t0 = time.perf_counter()
        with transaction.atomic():
            recompute_followup(p)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"n": len(patients), "median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "max_ms": times[-1], "median_queries": statistics.median(queries), "agree": agree, "visits": total}


def _command(size: int, default: bool = False, keep: list | None = None):
    """``call_command("cohort_report", ...)`` into a StringIO; ``keep`` receives the output text."""
    from django.core.management import call_command

    def fn():
        buf = io.StringIO()
        try:
            call_command("cohort_report", *(() if default else ("--format", "json")), stdout=buf)
        except Exception as exc:  # noqa: BLE001 - report any failure of the command as "not run"
            return False, f"not run: {type(exc).__name__}: {exc}"[:200], 0
        text = buf.getvalue()
        n = json.loads(text).get("n_patients")
        if n != size:
            return False, f"command n_patients {n} != {size}", 0
        if keep is not None:
            keep[:] = [text]
        return True, "", len(text.encode())

    return fn


def _cold_get(client, url: str):
    """GET with the Django cache and the process's built dashboards emptied first: the dashboard loads and
    tabulates the cohort again (its cache key is the data version, which no run here changes)."""
    from django.core.cache import cache

    from assessment import views

    get = _get(client, url)
    forget = getattr(views, "clear_dashboard_cache", lambda: None)  # older branches: the Django cache only

    def fn():
        cache.clear()
        forget()
        return get()

    return fn


def _protocol() -> _pandas_bound.Protocol:
    """The protocol settings Table 1 depends on, as the running SeedTrack reads them."""
    from assessment.cohort_data import REMISSION
    from assessment.protocol import CohortSettings, FollowupSettings
    from assessment.schedule import PROTOCOL_MONTHS, ScheduleSettings
    from common.protocol import section_settings

    schedule = section_settings("schedule", ScheduleSettings)
    return _pandas_bound.Protocol(
        dict(PROTOCOL_MONTHS), dict(schedule.windows_days), section_settings("cohort", CohortSettings).in_window_only,
        REMISSION[section_settings("followup", FollowupSettings).remission_definition][1])


def _cold_cohort_cases(size: int, physician, path: Path) -> dict:
    """The first cohort_report and the first cold dashboard of the process, then the pandas bound of the report's
    remission table (Table 1), best of 3 CPU, checked equal to the command's numbers."""
    out: dict = {}
    text: list[str] = []
    print(f"  [{size}] first cohort_report of the process", file=sys.stderr, flush=True)
    out["command_first"] = _first_call(_command(size, keep=text))
    try:
        from django.urls import reverse

        out["dashboard_first"] = _first_call(_cold_get(_client(physician), reverse("assessment:dashboard")))
    except Exception as exc:  # noqa: BLE001 - no dashboard yet: say so
        out["dashboard_first"] = {"ok": False, "detail": f"not run: {exc}"[:200]}
    if not text:
        out["pandas"] = {"error": "not run: the command failed"}
        return out
    protocol = _protocol()
    cpu, wall = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        table = _pandas_bound.remission_table(path, protocol)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    rep = json.loads(text[0])
    problems = _pandas_bound.check(table, rep["table1"], rep["n_patients"])
    out["pandas"] = {"cpu_ms": min(cpu), "wall_ms": min(wall), "equal": not problems, "problems": problems[:5]}
    return out


def _copy_database(source: Path, path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, path)
    path.chmod(0o644)


def _row_counts() -> dict[str, int]:
    from django.apps import apps

    names = ("Patient", "Visit", "Measurement", "LabResult", "VisitResult", "LesionVisitResult")
    return {m.__name__: m.objects.count() for m in apps.get_models() if m.__name__ in names}


def child(size: int, runs: int, keep: bool, out: Path, from_db: Path | None = None) -> None:
    path = db_path(size)
    if from_db is not None:  # a database built before (e.g. by an earlier --keep run): copied, never written to
        _copy_database(from_db / f"seedtrack-{size}.sqlite3", path)
    t0, c0 = time.perf_counter(), time.process_time()
    _synthetic.use_database(path)  # django.setup(): the start-up, timed apart from the work measured below
    startup = {"wall_ms": (time.perf_counter() - t0) * 1000, "cpu_ms": (time.process_time() - c0) * 1000}
    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: STATIC_ROOT not collected
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    settings.DEBUG = False  # as in production: no query log in connection.queries, no template debug info
    if from_db is None:
        migrate_s = _synthetic.fresh_database(path)
    else:
        migrate_s = 0.0
    sites = _synthetic.make_sites()
    users = _synthetic.make_users(sites)

    def progress(done: int, seconds: float) -> None:
        print(f"  [{size}] {done:>6d} patients written, {seconds:6.1f} s", file=sys.stderr, flush=True)

    if from_db is None:
        build = _synthetic.build_cohort(size, today=timezone.localdate(), sites=sites, progress=progress)
        build_s, rows = build.seconds, build.rows
    else:
        build_s, rows = 0.0, _row_counts()
    result: dict = {"size": size, "migrate_s": migrate_s, "build_s": build_s, "rows": rows,
                    "db_mb": path.stat().st_size / 2**20, "cases": [], "startup": startup,
                    "from_db": str(from_db) if from_db else ""}
    cold = _cold_cohort_cases(size, users["physician"], path)  # before anything else loads a cohort here
    result.update(cold)
    print(f"  [{size}] built in {build_s:.1f} s; timing recompute_followup on {RECOMPUTE_SAMPLE} patients",
          file=sys.stderr, flush=True)
    result["recompute"] = _recompute_sample(size)

    nurse, physician, dm = users["nurse"], users["physician"], users["datamanager"]
    site = sites[0].code
    slow_cases: list[tuple[str, object]] = []  # timed once, after the page cases warmed the same code up
    cases: list[tuple[str, object]] = [
        (f"GET /worklist/ nurse (site {site})", _get(_client(nurse), reverse("assessment:worklist"))),
        ("GET /worklist/ data manager (all sites)", _get(_client(dm), reverse("assessment:worklist"))),
    ]
    try:
        dash = reverse("assessment:dashboard")
    except NoReverseMatch:
        result["cases"] += [{"what": w, "error": "not run: no URL named assessment:dashboard yet"} for w in (
            "GET /dashboard/ physician (every site)", "GET /dashboard/ data manager",
            f"GET /dashboard/?site={site} physician")]
    else:
        cases += [
            ("GET /dashboard/ physician, cold cache", _cold_get(_client(physician), dash)),
            ("GET /dashboard/ physician (every site)", _get(_client(physician), dash)),
            ("GET /dashboard/ data manager", _get(_client(dm), dash)),
            (f"GET /dashboard/?site={site} physician", _get(_client(physician), f"{dash}?site={site}")),
        ]
        figures = _figure_urls(_client(physician), dash)
        if figures:
            result["figure_urls"] = figures
            slow_cases.append((f"+ its {len(figures)} figure GETs (.svg), physician, sum",
                               _get(_client(physician), *figures)))
    try:
        from assessment.cohort import load_cohort
        from assessment.cohort_data import CohortFilter
        from assessment.cohort_formats import report
    except ImportError as exc:
        result["cases"].append({"what": "cohort service load_cohort + report", "error": f"not run: {exc}"})
    else:
        def service():
            r = report(load_cohort(None, CohortFilter()))
            if r.get("n_patients") != size:
                return False, f"report n_patients {r.get('n_patients')} != {size}", 0
            return True, "", len(json.dumps(r, default=str))

        cases.append(("cohort service load_cohort(None) + report", service))

    cases.append(("command cohort_report --format json", _command(size)))
    cases.append(("command cohort_report (default: json)", _command(size, default=True)))

    for what, fn in cases:
        print(f"  [{size}] {what}", file=sys.stderr, flush=True)
        m = _measure(fn, runs)
        result["cases"].append({"what": what, **m})
        if what == "GET /dashboard/ physician (every site)":  # the figures the page then fetches, right after it
            for what2, fn2 in slow_cases:
                print(f"  [{size}] {what2}", file=sys.stderr, flush=True)
                result["cases"].append({"what": what2, "single_run": True, **_measure(fn2, 1, warm_up=False)})
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result))
    if not keep:
        from django.db import connection

        connection.close()
        path.unlink(missing_ok=True)


# --- parent: run the sizes, print the table and the verdicts ---------------------------------------------------


def _fmt_rows(rows: dict[str, int]) -> str:
    keys = ("Patient", "Visit", "Measurement", "LabResult", "VisitResult", "LesionVisitResult")
    return ", ".join(f"{rows.get(k, 0):,} {k}" for k in keys)


def _verdicts(results: list[dict]) -> list[str]:
    biggest = max(results, key=lambda r: r["size"])
    smallest = min(results, key=lambda r: r["size"])
    lines = []
    whats = [c["what"] for c in biggest["cases"]]
    for what in whats:
        per_size = {r["size"]: next((c for c in r["cases"] if c["what"] == what), None) for r in results}
        big = per_size[biggest["size"]]
        if big is None or "error" in big:
            lines.append(f"  {what:44s} NOT RUN ({(big or {}).get('error', 'missing')})")
            continue
        ms = big["cpu_median_ms"]  # CPU time: the machine may be shared (wall time is in the table)
        time_ok = ms < TARGET_MS
        at = f"{biggest['size']:,}"
        if biggest["size"] != TARGET_SIZE:
            at += f" (target is stated at {TARGET_SIZE:,})"
        time_txt = (f"{ms:.0f} ms CPU at {at}: " + (f"under by {TARGET_MS - ms:.0f} ms" if time_ok else
                    f"OVER by {ms - TARGET_MS:.0f} ms ({ms / TARGET_MS:.1f}× the target)"))
        counts = {s: c["queries"] for s, c in per_size.items() if c is not None and "error" not in c}
        if len(counts) < 2:
            q_ok, q_txt = True, f"queries {big['queries']} (one size only: independence not checked)"
        else:
            q_ok = len(set(counts.values())) == 1
            seq = " / ".join(f"{counts[s]} at {s:,}" for s in sorted(counts))
            q_txt = f"queries {seq}: " + ("constant" if q_ok else
                                          f"GROW by {counts[biggest['size']] - counts[smallest['size']]}")
        verdict = "MET" if time_ok and q_ok else "NOT MET"
        lines.append(f"  {what:44s} {verdict:8s} {time_txt}; {q_txt}")
    return lines


def _cold_lines(r: dict) -> list[str]:
    """Start-up, first calls of the process, and the pandas bound with the command's ratio to it."""
    size = r["size"]
    st, first, dash = r["startup"], r["command_first"], r["dashboard_first"]
    lines = [f"  Django start-up (django.setup, apart from everything below): {st['cpu_ms']:.0f} ms CPU, "
             f"{st['wall_ms']:.0f} ms wall"]
    if first.get("ok"):
        lines.append(f"  cohort_report --format json, first call of the process (cold): {first['cpu_ms']:.0f} ms CPU, "
                     f"{first['wall_ms']:.0f} ms wall")
    else:
        lines.append(f"  cohort_report first call: {first.get('detail')}")
    if dash.get("ok"):
        lines.append(f"  GET /dashboard/ physician, first of the process, cache empty (cold): {dash['cpu_ms']:.0f} ms "
                     f"CPU, {dash['wall_ms']:.0f} ms wall")
    else:
        lines.append(f"  GET /dashboard/ first call: {dash.get('detail')}")
    pb = r["pandas"]
    if "error" in pb:
        lines.append(f"  pandas bound: {pb['error']}")
        return lines
    warm = next((c for c in r["cases"] if c["what"] == "command cohort_report --format json" and "error" not in c),
                None)
    same = "identical numbers" if pb["equal"] else "DIFFERENT NUMBERS: " + "; ".join(pb["problems"])
    lines.append(f"  pandas bound (read_sql of 5 tables + Table 1 per time point and BOR, best of 3): "
                 f"{pb['cpu_ms']:.0f} ms CPU, {pb['wall_ms']:.0f} ms wall; checked against the command: {same}")
    if warm is not None:
        lines.append(f"  ratio cohort_report / pandas bound at {size:,}: warm {warm['cpu_median_ms'] / pb['cpu_ms']:.1f}× "
                     f"(median {warm['cpu_median_ms']:.0f} ms CPU), cold {first.get('cpu_ms', 0) / pb['cpu_ms']:.1f}× "
                     "(CPU; the command also builds Tables 2–4, the flow and the JSON)")
    return lines


def parent(sizes: list[int], runs: int, keep: bool, from_db: Path | None = None) -> None:
    import platform
    import sqlite3

    print(f"SeedTrack read-path benchmark — python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPU(s); median of {runs} runs after 1 warm-up; Django test client in-process, DEBUG off")
    results = []
    for size in sizes:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        cmd = [sys.executable, __file__, "--child", str(size), "--runs", str(runs), "--out", str(out)]
        if keep:
            cmd.append("--keep")
        if from_db is not None:
            cmd += ["--from-db", str(from_db)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        r = json.loads(out.read_text())
        out.unlink()
        results.append(r)
        rc = r["recompute"]
        n_visits = r["rows"].get("Visit", 0)
        print(f"\nsize {size:,}: migrate {r['migrate_s']:.1f} s, build {r['build_s']:.1f} s "
              f"({sum(r['rows'].values()):,} rows: {_fmt_rows(r['rows'])}; {n_visits / size:.1f} visits/patient), "
              f"database {r['db_mb']:.0f} MB{' kept at ' + str(db_path(size)) if keep else ''}; "
              f"whole run {wall:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
        print(f"  recompute_followup (the cost of one save) on {rc['n']} patients: median {rc['median_ms']:.1f} ms, "
              f"p90 {rc['p90_ms']:.1f} ms, max {rc['max_ms']:.1f} ms, median {rc['median_queries']:.0f} queries per "
              f"patient; engine = synthetic overall category on {rc['agree']}/{rc['visits']} visits")
        for line in _cold_lines(r):
            print(line)

    print(f"\n{'size':>7s}  {'what':44s} {'CPU med ms':>10s} {'CPU min':>8s} {'wall med':>9s} {'queries':>8s} "
          f"{'KB':>8s}")
    for r in results:
        for c in r["cases"]:
            if "error" in c:
                print(f"{r['size']:>7,d}  {c['what']:44s} {c['error']}")
            else:
                star = "*" if c.get("single_run") else " "
                print(f"{r['size']:>7,d}  {c['what']:44s} {c['cpu_median_ms']:9.1f}{star} {c['cpu_min_ms']:8.1f} "
                      f"{c['median_ms']:9.1f} {c['queries']:8d} {c['kb']:8.0f}")
    if any(c.get("single_run") for r in results for c in r["cases"]):
        print("  * one timed run (no separate warm-up: the page just before ran the same code); the figures are "
              "fetched one after the other here, the browser fetches them in parallel")
    print(f"\nVerdicts — target: < {TARGET_MS:.0f} ms at {TARGET_SIZE:,} patients on SQLite and a query count "
          "independent of the cohort size")
    for line in _verdicts(results):
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="comma-separated cohort sizes (default 1000,10000)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    ap.add_argument("--keep", action="store_true", help="keep /tmp/seedtrack-bench-<size>.sqlite3")
    ap.add_argument("--from-db", type=Path, metavar="DIR",
                    help="copy DIR/seedtrack-<size>.sqlite3 (a cohort built before, e.g. kept by --keep and renamed) "
                         "instead of building one; the copy is what is measured")
    ap.add_argument("--tag", help="name the database files /tmp/seedtrack-bench-<size>-TAG.sqlite3 (for runs side by "
                                  "side)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # keep the order of our lines and the child's progress lines
    if args.tag:
        os.environ["SEEDTRACK_BENCH_TAG"] = args.tag  # the child reads it at import
        global DB_TAG
        DB_TAG = args.tag
    if args.child:
        child(args.child, args.runs, args.keep, args.out, args.from_db)
        return
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--sizes {args.sizes!r}: give comma-separated integers, e.g. 1000,10000")
    if not sizes or min(sizes) < 1:
        ap.error(f"--sizes {args.sizes!r}: every size must be ≥ 1")
    parent(sizes, args.runs, args.keep, args.from_db)


if __name__ == "__main__":
    main()

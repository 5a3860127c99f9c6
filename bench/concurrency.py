"""N nurses save a visit at the same moment on a real server over a file SQLite database.

Run: ``.venv/bin/python bench/concurrency.py [-n 8] [--rounds 3]``

For each configuration — the SQLite server options of ``config/database.py`` (WAL, ``BEGIN IMMEDIATE``, a busy
timeout) and, for comparison, ``SQLITE_SERVER_OPTIONS=0`` (Django's SQLite defaults) — and each round: a fresh
temporary database is migrated and filled (one nurse and one patient with a lesion, an implant and a baseline
visit per save; not timed), ``manage.py runserver --noreload`` is started on it, every nurse opens her visit
form, then all N POSTs are released together from threads (timed: wall time of the N POSTs). Prints the
successes (302 to the saved visit), the failures with their cause, the visits actually stored, and the time.
Harness: tests/concurrency/harness.py (the same as the test).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.concurrency import harness  # noqa: E402


def one_round(n: int, server_options: bool) -> tuple[int, Counter, int, float]:
    with tempfile.TemporaryDirectory(prefix="seedtrack-bench-conc-") as folder:
        db = Path(folder) / "db.sqlite3"
        clients = harness.prepare(db, n, server_options=server_options)
        with harness.Server(db, server_options=server_options) as server:
            outcomes, wall_s = harness.run(server, harness.new_visit_jobs(clients))
        stored = sum(harness.stored_visits(db).values())
    ok = sum(1 for o in outcomes if o.status == 302 and o.location.startswith("/visits/"))
    causes = Counter(f"{o.status} {o.error[:60]}".strip() for o in outcomes
                     if not (o.status == 302 and o.location.startswith("/visits/")))
    return ok, causes, stored, wall_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=8, help="concurrent saves (default 8)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    totals = {}
    for label, server_options in (("with server options", True), ("Django SQLite defaults", False)):
        ok_all, stored_all, wall_all = 0, 0, 0.0
        for r in range(args.rounds):
            ok, causes, stored, wall_s = one_round(args.n, server_options)
            ok_all, stored_all, wall_all = ok_all + ok, stored_all + stored, wall_all + wall_s
            print(f"{label:24s} round {r + 1}: {ok}/{args.n} saved, {args.n - ok} failed "
                  f"{dict(causes) if causes else ''}, {stored} visits stored, {wall_s:.2f} s")
        totals[label] = (ok_all, stored_all, wall_all / args.rounds)
    print()
    n_total = args.n * args.rounds
    for label, (ok, stored, wall) in totals.items():
        print(f"{label:24s} {ok}/{n_total} saved ({n_total - ok} failed), {stored} stored, "
              f"mean {wall:.2f} s per {args.n} concurrent saves")
    (ok_on, _, wall_on), (ok_off, _, wall_off) = totals.values()
    print(f"ratio with/without: successes {ok_on}/{ok_off}"
          f"{f' = {ok_on / ok_off:.1f}×' if ok_off else ' (none succeeded without)'}, "
          f"time {wall_on / wall_off:.2f}× (without, the failed saves return early)")


if __name__ == "__main__":
    main()

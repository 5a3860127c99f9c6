"""How long the demo follow-up takes to write through the services, and what the engine's share of it is.

Run: ``.venv/bin/python bench/demo_load.py [--runs 3]``

Each run builds the demo registry and procedures in a fresh SQLite file under ``/tmp`` (``migrate`` first, not
timed), then times ``demo.assessment_data.add_demo_followup`` (42 patients × 4 visits, each saved through
``visit_save`` with its measurements, labs and toxicity, and its categories recomputed in the same transaction).
As a bound from the same run it then times ``recompute_followup`` once per patient over the stored facts: the
engine alone, without the writes. Prints both (median of ``--runs``) and their ratio. This replaced a wall-clock
assertion that used to sit in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_run() -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/demo-bench.sqlite3"
        import django
        from django.conf import settings

        if not settings.configured:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
            os.environ.setdefault("DEBUG", "1")  # the development values make run sets
            os.environ.setdefault("SEEDTRACK_DEMO", "1")
            django.setup()
        from django.db import connections

        connections.close_all()
        settings.DATABASES["default"]["NAME"] = f"{tmp}/demo-bench.sqlite3"
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from assessment import services
        from demo import assessment_data as demo
        from demo.dosimetry_data import add_demo_procedures
        from demo.registry_data import load_demo_cohort
        from registry.models import Patient

        call_command("migrate", verbosity=0)
        load_demo_cohort()
        author = get_user_model().objects.get(username="datamanager")
        add_demo_procedures(author)
        t0 = time.perf_counter()
        added = demo.add_demo_followup(author)
        write_s = time.perf_counter() - t0
        patients = list(Patient.objects.filter(visits__isnull=False).distinct())
        t0 = time.perf_counter()
        for patient in patients:
            services.recompute_followup(patient)
        engine_s = time.perf_counter() - t0
        connections.close_all()
        return write_s, engine_s, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run() for _ in range(args.runs)]
    write_s = statistics.median(r[0] for r in results)
    engine_s = statistics.median(r[1] for r in results)
    visits = results[0][2]
    print(f"demo follow-up written through the services: {visits} visits in {write_s:.2f} s "
          f"({1000 * write_s / visits:.1f} ms per visit, median of {args.runs})")
    print(f"engine alone (recompute_followup per patient over the stored facts): {engine_s:.2f} s")
    print(f"ratio write / engine: {write_s / engine_s:.1f}×")


if __name__ == "__main__":
    main()

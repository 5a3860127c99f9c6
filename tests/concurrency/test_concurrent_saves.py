"""Eight nurses save a visit at the same moment on a real server over a file SQLite database: none may fail.

Without the SQLite server options (config/database.py) 7 of these 8 saves failed with "database is locked"
(500, the visit lost); bench/concurrency.py measures both configurations.
"""

from __future__ import annotations

import re

import pytest

from config.database import SQLITE_ENGINE, with_server_options
from tests.concurrency import harness

N_SAVES = 8


def test_concurrent_visit_saves_all_succeed_and_are_all_stored(tmp_path, migrated_sqlite_file):
    db = tmp_path / "db.sqlite3"
    clients = harness.prepare(db, N_SAVES, template=migrated_sqlite_file)
    with harness.Server(db) as server:
        outcomes, _ = harness.run(server, harness.new_visit_jobs(clients))
    failures = [o for o in outcomes if o.status != 302 or not re.fullmatch(r"/visits/\d+/", o.location)]
    assert len(outcomes) == N_SAVES
    assert failures == [], failures
    assert harness.stored_visits(db) == {c["patient"]: 1 for c in clients}


def test_two_users_saving_the_same_visit_at_once_one_is_saved_and_the_other_refused(tmp_path, migrated_sqlite_file):
    """The version check runs inside the save's transaction: of two simultaneous saves of one form opened at the
    same version, exactly one is stored and the other is refused as stale (never both, never a 500)."""
    db = tmp_path / "db.sqlite3"
    clients = harness.prepare(db, 2, template=migrated_sqlite_file)
    first = clients[0]
    edit = f"/visits/{first['baseline_visit']}/edit/"
    jobs = [harness.Job(c["session"], edit, edit, harness.visit_post_data(
        first["lesion"], reader=f"Dr {name}", timepoint="baseline", visit_date=harness.dt.date(2018, 1, 25),
        skin_grade=""))
        for c, name in zip(clients, ("Alpha", "Beta"), strict=True)]
    with harness.Server(db) as server:
        outcomes, _ = harness.run(server, jobs)
    statuses = sorted(o.status for o in outcomes)
    assert statuses == [200, 302], outcomes
    refused = next(o for o in outcomes if o.status == 200)
    assert "changed this record after you opened the form" in refused.error
    import sqlite3

    with sqlite3.connect(db) as conn:
        (reader,) = conn.execute("SELECT reader FROM assessment_visit WHERE id = ?",
                                 (first["baseline_visit"],)).fetchone()
    winner = "Dr Alpha" if outcomes[0].status == 302 else "Dr Beta"
    assert reader == winner
    assert f'value="{"Dr Beta" if winner == "Dr Alpha" else "Dr Alpha"}"' in refused.error  # typed value kept


def test_the_server_options_apply_to_sqlite_only():
    sqlite = with_server_options({"ENGINE": SQLITE_ENGINE, "NAME": "x.sqlite3"}, sqlite_timeout_s=7)
    assert sqlite["OPTIONS"] == {"transaction_mode": "IMMEDIATE", "timeout": 7,
                                 "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "db", "OPTIONS": {}}
    assert with_server_options(postgres) == postgres


def test_explicit_sqlite_options_win_over_the_defaults():
    db = with_server_options({"ENGINE": SQLITE_ENGINE, "OPTIONS": {"timeout": 3}})
    assert db["OPTIONS"]["timeout"] == 3
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_the_default_database_is_configured_for_a_web_server(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != SQLITE_ENGINE:
        pytest.skip("PostgreSQL run: the SQLite options do not apply")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]

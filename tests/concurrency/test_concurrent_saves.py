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


def test_concurrent_visit_saves_all_succeed_and_are_all_stored(tmp_path):
    db = tmp_path / "db.sqlite3"
    clients = harness.prepare(db, N_SAVES)
    with harness.Server(db) as server:
        outcomes, _ = harness.run(server, clients)
    failures = [o for o in outcomes if o.status != 302 or not re.fullmatch(r"/visits/\d+/", o.location)]
    assert len(outcomes) == N_SAVES
    assert failures == [], failures
    assert harness.stored_visits(db) == {c["patient"]: 1 for c in clients}


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

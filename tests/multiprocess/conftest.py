"""The real multi-process path: Celery workers and web processes against one database and the local Redis.

These tests start subprocesses (a fresh database per module: a copy of the session's migrated SQLite file, or a new
PostgreSQL database migrated; workers, gunicorn). They skip with the reason when Redis is unreachable on
127.0.0.1:6379, unless SEEDTRACK_REQUIRE_REDIS=1 (set by .ci/run), in which case that is a failure. Each test uses its own queue and cache key prefix, so concurrent runs on one Redis do not
see each other's tasks.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SEEDTRACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POLL_S = 0.5


@pytest.fixture(scope="module")
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("SEEDTRACK_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {REDIS_URL} ({exc}) and SEEDTRACK_REQUIRE_REDIS=1")
        pytest.skip(f"multi-process tests skipped: Redis unreachable at {REDIS_URL} ({exc})")
    return REDIS_URL


class Stack:
    """A database of its own (SQLite file, or a new PostgreSQL database when the suite runs on PostgreSQL), the
    environment every subprocess gets, and the processes started (ended by ``stop``)."""

    def __init__(self, folder: Path, database_url: str, redis: str) -> None:
        self.folder, self.database_url, self.redis = folder, database_url, redis
        self.processes: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL",
                                                                  "REDIS_URL", "DATABASE_URL"}}
        return {**keep, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "SEEDTRACK_DEMO": "1",
                "DATABASE_URL": self.database_url, "MEDIA_ROOT": str(self.folder / "media"),
                "STATIC_ROOT": str(self.folder / "static"), "CELERY_BROKER_URL": self.redis, **extra}

    def run(self, *args: str, **extra: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env(**extra), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout

    def start(self, args: list[str], log: str, **extra: str) -> subprocess.Popen:
        with (self.folder / log).open("w") as out:
            process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env(**extra), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.folder / name).read_text()[-4000:]

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def stop(self) -> None:
        for process in self.processes:
            self.kill(process)

    def query(self, sql: str, *params):
        """Rows of one query, read directly (the test process does not share Django's test database)."""
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as conn:
                return conn.execute(sql, params).fetchall()
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def poll(self, sql: str, *params, until, polls: int = 240, process: subprocess.Popen | None = None,
             log: str = ""):
        """Query every POLL_S until ``until(rows)``: a bounded number of polls, no deadline on the clock."""
        for _ in range(polls):
            rows = self.query(sql, *params)
            if until(rows):
                return rows
            if process is not None:
                assert process.poll() is None, self.log(log)
            time.sleep(POLL_S)
        pytest.fail(f"{sql} never reached the state waited for: {rows}\n" + (self.log(log) if log else ""))


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, redis_url):
    folder = tmp_path_factory.mktemp("stack")
    url = os.environ.get("DATABASE_URL", "")
    name = None
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"seedtrack_multi_{secrets.token_hex(4)}"
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = url.rsplit("/", 1)[0] + "/" + name
    else:  # a copy of the session's migrated file (tests/conftest.py) instead of a migration per module
        from tests.conftest import copy_sqlite_file

        copy_sqlite_file(request.getfixturevalue("migrated_sqlite_file"), folder / "stack.sqlite3")
        database_url = f"sqlite:///{folder / 'stack.sqlite3'}"
    s = Stack(folder, database_url, redis_url)
    try:
        if name is not None:
            s.run("manage.py", "migrate", "--noinput", "-v", "0")
        s.patient_pk = int(s.run("-m", "tests.multiprocess.stack", "seed").split()[-1])
        yield s
    finally:
        s.stop()
        if name is not None:
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def queue():
    """A queue of this test's own on the shared Redis."""
    return f"seedtrack-test-{secrets.token_hex(4)}"

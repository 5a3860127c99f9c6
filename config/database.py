"""Database options that depend on the engine.

SQLite as the database of a web server (several requests writing at once) needs three things, all set here and
only for SQLite (PostgreSQL, the production choice, is left exactly as dj-database-url configures it):

* ``journal_mode=WAL``: readers do not block the writer and the writer does not block readers;
* ``transaction_mode=IMMEDIATE``: every ``transaction.atomic`` block takes the write lock at ``BEGIN``, so two
  transactions that read then write cannot deadlock (SQLite would fail one of them at once with "database is
  locked", without waiting); they queue instead;
* a busy ``timeout``: a writer waits up to ``SQLITE_TIMEOUT_S`` seconds for the lock instead of failing.

``synchronous=NORMAL`` is the recommended durability level with WAL (a power cut may lose the last commits,
never corrupt the file). Django ≥ 5.1 supports ``transaction_mode`` and multi-statement ``init_command``.
"""

from __future__ import annotations

from typing import Any

SQLITE_ENGINE = "django.db.backends.sqlite3"
SQLITE_INIT_COMMAND = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"


def with_server_options(db: dict[str, Any], *, sqlite_timeout_s: int = 20) -> dict[str, Any]:
    """``db`` (one ``DATABASES`` entry) with the SQLite web-server options added; other engines unchanged."""
    if db.get("ENGINE") != SQLITE_ENGINE:
        return db
    options = {
        "transaction_mode": "IMMEDIATE",
        "timeout": sqlite_timeout_s,
        "init_command": SQLITE_INIT_COMMAND,
        **db.get("OPTIONS", {}),  # anything set explicitly wins
    }
    return {**db, "OPTIONS": options}

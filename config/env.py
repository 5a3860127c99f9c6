"""Tiny typed readers for environment variables (healthchecks-style): a bad value is an error, not a guess."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


class StartupError(ImproperlyConfigured):
    """A setting that stops the start: ``manage.py`` and ``config/wsgi.py`` print it as one line and exit 1."""


def startup_message(exc: BaseException) -> str:
    """The one line printed for a settings error (no traceback)."""
    return f"SeedTrack: {exc} — see README § Deployment"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise StartupError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]

"""Settings come from the environment; production (DEBUG off) is the default and is production-safe.

Values and refusals are read by running config/settings.py in this process under the environment a fresh
``manage.py`` would get (its module globals are what Django reads); real processes check what only a start shows:
``check --deploy`` (three runs), and the one stderr line and exit status of manage.py and of the WSGI application."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import StartupError, startup_message

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "k3y-" + "x7Yq9!pL2#mZ" * 5, "ALLOWED_HOSTS": "seedtrack.example.org",
              "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}  # production runs a task queue (never contacted here)
# Variables the test suite sets for itself (tests/settings.py) or that would change what is measured here.
_SUITE_VARIABLES = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SEEDTRACK_DEMO", "DJANGO_SETTINGS_MODULE",
                    "DJANGO_ALLOW_ASYNC_UNSAFE", "SECURE_SSL_REDIRECT", "CELERY_BROKER_URL", "REDIS_URL"}


def _clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in _SUITE_VARIABLES}
    return {**clean, **env}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_clean_env(**env),
                          capture_output=True, text=True, timeout=120)


_ENV_AT_START = dict(os.environ)


def _settings_module(monkeypatch, **env: str) -> dict:
    """config/settings.py run in this process with exactly the environment ``_manage(**env)`` gives manage.py: the
    module's globals, i.e. the settings Django would read (a refusal raises as it would stop the start)."""
    wanted = {**{k: v for k, v in _ENV_AT_START.items() if k not in _SUITE_VARIABLES}, **env}
    for name in list(os.environ):
        if name not in wanted:
            monkeypatch.delenv(name)
    for name, value in wanted.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "settings.py"))


def _setting(monkeypatch, name: str, **env: str) -> str:
    return repr(_settings_module(monkeypatch, **env)[name])


def _start_line(monkeypatch, **env: str) -> str:
    """The one line manage.py prints (then exits 1) when the settings refuse ``env``."""
    with pytest.raises(StartupError) as exc:
        _settings_module(monkeypatch, **env)
    return startup_message(exc.value)


def test_check_deploy_is_silent_with_production_variables():
    result = _manage("check", "--deploy", "--database", "default", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_stops_a_production_start_without_a_task_queue():
    """Without a broker, imports would run inside web requests (gunicorn's timeout): serve.sh's check refuses."""
    env = {k: v for k, v in PRODUCTION.items() if k != "CELERY_BROKER_URL"}
    result = _manage("check", "--deploy", "--database", "default", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "seedtrack.W002" in result.stderr and "CELERY_BROKER_URL is not set" in result.stderr


def test_debug_is_off_when_unset(monkeypatch):
    env = {k: v for k, v in PRODUCTION.items() if k != "DEBUG"}
    assert _setting(monkeypatch, "DEBUG", **env) == "False"
    assert _setting(monkeypatch, "SECURE_SSL_REDIRECT", **env) == "True"


def test_unset_secret_key_stops_the_start_with_one_line():
    """With nothing set (production by default) manage.py says what is missing in one line, no traceback."""
    result = _manage("check", ALLOWED_HOSTS="seedtrack.example.org")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "SeedTrack: SECRET_KEY is not set; production (DEBUG off) needs it — see README § Deployment"]
    assert "Traceback" not in result.stderr


def test_unset_allowed_hosts_stops_the_start_with_one_line(monkeypatch):
    line = _start_line(monkeypatch, DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"])
    assert "\n" not in line
    assert line.startswith("SeedTrack: ALLOWED_HOSTS is not set; production (DEBUG off) needs the host names")


def test_the_committed_development_key_is_refused_in_production(monkeypatch):
    from django.conf import settings

    line = _start_line(monkeypatch, **{**PRODUCTION, "SECRET_KEY": settings.DEV_SECRET_KEY})
    assert line.splitlines() == ["SeedTrack: SECRET_KEY is the committed development key; production "
                                 "(DEBUG off) needs its own — see README § Deployment"]


def test_the_wsgi_application_stops_with_the_same_line():
    result = subprocess.run([sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=_clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "SeedTrack: SECRET_KEY is not set; production (DEBUG off) needs it — see README § Deployment"]


def test_a_malformed_boolean_is_an_error_naming_the_variable(monkeypatch):
    assert _start_line(monkeypatch, DEBUG="maybe").splitlines() == [
        "SeedTrack: DEBUG='maybe' is not a boolean; use 1/0, true/false, yes/no or on/off — see README § Deployment"]


def test_demo_mode_is_asked_for_explicitly_never_implied_by_debug(monkeypatch):
    assert _setting(monkeypatch, "DEMO_MODE", DEBUG="1") == "False"
    assert _setting(monkeypatch, "DEMO_MODE", **PRODUCTION) == "False"
    assert _setting(monkeypatch, "DEMO_MODE", DEBUG="1", SEEDTRACK_DEMO="1") == "True"


def test_development_uses_the_committed_key_only_with_debug_on(monkeypatch):
    from django.conf import settings

    assert _setting(monkeypatch, "SECRET_KEY", DEBUG="1") == repr(settings.DEV_SECRET_KEY)
    assert _setting(monkeypatch, "ALLOWED_HOSTS", DEBUG="1") == "['127.0.0.1', 'localhost']"


def test_development_defaults_warn_under_check_deploy():
    """The same check fails on the development values, so the silence above means something."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on

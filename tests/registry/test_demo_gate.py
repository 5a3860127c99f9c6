"""Demo accounts exist only when the demo is asked for; a production start refuses while one exists (issue 10).

The demo app (and with it ``load_demo_cohort``) is installed only in demo mode (issue 11).
"""

import importlib
import io
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from registry.demo_accounts import DEMO_PASSWORD
from tests.test_settings import PRODUCTION, ROOT

pytestmark = pytest.mark.django_db


def _e001(databases=("default",)):
    return [m for m in checks.run_checks(include_deployment_checks=True, databases=list(databases))
            if m.id == "seedtrack.E001"]


@pytest.mark.parametrize("env", [PRODUCTION, {"DEBUG": "1"}], ids=["production", "debug-without-demo"])
def test_without_demo_mode_the_command_does_not_exist_and_touches_nothing(env, tmp_path):
    database = tmp_path / "never-created.sqlite3"
    # the suite's own values (tests/settings.py puts DEBUG and SEEDTRACK_DEMO in the environment) are left out
    inherited = {k: v for k, v in os.environ.items()
                 if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SEEDTRACK_DEMO", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run([sys.executable, "manage.py", "load_demo_cohort"], cwd=ROOT,
                            env={**inherited, **env, "DATABASE_URL": f"sqlite:///{database}"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "SeedTrack: unknown command 'load_demo_cohort': it belongs to the demo app, which is installed only in "
        "demo mode (set SEEDTRACK_DEMO=1, as `make run` does)"]
    assert not database.exists()  # the database was never opened, so no user or patient was written


def test_a_demo_user_name_with_debug_off_is_a_deploy_error(settings):
    settings.DEBUG = False
    assert _e001() == []
    get_user_model().objects.create_user("datamanager", password="something-else-entirely")
    [error] = _e001()
    assert error.level == checks.ERROR
    assert "Demo accounts exist with DEBUG off: datamanager." in error.msg
    # the command line reports it as a deployment check on the database
    with pytest.raises(SystemCheckError, match="seedtrack.E001"):
        call_command("check", "--deploy", "--database", "default", stdout=io.StringIO(), stderr=io.StringIO())
    # without --database the check does not touch the database
    assert _e001(databases=()) == []


def test_any_user_with_the_published_demo_password_is_reported(settings):
    settings.DEBUG = False
    get_user_model().objects.create_user("ward_pc", password=DEMO_PASSWORD)
    get_user_model().objects.create_user("careful", password="a-real-password-42")
    [error] = _e001()
    assert "ward_pc" in error.msg and "careful" not in error.msg


def test_debug_on_allows_the_demo_users(settings):
    settings.DEBUG = True
    get_user_model().objects.create_user("nurse", password=DEMO_PASSWORD)
    assert _e001() == []


def _import_wsgi():
    sys.modules.pop("config.wsgi", None)
    return importlib.import_module("config.wsgi")


def test_the_wsgi_start_refuses_with_one_line_while_a_demo_user_exists(settings, capsys):
    settings.DEBUG = False
    assert _import_wsgi().application is not None  # no demo user: it starts
    capsys.readouterr()
    get_user_model().objects.create_user("reviewer", password="x-unrelated-1")
    with pytest.raises(SystemExit) as refused:  # the start stops, with one line on stderr
        _import_wsgi()
    err = capsys.readouterr().err
    assert refused.value.code == 1 and err.count("\n") == 1 and "Demo accounts exist with DEBUG off: reviewer" in err
    sys.modules.pop("config.wsgi", None)


def test_the_wsgi_start_tests_the_demo_password_of_staff_and_superusers(settings, capsys):
    settings.DEBUG = False
    get_user_model().objects.create_user("ward_pc", password=DEMO_PASSWORD)  # the deploy check's business
    assert _import_wsgi().application is not None
    get_user_model().objects.create_user("admin2", password=DEMO_PASSWORD, is_staff=True)
    with pytest.raises(SystemExit):
        _import_wsgi()
    assert "Demo accounts exist with DEBUG off: admin2" in capsys.readouterr().err
    sys.modules.pop("config.wsgi", None)

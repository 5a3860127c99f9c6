"""Demo accounts exist only when the demo is asked for; a production start refuses while one exists (issue 10)."""

import importlib
import io
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from registry.demo import DEMO_PASSWORD
from registry.models import Patient

pytestmark = pytest.mark.django_db


def _e001(databases=("default",)):
    return [m for m in checks.run_checks(include_deployment_checks=True, databases=list(databases))
            if m.id == "seedtrack.E001"]


def test_the_command_refuses_outside_demo_mode_and_creates_nothing(settings):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError) as refused:
        call_command("load_demo_cohort", stdout=io.StringIO())
    assert str(refused.value) == ("Refused: demo data and demo users are loaded only in demo mode "
                                  "(set SEEDTRACK_DEMO=1, as `make run` does).")
    assert get_user_model().objects.count() == 0
    assert Patient.objects.count() == 0


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

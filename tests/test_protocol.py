"""The protocol is parsed into the cores' settings when Django starts: a bad value stops every entry point with one
line naming its key; a good override reaches the core; a protocol a test assigns at run time is parsed lazily.

Each refusal is checked in this process (the file loaded as config/settings.py loads it, then every app's sections
registered as its ``ready()`` does, the line as manage.py prints it); three real processes check that manage.py and
the WSGI application stop with that line (exit status 1) and that a good file reaches the cores."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured

from assessment import services as assessment_services
from assessment.recist import Mode, RecistSettings
from common.protocol import ProtocolError, section_settings
from config.env import startup_message
from config.protocol import load_protocol
from dosimetry import services as dosimetry_services

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, args: list[str], protocol: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(protocol))
    env = {**os.environ, "DEBUG": "1", "SEEDTRACK_PROTOCOL_FILE": str(path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _start_line(settings, tmp_path: Path, protocol: dict) -> str:
    """The line manage.py prints when the start refuses ``protocol``, in this process: the file loaded as
    config/settings.py loads it, every app's protocol sections registered as its ``ready()`` registers them."""
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(protocol))
    settings.SEEDTRACK_PROTOCOL = load_protocol(str(path))
    with pytest.raises(ImproperlyConfigured) as exc:
        for app in django_apps.get_app_configs():
            if hasattr(app, "register_protocol"):
                app.register_protocol()
    return startup_message(exc.value)


# One bad value per section; the core refusing it and the allowed values follow the key.
BAD = [
    ("eligibility", "kps_min", "x", "a whole number ≥ 0"),
    ("rair", "high_cumulative_activity_gbq", -1, "a finite number of GBq > 0"),
    ("plausibility", "earliest_date", "1900-13-01", "a date YYYY-MM-DD"),
    ("dosimetry", "dvh_supersampling", 0, "a whole number from 1 to 32"),
    ("recist", "pr_pct", 100, "0 < pr_pct < 100"),
    ("schedule", "m2_window_days", "x", "an integer >= 0 (days)"),
    ("followup", "tg_dt_min_points", 2, "an integer >= 3"),
    ("cohort", "in_window_only", "yes", "true or false"),
]


@pytest.mark.parametrize(("section", "key", "value", "allowed"), BAD, ids=[f"{s}.{k}" for s, k, _, _ in BAD])
def test_a_bad_value_stops_the_start_naming_its_key(settings, tmp_path, section, key, value, allowed):
    line = _start_line(settings, tmp_path, {section: {key: value}})
    assert line.startswith(f"SeedTrack: protocol {section}.{key} = {value!r}: "), line
    assert allowed in line


def test_a_bad_value_stops_manage_py_naming_its_key(settings, tmp_path):
    section, key, value, allowed = BAD[4]  # recist.pr_pct = 100
    result = _run(tmp_path, ["manage.py", "check"], {section: {key: value}})
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"SeedTrack: protocol {section}.{key} = {value!r}: "), line
    assert allowed in line
    assert line == _start_line(settings, tmp_path, {section: {key: value}})  # the line checked in-process above


def test_a_bad_value_stops_the_wsgi_application_with_the_same_line(tmp_path):
    result = _run(tmp_path, ["-c", "import config.wsgi"], {"schedule": {"m6_window_days": -1}})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "SeedTrack: protocol schedule.m6_window_days = -1: got -1; allowed: an integer >= 0 (days) "
        "— see README § Deployment"]


def test_a_window_overlap_names_the_keys_the_core_names(settings, tmp_path):
    """No single key is wrong on its own: the message keeps the core's words, which name both windows."""
    line = _start_line(settings, tmp_path, {"schedule": {"m2_window_days": 58, "m6_window_days": 62}})
    assert "\n" not in line
    assert line.startswith("SeedTrack: protocol schedule"), line
    assert "m2_window_days + m6_window_days" in line


def test_a_good_override_reaches_the_cores(tmp_path):
    code = ("from assessment import services as a; from dosimetry import services as d; "
            "from registry.models import check_dates; from common.protocol import section_settings; "
            "from registry.plausibility import DateLimits; from registry.eligibility import EligibilityThresholds; "
            "print(a.schedule_settings().windows_days['m12'], a.followup_settings().doubling_time.min_points, "
            "a.followup_settings().toxicity.acute_last_day, a.recist_settings().mode.value, "
            "d.protocol_settings().dvh_supersampling, section_settings('plausibility', DateLimits).earliest, "
            "section_settings('eligibility', EligibilityThresholds).platelets_min_e9_per_l)")
    result = _run(tmp_path, ["manage.py", "shell", "-c", code], {
        "schedule": {"m12_window_days": 45}, "followup": {"tg_dt_min_points": 3, "rtog_acute_last_day": 120},
        "recist": {"mode": "per_lesion"}, "dosimetry": {"dvh_supersampling": 2},
        "plausibility": {"earliest_date": "1950-01-01"}, "eligibility": {"platelets_min_e9_per_l": 50}})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["45", "3", "120", "per_lesion", "2", "1950-01-01", "50"]


def test_a_protocol_assigned_at_run_time_is_parsed_once_per_dict(settings):
    default = assessment_services.recist_settings()
    assert default.mode is Mode.STRICT
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "recist": {**settings.SEEDTRACK_PROTOCOL["recist"], "mode": "per_lesion"}}
    parsed = section_settings("recist", RecistSettings)
    assert parsed.mode is Mode.PER_LESION and parsed.pr_pct == default.pr_pct
    assert section_settings("recist", RecistSettings) is parsed  # memoised for this dict
    assert assessment_services.recist_settings("strict").mode is Mode.STRICT  # a mode asked for wins
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "dosimetry": {**settings.SEEDTRACK_PROTOCOL["dosimetry"], "tg43_flag_pct": "5%"}}
    with pytest.raises(ProtocolError, match=r"^protocol dosimetry\.tg43_flag_pct = '5%': got '5%'; allowed: "):
        dosimetry_services.protocol_settings()


def test_a_section_is_read_as_the_class_it_was_parsed_into():
    with pytest.raises(TypeError, match="parsed as ScheduleSettings, not RecistSettings"):
        section_settings("schedule", RecistSettings)

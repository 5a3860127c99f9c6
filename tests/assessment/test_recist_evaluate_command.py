"""``manage.py recist_evaluate``: the scripted contract (JSON in, JSON out, exit 2 + one stderr line).

The numbers and every kind of input error are checked through ``call_command`` in this process; the process itself
(stdin through a pipe, exit status, exactly one stderr line) through three real ``manage.py`` runs."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]

PAYLOAD = {
    "implant_date": "2017-01-10",
    "settings": {"sd_min_days": 42, "confirmation_min_days": 28, "mode": "strict"},
    "lesions": [
        {"id": "L1", "organ": "lymph node", "nodal": True, "role": "target"},
        {"id": "N1", "organ": "bone", "nodal": False, "role": "non-target"},
    ],
    "assessments": [
        {"date": "2017-01-03", "target": {"L1": 22}, "non_target": {"N1": "present"}, "new_lesions": False},
        {"date": "2017-03-12", "target": {"L1": 14}, "non_target": {"N1": "present"}, "new_lesions": False},
        {"date": "2017-07-10", "target": {"L1": 19}, "non_target": {"N1": "present"}, "new_lesions": False},
    ],
}


def run(args, stdin=None):
    return subprocess.run([sys.executable, "manage.py", "recist_evaluate", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def call(args, stdin="", monkeypatch=None):
    """The command in this process: its stdout, or the CommandError it raised (stdout must then be empty)."""
    out = io.StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        call_command("recist_evaluate", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        assert out.getvalue() == ""
        return exc
    return out.getvalue()


def test_file_input_gives_pd_against_nadir(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(PAYLOAD))
    result = call([str(f)])
    assert isinstance(result, str), result  # no CommandError: exit status 0
    out = json.loads(result)
    assert out["rule_set"] == "RECIST1.1"
    base, m2, m6 = out["timepoints"]
    assert base["overall"] is None and base["sum_mm"] == 22
    assert (m2["overall"], m2["change_from_baseline_pct"]) == ("PR", -36.4)
    # 19 mm is below baseline (22) but ≥ 20 % and ≥ 5 mm above the nadir (14): PD
    assert (m6["overall"], m6["nadir_mm"], m6["day"]) == ("PD", 14, 181)
    assert out["best_overall_response"] == {"unconfirmed": "PR", "confirmed": "SD"}


def test_stdin_input():
    r = run(["-"], stdin=json.dumps(PAYLOAD))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["timepoints"][1]["target"] == "PR"


@pytest.mark.parametrize("change, fragment", [
    (lambda p: p["lesions"].append({"id": "L2", "organ": "lymph node", "nodal": True, "role": "target"})
     or p["lesions"].append({"id": "L3", "organ": "lymph node", "nodal": True, "role": "target"})
     or [a["target"].update({"L2": 20, "L3": 18}) for a in p["assessments"]],
     "at most 2 targets per organ"),
    (lambda p: p["assessments"][1]["target"].update({"L9": 3}), "L9"),
    (lambda p: p["assessments"].insert(1, p["assessments"].pop()), "2017-07-10"),
    (lambda p: p["assessments"][1]["target"].update({"L1": -3}), "negative"),
])
def test_invalid_input_exits_2_with_one_line(change, fragment, monkeypatch):
    payload = json.loads(json.dumps(PAYLOAD))
    change(payload)
    exc = call(["-"], stdin=json.dumps(payload), monkeypatch=monkeypatch)
    assert isinstance(exc, CommandError) and exc.returncode == 2
    lines = str(exc).strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], str(exc)


def test_missing_file_and_bad_json_exit_2():
    r = run(["/nonexistent/x.json"])
    assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "file not found" in r.stderr
    r = run(["-"], stdin="{")
    assert r.returncode == 2 and "not valid JSON" in r.stderr

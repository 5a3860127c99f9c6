"""``manage.py cohort_report``: JSON / CSV / text on stdout; bad arguments exit 2 with one stderr line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    out = io.StringIO()
    call_command("cohort_report", *args, stdout=out)
    return out.getvalue()


def test_json_report_of_one_site(six):  # noqa: F811
    rep = json.loads(run("--format", "json", "--site", "AAA"))
    assert rep["n_patients"] == 5 and rep["filter"]["site"] == "AAA"
    assert (rep["mode"], rep["rule_set"]) == ("strict", "RECIST1.1")
    m2 = rep["table1"]["rows"][0]
    assert (m2["timepoint"], m2["n"], m2["counts"]["pd"]) == ("m2", 5, 1)
    assert m2["remission"]["text"].startswith("4/5 (80.00%, 95% CI ")
    assert rep["table4"]["n_pairs"] == 4


def test_per_lesion_mode_and_dates(six):  # noqa: F811
    rep = json.loads(run("--mode", "per_lesion", "--from", "2018-05-01", "--to", "2018-12-31"))
    assert rep["n_patients"] == 2 and rep["rule_set"] == "RECIST1.1-MODIFIED-PER-LESION"
    assert rep["table1"]["unit"] == "lesion" and rep["table1"]["rows"][0]["n"] == 3  # P5 L1, P6 L1 + L2


def test_csv_and_text(six):  # noqa: F811
    rows = list(csv.reader(io.StringIO(run("--format", "csv", "--histology", "follicular"))))
    assert rows[0] == ["table", "row", "column", "value"]
    assert all(len(r) == 4 for r in rows)
    assert ["report", "", "n_patients", "1"] in rows
    assert ["table1", "m6", "counts.pd", "1"] in rows
    text = run("--format", "text")
    assert text.startswith("SeedTrack cohort report\n")
    assert "Mode: RECIST 1.1 (per patient) — rule set RECIST1.1; patients: 6" in text
    assert "12 months not assessed (1): " in text


def test_unknown_site_exits_2_with_one_line(sites):
    with pytest.raises(CommandError) as exc:
        run("--site", "ZZZ")
    assert exc.value.returncode == 2
    assert str(exc.value) == "site: got 'ZZZ'; allowed: one of AAA, BBB"


def _cli(*args):
    return subprocess.run([sys.executable, "manage.py", "cohort_report", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


BAD_ARGUMENTS = [
    (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["--from", "2018-13-01"], "argument --from: '2018-13-01' is not a date; use YYYY-MM-DD"),
    (["--mode", "loose"], "argument --mode: invalid choice: 'loose'"),
    (["--from", "2019-01-01", "--to", "2018-01-01"],
     "implant_from: got '2019-01-01'; allowed: a date on or before implant_to (2018-01-01)"),
    (["--histology", "anaplastic"], "histology: got 'anaplastic'; allowed: one of papillary, follicular"),
]


@pytest.mark.parametrize("args, fragment", BAD_ARGUMENTS)
@pytest.mark.django_db
def test_bad_arguments_exit_2_with_one_line(args, fragment):
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("cohort_report", *args, stdout=out, stderr=io.StringIO())
    assert exc.value.returncode == 2
    assert out.getvalue() == ""
    lines = str(exc.value).splitlines()
    assert len(lines) == 1 and fragment in lines[0], str(exc.value)


# The process: exit status 2, nothing on stdout, one stderr line — for an argument argparse refuses and for one
# the filter refuses (the other kinds are checked in this process above).
@pytest.mark.parametrize("args, fragment", [BAD_ARGUMENTS[0], BAD_ARGUMENTS[4]])
def test_bad_arguments_exit_2_with_one_stderr_line(args, fragment):
    r = _cli(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("CommandError: ") and fragment in lines[0], r.stderr

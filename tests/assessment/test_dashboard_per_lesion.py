"""The dashboard in per-lesion mode (``?mode=per_lesion``): its patient-flow CSV and every figure's SVG / CSV.

The flow counts patients in either mode (registered → eligible → implanted → evaluable at 2, 6 and 12 months;
Table 1's per-lesion rows name the same evaluable patients), so the per-lesion page and its ``flow.csv`` give the
same flow as the per-patient ones, with the reason for every patient missing at a step."""

from __future__ import annotations

import csv
import io

from assessment import dashboard as dash
from assessment.cohort import load_cohort
from assessment.cohort_data import CohortFilter
from tests.assessment.test_populations import five, followed  # noqa: F401 - fixtures


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_per_lesion_flow_csv_counts_patients_and_says_why_each_is_missing(client, login, users, five):  # noqa: F811
    login(users["physician"])
    r = client.get("/dashboard/flow.csv?mode=per_lesion")
    assert r.status_code == 200 and r["Content-Type"] == "text/csv; charset=utf-8"
    rows = _rows(r.content.decode())
    sid = {k: five[k].study_id for k in "ABCDE"}
    steps = {row["step"]: (row["n"], row["of"]) for row in rows}
    # the eligible patient of the fixture is registered and eligible, never implanted; A–E implanted unassessed
    assert steps == {"registered": ("6", ""), "eligible": ("1", "registered"), "implanted": ("5", "eligible"),
                     "m2": ("2", "implanted"), "m6": ("2", "implanted"), "m12": ("1", "implanted")}
    m2 = {row["study_id"]: (row["counted"], row["reason"], row["detail"]) for row in rows if row["step"] == "m2"}
    # A (PR) is evaluable and not listed; B's visit on day 80 falls outside the 2-month window and is not counted;
    # E is NE: counted in the 2 evaluable and flagged
    assert m2[sid["B"]] == ("no", "visit outside window", "visit on day 80, window days 45–73")
    assert m2[sid["E"]] == ("yes", "NE", "visit on day 61: NE")
    assert m2[sid["C"]][:2] == ("no", "visit not done") and m2[sid["D"]][:2] == ("no", "not yet due")
    assert sid["A"] not in m2
    m12 = {row["study_id"]: row["reason"] for row in rows if row["step"] == "m12"}
    assert m12[sid["B"]] == "died" and sid["A"] not in m12
    # patients in either mode: the same file as the per-patient dashboard's
    assert r.content == client.get("/dashboard/flow.csv?mode=strict").content

    page = client.get("/dashboard/?mode=per_lesion").content.decode()
    assert 'id="flow-m2"' in page and 'Evaluable at 2 months</strong>: <span class="flow-n">2</span>' in page
    assert "Evaluable at 2 months (n = 2) of 5 implanted" in page  # Table 1's population: the same patients
    board = dash.build(load_cohort(None, CohortFilter(mode="per_lesion")))
    assert [p.n for p in board.populations] == [5, 2, 2, 1]  # all implanted; evaluable at 2, 6, 12 months


def test_per_lesion_figures_answer_200_or_404_never_500(client, login, users, five):  # noqa: F811
    """Every figure of the per-patient dashboard, asked for in per-lesion mode: drawn (SVG and CSV) when the
    per-lesion dashboard draws it, 404 otherwise (overall survival has no per-lesion figure; Tg is patient-level)."""
    login(users["physician"])
    keys = [f.key for f in dash.build(load_cohort(None, CohortFilter(mode="strict"))).figures]
    lesion_board = dash.build(load_cohort(None, CohortFilter(mode="per_lesion")))
    drawn = {f.key for f in lesion_board.figures if f.drawable}
    assert {"os", "tg"} <= set(keys) - drawn and drawn  # the per-lesion board leaves these two out, draws others
    for key in keys:
        for ext in ("svg", "csv"):
            r = client.get(f"/dashboard/{key}.{ext}?mode=per_lesion")
            assert r.status_code == (200 if key in drawn else 404), (key, ext, r.status_code)
    km = _rows(client.get("/dashboard/km.csv?mode=per_lesion").content.decode())
    assert km and {row["label"] for row in km} == {"All lesions"}

"""Physicians' dashboard: tables from the cohort service, one SVG and one CSV per figure, same filters."""

import csv
import io
import re

import pytest

from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests


def _ids(svg: str, prefix: str) -> list[str]:
    return re.findall(rf'id="({prefix}[a-z0-9-]+)"', svg)


def test_dashboard_tables_and_figures_agree(client, login, users, six):  # noqa: F811
    login(users["physician"])
    page = client.get("/dashboard/").content.decode()
    # site A (physician_a): patients 1-5; 2 months P1 PR, P2 SD, P3 PR, P4 PR, P5 PD → 4/5 remission
    assert "4/5 (80.00%" in page
    svg = client.get("/dashboard/waterfall.svg").content.decode()
    bars = _ids(svg, "bar-")
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/waterfall.csv").content.decode())))
    assert len(bars) == len(rows) == 5
    assert sorted(bars) == sorted("bar-" + r["patient"].lower() for r in rows)
    rate_svg = client.get("/dashboard/remission.svg").content.decode()
    assert len(_ids(rate_svg, "rate-")) == 6  # 3 time points × (remission, ORR)
    assert 'role="img"' in rate_svg and "aria-label=" in rate_svg


def test_filters_reach_figures_and_csv(client, login, users, six):  # noqa: F811
    login(users["data_manager"])
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/waterfall.csv?site=BBB").content.decode())))
    assert [r["patient"] for r in rows] == [six[6].study_id]
    page = client.get("/dashboard/?mode=per_lesion").content.decode()
    assert "modified RECIST (per lesion)" in page


def test_bad_filter_is_explained_not_a_500(client, login, users, six):  # noqa: F811
    login(users["physician"])
    r = client.get("/dashboard/?site=ZZZ&from=2018-13-01")
    assert r.status_code == 200
    page = r.content.decode()
    assert "from: got &#x27;2018-13-01&#x27;; allowed: a date YYYY-MM-DD" in page
    assert "site: got &#x27;ZZZ&#x27;; allowed: one of AAA (empty for all my sites)" in page  # her sites only
    r = client.get("/dashboard/?site=ZZZ")
    assert "site: got &#x27;ZZZ&#x27;" in r.content.decode()


@pytest.mark.parametrize("url", ["/dashboard/nosuch.svg", "/dashboard/nosuch.csv"])
def test_unknown_figure_is_404(client, login, users, six, url):  # noqa: F811
    login(users["physician"])
    assert client.get(url).status_code == 404


def test_nurse_of_site_b_sees_only_site_b(client, login, users, six):  # noqa: F811
    login(users["nurse_b"])
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/waterfall.csv").content.decode())))
    assert [r["patient"] for r in rows] == [six[6].study_id]


def test_physician_home_is_the_dashboard(client, login, users):
    login(users["physician"])
    assert client.get("/").url == "/dashboard/"


def test_a_saved_visit_shows_at_once_despite_the_cache(client, login, users, six):  # noqa: F811
    import datetime as dt
    from decimal import Decimal

    from assessment import services

    login(users["physician"])
    assert "4/5 (80.00%" in client.get("/dashboard/").content.decode()
    p2 = six[2]  # SD at 2 months; add an unequivocal new lesion at an unscheduled visit → PD appears in the BOR CSV
    before = client.get("/dashboard/waterfall.csv").content.decode()
    les = p2.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p2, data=services.VisitInput(
        visit={"visit_date": p2.procedures.get().date + dt.timedelta(days=20), "timepoint": "unscheduled",
               "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("12"), "short_mm": Decimal("4")}}))
    after = client.get("/dashboard/waterfall.csv").content.decode()
    assert after != before


def test_toxicity_table_counts_not_scored_apart_from_grade_0(client, login, users, build, six):  # noqa: F811
    import datetime as dt

    from assessment import dashboard, services
    from assessment.cohort import load_cohort
    from assessment.cohort_data import CohortFilter

    waiting = build(implant=dt.date(2018, 7, 10), sizes={"baseline": {"L1": 20}})  # no follow-up visit yet
    services.toxicity_save(user=users["nurse"], patient=six[1], data={
        "kind": "rtog_skin", "onset_date": dt.date(2018, 3, 11), "grade": 2})
    rtog, ctcae = dashboard.toxicity_table(load_cohort(None, CohortFilter()))
    # RTOG: only P1 has a skin grade; the other 6 (P2–P6 without a grade, the waiting patient) are not scored
    assert (rtog.n_scored, rtog.not_scored, rtog.grades) == (1, 6, (0, 0, 1, 0, 0))
    assert rtog.cells[2] == "1 (100.0 %)"
    # CTCAE: the 6 followed-up patients have no complication recorded = grade 0; the waiting one is not scored
    assert (ctcae.n_scored, ctcae.not_scored, ctcae.grades) == (6, 1, (6, 0, 0, 0, 0))
    assert ctcae.cells[0] == "6 (100.0 %)"
    assert ctcae.note.startswith("% of the 6 scored patients; 1 not scored")

    login(users["physician"])
    page = client.get("/dashboard/").content.decode()
    # the physician sees site A only: P1–P5 followed up (CTCAE grade 0), the waiting patient not scored
    assert "% of the scored patients" in page and "<td>5</td><td>5 (100.0 %)</td>" in page
    patient_page = client.get(f"/patients/{waiting.pk}/").content.decode()
    assert "RTOG/EORTC skin not scored; CTCAE v5 not scored" in patient_page and "grade 0" not in patient_page
    followed = client.get(f"/patients/{six[2].pk}/").content.decode()
    assert "RTOG/EORTC skin not scored; CTCAE v5 grade 0 (none recorded)" in followed


def test_per_lesion_dashboard_every_figure_counts_lesions_and_says_so(client, login, users, six):  # noqa: F811
    """Property over every dashboard figure in per-lesion mode: the title and the caption carry "modified RECIST
    (per lesion)"; each drawn item is a lesion (7 lesions: P1–P5 L1, P6 L1 and L2) and the CSV names the unit."""
    from assessment import dashboard
    from assessment.cohort import load_cohort
    from assessment.cohort_data import CohortFilter
    from reports.plots import _slug

    label = "modified RECIST (per lesion)"
    board = dashboard.build(load_cohort(None, CohortFilter(mode="per_lesion")))
    lesions = sorted([f"{p.study_id} L1" for p in six.values()] + [f"{six[6].study_id} L2"])
    for f in board.figures:
        assert label in f.title and (label in f.caption or f.key == "remission"), (f.key, f.title, f.caption)
    assert "lesions assessed" in board.figure("remission").caption
    assert not board.figure("tg").drawable and "patient-level" in board.figure("tg").empty_reason

    login(users["data_manager"])
    for key, prefix in (("waterfall", "bar-"), ("spider", "spider-"), ("swimmer", "swim-")):
        svg = client.get(f"/dashboard/{key}.svg?mode=per_lesion").content.decode()
        assert sorted(_ids(svg, prefix)) == sorted(prefix + _slug(name) for name in lesions), key
        rows = list(csv.DictReader(io.StringIO(client.get(f"/dashboard/{key}.csv?mode=per_lesion").content.decode())))
        assert sorted({r["lesion"] for r in rows}) == lesions, key
        assert "Patients" not in svg
    svg = client.get("/dashboard/waterfall.svg?mode=per_lesion").content.decode()
    assert "Lesions (n = 7)" in svg and "Best change in lesion diameter (%)" in svg
    dose = list(csv.DictReader(io.StringIO(client.get("/dashboard/dose.csv?mode=per_lesion").content.decode())))
    assert sorted(r["lesion"] for r in dose) == sorted(f"{six[k].study_id} L1" for k in (1, 2, 3, 4))  # with a post plan
    km = client.get("/dashboard/km.csv?mode=per_lesion").content.decode()
    assert "All lesions" in km
    vol = list(csv.DictReader(io.StringIO(client.get("/dashboard/volume.csv?mode=per_lesion").content.decode())))
    assert sum(1 for r in vol if r["timepoint"] == "Baseline" and r["statistic"] == "volume") == 7
    page = client.get("/dashboard/?mode=per_lesion").content.decode()
    assert "Patients (n =" not in page
    assert "Lesion volume <small>(unit: lesion; modified RECIST (per lesion))</small>" in page
    assert "Tg (ng/mL), median" not in page
    assert "toxicity is scored per patient, also in modified RECIST (per lesion)" in page  # says its unit

"""Issue 5: the physician opens the dashboard on the demo cohort; every figure renders as a non-empty SVG with the
right number of bars or points, and a CSV download holds exactly what its figure draws."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_physician_dashboard_renders_every_figure_and_csv_matches(live_server, page, demo, shot):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("User name").fill("physician")
    page.get_by_label("Password").fill(demo)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    table = page.locator("#table1").inner_text()
    assert "41/42 (97.62%" in table and "37/42 (88.10%" in table and "36/42 (85.71%, 95% CI 72.16–93.28)" in table
    for key in ("remission", "waterfall", "spider", "swimmer", "km", "tg", "volume", "dose"):
        page.locator(f"#fig-{key} svg").wait_for()  # all loaded before the test ends (no request in flight)
    drawn_marks = {  # figure: (id prefix of its marks, how many the demo cohort gives)
        "remission": ("rate", 6), "waterfall": ("bar", 42), "spider": ("spider", 42), "swimmer": ("swim", 42),
        "km": ("km", 1), "tg": ("tg", 42), "volume": ("volume", 4), "dose": ("dose", 42),
    }
    for key, (prefix, n) in drawn_marks.items():
        expect(page.locator(f'#fig-{key} [id^="{prefix}-"]')).to_have_count(n)
    for key in ("remission", "waterfall", "km"):
        assert page.locator(f"#fig-{key} svg").get_attribute("aria-label")  # accessible name
    shot("dashboard")
    with page.expect_download() as dl:
        page.locator("#fig-waterfall").get_by_role("link", name="Data (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == drawn_marks["waterfall"][1]
    drawn = [page.locator('#fig-waterfall [id^="bar-"]').nth(i).get_attribute("id") for i in range(drawn_marks["waterfall"][1])]
    assert sorted(drawn) == sorted("bar-" + r["patient"].lower() for r in rows)
    assert sum(r["best_response"] == "PD" for r in rows) == 1  # the one PD at its best (2-month progression)


def test_reviewer_filters_the_dashboard_by_site_and_mode(live_server, page, demo):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("User name").fill("reviewer")
    page.get_by_label("Password").fill(demo)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"{live_server.url}/dashboard/?site=DLH&mode=per_lesion")
    assert "modified RECIST (per lesion)" in page.locator("h1").inner_text()
    assert "12 patients" in page.locator("h1").inner_text()
    assert "lesion" in page.locator("#table1 h2").inner_text()
    for figure in page.locator("figure.plot[data-svg-url]").all():
        expect(figure.locator("svg")).to_have_count(1)
    expect(page.locator('#fig-waterfall [id^="bar-"]')).to_have_count(14)  # one bar per lesion: DLH's 14
    assert "NTC-" not in page.locator("#fig-waterfall").inner_text()

"""A nurse records a 6-month visit in a real browser and sees the computed category with its reason."""

import datetime as dt
from decimal import Decimal

import pytest

from assessment import services

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_nurse_records_the_6_month_visit_and_sees_category_and_reason(
    browser_login, live_server, procedure, users, shot
):
    p = procedure.patient
    les = p.lesions.get(label="L1")
    for when, tp, short in ((dt.date(2018, 1, 25), "baseline", "20"), (dt.date(2018, 4, 5), "m2", "13")):
        services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
            visit={"visit_date": when, "timepoint": tp, "modality": "ct"},
            measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal(short),
                                   "third_mm": Decimal("20")}}))
    page = browser_login("nurse_a", PASSWORD)
    page.goto(f"{live_server.url}/patients/{p.pk}/")
    assert "missed" in page.locator("#schedule").inner_text()  # 2018 visits, long past
    page.get_by_role("link", name="Record 6 months visit").click()
    page.get_by_label("Visit date").fill("2018-08-03")
    row = page.locator("#measurements tr[data-lesion='L1']")
    assert "13.0 mm SA" in row.locator(".prev").inner_text()
    assert "13.0 mm" in row.locator(".nadir").inner_text()
    page.get_by_label("L1 long axis (mm)").fill("25")
    page.get_by_label("L1 short axis (mm)").fill("19")
    page.get_by_label("L1 third axis (mm)").fill("20")
    page.get_by_label("Tg result").fill("<0.2")
    page.get_by_label("TgAb result").fill("<1")
    page.get_by_label("RTOG/EORTC skin grade").select_option("1")
    shot("followup-visit-form")
    page.get_by_role("button", name="Save visit").click()
    page.wait_for_url(f"{live_server.url}/visits/*/")
    assert "PD (progressive disease)" in page.locator("#overall").inner_text()
    reason = page.locator("#reason").inner_text()
    assert "19 mm" in reason and "nadir 13 mm" in reason, reason
    shot("followup-visit-result")
    page.get_by_role("link", name=p.study_id).first.click()
    visits = page.locator("#visits").inner_text()
    assert "PD" in visits and "PR" in visits
    assert "done" in page.locator("#schedule").inner_text()


def test_out_of_window_visit_warns_in_the_preview_and_before_saving(browser_login, live_server, procedure, users):
    from playwright.sync_api import expect

    p = procedure.patient
    les = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                               "third_mm": Decimal("20")}}))
    page = browser_login("nurse_a", PASSWORD)
    page.goto(f"{live_server.url}/patients/{p.pk}/visits/new/?timepoint=m2")
    page.get_by_label("Visit date").fill("2018-02-13")  # day 8
    page.get_by_label("L1 long axis (mm)").fill("25")
    page.get_by_label("L1 short axis (mm)").fill("19")
    warning = "2 months visit on day 8: the window is day 45 to day 73 (2 months ± 14 days)"
    expect(page.locator("#preview-warnings")).to_contain_text(warning)
    page.get_by_role("button", name="Save visit").click()
    expect(page.locator("#override-warnings")).to_contain_text("A physician must confirm")
    expect(page.locator("#override-warnings")).to_contain_text(warning)
    page.get_by_label("Time point").select_option("unscheduled")
    expect(page.locator("#preview-warnings li")).to_have_count(0)
    page.get_by_role("button", name="Save visit").click()
    page.wait_for_url(f"{live_server.url}/visits/*/")
    expect(page.locator("h1")).to_contain_text("Unscheduled visit")

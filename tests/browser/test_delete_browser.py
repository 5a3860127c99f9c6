"""A physician deletes a followed patient in a real browser: the page lists what goes, a reason is required; the
dashboard's date filters bound each other so the form cannot ask for a period that ends before it starts."""

import datetime as dt
from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_physician_deletes_a_followed_patient_with_a_reason(browser_login, live_server, procedure, users, shot):
    from assessment import services as followup
    from registry.models import Patient

    patient = procedure.patient
    lesion = patient.lesions.get()
    followup.visit_save(user=users["nurse"], patient=patient, data=followup.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 20), "timepoint": "baseline", "modality": "ct"},
        measurements={lesion.pk: {"qualifier": "measured", "long_mm": D("28"), "short_mm": D("20")}}))
    page = browser_login("physician_a", PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("link", name="Delete…").first.click()
    expect(page.locator("#delete-list")).to_contain_text("1 visit")
    expect(page.locator("#delete-list")).to_contain_text("1 implant procedure")
    page.get_by_label("Reason for deletion").fill("no")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alert").first).to_contain_text("at least 5 characters")
    shot("registry-delete-confirm")
    page.get_by_label("Reason for deletion").fill("registered at the wrong hospital")
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(f"{live_server.url}/patients/")
    expect(page.locator(".messages")).to_contain_text("registered at the wrong hospital")
    assert not Patient.objects.filter(pk=patient.pk).exists()


def test_dashboard_dates_bound_each_other(browser_login, live_server, users):
    page = browser_login("physician_a", PASSWORD)
    page.goto(f"{live_server.url}/dashboard/")
    page.locator("#f-from").fill("2018-03-01")
    page.locator("#f-from").dispatch_event("change")
    expect(page.locator("#f-to")).to_have_attribute("min", "2018-03-01")
    page.locator("#f-to").fill("2018-09-30")
    page.locator("#f-to").dispatch_event("change")
    expect(page.locator("#f-from")).to_have_attribute("max", "2018-09-30")


def test_bad_dashboard_parameter_is_shown_on_the_page(browser_login, live_server, users):
    page = browser_login("physician_a", PASSWORD)
    page.goto(f"{live_server.url}/dashboard/?histology=%27%3B+DROP")
    expect(page.locator("#query-errors")).to_contain_text("histology: got \"';")
    expect(page.locator("#query-errors")).to_contain_text("allowed: one of papillary")

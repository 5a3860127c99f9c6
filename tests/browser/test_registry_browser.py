"""A nurse logs in, opens a patient, edits a field and sees the change in the history — in a real browser."""

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_nurse_edits_a_patient_and_sees_it_in_the_history(browser_login, live_server, eligible_patient, users, shot):
    page = browser_login("nurse_a", PASSWORD)
    assert page.url.endswith("/worklist/")  # a nurse's home
    page.get_by_role("link", name="Patients", exact=True).click()
    shot("registry-patient-list")
    page.get_by_role("link", name=eligible_patient.study_id).click()
    expect(page.locator("#eligibility-badge")).to_have_text("Eligible")
    page.get_by_role("link", name="Edit patient").click()
    page.get_by_label("Given name").fill("Janet")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server.url}/patients/{eligible_patient.pk}/")
    history = page.locator("#history tbody tr").first.inner_text()
    assert "nurse_a" in history and "Jane" in history and "Janet" in history
    shot("registry-patient-detail")


def test_nurse_of_another_site_gets_404(browser_login, live_server, eligible_patient):
    page = browser_login("nurse_b", PASSWORD)
    response = page.goto(f"{live_server.url}/patients/{eligible_patient.pk}/")
    assert response.status == 404
    assert eligible_patient.study_id not in page.content()


def test_inline_error_names_the_value(browser_login, live_server, eligible_patient, shot):
    page = browser_login("nurse_a", PASSWORD)
    page.goto(f"{live_server.url}/patients/{eligible_patient.pk}/courses/new/")
    page.locator("#id_date").fill("2015-05-05")
    page.locator("#id_activity_value").fill("-2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").first).to_have_text("Activity -2 GBq must be greater than 0.")
    shot("registry-inline-error")

"""Issue 5: the nurse logs in, sees an overdue visit on her worklist, records it from the keyboard with the live
provisional category, and sees the saved category with its reason (equal to what was shown)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from assessment import services
from assessment.models import VisitResult
from dosimetry import services as dosimetry_services
from dosimetry.models import SeedModel
from registry import services as registry_services

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def due_patient(make_patient, users):
    p = make_patient("A", record_number="MRN-DUE")
    les = registry_services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "cervical_node", "cervical_level": "IV", "side": "right", "nodal": True,
        "baseline_long_mm": Decimal("30"), "baseline_short_mm": Decimal("22"), "baseline_third_mm": Decimal("25")})
    # 2-month window (2 calendar months ± 14 days) still open today, closing within the week: a visit recorded
    # today is in its window (an overdue one, outside it, needs a physician's confirmation: test_visit_window.py)
    implant = timezone.localdate() - dt.timedelta(days=70)
    dosimetry_services.procedure_save(user=users["data_manager"], patient=p, lesions=[les], data={
        "date": implant, "operator": "Dr W", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 14, "activity_per_seed_mbq": Decimal("22"), "activity_calibration_date": implant,
        "prescription_gy": Decimal("120")})
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": implant - dt.timedelta(days=7), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("30"), "short_mm": Decimal("22"),
                               "third_mm": Decimal("25")}}))
    return p


def test_nurse_records_a_due_visit_from_the_worklist(browser_login, live_server, page, due_patient, shot):
    p = due_patient
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("User name").fill("nurse_a")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/worklist/")
    row = page.locator("#worklist tbody tr").filter(has_text=p.study_id).filter(has_text="2 months")
    assert row.inner_text().startswith("due")
    shot("worklist")
    row.get_by_role("link", name=f"Record 2 months visit for {p.study_id}").click()
    assert page.locator("#id_visit-timepoint").input_value() == "m2"
    # keyboard only: the focus starts on the visit date (today, pre-filled); Enter moves to the first axis
    # the form's deferred script sets the focus: wait for it rather than racing it
    expect(page.locator("#id_visit-visit_date")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("L1 long axis (mm)")).to_be_focused()
    page.keyboard.type("21")
    page.keyboard.press("Tab")
    page.keyboard.type("14")
    page.keyboard.press("Tab")
    page.keyboard.type("16")
    page.keyboard.press("Tab")
    preview = page.locator("#preview")
    preview.get_by_text("Provisional: PR").wait_for()
    shown = preview.inner_text()
    assert "sum 14.0 mm" in shown
    shot("visit-form-live-preview")
    page.get_by_label("Tg result").focus()
    page.keyboard.type("<0.2")
    page.get_by_label("TgAb result").focus()
    page.keyboard.type("<1")
    page.keyboard.press("Enter")  # Enter moves to the next everyday field: the skin grade
    page.keyboard.type("1")
    assert page.get_by_label("RTOG/EORTC skin grade").input_value() == "1"
    page.keyboard.press("Enter")  # … and saves after the last one
    page.wait_for_url(f"{live_server.url}/visits/*/")
    assert "PR (partial response)" in page.locator("#overall").inner_text()
    reason = page.locator("#reason").inner_text()
    assert reason in shown  # the saved reason is the one shown while typing
    saved = VisitResult.objects.get(visit__patient=p, visit__timepoint="m2")
    assert saved.overall == "PR" and saved.sum_mm == Decimal("14.0")
    page.goto(f"{live_server.url}/worklist/")
    # the recorded visit leaves the worklist: no 2-month row for this patient any more
    expect(page.locator("#worklist tbody tr").filter(has_text=p.study_id).filter(has_text="2 months")).to_have_count(0)

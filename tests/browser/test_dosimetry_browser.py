"""A physician uploads a pre-plan and a post-implant export and sees them side by side with the TG-43 check."""

import pytest

from ..conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_pre_and_post_exports_in_the_browser(browser_login, live_server, procedure, export, tmp_path, shot):
    page = browser_login("physician_a", PASSWORD)
    for kind in ("pre", "post"):
        folder = tmp_path / f"upload-{kind}"
        folder.mkdir()
        paths = []
        for name, content in export(kind, shift_cm=0.0 if kind == "pre" else 0.08):
            (folder / name).write_bytes(content)
            paths.append(str(folder / name))
        page.goto(f"{live_server.url}/procedures/{procedure.pk}/dicom/")
        page.get_by_label("Kind").select_option(kind)
        page.locator("#id_files").set_input_files(paths)
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/mapping/")
        page.get_by_label("Structure “GTV_L1”").select_option("GTV")
        page.get_by_label("Structure “Skin”").select_option("")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{live_server.url}/procedures/{procedure.pk}/")
    table = page.locator("#pre-post").inner_text()
    assert "D90 (Gy)" in table and "DICOM import" in table
    assert page.locator("#dvh-plot svg path").count() > 0
    assert page.locator("#dvh-plot g[id^='dvh-']").count() >= 2
    checks = page.locator("table.tg43-check").all_inner_texts()
    assert len(checks) == 2 and all("OK" in c for c in checks)
    shot("dosimetry-procedure")


def test_physician_confirms_another_patients_export_then_chooses_the_plan_of_record_and_signs_off(
        browser_login, live_server, procedure, export, tmp_path, users, shot):
    from decimal import Decimal

    from playwright.sync_api import expect

    from dosimetry import services

    services.plan_save(user=users["nurse"], procedure=procedure, kind="post", source="manual",
                       plan_data={"prescription_gy": Decimal("120")},
                       structures=[{"role": "GTV", "volume_cm3": 4.2, "d90_gy": 100.0, "d100_gy": 70.0,
                                    "v100_pct": 80.0, "v150_pct": 50.0}])
    page = browser_login("physician_a", PASSWORD)
    folder = tmp_path / "upload-other"
    folder.mkdir()
    paths = []
    for name, content in export("post", patient=("SYNTH-0001", "DOE^JANE")):
        (folder / name).write_bytes(content)
        paths.append(str(folder / name))
    page.goto(f"{live_server.url}/procedures/{procedure.pk}/dicom/")
    page.get_by_label("Kind").select_option("post")
    page.locator("#id_files").set_input_files(paths)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/mapping/")
    expect(page.locator("#export-checks")).to_contain_text("PatientID (0010,0020) 'SYNTH-0001' does not match")
    page.get_by_label("Structure “GTV_L1”").select_option("GTV")
    page.get_by_label("Structure “Skin”").select_option("")
    page.get_by_role("button", name="Confirm and import").click()
    expect(page.locator(".errors, .error").first).to_contain_text("at least 5 characters")
    page.get_by_label("Override reason (physician)").fill("Old MRN in the TPS, identity checked")
    page.get_by_role("button", name="Confirm and import").click()
    page.wait_for_url(f"{live_server.url}/procedures/{procedure.pk}/")
    expect(page.locator("#dicom-imports")).to_contain_text("Old MRN in the TPS, identity checked")
    expect(page.locator("#pre-post thead")).to_contain_text("DICOM import")  # the new default plan of record
    form = page.locator("#plan-of-record-post")
    form.locator("select").select_option(label=form.locator("option", has_text="Entered by hand").inner_text())
    form.get_by_label("Reason").fill("DICOM export checked later")
    form.get_by_role("button", name="Make it the plan of record").click()
    expect(page.locator("#pre-post thead")).to_contain_text("Entered by hand")
    signature = page.locator("#dosimetry-sign-off form.signature")
    expect(signature).to_contain_text("approve the dosimetry of the implant procedure")
    signature.get_by_label("Your password (electronic signature)").fill("not my password")
    page.get_by_role("button", name="Sign off the dosimetry (plans of record)").click()
    expect(page.locator("#signature-errors")).to_contain_text("the password is not the password of physician_a")
    page.get_by_label("Your password (electronic signature)").fill(PASSWORD)  # the sign-off page, asked again
    page.locator("#sign-off-button").click()
    expect(page.locator("#sign-off-status")).to_contain_text("Signed off by physician_a")
    expect(page.locator("#sign-off-covers")).to_contain_text("Post-implant: Entered by hand plan")
    shot("dosimetry-sign-off")

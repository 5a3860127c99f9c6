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

"""Issue 10 § Deployment defaults: under the Content-Security-Policy (no inline script or style) the main pages
load without a single violation — the dashboard's figures fetched and drawn, the visit form's script, the DVH on
the procedure page, the admin — and still work (figures drawn, the dashboard's date bounds set by its script)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


def _watch(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(LISTEN)
    return messages


def _violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def _log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_main_pages_log_no_csp_violation(live_server, page, demo):
    from dosimetry.models import ImplantProcedure

    console = _watch(page)
    base = live_server.url
    procedure = ImplantProcedure.objects.order_by("pk").first()
    patient = procedure.patient
    _log_in(page, base, "physician", demo)
    seen: dict[str, list[str]] = {}
    for path in ("/dashboard/", "/worklist/", "/patients/", f"/patients/{patient.pk}/",
                 f"/procedures/{procedure.pk}/", f"/patients/{patient.pk}/visits/new/", "/dosimetry/table4/",
                 f"/patients/{patient.pk}/edit/", "/no-such-page/"):
        page.goto(f"{base}{path}")
        if path == "/dashboard/":
            for figure in page.locator("figure.plot[data-svg-url]").all():
                expect(figure.locator("svg")).to_have_count(1, timeout=90000)  # fetched by dashboard.js, put in the page
            page.locator("#f-from").fill("2017-03-01")
            page.locator("#f-from").dispatch_event("change")
            assert page.locator("#f-to").get_attribute("min") == "2017-03-01"  # the script runs
        page.wait_for_load_state("load")
        seen[path] = _violations(page)
    assert {p: v for p, v in seen.items() if v} == {}
    assert console == []

    page.context.clear_cookies()
    _log_in(page, base, "datamanager", demo)
    for path in ("/admin/", "/admin/registry/patient/", f"/admin/registry/patient/{patient.pk}/change/"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
        assert _violations(page) == [], path
    assert console == []

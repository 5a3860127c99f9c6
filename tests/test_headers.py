"""Issue 10 § Deployment defaults: nothing Django serves may be cached (Cache-Control: no-store), and a
Content-Security-Policy that allows no inline script or style — which the templates and the inline SVG figures
must then not need (the dashboard's title used to hold an include and a <script>)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _assert_no_store(response):
    assert response["Cache-Control"] == "no-store", (response.status_code, response.get("Cache-Control"))
    assert response["Pragma"] == "no-cache"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.django_db
def test_every_kind_of_response_says_no_store(client, login, users, procedure):
    """Pages, a redirect, CSV and SVG, the API, the admin, errors (403, 404) and the anonymous login page."""
    _assert_no_store(client.get("/login/"))  # Django's never_cache header is replaced, not added to
    _assert_no_store(client.get("/patients/"))  # anonymous: the redirect to the login page
    login(users["physician"])
    patient = procedure.patient
    for url in ("/patients/", f"/patients/{patient.pk}/", f"/procedures/{procedure.pk}/", "/dashboard/",
                "/dashboard/flow.csv", "/worklist/", "/no-such-page/"):
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        _assert_no_store(response)
    login(users["reviewer"])
    forbidden = client.get("/patients/new/")
    assert forbidden.status_code == 403
    _assert_no_store(forbidden)
    login(users["data_manager"])
    _assert_no_store(client.get("/admin/"))


@pytest.mark.django_db
def test_dashboard_figures_and_csv_are_not_stored(client, login, users, procedure):
    login(users["physician"])
    page = client.get("/dashboard/")
    keys = re.findall(r'data-svg-url="/dashboard/([a-z_]+)\.svg', page.content.decode())
    for key in keys or ["remission"]:
        for suffix in (".svg", ".csv"):
            response = client.get(f"/dashboard/{key}{suffix}")
            _assert_no_store(response)  # drawn (200) or "nothing to plot" (404): both not stored


@pytest.mark.django_db
def test_content_security_policy_allows_no_inline_script_or_style(client):
    response = client.get("/login/")
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


_INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def _inline_code(html: str) -> list[str]:
    return [name for name, pattern in _INLINE.items() if pattern.search(html)]


def test_no_template_carries_inline_script_style_or_handlers():
    """The policy blocks them, so none may be left: every template of the project and its apps."""
    templates = [p for d in ("templates", "registry", "assessment", "dosimetry", "reports")
                 for p in (ROOT / d).rglob("*.html")]
    assert len(templates) > 20
    found = {str(p.relative_to(ROOT)): _inline_code(p.read_text()) for p in templates}
    assert {p: f for p, f in found.items() if f} == {}


def test_inline_svg_figures_carry_no_style_for_the_policy_to_block():
    """matplotlib writes style="fill: …" on every shape and a <style> element; in a page under the policy the
    figure would lose its colours, hatches and dashes. svg_inline writes them as presentation attributes."""
    from reports import plots

    curves = [plots.DvhCurve("Pre-plan", (0.0, 50.0, 120.0, 200.0), (100.0, 95.0, 90.0, 0.0)),
              plots.DvhCurve("Post-implant", (0.0, 60.0, 130.0, 210.0), (100.0, 96.0, 91.0, 0.0), "dashed")]
    svg = plots.svg_inline(plots.dvh_figure(curves, 120.0, "DVH"), "DVH")
    assert _inline_code(svg) == []
    assert 'stroke-dasharray="' in svg  # the dashed curve is still dashed
    assert re.search(r'<path [^>]*fill="#ffffff"', svg)  # the background is still white
    assert 'stroke-linejoin="round" stroke-linecap="butt"' in svg.split(">", 1)[0]  # the stylesheet's one rule


@pytest.mark.django_db
def test_rendered_pages_carry_no_inline_code(client, login, users, procedure):
    login(users["physician"])
    patient = procedure.patient
    for url in ("/patients/", f"/patients/{patient.pk}/", f"/procedures/{procedure.pk}/", "/dashboard/",
                "/dashboard/?inline=1", "/worklist/", f"/patients/{patient.pk}/visits/new/", "/dosimetry/table4/",
                f"/patients/{patient.pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _inline_code(response.content.decode()) == [], url


@pytest.mark.django_db
def test_dashboard_tab_title_is_plain_text(client, login, users):
    """A broken merge put the protocol deviations include and a <script> inside {% block title %}."""
    login(users["physician"])
    html = client.get("/dashboard/").content.decode()
    [title] = re.findall(r"<title>(.*?)</title>", html, re.S)
    assert title == "Response dashboard · SeedTrack"
    assert html.count('<section id="protocol-deviations">') <= 1
    assert html.count("dashboard.js") == 1


def test_static_files_are_served_before_the_no_store_middleware():
    """WhiteNoise answers static files itself (long-lived cache headers); the headers middleware comes after it."""
    middleware = settings.MIDDLEWARE
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") < middleware.index(
        "config.headers.NoStoreMiddleware")
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") < middleware.index(
        "csp.middleware.CSPMiddleware")

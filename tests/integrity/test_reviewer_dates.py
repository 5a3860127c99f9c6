"""Reviewers never see a calendar date or an exact age of a patient (HIPAA Safe Harbor), on any page, CSV or figure.

The reviewer and a nurse each crawl every link reachable from the home page (pages, CSVs, SVG figures) for a
fully populated patient (registry, dosimetry with a DICOM import and its DVH, follow-up, history). No calendar
date of the patient — any date or timestamp stored in its records or their history — may appear for the reviewer
in any usual written form; the nurse sees them. Ages: the reviewer sees the 5-year band at the implant.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.db import models
from django.utils import timezone

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
AP_MONTHS = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."]


def date_forms(d: dt.date) -> set[str]:
    """The written forms of a date a page, CSV or figure could carry."""
    m, mon, full, ap = d.month, MONTHS[d.month - 1][:3], MONTHS[d.month - 1], AP_MONTHS[d.month - 1]
    return {
        d.isoformat(), f"{d.year}/{m:02d}/{d.day:02d}", f"{d.year}{m:02d}{d.day:02d}",
        f"{d.day:02d}/{m:02d}/{d.year}", f"{d.day}/{m}/{d.year}", f"{m:02d}/{d.day:02d}/{d.year}",
        f"{m}/{d.day}/{d.year}", f"{d.day:02d}.{m:02d}.{d.year}", f"{d.day:02d}-{m:02d}-{d.year}",
        f"{d.day} {mon} {d.year}", f"{d.day:02d} {mon} {d.year}", f"{d.day} {full} {d.year}",
        f"{mon} {d.day}, {d.year}", f"{full} {d.day}, {d.year}", f"{ap} {d.day}, {d.year}",
        f"{d.day}-{mon}-{d.year}", f"{d.day:02d}-{mon}-{d.year}", f"{d.day:02d}{mon.upper()}{d.year}",
    }


def patient_dates(patient) -> set[dt.date]:
    """Every date and timestamp (as a local calendar day) stored for the patient, current rows and history."""
    from assessment.models import FollowUpResult, FollowUpStatus, VisitResult
    from dosimetry.models import DicomImport
    from registry import audit

    rows = [rec for model, lookup in audit._REGISTRY for rec in model.history.filter(**{lookup: patient.pk})]
    for model, lookup in ((FollowUpStatus, "patient_id"), (FollowUpResult, "patient_id"),
                          (VisitResult, "visit__patient_id"), (DicomImport, "procedure__patient_id")):
        rows += list(model.objects.filter(**{lookup: patient.pk}))  # not (yet) in the patient's history
        if hasattr(model, "history"):
            rows += list(model.history.filter(**{lookup: patient.pk}))
    found: set[dt.date] = set()
    for rec in rows:
        for f in rec._meta.concrete_fields:
            value = getattr(rec, f.attname)
            if isinstance(f, models.DateTimeField) and value is not None:
                found.add(timezone.localtime(value).date() if timezone.is_aware(value) else value.date())
            elif isinstance(f, models.DateField) and value is not None:
                found.add(value)
    return found


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and ((tag == "a" and name == "href") or (tag == "img" and name == "src")
                          or name == "data-svg-url"):
                self.urls.append(value)


def crawl(client, start: str = "/", limit: int = 150) -> dict[str, str]:
    """url → body of every GET-able page, CSV and figure reachable by links from ``start`` (own site only)."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo and len(seen) < limit:
        url = todo.pop(0)
        if url in seen:
            continue
        response = client.get(url, follow=True)
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode()
        seen[url] = body
        if "html" in response.get("Content-Type", ""):
            parser = Links()
            parser.feed(body)
            for link in parser.urls:
                parts = urlsplit(urljoin(url, link))
                if parts.netloc or parts.path.startswith(("/static/", "/admin/", "/logout")):
                    continue
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                if target not in seen:
                    todo.append(target)
    assert not todo or all(url in seen for url in todo), f"more than {limit} pages: raise the limit"
    return seen


@pytest.fixture
def full_patient(populated, users, export):
    """The populated patient with a confirmed DICOM pre-plan import (DVH figure and CSV, import page)."""
    from dosimetry import services

    procedure = populated.procedures.get()
    imp = services.dicom_upload(user=users["physician"], procedure=procedure, kind="pre",
                                files=export(patient=("MRN-FULL", "O'BRIEN^ZOE")))
    imp = services.dicom_import_confirm(user=users["physician"], imp=imp, mapping={"GTV_L1": "GTV", "Skin": ""},
                                        override_reason="checked against the planning printout")
    assert imp.status == "done", imp.error
    return populated


def _leaks(pages: dict[str, str], dates: set[dt.date]) -> list[tuple[str, str]]:
    forms = {form: d for d in dates for form in date_forms(d)}
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
    return sorted({(url, m.group(0), body[max(0, m.start() - 60):m.end() + 20].replace("\n", " "))
                   for url, body in pages.items() for m in pattern.finditer(body)})


def test_reviewer_sees_no_calendar_date_and_no_exact_age(client, login, users, full_patient):
    dates = patient_dates(full_patient)
    assert {dt.date(2018, 2, 5), dt.date(2012, 3, 1), dt.date(1960, 5, 17), timezone.localdate()} <= dates

    login(users["reviewer"])
    pages = crawl(client)
    # the crawl reached every kind of page the reviewer may open
    kinds = {"/patients/", "/procedures/", "/visits/", "/dashboard/", "/dosimetry/table4/", ".csv", ".svg"}
    assert {k for k in kinds if any(k in url for url in pages)} == kinds, sorted(pages)
    leaks = _leaks(pages, dates)
    assert leaks == [], "\n".join(f"{url}: {form!r} in …{context}…" for url, form, context in leaks)
    detail = next(body for url, body in pages.items() if url == f"/patients/{full_patient.pk}/")
    assert "55–59 y at implant" in detail  # born 17 May 1960, implanted 5 Feb 2018 at 57
    age_now = full_patient.age_on(timezone.localdate())
    assert not [url for url, body in pages.items() if re.search(rf"\b({age_now}|57) y\b", body)]
    # The AJCC 8 stage reason names the age at diagnosis (51): the reviewer sees only its side of the cut-off.
    assert not [url for url, body in pages.items() if re.search(r"\bage \d", body)]
    assert "age &lt; 55, M1 → II" in detail
    assert 'title="study day (day 1 = implant day)">day 1<' in detail  # the implant itself
    assert ">day -16<" in detail  # the baseline visit of 20 Jan 2018
    client.logout()

    login(users["nurse"])
    nurse_pages = crawl(client)
    seen = {form for _url, form, _context in _leaks(nurse_pages, dates)}
    for d in (dt.date(2018, 2, 5), dt.date(2012, 3, 1), dt.date(2012, 3, 20), dt.date(2013, 1, 10),
              dt.date(2018, 8, 5), dt.date(1960, 5, 17), dt.date(2018, 1, 20), dt.date(2018, 10, 2)):
        assert date_forms(d) & seen, d  # the nurse sees the calendar dates
    nurse_detail = nurse_pages[f"/patients/{full_patient.pk}/"]
    assert f"{age_now} y" in nurse_detail
    assert "age 51 &lt; 55, M1 → II" in nurse_detail


def test_reviewer_without_implant_sees_years_only(client, login, users, make_patient):
    patient = make_patient()
    login(users["reviewer"])
    body = client.get(f"/patients/{patient.pk}/").content.decode()
    assert _leaks({"detail": body}, patient_dates(patient)) == []
    assert ">2012<" in body  # diagnosis year kept (Safe Harbor)
    assert "y at diagnosis" in body


def test_reviewer_navigation_offers_only_what_a_reviewer_can_use(client, login, users, full_patient):
    login(users["reviewer"])
    pages = crawl(client)
    for url, body in pages.items():
        if not url.endswith((".csv", ".svg")):
            for text in ("/edit/", "/new/", "/delete/", "/worklist/", "/admin/", "Register a patient", "/sign-off/"):
                assert text not in body, (url, text)
            posts = re.findall(r'<form method="post"[^>]*>', body)
            if url.startswith("/password/"):  # his own password: the one form a reviewer may submit
                posts = [f for f in posts if "action=" in f]
            assert all('action="/logout/"' in f for f in posts), (url, posts)  # nothing to submit but log out
            if "<nav>" in body:
                nav = body[body.index("<nav>"):body.index("</nav>")]
                assert re.findall(r">([^<]+)</a>", nav) == ["Dashboard", "Patients", "Dosimetry (Table 4)"], url
    assert client.get("/worklist/").status_code == 403


def test_reviewer_filters_the_dashboard_by_implant_year_only(client, login, users, procedure):
    """A day-exact implant period would reveal implant dates by bisection: reviewers get years."""
    login(users["reviewer"])
    page = client.get("/dashboard/", {"from": "2018-02-05", "to": "2018-02-05"}).content.decode()
    assert "1 January of a year, e.g. 2018-01-01 (reviewers filter by implant year)" in page
    assert "31 December of a year, e.g. 2018-12-31" in page
    assert '<option value="2018-01-01">2018</option>' in page  # the year choices offered
    ok = client.get("/dashboard/", {"from": "2018-01-01", "to": "2018-12-31"}).content.decode()
    assert 'id="query-errors"' not in ok and '<option value="2018-01-01" selected>2018</option>' in ok
    assert client.get("/dashboard/waterfall.csv", {"from": "2018-02-05"}).status_code == 400
    client.logout()
    login(users["physician"])
    page = client.get("/dashboard/", {"from": "2018-02-05", "to": "2018-02-05"}).content.decode()
    assert 'id="query-errors"' not in page and 'type="date" name="from"' in page


def test_import_progress_json_gives_reviewers_study_days(client, login, users, procedure, export):
    from dosimetry import services
    from dosimetry.models import DicomImport

    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    DicomImport.objects.filter(pk=imp.pk).update(
        status="failed", error="RT Plan dated 2018-02-04, the implant 2018-02-05")
    login(users["reviewer"])
    out = client.get(f"/dicom-imports/{imp.pk}/", HTTP_ACCEPT="application/json").json()
    assert out["error"] == "RT Plan dated day -1, the implant day 1"
    client.logout()
    login(users["nurse"])
    out = client.get(f"/dicom-imports/{imp.pk}/", HTTP_ACCEPT="application/json").json()
    assert out["error"] == "RT Plan dated 2018-02-04, the implant 2018-02-05"

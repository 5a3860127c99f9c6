"""Every GET parameter of every page is validated: garbage never gives a 500, and a rejected value is explained
by a message naming the parameter (on the page, or as the text of a 400 for the CSV / SVG endpoints)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.http import QueryDict
from django.urls import URLResolver, get_resolver, reverse

from registry.queries import QUERY_FORMS

GARBAGE = ["", "x" * 5000, "ünïcødé ☢ 患者", "'; DROP TABLE registry_patient; --", "2026-13-45", "-1", "NaN",
           "\x00", ["AAA", "BBB"]]
ALWAYS_BAD = ["x" * 5000, "\x00", ["AAA", "BBB"]]  # rejected by every kind of parameter
ROLES = ("nurse", "physician", "data_manager", "reviewer")
FILE_ENDPOINTS = {"assessment:dashboard_csv", "assessment:dashboard_svg"}
ROOT = Path(__file__).resolve().parents[2]


def _url_names(patterns=None, ns=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                continue  # Django's own admin
            yield from _url_names(p.url_patterns, f"{ns}{p.namespace}:" if p.namespace else ns)
        elif p.name:
            yield ns + p.name, p


def _objects(patient):
    visit = patient.visits.order_by("visit_date").last()
    procedure = patient.procedures.get()
    return {
        "patient": patient.pk, "lesion": patient.lesions.first().pk, "course": patient.iodine_courses.first().pk,
        "eligibility": patient.eligibility_assessments.first().pk, "procedure": procedure.pk,
        "import": procedure.dicom_imports.first().pk, "visit": visit.pk,
    }


PK_OF = {  # URL name → which object its <pk> is
    "registry:patient_detail": "patient", "registry:patient_edit": "patient", "registry:lesion_edit": "lesion",
    "registry:course_edit": "course", "registry:eligibility_edit": "eligibility",
    "registry:eligibility_sign_off": "eligibility", "registry:delete": "patient",
    "dosimetry:procedure_detail": "procedure", "dosimetry:procedure_edit": "procedure",
    "dosimetry:dvh_csv": "procedure", "dosimetry:plan_of_record": "procedure", "dosimetry:procedure_sign_off": "procedure", "dosimetry:plan_entry": "procedure", "dosimetry:dicom_upload": "procedure",
    "dosimetry:dicom_mapping": "import", "dosimetry:dicom_status": "import", "dosimetry:dicom_retry": "import",
    "assessment:visit_preview_edit": "visit", "assessment:visit_detail": "visit", "assessment:visit_edit": "visit",
}


def _reverse(name, pattern, objects):
    kwargs = {}
    for arg in pattern.pattern.regex.groupindex:
        if arg == "patient_pk":
            kwargs[arg] = objects["patient"]
        elif arg == "pk":
            assert name in PK_OF, f"{name}: say which object its <pk> is in PK_OF"
            kwargs[arg] = objects[PK_OF[name]]
        elif arg == "kind":
            kwargs[arg] = "post" if name == "dosimetry:plan_of_record" else "patient"
        elif arg == "key":
            kwargs[arg] = "waterfall"
        else:
            raise AssertionError(f"{name}: unknown URL argument {arg}; teach this test a real value for it")
    return reverse(name, kwargs=kwargs)


def _query(param, value) -> dict:
    return {param: value} if isinstance(value, list) else {param: [value]}


def _text(response) -> str:
    return html.unescape(response.content.decode("utf-8", errors="replace"))


def test_every_view_reads_the_query_string_through_a_registered_form():
    """No view reads request.GET directly: each builds one of the QUERY_FORMS (so this test knows its params)."""
    names = {cls.__name__ for cls in QUERY_FORMS.values()}
    offenders = []
    for path in ROOT.glob("*/views.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "request.GET" in line:
                m = re.search(r"(\w+)\(request\.GET\b", line)
                if not (m and m.group(1) in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_every_form_rejects_what_no_parameter_may_be(users):
    for name, cls in QUERY_FORMS.items():
        for param in cls(None, user=users["physician"]).fields:
            for value in ALWAYS_BAD:
                data = QueryDict(mutable=True)
                data.setlist(param, value if isinstance(value, list) else [value])
                form = cls(data, user=users["physician"])
                assert not form.is_valid(), (name, param, value[:20])
                assert any(m.startswith(f"{param}: got ") for m in form.messages()), (name, param)


def test_dashboard_period_must_not_end_before_it_starts(users):
    from assessment.queries import DashboardQuery

    form = DashboardQuery(QueryDict("from=2019-01-01&to=2018-06-30"), user=users["physician"])
    assert form.messages() == ["from: got '2019-01-01'; allowed: a date on or before to (2018-06-30)"]
    assert form.cohort_filter().implant_from is None  # the whole cohort, not half a filter
    ok = DashboardQuery(QueryDict("from=2018-01-01&to=2018-06-30&histology=papillary"), user=users["physician"])
    assert ok.messages() == [] and ok.cohort_filter().histology == "papillary"


@pytest.mark.parametrize("role", ROLES)
def test_garbage_in_every_parameter_of_every_page(client, users, followed, role):
    client.force_login(users[role], backend="django.contrib.auth.backends.ModelBackend")
    objects = _objects(followed)
    checked_messages = 0
    for name, pattern in _url_names():
        url = _reverse(name, pattern, objects)
        baseline = client.get(url)
        assert baseline.status_code < 500, url
        # Unknown parameters, every garbage value at once: ignored.
        unknown = QueryDict(mutable=True)
        for i, value in enumerate(GARBAGE):
            unknown.setlist(f"zz{i}", value if isinstance(value, list) else [value])
        assert client.get(f"{url}?{unknown.urlencode()}").status_code < 500, url
        form_class = QUERY_FORMS.get(name)
        if form_class is None:
            continue
        for param in form_class(None, user=users[role]).fields:
            for value in GARBAGE:
                response = client.get(url, _query(param, value))
                assert response.status_code < 500, (url, param, value)
                data = QueryDict(mutable=True)
                data.setlist(param, value if isinstance(value, list) else [value])
                if baseline.status_code != 200 or form_class(data, user=users[role]).is_valid():
                    continue
                expected = 400 if name in FILE_ENDPOINTS else 200
                assert response.status_code == expected, (url, param, value)
                assert f"{param}: got " in _text(response), (url, param, str(value)[:20])
                checked_messages += 1
    assert checked_messages >= 40  # the dashboard, its CSV / SVG, the lists: messages were really checked

"""Opening any edit form and saving it unchanged changes nothing: no stored value, no derived result, no sign-off,
no history row. Every URL of the project that takes a record is classified here; an edit view without a fixture
fails the test, so a new form is covered as soon as it gets a URL."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.integrity.conftest import as_post, posted_form

CLINICAL_APPS = ("registry", "assessment", "dosimetry")
VOLATILE = {"computed_at", "derived_at"}  # recomputation timestamps
RECREATED = {"VisitResult", "LesionVisitResult", "FollowUpResult"}  # derived rows replaced on recomputation


def _first(qs):
    obj = qs.order_by("pk").first()
    assert obj is not None, f"the populated fixture has no {qs.model.__name__}"
    return obj


# URL name → kwargs for the populated patient's record the edit form shows.
EDIT_VIEWS = {
    "registry:patient_edit": lambda p: {"pk": p.pk},
    "registry:lesion_edit": lambda p: {"pk": _first(p.lesions.filter(region="bone")).pk},
    "registry:course_edit": lambda p: {"pk": _first(p.iodine_courses).pk},
    "registry:rair_edit": lambda p: {"patient_pk": p.pk},
    "registry:eligibility_edit": lambda p: {"pk": _first(p.eligibility_assessments).pk},
    "dosimetry:procedure_edit": lambda p: {"pk": _first(p.procedures).pk},
    "assessment:visit_edit": lambda p: {"pk": _first(p.visits.filter(timepoint="m2")).pk},
    "assessment:designation_edit": lambda p: {"patient_pk": p.pk},
    "assessment:followup_status_edit": lambda p: {"patient_pk": p.pk},
}
# Lesion, visit: every row of them is an edit of its own, and the m2 visit / bone lesion carry the most fields;
# the extra rows below are checked too.
EXTRA_EDITS = {
    "registry:lesion_edit": lambda p: [{"pk": le.pk} for le in p.lesions.all()],
    "assessment:visit_edit": lambda p: [{"pk": v.pk} for v in p.visits.all()],
    "registry:eligibility_edit": lambda p: [{"pk": a.pk} for a in p.eligibility_assessments.all()],
}
NOT_EDIT_VIEWS = {
    "registry:patient_detail": "read-only page",
    "registry:lesion_create": "creates a new record",
    "registry:course_create": "creates a new record",
    "registry:eligibility_create": "creates a new record",
    "registry:eligibility_sign_off": "POST-only action, no form of facts",
    "registry:stage_sign_off": "POST-only action, no form of facts",
    "registry:delete": "asks for a deletion reason, not an edit",
    "dosimetry:procedure_create": "creates a new record",
    "dosimetry:procedure_detail": "read-only page",
    "dosimetry:dvh_csv": "CSV download",
    "dosimetry:plan_entry": "creates a new plan (plans are imported or entered, never edited)",
    "dosimetry:dicom_upload": "uploads a new export",
    "dosimetry:dicom_mapping": "confirms a new upload and starts its import",
    "dosimetry:dicom_status": "progress page",
    "dosimetry:dicom_retry": "POST-only action: runs a failed import again (tests/dosimetry/test_import_recovery.py)",
    "assessment:visit_create": "creates a new record",
    "assessment:visit_preview": "JSON preview, rolled back",
    "assessment:visit_preview_edit": "JSON preview, rolled back",
    "assessment:visit_detail": "read-only page",
    "assessment:therapy_create": "creates a new record",
    "assessment:dashboard_csv": "CSV download",
    "assessment:dashboard_svg": "figure",
    "dosimetry:plan_of_record": "POST-only choice from the procedure page (tests/dosimetry/test_plan_of_record.py)",
    "dosimetry:procedure_sign_off": "POST-only action, no form of facts",
}


def _url_names_with_arguments() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin":
                    continue  # Django's admin forms use Django's own NullBooleanSelect and the models' clean()
                walk(p.url_patterns, f"{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name and p.pattern.converters:
                names.add(namespace + p.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_url_taking_a_record_is_classified():
    unknown = _url_names_with_arguments() - set(EDIT_VIEWS) - set(NOT_EDIT_VIEWS)
    assert not unknown, (
        f"URL(s) {sorted(unknown)} take a record but are not classified: an edit form needs an entry in EDIT_VIEWS "
        "(the populated fixture's record to re-save), anything else a reason in NOT_EDIT_VIEWS.")
    stale = (set(EDIT_VIEWS) | set(NOT_EDIT_VIEWS)) - _url_names_with_arguments()
    assert not stale, f"classified URL(s) {sorted(stale)} no longer exist"


def _clinical_models():
    for app in CLINICAL_APPS:
        yield from apps.get_app_config(app).get_models()


def snapshot() -> dict[str, list]:
    """Every stored column of every clinical and derived row, and the number of rows of each history table."""
    out: dict[str, list] = {}
    for model in _clinical_models():
        name = model.__name__
        if name.startswith("Historical"):
            out[name] = [model.objects.count()]
            continue
        skip = VOLATILE | ({"id"} if name in RECREATED else set())
        rows = []
        for obj in model.objects.all():
            row = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields if f.attname not in skip}
            for m2m in model._meta.many_to_many:
                row[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
            rows.append(row)
        out[name] = sorted(rows, key=repr)
    return out


def _diff(before: dict, after: dict) -> list[str]:
    lines = []
    for name in before:
        if before[name] != after[name]:
            if name.startswith("Historical"):
                lines.append(f"{name}: {before[name][0]} → {after[name][0]} rows")
                continue
            for old, new in zip(before[name], after[name], strict=False):
                changed = {k: (old[k], new.get(k)) for k in old if old[k] != new.get(k)}
                if changed:
                    lines.append(f"{name}: {changed}")
            if len(before[name]) != len(after[name]):
                lines.append(f"{name}: {len(before[name])} → {len(after[name])} rows")
    return lines


def _edits(patient):
    for name, kwargs in EDIT_VIEWS.items():
        seen = [kwargs(patient)]
        for extra in EXTRA_EDITS.get(name, lambda p: [])(patient):
            if extra not in seen:
                seen.append(extra)
        for kw in seen:
            yield name, kw


@pytest.mark.parametrize("role", ["physician", "nurse"])
def test_saving_every_edit_form_unchanged_changes_nothing(populated, users, login, role):
    from registry.models import EligibilityAssessment, Patient

    patient = populated
    client = login(users[role])
    assert patient.stage_signed_off_by_id and patient.eligibility_status in ("eligible", "not_eligible")
    assert EligibilityAssessment.objects.get(patient=patient).signed_off_by_id
    before = snapshot()
    for name, kwargs in _edits(patient):
        url = reverse(name, kwargs=kwargs)
        page = client.get(url)
        assert page.status_code == 200, f"GET {url} ({name}) → {page.status_code}"
        form = posted_form(page.content.decode())
        assert form.done, f"{name}: no <form method=post> on {url}"
        response = client.post(url, as_post(form.data))
        assert response.status_code == 302, (
            f"{name}: saving the unchanged form was refused:\n{_errors_in(response.content.decode())}")
        changes = _diff(before, snapshot())
        assert not changes, f"{name} ({url}) re-saved unchanged by the {role} changed:\n" + "\n".join(changes)
    patient = Patient.objects.get(pk=patient.pk)
    assert patient.stage_signed_off_by_id == users["physician"].pk


def _errors_in(html: str) -> str:
    import re

    return "\n".join(re.findall(r'class="error"[^>]*>([^<]*)<', html)) or html[:3000]


def test_the_parser_reads_a_form_as_a_browser_sends_it():
    html = """<form method="get"><input name="q" value="no"></form>
    <form method="post" action="/logout/"><input name="q" value="no"></form>
    <form method="post"><input type="hidden" name="csrf" value="t"><input name="a" value="1 &amp; 2">
    <input type="checkbox" name="c" value="x" checked><input type="checkbox" name="c" value="y">
    <input type="checkbox" name="flag"><input name="off" value="z" disabled>
    <select name="s"><option value="u">U</option><option value="t" selected>T</option></select>
    <select name="first"><option value="a">A</option><option value="b">B</option></select>
    <select name="multi" multiple><option value="1" selected>1</option><option value="2" selected>2</option></select>
    <textarea name="t">
line one
line two</textarea><button type="submit">Save</button></form>"""
    form = posted_form(html)
    assert form.data == [("csrf", "t"), ("a", "1 & 2"), ("c", "x"), ("s", "t"), ("first", "a"), ("multi", "1"),
                         ("multi", "2"), ("t", "line one\r\nline two")]
    assert "off" in form.fields and "flag" in form.fields and "q" not in form.fields

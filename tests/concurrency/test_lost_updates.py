"""Lost updates: two users open the same record; the later save of the older form is refused, shows what the
other user changed and keeps what this user typed; nothing of it is stored; a deliberate re-post succeeds.

Each test uses two ``django.test.Client`` instances (a nurse and a physician) and posts the forms exactly as the
pages rendered them (tests/concurrency/forms.py), with the hidden version token (registry/versioning.py).
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.test import Client

from assessment import services as assessment_services
from assessment.models import Measurement, Visit
from registry import versioning
from registry.models import EligibilityAssessment, Patient
from tests.concurrency.forms import form_data
from tests.conftest import PASSWORD

STALE = "changed this record after you opened the form"


def _client(user) -> Client:
    c = Client()
    c.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return c


@pytest.fixture
def nurse_and_physician(users):
    return _client(users["nurse"]), _client(users["physician"])


def _open(client: Client, url: str) -> dict:
    r = client.get(url)
    assert r.status_code == 200, url
    data = form_data(r.content.decode())
    assert any(k.endswith(versioning.FIELD_NAME) for k in data), f"{url}: no version token in the form"
    return data


def _page(response) -> str:
    return html.unescape(response.content.decode())


# --- patient ------------------------------------------------------------------------------------------------------

def test_patient_second_save_is_refused_with_the_first_users_change(nurse_and_physician, eligible_patient):
    nurse, physician = nurse_and_physician
    url = f"/patients/{eligible_patient.pk}/edit/"
    nurse_form, physician_form = _open(nurse, url), _open(physician, url)

    r = physician.post(url, {**physician_form, "t_category": "T3a"})
    assert r.status_code == 302
    r = nurse.post(url, {**nurse_form, "histology": "other", "histology_other": "typed by the nurse"})

    assert r.status_code == 200
    page = _page(r)
    assert f"Not saved: physician_a {STALE}" in page
    assert "T: T2 → T3a" in page  # the physician's change, field: before → after
    assert 'value="typed by the nurse"' in page  # the nurse's typed value is kept
    p = Patient.objects.get(pk=eligible_patient.pk)
    assert (p.t_category, p.histology_other) == ("T3a", "")  # nothing of the nurse's save is stored

    # A deliberate second save with the fresh token goes through (the nurse keeps T3a this time).
    again = form_data(r.content.decode())
    assert again["histology_other"] == "typed by the nurse"
    assert again["_version"] != nurse_form["_version"]
    r = nurse.post(url, {**again, "t_category": "T3a"})
    assert r.status_code == 302
    p.refresh_from_db()
    assert (p.t_category, p.histology_other) == ("T3a", "typed by the nurse")


def test_an_unchanged_resave_by_the_other_user_does_not_make_the_form_stale(nurse_and_physician, eligible_patient):
    nurse, physician = nurse_and_physician
    url = f"/patients/{eligible_patient.pk}/edit/"
    nurse_form, physician_form = _open(nurse, url), _open(physician, url)
    assert physician.post(url, physician_form).status_code == 302  # saved without changing anything
    r = nurse.post(url, {**nurse_form, "histology": "other", "histology_other": "nurse"})
    assert r.status_code == 302
    assert Patient.objects.get(pk=eligible_patient.pk).histology_other == "nurse"


@pytest.mark.parametrize("token", ["", "forged", "missing"])
def test_a_missing_or_tampered_token_is_refused_and_nothing_is_saved(nurse_and_physician, eligible_patient, token):
    nurse, _ = nurse_and_physician
    url = f"/patients/{eligible_patient.pk}/edit/"
    data = {**_open(nurse, url), "histology": "other", "histology_other": "no token"}
    if token == "missing":
        del data["_version"]
    else:
        data["_version"] = token
    r = nurse.post(url, data)
    assert r.status_code == 200
    assert "Not saved: this form carries no valid version token" in _page(r)
    assert Patient.objects.get(pk=eligible_patient.pk).histology_other == ""
    # the page now carries a valid token: saving again works
    r = nurse.post(url, form_data(r.content.decode()))
    assert r.status_code == 302
    assert Patient.objects.get(pk=eligible_patient.pk).histology_other == "no token"


def test_a_token_of_another_record_is_refused(nurse_and_physician, eligible_patient, make_patient):
    nurse, _ = nurse_and_physician
    other = make_patient(record_number="MRN-2")
    other_token = _open(nurse, f"/patients/{other.pk}/edit/")["_version"]
    url = f"/patients/{eligible_patient.pk}/edit/"
    r = nurse.post(url, {**_open(nurse, url), "_version": other_token, "histology": "other", "histology_other": "swapped"})
    assert "Not saved: this form carries no valid version token" in _page(r)
    assert Patient.objects.get(pk=eligible_patient.pk).histology_other == ""


def test_a_reviewer_never_sees_identifiers_in_the_change_list(eligible_patient, users):
    scope = versioning.scope_for(eligible_patient, eligible_patient.pk)
    token = versioning.token_for(scope)
    from registry import services

    services.patient_update(user=users["physician"], patient=eligible_patient, data={"given_name": "Janet"})
    hidden = versioning.changes_since(token, scope, identifiers=False)
    shown = versioning.changes_since(token, scope, identifiers=True)
    assert [(c.field, c.before, c.after) for e in hidden.entries for c in e.changes] == [
        ("given name", "(hidden)", "(hidden)")]
    assert [(c.before, c.after) for e in shown.entries for c in e.changes] == [("Jane", "Janet")]


# --- eligibility --------------------------------------------------------------------------------------------------

def test_eligibility_second_save_is_refused_and_keeps_the_typed_value(nurse_and_physician, eligible_patient):
    nurse, physician = nurse_and_physician
    a = eligible_patient.eligibility_assessments.get()
    url = f"/eligibility/{a.pk}/edit/"
    nurse_form, physician_form = _open(nurse, url), _open(physician, url)

    assert physician.post(url, {**physician_form, "kps": "70"}).status_code == 302
    r = nurse.post(url, {**nurse_form, "pta_pct": "81"})

    assert r.status_code == 200
    page = _page(r)
    assert f"physician_a {STALE}" in page
    assert "KPS: 90 → 70" in page or "kps: 90 → 70" in page.lower()
    assert 'value="81"' in page
    a = EligibilityAssessment.objects.get(pk=a.pk)
    assert (a.kps, a.pta_pct) == (70, Decimal("92"))
    r = nurse.post(url, {**form_data(r.content.decode()), "kps": "70"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert (a.kps, a.pta_pct) == (70, Decimal("81"))


# --- visit (and its measurements) ---------------------------------------------------------------------------------

@pytest.fixture
def m2_visit(procedure, users):
    p = procedure.patient
    les = p.lesions.get(label="L1")
    for when, tp, size in ((dt.date(2018, 1, 25), "baseline", ("28", "20", "24")),
                           (dt.date(2018, 4, 5), "m2", ("20", "13", "15"))):
        v = assessment_services.visit_save(user=users["nurse"], patient=p, data=assessment_services.VisitInput(
            visit={"visit_date": when, "timepoint": tp, "modality": "ct"},
            measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal(size[0]),
                                   "short_mm": Decimal(size[1]), "third_mm": Decimal(size[2])}}))
    return v


def test_visit_second_save_is_refused_with_the_measurement_change(nurse_and_physician, m2_visit):
    nurse, physician = nurse_and_physician
    les = m2_visit.patient.lesions.get(label="L1")
    url = f"/visits/{m2_visit.pk}/edit/"
    nurse_form, physician_form = _open(nurse, url), _open(physician, url)
    short = f"m{les.pk}-short_mm"

    assert physician.post(url, {**physician_form, short: "11"}).status_code == 302
    r = nurse.post(url, {**nurse_form, "visit-reader": "Dr Nurse-typed"})

    assert r.status_code == 200
    page = _page(r)
    assert f"physician_a {STALE}" in page
    assert "measurement of lesion L1 changed" in page
    assert "13.0 → 11.0" in page or "13 → 11" in page
    assert 'value="Dr Nurse-typed"' in page
    assert Visit.objects.get(pk=m2_visit.pk).reader == ""
    assert Measurement.objects.get(visit=m2_visit, lesion=les).short_mm == Decimal("11")

    again = form_data(r.content.decode())
    assert again[short] == nurse_form[short]  # still what the nurse's page said: her form is kept as typed
    r = nurse.post(url, {**again, short: "11"})
    assert r.status_code == 302
    assert Visit.objects.get(pk=m2_visit.pk).reader == "Dr Nurse-typed"


# --- every edit form ----------------------------------------------------------------------------------------------

def _edit_urls(patient, visit) -> list[tuple[str, str, str]]:
    """(edit URL, field the physician changes, new value): every edit form of the application."""
    lesion = patient.lesions.get(label="L1")
    course = patient.iodine_courses.order_by("date").first()
    return [
        (f"/patients/{patient.pk}/edit/", "ata_initial_risk", "high"),
        (f"/lesions/{lesion.pk}/edit/", "site_detail", "behind the carotid"),
        (f"/courses/{course.pk}/edit/", "notes", "post-therapy scan reviewed"),
        (f"/patients/{patient.pk}/rair/", "rair2_evidence", "no uptake on the 2016 scan"),
        (f"/eligibility/{patient.eligibility_assessments.get().pk}/edit/", "kps", "80"),
        (f"/visits/{visit.pk}/edit/", "visit-reader", "Dr Physician"),
        (f"/procedures/{visit.procedure_id}/edit/", "operator", "Dr Other"),
        (f"/patients/{patient.pk}/designation/", f"role_{lesion.pk}", "non-target"),
    ]


URL_KINDS = ["patient", "lesion", "course", "rair", "eligibility", "visit", "procedure", "designation"]


@pytest.mark.parametrize("kind", URL_KINDS)
def test_every_edit_form_refuses_a_stale_save(nurse_and_physician, m2_visit, kind):
    nurse, physician = nurse_and_physician
    url, field, value = dict(zip(URL_KINDS, _edit_urls(m2_visit.patient, m2_visit), strict=True))[kind]
    # The yes/no selects do not show a stored "yes" yet (wp-forms fixes the widget): post what is stored.
    fixes = {"rair": {"rair2_present": "true"}}.get(kind, {})
    nurse_form, physician_form = {**_open(nurse, url), **fixes}, {**_open(physician, url), **fixes}
    assert physician_form.get(field) != value
    r = physician.post(url, {**physician_form, field: value})
    assert r.status_code == 302, _page(r)[:3000]

    r = nurse.post(url, nurse_form)  # the nurse saves the page she opened before the physician's save
    assert r.status_code == 200
    page = _page(r)
    assert f"Not saved: physician_a {STALE}" in page
    assert f"→ {value}" in page  # the physician's change, before → after
    assert _open(physician, url)[field] == value  # the physician's change is still what is stored

    r = nurse.post(url, {**form_data(r.content.decode()), **fixes})  # deliberate second save: goes through
    assert r.status_code == 302


# --- sign-offs cover what the physician saw -----------------------------------------------------------------------

def _sign_off_form(client: Client, patient, action: str) -> dict:
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    i = page.index(f'action="{action}"')
    start = page.rindex("<form", 0, i)
    button = form_data(page[start:page.index("</form>", i) + 7], 0)
    return {**button, "password": PASSWORD}  # the electronic signature (registry/signature.py)


def test_a_sign_off_of_facts_changed_since_the_page_was_shown_is_refused(nurse_and_physician, eligible_patient,
                                                                         users):
    from registry import services

    _, physician = nurse_and_physician
    a = eligible_patient.eligibility_assessments.get()
    action = f"/eligibility/{a.pk}/sign-off/"
    button = _sign_off_form(physician, eligible_patient, action)
    assert button["_version"]
    # while the physician's page is open, the nurse corrects the KPS
    services.eligibility_save(user=users["nurse"], patient=eligible_patient, data={"kps": 70}, assessment=a)

    r = physician.post(action, button, follow=True)
    page = _page(r)
    assert "Not signed off: nurse_a changed eligibility assessment 2018-02-01 (KPS: 90 → 70) at " in page
    assert "Review the values shown now and sign off again." in page
    assert EligibilityAssessment.objects.get(pk=a.pk).signed_off_by is None

    r = physician.post(action, _sign_off_form(physician, eligible_patient, action), follow=True)
    assert "Eligibility signed off." in _page(r)
    assert EligibilityAssessment.objects.get(pk=a.pk).signed_off_by.username == "physician_a"


def test_a_stage_sign_off_without_a_token_is_refused(nurse_and_physician, eligible_patient):
    _, physician = nurse_and_physician
    action = f"/patients/{eligible_patient.pk}/stage/sign-off/"
    button = _sign_off_form(physician, eligible_patient, action)
    r = physician.post(action, {k: v for k, v in button.items() if k != "_version"}, follow=True)
    assert "Not signed off: the button carried no valid version token" in _page(r)
    assert Patient.objects.get(pk=eligible_patient.pk).stage_signed_off_by is None
    r = physician.post(action, button, follow=True)
    assert "Stage signed off." in _page(r)
    assert Patient.objects.get(pk=eligible_patient.pk).stage_signed_off_by.username == "physician_a"


def test_a_change_of_the_treated_lesions_is_shown_by_lesion_name(nurse_and_physician, procedure, users):
    from dosimetry import services as dosimetry_services
    from registry import services

    nurse, _ = nurse_and_physician
    p = procedure.patient
    url = f"/procedures/{procedure.pk}/edit/"
    nurse_form = _open(nurse, url)
    services.lesion_save(user=users["nurse"], patient=p, data={
        "region": "cervical_node", "cervical_level": "IV", "side": "right", "nodal": True})
    dosimetry_services.procedure_save(user=users["physician"], patient=p, data={}, lesions=p.lesions.all(),
                                      procedure=procedure)
    r = nurse.post(url, {**nurse_form, "operator": "Dr Late"})
    page = _page(r)
    assert ("lesions treated: L1 cervical level III left → L1 cervical level III left, L2 cervical level IV right"
            in page)
    assert type(procedure).objects.get(pk=procedure.pk).operator == "Dr Test"

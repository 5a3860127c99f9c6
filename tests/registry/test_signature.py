"""Sign-offs are electronic signatures: the signer re-types his password under a statement of what the sign-off
means; who, when and the statement are stored and shown (issue 10, "an open session on a ward PC cannot sign")."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

from dosimetry import services as dosimetry_services
from dosimetry.models import ImplantProcedure
from registry import versioning
from registry.models import EligibilityAssessment, Patient
from tests.concurrency.forms import form_data
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

GTV = {"name": "GTV_L1", "role": "GTV", "volume_cm3": 6.0, "d90_gy": 100.0, "d100_gy": 80.0}


@pytest.fixture
def physician(client, users):
    users["physician"].first_name, users["physician"].last_name = "Hua", "Li"
    users["physician"].save()
    client.force_login(users["physician"], backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def planned(procedure, users):
    dosimetry_services.plan_save(user=users["nurse"], procedure=procedure, kind="post", source="manual",
                                 plan_data={"prescription_gy": 120}, structures=[GTV])
    return procedure


def _kinds(eligible_patient, procedure):
    a = eligible_patient.eligibility_assessments.get()
    return {
        "eligibility": (f"/eligibility/{a.pk}/sign-off/", f"/patients/{eligible_patient.pk}/",
                        lambda: EligibilityAssessment.objects.get(pk=a.pk),
                        lambda o: (o.signed_off_by, o.signed_off_at, o.sign_off_meaning),
                        "I, Hua Li, approve the eligibility assessment of AAA-0001 dated 2018-02-01 (eligible) as "
                        "reviewed and correct."),
        "stage": (f"/patients/{eligible_patient.pk}/stage/sign-off/", f"/patients/{eligible_patient.pk}/",
                  lambda: Patient.objects.get(pk=eligible_patient.pk),
                  lambda o: (o.stage_signed_off_by, o.stage_signed_off_at, o.stage_sign_off_meaning),
                  f"I, Hua Li, approve the stage of AAA-0001 (stage {eligible_patient.stage}, T2 N1b M0) as "
                  "reviewed and correct."),
        "dosimetry": (f"/procedures/{procedure.pk}/sign-off/", f"/procedures/{procedure.pk}/",
                      lambda: ImplantProcedure.objects.get(pk=procedure.pk),
                      lambda o: (o.signed_off_by, o.signed_off_at, o.sign_off_meaning),
                      f"I, Hua Li, approve the dosimetry of the implant procedure of AAA-0001 on {procedure.date} "
                      "(the plans of record) as reviewed and correct."),
    }


def _form(client, page_url: str, action: str) -> dict:
    page = client.get(page_url).content.decode()
    i = page.index(f'action="{action}"')
    start = page.rindex("<form", 0, i)
    return form_data(page[start:page.index("</form>", i) + 7], 0)


KINDS = ["eligibility", "stage", "dosimetry"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_button_shows_the_statement_and_asks_for_the_password(physician, eligible_patient, planned, kind):
    action, page_url, _, _, meaning = _kinds(eligible_patient, planned)[kind]
    page = physician.get(page_url).content.decode()
    form = page[page.rindex("<form", 0, page.index(f'action="{action}"')):]
    form = form[:form.index("</form>")]
    assert meaning in form
    assert 'type="password" name="password"' in form
    if kind != "dosimetry":
        assert _form(physician, page_url, action)[versioning.FIELD_NAME]  # the version token stays


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_password_or_with_a_wrong_one_nothing_is_signed(physician, users, eligible_patient, planned,
                                                                    kind):
    action, page_url, fetch, signature, _ = _kinds(eligible_patient, planned)[kind]
    button = _form(physician, page_url, action)
    for password in ("", "not-my-password"):
        r = physician.post(action, {**button, "password": password})
        assert r.status_code == 200
        page = r.content.decode()
        assert "signature-errors" in page
        if password:
            assert "Not signed: the password is not the password of physician_a." in page
        else:
            assert "This field is required." in page
        # the form comes back with the same version token: what the physician saw is still what he signs
        assert form_data(page[page.index("<form", page.index("signature")):], 0).get(versioning.FIELD_NAME, "") == \
            button.get(versioning.FIELD_NAME, "")
        assert signature(fetch()) == (None, None, "")
    # the wrong password counted as a failed login (django-axes)
    assert AccessAttempt.objects.get(username="physician_a").failures_since_start == 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_right_password_signs_and_stores_who_when_and_the_meaning(physician, users, eligible_patient, planned,
                                                                      kind):
    action, page_url, fetch, signature, meaning = _kinds(eligible_patient, planned)[kind]
    r = physician.post(action, {**_form(physician, page_url, action), "password": PASSWORD})
    assert r.status_code == 302
    who, when, stored = signature(fetch())
    assert who == users["physician"] and when is not None and stored == meaning
    page = physician.get(page_url).content.decode()
    assert meaning in page and "signed off" in page.lower()
    # a reviewer sees that it was signed, not the statement naming the patient's dates
    reviewer = physician.__class__()
    reviewer.force_login(users["reviewer"], backend="django.contrib.auth.backends.ModelBackend")
    assert meaning not in reviewer.get(page_url).content.decode()


def test_repeated_wrong_passwords_lock_the_signer_out_like_the_login(physician, settings, eligible_patient, planned):
    action, page_url, fetch, signature, _ = _kinds(eligible_patient, planned)["stage"]
    button = _form(physician, page_url, action)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        physician.post(action, {**button, "password": "guess"})
    r = physician.post(action, {**button, "password": PASSWORD})
    assert r.status_code == 429  # the lockout page, as after failed logins
    assert signature(fetch()) == (None, None, "")


def test_a_changed_fact_withdraws_the_signature_with_its_meaning(physician, users, eligible_patient, planned):
    from registry import services

    action, page_url, fetch, signature, _ = _kinds(eligible_patient, planned)["stage"]
    physician.post(action, {**_form(physician, page_url, action), "password": PASSWORD})
    assert signature(fetch())[2]
    services.patient_update(user=users["nurse"], patient=fetch(), data={"t_category": "T3a"})
    assert signature(fetch()) == (None, None, "")


def test_a_nurse_is_refused_before_any_password_check(client, users, eligible_patient, planned):
    client.force_login(users["nurse"], backend="django.contrib.auth.backends.ModelBackend")
    for action, *_ in _kinds(eligible_patient, planned).values():
        assert client.post(action, {"password": PASSWORD}).status_code == 403
    assert not AccessAttempt.objects.exists()

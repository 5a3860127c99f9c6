"""A save that changes nothing writes nothing (no history row); a sign-off is withdrawn only when a fact it covers
changed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.forms.models import model_to_dict

from registry import services
from registry.forms import EligibilityForm, PatientForm
from tests.conftest import ELIGIBLE_LABS


def _signed(eligible_patient, users):
    a = eligible_patient.eligibility_assessments.get()
    services.eligibility_sign_off(user=users["physician"], assessment=a)
    services.stage_sign_off(user=users["physician"], patient=eligible_patient)
    return a


def test_unchanged_saves_write_no_history_and_keep_the_sign_offs(eligible_patient, users):
    a = _signed(eligible_patient, users)
    p = eligible_patient
    n_patient, n_elig = p.history.count(), a.history.count()
    services.patient_update(user=users["nurse"], patient=p, data={"t_category": p.t_category,
                                                                  "tsh_suppression": p.tsh_suppression})
    a = services.eligibility_save(user=users["nurse"], patient=p, data=dict(ELIGIBLE_LABS), assessment=a)
    assert (p.history.count(), a.history.count()) == (n_patient, n_elig)
    assert a.signed_off_by == users["physician"] and p.stage_signed_off_by == users["physician"]


def test_a_changed_fact_writes_history_and_withdraws_its_sign_off(eligible_patient, users):
    a = _signed(eligible_patient, users)
    p = eligible_patient
    n_elig = a.history.count()
    a = services.eligibility_save(user=users["nurse"], patient=p, data={**ELIGIBLE_LABS, "cachexia": True},
                                  assessment=a)
    assert a.history.count() == n_elig + 1 and a.signed_off_by is None and a.status == "not_eligible"
    assert a.history.first().history_user == users["nurse"]
    services.patient_update(user=users["nurse"], patient=p, data={"tsh_suppression": True})
    assert p.stage_signed_off_by == users["physician"]  # TSH suppression is not a staging fact
    services.patient_update(user=users["nurse"], patient=p, data={"t_category": "T3a"})
    assert p.stage_signed_off_by is None


def test_yes_no_fields_render_their_stored_value(eligible_patient):
    html = str(EligibilityForm(instance=eligible_patient.eligibility_assessments.get()))
    assert '<option value="true" selected>Yes</option>' in html  # biopsy_proven_metastasis = True
    assert '<option value="false" selected>No</option>' in html  # cachexia = False
    p = eligible_patient
    p.central_neck_dissection = None
    form = PatientForm(instance=p)
    assert [label for _, label in form.fields["central_neck_dissection"].widget.choices] == [
        "Not recorded", "Yes", "No"]
    assert form.fields["tsh_suppression"].widget is not form.fields["central_neck_dissection"].widget
    bound = PatientForm({**{k: v for k, v in model_to_dict(p).items() if v is not None},
                         "central_neck_dissection": "false", "tsh_suppression": "unknown"}, instance=p)
    assert bound.is_valid(), bound.errors
    assert (bound.cleaned_data["central_neck_dissection"], bound.cleaned_data["tsh_suppression"]) == (False, None)


def test_a_lesion_edit_with_no_change_leaves_its_history_alone(eligible_patient, users):
    les = eligible_patient.lesions.get()
    n = les.history.count()
    services.lesion_save(user=users["nurse"], patient=eligible_patient, lesion=les,
                         data={"baseline_long_mm": Decimal("28.0"), "biopsy_date": dt.date(2018, 1, 5)})
    assert les.history.count() == n
    services.lesion_save(user=users["nurse"], patient=eligible_patient, lesion=les,
                         data={"baseline_long_mm": Decimal("29.0")})
    assert les.history.count() == n + 1

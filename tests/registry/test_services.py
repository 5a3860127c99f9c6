"""Registry services: identifiers, derived values recomputed from facts, bad input refused with nothing saved."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from registry import services
from registry.models import EligibilityAssessment, IodineCourse, Lesion, Patient

from ..conftest import ELIGIBLE_LABS

pytestmark = pytest.mark.django_db


def test_study_ids_are_numbered_per_site(make_patient):
    a1 = make_patient("A", record_number="1")
    a2 = make_patient("A", record_number="2")
    b1 = make_patient("B", record_number="1")  # the same record number at another site is allowed
    assert [a1.study_id, a2.study_id, b1.study_id] == ["AAA-0001", "AAA-0002", "BBB-0001"]


def test_duplicate_record_number_in_a_site_is_refused_naming_it(make_patient):
    make_patient("A", record_number="MRN-77")
    with pytest.raises(ValidationError) as exc:
        make_patient("A", record_number="MRN-77")
    assert "Record number MRN-77 is already used at site AAA" in exc.value.message_dict["record_number"][0]
    assert Patient.objects.count() == 1


def test_birth_after_diagnosis_is_refused_and_nothing_saved(make_patient, sites):
    with pytest.raises(ValidationError) as exc:
        make_patient(birth_date=dt.date(2013, 1, 1), diagnosis_date=dt.date(2012, 3, 1))
    msg = exc.value.message_dict["diagnosis_date"][0]
    assert "2012-03-01 is before the date of birth 2013-01-01" in msg
    assert Patient.objects.count() == 0
    sites["A"].refresh_from_db()
    assert sites["A"].next_study_number == 1  # the transaction rolled the counter back too


def test_stage_is_derived_from_age_at_diagnosis_and_tnm(make_patient):
    # Born 1960-05-17, diagnosed 2012-03-01: 51 years at diagnosis → under 55 → stage I whatever T/N.
    young = make_patient(record_number="y", t_category="T4b", n_category="N1b", m_category="M0")
    assert (young.stage, young.stage_rule_set) == ("I", "AJCC8")
    # Diagnosed at 60 with T2 N1a → II; edit to M1 → IVB (recomputed on save).
    older = make_patient(record_number="o", birth_date=dt.date(1950, 1, 1), diagnosis_date=dt.date(2010, 6, 1),
                         t_category="T2", n_category="N1a")
    assert older.stage == "II"
    services.patient_update(user=None, patient=older, data={"m_category": "M1"})
    older.refresh_from_db()
    assert older.stage == "IVB"


def test_lesion_labels_are_stable_after_a_deletion(make_patient, users):
    patient = make_patient()
    data = {"region": "cervical_node", "cervical_level": "IV", "side": "right", "nodal": True}
    l1 = services.lesion_save(user=users["nurse"], patient=patient, data=data)
    l2 = services.lesion_save(user=users["nurse"], patient=patient, data=data)
    services.delete_with_reason(user=users["physician"], instance=l2, reason="entered twice")
    l3 = services.lesion_save(user=users["nurse"], patient=patient, data=data)
    assert [l1.label, l3.label] == ["L1", "L3"]  # L2 is never reused: follow-ups may still refer to it


def test_short_axis_longer_than_long_axis_is_refused(make_patient, users):
    patient = make_patient()
    with pytest.raises(ValidationError) as exc:
        services.lesion_save(user=users["nurse"], patient=patient, data={
            "region": "cervical_node", "cervical_level": "II", "side": "left", "nodal": True,
            "baseline_long_mm": Decimal("12"), "baseline_short_mm": Decimal("15")})
    assert "Short axis 15 mm is longer than the long axis 12 mm" in exc.value.message_dict["baseline_short_mm"][0]
    assert Lesion.objects.count() == 0


def test_course_in_the_future_and_negative_activity_are_refused(make_patient, users):
    patient = make_patient()
    future = dt.date.today() + dt.timedelta(days=3)
    with pytest.raises(ValidationError) as exc:
        services.iodine_course_save(user=users["nurse"], patient=patient, data={
            "date": future, "activity_value": Decimal("-3.7"), "activity_unit": "GBq"})
    errors = exc.value.message_dict
    assert f"Course date {future} is in the future" in errors["date"][0]
    assert "Activity -3.7 GBq must be greater than 0" in errors["activity_value"][0]
    assert IodineCourse.objects.count() == 0


def test_mci_courses_are_converted_and_summed(make_patient, users):
    patient = make_patient()
    for day in (dt.date(2014, 1, 1), dt.date(2015, 1, 1)):
        services.iodine_course_save(user=users["nurse"], patient=patient, data={
            "date": day, "activity_value": Decimal("150"), "activity_unit": "mCi"})
    gbq = [c.activity_gbq for c in patient.iodine_courses.all()]
    assert gbq == pytest.approx([5.55, 5.55])  # 150 mCi × 37 MBq


def test_eligible_patient_and_the_platelet_boundary(eligible_patient, users):
    assessment = eligible_patient.eligibility_assessments.get()
    assert eligible_patient.eligibility_status == "eligible"
    assert assessment.rule_set
    by_key = {c["key"]: c for c in assessment.criteria}
    assert by_key["hemoglobin"]["message"] == "Haemoglobin 131 g/L — needs ≥ 90"  # 13.1 g/dL converted
    # Platelets exactly 100 ×10⁹/L fail: the protocol needs strictly more than 100.
    services.eligibility_save(user=users["nurse"], patient=eligible_patient,
                              data={"platelets_value": Decimal("100")}, assessment=assessment)
    assessment.refresh_from_db()
    eligible_patient.refresh_from_db()
    assert eligible_patient.eligibility_status == "not_eligible"
    platelets = next(c for c in assessment.criteria if c["key"] == "platelets")
    assert (platelets["outcome"], platelets["message"]) == ("fail", "Platelets 100 ×10⁹/L — needs > 100")


def test_cumulative_iodine_exactly_22_2_gbq_is_not_enough(eligible_patient, users):
    """4 × 150 mCi = 600 mCi = 22.2 GBq exactly fails the strict "> 22.2 GBq"; a fifth course passes."""
    for course in eligible_patient.iodine_courses.all():
        services.iodine_course_save(user=users["nurse"], patient=eligible_patient,
                                    data={"activity_value": Decimal("150")}, course=course)
    eligible_patient.refresh_from_db()
    cumulative = next(c for c in eligible_patient.eligibility_assessments.get().criteria
                      if c["key"] == "cumulative_iodine")
    assert (cumulative["outcome"], cumulative["message"]) == ("fail", "Cumulative ¹³¹I 22.2 GBq — needs > 22.2")
    assert eligible_patient.eligibility_status == "not_eligible"
    services.iodine_course_save(user=users["nurse"], patient=eligible_patient, data={
        "date": dt.date(2016, 9, 1), "activity_value": Decimal("100"), "activity_unit": "mCi"})
    eligible_patient.refresh_from_db()
    assert eligible_patient.eligibility_status == "eligible"


def test_unknown_hemoglobin_unit_and_absurd_platelets_are_field_errors(eligible_patient, users):
    with pytest.raises(ValidationError) as exc:
        services.eligibility_save(user=users["nurse"], patient=eligible_patient, data={
            **ELIGIBLE_LABS, "hemoglobin_unit": "mg/dL", "platelets_value": Decimal("10000")})
    errors = exc.value.message_dict
    assert "'mg/dL'" in errors["hemoglobin_unit"][0] and "g/dL" in errors["hemoglobin_unit"][0]
    assert "10000" in errors["platelets_value"][0] and "2000" in errors["platelets_value"][0]
    assert EligibilityAssessment.objects.filter(patient=eligible_patient).count() == 1


def test_kps_not_a_multiple_of_ten_is_an_input_error(eligible_patient, users):
    with pytest.raises(ValidationError) as exc:
        services.eligibility_save(user=users["nurse"], patient=eligible_patient,
                                  data={**ELIGIBLE_LABS, "kps": 75})
    assert "75" in exc.value.message_dict["kps"][0]


def test_rair_needs_prior_therapeutic_rai(make_patient, users):
    patient = make_patient()
    rair = services.rair_update(user=users["nurse"], patient=patient, data={"rair1_present": True})
    assert rair.status == "undetermined"  # no ¹³¹I course recorded: RAIR cannot be labelled (ATA 2025 59A)
    services.iodine_course_save(user=users["nurse"], patient=patient, data={
        "date": dt.date(2014, 1, 1), "activity_value": Decimal("3.7"), "activity_unit": "GBq"})
    rair.refresh_from_db()
    assert (rair.status, rair.rule_set) == ("refractory", "ATA2015")
    assert any("RAIR-1" in reason for reason in rair.deciding)


def test_nurse_cannot_delete_or_sign_off(eligible_patient, users):
    assessment = eligible_patient.eligibility_assessments.get()
    with pytest.raises(PermissionDenied):
        services.delete_with_reason(user=users["nurse"], instance=eligible_patient, reason="test data")
    with pytest.raises(PermissionDenied):
        services.eligibility_sign_off(user=users["nurse"], assessment=assessment)
    signed = services.eligibility_sign_off(user=users["physician"], assessment=assessment)
    assert signed.signed_off_by == users["physician"]
    # Changing a fact withdraws the sign-off: it covered the facts it saw.
    services.eligibility_save(user=users["nurse"], patient=eligible_patient, data={"kps": 80}, assessment=signed)
    signed.refresh_from_db()
    assert signed.signed_off_by is None


def test_deletion_is_recorded_with_its_reason(eligible_patient, users):
    lesion = eligible_patient.lesions.get()
    lesion_id = lesion.id
    with pytest.raises(ValidationError):
        services.delete_with_reason(user=users["physician"], instance=lesion, reason="")
    services.delete_with_reason(user=users["physician"], instance=lesion, reason="duplicate of L2")
    row = Lesion.history.filter(id=lesion_id, history_type="-").get()
    assert (row.history_user, row.history_change_reason) == (users["physician"], "duplicate of L2")

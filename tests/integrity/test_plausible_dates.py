"""Implausible dates (a visit in 1800, a biopsy before birth, labs decades before the diagnosis) are field errors:
the pure rules first (properties), then each model through its form or service, with the message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from registry.plausibility import DateKind, DateLimits, date_problem, years_before

TODAY = dt.date(2026, 12, 1)
LIMITS = DateLimits()
BIRTH, DIAGNOSIS = dt.date(1961, 7, 4), dt.date(2012, 3, 1)


def test_messages_name_the_field_the_value_and_the_limit():
    def problem(day, kind=DateKind.SINCE_DIAGNOSIS, label="Visit date"):
        return date_problem(label, day, kind=kind, today=TODAY, limits=LIMITS, birth=BIRTH, diagnosis=DIAGNOSIS)

    assert problem(dt.date(1800, 4, 5)) == (
        "Visit date 1800-04-05 is before 1900-01-01, the earliest date accepted; check the year.")
    assert problem(dt.date(1950, 3, 1), DateKind.EVENT, "Biopsy date") == (
        "Biopsy date 1950-03-01 is before the birth date 1961-07-04.")
    assert problem(dt.date(1990, 1, 1), label="Date of the labs") == (
        "Date of the labs 1990-01-01 is more than 1 year before the diagnosis (2012-03-01); the earliest accepted is "
        "2011-03-01.")
    assert problem(dt.date(2027, 1, 1)) == "Visit date 2027-01-01 is in the future; it must be on or before today " \
                                           "(2026-12-01)."
    assert problem(dt.date(2027, 1, 1), DateKind.PLANNED) is None  # a planned implant may be ahead
    assert problem(dt.date(2011, 3, 1)) is None  # exactly one year before the diagnosis: accepted
    assert problem(dt.date(2011, 2, 28)) is not None
    assert problem(dt.date(1990, 1, 1), DateKind.EVENT, "Biopsy date") is None  # the diagnosis rule is not for biopsies
    assert years_before(dt.date(2012, 2, 29), 1) == dt.date(2011, 2, 28)


@given(day=st.dates(dt.date(1700, 1, 1), dt.date(2100, 12, 31)), kind=st.sampled_from(list(DateKind)),
       years=st.integers(0, 30))
def test_a_date_is_accepted_exactly_when_every_limit_holds(day, kind, years):
    limits = DateLimits(max_years_before_diagnosis=years)
    problem = date_problem("Date", day, kind=kind, today=TODAY, limits=limits, birth=BIRTH, diagnosis=DIAGNOSIS)
    ok = (day >= limits.earliest and (kind is DateKind.PLANNED or day <= TODAY) and day >= BIRTH
          and (kind is DateKind.EVENT or day >= years_before(DIAGNOSIS, years)))
    assert (problem is None) == ok
    if problem:
        assert problem.startswith(f"Date {day} is ")


def test_the_thresholds_are_protocol_settings(settings):
    from registry.models import Lesion

    assert settings.SEEDTRACK_PROTOCOL["plausibility"] == {"earliest_date": "1900-01-01",
                                                           "max_years_before_diagnosis": 1}
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "plausibility": {"earliest_date": "1950-01-01", "max_years_before_diagnosis": 1}}
    errors: dict[str, str] = {}
    from registry.models import check_dates

    check_dates(errors, Lesion(biopsy_date=dt.date(1940, 1, 1)), {"biopsy_date": "event"})
    assert errors == {"biopsy_date": "Biopsy date 1940-01-01 is before 1950-01-01, the earliest date accepted; "
                                     "check the year."}


def test_registry_forms_refuse_implausible_dates(eligible_patient, users, login):
    """Birth 1960-05-17, diagnosis 2012-03-01 (tests/conftest.py)."""
    p = eligible_patient
    client = login(users["nurse"])
    lesion = p.lesions.first()
    page = client.post(f"/lesions/{lesion.pk}/edit/", {
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": "on",
        "biopsy_date": "1950-03-01", "biopsy_result": "metastatic", "iodine_uptake": "no", "fdg_avid": "unknown",
    }).content.decode()
    assert "Biopsy date 1950-03-01 is before the birth date 1960-05-17." in page
    page = client.post(f"/patients/{p.pk}/courses/new/", {
        "date": "1990-06-01", "activity_value": "3.7", "activity_unit": "GBq"}).content.decode()
    assert ("Date 1990-06-01 is more than 1 year before the diagnosis (2012-03-01); the earliest accepted is "
            "2011-03-01.") in page
    page = client.post(f"/patients/{p.pk}/edit/", {
        "record_number": "MRN-1", "family_name": "Doe", "given_name": "Jane", "sex": "F", "birth_date": "1960-05-17",
        "diagnosis_date": "2012-03-01", "histology": "papillary", "surgery_extent": "total",
        "surgery_date": "1899-12-31"}).content.decode()
    assert "Date of surgery 1899-12-31 is before the date of birth." in page
    from registry.models import Lesion

    assert Lesion.objects.get(pk=lesion.pk).biopsy_date == dt.date(2018, 1, 5)
    assert not p.iodine_courses.filter(date=dt.date(1990, 6, 1)).exists()


@pytest.mark.parametrize("field, value, message", [
    ("labs_date", dt.date(1985, 2, 1),
     "Date of the labs 1985-02-01 is more than 1 year before the diagnosis (2012-03-01)"),
    ("assessment_date", dt.date(1800, 2, 1), "Assessment date 1800-02-01 is before 1900-01-01"),
])
def test_eligibility_dates(eligible_patient, users, field, value, message):
    from registry import services
    from tests.conftest import ELIGIBLE_LABS

    data = {**ELIGIBLE_LABS, field: value}
    if field == "assessment_date":
        data["labs_date"] = None
    with pytest.raises(ValidationError) as exc:
        services.eligibility_save(user=users["nurse"], patient=eligible_patient, data=data)
    assert any(message in m for msgs in exc.value.message_dict.values() for m in msgs), exc.value.message_dict


def test_followup_and_implant_dates(procedure, users):
    from assessment import services
    p = procedure.patient
    les = p.lesions.first()
    with pytest.raises(ValidationError) as exc:
        services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
            visit={"visit_date": dt.date(1800, 1, 20), "timepoint": "baseline", "modality": "ct"},
            measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20")}}))
    assert exc.value.message_dict["visit.visit_date"] == [
        "Visit date 1800-01-20 is before 1900-01-01, the earliest date accepted; check the year."]
    with pytest.raises(ValidationError) as exc:
        services.lab_save(user=users["nurse"], patient=p, data={
            "sample_date": dt.date(1995, 1, 1), "analyte": "tsh", "value": Decimal("0.1"), "unit": "mIU/L"})
    assert exc.value.message_dict["sample_date"] == [
        "Sample date 1995-01-01 is more than 1 year before the diagnosis (2012-03-01); the earliest accepted is "
        "2011-03-01."]
    with pytest.raises(ValidationError) as exc:
        services.therapy_save(user=users["nurse"], patient=p, data={"kind": "tki", "start_date": dt.date(1955, 1, 1)})
    assert exc.value.message_dict["start_date"] == ["Start date 1955-01-01 is before the birth date 1960-05-17."]


def test_rair_evidence_before_birth(eligible_patient, users):
    from registry import services

    with pytest.raises(ValidationError) as exc:
        services.rair_update(user=users["nurse"], patient=eligible_patient, data={
            "rair1_present": True, "rair1_date": dt.date(1958, 1, 1), "rair1_evidence": "scan"})
    assert exc.value.message_dict["rair1_date"] == ["RAIR-1 evidence date 1958-01-01 is before the birth date "
                                                    "1960-05-17."]

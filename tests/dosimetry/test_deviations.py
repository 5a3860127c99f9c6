"""Protocol deviations: implants of patients not assessed eligible, or whose disease is not RAI-refractory."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from dosimetry import selectors
from dosimetry.deviations import deviation_reasons

IMPLANT = dt.date(2018, 2, 5)


def codes(reasons):
    return [r["code"] for r in reasons]


def test_eligible_and_refractory_is_no_deviation():
    assert deviation_reasons(IMPLANT, [(dt.date(2018, 2, 1), "eligible")], "refractory") == []


def test_no_assessment_and_no_rair_classification():
    reasons = deviation_reasons(IMPLANT, [], None)
    assert reasons == [
        {"code": "no_eligibility", "message": "No eligibility assessment on or before the implant."},
        {"code": "rair_undetermined", "message": "RAIR status is undetermined (no RAIR classification recorded); "
                                                 "the protocol implants RAI-refractory disease."},
    ]


def test_an_assessment_after_the_implant_does_not_count():
    [reason] = deviation_reasons(IMPLANT, [(dt.date(2018, 2, 8), "eligible")], "refractory")
    assert reason["message"] == ("No eligibility assessment on or before the implant (the first one is 3 days "
                                 "after it).")


def test_the_latest_assessment_before_the_implant_decides():
    assessments = [(dt.date(2018, 1, 2), "eligible"), (dt.date(2018, 2, 1), "incomplete"),
                   (dt.date(2018, 3, 1), "eligible")]
    [reason] = deviation_reasons(IMPLANT, assessments, "refractory")
    assert reason == {"code": "not_eligible", "message": "The latest eligibility assessment before the implant "
                                                         "(4 days before the implant) is 'incomplete', not 'eligible'."}
    assert deviation_reasons(IMPLANT, [(dt.date(2018, 1, 2), "not_eligible"), (IMPLANT, "eligible")],
                             "refractory") == []


def test_rair_not_refractory_and_undetermined():
    ok = [(dt.date(2018, 2, 1), "eligible")]
    assert deviation_reasons(IMPLANT, ok, "not_refractory") == [
        {"code": "rair_not_refractory", "message": "RAIR status is 'not refractory', not 'RAI-refractory'."}]
    assert codes(deviation_reasons(IMPLANT, ok, "undetermined")) == ["rair_undetermined"]


_status = st.sampled_from(["eligible", "not_eligible", "incomplete", "not_assessed"])
_day = st.integers(-400, 400).map(lambda n: IMPLANT + dt.timedelta(days=n))


@given(st.lists(st.tuples(_day, _status), max_size=6), st.sampled_from(["refractory", "not_refractory",
                                                                         "undetermined", None]))
def test_deviation_iff_latest_prior_assessment_is_not_eligible_or_not_refractory(assessments, rair):
    reasons = deviation_reasons(IMPLANT, assessments, rair)
    prior = [a for a in assessments if a[0] <= IMPLANT]
    latest_ok = bool(prior) and max(prior, key=lambda a: a[0])[1] == "eligible"
    assert (reasons == []) == (latest_ok and rair == "refractory")
    assert all("2018-" not in r["message"] and "2017-" not in r["message"] for r in reasons)  # no calendar date


# --- with the database --------------------------------------------------------------------------------------------

@pytest.fixture
def unassessed_procedure(make_patient, users):
    from dosimetry import services
    from dosimetry.models import SeedModel
    from registry import services as registry_services

    patient = make_patient(record_number="MRN-2", family_name="Roe")
    lesion = registry_services.lesion_save(user=users["data_manager"], patient=patient, data={
        "region": "cervical_node", "cervical_level": "IV", "side": "right", "nodal": True,
        "baseline_long_mm": Decimal("22"), "baseline_short_mm": Decimal("16"), "baseline_third_mm": Decimal("18")})
    proc, _ = services.procedure_save(user=users["nurse"], patient=patient, lesions=[lesion], data={
        "date": IMPLANT, "operator": "Dr Test", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 6, "activity_per_seed_mbq": Decimal("25.0"), "activity_calibration_date": IMPLANT,
        "prescription_gy": Decimal("120")})
    return proc


@pytest.mark.django_db
def test_selector_lists_only_deviating_implants_with_their_reasons(procedure, unassessed_procedure, users):
    found = selectors.protocol_deviations_for(users["physician"])
    assert [(d.procedure.pk, codes(d.reasons)) for d in found] == [
        (unassessed_procedure.pk, ["no_eligibility", "rair_undetermined"])]
    assert selectors.protocol_deviations_for(users["nurse_b"]) == []  # another site's implants are not listed


@pytest.mark.django_db
def test_selector_sees_a_not_refractory_rair_status(procedure, users):
    from registry import services as registry_services

    registry_services.rair_update(user=users["data_manager"], patient=procedure.patient, data={
        "rair2_present": False, "rair2_date": None, "rair2_evidence": ""})
    procedure.patient.rair.refresh_from_db()
    status = procedure.patient.rair.status
    assert status in ("undetermined", "not_refractory")  # RAIR-2 was the fixture's only refractory criterion
    [found] = selectors.protocol_deviations_for(users["physician"])
    assert found.procedure.pk == procedure.pk and f"rair_{status}" in codes(found.reasons)


@pytest.mark.django_db
def test_procedure_page_warns_of_the_deviation(login, users, unassessed_procedure, procedure):
    client = login(users["nurse"])
    page = client.get(reverse("dosimetry:procedure_detail", args=[unassessed_procedure.pk])).content.decode()
    assert 'id="protocol-deviation"' in page
    assert "No eligibility assessment on or before the implant." in page
    page = client.get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert 'id="protocol-deviation"' not in page


def _section(page):
    start = page.index('<section id="protocol-deviations">')
    return page[start:page.index("</section>", start)]


@pytest.mark.django_db
def test_dashboard_lists_protocol_deviations_and_reviewers_see_study_ids_only(login, users, unassessed_procedure,
                                                                             procedure):
    study_id = unassessed_procedure.patient.study_id
    page = login(users["physician"]).get(reverse("assessment:dashboard")).content.decode()
    section = _section(page)
    assert "Protocol deviations <small>(1)</small>" in section
    assert study_id in section and "2018-02-05" in section and "RAIR status is undetermined" in section
    assert procedure.patient.study_id not in section
    page = login(users["reviewer"]).get(reverse("assessment:dashboard")).content.decode()
    section = _section(page)
    assert study_id in section and "No eligibility assessment on or before the implant." in section
    assert "2018-02-05" not in section and "Roe" not in section and "MRN-2" not in section


# --- the procedure form: warn before saving, a physician may override with a reason ------------------------------

def _form_data(client, procedure, **extra):
    """The procedure form as the user opened it just now (with its version token) and changed it with ``extra``."""
    page = client.get(reverse("dosimetry:procedure_edit", args=[procedure.pk]))
    data = {"_version": page.context["form"]["_version"].value(),"date": procedure.date.isoformat(), "lesions": [le.pk for le in procedure.lesions.all()],
            "operator": "Dr Test", "anaesthesia": "local", "seed_model": procedure.seed_model_id,
            "seeds_implanted": "6", "activity_per_seed_mbq": "25.0",
            "activity_calibration_date": procedure.date.isoformat(), "prescription_gy": "120"}
    return {**data, **extra}


@pytest.mark.django_db
def test_nurse_sees_the_deviation_before_saving_and_cannot_save_past_it(login, users, unassessed_procedure):
    from dosimetry.models import ImplantProcedure

    client = login(users["nurse"])
    url = reverse("dosimetry:procedure_edit", args=[unassessed_procedure.pk])
    response = client.post(url, _form_data(client, unassessed_procedure, operator="Dr Changed",
                                           override_reason="nurse tries anyway"))
    page = response.content.decode()
    assert response.status_code == 200 and 'id="pending-warnings"' in page
    assert "A physician must confirm: No eligibility assessment on or before the implant." in page
    assert 'name="override_reason"' not in page
    assert ImplantProcedure.objects.get(pk=unassessed_procedure.pk).operator == "Dr Test"  # nothing saved


@pytest.mark.django_db
def test_physician_saves_despite_the_deviation_with_a_reason_stored_and_shown(login, users, unassessed_procedure):
    from dosimetry.models import ImplantProcedure

    client = login(users["physician"])
    url = reverse("dosimetry:procedure_edit", args=[unassessed_procedure.pk])
    page = client.post(url, _form_data(client, unassessed_procedure, operator="Dr Changed")).content.decode()
    assert 'name="override_reason"' in page and "Protocol deviation — not saved" in page
    page = client.post(url, _form_data(client, unassessed_procedure, operator="Dr Changed",
                                       override_reason="ok")).content.decode()
    assert "at least 5 characters" in page
    response = client.post(url, _form_data(client, unassessed_procedure, operator="Dr Changed",
                                           override_reason="Compassionate use, MDT 2018-01"))
    assert response.status_code == 302
    saved = ImplantProcedure.objects.get(pk=unassessed_procedure.pk)
    assert saved.operator == "Dr Changed" and saved.overridden_by == users["physician"]
    assert [w["code"] for w in saved.accepted_warnings] == ["no_eligibility", "rair_undetermined"]
    row = saved.history.latest("history_id")
    assert row.history_change_reason == ("saved despite no_eligibility, rair_undetermined: Compassionate use, "
                                         "MDT 2018-01")
    page = client.get(reverse("dosimetry:procedure_detail", args=[saved.pk])).content.decode()
    assert 'id="deviation-override"' in page and "Compassionate use, MDT 2018-01" in page
    # Accepted warnings are not asked again; the implant stays in the deviations list, marked accepted.
    client = login(users["nurse"])
    assert client.post(url, _form_data(client, unassessed_procedure, operator="Dr Again")).status_code == 302
    section = _section(client.get(reverse("assessment:dashboard")).content.decode())
    assert "Accepted by a physician" in section and "Compassionate use" in section


@pytest.mark.django_db
def test_an_eligible_refractory_patients_implant_saves_without_questions(login, users, procedure):
    client = login(users["nurse"])
    url = reverse("dosimetry:procedure_edit", args=[procedure.pk])
    assert client.post(url, _form_data(client, procedure, seeds_implanted="8")).status_code == 302


@pytest.mark.django_db
def test_the_count_is_exact_and_the_list_can_be_limited(procedure, unassessed_procedure, users):
    from dosimetry.models import ImplantProcedure

    second = ImplantProcedure.objects.get(pk=unassessed_procedure.pk)
    second.pk, second.date = None, dt.date(2018, 3, 1)
    second.save()
    assert selectors.count_protocol_deviations_for(users["physician"]) == 2
    assert [d.procedure.pk for d in selectors.protocol_deviations_for(users["physician"], limit=1)] == [
        unassessed_procedure.pk]
    assert len(selectors.protocol_deviations_for(users["physician"])) == 2

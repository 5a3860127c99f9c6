"""The registry's registration hooks (issue 11): the apps above it plug in, the registry imports none of them.

* ``registry.derived``: a registry or dosimetry write announces "facts of this patient changed" and the follow-up
  results are recomputed (assessment registers its recomputation);
* ``registry.panels``: the patient page shows the implant and follow-up sections that dosimetry and assessment
  registered, in their order;
* ``registry.anchor``: the reviewers' day 1 is the first implant, provided by dosimetry.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from assessment import services as assessment_services
from assessment.models import FollowUpResult, VisitResult
from dosimetry import services as dosimetry_services
from dosimetry.selectors import first_implant_date, procedures_panel
from registry import anchor, panels
from registry import services as registry_services

D = Decimal
pytestmark = pytest.mark.django_db


def _visit(patient, user, when, timepoint, axes):
    lesion = patient.lesions.get(label="L1")
    rows = {lesion.pk: {"qualifier": "measured", "long_mm": D(axes[0]), "short_mm": D(axes[1]),
                        "third_mm": D(axes[2])}}
    data = assessment_services.VisitInput(visit={"visit_date": when, "timepoint": timepoint, "modality": "ct"},
                                          measurements=rows)
    return assessment_services.visit_save(user=user, patient=patient, data=data)


@pytest.fixture
def followed(procedure, users):
    """The implanted patient with a baseline and a 2-month PR (L1 short axis 20 → 13 mm)."""
    patient = procedure.patient
    _visit(patient, users["nurse"], dt.date(2018, 1, 20), "baseline", ("28", "20", "24"))
    m2 = _visit(patient, users["nurse"], dt.date(2018, 4, 5), "m2", ("20", "13", "15"))
    assert VisitResult.objects.get(visit=m2).overall == "PR"
    return patient, m2


def _make_stale(patient):
    """Remove the derived follow-up rows, as if they had not been recomputed after a change of facts."""
    VisitResult.objects.filter(visit__patient=patient).delete()
    FollowUpResult.objects.filter(patient=patient).delete()


def test_a_lesion_saved_through_the_registry_recomputes_the_follow_up(followed, users):
    patient, m2 = followed
    _make_stale(patient)
    lesion = patient.lesions.get(label="L1")
    registry_services.lesion_save(user=users["data_manager"], patient=patient, lesion=lesion,
                                  data={"fdg_avid": "yes"})
    assert VisitResult.objects.get(visit=m2).overall == "PR"
    assert FollowUpResult.objects.get(patient=patient).bor_unconfirmed == "PR"


def test_a_lesion_deleted_through_the_registry_recomputes_the_follow_up(followed, users):
    patient, m2 = followed
    spare = registry_services.lesion_save(user=users["data_manager"], patient=patient, data={
        "region": "lung", "lung_lobe": "RUL", "nodal": False})
    _make_stale(patient)
    registry_services.delete_with_reason(user=users["data_manager"], instance=spare, reason="entered twice")
    assert VisitResult.objects.get(visit=m2).overall == "PR"
    assert FollowUpResult.objects.filter(patient=patient).exists()


def test_an_implant_saved_through_dosimetry_recomputes_the_follow_up(followed, users, procedure):
    patient, m2 = followed
    _make_stale(patient)
    dosimetry_services.procedure_save(user=users["nurse"], patient=patient, procedure=procedure,
                                      lesions=procedure.lesions.all(), data={"operator": "Dr Other"})
    assert VisitResult.objects.get(visit=m2).overall == "PR"
    assert FollowUpResult.objects.get(patient=patient).bor_unconfirmed == "PR"


def test_the_patient_page_shows_the_registered_sections_in_order(login, users, procedure):
    url = reverse("registry:patient_detail", args=[procedure.patient_id])
    html = login(users["nurse"]).get(url).content.decode()
    positions = [html.index(marker) for marker in
                 ('id="eligibility-badge"', 'id="procedures"', 'id="follow-up"', 'id="history"')]
    assert positions == sorted(positions)  # registry facts, implants (dosimetry), follow-up (assessment), history
    # each section sees the page's context (perms) and its own variables (the follow-up's can_add_visit)
    assert "Record an implant procedure" in html and "Record a visit" in html
    reviewer = login(users["reviewer"]).get(url).content.decode()
    assert 'id="procedures"' in reviewer and 'id="follow-up"' in reviewer
    assert "Record an implant procedure" not in reviewer and "Record a visit" not in reviewer


def test_panels_are_ordered_and_a_key_is_taken_once(monkeypatch):
    monkeypatch.setattr(panels, "_PANELS", {})
    later = panels.register_panel("later", 20, procedures_panel, "later.html")
    panels.register_panel("first", 10, procedures_panel, "first.html")
    assert [p.key for p in panels.registered_panels()] == ["first", "later"]
    assert panels.register_panel("later", 20, procedures_panel, "later.html") == later  # ready() run twice
    with pytest.raises(ImproperlyConfigured, match="patient panel 'later' is already registered"):
        panels.register_panel("later", 30, procedures_panel, "other.html")


def test_day_one_is_the_first_implant_provided_by_dosimetry(procedure, users):
    patient = procedure.patient
    dosimetry_services.procedure_save(user=users["nurse"], patient=patient, lesions=patient.lesions.all(), data={
        "date": dt.date(2019, 3, 1), "operator": "Dr Test", "seed_model": procedure.seed_model,
        "seeds_implanted": 4, "activity_per_seed_mbq": D("25.0"),
        "activity_calibration_date": dt.date(2019, 3, 1), "prescription_gy": D("120")})
    fresh = type(patient).objects.get(pk=patient.pk)
    assert anchor.anchor_for(fresh) == dt.date(2018, 2, 5) == procedure.date
    assert anchor.anchor_for(None) is None


def test_the_anchor_has_one_provider():
    assert anchor.register_anchor(first_implant_date) is first_implant_date  # dosimetry's, again: no change
    with pytest.raises(ImproperlyConfigured, match="already provided by first_implant_date"):
        anchor.register_anchor(lambda patient: None)

"""RAIR criteria checked against the recorded ¹³¹I history (clinical reference §2.2): RAIR-1 ("never took up
radioiodine") while a course's post-therapy scan shows uptake in a lesion is a warning a physician may override."""

import datetime as dt
from decimal import Decimal

import pytest

from registry import services
from registry.models import RairClassification
from registry.overrides import Override, WarningsPending
from registry.rair import CourseUptake, RairCriterion, RairCriterionFact, rair_consistency_warnings

R1 = RairCriterion.RAIR_1


def test_rair1_against_uptake_names_each_course_date_and_lesion():
    uptakes = [CourseUptake(dt.date(2014, 2, 10), "L2 (cervical level IV left)", "yes"),
               CourseUptake(dt.date(2013, 1, 10), "L1 (cervical level III left)", "yes"),
               CourseUptake(dt.date(2013, 1, 10), "L2 (cervical level IV left)", "no"),
               CourseUptake(dt.date(2013, 1, 10), "L3 (lung right upper)", "yes")]
    (w,) = rair_consistency_warnings([RairCriterionFact(R1, True)], uptakes)
    assert w["code"] == "rair1_uptake_recorded"
    assert w["message"].startswith(
        "RAIR-1 (metastatic tissue never took up radioiodine) is recorded present, but the post-therapy scan of "
        "the ¹³¹I course of 2013-01-10 shows uptake in L1 (cervical level III left), L3 (lung right upper); "
        "the ¹³¹I course of 2014-02-10 shows uptake in L2 (cervical level IV left). Record RAIR-2")


@pytest.mark.parametrize("present, uptake", [(True, "no"), (True, "unknown"), (False, "yes"), (None, "yes")])
def test_no_warning_without_a_contradiction(present, uptake):
    facts = [RairCriterionFact(R1, present), RairCriterionFact(RairCriterion.RAIR_3, True)]
    assert rair_consistency_warnings(facts, [CourseUptake(dt.date(2013, 1, 10), "L1", uptake)]) == []


def test_bad_uptake_value_is_refused():
    with pytest.raises(ValueError, match="uptake 'maybe' is not allowed; allowed: yes, no, unknown"):
        CourseUptake(dt.date(2013, 1, 10), "L1", "maybe")


@pytest.fixture
def avid(make_patient, users):
    """A patient whose first ¹³¹I course (2013-01-10) showed uptake in L1."""
    p = make_patient()
    les = services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True})
    services.iodine_course_save(user=users["data_manager"], patient=p, data={
        "date": dt.date(2013, 1, 10), "activity_value": Decimal("3.7"), "activity_unit": "GBq"},
        uptakes={les.pk: "yes"})
    return p


EXPECTED = ("RAIR-1 (metastatic tissue never took up radioiodine) is recorded present, but the post-therapy scan of "
            "the ¹³¹I course of 2013-01-10 shows uptake in L1 (cervical level III left).")


def test_nurse_cannot_record_rair1_against_uptake(avid, users):
    with pytest.raises(WarningsPending) as exc:
        services.rair_update(user=users["nurse"], patient=avid, data={"rair1_present": True},
                             override=Override("first scan was remnant only", ()))
    assert exc.value.text.startswith(f"A physician must confirm: {EXPECTED}")
    assert RairClassification.objects.get(patient=avid).rair1_present is None  # nothing saved
    # RAIR-2 (uptake lost after earlier avid disease) is consistent with the history
    rair = services.rair_update(user=users["nurse"], patient=avid, data={"rair2_present": True})
    assert (rair.status, rair.warnings) == ("refractory", [])


def test_physician_confirms_rair1_with_a_reason_kept_on_later_edits(avid, users):
    doc = users["physician"]
    with pytest.raises(WarningsPending) as exc:
        services.rair_update(user=doc, patient=avid, data={"rair1_present": True})
    (w,) = exc.value.warnings
    rair = services.rair_update(user=doc, patient=avid, data={"rair1_present": True},
                                override=Override("Uptake was thyroid-bed remnant on review", (w["message"],)))
    assert (rair.status, rair.warnings, rair.override_reason, rair.overridden_by) == (
        "refractory", [w], "Uptake was thyroid-bed remnant on review", doc)
    h = rair.history.filter(history_change_reason__startswith="override").get()
    assert h.history_change_reason == "override (rair1_uptake_recorded): Uptake was thyroid-bed remnant on review"
    assert h.rair1_present is True and h.history_user == doc
    rair = services.rair_update(user=users["nurse"], patient=avid, data={"fdg_avid": True})  # accepted already
    assert rair.override_reason == "Uptake was thyroid-bed remnant on review"


def test_rair_form_shows_the_warning_and_the_physician_saves(client, login, users, avid):
    data = {f"rair{i}_present": "unknown" for i in range(2, 5)} | {
        "rair1_present": "true", "fdg_avid": "unknown", "progression_within_12_months": "unknown"}
    login(users["nurse"])
    data["_version"] = client.get(f"/patients/{avid.pk}/rair/").context["form"]["_version"].value()  # as opened
    html = client.post(f"/patients/{avid.pk}/rair/", data).content.decode()
    assert "A physician must confirm" in html and EXPECTED in html
    login(users["physician"])
    first = client.post(f"/patients/{avid.pk}/rair/", data)
    shown = first.context["override_form"]["acknowledged"].value()
    r = client.post(f"/patients/{avid.pk}/rair/", data | {
        "override-override_reason": "Remnant uptake only (nuclear medicine review)",
        "override-acknowledged": shown}, follow=True)
    html = r.content.decode()
    assert 'id="rair-override"' in html and "Remnant uptake only (nuclear medicine review)" in html
    assert RairClassification.objects.get(patient=avid).rair1_present is True
    login(users["reviewer"])
    html = client.get(f"/patients/{avid.pk}/").content.decode()
    box = html[html.index('id="rair-override"'):]
    box = box[:box.index("</div>")]
    assert "A physician confirmed the criteria with a reason" in box
    assert "Remnant uptake only" not in box and "2013-01-10" not in box  # no free text, no calendar dates


def test_uptake_recorded_after_rair1_shows_as_unconfirmed_on_the_patient_page(client, login, make_patient, users):
    p = make_patient()
    les = services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True})
    services.rair_update(user=users["nurse"], patient=p, data={"rair1_present": True})
    services.iodine_course_save(user=users["nurse"], patient=p, data={
        "date": dt.date(2013, 1, 10), "activity_value": Decimal("3.7"), "activity_unit": "GBq"},
        uptakes={les.pk: "yes"})
    login(users["nurse"])
    html = client.get(f"/patients/{p.pk}/").content.decode()
    assert 'id="rair-unconfirmed"' in html and EXPECTED in html

"""Follow-up services: facts in, categories computed and stored, recomputed when a fact changes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from assessment import services
from assessment.models import FollowUpResult, LabResult, Measurement, Visit, VisitResult
from registry import services as registry_services

D = Decimal


@pytest.fixture
def two_nodes(procedure, users):
    """The eligible patient's L1 (SA 20 mm) plus a 12 mm-SA node L2 (non-target only)."""
    patient = procedure.patient
    registry_services.lesion_save(user=users["data_manager"], patient=patient, data={
        "region": "cervical_node", "cervical_level": "IV", "side": "left", "nodal": True,
        "baseline_long_mm": D("15"), "baseline_short_mm": D("12"), "baseline_third_mm": D("12")})
    return patient


def _visit(patient, user, when, timepoint, sizes, **extra):
    lesions = {les.label: les for les in patient.lesions.all()}
    rows = {}
    for label, value in sizes.items():
        if isinstance(value, tuple):
            rows[lesions[label].pk] = {"qualifier": "measured", "long_mm": D(value[0]), "short_mm": D(value[1]),
                                       "third_mm": D(value[2]) if len(value) > 2 else None}
        else:
            rows[lesions[label].pk] = value
    data = services.VisitInput(visit={"visit_date": when, "timepoint": timepoint, "modality": "ct"},
                               measurements=rows, **extra)
    return services.visit_save(user=user, patient=patient, data=data)


def _result(visit):
    return VisitResult.objects.get(visit=visit)


@pytest.fixture
def course(two_nodes, users):
    """Baseline, PR at 2 months, PD against the nadir at 6 months (the case spreadsheets get wrong)."""
    nurse = users["nurse"]
    p = two_nodes
    base = _visit(p, nurse, dt.date(2018, 1, 20), "baseline", {"L1": ("28", "20", "24"), "L2": ("15", "12", "12")})
    m2 = _visit(p, nurse, dt.date(2018, 4, 5), "m2", {"L1": ("20", "13", "15"), "L2": ("14", "11", "11")})
    m6 = _visit(p, nurse, dt.date(2018, 8, 5), "m6", {"L1": ("25", "19", "20"), "L2": ("14", "11", "11")})
    return p, base, m2, m6


def test_targets_are_proposed_by_strict_rules(course):
    p, *_ = course
    roles, proposed = services.lesion_roles(p)
    by_label = {les.label: roles[les.pk] for les in p.lesions.all()}
    assert proposed is True
    assert by_label == {"L1": "target", "L2": "non-target"}  # a 12 mm-SA node is non-target only


def test_pr_against_baseline_then_pd_against_nadir(course):
    p, base, m2, m6 = course
    assert _result(base).is_baseline and _result(base).sum_mm == D("20.0")
    r2 = _result(m2)
    assert (r2.target, r2.non_target, r2.overall) == ("PR", "NON_CR_NON_PD", "PR")
    assert r2.change_from_baseline_pct == -35.0
    r6 = _result(m6)
    assert r6.overall == "PD"
    assert r6.nadir_mm == D("13.0")
    assert "PD" in r6.reason and "13 mm" in r6.reason and "+6 mm" in r6.reason
    assert r6.change_from_baseline_pct == -5.0  # PD although still below baseline
    f = FollowUpResult.objects.get(patient=p)
    assert (f.bor_unconfirmed, f.rule_set) == ("PR", "RECIST1.1")
    assert f.bor_confirmed == "SD"  # the PR was never confirmed ≥ 28 days later


def test_changing_a_past_measurement_recomputes_later_visits_and_is_audited(course, users):
    p, base, m2, m6 = course
    m = Measurement.objects.get(visit=m2, lesion__label="L1")
    services.measurement_save(user=users["physician"], measurement=m,
                              data={"short_mm": D("16")}, reason="re-read by second radiologist")
    assert _result(m2).overall == "SD"  # −20 % is not PR
    r6 = _result(m6)
    assert r6.overall == "SD"  # 19 mm vs nadir 16 mm: +3 mm < 5 mm, no longer PD
    assert r6.nadir_mm == D("16.0")
    record = m.history.order_by("-history_date").first()
    assert record.history_user == users["physician"]
    assert record.prev_record.short_mm == D("13.0") and record.short_mm == D("16.0")
    assert record.history_change_reason == "re-read by second radiologist"


def test_lesion_volumes_and_change_are_derived(course):
    p, base, m2, _ = course
    rb, r2 = _result(base), _result(m2)
    # π/6·(28·20·24 + 15·12·12) mm³ = 8.168 cm³ at baseline
    assert rb.volume_cm3 == pytest.approx(8.168, abs=1e-3)
    assert r2.volume_cm3 == pytest.approx((20 * 13 * 15 + 14 * 11 * 11) * 3.14159265 / 6 / 1000, abs=1e-3)
    assert r2.volume_change_pct == pytest.approx((r2.volume_cm3 / rb.volume_cm3 - 1) * 100, abs=0.01)


def test_a_node_marked_disappeared_with_normal_short_axis_gives_cr(two_nodes, users):
    p, nurse = two_nodes, users["nurse"]
    _visit(p, nurse, dt.date(2018, 1, 20), "baseline", {"L1": ("28", "20", "24"), "L2": ("15", "12", "12")})
    v = _visit(p, nurse, dt.date(2018, 4, 5), "m2", {"L1": ("9", "8"), "L2": {"non_target_status": "absent",
                                                                              "qualifier": "disappeared"}})
    r = _result(v)
    assert (r.target, r.non_target, r.overall) == ("CR", "CR", "CR")
    assert r.sum_mm == D("8.0")  # nodal CR with a non-zero sum


def test_missing_target_gives_ne_with_reason(course, users):
    p, *_ = course
    v = _visit(p, users["nurse"], dt.date(2018, 10, 1), "unscheduled",
               {"L1": {"qualifier": "not_assessed"}})
    r = _result(v)
    assert r.overall in ("NE", "PD")
    assert r.reason


def test_ultrasound_visit_never_drives_recist(course, users):
    p, *_ = course
    lesions = {les.label: les for les in p.lesions.all()}
    v = services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 10, 1), "timepoint": "unscheduled", "modality": "ultrasound"},
        measurements={lesions["L1"].pk: {"qualifier": "measured", "long_mm": D("9"), "short_mm": D("5")}}))
    r = _result(v)
    assert r.overall == "NE"
    assert any("ultrasound" in f for f in r.flags)
    assert Measurement.objects.filter(visit=v).exists()  # kept


@pytest.mark.parametrize("fields, key, fragment", [
    ({"long_mm": D("0"), "short_mm": D("0")}, "measurement:L1.long_mm", "must be > 0"),
    ({"long_mm": D("10"), "short_mm": D("12")}, "measurement:L1.short_mm", "longer than the long axis"),
    ({"long_mm": D("20"), "short_mm": None}, "measurement:L1.short_mm", "nodal target: give its short axis"),
])
def test_bad_measurement_is_refused_and_nothing_saved(two_nodes, users, fields, key, fragment):
    p = two_nodes
    _visit(p, users["nurse"], dt.date(2018, 1, 20), "baseline", {"L1": ("28", "20", "24"), "L2": ("15", "12", "12")})
    l1 = p.lesions.get(label="L1")
    with pytest.raises(ValidationError) as exc:
        services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
            visit={"visit_date": dt.date(2018, 4, 5), "timepoint": "m2", "modality": "ct"},
            measurements={l1.pk: {"qualifier": "measured", **fields}},
            labs=[{"analyte": "tg", "qualifier": "=", "value": D("3"), "unit": "ng/mL", "tsh_state": "suppressed"}]))
    assert fragment in " ".join(exc.value.message_dict[key])
    assert not Visit.objects.filter(visit_date=dt.date(2018, 4, 5)).exists()
    assert not LabResult.objects.filter(patient=p).exists()


def test_visit_before_the_implant_is_refused(two_nodes, users):
    with pytest.raises(ValidationError) as exc:
        _visit(two_nodes, users["nurse"], dt.date(2018, 2, 1), "m2", {})
    assert "is not after the implant (2018-02-05)" in exc.value.message_dict["visit.visit_date"][0]


def test_measurement_of_an_unregistered_lesion_is_refused(two_nodes, users, make_patient):
    other = make_patient(family_name="Other", record_number="MRN-OTHER")
    foreign = registry_services.lesion_save(user=users["data_manager"], patient=other, data={
        "region": "lung", "lung_lobe": "RUL", "nodal": False})
    with pytest.raises(ValidationError) as exc:
        services.visit_save(user=users["nurse"], patient=two_nodes, data=services.VisitInput(
            visit={"visit_date": dt.date(2018, 1, 20), "timepoint": "baseline", "modality": "ct"},
            measurements={foreign.pk: {"qualifier": "measured", "long_mm": D("12")}}))
    assert "is not registered for patient" in exc.value.message_dict[f"measurement:{foreign.pk}.lesion"][0]


def test_lab_with_unknown_unit_is_refused(course, users):
    p, base, m2, m6 = course
    with pytest.raises(ValidationError) as exc:
        services.lab_save(user=users["nurse"], patient=p, data={
            "visit": m2, "sample_date": m2.visit_date, "analyte": "tg", "qualifier": "=", "value": D("3"),
            "unit": "pmol/L", "tsh_state": "suppressed"})
    assert exc.value.message_dict["unit"][0].startswith("Unit 'pmol/L' is not accepted for Tg; use ng/mL")


def test_censored_tg_is_kept_and_ata_uses_it(two_nodes, users):
    p, nurse = two_nodes, users["nurse"]
    _visit(p, nurse, dt.date(2018, 1, 20), "baseline", {"L1": ("28", "20", "24"), "L2": ("15", "12", "12")})
    v = _visit(p, nurse, dt.date(2018, 4, 5), "m2", {"L1": ("9", "8"), "L2": {"qualifier": "disappeared"}},
               labs=[{"analyte": "tg", "qualifier": "<", "value": D("0.1"), "unit": "ng/mL", "tsh_state": "suppressed",
                      "loq": D("0.1")},
                     {"analyte": "tgab", "qualifier": "<", "value": D("1"), "unit": "IU/mL",
                      "tgab_cutoff_iu_ml": D("4")}])
    lab = LabResult.objects.get(visit=v, analyte="tg")
    assert (lab.qualifier, lab.value_std, lab.text) == ("<", 0.1, "<0.1")
    r = _result(v)
    assert r.overall == "CR"
    assert r.ata_category == "EXCELLENT", r.ata_reason


def test_structural_disease_is_ata_structural_incomplete(course):
    _, _, m2, _ = course
    r = _result(m2)
    assert r.ata_category == "STRUCTURAL_INCOMPLETE"
    assert r.ata_rule_set == "ATA2015"


def test_new_therapy_ends_the_bor_window(course, users):
    p, base, m2, m6 = course
    services.therapy_save(user=users["physician"], patient=p, data={"kind": "tki", "start_date": dt.date(2018, 6, 1)})
    r6 = _result(m6)
    assert r6.counts_for_bor is False
    assert any("new anticancer therapy" in f for f in r6.flags)
    assert FollowUpResult.objects.get(patient=p).bor_unconfirmed == "PR"


def test_skin_toxicity_scale_comes_from_the_date(course, users):
    p, base, m2, m6 = course
    t2 = services.toxicity_save(user=users["nurse"], patient=p, data={
        "kind": "rtog_skin", "onset_date": dt.date(2018, 5, 6), "grade": 2, "visit": m2})  # day 90
    t6 = services.toxicity_save(user=users["nurse"], patient=p, data={
        "kind": "rtog_skin", "onset_date": dt.date(2018, 5, 7), "grade": 1})  # day 91
    assert (t2.scale, t2.days_since_implant) == ("rtog_acute_skin", 90)
    assert (t6.scale, t6.days_since_implant) == ("rtog_late_skin", 91)
    assert FollowUpResult.objects.get(patient=p).max_rtog_grade == 2


def test_seed_migration_is_ctcae_other_specify(course, users):
    p, *_ = course
    t = services.toxicity_save(user=users["nurse"], patient=p, data={
        "kind": "ctcae", "ctcae_term": "seed migration", "onset_date": dt.date(2018, 4, 5), "grade": 1})
    assert t.ctcae_term == "Injury, poisoning and procedural complications - Other, specify"
    assert (t.specify, t.rule_set) == ("seed migration", "CTCAE5")
    with pytest.raises(ValidationError) as exc:
        services.toxicity_save(user=users["nurse"], patient=p, data={
            "kind": "ctcae", "ctcae_term": "Neck pain", "onset_date": dt.date(2018, 4, 5), "grade": 4})
    assert "grades defined for 'Neck pain'" in exc.value.message_dict["grade"][0]


def test_strict_designation_refuses_three_nodal_targets(course, users):
    p, *_ = course
    registry_services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "cervical_node", "cervical_level": "II", "side": "right", "nodal": True,
        "baseline_long_mm": D("30"), "baseline_short_mm": D("18"), "baseline_third_mm": D("20")})
    roles = {les.pk: "target" for les in p.lesions.all()}
    with pytest.raises(ValidationError) as exc:
        services.designation_save(user=users["physician"], patient=p, roles=roles)
    assert any("at most 2 targets per organ" in m for m in exc.value.message_dict["designation"])


def test_unclassifiable_facts_give_ne_not_an_exception(two_nodes, users):
    p = two_nodes  # no baseline visit
    v = _visit(p, users["nurse"], dt.date(2018, 4, 5), "m2", {"L1": ("20", "13")})
    r = _result(v)
    assert r.overall == "NE"
    assert "no baseline assessment" in r.reason


def test_bone_lesion_gets_an_mda_response(course, users):
    p, base, m2, m6 = course
    bone = registry_services.lesion_save(user=users["data_manager"], patient=p, data={
        "region": "bone", "site_detail": "T8 vertebra", "nodal": False})
    services.designation_save(user=users["physician"], patient=p, roles={
        les.pk: ("target" if les.label == "L1" else "non-target") for les in p.lesions.all()})
    services.measurement_save(user=users["nurse"], measurement=Measurement(visit=base, lesion=bone), data={
        "qualifier": "measured", "long_mm": D("20"), "short_mm": D("20"), "mda_modality": "ct"})
    # SPD 400 → 180 mm² (−55 %): PR by the (unconfirmed) MDA threshold; the lytic rim is a PR finding too
    services.measurement_save(user=users["nurse"], measurement=Measurement(visit=m2, lesion=bone), data={
        "qualifier": "measured", "long_mm": D("18"), "short_mm": D("10"), "mda_modality": "ct",
        "mda_findings": ["sclerotic_rim"], "non_target_status": "present"})
    from assessment.models import LesionVisitResult

    r = LesionVisitResult.objects.get(visit=m2, lesion=bone)
    assert r.mda_response == "PR", r.mda_reason
    assert "unconfirmed" in r.mda_reason


def _cr_then_node_back(two_nodes, users, m6_l1):
    p, nurse = two_nodes, users["nurse"]
    absent = {"non_target_status": "absent", "qualifier": "disappeared"}
    _visit(p, nurse, dt.date(2018, 1, 20), "baseline", {"L1": ("28", "20", "24"), "L2": ("15", "12", "12")})
    m2 = _visit(p, nurse, dt.date(2018, 4, 5), "m2", {"L1": ("12", "8"), "L2": absent})
    m6 = _visit(p, nurse, dt.date(2018, 8, 5), "m6", {"L1": m6_l1, "L2": absent})
    return p, m2, m6


def test_stored_visit_category_and_bor_agree_after_an_unconfirmed_cr(two_nodes, users):
    # default recist.cr_then_pr = "relabel_pr": the 2-month CR is stored as PR with the relabelling reason
    p, m2, m6 = _cr_then_node_back(two_nodes, users, ("16", "11"))
    r2, r6 = _result(m2), _result(m6)
    assert (r2.overall, r2.target) == ("PR", "PR")
    assert r2.reason.startswith("PR: CR relabelled PR — target L1 11 mm SA present again on 2018-08-05")
    assert r6.overall == "PR"
    fu = FollowUpResult.objects.get(patient=p)
    assert (fu.bor_unconfirmed, fu.bor_confirmed) == ("PR", "PR")
    assert any(f.startswith("CR followed by PR — reviewer decision") for f in fu.flags)


def test_stored_visit_is_pd_when_the_cr_is_taken_as_real(two_nodes, users, settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "recist": {**settings.SEEDTRACK_PROTOCOL["recist"], "cr_then_pr": "cr_real"}}
    p, m2, m6 = _cr_then_node_back(two_nodes, users, ("16", "11"))
    assert _result(m2).overall == "CR"
    assert _result(m6).overall == "PD" and "taken as real (recist.cr_then_pr = 'cr_real')" in _result(m6).reason
    fu = FollowUpResult.objects.get(patient=p)
    assert (fu.bor_unconfirmed, fu.bor_confirmed) == ("CR", "SD")

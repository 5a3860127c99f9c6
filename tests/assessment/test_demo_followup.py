"""The demo follow-up reproduces the index study through the engine (clinical-rules.md §9).

The demo (built once for the session, tests/conftest.py) is put back once for the module inside a transaction that is
rolled back at the end; every test runs in a savepoint inside it. Categories, volumes and ATA responses are read from the engine's derived rows.
"""

import datetime as dt
import io
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from assessment import services
from assessment.models import (
    LabResult,
    LesionDesignation,
    Measurement,
    NewLesion,
    Toxicity,
    Visit,
    VisitResult,
)
from assessment.schedule import VisitStatus
from assessment.stats import PairedTest, median_iqr, paired_compare
from assessment.thyroglobulin import TgAbReading
from demo import assessment_data as demo
from registry.models import Patient
from tests.conftest import forget_cached_rows, restore_snapshot

REMISSION = {"CR", "PR", "SD"}


@pytest.fixture(scope="module")
def demo_cohort(demo_snapshots, django_db_blocker):
    """Registry cohort and procedures, then the follow-up (built once for the session: tests/conftest.py), put back
    for the module in a transaction rolled back at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        restore_snapshot(demo_snapshots["followup"])
        author = get_user_model().objects.get(username="datamanager")
        yield {"added": demo_snapshots["followup"].followup_added, "author": author}
        transaction.set_rollback(True)
    forget_cached_rows()


@pytest.fixture
def cohort(demo_cohort, db):
    return demo_cohort


def _results(timepoint):
    return list(VisitResult.objects.filter(visit__timepoint=timepoint).select_related("visit")
                .order_by("visit__patient_id"))


def test_follow_up_gives_every_study_patient_four_visits_each_with_its_derived_result(cohort):
    # (how long writing the follow-up takes is measured by bench/demo_load.py, not asserted here)
    assert cohort["added"] == 42 * 4
    visits = Visit.objects.filter(timepoint__in=("baseline", "m2", "m6", "m12"))
    per_patient = Counter(visits.values_list("patient_id", flat=True))
    assert sum(1 for n in per_patient.values() if n == 4) == 42
    assert not visits.filter(result__isnull=True).exists()  # each one computed by the engine in its save


def test_remission_counts_come_from_the_engine(cohort):
    pd_patients = {}
    for timepoint, remission in (("m2", 41), ("m6", 37), ("m12", 36)):
        overall = Counter(r.overall for r in _results(timepoint))
        assert sum(overall[c] for c in REMISSION) == remission
        assert overall["PD"] == 42 - remission
        pd_patients[timepoint] = {r.visit.patient_id for r in _results(timepoint) if r.overall == "PD"}
        assert overall["CR"] >= 1 and overall["PR"] >= 10 and overall["SD"] >= 10  # a realistic mix
    assert pd_patients["m2"] < pd_patients["m6"] < pd_patients["m12"]  # once PD, still PD


def test_progression_comes_by_the_sum_a_non_target_and_a_new_lesion(cohort):
    first_pd = {}
    for r in VisitResult.objects.filter(overall="PD").select_related("visit").order_by("visit__visit_date"):
        first_pd.setdefault(r.visit.patient_id, r)
    how = Counter()
    for r in first_pd.values():
        if r.target == "PD":
            how["sum"] += 1
            assert "≥ 120% of nadir" in r.reason
        if r.non_target == "PD":
            how["non_target"] += 1
            assert "unequivocal progression of non-target L2" in r.reason
        if r.new_lesions == "yes":
            how["new_lesion"] += 1
            assert NewLesion.objects.filter(visit=r.visit, certainty="unequivocal").count() == 1
    assert how == {"sum": 4, "non_target": 1, "new_lesion": 1}


def test_complete_responses_are_nodes_below_10_mm(cohort):
    cr = VisitResult.objects.filter(overall="CR").select_related("visit")
    assert 1 <= cr.filter(visit__timepoint="m2").count() < cr.filter(visit__timepoint="m12").count() <= 5
    for r in cr:
        node = Measurement.objects.get(visit=r.visit, lesion__label="L1")
        assert node.short_mm < 10
        assert r.target == "CR" and r.sum_mm == node.short_mm  # nodal CR with a non-zero sum


def test_volumes_reproduce_the_study_mean_sd_and_paired_t(cohort):
    study = {"baseline": (6.87, 1.67), "m2": (4.44, 1.57), "m6": (4.20, 1.70), "m12": (4.23, 1.77)}
    volumes = {tp: [r.volume_cm3 for r in _results(tp)] for tp in study}
    for tp, (mean, sd) in study.items():
        assert len(volumes[tp]) == 42 and None not in volumes[tp]
        comparison = paired_compare(volumes["baseline"], volumes[tp]) if tp != "baseline" else None
        if comparison is None:
            continue
        assert comparison.follow_up_mean_sd == pytest.approx((mean, sd), abs=0.05)
        assert comparison.test is PairedTest.PAIRED_T  # differences pass the normality test, as in the study
        assert -comparison.t == pytest.approx(demo.PAIRED_T[tp], abs=0.05)
        assert comparison.p_value < 1e-8
    base = paired_compare(volumes["baseline"], volumes["m2"]).baseline_mean_sd
    assert base == pytest.approx(study["baseline"], abs=0.05)


def test_volumes_follow_the_diameters(cohort):
    """The volume is the ellipsoid of every lesion's axes; a progressing node is larger than at its nadir."""
    for r in VisitResult.objects.filter(visit__timepoint="m6").select_related("visit")[:10]:
        rows = Measurement.objects.filter(visit=r.visit)
        assert r.volume_cm3 == pytest.approx(sum(m.volume_cm3 for m in rows), abs=1e-3)
    for r in VisitResult.objects.filter(target="PD").select_related("visit"):
        earlier = VisitResult.objects.filter(visit__patient_id=r.visit.patient_id,
                                             visit__visit_date__lt=r.visit.visit_date)
        nadir = min(earlier, key=lambda e: e.sum_mm)
        assert nadir.sum_mm == r.nadir_mm
        assert r.volume_cm3 > nadir.volume_cm3


def _tg(timepoint):
    return [lab.lab_value() for lab in LabResult.objects.filter(visit__timepoint=timepoint, analyte="tg")]


@pytest.mark.parametrize("timepoint, quartiles", [
    ("m2", (5.45, 15.95, 73.93)),
    ("m6", (2.20, 8.90, 39.21)),
])
def test_tg_median_and_quartiles_match_the_study(cohort, timepoint, quartiles):
    result = median_iqr(_tg(timepoint))
    assert result.n == 42
    got = tuple(c.value for c in (result.q1, result.median, result.q3))
    assert got == pytest.approx(quartiles, abs=0.005)
    assert {c.qualifier.value for c in (result.q1, result.median, result.q3)} == {"="}


def test_tg_baseline_and_12_month_medians_and_censored_values(cohort):
    assert median_iqr(_tg("baseline")).median.value == pytest.approx(53.5, abs=0.01)
    assert median_iqr(_tg("m12")).median.value == pytest.approx(6.00, abs=0.005)
    tg = LabResult.objects.filter(analyte="tg")
    assert tg.count() == 42 * 4
    below, above = tg.filter(qualifier="<"), tg.filter(qualifier=">")
    assert 2 <= below.count() <= 4 and 2 <= above.count() <= 4
    assert {(float(x.value), float(x.loq)) for x in below} == {(0.2, 0.2)}
    assert {float(x.value) for x in above} == {1000.0}
    assert set(tg.values_list("tsh_state", flat=True)) == {"suppressed"}
    assert tg.values("assay").distinct().count() == 1
    # "<0.2" goes with a complete response, ">1000" with progression
    assert all(VisitResult.objects.get(visit=x.visit).overall == "CR" for x in below)
    assert all(VisitResult.objects.get(visit=x.visit).overall == "PD" for x in above)


def test_tgab_negative_and_tsh_at_every_visit(cohort):
    for visit in Visit.objects.prefetch_related("labs"):
        labs = {lab.analyte: lab for lab in visit.labs.all()}
        assert set(labs) == {"tg", "tgab", "tsh"}
        tgab = labs["tgab"]
        assert not TgAbReading(tgab.lab_value(), float(tgab.tgab_cutoff_iu_ml)).positive
        assert labs["tsh"].value_std < 0.1  # TSH suppressed (mIU/L)


def test_toxicity_two_skin_grade_2_and_one_minor_bleeding(cohort):
    skin = Toxicity.objects.filter(kind="rtog_skin").select_related("visit")
    assert skin.count() == 42
    assert {t.visit.timepoint for t in skin} == {"m2"}
    assert {t.scale for t in skin} == {"rtog_acute_skin"}
    assert Counter(t.grade for t in skin)[2] == 2
    assert {t.grade for t in skin} <= {0, 1, 2}
    ctcae = Toxicity.objects.filter(kind="ctcae").select_related("procedure")
    assert ctcae.count() == 1
    bleed = ctcae.get()
    assert (bleed.ctcae_term, bleed.grade, bleed.days_since_implant) == ("Postoperative hemorrhage", 1, 0)
    assert bleed.onset_date == bleed.procedure.date


def test_every_patient_has_four_visits_inside_their_windows(cohort):
    patients = list(Patient.objects.select_related("site").prefetch_related("visits", "lesions"))
    assert len(patients) == 42
    designations = {d.lesion_id: d for d in LesionDesignation.objects.all()}
    for p in patients:
        visits = sorted(p.visits.all(), key=lambda v: v.visit_date)
        assert [v.timepoint for v in visits] == ["baseline", "m2", "m6", "m12"]
        implant = services.index_procedure(p).date
        assert 3 <= (implant - visits[0].visit_date).days <= 20
        schedule = services.patient_schedule(p, today=dt.date(2020, 6, 1))
        assert [(s.status, s.in_window) for s in schedule] == [(VisitStatus.DONE, True)] * 4
        nurse = "nurse2" if p.site.code == "DLH" else "nurse"
        assert {v.history.earliest().history_user.username for v in visits} == {nurse}
        for les in p.lesions.all():
            d = designations[les.pk]
            assert d.role == ("target" if les.nodal else "non-target")
            assert d.history.earliest().history_user.username == "physician"


def test_loading_again_adds_nothing(cohort, settings):
    settings.DEMO_MODE = True  # the command loads the demo only when it is asked for
    call_command("load_demo_cohort", stdout=io.StringIO())  # adds only the 3 patients in follow-up now
    before = (Visit.objects.count(), Visit.history.count(), LabResult.objects.count(), Toxicity.objects.count())
    assert before[0] == 42 * 4 + 3
    assert demo.add_demo_followup(cohort["author"]) == 0
    out = io.StringIO()
    call_command("load_demo_cohort", stdout=out)
    assert "Demo follow-up: 0 visits added" in out.getvalue()
    assert "Patients in follow-up now (for the worklist): 0 added" in out.getvalue()
    after = (Visit.objects.count(), Visit.history.count(), LabResult.objects.count(), Toxicity.objects.count())
    assert after == before


def test_design_is_deterministic_and_is_what_was_written(cohort):
    patients = list(Patient.objects.order_by("pk").prefetch_related("lesions", "eligibility_assessments"))
    registry = [demo.cohort_patient(p) for p in patients]
    design = demo.design_followup(registry)
    assert design == demo.design_followup(registry)
    assert design != demo.design_followup(registry, seed=demo.SEED + 1)
    for p, d in zip(patients, design, strict=True):
        written = Measurement.objects.get(visit__patient=p, visit__timepoint="m6", lesion__label="L1")
        assert (float(written.long_mm), float(written.short_mm), float(written.third_mm)) == d.visits[2].node_mm
    with pytest.raises(demo.DemoFollowupError, match=r"^cohort: got 41 patients; allowed: the 42 demo patients$"):
        demo.design_followup(registry[:41])


def test_in_follow_up_patients_give_the_worklist_work(db, users):
    """The command's extra patients: one 2-month visit overdue, one due, one implant last week (baseline missed)."""
    import datetime as dt

    from assessment import selectors
    from demo.assessment_data import add_demo_in_follow_up
    from demo.registry_data import load_demo_cohort as load_registry

    load_registry()
    today = dt.date(2026, 11, 24)
    assert add_demo_in_follow_up(users["data_manager"], today) == 3
    assert add_demo_in_follow_up(users["data_manager"], today) == 0
    rows = selectors.worklist_for(users["data_manager"], today)
    got = sorted((r.visit.timepoint, r.visit.status) for r in rows)
    assert got == [("m2", "due"), ("m2", "overdue")]
    assert rows[0].visit.status == "overdue"
    # each was worked up before the implant (eligible, RAI-refractory): none is a protocol deviation
    from dosimetry.selectors import count_protocol_deviations_for
    from registry.models import Patient

    recent = Patient.objects.filter(record_number__in=[r for r, _, _ in demo.IN_FOLLOW_UP])
    assert sorted(recent.values_list("eligibility_status", "rair__status")) == [("eligible", "refractory")] * 3
    assert count_protocol_deviations_for(users["data_manager"]) == 0

"""Cohort analysis (study Tables 1–4) from follow-up facts entered through the real services."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats as sps

from assessment import cohort_data, cohort_formats, cohort_tables, services
from assessment import stats as st
from assessment.cohort import load_cohort
from assessment.cohort_data import CohortFilter, CohortFilterError
from dosimetry import services as dosimetry_services
from dosimetry.models import SeedModel
from registry import services as registry_services

D = Decimal
OFFSETS = {"baseline": -10, "m2": 60, "m6": 182, "m12": 365}


def _tg(spec):
    if spec is None:
        return []
    q, value = spec if isinstance(spec, tuple) else ("=", spec)
    row = {"analyte": "tg", "qualifier": q, "value": D(str(value)), "unit": "ng/mL", "tsh_state": "suppressed"}
    if q == "<":
        row["loq"] = D(str(value))
    return [row]


@pytest.fixture
def build(make_patient, users):
    """build(key, implant, sizes={tp: {label: SA mm or a measurement dict}}, tg={tp: value}) → Patient."""
    seed = SeedModel.objects.get(code="6711")
    counter = {"n": 0}

    def make(*, implant, sizes, nodes=(("III", 20),), tg=None, site="A", plans=None, lung=False,
             registry_enhancement=(), baseline_enhancement=None, **patient_fields):
        counter["n"] += 1
        dm, nurse = users["data_manager"], users["nurse"] if site == "A" else users["nurse_b"]
        p = make_patient(site, record_number=f"MRN-{counter['n']}", **patient_fields)
        lesions = []
        for i, (level, sa) in enumerate(nodes):
            lesions.append(registry_services.lesion_save(user=dm, patient=p, data={
                "region": "cervical_node", "cervical_level": level, "side": "left", "nodal": True,
                "enhancement": registry_enhancement[i] if i < len(registry_enhancement) else "",
                "baseline_long_mm": D(sa + 8), "baseline_short_mm": D(sa), "baseline_third_mm": D(sa)}))
        lung_lesion = None
        if lung:
            lung_lesion = registry_services.lesion_save(user=dm, patient=p, data={
                "region": "lung", "lung_lobe": "RUL", "nodal": False})
        proc, _ = dosimetry_services.procedure_save(user=dm, patient=p, lesions=lesions, data={
            "date": implant, "operator": "Dr Test", "seed_model": seed, "seeds_implanted": 10,
            "activity_per_seed_mbq": D("25.0"), "activity_calibration_date": implant,
            "prescription_gy": D("120")})
        for kind, d90 in (plans or {}).items():
            dosimetry_services.plan_save(user=dm, procedure=proc, kind=kind, source="manual",
                                         plan_data={"seed_count": int(d90 // 10), "prescription_gy": D("120")},
                                         structures=[{"role": "GTV", "name": "GTV", "volume_cm3": d90 / 20,
                                                      "d90_gy": d90, "d100_gy": d90 * 0.6, "v100_pct": 90 + d90 / 50,
                                                      "v150_pct": d90 / 2.5}])
        labels = {les.label: les for les in lesions}
        for tp, per_lesion in sizes.items():
            rows = {}
            for label, value in per_lesion.items():
                if isinstance(value, dict):
                    rows[labels[label].pk] = value
                else:
                    rows[labels[label].pk] = {"qualifier": "measured", "long_mm": D(value + 8),
                                              "short_mm": D(value), "third_mm": D(value)}
                if tp == "baseline" and baseline_enhancement and label in baseline_enhancement:
                    rows[labels[label].pk]["enhancement"] = baseline_enhancement[label]
            if lung_lesion is not None:
                rows[lung_lesion.pk] = {"non_target_status": "present"}
            services.visit_save(user=nurse, patient=p, data=services.VisitInput(
                visit={"visit_date": implant + dt.timedelta(days=OFFSETS[tp]), "timepoint": tp, "modality": "ct"},
                measurements=rows, labs=_tg((tg or {}).get(tp))))
        p.refresh_from_db()
        return p

    return make


def _course(*sa):
    return {tp: {"L1": v} for tp, v in zip(("baseline", "m2", "m6", "m12"), sa, strict=False)}


@pytest.fixture
def six(build):
    """Six patients (responses at m2 / m6 / m12 by strict RECIST):
    P1 PR PR CR · P2 SD SD SD · P3 PR PD PD · P4 PR PR – (no 12-month visit) · P5 PD PD PD · P6 (site B, two
    nodes: L1 shrinks, L2 grows; lung lesion) SD SD SD — per lesion L1 PR and L2 PD."""
    p = {}
    p[1] = build(implant=dt.date(2018, 1, 10), sizes=_course(20, 13, 12, 8), sex="F", birth_date=dt.date(1960, 5, 1),
                 tg={"baseline": 50, "m2": 10, "m6": ("<", "0.2"), "m12": ("<", "0.2")},
                 registry_enhancement=("marked",), plans={"pre": 130.0, "post": 125.0})
    p[2] = build(implant=dt.date(2018, 2, 10), sizes=_course(20, 18, 18, 17), sex="M", birth_date=dt.date(1980, 5, 1),
                 tg={"baseline": 30, "m2": 20, "m6": 15, "m12": 12}, registry_enhancement=("none",),
                 baseline_enhancement={"L1": "mild"}, plans={"pre": 128.0, "post": 110.0})
    p[3] = build(implant=dt.date(2018, 3, 10), sizes=_course(20, 13, 19, 25), sex="F", histology="follicular",
                 birth_date=dt.date(1955, 5, 1), tg={"baseline": 200, "m2": 150, "m6": 300, "m12": (">", "1000")},
                 registry_enhancement=("marked",), baseline_enhancement={"L1": "none"},
                 plans={"pre": 122.0, "post": 131.0})
    p[4] = build(implant=dt.date(2018, 4, 10), sizes=_course(20, 14, 14), sex="M", birth_date=dt.date(1962, 5, 1),
                 tg={"baseline": 80, "m2": 40, "m6": 20}, plans={"pre": 126.0, "post": 121.0})
    p[5] = build(implant=dt.date(2018, 5, 10), sizes=_course(20, 25, 27, 30), sex="F", m_category="M1",
                 birth_date=dt.date(1958, 5, 1), tg={"baseline": 100, "m2": 120, "m6": (">", "1000"), "m12": 900})
    p[6] = build(implant=dt.date(2018, 6, 10), site="B", nodes=(("III", 20), ("IV", 16)), lung=True, sex="M",
                 birth_date=dt.date(1950, 5, 1), tg={"baseline": 60, "m2": ("<", "0.2"), "m6": 5, "m12": 4},
                 sizes={"baseline": {"L1": 20, "L2": 16}, "m2": {"L1": 13, "L2": 22}, "m6": {"L1": 12, "L2": 22},
                        "m12": {"L1": 12, "L2": 22}})
    return p


def _by_id(c):
    return {r.study_id: r for r in c.patients}


def _row(t, tp):
    return next(r for r in t.rows if r.timepoint == tp)


def test_records_carry_the_stored_results(six):
    c = load_cohort(None, CohortFilter())
    recs = _by_id(c)
    assert len(c.patients) == 6 and c.mode == "strict" and c.rule_set == "RECIST1.1"
    r1 = recs[six[1].study_id]
    assert [v.overall for v in r1.visits] == ["", "PR", "PR", "CR"]
    assert r1.visits[0].is_baseline and r1.visits[1].day == 60 and r1.implant_date == dt.date(2018, 1, 10)
    assert r1.age_at_implant == 57 and r1.post_d90_gy == 125.0 and r1.prescription_gy == 120.0
    assert (r1.bor_unconfirmed, r1.bor_confirmed) == ("CR", "PR")
    assert r1.tg[2].qualifier == "<" and r1.tg[2].value_ng_ml == 0.2 and r1.tg[2].timepoint == "m6"
    # π/6·28·20·20 mm³ = 5.864 cm³
    assert r1.visits[0].volume_cm3 == pytest.approx(5.864, abs=1e-3)
    assert recs[six[3].study_id].first_pd_day == 182 and recs[six[1].study_id].first_pd_day is None
    assert recs[six[4].study_id].last_follow_up_day == 182
    # enhancement: registry 'marked' → yes; baseline measurement 'mild' beats registry 'none'; 'none' beats 'marked'
    assert [recs[six[k].study_id].enhancement_at_baseline for k in (1, 2, 3, 4)] == [True, True, False, False]
    # distant metastasis: M1, or a lung / bone lesion
    assert [recs[six[k].study_id].distant_metastasis for k in (1, 5, 6)] == [False, True, True]
    r6 = recs[six[6].study_id]
    assert {(lr.lesion_label, lr.response) for lr in r6.lesion_responses if lr.timepoint == "m2"} == {
        ("L1", "PR"), ("L2", "PD"), ("L3", "")}  # the lung lesion has no size: no per-lesion response


def test_table1_counts_rates_and_not_assessed(six):
    t = cohort_tables.table1(load_cohort(None, CohortFilter()))
    assert (t.unit, t.rule_set, t.remission_definition) == ("patient", "RECIST1.1", "dcr")
    m2, m6, m12 = (_row(t, tp) for tp in ("m2", "m6", "m12"))
    assert (m2.counts.cr, m2.counts.pr, m2.counts.sd, m2.counts.pd, m2.counts.ne, m2.n) == (0, 3, 2, 1, 0, 6)
    assert (m6.counts.pr, m6.counts.sd, m6.counts.pd, m6.n) == (2, 2, 2, 6)
    assert (m12.counts.cr, m12.counts.sd, m12.counts.pd, m12.n) == (1, 2, 2, 5)
    assert m12.not_assessed == (six[4].study_id,) and m2.not_assessed == ()
    # the PD patient is not in remission: 5/6 at 2 months; ORR 3/6
    assert m2.remission.proportion == st.proportion_ci(5, 6)
    assert m2.remission.text == st.proportion_ci(5, 6).format()
    assert m2.orr.proportion == st.proportion_ci(3, 6)
    assert m12.remission.text.startswith("3/5 (60.00%, 95% CI ")
    unconfirmed, confirmed = t.bor
    assert (unconfirmed.counts.cr, unconfirmed.counts.pr, unconfirmed.counts.sd, unconfirmed.counts.pd) == (1, 2, 2, 1)
    assert any("Non-CR/Non-PD" in n and "SD" in n for n in t.notes)
    assert confirmed.kind == "confirmed" and confirmed.n == 6


def test_orr_definition_from_protocol(six, settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "followup": {**settings.SEEDTRACK_PROTOCOL["followup"],
                                                "remission_definition": "orr"}}
    t = cohort_tables.table1(load_cohort(None, CohortFilter()))
    m2 = _row(t, "m2")
    assert t.remission_label == "Remission (CR+PR)"
    assert m2.remission.proportion == st.proportion_ci(3, 6) == m2.orr.proportion


def test_per_lesion_mode_counts_lesions(six):
    c = load_cohort(None, CohortFilter(mode="per_lesion"))
    t = cohort_tables.table1(c)
    assert (t.unit, t.rule_set, t.mode_label) == ("lesion", "RECIST1.1-MODIFIED-PER-LESION",
                                                  "modified RECIST (per lesion)")
    m2 = _row(t, "m2")
    # P1 PR, P2 SD, P3 PR, P4 PR, P5 PD, P6 L1 PR + L2 PD (patient-level P6 is SD)
    assert (m2.n, m2.counts.pr, m2.counts.sd, m2.counts.pd) == (7, 4, 1, 2)
    assert m2.remission.proportion == st.proportion_ci(5, 7)
    m12 = _row(t, "m12")
    assert m12.not_assessed == (f"{six[4].study_id} L1",)
    assert m12.n == 6 and m12.counts.cr == 1


def test_per_lesion_mode_every_table_counts_lesions_and_says_so(six):
    """Property over Tables 1–3 and the text/CSV/JSON reports: in per-lesion mode every table's unit is the
    lesion, every table carries "modified RECIST (per lesion)" and every N counts lesions (7 followed lesions)."""
    label = "modified RECIST (per lesion)"
    c = load_cohort(None, CohortFilter(mode="per_lesion"))
    t1, t2, t3 = cohort_tables.table1(c), cohort_tables.table2(c), cohort_tables.table3(c)
    for t in (t1, t2, t3):
        assert t.unit == "lesion"
        assert any(label in n.lower() or label in n for n in t.notes), t.notes
    assert any("N = the lesions of those patients; lesions without the visit" in n for n in t1.notes), t1.notes
    strict = cohort_tables.table1(load_cohort(None, CohortFilter(mode="strict"))).notes
    assert any("N = those patients; patients without the visit" in n for n in strict), strict
    lesions = {f"{p.study_id} L1" for p in six.values()} | {f"{six[6].study_id} L2"}
    # Table 1: each time-point N plus the lesions not assessed / after new therapy = the 7 lesions
    for row in t1.rows:
        assert row.n + len(row.not_assessed) + len(row.after_new_therapy) == len(lesions)
    # best overall response per lesion: P6 L1 and L2 are counted apart (patient-level P6 is one SD)
    for b in t1.bor:
        assert b.n + len(b.not_computed) == len(lesions)
    unconfirmed = next(b for b in t1.bor if b.kind == "unconfirmed")
    # lesions: P1 CR, P2 SD, P3 PR, P4 PR, P5 PD, P6 L1 PR, P6 L2 PD
    assert (unconfirmed.counts.cr, unconfirmed.counts.pr, unconfirmed.counts.sd, unconfirmed.counts.pd) == (1, 3, 1, 2)
    # Table 2: lesion volumes (7 at baseline), no patient-level Tg rows
    assert _row_vol(t2, "baseline").n == 7 and t2.tg == ()
    assert any("Tg is a patient-level measure and is not summarised per lesion" in n for n in t2.notes)
    # Table 3: 6 lesions with a 12-month result (P4 has no 12-month visit), P6 L2 ineffective
    assert t3.n_included == 6 and t3.excluded_not_assessed == (f"{six[4].study_id} L1",)
    for row in t3.rows:
        assert row.n + row.n_unknown == 6
    text = cohort_formats.report_text(c)
    for title in ("Table 1.", "Table 2.", "Table 3."):
        line = next(x for x in text.splitlines() if x.startswith(title))
        assert label in line and "lesion" in line and "patient level" not in line, line
    assert "Best overall response per lesion" in text
    rep = cohort_formats.report(c)
    assert rep["mode_label"] == label
    assert [rep[k]["unit"] for k in ("table1", "table2", "table3")] == ["lesion"] * 3
    assert ["report", "", "mode_label", label] in [r.split(",", 3) for r in cohort_formats.report_csv(c).splitlines()]


def _row_vol(t2, tp):
    return next(r for r in t2.volume if r.timepoint == tp)


def test_ne_stays_in_n_and_non_cr_non_pd_counts_as_sd(build):
    ne = build(implant=dt.date(2018, 1, 10), sizes={
        "baseline": {"L1": 20}, "m2": {"L1": {"qualifier": "not_assessed"}}, "m6": {"L1": 13},
        "m12": {"L1": {"qualifier": "not_assessed"}}})
    build(implant=dt.date(2018, 2, 10), nodes=(("III", 12),), sizes=_course(12, 12, 12, 12))  # non-target only
    c = load_cohort(None, CohortFilter())
    m2 = _row(cohort_tables.table1(c), "m2")
    assert (m2.n, m2.counts.ne, m2.counts.sd, m2.counts.non_cr_non_pd) == (2, 1, 1, 1)
    assert m2.remission.proportion == st.proportion_ci(1, 2) and m2.orr.proportion == st.proportion_ci(0, 2)
    t3 = cohort_tables.table3(c)
    assert (t3.excluded_ne, t3.n_included) == ((ne.study_id,), 1)


def test_empty_cohort_still_reports(build):
    build(implant=dt.date(2018, 1, 10), sizes=_course(20, 13))
    c = load_cohort(None, CohortFilter(histology="follicular"))
    rep = cohort_formats.report(c)
    json.dumps(rep, allow_nan=False)
    assert rep["n_patients"] == 0
    assert rep["table1"]["rows"][0]["remission"] == {"name": "Remission (CR+PR+SD)", "categories": ["CR", "PR", "SD"],
                                                     "proportion": None, "text": "not computable (N = 0)"}
    assert rep["table2"]["volume"][1]["vs_baseline"] is None
    assert rep["table3"]["rows"][0]["text"] == "not computable"
    assert "Table 3. 12-month efficacy by factor" in cohort_formats.report_text(c)


def test_new_therapy_leaves_later_visits_out(six, users):
    services.therapy_save(user=users["physician"], patient=six[2], data={"kind": "ebrt",
                                                                          "start_date": dt.date(2018, 12, 1)})
    c = load_cohort(None, CohortFilter())
    m12 = _row(cohort_tables.table1(c), "m12")
    assert m12.after_new_therapy == (six[2].study_id,) and m12.n == 4
    t3 = cohort_tables.table3(c)
    assert t3.excluded_after_new_therapy == (six[2].study_id,) and t3.n_included == 4


def test_table2_volume_paired_t_matches_scipy(six):
    c = load_cohort(None, CohortFilter())
    t = cohort_tables.table2(c)
    base = {r.study_id: r.baseline.volume_cm3 for r in c.patients}
    m6 = {r.study_id: r.visit_at("m6").volume_cm3 for r in c.patients}
    ids = sorted(base)
    expected = sps.ttest_rel([m6[i] for i in ids], [base[i] for i in ids])
    row = next(r for r in t.volume if r.timepoint == "m6")
    assert row.vs_baseline.test == "paired_t" and row.vs_baseline.df == 5
    assert row.vs_baseline.statistic == pytest.approx(float(expected.statistic), rel=1e-12)
    assert row.vs_baseline.p_value == pytest.approx(float(expected.pvalue), rel=1e-12)
    mean, sd = np.mean(list(m6.values())), np.std(list(m6.values()), ddof=1)
    assert (row.mean_cm3, row.sd_cm3) == (pytest.approx(mean), pytest.approx(sd))
    assert row.text == f"{mean:.2f} ± {sd:.2f}"
    assert row.vs_baseline_auto is not None and row.vs_baseline_auto.reason
    m12 = next(r for r in t.volume if r.timepoint == "m12")
    assert (m12.n, m12.vs_baseline.n_pairs, m12.vs_baseline.n_dropped_incomplete) == (5, 5, 1)


def test_table2_tg_median_with_censored_values(six):
    t = cohort_tables.table2(load_cohort(None, CohortFilter()))
    m6 = next(r for r in t.tg if r.timepoint == "m6")
    # <0.2, 5, 15, 20, 300, >1000 (type 6): median (15+20)/2; P25 touches "<0.2" → "< 3.8"; P75 → "> 475"
    assert (m6.n, m6.n_left_censored, m6.n_right_censored) == (6, 1, 1)
    assert m6.median_ng_ml == cohort_data.Quantity("=", 17.5)
    assert m6.p25_ng_ml == cohort_data.Quantity("<", pytest.approx(3.8))
    assert m6.p75_ng_ml == cohort_data.Quantity(">", pytest.approx(475.0))
    assert m6.text == "17.50 (< 3.80, > 475.00)"
    # censored values → Wilcoxon, same Z as the core on the same pairs
    base = [50, 30, 200, 80, 100, 60]
    follow = [0.2, 15, 300, 20, 1000, 5]
    w = st.wilcoxon_signed_rank([f - b for f, b in zip(follow, base, strict=True)])
    assert m6.vs_baseline.test == "wilcoxon_signed_rank" and m6.vs_baseline.statistic_name == "Z"
    assert m6.vs_baseline.statistic == pytest.approx(w.z) and m6.vs_baseline.p_value == pytest.approx(w.p_value)
    assert m6.vs_baseline_auto.test == "wilcoxon_signed_rank"  # censored data: the core picks Wilcoxon too


def test_table3_factors_use_fisher_for_small_counts(six):
    t = cohort_tables.table3(load_cohort(None, CohortFilter()))
    # 12 months: P1 CR, P2 SD, P6 SD effective; P3, P5 PD; P4 no visit
    assert t.n_included == 5 and t.excluded_not_assessed == (six[4].study_id,) and t.excluded_ne == ()
    rows = {r.factor: r for r in t.rows}
    sex = rows["Sex"]
    assert (sex.effective_a, sex.ineffective_a, sex.effective_b, sex.ineffective_b) == (2, 0, 1, 2)
    assert sex.test == "fisher_exact" and "n = 5 < 40" in sex.reason
    assert sex.p_value == pytest.approx(sps.fisher_exact([[2, 0], [1, 2]]).pvalue)
    assert sex.text.startswith("Fisher exact P = ")
    hist = rows["Histology"]
    assert (hist.effective_a, hist.ineffective_a, hist.effective_b, hist.ineffective_b) == (3, 1, 0, 1)
    age = rows["Age at implant"]
    assert (age.level_a, age.effective_a, age.ineffective_a) == ("≤ 45 years", 1, 0)
    tg = rows["Baseline Tg"]
    # baseline Tg of the whole cohort: 30, 50, 60, 80, 100, 200 → median 70
    assert tg.cut == "cohort median baseline Tg 70.00 ng/mL (n = 6)"
    assert (tg.effective_a, tg.ineffective_a, tg.effective_b, tg.ineffective_b) == (3, 0, 0, 2)
    dist = rows["Distant metastasis"]
    assert (dist.effective_a, dist.ineffective_a, dist.effective_b, dist.ineffective_b) == (1, 1, 2, 1)
    enh = rows["Enhancement"]
    assert (enh.effective_a, enh.ineffective_a) == (2, 0)


def test_table3_yates_when_n_reaches_40():
    r = cohort_data._factor("Sex", "M", "F", [True] * 20 + [False] * 22,
                       [True] * 18 + [False] * 2 + [True] * 18 + [False] * 4)
    assert (r.test, r.n) == ("yates_chi2", 42)
    assert r.statistic == pytest.approx(0.099, abs=1e-3) and r.text == "Yates χ² = 0.099, P = 0.753"


def test_table4_wraps_the_dosimetry_comparison(six):
    t = cohort_tables.table4(load_cohort(None, CohortFilter()))
    assert (t.n_procedures, t.n_pairs, t.post_d90_below_rx) == (6, 4, 1)  # P2: post D90 110 < Rx 120
    d90 = next(r for r in t.rows if r.key == "d90_gy")
    assert d90.n == 4 and d90.pre_mean == pytest.approx(np.mean([130, 128, 122, 126]))
    assert d90.comparison is not None and d90.comparison.n_pairs == 4


def test_identical_pre_and_post_plans_do_not_break_the_cohort(build):
    for i in range(3):  # every pre/post difference is zero: no paired test is computable
        build(implant=dt.date(2018, 1, 10 + i), sizes=_course(20, 13), plans={"pre": 120.0, "post": 120.0})
    c = load_cohort(None, CohortFilter())
    t = cohort_tables.table4(c)
    assert t.n_procedures == 3 and len(c.patients) == 3
    assert all(r.comparison is None for r in t.rows) and t.notes
    json.dumps(cohort_formats.report(c), allow_nan=False)


def test_filters_site_dates_histology_and_user_scope(six, users):
    assert [r.study_id for r in load_cohort(None, CohortFilter(site="BBB")).patients] == [six[6].study_id]
    c = load_cohort(None, CohortFilter(implant_from=dt.date(2018, 2, 10), implant_to=dt.date(2018, 4, 10)))
    assert [r.study_id for r in c.patients] == [six[k].study_id for k in (2, 3, 4)]
    assert [r.study_id for r in load_cohort(None, CohortFilter(histology="follicular")).patients] == [
        six[3].study_id]
    assert len(load_cohort(users["nurse"], CohortFilter()).patients) == 5  # site A only
    assert load_cohort(users["nurse"], CohortFilter(site="BBB")).patients == ()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"implant_from": dt.date(2019, 1, 1), "implant_to": dt.date(2018, 1, 1)},
     "implant_from: got '2019-01-01'; allowed: a date on or before implant_to (2018-01-01)"),
    ({"mode": "loose"}, "mode: got 'loose'; allowed: one of strict, per_lesion"),
    ({"histology": "anaplastic"}, "histology: got 'anaplastic'; allowed: one of papillary, follicular"),
    ({"implant_from": "2018-01-01"}, "implant_from: got '2018-01-01'; allowed: a date"),
])
def test_filter_validation_messages(kwargs, fragment):
    with pytest.raises(CohortFilterError) as exc:
        CohortFilter(**kwargs)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_site_code_is_refused(sites):
    with pytest.raises(CohortFilterError, match=r"^site: got 'ZZZ'; allowed: one of AAA, BBB$"):
        load_cohort(None, CohortFilter(site="ZZZ"))


def test_strict_mode_refused_when_results_are_per_lesion(build, settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL,
                                   "recist": {**settings.SEEDTRACK_PROTOCOL["recist"], "mode": "per_lesion"}}
    build(implant=dt.date(2018, 1, 10), sizes=_course(20, 13))
    assert load_cohort(None, CohortFilter()).rule_set == "RECIST1.1-MODIFIED-PER-LESION"
    with pytest.raises(CohortFilterError, match="stored results are RECIST1.1-MODIFIED-PER-LESION"):
        load_cohort(None, CohortFilter(mode="strict"))


def _add(build, n, start):
    for i in range(n):
        build(implant=dt.date(2018, 1, 10) + dt.timedelta(days=7 * (start + i)), sizes=_course(20, 13),
              tg={"baseline": 40, "m2": 10}, plans={"pre": 125.0, "post": 120.0}, site="AB"[i % 2],
              lung=i % 3 == 0)


def test_query_count_does_not_grow_with_the_cohort(build, django_assert_max_num_queries):
    def measure(flt):
        with CaptureQueriesContext(connection) as q:
            n = cohort_formats.report(load_cohort(None, flt))["n_patients"]  # the tables themselves query nothing
        return n, len(q)

    _add(build, 3, 0)
    (n_small, q_small), (n_site_small, q_site_small) = measure(CohortFilter()), measure(CohortFilter(site="AAA"))
    _add(build, 9, 3)
    with django_assert_max_num_queries(q_small):
        n_large, q_large = measure(CohortFilter())
    n_site_large, q_site_large = measure(CohortFilter(site="AAA"))
    assert (n_small, n_large, n_site_small, n_site_large) == (3, 12, 2, 7)
    assert q_small == q_large == 13  # one per table, the registered patients (flow) with the implanted ones
    assert q_site_small == q_site_large == 14  # plus the site-code check
    cohort = load_cohort(None, CohortFilter())
    with CaptureQueriesContext(connection) as q:
        records = cohort.patients.records  # the visits' target / non-target results and the per-lesion results
    assert len(q) == 2 and len(records) == 12
    with CaptureQueriesContext(connection) as q:
        records = load_cohort(None, CohortFilter(mode="per_lesion")).patients.records  # read at load in this mode
    assert len(q) == 13 + 2 and len(records) == 12


def test_report_json_csv_text_shapes(six):
    c = load_cohort(None, CohortFilter(site="AAA", histology="papillary"))
    rep = cohort_formats.report(c)
    assert set(rep) >= {"filter", "mode", "rule_set", "n_patients", "table1", "table2", "table3", "table4",
                        "generated_at"}
    assert rep["filter"] == {"site": "AAA", "implant_from": None, "implant_to": None, "histology": "papillary",
                             "mode": None}
    text = json.dumps(rep, allow_nan=False)  # no NaN / inf anywhere
    assert json.loads(text)["table1"]["rows"][0]["remission"]["proportion"]["method"] == "wilson"
    assert rep["n_patients"] == 4 and rep["rule_set"] == "RECIST1.1"
    dt.datetime.fromisoformat(rep["generated_at"])

    lines = cohort_formats.report_csv(c).splitlines()
    assert lines[0] == "table,row,column,value"
    assert all(line.count(",") >= 3 for line in lines)
    assert "table1,m2,counts.pr,2" in lines  # P1 and P4 (P2 SD); P3 is follicular
    assert any(line.startswith("table2,volume:m6,vs_baseline.test,paired_t") for line in lines)
    assert any(line.startswith("table3,Sex,test,fisher_exact") for line in lines)
    assert "report,,rule_set,RECIST1.1" in lines

    out = cohort_formats.report_text(c)
    assert "Table 1. Response per time point — RECIST 1.1 (per patient), rule set RECIST1.1, unit: patient" in out
    assert "Remission (CR+PR+SD)" in out and "Table 4. Pre- vs post-implant dosimetry" in out
    header = next(line for line in out.splitlines() if line.startswith("Time point"))
    m2 = next(line for line in out.splitlines() if line.startswith("2 months"))
    assert m2.index("3/4") == header.index("Remission")  # aligned under its column


def test_demo_cohort_reproduces_the_study_remission_rates(demo_cohort):
    """The demo cohort (built once per session, tests/conftest.py) gives the study's remission rates."""
    t = cohort_tables.table1(load_cohort(None, CohortFilter(mode="strict")))
    assert [(r.remission.proportion.n, r.remission.proportion.N) for r in t.rows] == [(41, 42), (37, 42), (36, 42)]
    assert _row(t, "m12").remission.text == "36/42 (85.71%, 95% CI 72.16–93.28)"
    assert _row(t, "m2").remission.text == "41/42 (97.62%, 95% CI 87.68–99.58)"


def test_patient_without_follow_up_yet_is_not_counted_ne_in_the_best_response(build):
    done = build(implant=dt.date(2018, 1, 10), sizes=_course(20, 13, 12, 12))
    waiting = build(implant=dt.date(2018, 3, 10), sizes=_course(20))  # baseline only
    t1 = cohort_tables.table1(load_cohort(None, CohortFilter()))
    unconfirmed = next(b for b in t1.bor if b.kind == "unconfirmed")
    assert (unconfirmed.n, unconfirmed.counts.ne, unconfirmed.counts.pr) == (1, 0, 1)
    assert unconfirmed.not_computed == (waiting.study_id,)
    assert done.study_id not in unconfirmed.not_computed


def test_loaded_records_equal_their_constructor_built_copies(six):
    # load_cohort fills the records' __dict__ at once (cohort_data.record_maker): every field must be there, spelled
    # as declared, with the value the real constructor stores (dataclasses.replace calls it with every field).
    import dataclasses

    c = load_cohort(None, CohortFilter())
    records = [r for p in c.patients for r in (p, *p.visits, *p.lesion_responses, *p.tg)]
    assert {type(r).__name__ for r in records} == {"PatientRecord", "VisitRecord", "LesionResponse", "TgRecord"}
    for r in records:
        names = {f.name for f in dataclasses.fields(r)}
        assert set(vars(r)) - names <= {"_at", "_outside", "_measures", "_suppressed_tg", "_lab_value"}
        assert dataclasses.replace(r) == r


def _columns_as_lists(cols):
    """Every column of a CohortColumns (and of its child tables) as plain lists, for comparing two of them."""
    import dataclasses

    out = {}
    for f in dataclasses.fields(cols):
        value = getattr(cols, f.name)
        if dataclasses.is_dataclass(value):
            out.update({f"{f.name}.{k}": v for k, v in _columns_as_lists(value).items()})
        else:
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else list(value)
    return out


def test_loaded_columns_equal_the_columns_of_the_loaded_records(six, build, users):
    # The loader fills the columns straight from its rows; the records (built lazily) must say the same thing, so
    # the tables computed on the columns are the tables of the records. P7: a visit outside its window, a new
    # therapy, a stimulated Tg and a follow-up status exercise the columns the six do not.
    p7 = build(implant=dt.date(2018, 7, 10), sizes=_course(20, 15, 14), tg={"baseline": 40, "m2": 30})
    from assessment.schedule import visit_window_warnings
    from registry.overrides import Override

    early = dt.date(2018, 7, 10) + dt.timedelta(days=300)
    services.visit_save(user=users["physician"], patient=p7, data=services.VisitInput(
        visit={"visit_date": early, "timepoint": "m12", "modality": "ct"},
        measurements={}, labs=[{"analyte": "tg", "qualifier": "=", "value": D("7"), "unit": "ng/mL",
                                "tsh_state": "stimulated"}]), override=Override(
        "scan brought forward", (visit_window_warnings(dt.date(2018, 7, 10), early, "m12")[0]["message"],)))
    services.therapy_save(user=users["physician"], patient=p7, data={"kind": "tki", "start_date": dt.date(2019, 1, 5)})
    c = load_cohort(None, CohortFilter())
    assert isinstance(c.patients, cohort_data.LoadedPatients)
    from assessment import dashboard

    cohort_tables.table1(c), cohort_tables.table2(c), cohort_tables.table3(c), cohort_tables.flow(c)
    board = dashboard.build(c)
    # the tables and the dashboard's page-time passes (strict mode) compute on the columns: no record built
    assert c.patients._records is None and board.n_patients == 7
    loaded = _columns_as_lists(c.columns)
    assert len(loaded["visits.patient"]) > 20 and len(loaded["tg.patient"]) > 20
    reference = _columns_as_lists(cohort_data.CohortColumns.of_records(tuple(c.patients)))
    assert loaded == reference
    assert 0 in loaded["visits.in_window"] and False in loaded["tg.suppressed"]
    assert any(d is not None for d in loaded["new_therapy_day"])

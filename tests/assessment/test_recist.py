"""Tests of the RECIST 1.1 engine (reference clinical-rules.md §1, pitfalls §10, §11)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from assessment.recist import (
    FLAG_AFTER_NEW_THERAPY,
    FLAG_BASELINE_TIMING,
    FLAG_CR_THEN_PR,
    FLAG_EQUIVOCAL_NEW_LESION,
    FLAG_NEW_LESION_AFTER_EQUIVOCAL,
    FLAG_NODE_DISAPPEARED_WITHOUT_SA,
    FLAG_OUTSIDE_STRICT_SELECTION,
    FLAG_REAPPEARANCE,
    FLAG_ULTRASOUND,
    RULE_SET,
    RULE_SET_PER_LESION,
    Assessment,
    BorPoint,
    CrThenPr,
    Lesion,
    Measurement,
    Modality,
    Mode,
    NewLesions,
    NonTargetStatus,
    RecistError,
    RecistResult,
    RecistSettings,
    Response,
    Role,
    best_overall_response,
    dcr,
    evaluate,
    orr,
    overall_response,
    validate_target_selection,
)
from assessment.recist_contract import evaluate_contract

CASES = json.loads((Path(__file__).parents[1] / "cases" / "recist.json").read_text(encoding="utf-8"))
IMPLANT = date(2017, 1, 10)
BL = date(2017, 1, 3)


def day(n: int) -> date:
    return IMPLANT + timedelta(days=n)


def node(lid: str, role: Role = Role.TARGET) -> Lesion:
    return Lesion(lid, "lymph node", True, role)


def lung(lid: str, organ: str = "lung", role: Role = Role.TARGET) -> Lesion:
    return Lesion(lid, organ, False, role)


def mm(**sizes: Any) -> dict[str, Measurement]:
    return {k: (v if isinstance(v, Measurement) else Measurement.mm(v)) for k, v in sizes.items()}


def single_node(*follow_ups: tuple[int, Any], baseline_mm: int = 20, **kw: Any) -> RecistResult:
    assessments = [Assessment(BL, mm(L1=baseline_mm))]
    assessments += [Assessment(day(d), mm(L1=v)) for d, v in follow_ups]
    return evaluate([node("L1")], assessments, IMPLANT, **kw)


# ---------------------------------------------------------------------------------- reference examples


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_worked_examples(case: dict[str, Any]) -> None:
    kind, expected = case["kind"], case["expected"]
    if kind == "timeline":
        out = evaluate_contract(case["payload"])
        assert len(out["timepoints"]) == len(expected["timepoints"])
        for k, (got, want) in enumerate(zip(out["timepoints"], expected["timepoints"], strict=True)):
            for key, value in want.items():
                assert got[key] == value, f"{case['id']} time point {k} {key}: {got[key]!r} != {value!r}"
            has_flag = any(f.startswith(FLAG_REAPPEARANCE) for f in got["flags"])
            assert has_flag == (k in expected["reappearance_flag_at"]), (
                f"{case['id']} time point {k} flags {got['flags']}"
            )
        if "bor" in expected:
            assert out["best_overall_response"] == expected["bor"]
    elif kind == "overall":
        got, reason = overall_response(**case["input"])
        assert got == Response(expected["overall"]), reason
        assert reason.startswith(expected["overall"] + ":")
    elif kind == "bor":
        implant = date.fromisoformat(case["input"]["implant_date"])
        points = [
            BorPoint(implant + timedelta(days=p["day"]), p["day"], Response(p["response"]))
            for p in case["input"]["points"]
        ]
        u = best_overall_response(points, confirmed=False)
        c = best_overall_response(points, confirmed=True)
        assert (u.response.value, c.response.value) == (expected["unconfirmed"], expected["confirmed"]), (
            u.reason,
            c.reason,
        )
        assert u.reason.startswith(expected["unconfirmed"] + ":") and c.reason.startswith(
            expected["confirmed"] + ":"
        )
    elif kind == "rates":
        bors = [r for r, n in case["input"]["bors"].items() for _ in range(n)]
        for name, fn in (("orr", orr), ("dcr", dcr)):
            rate = fn(bors)
            assert [rate.numerator, rate.denominator, rate.percent(2)] == expected[name]
    else:  # pragma: no cover - guards the data file
        raise AssertionError(f"unknown case kind {kind}")


# ------------------------------------------------------------------------------- threshold boundaries


@pytest.mark.parametrize(
    ("current", "expected"),
    [(14, Response.PR), (Fraction(141, 10), Response.SD), (Fraction(139, 10), Response.PR)],
    ids=["exactly-30pct", "29.5pct", "30.5pct"],
)
def test_pr_boundary_is_inclusive(current: Fraction, expected: Response) -> None:
    r = single_node((61, current))
    assert r.timepoints[1].target is expected


def test_pr_boundary_uses_exact_arithmetic_not_floats() -> None:
    # 23.31 / 33.3 = 0.7 exactly; in binary floats 1 - 23.31/33.3 < 0.3 and a float rule would say SD.
    assert 1 - 23.31 / 33.3 < 0.3
    lesions = [lung("L1")]
    r = evaluate(lesions, [Assessment(BL, mm(L1=33.3)), Assessment(day(61), mm(L1=23.31))], IMPLANT)
    assert r.timepoints[1].target is Response.PR
    assert r.timepoints[1].change_from_baseline_pct == -30


@pytest.mark.parametrize(
    ("baseline", "nadir", "current", "expected"),
    [
        (30, 25, 30, Response.PD),  # exactly +20 % and exactly +5 mm
        (30, 20, 24, Response.SD),  # exactly +20 % but only +4 mm
        (30, 30, 35, Response.SD),  # +5 mm but only +16.7 %
        (20, 14, 18, Response.SD),  # nadir < 25 mm: +28.6 % / +4 mm
        (20, 14, 19, Response.PD),  # nadir < 25 mm: the 5 mm rule decides
    ],
    ids=["20pct-and-5mm", "20pct-4mm", "5mm-16.7pct", "nadir14-plus4", "nadir14-plus5"],
)
def test_pd_needs_20pct_and_5mm_vs_nadir(baseline: int, nadir: int, current: int, expected: Response) -> None:
    r = single_node((61, nadir), (183, current), baseline_mm=baseline)
    tp = r.timepoints[2]
    assert tp.nadir_mm == nadir
    assert tp.target is expected
    if expected is Response.PD:
        assert tp.reason == f"PD: sum {current} mm ≥ 120% of nadir {nadir} mm and +{current - nadir} mm"


def test_pd_reason_wording_matches_contract_example() -> None:
    r = single_node((61, 30), (183, 36), baseline_mm=50)
    assert r.timepoints[2].reason == "PD: sum 36 mm ≥ 120% of nadir 30 mm and +6 mm"


def test_pr_reason_wording() -> None:
    r = single_node((61, 14), baseline_mm=22)
    assert r.timepoints[1].target_reason == "PR: sum 14 mm is −36.4% from baseline 22 mm (≤ −30%)"


def test_nadir_not_updated_by_ne_assessment() -> None:
    lesions = [lung("L1"), lung("L2")]
    assessments = [
        Assessment(BL, mm(L1=20, L2=20)),
        Assessment(day(61), mm(L1=14, L2=14)),  # 28: exactly −30 % → PR
        Assessment(day(120), mm(L1=5)),  # L2 missing: partial 5 → NE; must not become the nadir
        Assessment(day(183), mm(L1=17, L2=17)),  # 34 vs nadir 28: +21.4 %, +6 mm → PD (vs 5: would be PD too)
        Assessment(day(365), mm(L1=16, L2=16)),  # 32 vs nadir 28: +14.3 % → not PD (vs 5 it would be)
    ]
    r = evaluate(lesions, assessments, IMPLANT)
    assert [tp.target for tp in r.timepoints[1:]] == [Response.PR, Response.NE, Response.PD, Response.SD]
    assert r.timepoints[3].nadir_mm == 28 and r.timepoints[4].nadir_mm == 28
    assert r.timepoints[2].reason == "NE: L2 not assessed and the assessed lesions do not prove PD"


def test_pd_uses_nadir_while_pr_uses_baseline() -> None:
    # pitfall 1: 50 → 30 → 37: +23 % / +7 mm vs nadir is PD although −26 % vs baseline.
    r = single_node((61, 30), (183, 37), baseline_mm=50)
    assert r.timepoints[2].target is Response.PD
    assert r.timepoints[2].change_from_baseline_pct == -26


# ------------------------------------------------------------------------------ §1.11 edge cases


def test_edge_1_nodal_cr_with_non_zero_sum() -> None:
    r = evaluate(
        [node("L1"), node("L2")],
        [Assessment(BL, mm(L1=18, L2=16)), Assessment(day(61), mm(L1=8, L2=6))],
        IMPLANT,
    )
    tp = r.timepoints[1]
    assert (tp.sum_mm, tp.target, tp.overall) == (14, Response.CR, Response.CR)


def test_edge_2_node_at_8_then_11_loses_cr() -> None:
    r = single_node((61, 8), (183, 11), settings=RecistSettings(cr_then_pr=CrThenPr.CR_REAL))
    assert r.timepoints[1].sum_mm == 8 and r.timepoints[1].target is Response.CR
    # 11 mm ≥ 10 mm: no longer CR (−45 % vs baseline, computed PR); after the CR taken as real → PD
    assert r.timepoints[2].overall is Response.PD
    assert "computed PR: sum 11 mm is −45.0% from baseline 20 mm" in r.timepoints[2].reason
    assert any(f.startswith(FLAG_REAPPEARANCE) for f in r.timepoints[2].flags)


def test_edge_2_node_exactly_10_mm_is_not_normal() -> None:
    r = single_node((61, Fraction(999, 100)), (120, 10), baseline_mm=20)
    assert r.timepoints[1].overall is Response.PR  # the CR is relabelled PR (default relabel_pr)
    assert r.timepoints[1].reason.startswith("PR: CR relabelled PR — target L1 10 mm SA present again")
    assert r.timepoints[2].target is Response.PR


def test_edge_3_only_small_nodes_means_non_target_disease_only() -> None:
    lesions = [node("N1", Role.NON_TARGET), node("N2", Role.NON_TARGET)]
    r = evaluate(
        lesions,
        [
            Assessment(BL, non_target={"N1": NonTargetStatus.PRESENT, "N2": NonTargetStatus.PRESENT}),
            Assessment(day(61), non_target={"N1": NonTargetStatus.PRESENT, "N2": NonTargetStatus.ABSENT}),
        ],
        IMPLANT,
    )
    assert r.measurable_disease is False
    tp = r.timepoints[1]
    assert (tp.target, tp.non_target, tp.overall, tp.sum_mm) == (
        Response.NA,
        Response.NON_CR_NON_PD,
        Response.NON_CR_NON_PD,
        None,
    )
    assert r.bor_unconfirmed.response is Response.NON_CR_NON_PD


def test_edge_3_small_node_as_strict_target_is_rejected() -> None:
    with pytest.raises(RecistError, match=r"L1: nodal target short axis 12 mm is below 15 mm"):
        single_node((61, 8), baseline_mm=12)


def test_edge_4_strict_allows_two_nodal_targets_only() -> None:
    lesions = [node("L1"), node("L2"), node("L3")]
    baseline = Assessment(BL, mm(L1=20, L2=20, L3=20))
    errors = validate_target_selection(lesions, baseline)
    assert len(errors) == 1 and errors[0].startswith("L3: strict RECIST allows at most 2 targets per organ")
    assert "all lymph nodes count as one organ" in errors[0]
    with pytest.raises(RecistError, match=r"^L3: strict RECIST allows at most 2 targets per organ"):
        evaluate(lesions, [baseline], IMPLANT)


def test_nodes_in_different_regions_are_still_one_organ() -> None:
    lesions = [
        Lesion("L1", "neck level II", True, Role.TARGET),
        Lesion("L2", "mediastinum", True, Role.TARGET),
        Lesion("L3", "neck level IV", True, Role.TARGET),
    ]
    errors = validate_target_selection(lesions, Assessment(BL, mm(L1=20, L2=20, L3=20)))
    assert errors and errors[0].startswith("L3:")


@pytest.mark.parametrize(
    ("lesions", "sizes", "message"),
    [
        (
            [lung(f"L{i}", organ=f"organ{i}") for i in range(6)],
            {f"L{i}": 20 for i in range(6)},
            "L5: strict RECIST allows at most 5 target lesions, got 6",
        ),
        ([lung("L1")], {"L1": 9}, "L1: non-nodal target longest diameter 9 mm is below 10 mm"),
        (
            [Lesion("L1", "neck", False, Role.TARGET, previously_irradiated=True)],
            {"L1": 20},
            "L1: a lesion in a previously irradiated area is not measurable unless it has progressed",
        ),
    ],
    ids=["six-targets", "non-nodal-9mm", "irradiated"],
)
def test_strict_selection_rules(lesions: list[Lesion], sizes: dict[str, int], message: str) -> None:
    errors = validate_target_selection(lesions, Assessment(BL, mm(**sizes)))
    assert any(e.startswith(message) for e in errors), errors


def test_irradiated_lesion_that_progressed_may_be_target() -> None:
    lesion = Lesion(
        "L1", "neck", False, Role.TARGET, previously_irradiated=True, progressed_after_irradiation=True
    )
    assert validate_target_selection([lesion], Assessment(BL, mm(L1=20))) == ()


def test_edge_5_small_sums() -> None:
    r = single_node((61, 14), (120, 18), (183, 19))
    assert [tp.target for tp in r.timepoints[1:]] == [Response.PR, Response.SD, Response.PD]


def test_edge_6_seed_artefact_is_ne_never_zero() -> None:
    r = single_node((61, Measurement.artefact()))
    tp = r.timepoints[1]
    assert tp.target is Response.NE and tp.sum_mm is None and tp.assessed_sum_mm == 0
    assert tp.reason == "NE: L1 not evaluable (seed artefact)"


def test_edge_6_too_small_counts_5_mm_but_a_measured_3_mm_stays_3() -> None:
    lesions = [lung("L1"), node("L2")]
    r = evaluate(
        lesions,
        [
            Assessment(BL, mm(L1=12, L2=20)),
            Assessment(day(61), mm(L1=Measurement.too_small(), L2=8)),
            Assessment(day(120), mm(L1=3, L2=8)),
            Assessment(day(183), mm(L1=Measurement.too_small(2), L2=8)),
        ],
        IMPLANT,
    )
    assert [tp.sum_mm for tp in r.timepoints[1:]] == [13, 11, 10]
    assert all(
        tp.target is Response.PR for tp in r.timepoints[1:]
    )  # non-nodal lesion still present → never CR


def test_edge_8_ultrasound_never_drives_recist() -> None:
    r = single_node((61, Measurement.mm(5, Modality.ULTRASOUND)))
    tp = r.timepoints[1]
    assert tp.target is Response.NE
    assert any(f.startswith(FLAG_ULTRASOUND) for f in tp.flags)
    with pytest.raises(RecistError, match="ultrasound"):
        evaluate([node("L1")], [Assessment(BL, {"L1": Measurement.mm(20, Modality.ULTRASOUND)})], IMPLANT)


def test_partial_data_proving_pd_by_non_target_or_new_lesion() -> None:
    lesions = [lung("L1"), lung("L2"), lung("N1", role=Role.NON_TARGET)]
    base = Assessment(BL, mm(L1=20, L2=20), {"N1": NonTargetStatus.PRESENT})
    prog = Assessment(day(61), mm(L1=20), {"N1": NonTargetStatus.PROGRESSION})
    new = Assessment(day(61), mm(L1=20), {"N1": NonTargetStatus.PRESENT}, NewLesions.YES)
    r1 = evaluate(lesions, [base, prog], IMPLANT)
    r2 = evaluate(lesions, [base, new], IMPLANT)
    assert (r1.timepoints[1].target, r1.timepoints[1].overall) == (Response.NE, Response.PD)
    assert r1.timepoints[1].reason == "PD: unequivocal progression of non-target N1"
    assert (r2.timepoints[1].overall, r2.timepoints[1].reason) == (Response.PD, "PD: unequivocal new lesion")


def test_target_cr_with_unassessed_non_target_is_pr() -> None:
    lesions = [node("L1"), lung("N1", role=Role.NON_TARGET)]
    r = evaluate(
        lesions,
        [Assessment(BL, mm(L1=20), {"N1": NonTargetStatus.PRESENT}), Assessment(day(61), mm(L1=7))],
        IMPLANT,
    )
    tp = r.timepoints[1]
    assert (tp.target, tp.non_target, tp.overall) == (Response.CR, Response.NE, Response.PR)
    assert "Table 1: CR + not evaluated → PR" in tp.reason


def test_node_disappeared_without_short_axis_is_flagged() -> None:
    r = single_node((61, Measurement.disappeared()), (120, Measurement.disappeared(7)))
    assert r.timepoints[1].sum_mm == 0 and r.timepoints[1].target is Response.CR
    assert any(f.startswith(FLAG_NODE_DISAPPEARED_WITHOUT_SA) for f in r.timepoints[1].flags)
    # after disappearing (0 mm) a normal-size node keeps counting 0 mm: CR, not PD by +7 mm over a 0 nadir
    assert r.timepoints[2].sum_mm == 0 and r.timepoints[2].overall is Response.CR and not r.timepoints[2].flags
    with pytest.raises(RecistError, match=r"a disappeared node must have SA < 10 mm, got 12 mm"):
        single_node((61, Measurement.disappeared(12)))


def test_equivocal_new_lesion_is_not_pd_but_flagged_and_later_confirmation_points_back() -> None:
    lesions = [node("L1")]
    r = evaluate(
        lesions,
        [
            Assessment(BL, mm(L1=20)),
            Assessment(day(61), mm(L1=14), new_lesions=NewLesions.EQUIVOCAL),
            Assessment(day(183), mm(L1=14), new_lesions=NewLesions.YES),
        ],
        IMPLANT,
    )
    assert r.timepoints[1].overall is Response.PR
    assert any(f.startswith(FLAG_EQUIVOCAL_NEW_LESION) for f in r.timepoints[1].flags)
    assert r.timepoints[2].overall is Response.PD
    assert any(
        f.startswith(FLAG_NEW_LESION_AFTER_EQUIVOCAL) and "2017-03-12" in f for f in r.timepoints[2].flags
    )


# ---------------------------------------------------------------- reappearance after CR (§1.7, §1.9, §11.13)

BOTH = pytest.mark.parametrize("mode", [CrThenPr.RELABEL_PR, CrThenPr.CR_REAL], ids=["relabel_pr", "cr_real"])


def test_default_cr_then_pr_is_relabel_pr() -> None:
    assert RecistSettings().cr_then_pr is CrThenPr.RELABEL_PR


@BOTH
def test_node_back_to_10_mm_after_confirmed_cr_is_pd_whatever_the_setting(mode: CrThenPr) -> None:
    r = single_node((61, 8), (183, 8), (365, 11), settings=RecistSettings(cr_then_pr=mode))
    assert [tp.overall for tp in r.timepoints[1:]] == [Response.CR, Response.CR, Response.PD]
    tp = r.timepoints[3]
    assert tp.target is Response.PD
    assert tp.reason == (
        "PD: target L1 11 mm SA present again after the CR of 2017-03-12 confirmed on 2017-07-12 "
        "(RECIST 1.1: any reappearance after a confirmed CR is PD); "
        "computed PR: sum 11 mm is −45.0% from baseline 20 mm (≤ −30%)"
    )
    assert not any(f.startswith(FLAG_REAPPEARANCE) for f in tp.flags)  # no reviewer decision needed
    assert (r.bor_unconfirmed.response, r.bor_confirmed.response) == (Response.CR, Response.CR)


@BOTH
@pytest.mark.parametrize(
    "again", [Measurement.mm(3), Measurement.too_small(3)], ids=["measured-3mm", "too-small-3mm"]
)
def test_non_nodal_target_visible_again_after_confirmed_cr_is_pd(mode: CrThenPr, again: Measurement) -> None:
    # R6 with a confirmed CR: 12 mm lung target gone at 2 and 6 months, visible again at 12 months (< +5 mm)
    assessments = [Assessment(BL, mm(L1=12))] + [
        Assessment(day(d), {"L1": m}) for d, m in ((61, Measurement.disappeared()), (183, Measurement.disappeared()), (365, again))
    ]
    r = evaluate([lung("L1")], assessments, IMPLANT, RecistSettings(cr_then_pr=mode))
    assert r.timepoints[3].overall is Response.PD
    assert r.timepoints[3].reason.startswith(
        "PD: target L1 3 mm present again after the CR of 2017-03-12 confirmed on 2017-07-12"
    )


@BOTH
def test_non_target_present_again_after_confirmed_cr_is_pd(mode: CrThenPr) -> None:
    lesions = [node("L1"), lung("N1", role=Role.NON_TARGET)]
    absent = {"N1": NonTargetStatus.ABSENT}
    r = evaluate(
        lesions,
        [
            Assessment(BL, mm(L1=20), non_target={"N1": NonTargetStatus.PRESENT}),
            Assessment(day(61), mm(L1=8), non_target=absent),
            Assessment(day(183), mm(L1=8), non_target=absent),
            Assessment(day(365), mm(L1=8), non_target={"N1": NonTargetStatus.PRESENT}),
        ],
        IMPLANT,
        RecistSettings(cr_then_pr=mode),
    )
    tp = r.timepoints[3]
    assert (tp.target, tp.non_target, tp.overall) == (Response.CR, Response.PD, Response.PD)
    assert tp.reason.startswith("PD: non-target N1 present again after the CR of 2017-03-12 confirmed on 2017-07-12")


def test_normal_size_node_after_confirmed_cr_is_not_a_reappearance() -> None:
    r = single_node((61, 8), (183, 6), (365, 9))
    assert [tp.overall for tp in r.timepoints[1:]] == [Response.CR] * 3
    assert all(not tp.flags for tp in r.timepoints[1:])


def test_disappeared_node_returning_below_10_mm_is_not_a_reappearance() -> None:
    # two nodes: L2 recorded disappeared (0 mm), then back at 7 mm SA (normal), then at 12 mm (reappeared)
    r = evaluate(
        [node("L1"), node("L2")],
        [
            Assessment(BL, mm(L1=20, L2=16)),
            Assessment(day(61), {"L1": Measurement.mm(9), "L2": Measurement.disappeared()}),
            Assessment(day(183), mm(L1=9, L2=7)),
            Assessment(day(365), mm(L1=9, L2=12)),
        ],
        IMPLANT,
    )
    m2, m6, m12 = r.timepoints[1:]
    assert (m2.sum_mm, m2.overall) == (9, Response.CR)
    assert (m6.sum_mm, m6.overall) == (9, Response.CR)  # not +7 mm over the nadir
    assert "L2 back at 7 mm SA after disappearing counts 0 mm (a normal-size node < 10 mm is not a reappearance)" in m6.reason
    assert not any(f.startswith(FLAG_REAPPEARANCE) for f in m6.flags)
    # at 12 mm SA the node counts again: +12 mm over nadir 9 → PD by the sum (after a confirmed CR anyway)
    assert (m12.sum_mm, m12.overall) == (21, Response.PD)
    assert m12.reason == "PD: sum 21 mm ≥ 120% of nadir 9 mm and +12 mm"


def test_r3_relabel_pr_relabels_the_unconfirmed_cr_visit() -> None:
    # §1.12 R3 (default relabel_pr): the 2-month "CR" becomes PR; visit categories and both BORs agree
    r = evaluate(
        [node("L1"), node("L2")],
        [
            Assessment(BL, mm(L1=18, L2=16)),
            Assessment(day(61), mm(L1=9, L2=7)),
            Assessment(day(183), mm(L1=11, L2=7)),
            Assessment(day(365), mm(L1=14, L2=9)),
        ],
        IMPLANT,
    )
    m2, m6, m12 = r.timepoints[1:]
    assert [m2.overall, m6.overall, m12.overall] == [Response.PR, Response.PR, Response.PD]
    assert m2.target is Response.PR
    assert m2.reason.startswith(
        "PR: CR relabelled PR — target L1 11 mm SA present again on 2017-07-12 shows the CR was not complete "
        "(recist.cr_then_pr = 'relabel_pr'); computed CR: every nodal target < 10 mm SA"
    )
    assert any(f.startswith(FLAG_CR_THEN_PR) for f in m2.flags)
    assert any(f.startswith(FLAG_REAPPEARANCE) and "relabelled PR" in f for f in m6.flags)
    assert (r.bor_unconfirmed.response, r.bor_confirmed.response) == (Response.PR, Response.PR)
    assert r.bor_confirmed.reason.startswith("PR: PR on 2017-03-12 (day 61) confirmed by PR on 2017-07-12")
    assert any(f.startswith(FLAG_CR_THEN_PR) for f in r.flags)


def test_r3_cr_real_makes_the_reappearance_visit_pd() -> None:
    r = evaluate(
        [node("L1"), node("L2")],
        [
            Assessment(BL, mm(L1=18, L2=16)),
            Assessment(day(61), mm(L1=9, L2=7)),
            Assessment(day(183), mm(L1=11, L2=7)),
        ],
        IMPLANT,
        RecistSettings(cr_then_pr=CrThenPr.CR_REAL),
    )
    m2, m6 = r.timepoints[1:]
    assert (m2.overall, m6.overall, m6.target) == (Response.CR, Response.PD, Response.PD)
    assert m6.reason.startswith(
        "PD: target L1 11 mm SA present again after the unconfirmed CR of 2017-03-12, taken as real "
        "(recist.cr_then_pr = 'cr_real'): reappearance after CR is PD; computed PR"
    )
    # §1.9 "CR | PR", CR real: unconfirmed BOR CR; confirmed BOR SD (day 61 meets the SD minimum)
    assert (r.bor_unconfirmed.response, r.bor_confirmed.response) == (Response.CR, Response.SD)


@pytest.mark.parametrize(
    ("mode", "categories", "reason_at", "reason"),
    [
        (CrThenPr.RELABEL_PR, [Response.PR, Response.PR, Response.PD], 1,
         "PR: CR relabelled PR — target L1 4 mm present again on 2017-07-12 shows the CR was not complete "
         "(recist.cr_then_pr = 'relabel_pr'); computed CR: L1 disappeared (0 mm); no non-target lesions; no new lesion"),
        (CrThenPr.CR_REAL, [Response.CR, Response.PD, Response.PD], 2,
         "PD: target L1 4 mm present again after the unconfirmed CR of 2017-03-12, taken as real "
         "(recist.cr_then_pr = 'cr_real'): reappearance after CR is PD; computed PR: sum 4 mm is −66.7% from "
         "baseline 12 mm (≤ −30%)"),
    ],
    ids=["relabel_pr", "cr_real"],
)
def test_r6_nadir_0_lesion_back_at_4_mm(mode: CrThenPr, categories: list[Response], reason_at: int, reason: str) -> None:
    # §1.12 R6: lung target 12 mm → disappeared (CR, unconfirmed) → 4 mm (+4 mm: not PD by the sum) → 5 mm (PD)
    r = evaluate(
        [lung("L1")],
        [Assessment(BL, mm(L1=12)), Assessment(day(61), {"L1": Measurement.disappeared()}),
         Assessment(day(183), mm(L1=4)), Assessment(day(365), mm(L1=5))],
        IMPLANT,
        RecistSettings(cr_then_pr=mode),
    )
    assert [tp.overall for tp in r.timepoints[1:]] == categories
    assert r.timepoints[reason_at].reason == reason
    assert any(f.startswith(FLAG_REAPPEARANCE) for f in r.timepoints[2].flags)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (CrThenPr.RELABEL_PR, [Response.NON_CR_NON_PD, Response.NON_CR_NON_PD]),
        (CrThenPr.CR_REAL, [Response.CR, Response.PD]),
    ],
)
def test_non_target_only_reappearance_after_unconfirmed_cr(mode: CrThenPr, expected: list[Response]) -> None:
    lesions = [lung("N1", role=Role.NON_TARGET)]
    r = evaluate(
        lesions,
        [
            Assessment(BL, non_target={"N1": NonTargetStatus.PRESENT}),
            Assessment(day(61), non_target={"N1": NonTargetStatus.ABSENT}),
            Assessment(day(183), non_target={"N1": NonTargetStatus.PRESENT}),
        ],
        IMPLANT,
        RecistSettings(cr_then_pr=mode),
    )
    assert [tp.overall for tp in r.timepoints[1:]] == expected
    assert any(f.startswith(FLAG_REAPPEARANCE) for f in r.timepoints[2].flags)
    if mode is CrThenPr.RELABEL_PR:
        assert r.timepoints[1].reason.startswith("NON_CR_NON_PD: CR relabelled NON_CR_NON_PD — non-target N1")
        assert r.bor_unconfirmed.response is Response.NON_CR_NON_PD
    else:
        assert r.bor_unconfirmed.response is Response.CR


def test_target_cr_with_non_target_not_evaluated_then_cr_is_not_a_reappearance() -> None:
    # a PR that only comes from an unassessed non-target is missing data, not disease present again
    lesions = [node("L1"), lung("N1", role=Role.NON_TARGET)]
    r = evaluate(
        lesions,
        [
            Assessment(BL, mm(L1=20), non_target={"N1": NonTargetStatus.PRESENT}),
            Assessment(day(61), mm(L1=8), non_target={"N1": NonTargetStatus.ABSENT}),
            Assessment(day(183), mm(L1=8)),
        ],
        IMPLANT,
        RecistSettings(cr_then_pr=CrThenPr.CR_REAL),
    )
    assert [tp.overall for tp in r.timepoints[1:]] == [Response.CR, Response.PR]
    assert "Table 1: CR + not evaluated → PR" in r.timepoints[2].reason


@BOTH
def test_per_lesion_mode_applies_the_same_rules(mode: CrThenPr) -> None:
    s = RecistSettings(mode=Mode.PER_LESION, cr_then_pr=mode)
    r = evaluate(
        [node("L1"), node("L2"), node("L3")],
        [
            Assessment(BL, mm(L1=20, L2=20, L3=20)),
            Assessment(day(61), mm(L1=8, L2=8, L3=14)),
            Assessment(day(183), mm(L1=8, L2=11, L3=14)),
            Assessment(day(365), mm(L1=11, L2=11, L3=14)),
        ],
        IMPLANT,
        s,
    )
    l1, l2, _ = r.per_lesion
    # L1: CR confirmed at 6 m, back to 11 mm at 12 m → PD whatever the setting
    assert [t.response for t in l1.timepoints[1:]] == [Response.CR, Response.CR, Response.PD]
    assert "after the CR of 2017-03-12 confirmed on 2017-07-12" in l1.timepoints[3].reason
    # L2: unconfirmed CR then 11 mm → setting
    if mode is CrThenPr.RELABEL_PR:
        assert [t.response for t in l2.timepoints[1:]] == [Response.PR, Response.PR, Response.PR]
        assert l2.timepoints[1].reason.startswith("PR: CR relabelled PR — L2 11 mm present again on 2017-07-12")
        assert l2.bor_confirmed.response is Response.PR
    else:
        assert [t.response for t in l2.timepoints[1:3]] == [Response.CR, Response.PD]
        assert l2.bor_confirmed.response is Response.SD


@BOTH
def test_bor_from_categories_after_confirmed_cr_counts_pr_as_pd(mode: CrThenPr) -> None:
    s = RecistSettings(cr_then_pr=mode)
    bor = best_overall_response(points((61, "CR"), (183, "CR"), (365, "PR")), s, confirmed=True)
    assert bor.response is Response.CR
    assert any("confirmed on 2017-07-12 counted as PD (reappearance after a confirmed CR)" in f for f in bor.flags)


SIZES = (Measurement.disappeared(), Measurement.mm(6), Measurement.mm(9), Measurement.mm(11), Measurement.mm(14))
SEQUENCES = [(a, b, c) for a in SIZES for b in SIZES for c in SIZES]


@BOTH
def test_property_visit_categories_and_bor_agree_after_cr(mode: CrThenPr) -> None:
    """Over every 3-visit course of one 20 mm node: no PR/SD visit with the node back ≥ 10 mm follows a
    visit still labelled CR, and the unconfirmed BOR is the best stored visit category in its window."""
    rank = {Response.CR: 0, Response.PR: 1, Response.SD: 2, Response.PD: 3, Response.NE: 4}
    for seq in SEQUENCES:
        r = single_node(*zip((61, 183, 365), seq, strict=True), settings=RecistSettings(cr_then_pr=mode))
        tps = r.timepoints[1:]
        for k, tp in enumerate(tps):
            back = tp.sum_mm is not None and tp.sum_mm >= 10
            if back and any(p.overall is Response.CR for p in tps[:k]):
                assert tp.overall is Response.PD, (seq, [p.reason for p in tps])
        window = []
        for tp in tps:
            window.append(tp.overall)
            if tp.overall is Response.PD:
                break
        best = min(window, key=rank.__getitem__)
        assert r.bor_unconfirmed.response is best, (seq, [p.overall for p in tps], r.bor_unconfirmed.reason)


def test_tg_normalisation_switch() -> None:
    lesions = [node("L1")]
    assessments = [
        Assessment(BL, mm(L1=20), tg_normal=False),
        Assessment(day(61), mm(L1=8), tg_normal=False),
        Assessment(day(183), mm(L1=8), tg_normal=None),
        Assessment(day(365), mm(L1=8), tg_normal=True),
    ]
    off = evaluate(lesions, assessments, IMPLANT)
    on = evaluate(lesions, assessments, IMPLANT, RecistSettings(require_tg_normalisation=True))
    assert [tp.overall for tp in off.timepoints[1:]] == [Response.CR] * 3
    assert [tp.non_target for tp in on.timepoints[1:]] == [Response.NON_CR_NON_PD, Response.NE, Response.NA]
    assert [tp.overall for tp in on.timepoints[1:]] == [Response.PR, Response.PR, Response.CR]


def test_baseline_older_than_28_days_is_flagged() -> None:
    r = evaluate([node("L1")], [Assessment(IMPLANT - timedelta(days=29), mm(L1=20))], IMPLANT)
    assert any(f.startswith(FLAG_BASELINE_TIMING) for f in r.timepoints[0].flags)
    r = evaluate([node("L1")], [Assessment(IMPLANT - timedelta(days=28), mm(L1=20))], IMPLANT)
    assert r.timepoints[0].flags == ()


# ------------------------------------------------------------------------------------------ BOR


def points(*seq: tuple[int, str]) -> list[BorPoint]:
    return [BorPoint(day(d), d, Response(r)) for d, r in seq]


@pytest.mark.parametrize(("sd_day", "expected"), [(41, Response.NE), (42, Response.SD)])
def test_sd_minimum_interval_is_inclusive(sd_day: int, expected: Response) -> None:
    bor = best_overall_response(points((sd_day, "SD")), confirmed=True)
    assert bor.response is expected
    if expected is Response.NE:
        assert "before the 42-day SD minimum" in bor.reason


@pytest.mark.parametrize(("gap", "expected"), [(27, Response.SD), (28, Response.PR)])
def test_confirmation_needs_28_days(gap: int, expected: Response) -> None:
    bor = best_overall_response(points((61, "PR"), (61 + gap, "PR")), confirmed=True)
    assert bor.response is expected
    if expected is Response.PR:
        assert (
            bor.reason == "PR: PR on 2017-03-12 (day 61) confirmed by PR on 2017-04-09 (28 days later, ≥ 28)"
        )


def test_confirmation_tolerates_one_ne_in_between_but_not_two() -> None:
    one = best_overall_response(points((61, "CR"), (90, "NE"), (183, "CR")), confirmed=True)
    two = best_overall_response(points((61, "CR"), (90, "NE"), (120, "NE"), (183, "CR")), confirmed=True)
    assert (one.response, two.response) == (Response.CR, Response.SD)


def test_pr_then_cr_confirms_pr() -> None:
    bor = best_overall_response(points((61, "PR"), (183, "CR")), confirmed=True)
    assert bor.response is Response.PR


def test_new_therapy_ends_the_bor_window() -> None:
    seq = points((61, "SD"), (183, "PR"), (365, "PR"))
    assert best_overall_response(seq, confirmed=True).response is Response.PR
    cut = best_overall_response(seq, confirmed=True, new_therapy_date=day(200))
    assert cut.response is Response.SD
    assert "1 assessment(s) after new anticancer therapy on 2017-07-29 excluded" in cut.reason
    same_day = best_overall_response(seq, confirmed=False, new_therapy_date=day(183))
    assert same_day.response is Response.PR  # a scan on the therapy start day is still counted
    none_left = best_overall_response(seq, confirmed=False, new_therapy_date=day(10))
    assert (
        none_left.response is Response.NE
        and "no assessment before new anticancer therapy" in none_left.reason
    )


def test_assessments_after_first_pd_are_ignored() -> None:
    bor = best_overall_response(points((30, "SD"), (90, "PD"), (183, "PR"), (365, "PR")), confirmed=False)
    assert bor.response is Response.PD


@pytest.mark.parametrize(
    ("mode", "unconfirmed", "confirmed"),
    [(CrThenPr.CR_REAL, Response.CR, Response.SD), (CrThenPr.RELABEL_PR, Response.PR, Response.PR)],
)
def test_cr_followed_by_pr_reviewer_options(
    mode: CrThenPr, unconfirmed: Response, confirmed: Response
) -> None:
    # R3 sequence: CR at 2 m, computed PR at 6 m, PD at 12 m (§1.9 row "CR | PR").
    s = RecistSettings(cr_then_pr=mode)
    seq = points((61, "CR"), (183, "PR"), (365, "PD"))
    u = best_overall_response(seq, s, confirmed=False)
    c = best_overall_response(seq, s, confirmed=True)
    assert (u.response, c.response) == (unconfirmed, confirmed)
    assert any(f.startswith(FLAG_CR_THEN_PR) for f in c.flags)


@pytest.mark.parametrize(
    ("mode", "expected"), [(CrThenPr.CR_REAL, Response.PD), (CrThenPr.RELABEL_PR, Response.PR)]
)
def test_cr_then_pr_before_sd_window(mode: CrThenPr, expected: Response) -> None:
    # cr_real: CR (day 30, before the SD minimum) then PD → PD; relabel_pr: PR day 30 confirmed by PR day 90.
    s = RecistSettings(cr_then_pr=mode)
    bor = best_overall_response(points((30, "CR"), (90, "PR")), s, confirmed=True)
    assert bor.response is expected


@pytest.mark.parametrize(
    ("second", "expected"),
    [("SD", Response.SD), ("PD", Response.SD), ("NE", Response.SD)],
)
def test_cr_then_non_cr_with_sd_window_met(second: str, expected: Response) -> None:
    assert best_overall_response(points((61, "CR"), (183, second)), confirmed=True).response is expected


def test_bor_after_evaluate_respects_new_therapy_and_flags_time_points() -> None:
    r = single_node((61, 14), (183, 14), (365, 25), new_therapy_date=day(200))
    assert r.bor_confirmed.response is Response.PR
    assert r.timepoints[3].overall is Response.PD and not r.timepoints[3].counts_for_bor
    assert any(f.startswith(FLAG_AFTER_NEW_THERAPY) for f in r.timepoints[3].flags)


def test_bor_rejects_unsorted_points() -> None:
    with pytest.raises(RecistError, match=r"points\[1\].assessment_date"):
        best_overall_response(points((90, "PR"), (61, "PR")), confirmed=False)


# ------------------------------------------------------------------------------------------ rates


def test_rates_denominators() -> None:
    bors = ["CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE"]
    assert (orr(bors).numerator, orr(bors).denominator) == (2, 6)
    assert (orr(bors, exclude_ne=True).numerator, orr(bors, exclude_ne=True).denominator) == (2, 5)
    assert dcr(bors).numerator == 4
    assert dcr(bors, include_non_cr_non_pd=False).numerator == 3
    assert orr([]).proportion is None and orr([]).percent() is None
    with pytest.raises(RecistError, match=r"bors\[0\]: 'NA' is not a BOR"):
        orr(["NA"])


# ------------------------------------------------------------------------------------ per-lesion


def test_per_lesion_mode_assesses_each_node_and_has_no_target_limits() -> None:
    lesions = [node("L1"), node("L2"), node("L3")]
    assessments = [
        Assessment(BL, mm(L1=20, L2=20, L3=12)),
        Assessment(day(61), mm(L1=8, L2=14, L3=12)),
        Assessment(day(183), mm(L1=8, L2=20, L3=12)),
    ]
    with pytest.raises(RecistError):
        evaluate(lesions, assessments, IMPLANT)
    r = evaluate(lesions, assessments, IMPLANT, RecistSettings(mode=Mode.PER_LESION))
    assert r.rule_set == RULE_SET_PER_LESION
    by_id = {lr.lesion_id: lr for lr in r.per_lesion}
    assert [tp.response for tp in by_id["L1"].timepoints[1:]] == [Response.CR, Response.CR]
    assert [tp.response for tp in by_id["L2"].timepoints[1:]] == [
        Response.PR,
        Response.PD,
    ]  # 14 → 20: +43 %, +6 mm
    assert [tp.response for tp in by_id["L3"].timepoints[1:]] == [Response.SD, Response.SD]
    assert by_id["L1"].bor_confirmed.response is Response.CR
    assert by_id["L2"].bor_confirmed.response is Response.SD
    assert any(f.startswith(FLAG_OUTSIDE_STRICT_SELECTION) and "L3" in f for f in r.timepoints[0].flags)
    # patient level: 40+12 → 34 (−34.6 % PR) → 40 (+17.6 % vs 34: SD)
    assert [tp.target for tp in r.timepoints[1:]] == [Response.PR, Response.SD]


def test_strict_result_is_stamped() -> None:
    assert single_node((61, 14)).rule_set == RULE_SET


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pd_pct": -1}, "settings.pd_pct: -1 is negative"),
        ({"pr_pct": 100}, "settings.pr_pct: 100 is not allowed"),
        ({"sd_min_days": 4.5}, "settings.sd_min_days: 4.5 is not allowed"),
        ({"mode": "loose"}, "settings.mode: 'loose' is not allowed (allowed: 'strict', 'per_lesion')"),
        ({"pd_abs_mm": float("nan")}, "settings.pd_abs_mm: nan is not finite"),
    ],
)
def test_settings_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RecistError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RecistSettings(**kwargs)


def test_settings_accept_exact_values() -> None:
    s = RecistSettings(pd_pct=Fraction(25), pd_abs_mm=5.0)
    assert s.pd_abs_mm == Fraction(5) and isinstance(s.pd_abs_mm, Fraction)


def test_measurement_validation() -> None:
    with pytest.raises(RecistError, match="measurement.value_mm: -1 is negative"):
        Measurement.mm(-1)
    with pytest.raises(RecistError, match="not a number"):
        Measurement.mm(True)
    with pytest.raises(RecistError, match="a disappeared non-nodal lesion is 0 mm, got 3 mm"):
        evaluate(
            [lung("L1")],
            [Assessment(BL, mm(L1=20)), Assessment(day(61), {"L1": Measurement.disappeared(3)})],
            IMPLANT,
        )


@pytest.mark.parametrize(
    ("assessments", "message"),
    [
        (
            [Assessment(day(3), mm(L1=20))],
            r"assessments\[0\].date: baseline 2017-01-13 is after the implant date",
        ),
        (
            [Assessment(BL, mm(L1=20)), Assessment(day(0), mm(L1=20))],
            r"assessments\[1\].date: follow-up 2017-01-10 is not after",
        ),
        (
            [Assessment(BL, mm(L1=20)), Assessment(day(90), mm(L1=20)), Assessment(day(60), mm(L1=20))],
            r"assessments\[2\].date: 2017-03-11 is not after the previous assessment 2017-04-10",
        ),
        (
            [Assessment(BL, {"L1": Measurement.too_small()})],
            r"assessments\[0\].target.L1: baseline needs a measured size > 0 mm, got too_small",
        ),
        (
            [Assessment(BL, mm(L1=20)), Assessment(day(61), mm(L9=20))],
            r"assessments\[1\].target.L9: an unknown lesion id",
        ),
        ([], "assessments: empty"),
    ],
    ids=[
        "baseline-after-implant",
        "follow-up-on-implant-day",
        "out-of-order",
        "baseline-too-small",
        "unknown-id",
        "empty",
    ],
)
def test_evaluate_input_errors(assessments: list[Assessment], message: str) -> None:
    with pytest.raises(RecistError, match=message):
        evaluate([node("L1")], assessments, IMPLANT)


def test_duplicate_lesion_id_rejected() -> None:
    with pytest.raises(RecistError, match=r"lesions\[1\].id: duplicate lesion id 'L1'"):
        evaluate([node("L1"), lung("L1")], [Assessment(BL, mm(L1=20))], IMPLANT)

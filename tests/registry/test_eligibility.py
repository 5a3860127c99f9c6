"""Eligibility for ¹²⁵I seed implantation (clinical-rules.md §8), reference cases in tests/cases/eligibility.json.

Each case overrides fields of BASE_FACTS, a patient who meets every default criterion (implant planned
2024-03-08, labs 2024-03-01, last ¹³¹I course 2023-06-01 = 9 completed months before). A lab value given as
{"value": …, "unit": …} is converted with registry.units.convert first, as the registry models do.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.eligibility import (
    PLAUSIBLE_RANGES,
    RULE_SET,
    EligibilityFacts,
    EligibilityInputError,
    EligibilityThresholds,
    check_plausible,
    evaluate_eligibility,
    validate_kps,
)
from registry.iodine import cumulative_activity_gbq
from registry.units import convert

CASES = json.loads((Path(__file__).parents[1] / "cases" / "eligibility.json").read_text(encoding="utf-8"))

BASE_FACTS: dict[str, Any] = {
    "assessment_date": "2024-03-01",
    "reference_date": "2024-03-08",
    "labs_date": "2024-03-01",
    "wbc_e9_per_l": 5.0,
    "hemoglobin_g_per_l": 130,
    "platelets_e9_per_l": 200,
    "pta_pct": 90,
    "alt_u_per_l": 30,
    "alt_uln_u_per_l": 40,
    "ast_u_per_l": 25,
    "ast_uln_u_per_l": 40,
    "ecg": "normal",
    "kps": 90,
    "tgab_iu_per_ml": 10,
    "tgab_cutoff_iu_per_ml": 115,
    "thyroidectomy": True,
    "prior_iodine": True,
    "biopsy_proven_metastasis": True,
    "lesion_without_iodine_uptake": True,
    "rair_status": "refractory",
    "cumulative_iodine_gbq": 25.9,
    "last_iodine_date": "2023-06-01",
    "severe_cardiopulmonary_insufficiency": False,
    "severe_hepatic_insufficiency": False,
    "severe_renal_insufficiency": False,
    "severe_coagulopathy": False,
    "cachexia": False,
    "concurrent_radio_or_chemotherapy": False,
    "immunotherapy": False,
}

DATE_FIELDS = {"assessment_date", "reference_date", "labs_date", "last_iodine_date"}
ANALYTE_OF_FIELD = {
    "wbc_e9_per_l": "wbc",
    "hemoglobin_g_per_l": "hemoglobin",
    "platelets_e9_per_l": "platelets",
    "cumulative_iodine_gbq": "activity",
}


def build_facts(overrides: dict[str, Any]) -> EligibilityFacts:
    raw = {**BASE_FACTS, **overrides}
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        if name in DATE_FIELDS and value is not None:
            value = date.fromisoformat(value)
        elif isinstance(value, dict):
            value = convert(ANALYTE_OF_FIELD[name], value["value"], value["unit"])
        kwargs[name] = value
    return EligibilityFacts(**kwargs)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    thresholds = EligibilityThresholds.from_mapping(case.get("thresholds", {}))
    if "error" in expect:
        with pytest.raises(EligibilityInputError) as excinfo:
            evaluate_eligibility(build_facts(case["facts"]), thresholds)
        assert excinfo.value.field == expect["error"]["field"]
        assert str(excinfo.value) == expect["error"]["message"]
        return

    result = evaluate_eligibility(build_facts(case["facts"]), thresholds)
    assert result.status == expect["status"], [c.message for c in result.criteria if c.outcome != "pass"]
    assert result.rule_set == RULE_SET == "SEEDTRACK-ELIG-1"
    for key, (outcome, message) in expect.get("criteria", {}).items():
        criterion = result.criterion(key)
        assert (criterion.outcome, criterion.message) == (outcome, message)
    keys = {c.key for c in result.criteria}
    for key in expect.get("absent", []):
        assert key not in keys


def test_base_patient_evaluates_every_criterion_in_order() -> None:
    result = evaluate_eligibility(build_facts({}))
    assert [c.key for c in result.criteria] == [
        "thyroidectomy", "prior_iodine", "biopsy_proven_metastasis", "lesion_without_iodine_uptake", "rair_status",
        "cumulative_iodine", "last_iodine", "kps",
        "wbc", "hemoglobin", "platelets", "pta", "alt", "ast", "tgab",
        "ecg", "severe_cardiopulmonary_insufficiency", "severe_hepatic_insufficiency", "severe_renal_insufficiency",
        "severe_coagulopathy", "cachexia", "concurrent_radio_or_chemotherapy", "immunotherapy",
    ]
    kinds = {c.key: c.kind for c in result.criteria}
    assert kinds["platelets"] == kinds["tgab"] == "lab"
    assert kinds["kps"] == kinds["rair_status"] == "inclusion"
    assert kinds["ecg"] == kinds["cachexia"] == "exclusion"
    assert result.reference_date == date(2024, 3, 8)
    assert result.failed == () and result.missing == ()


def test_failed_and_missing_lists_name_the_criteria() -> None:
    result = evaluate_eligibility(build_facts({"platelets_e9_per_l": 88, "kps": None}))
    assert result.status == "not_eligible"
    assert [c.key for c in result.failed] == ["platelets"]
    assert [c.key for c in result.missing] == ["kps"]


def test_all_facts_unrecorded_is_incomplete_not_eligible() -> None:
    result = evaluate_eligibility(EligibilityFacts(assessment_date=date(2024, 3, 1)))
    assert result.status == "incomplete"
    assert all(c.outcome == "missing" for c in result.criteria)
    assert result.criterion("platelets").message == "Platelets not recorded"


def test_three_courses_of_7_4_gbq_are_exactly_22_2_and_fail_the_strict_threshold() -> None:
    # A float sum gives 22.200000000000003 and would wrongly pass "> 22.2".
    assert sum([7.4, 7.4, 7.4]) > 22.2
    total = cumulative_activity_gbq([7.4, 7.4, 7.4])
    result = evaluate_eligibility(build_facts({"cumulative_iodine_gbq": total}))
    assert result.criterion("cumulative_iodine").outcome == "fail"
    assert result.criterion("cumulative_iodine").message == "Cumulative ¹³¹I 22.2 GBq — needs > 22.2"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("platelets_e9_per_l", 10000, "Platelets 10000 ×10⁹/L is outside the plausible range 0–2000 ×10⁹/L"),
        ("platelets", 2000.5, "Platelets 2000.5 ×10⁹/L is outside the plausible range 0–2000 ×10⁹/L"),
        ("wbc", 501, "WBC 501 ×10⁹/L is outside the plausible range 0–500 ×10⁹/L"),
        ("hemoglobin", 19, "Haemoglobin 19 g/L is outside the plausible range 20–250 g/L"),
        ("pta_pct", 151, "PTA 151 % is outside the plausible range 0–150 %"),
        ("alt", -1, "ALT -1 U/L is outside the plausible range 0–10000 U/L"),
        ("ast_uln_u_per_l", 0.5, "AST ULN 0.5 U/L is outside the plausible range 1–500 U/L"),
        ("uln", 600, "ULN 600 U/L is outside the plausible range 1–500 U/L"),
        ("tgab", 100001, "TgAb 100001 IU/mL is outside the plausible range 0–100000 IU/mL"),
        ("tg", 2_000_000, "Tg 2000000 µg/L is outside the plausible range 0–1000000 µg/L"),
        ("wbc_e9_per_l", float("nan"), "WBC nan is not a finite number"),
    ],
)
def test_check_plausible_refuses_absurd_values(field: str, value: float, message: str) -> None:
    with pytest.raises(EligibilityInputError) as excinfo:
        check_plausible(field, value)
    assert str(excinfo.value) == message
    assert excinfo.value.value == value or value != value  # nan != nan


@pytest.mark.parametrize(
    ("field", "value"),
    [("platelets_e9_per_l", 0), ("platelets_e9_per_l", 2000), ("hemoglobin", 20), ("hemoglobin", 250),
     ("alt_uln_u_per_l", 1), ("tgab_cutoff_iu_per_ml", 0)],
)
def test_check_plausible_bounds_are_inclusive(field: str, value: float) -> None:
    check_plausible(field, value)


def test_check_plausible_unknown_field_names_it() -> None:
    with pytest.raises(EligibilityInputError, match="'creatinine'"):
        check_plausible("creatinine", 80)


def test_plausible_ranges_are_those_of_the_brief() -> None:
    expected = {
        "platelets_e9_per_l": (0, 2000), "wbc_e9_per_l": (0, 500), "hemoglobin_g_per_l": (20, 250),
        "pta_pct": (0, 150), "alt_u_per_l": (0, 10000), "ast_u_per_l": (0, 10000), "alt_uln_u_per_l": (1, 500),
        "ast_uln_u_per_l": (1, 500), "tgab_iu_per_ml": (0, 100000),
    }
    assert {k: PLAUSIBLE_RANGES[k] for k in expected} == expected


@pytest.mark.parametrize("kps", [0, 10, 70, 100])
def test_validate_kps_accepts_multiples_of_ten(kps: int) -> None:
    validate_kps(kps)


@pytest.mark.parametrize("kps", [75, -10, 110, 7.0, True, "70"])
def test_validate_kps_refuses_other_values(kps: object) -> None:
    with pytest.raises(EligibilityInputError) as excinfo:
        validate_kps(kps)  # type: ignore[arg-type]
    assert excinfo.value.field == "kps"


def test_thresholds_default_to_section_8_2() -> None:
    t = EligibilityThresholds()
    assert (t.wbc_min_e9_per_l, t.hemoglobin_min_g_per_l, t.platelets_min_e9_per_l, t.pta_min_pct) == (3.5, 90, 100, 40)
    assert (t.alt_max_x_uln, t.ast_max_x_uln, t.kps_min, t.labs_window_days) == (3, 3, 70, 14)
    assert (t.cumulative_iodine_min_gbq, t.months_since_last_iodine_min, t.require_tgab_negative) == (22.2, 6, True)


def test_from_mapping_overrides_only_given_keys() -> None:
    t = EligibilityThresholds.from_mapping({"platelets_min_e9_per_l": 50, "labs_window_days": 7})
    assert t.platelets_min_e9_per_l == 50 and t.labs_window_days == 7 and t.wbc_min_e9_per_l == 3.5


def test_from_mapping_unknown_key_is_named() -> None:
    with pytest.raises(EligibilityInputError) as excinfo:
        EligibilityThresholds.from_mapping({"platelet_min": 50})
    assert excinfo.value.field == "platelet_min"
    assert "Unknown eligibility setting 'platelet_min'" in str(excinfo.value)


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"kps_min": 70.5}, "kps_min"), ({"wbc_min_e9_per_l": -1}, "wbc_min_e9_per_l"),
     ({"require_tgab_negative": "yes"}, "require_tgab_negative"), ({"pta_min_pct": float("inf")}, "pta_min_pct")],
)
def test_from_mapping_invalid_value_is_named(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(EligibilityInputError) as excinfo:
        EligibilityThresholds.from_mapping(settings)
    assert excinfo.value.field == field


def test_facts_are_frozen() -> None:
    facts = build_facts({})
    with pytest.raises(FrozenInstanceError):
        facts.kps = 10  # type: ignore[misc]


def test_datetime_is_refused_as_a_date() -> None:
    from datetime import datetime

    with pytest.raises(EligibilityInputError) as excinfo:
        EligibilityFacts(assessment_date=datetime(2024, 3, 1, 10, 0))  # type: ignore[arg-type]
    assert excinfo.value.field == "assessment_date"

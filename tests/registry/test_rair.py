"""ATA 2015 RAIR-DTC classification (clinical-rules.md §2.2), reference cases in tests/cases/rair.json.

In the case file, "deciding" lists one substring per expected deciding reason (same count, same order) and "flags"
is the exact tuple of flags.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.rair import (
    RULE_SET,
    RairCriterion,
    RairCriterionFact,
    RairFacts,
    RairInputError,
    RairSettings,
    classify_rair,
)

CASES = json.loads((Path(__file__).parents[1] / "cases" / "rair.json").read_text(encoding="utf-8"))


def build_facts(case: dict[str, Any]) -> RairFacts:
    criteria = tuple(
        RairCriterionFact(criterion=RairCriterion(code), present=present) for code, present in case["criteria"].items()
    )
    return RairFacts(
        criteria=criteria,
        had_therapeutic_rai=case["had_therapeutic_rai"],
        cumulative_activity_gbq=case["cumulative_activity_gbq"],
        fdg_avid=case["fdg_avid"],
        progression_within_12_months=case.get("progression_within_12_months"),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_case(case: dict[str, Any]) -> None:
    result = classify_rair(build_facts(case), RairSettings(**case.get("settings", {})))
    expect = case["expect"]
    assert result.status == expect["status"], result.deciding
    assert len(result.deciding) == len(expect["deciding"]), result.deciding
    for reason, fragment in zip(result.deciding, expect["deciding"], strict=True):
        assert fragment in reason
    assert list(result.flags) == expect["flags"]
    assert result.rule_set == RULE_SET == "ATA2015"


def test_every_criterion_has_a_distinct_plain_words_label() -> None:
    labels = {c: c.label for c in RairCriterion}
    assert [c.value for c in RairCriterion] == ["RAIR-1", "RAIR-2", "RAIR-3", "RAIR-4"]
    assert len(set(labels.values())) == 4
    assert "never" in labels[RairCriterion.RAIR_1]
    assert "lost" in labels[RairCriterion.RAIR_2]
    assert "some lesions but not" in labels[RairCriterion.RAIR_3]
    assert "progressed despite" in labels[RairCriterion.RAIR_4]


def test_deciding_reason_carries_the_evidence() -> None:
    facts = RairFacts(
        criteria=(RairCriterionFact(RairCriterion.RAIR_3, True, date(2019, 5, 2), "left level IV node negative on Rx-WBS"),),
        had_therapeutic_rai=True, cumulative_activity_gbq=11.1, fdg_avid=None,
    )
    result = classify_rair(facts)
    assert result.deciding == (
        "RAIR-3: radioiodine taken up by some lesions but not by others "
        "(2019-05-02; left level IV node negative on Rx-WBS)",
    )
    assert result.present == (RairCriterion.RAIR_3,)
    assert result.unrecorded == (RairCriterion.RAIR_1, RairCriterion.RAIR_2, RairCriterion.RAIR_4)


def test_criterion_given_as_code_string_is_normalised() -> None:
    fact = RairCriterionFact("RAIR-2", True)  # type: ignore[arg-type]
    assert fact.criterion is RairCriterion.RAIR_2


def test_duplicate_criterion_is_refused() -> None:
    with pytest.raises(RairInputError, match="RAIR-1 is recorded more than once"):
        RairFacts(
            criteria=(RairCriterionFact(RairCriterion.RAIR_1, True), RairCriterionFact(RairCriterion.RAIR_1, False)),
            had_therapeutic_rai=True, cumulative_activity_gbq=None, fdg_avid=None,
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cumulative_activity_gbq": -1.0}, "cumulative_activity_gbq"),
        ({"cumulative_activity_gbq": float("nan")}, "cumulative_activity_gbq"),
        ({"had_therapeutic_rai": "yes"}, "had_therapeutic_rai"),
        ({"fdg_avid": 1}, "fdg_avid"),
    ],
)
def test_invalid_facts_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"criteria": (), "had_therapeutic_rai": True, "cumulative_activity_gbq": None,
                            "fdg_avid": None}
    with pytest.raises(RairInputError) as excinfo:
        RairFacts(**{**base, **kwargs})
    assert excinfo.value.field == field


def test_unknown_criterion_code_is_refused() -> None:
    with pytest.raises(RairInputError, match="RAIR-1, RAIR-2, RAIR-3, RAIR-4"):
        RairCriterionFact("RAIR-5", True)  # type: ignore[arg-type]


def test_present_must_be_bool_or_none() -> None:
    with pytest.raises(RairInputError, match="RAIR-1.present"):
        RairCriterionFact(RairCriterion.RAIR_1, "yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [0, -5, float("inf")])
def test_settings_threshold_must_be_positive_and_finite(threshold: float) -> None:
    with pytest.raises(RairInputError) as excinfo:
        RairSettings(high_cumulative_activity_gbq=threshold)
    assert excinfo.value.field == "high_cumulative_activity_gbq"


def test_settings_defaults() -> None:
    settings = RairSettings()
    assert settings.high_cumulative_activity_gbq == 22.2
    assert settings.accept_cumulative_activity_as_rair is False

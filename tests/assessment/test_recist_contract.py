"""The scripted RECIST contract (``evaluate_contract``): full expected outputs and every invalid input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from assessment.recist import RecistError
from assessment.recist_contract import ContractError, evaluate_contract

CASES = json.loads((Path(__file__).parents[1] / "cases" / "recist_contract.json").read_text(encoding="utf-8"))
VALID = [c for c in CASES if "expected" in c]
INVALID = [c for c in CASES if "error" in c]
EXAMPLE = next(c for c in CASES if c["id"] == "example")


@pytest.mark.parametrize("case", VALID, ids=[c["id"] for c in VALID])
def test_contract_output_in_full(case: dict[str, Any]) -> None:
    out = evaluate_contract(copy.deepcopy(case["payload"]))
    assert out == case["expected"]
    json.dumps(out)  # must be JSON-serialisable as is


def test_example_key_figures() -> None:
    # Written out independently of the stored output: day = date − implant; node 'too small' = 5 mm < 10 → CR.
    out = evaluate_contract(copy.deepcopy(EXAMPLE["payload"]))
    base, follow = out["timepoints"]
    assert (base["day"], base["sum_mm"], base["overall"], base["new_lesions"]) == (-7, 22, None, None)
    assert (follow["day"], follow["sum_mm"], follow["change_from_baseline_pct"]) == (61, 5, -77.3)
    assert (follow["target"], follow["non_target"], follow["overall"], follow["new_lesions"]) == (
        "CR",
        "CR",
        "CR",
        "no",
    )
    assert out["best_overall_response"] == {"unconfirmed": "CR", "confirmed": "SD"}
    assert out["rule_set"] == "RECIST1.1"
    assert set(follow) == {
        "date",
        "day",
        "sum_mm",
        "change_from_baseline_pct",
        "nadir_mm",
        "change_from_nadir_pct",
        "target",
        "non_target",
        "new_lesions",
        "overall",
        "reason",
        "flags",
    }


def test_settings_are_optional() -> None:
    payload = copy.deepcopy(EXAMPLE["payload"])
    del payload["settings"]
    assert evaluate_contract(payload)["timepoints"] == EXAMPLE["expected"]["timepoints"]


def test_settings_change_the_result() -> None:
    payload = copy.deepcopy(EXAMPLE["payload"])
    payload["settings"]["sd_min_days"] = 62  # the day-61 CR no longer meets the SD minimum
    assert evaluate_contract(payload)["best_overall_response"] == {"unconfirmed": "CR", "confirmed": "NE"}


def test_new_therapy_date_ends_the_window() -> None:
    payload = copy.deepcopy(EXAMPLE["payload"])
    payload["new_therapy_date"] = "2017-02-01"
    out = evaluate_contract(payload)
    assert out["best_overall_response"] == {"unconfirmed": "NE", "confirmed": "NE"}
    assert (
        "no assessment before new anticancer therapy on 2017-02-01"
        in out["best_overall_response_reasons"]["confirmed"]
    )


def test_unclassifiable_assessment_is_ne_not_an_exception() -> None:
    payload = copy.deepcopy(EXAMPLE["payload"])
    payload["assessments"].append({"date": "2017-07-12", "target": {"L1": None}, "new_lesions": False})
    tp = evaluate_contract(payload)["timepoints"][2]
    assert (tp["target"], tp["non_target"], tp["overall"], tp["sum_mm"]) == ("NE", "NE", "NE", None)
    assert tp["reason"] == "NE: L1 not assessed"


def test_json_floats_are_read_exactly() -> None:
    payload = copy.deepcopy(EXAMPLE["payload"])
    payload["lesions"][0]["nodal"] = False
    payload["lesions"][0]["organ"] = "lung"
    payload["assessments"][0]["target"]["L1"] = 33.3
    payload["assessments"][1]["target"]["L1"] = 23.31  # exactly −30 %: PR (floats would say SD)
    tp = evaluate_contract(payload)["timepoints"][1]
    assert (tp["target"], tp["change_from_baseline_pct"], tp["sum_mm"]) == ("PR", -30.0, 23.31)


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_input_raises_one_line_contract_error(case: dict[str, Any]) -> None:
    with pytest.raises(ContractError) as info:
        evaluate_contract(copy.deepcopy(case["payload"]))
    message = str(info.value)
    assert message == case["error"]
    assert "\n" not in message
    assert isinstance(info.value, RecistError) and isinstance(info.value, ValueError)


def test_payload_must_be_an_object() -> None:
    with pytest.raises(ContractError, match=r"^payload: expected an object, got list$"):
        evaluate_contract([])  # type: ignore[arg-type]


def test_contract_carries_the_rules_version_and_the_reappearance_rule() -> None:
    # Extension of the contract (keys added, none removed): rules_version; a confirmed CR followed by a node
    # back to 11 mm SA is PD at that visit whatever cr_then_pr says.
    payload = copy.deepcopy(EXAMPLE["payload"])
    payload["assessments"][1]["target"]["L1"] = 8
    payload["assessments"] += [
        {"date": "2017-07-12", "target": {"L1": 9}, "non_target": {"N1": "absent"}, "new_lesions": False},
        {"date": "2018-01-10", "target": {"L1": 11}, "non_target": {"N1": "absent"}, "new_lesions": False},
    ]
    for setting in ("relabel_pr", "cr_real"):
        payload["settings"]["cr_then_pr"] = setting
        out = evaluate_contract(copy.deepcopy(payload))
        assert out["rules_version"] == "2" and out["rule_set"] == "RECIST1.1"
        assert [tp["overall"] for tp in out["timepoints"][1:]] == ["CR", "CR", "PD"]
        assert out["timepoints"][3]["reason"].startswith(
            "PD: target L1 11 mm SA present again after the CR of 2017-03-12 confirmed on 2017-07-12"
        )
        assert out["best_overall_response"] == {"unconfirmed": "CR", "confirmed": "CR"}

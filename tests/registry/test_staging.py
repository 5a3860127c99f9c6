"""AJCC 8 staging of differentiated thyroid cancer (clinical-rules.md §3), cases in tests/cases/staging.json."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.staging import (
    M_CODES,
    N_CODES,
    RULE_SET,
    T_CODES,
    StagingError,
    age_in_completed_years,
    stage_dtc,
)

CASES = json.loads((Path(__file__).parents[1] / "cases" / "staging.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_case(case: dict[str, Any]) -> None:
    result = stage_dtc(case["age"], case["t"], case["n"], case["m"])
    assert result.stage == case["stage"], result.reason
    if "reason" in case:
        assert result.reason == case["reason"]
    assert result.rule_set == RULE_SET == "AJCC8"


def test_undecidable_stage_explains_why() -> None:
    result = stage_dtc(70, "TX", "N1b", "M0")
    assert result.stage is None
    assert "TX" in result.reason and "T category" in result.reason


def test_codes_are_normalised_in_the_result() -> None:
    result = stage_dtc(70, " t3B ", "nx", "M1")
    assert (result.t, result.n, result.m) == ("T3b", "NX", "M1")


def test_code_tables() -> None:
    assert T_CODES == ("TX", "T0", "T1", "T1a", "T1b", "T2", "T3", "T3a", "T3b", "T4", "T4a", "T4b")
    assert N_CODES == ("NX", "N0", "N0a", "N0b", "N1", "N1a", "N1b")
    assert M_CODES == ("M0", "M1")


def test_mx_is_refused_as_not_an_ajcc8_category() -> None:
    with pytest.raises(StagingError) as excinfo:
        stage_dtc(60, "T2", "N0", "MX")
    assert excinfo.value.field == "m"
    assert "MX is not an AJCC 8th-edition category" in str(excinfo.value)


@pytest.mark.parametrize(
    ("t", "n", "m", "field", "fragment"),
    [
        ("T5", "N0", "M0", "t", "TX, T0, T1, T1a"),
        ("T1c", "N0", "M0", "t", "T4a, T4b"),
        ("T2", "N2", "M0", "n", "NX, N0, N0a, N0b, N1, N1a, N1b"),
        ("T2", "N1c", "M0", "n", "N1b"),
        ("T2", "N0", "M2", "m", "M0, M1"),
        ("T2", "N0", "", "m", "M0, M1"),
        (None, "N0", "M0", "t", "T4b"),
    ],
)
def test_invalid_code_names_field_and_allowed_codes(t: Any, n: str, m: str, field: str, fragment: str) -> None:
    with pytest.raises(StagingError) as excinfo:
        stage_dtc(60, t, n, m)
    assert excinfo.value.field == field
    assert fragment in str(excinfo.value)
    assert str(excinfo.value).startswith(field)


@pytest.mark.parametrize("age", [-1, 121, 54.5, True, "60", None])
def test_invalid_age_is_refused(age: Any) -> None:
    with pytest.raises(StagingError) as excinfo:
        stage_dtc(age, "T2", "N0", "M0")
    assert excinfo.value.field == "age_at_diagnosis_years"


@pytest.mark.parametrize("age", [0, 120])
def test_age_limits_are_inclusive(age: int) -> None:
    assert stage_dtc(age, "T2", "N0", "M0").stage == "I"


@pytest.mark.parametrize(
    ("birth", "on", "years"),
    [
        ("1969-03-15", "2024-03-14", 54),  # day before the 55th birthday
        ("1969-03-15", "2024-03-15", 55),  # on the birthday
        ("1960-02-29", "2015-02-28", 54),  # leap-day birth, non-leap year: not yet 55 on 28 Feb
        ("1960-02-29", "2015-03-01", 55),  # … 55 on 1 March
        ("1960-02-29", "2016-02-29", 56),  # leap year: birthday exists
        ("2000-12-31", "2001-12-30", 0),
        ("2000-01-01", "2000-01-01", 0),
    ],
)
def test_age_in_completed_years(birth: str, on: str, years: int) -> None:
    assert age_in_completed_years(date.fromisoformat(birth), date.fromisoformat(on)) == years


def test_age_decides_stage_across_the_55th_birthday() -> None:
    birth = date(1969, 3, 15)
    before = stage_dtc(age_in_completed_years(birth, date(2024, 3, 14)), "T4a", "N1b", "M0")
    on_birthday = stage_dtc(age_in_completed_years(birth, date(2024, 3, 15)), "T4a", "N1b", "M0")
    assert (before.stage, on_birthday.stage) == ("I", "III")


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(StagingError, match="before the birth date 2000-01-02"):
        age_in_completed_years(date(2000, 1, 2), date(2000, 1, 1))

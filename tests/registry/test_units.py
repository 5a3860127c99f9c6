"""Lab and activity unit conversion (clinical-rules.md §6.4, §8.2)."""

from __future__ import annotations

import pytest

from registry.units import ACCEPTED_UNITS, CANONICAL_UNITS, UnitError, convert, format_number, normalise_unit


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("wbc", 3.5, "×10⁹/L", 3.5),
        ("wbc", 3.5, "x10^9/L", 3.5),
        ("wbc", 3.5, "10^9/L", 3.5),
        ("wbc", 3.5, "x10^3/uL", 3.5),
        ("wbc", 3.5, "×10³/µL", 3.5),
        ("wbc", 3.5, "10^3/uL", 3.5),
        ("wbc", 3500, "/mm3", 3.5),  # §8.2: 3500/mm³ = 3.5 ×10⁹/L
        ("wbc", 3500, "/mm³", 3.5),
        ("wbc", 3500, "cells/µL", 3.5),
        ("platelets", 100, "×10⁹/L", 100.0),
        ("platelets", 150000, "/mm3", 150.0),
        ("platelets", 101, "K/uL", 101.0),
        ("hemoglobin", 9.5, "g/dL", 95.0),  # §8.3 example
        ("hemoglobin", 9.0, "g/dL", 90.0),  # §8.2: 90 g/L = 9.0 g/dL
        ("hemoglobin", 12.3, "g/dL", 123.0),
        ("hemoglobin", 85, "g/L", 85.0),
        ("alt", 120, "U/L", 120.0),
        ("ast", 40, "IU/L", 40.0),
        ("tgab", 115, "IU/mL", 115.0),
        ("tgab", 115, "kIU/L", 115.0),
        ("tg", 15.95, "ng/mL", 15.95),  # §6.4: 1 ng/mL = 1 µg/L, no conversion
        ("tg", 15.95, "µg/L", 15.95),
        ("tg", 1595, "ng/dL", 15.95),  # ng/dL is ×0.01 (float product: 15.950000000000001)
        ("tsh", 0.05, "µIU/mL", 0.05),
        ("tsh", 0.05, "mU/L", 0.05),
        ("activity", 600, "mCi", 22.2),  # §2.2
        ("activity", 100, "mCi", 3.7),
        ("activity", 200, "mCi", 7.4),  # float product: 7.3999999999999995
        ("activity", 25.9, "MBq", 0.0259),
        ("activity", 5.55, "GBq", 5.55),
        ("pta", 40, "%", 40.0),
    ],
)
def test_convert_to_canonical_unit(analyte: str, value: float, unit: str, expected: float) -> None:
    # Exact equality on purpose: the conversion is decimal, so thresholds compare correctly afterwards.
    assert convert(analyte, value, unit) == expected


@pytest.mark.parametrize(
    "spelling",
    ["x10^9/L", "X10^9/l", "x 10^9 / L", "×10⁹/L", "*10^9/L", "10^9/l", "10⁹/L", "x10^3/μL", "x10^3/µl", "X10^3/UL"],
)
def test_unit_matching_is_tolerant(spelling: str) -> None:
    assert convert("wbc", 4.2, spelling) == 4.2


def test_micro_spellings_are_equivalent() -> None:
    assert normalise_unit("µIU/mL") == normalise_unit("μIU/mL") == normalise_unit("uiu/ml")
    assert convert("tsh", 1.2, "μIU/mL") == convert("tsh", 1.2, "uIU/mL") == 1.2


def test_unknown_unit_message_names_analyte_unit_and_allowed() -> None:
    with pytest.raises(UnitError) as excinfo:
        convert("hemoglobin", 9.5, "mg/dL")
    assert str(excinfo.value) == "Unit 'mg/dL' is not accepted for hemoglobin; use one of: g/L, g/dL"
    assert excinfo.value.analyte == "hemoglobin"
    assert excinfo.value.allowed == ("g/L", "g/dL")


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [("hemoglobin", "mmol/L"), ("tg", "pmol/L"), ("alt", "ukat/L"), ("wbc", "g/dL"), ("activity", "Ci"),
     ("platelets", "/L"), ("tgab", "U/mL")],
)
def test_refused_units(analyte: str, unit: str) -> None:
    with pytest.raises(UnitError, match=f"not accepted for {analyte}"):
        convert(analyte, 1.0, unit)


def test_unknown_analyte() -> None:
    with pytest.raises(UnitError, match="Analyte 'creatinine' is not known"):
        convert("creatinine", 80, "µmol/L")


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, "9.5", None])
def test_bad_values_are_refused(value: object) -> None:
    with pytest.raises(UnitError, match="hemoglobin value"):
        convert("hemoglobin", value, "g/dL")  # type: ignore[arg-type]


def test_tables_are_consistent() -> None:
    assert set(CANONICAL_UNITS) == set(ACCEPTED_UNITS)
    for analyte, canonical in CANONICAL_UNITS.items():
        assert ACCEPTED_UNITS[analyte][canonical] == 1.0
        factors: dict[str, float] = {}
        for spelling, factor in ACCEPTED_UNITS[analyte].items():
            key = normalise_unit(spelling)
            # Two spellings may be the same unit ("×10⁹/L", "x10^9/L"), never with different factors.
            assert factors.setdefault(key, factor) == factor, f"{analyte}: {spelling!r} collides"


@pytest.mark.parametrize(
    ("value", "text"),
    [(88.0, "88"), (88, "88"), (3.5, "3.5"), (3.50, "3.5"), (0.2, "0.2"), (22.2, "22.2"), (100000.0, "100000"),
     (0.0148, "0.0148"), (1e-7, "0.0000001"), (-0.0, "0"), (2000.5, "2000.5")],
)
def test_format_number_drops_trailing_zeros(value: float, text: str) -> None:
    assert format_number(value) == text

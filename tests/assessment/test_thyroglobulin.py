"""Tests for assessment/thyroglobulin.py: censored values, units, Tg doubling time (§6), ATA 2015 response (§2.4)."""

from __future__ import annotations

import json
import math
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from assessment.thyroglobulin import (
    ATA_RULE_SET,
    Analyte,
    AtaCategory,
    AtaSettings,
    BirComparison,
    DoublingTimeSettings,
    ImagingStatus,
    LabValue,
    MiyauchiGroup,
    Qualifier,
    TgAbReading,
    TgCombineRule,
    TgPoint,
    TgTrend,
    ThyroglobulinInputError,
    classify_response_to_therapy,
    parse_lab_value,
    tg_doubling_time,
    two_point_doubling_time_years,
)

CASES = Path(__file__).resolve().parents[1] / "cases"
DT_CASES = json.loads((CASES / "thyroglobulin.json").read_text(encoding="utf-8"))
ATA_CASES = json.loads((CASES / "ata_response.json").read_text(encoding="utf-8"))


# --- parsing and units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "qualifier", "value"),
    [
        ("<0.2", Qualifier.LT, 0.2),
        ("< 0.2", Qualifier.LT, 0.2),
        (" <0.2 ", Qualifier.LT, 0.2),
        (">1000", Qualifier.GT, 1000.0),
        ("> 1000", Qualifier.GT, 1000.0),
        ("0.35", Qualifier.EQ, 0.35),
        ("=0.35", Qualifier.EQ, 0.35),
        (".5", Qualifier.EQ, 0.5),
        (0.35, Qualifier.EQ, 0.35),
        (12, Qualifier.EQ, 12.0),
        ("0", Qualifier.EQ, 0.0),
    ],
)
def test_parse_lab_value_keeps_qualifier_and_limit(
    raw: str | float, qualifier: Qualifier, value: float
) -> None:
    v = parse_lab_value(raw)
    assert v.qualifier is qualifier
    assert v.value == pytest.approx(value, abs=0)
    assert v.unit == "ng/mL"


def test_censored_value_is_never_zero() -> None:
    v = parse_lab_value("<0.2")
    assert v.value == 0.2 and v.is_censored
    assert str(v) == "< 0.2 ng/mL"


@pytest.mark.parametrize(
    ("raw", "unit", "expected_ng_ml"),
    [
        ("5", "ng/mL", 5.0),
        ("5", "µg/L", 5.0),
        ("5", "μg/L", 5.0),  # Greek mu
        ("5", "ug/l", 5.0),
        ("500", "ng/dL", 5.0),  # ng/dL numbers are 100× larger
        ("<20", "ng/dL", 0.2),
    ],
)
def test_tg_units_convert_to_ng_ml(raw: str, unit: str, expected_ng_ml: float) -> None:
    v = parse_lab_value(raw, unit=unit)
    assert v.value == pytest.approx(expected_ng_ml, rel=1e-12)
    assert v.raw_unit == unit and v.raw == raw


def test_unknown_unit_names_unit_and_allowed_ones() -> None:
    with pytest.raises(ThyroglobulinInputError) as exc:
        parse_lab_value("5", unit="pmol/L", field_name="tg")
    msg = str(exc.value)
    assert "tg.unit" in msg and "pmol/L" in msg and "ng/mL" in msg and "ng/dL" in msg


@pytest.mark.parametrize("raw", ["abc", "<", "0,35", "-1", "≤0.2", "1e", "", "<-0.2"])
def test_unparseable_text_raises_with_field(raw: str) -> None:
    with pytest.raises(ThyroglobulinInputError, match=r"^suppressed_tg: got"):
        parse_lab_value(raw, field_name="suppressed_tg")


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), -0.1, True, None])
def test_bad_numbers_raise(raw: object) -> None:
    with pytest.raises(ThyroglobulinInputError):
        parse_lab_value(raw)  # type: ignore[arg-type]


def test_tgab_and_tsh_units() -> None:
    assert parse_lab_value("20", unit="kIU/L", analyte=Analyte.TGAB).unit == "IU/mL"
    assert parse_lab_value("0.05", unit="µIU/mL", analyte=Analyte.TSH).value == 0.05
    with pytest.raises(ThyroglobulinInputError, match="IU/mL"):
        parse_lab_value("20", unit="ng/mL", analyte=Analyte.TGAB)


def test_loq_is_converted_with_the_value() -> None:
    v = parse_lab_value("<20", unit="ng/dL", loq=20)
    assert v.loq == pytest.approx(0.2)


# --- doubling time ------------------------------------------------------------------------------------------


def _series(case: dict) -> list[TgPoint]:
    return [
        TgPoint(date.fromisoformat(d), parse_lab_value(v))
        for d, v in zip(case["dates"], case["tg"], strict=True)
    ]


@pytest.mark.parametrize("case", DT_CASES, ids=[c["id"] for c in DT_CASES])
def test_doubling_time_reference_cases(case: dict) -> None:
    settings = DoublingTimeSettings(min_points=case.get("min_points", 4))
    res = tg_doubling_time(_series(case), settings)
    exp = case["expected"]
    assert res.trend is TgTrend(exp["trend"])
    assert res.n == exp["n"]
    if "n_excluded_censored" in exp:
        assert res.n_excluded_censored == exp["n_excluded_censored"]
    if "n_right_censored" in exp:
        assert res.n_right_censored == exp["n_right_censored"]
    if "k" in exp:
        assert res.slope_per_year == pytest.approx(exp["k"], abs=exp["k_tol"])
        assert res.doubling_time_years == pytest.approx(exp["dt_years"], abs=exp["dt_years_tol"])
        assert res.doubling_rate_per_year == pytest.approx(exp["dr"], abs=exp["dr_tol"])
        assert res.r == pytest.approx(exp["r"], abs=exp["r_tol"])
        assert res.span_years == pytest.approx(366 / 365.25)
    if "dt_days" in exp:
        assert res.doubling_time_days == pytest.approx(exp["dt_days"], abs=exp["dt_days_tol"])
    if "halving_years" in exp:
        assert res.halving_time_years == pytest.approx(exp["halving_years"], abs=5e-4)
        assert res.display().startswith("negative (declining")
    if "display" in exp:
        assert res.display() == exp["display"]
    if "miyauchi" in exp:
        assert res.miyauchi_group is MiyauchiGroup(exp["miyauchi"])
    assert res.low_reliability is exp.get("low_reliability", False)
    if res.trend is TgTrend.NOT_COMPUTABLE:
        assert res.doubling_time_years is None and res.doubling_rate_per_year is None
        assert "3 detectable values < 4" in res.reason


def test_doubling_time_matches_numpy_polyfit() -> None:
    np = pytest.importorskip("numpy")
    case = DT_CASES[0]
    pts = _series(case)
    t = [(p.sample_date - pts[0].sample_date).days / 365.25 for p in pts]
    k = np.polyfit(t, [math.log(p.tg.value) for p in pts], 1)[0]
    assert tg_doubling_time(pts).slope_per_year == pytest.approx(k, rel=1e-12)


def test_zero_slope_gives_undefined_dt_and_zero_dr() -> None:
    pts = [TgPoint(date(2020, m, 1), parse_lab_value("3.0")) for m in (1, 4, 7, 10)]
    res = tg_doubling_time(pts)
    assert res.slope_per_year == 0
    assert res.doubling_time_years is None
    assert res.doubling_rate_per_year == 0
    assert res.trend is TgTrend.STABLE


def test_stable_threshold_is_a_setting() -> None:
    # series built so that DR is exactly 0.1 /yr: Tg = 2^(0.1 t) at t in years
    d0 = date(2020, 1, 1)
    days = [0, 365, 730, 1096]
    pts = [
        TgPoint(date.fromordinal(d0.toordinal() + d), parse_lab_value(2 ** (0.1 * d / 365.25))) for d in days
    ]
    res = tg_doubling_time(pts)
    assert res.doubling_rate_per_year == pytest.approx(0.1, rel=1e-9)
    # a series with DR = 0.1 /yr is "rising" just above the stable threshold and "stable" just below it
    res_lower = tg_doubling_time(pts, DoublingTimeSettings(stable_dr_per_year=0.0999))
    res_higher = tg_doubling_time(pts, DoublingTimeSettings(stable_dr_per_year=0.1001))
    assert res_lower.trend is TgTrend.RISING
    assert res_higher.trend is TgTrend.STABLE


def test_miyauchi_group_boundaries() -> None:
    def group_for(dt_years: float) -> MiyauchiGroup | None:
        k = math.log(2) / dt_years
        pts = [TgPoint(date(2020, 1, 1), parse_lab_value(1.0))]
        pts += [
            TgPoint(
                date.fromordinal(date(2020, 1, 1).toordinal() + d), parse_lab_value(math.exp(k * d / 365.25))
            )
            for d in (200, 400, 600)
        ]
        return tg_doubling_time(pts).miyauchi_group

    assert group_for(0.99) is MiyauchiGroup.LT_1_YEAR
    assert group_for(1.01) is MiyauchiGroup.FROM_1_TO_3_YEARS
    assert group_for(2.99) is MiyauchiGroup.FROM_1_TO_3_YEARS
    assert group_for(3.01) is MiyauchiGroup.GE_3_YEARS


def test_min_points_hard_minimum_is_3() -> None:
    with pytest.raises(ThyroglobulinInputError, match="min_points: got 2"):
        DoublingTimeSettings(min_points=2)


def test_mixed_assays_refused() -> None:
    pts = [
        TgPoint(date(2020, m, 1), parse_lab_value(v, assay=a))
        for m, v, a in ((1, 1, "A"), (4, 2, "A"), (7, 3, "B"), (10, 4, "B"))
    ]
    with pytest.raises(ThyroglobulinInputError, match="one assay"):
        tg_doubling_time(pts)
    assert tg_doubling_time(pts, DoublingTimeSettings(require_same_assay=False)).n == 4


def test_all_points_on_one_date_not_computable() -> None:
    pts = [TgPoint(date(2020, 1, 1), parse_lab_value(v)) for v in (1, 2, 3, 4)]
    res = tg_doubling_time(pts)
    assert res.trend is TgTrend.NOT_COMPUTABLE and "one date" in res.reason


def test_detectable_zero_refused_for_log() -> None:
    pts = [TgPoint(date(2020, m, 1), parse_lab_value(v)) for m, v in ((1, 0), (4, 1), (7, 2), (10, 3))]
    with pytest.raises(ThyroglobulinInputError, match="<LoQ"):
        tg_doubling_time(pts)


def test_unsuppressed_tsh_counted() -> None:
    pts = [
        TgPoint(date(2020, m, 1), parse_lab_value(v), tsh_miu_l=tsh)
        for m, v, tsh in ((1, 1, 0.05), (4, 2, 0.1), (7, 3, 0.09), (10, 4, 2.0))
    ]
    assert tg_doubling_time(pts).n_tsh_not_suppressed == 2  # 0.1 is not < 0.1


def test_two_point_shortcut() -> None:
    # doubles in exactly one 365.25-day year -> DT = 1 yr; 2020-01-01 + 366 days, so 366/365.25
    dt = two_point_doubling_time_years(date(2020, 1, 1), 2.0, date(2021, 1, 1), 4.0)
    assert dt == pytest.approx(366 / 365.25)
    assert two_point_doubling_time_years(date(2020, 1, 1), 4.0, date(2021, 1, 1), 2.0) < 0
    with pytest.raises(ThyroglobulinInputError, match="tg_2_ng_ml"):
        two_point_doubling_time_years(date(2020, 1, 1), 2.0, date(2021, 1, 1), 2.0)


# --- ATA response to therapy ---------------------------------------------------------------------------------


def _tgab(text: str, assay: str | None = "X") -> TgAbReading:
    return TgAbReading(parse_lab_value(text, unit="IU/mL", analyte=Analyte.TGAB), cutoff_iu_ml=4, assay=assay)


@pytest.mark.parametrize("case", ATA_CASES, ids=[c["id"] for c in ATA_CASES])
def test_ata_reference_cases(case: dict) -> None:
    settings = AtaSettings(
        bir_comparison=BirComparison(case.get("bir_comparison", ">=")),
        combine=TgCombineRule(case.get("combine", "worst_wins")),
    )
    previous = None
    if "tgab_previous" in case:
        previous = _tgab(case["tgab_previous"], assay=case.get("tgab_previous_assay", "X"))
    res = classify_response_to_therapy(
        imaging=ImagingStatus(case["imaging"]),
        suppressed_tg=[parse_lab_value(v) for v in case["supp"]],
        stimulated_tg=[parse_lab_value(v) for v in case["stim"]],
        tgab=_tgab(case["tgab"]),
        previous_tgab=previous,
        faint_bed_uptake=case.get("faint_bed_uptake", False),
        settings=settings,
    )
    assert res.category is AtaCategory(case["expected"]), res.reason
    assert res.rule_set == ATA_RULE_SET == "ATA2015"
    assert res.reason and "\n" not in res.reason


def test_ata_a3_reason_mentions_assay_limit() -> None:
    res = classify_response_to_therapy(
        imaging=ImagingStatus.NEGATIVE, suppressed_tg=parse_lab_value("<0.5"), tgab=_tgab("<4")
    )
    assert res.category is AtaCategory.INDETERMINATE
    assert "< 0.5" in res.reason and "cannot prove Excellent" in res.reason


def test_structural_needs_no_tg_or_tgab() -> None:
    res = classify_response_to_therapy(imaging=ImagingStatus.STRUCTURAL)
    assert res.category is AtaCategory.STRUCTURAL_INCOMPLETE


def test_missing_tgab_raises_naming_field() -> None:
    with pytest.raises(ThyroglobulinInputError, match=r"^tgab: got None"):
        classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=parse_lab_value("0.1"))


def test_missing_tg_with_negative_tgab_raises() -> None:
    with pytest.raises(ThyroglobulinInputError, match="suppressed_tg/stimulated_tg"):
        classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, tgab=_tgab("<4"))


def test_imaging_string_validated() -> None:
    with pytest.raises(ThyroglobulinInputError, match="imaging: got 'unclear'.*non_specific"):
        classify_response_to_therapy(imaging="unclear", tgab=_tgab("<4"))  # type: ignore[arg-type]
    res = classify_response_to_therapy(
        imaging="negative", suppressed_tg=parse_lab_value("0.1"), tgab=_tgab("<4")
    )  # type: ignore[arg-type]
    assert res.category is AtaCategory.EXCELLENT


def test_tgab_reading_positivity() -> None:
    def reading(text: str, cutoff: float) -> TgAbReading:
        return TgAbReading(parse_lab_value(text, unit="IU/mL", analyte=Analyte.TGAB), cutoff)

    assert reading("20", 115).positive is False  # §8.3 example: cut-off 115 -> negative
    assert reading("20", 4).positive is True  # cut-off 4 -> positive
    assert reading("4", 4).positive is True
    assert reading("3.9", 4).positive is False
    assert reading("<4", 4).positive is False
    # a limit above the cut-off proves neither side: indeterminate, never counted as positive (nor negative)
    assert (reading("<10", 4).positive, reading("<10", 4).negative) == (False, False)
    with pytest.raises(ThyroglobulinInputError, match="tgab.value.unit"):
        TgAbReading(parse_lab_value("20"), 4)


def test_tg_value_in_wrong_unit_refused() -> None:
    tgab_value = parse_lab_value("20", unit="IU/mL", analyte=Analyte.TGAB)
    with pytest.raises(ThyroglobulinInputError, match=r"suppressed_tg\[0\].unit"):
        classify_response_to_therapy(
            imaging=ImagingStatus.NEGATIVE, suppressed_tg=tgab_value, tgab=_tgab("<4")
        )


def test_settings_are_exact_fractions() -> None:
    s = AtaSettings(suppressed_excellent_below_ng_ml=0.2)  # type: ignore[arg-type]
    assert s.suppressed_excellent_below_ng_ml == Fraction(1, 5)
    with pytest.raises(ThyroglobulinInputError, match="stimulated_bir_ng_ml"):
        AtaSettings(stimulated_bir_ng_ml=0)  # type: ignore[arg-type]


def test_threshold_compared_exactly() -> None:
    # 0.7 + 0.2 + 0.1 == 0.9999999999999999 as a float: just below 1 (not BIR); 1.0 is BIR
    just_below = LabValue(Qualifier.EQ, 0.7 + 0.2 + 0.1)
    at_one = LabValue(Qualifier.EQ, 1.0)
    below = classify_response_to_therapy(
        imaging=ImagingStatus.NEGATIVE, suppressed_tg=just_below, tgab=_tgab("<4")
    )
    at = classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=at_one, tgab=_tgab("<4"))
    assert below.category is AtaCategory.INDETERMINATE
    assert at.category is AtaCategory.BIOCHEMICAL_INCOMPLETE


@pytest.mark.parametrize("overall, nonspecific, expected", [
    ("CR", False, "negative"), ("CR", True, "non_specific"), ("PR", False, "structural"),
    ("NON_CR_NON_PD", True, "structural"), ("NE", False, "structural"),
])
def test_imaging_status_for_ata_comes_from_the_recist_category(overall, nonspecific, expected):
    from assessment.thyroglobulin import imaging_status_from_recist

    assert imaging_status_from_recist(overall, nonspecific).value == expected

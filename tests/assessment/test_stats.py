"""Tests for assessment/stats.py against the worked numbers of clinical-rules §7 and against scipy/numpy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from assessment.stats import (
    ChiSquareRule,
    NormalityTest,
    PairedSettings,
    PairedTest,
    ProportionMethod,
    QuantileMethod,
    StatsInputError,
    Substitution,
    TableTest,
    bonferroni,
    compare_2x2,
    format_mean_sd,
    lilliefors_test,
    mcnemar,
    mean_sd,
    median_iqr,
    paired_compare,
    proportion_ci,
    quantile,
    wilcoxon_signed_rank,
    wilcoxon_z_bound,
)
from assessment.thyroglobulin import Qualifier, parse_lab_value

CASES = json.loads((Path(__file__).resolve().parents[1] / "cases" / "stats.json").read_text(encoding="utf-8"))
PAIRED = CASES["paired"]
PRE, POST = PAIRED["pre"], PAIRED["post"]


# --- descriptives --------------------------------------------------------------------------------------------


def test_mean_sd_hand_checked() -> None:
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sample SD sqrt(32/7)
    m, s = mean_sd([2, 4, 4, 4, 5, 5, 7, 9])
    assert m == 5
    assert s == pytest.approx(math.sqrt(32 / 7), rel=1e-12)
    assert s == pytest.approx(np.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1))


def test_format_mean_sd() -> None:
    assert format_mean_sd([5.2, 8.54]) == "6.87 ± 2.36"
    assert format_mean_sd([1, 2, 3, 4], decimals=1) == "2.5 ± 1.3"


def test_mean_sd_needs_two_values() -> None:
    with pytest.raises(StatsInputError, match="at least 2 values"):
        mean_sd([1.0])
    with pytest.raises(StatsInputError, match=r"values\[1\]"):
        mean_sd([1.0, float("nan")])


@pytest.mark.parametrize("which", ["pre", "post"])
@pytest.mark.parametrize("method", ["weibull", "linear"])
def test_median_iqr_reference_values(which: str, method: str) -> None:
    values = PRE if which == "pre" else POST
    med, q1, q3 = PAIRED["median_iqr"][which][method]
    res = median_iqr(values, QuantileMethod(method))
    assert res.median.value == pytest.approx(med, abs=1e-9)
    assert res.q1.value == pytest.approx(q1, abs=1e-9)
    assert res.q3.value == pytest.approx(q3, abs=1e-9)
    assert res.method is QuantileMethod(method)
    assert res.median.qualifier is Qualifier.EQ


def test_median_iqr_default_is_spss_type6() -> None:
    res = median_iqr(PRE)
    assert res.method is QuantileMethod.WEIBULL
    assert res.format(3) == "26.800 (13.500, 63.375)"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 11, 42])
@pytest.mark.parametrize("method", ["weibull", "linear"])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_quantile_matches_numpy(n: int, method: str, p: float) -> None:
    x = np.random.default_rng(n).lognormal(2, 1, size=n)
    assert quantile(x.tolist(), p, QuantileMethod(method)) == pytest.approx(
        np.quantile(x, p, method=method), rel=1e-12
    )


def test_median_in_censored_block_reported_as_below_loq() -> None:
    values = [parse_lab_value("<0.2")] * 6 + [parse_lab_value(v) for v in ("1", "2", "3")]
    res = median_iqr(values)
    assert res.median.qualifier is Qualifier.LT and res.median.value == pytest.approx(0.2)
    assert res.format() == "< 0.20 (< 0.20, 1.50)"
    assert res.n_left_censored == 6


def test_censored_values_tie_below_detected_values() -> None:
    # 2 censored + 7 detected: type 6 median = 5th value = 3rd detected -> exact, unaffected by the censoring
    values = [parse_lab_value("<0.2"), parse_lab_value("<0.2")] + [float(v) for v in (5, 1, 7, 3, 9, 4, 8)]
    res = median_iqr(values)
    assert res.median.qualifier is Qualifier.EQ and res.median.value == 4
    # Q1: h = 2.5 -> between the 2nd value (censored) and the 3rd (1): bound 0.2 + 0.5*(1 - 0.2) = 0.6
    assert res.q1.qualifier is Qualifier.LT and res.q1.value == pytest.approx(0.6)
    assert res.q3.qualifier is Qualifier.EQ and res.q3.value == pytest.approx(7.5)


def test_right_censored_quartile() -> None:
    values = [1.0, 2.0, 3.0, parse_lab_value(">1000"), parse_lab_value(">1000")]
    res = median_iqr(values)
    assert res.q3.qualifier is Qualifier.GT
    assert res.median.qualifier is Qualifier.EQ and res.median.value == 3


def test_censoring_limit_above_detected_value_noted() -> None:
    res = median_iqr([parse_lab_value("<0.5"), 0.3, 1.0, 2.0, 4.0])
    assert "censoring limit exceeds" in res.note


# --- normality, Wilcoxon -------------------------------------------------------------------------------------


def test_lilliefors_statistic_equals_ks_with_estimated_parameters() -> None:
    d = np.array(POST) - np.array(PRE)
    stat, p = lilliefors_test(d.tolist())
    ks = sps.kstest(d, "norm", args=(d.mean(), d.std(ddof=1)))
    assert stat == pytest.approx(ks.statistic, rel=1e-12)
    assert stat == pytest.approx(0.1554, abs=5e-5)  # hand-checked D for the §7.2 differences
    assert p < ks.pvalue  # plain KS with estimated parameters overstates P


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lilliefors_p_matches_simulated_null(seed: int) -> None:
    """Monte-Carlo Lilliefors null (parameters re-estimated each draw) vs the analytic approximation."""
    rng = np.random.default_rng(seed)
    n = 20
    x = (
        rng.standard_t(3, size=n)
        if seed == 3
        else rng.exponential(size=n)
        if seed == 2
        else rng.normal(size=n)
    )
    stat, p = lilliefors_test(x.tolist())
    sims = rng.normal(size=(20000, n))
    sims.sort(axis=1)
    z = (sims - sims.mean(axis=1, keepdims=True)) / sims.std(axis=1, ddof=1, keepdims=True)
    cdf = sps.norm.cdf(z)
    i = np.arange(1, n + 1)
    d_null = np.maximum((i / n - cdf).max(axis=1), (cdf - (i - 1) / n).max(axis=1))
    p_mc = float((d_null >= stat).mean())
    assert p == pytest.approx(p_mc, abs=0.02)


def test_lilliefors_needs_five_values() -> None:
    with pytest.raises(StatsInputError, match="at least 5 values"):
        lilliefors_test([1, 2, 3, 4])


def test_wilcoxon_reference_example() -> None:
    d = (np.array(POST) - np.array(PRE)).tolist()
    w = wilcoxon_signed_rank(d)
    assert w.n_nonzero == PAIRED["n_nonzero"] and w.n_zero == 1
    assert w.t_plus == PAIRED["t_plus"] and w.t_minus == PAIRED["t_minus"]
    assert w.z == pytest.approx(PAIRED["z"], abs=5e-4)
    assert w.p_value == pytest.approx(PAIRED["p_wilcoxon"], abs=5e-4)
    assert w.p_exact is None  # a zero difference: scipy's exact null does not apply
    ref = sps.wilcoxon(POST, PRE, zero_method="wilcox", correction=False, method="approx")
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert abs(w.z) <= wilcoxon_z_bound(w.n_nonzero)


def test_wilcoxon_exact_p_without_zero() -> None:
    d = [v for v in (np.array(POST) - np.array(PRE)).tolist() if v != 0]
    w = wilcoxon_signed_rank(d)
    assert w.p_exact == pytest.approx(PAIRED["p_exact"], abs=5e-5)


def test_wilcoxon_tie_correction_matches_scipy() -> None:
    d = [1.0, 1.0, 2.0, -2.0, 3.0, 3.0, 3.0, -0.5, 4.0, 0.0, 5.0]
    w = wilcoxon_signed_rank(d)
    ref = sps.wilcoxon(d, zero_method="wilcox", correction=False, method="approx")
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # ties: |d| = 1 (×2), 2 (×2), 3 (×3) -> Σ(t³ − t)/48 = (6 + 6 + 24)/48
    assert w.tie_correction == pytest.approx(36 / 48)
    assert w.z <= 0


@pytest.mark.parametrize(("n", "bound"), [(17, 3.62), (42, 5.65)])
def test_wilcoxon_z_bound(n: int, bound: float) -> None:
    assert wilcoxon_z_bound(n) == pytest.approx(bound, abs=5e-3)
    assert wilcoxon_signed_rank([float(i) for i in range(1, n + 1)]).z == pytest.approx(-wilcoxon_z_bound(n))


def test_wilcoxon_all_zero_refused() -> None:
    with pytest.raises(StatsInputError, match="non-zero"):
        wilcoxon_signed_rank([0.0, 0.0, 0.0])


# --- paired comparison ----------------------------------------------------------------------------------------


def test_paired_reference_example_default_ks_chooses_t() -> None:
    res = paired_compare(PRE, POST)
    assert res.normality_test is NormalityTest.KS_LILLIEFORS
    assert res.normality_p is not None and res.normality_p > 0.05
    assert res.test is PairedTest.PAIRED_T
    assert res.t == pytest.approx(PAIRED["t"], abs=5e-4)
    assert res.df == PAIRED["df"]
    assert res.p_value == pytest.approx(PAIRED["p_t"], abs=5e-5)
    assert "paired t-test" in res.reason and "Lilliefors" in res.reason
    assert res.format_statistic() == "t = -3.267, df = 9, P = 0.010"


def test_paired_reference_example_shapiro() -> None:
    res = paired_compare(PRE, POST, PairedSettings(normality_test=NormalityTest.SHAPIRO_WILK))
    assert res.normality_statistic == pytest.approx(PAIRED["shapiro_w"], abs=5e-4)
    assert res.normality_p == pytest.approx(PAIRED["shapiro_p"], abs=5e-4)
    assert res.test is PairedTest.PAIRED_T


def test_paired_normality_is_tested_on_differences_not_time_points() -> None:
    # each time point is very skewed (fails normality) but the differences are symmetric
    base = [1, 2, 3, 4, 5, 6, 8, 12, 30, 100, 400, 1000.0]
    diffs = [-3.1, 1.2, -0.4, 0.8, -1.9, 2.6, 0.1, -0.7, 1.5, -2.2, 0.3, 1.0]
    foll = [b + d for b, d in zip(base, diffs, strict=True)]
    assert sps.shapiro(base).pvalue < 0.05
    res = paired_compare(base, foll, PairedSettings(normality_test=NormalityTest.SHAPIRO_WILK))
    assert res.test is PairedTest.PAIRED_T
    assert res.t == pytest.approx(sps.ttest_rel(foll, base).statistic, rel=1e-12)


def test_paired_non_normal_differences_choose_wilcoxon() -> None:
    base = [10.0] * 12
    foll = [9.9, 9.8, 9.9, 9.7, 9.9, 9.8, 9.9, 9.9, 9.8, 1.0, 0.5, 9.9]
    res = paired_compare(base, foll)
    assert res.test is PairedTest.WILCOXON
    assert res.normality_p is not None and res.normality_p <= 0.05
    ref = sps.wilcoxon(foll, base, zero_method="wilcox", correction=False, method="approx")
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert res.format_statistic().startswith("Z = -")


def test_paired_forced_wilcoxon_reference() -> None:
    res = paired_compare(PRE, POST, PairedSettings(force_test=PairedTest.WILCOXON))
    assert res.z == pytest.approx(-2.429, abs=5e-4)
    assert res.format_statistic() == "Z = -2.429, P = 0.015"
    assert "forced" in res.reason


def test_paired_drops_incomplete_pairs() -> None:
    res = paired_compare([*PRE, None, 5.0], [*POST, 3.0, None])
    assert res.n_pairs == 10 and res.n_dropped_incomplete == 2
    assert res.t == pytest.approx(PAIRED["t"], abs=5e-4)


def test_paired_censored_values_use_wilcoxon_with_ties() -> None:
    lt = parse_lab_value("<0.2")
    base = [5.0, 3.0, 8.0, 2.0, 12.0, lt, 6.0]
    foll = [lt, lt, 1.0, lt, 4.0, lt, 0.5]
    res = paired_compare(base, foll)
    assert res.test is PairedTest.WILCOXON
    assert res.substitution is Substitution.LIMIT and res.n_censored == 5
    assert res.baseline_mean_sd is None  # no means with censored data
    # with "<0.2" -> 0.2: d = -4.8, -2.8, -7, -1.8, -8, 0 (tie, dropped), -5.5
    ref = sps.wilcoxon([-4.8, -2.8, -7.0, -1.8, -8.0, -5.5], correction=False, method="approx")
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert res.n_nonzero == 6 and res.t_plus == 0
    assert res.follow_up_median_iqr.median.qualifier is Qualifier.LT


def test_paired_small_n_falls_back_to_wilcoxon() -> None:
    res = paired_compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.5, 3.9, 6.0])
    assert res.test is PairedTest.WILCOXON and "not testable" in res.reason


def test_paired_length_mismatch() -> None:
    with pytest.raises(StatsInputError, match=r"follow_up: got '3 values'; allowed: 2 values"):
        paired_compare([1.0, 2.0], [1.0, 2.0, 3.0])


def test_bonferroni() -> None:
    assert bonferroni([0.01, 0.02, 0.5]) == pytest.approx((0.03, 0.06, 1.0))


# --- 2×2 tables and McNemar -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES["tables"], ids=[c["id"] for c in CASES["tables"]])
def test_2x2_reference_tables(case: dict) -> None:
    res = compare_2x2(case["table"])
    assert res.n == case["n"]
    assert res.min_expected == pytest.approx(case["min_t"], abs=5e-3)
    assert res.pearson_chi2 == pytest.approx(case["pearson"][0], abs=5e-4)
    assert res.yates_chi2 == pytest.approx(case["yates"][0], abs=5e-4)
    p_tol = 5e-5 if case["pearson"][1] < 0.01 else 5e-4
    assert res.pearson_p == pytest.approx(case["pearson"][1], abs=p_tol)
    assert res.yates_p == pytest.approx(case["yates"][1], abs=p_tol)
    assert res.fisher_p == pytest.approx(case["fisher"], abs=p_tol)
    assert res.test is TableTest(case["picks"])
    arr = np.array(case["table"])
    assert res.fisher_p == pytest.approx(sps.fisher_exact(arr).pvalue, rel=1e-12)
    assert res.pearson_p == pytest.approx(sps.chi2_contingency(arr, correction=False).pvalue, rel=1e-12)


def test_2x2_pearson_hand_checked() -> None:
    # [[30,10],[15,25]]: n(ad-bc)^2 / (r1 r2 c1 c2) = 80*600^2/(40*40*45*35) = 11.428571...
    res = compare_2x2([[30, 10], [15, 25]])
    assert res.statistic == pytest.approx(80 * 600**2 / (40 * 40 * 45 * 35), rel=1e-12)


@pytest.mark.parametrize("case", CASES["rule_boundaries"], ids=[c["id"] for c in CASES["rule_boundaries"]])
def test_2x2_rule_boundaries(case: dict) -> None:
    assert compare_2x2(case["table"]).test is TableTest(case["picks"])
    assert compare_2x2(case["table"], ChiSquareRule.COCHRAN).test is TableTest(case["cochran"])


def test_2x2_fisher_result_has_no_chi2_statistic() -> None:
    res = compare_2x2([[1, 2], [9, 28]])
    assert res.test is TableTest.FISHER and res.statistic is None and res.p_value == res.fisher_p


def test_2x2_zero_margin() -> None:
    res = compare_2x2([[0, 0], [5, 40]])
    assert res.test is TableTest.FISHER and res.pearson_chi2 is None and res.p_value == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [[[1, 2]], [[1, 2], [3, -1]], [[1, 2], [3, 1.5]], "ab"])
def test_2x2_bad_input(bad: object) -> None:
    with pytest.raises(StatsInputError, match="table"):
        compare_2x2(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES["mcnemar"], ids=[c["id"] for c in CASES["mcnemar"]])
def test_mcnemar(case: dict) -> None:
    res = mcnemar(case["table"])
    assert res.p_value == pytest.approx(case["p"], abs=1e-9)
    b, c = case["table"][0][1], case["table"][1][0]
    if b + c:
        assert res.p_value == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


# --- proportions ----------------------------------------------------------------------------------------------


PROPORTION_PARAMS = [
    pytest.param(case, method, id=f"{case['id']}-{method}")
    for case in CASES["proportions"]
    for method in ("wilson", "clopper_pearson", "wald", "wilson_cc")
    if method in case
]


@pytest.mark.parametrize(("case", "method"), PROPORTION_PARAMS)
def test_proportion_ci_reference(case: dict, method: str) -> None:
    res = proportion_ci(case["x"], case["n"], ProportionMethod(method))
    assert round(res.pct, 2) == case["pct"]
    assert round(res.ci_low_pct, 2) == pytest.approx(case[method][0], abs=1e-9)
    assert round(res.ci_high_pct, 2) == pytest.approx(case[method][1], abs=1e-9)
    assert res.n == case["x"]
    assert res.N == case["n"]  # noqa: SIM300 (N is a field name, not a constant)
    assert res.method is ProportionMethod(method)


def test_proportion_text() -> None:
    res = proportion_ci(36, 42)
    assert res.method is ProportionMethod.WILSON
    assert res.format() == "36/42 (85.71%, 95% CI 72.16–93.28)"


def test_wilson_hand_formula() -> None:
    # Wilson score: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    x, n, z = 36, 42, sps.norm.ppf(0.975)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    res = proportion_ci(x, n)
    assert res.ci_low_pct == pytest.approx(100 * (centre - half), rel=1e-9)
    assert res.ci_high_pct == pytest.approx(100 * (centre + half), rel=1e-9)


def test_wald_exceeds_100_percent_for_41_of_42() -> None:
    assert proportion_ci(41, 42, ProportionMethod.WALD).ci_high_pct > 100


@pytest.mark.parametrize(
    ("x", "n", "field"), [(43, 42, "x"), (-1, 42, "x"), (1, 0, "n"), (1.5, 42, "x"), (True, 42, "x")]
)
def test_proportion_bad_input(x: object, n: object, field: str) -> None:
    with pytest.raises(StatsInputError, match=rf"^{field}: got"):
        proportion_ci(x, n)  # type: ignore[arg-type]


def test_format_statistic_prints_small_p_as_papers_do():
    from assessment.stats import paired_compare

    strong = paired_compare([10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0],
                            [5.0, 5.5, 6.2, 6.4, 7.1, 7.3, 8.2, 8.4])
    assert strong.format_statistic().endswith("P < 0.001")
    assert "P = < " not in strong.format_statistic()


# --- median_iqr's fast path for plain numbers (issue 12) ---------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from assessment.thyroglobulin import LabValue  # noqa: E402

_plain = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain, min_size=1, max_size=60), st.sampled_from(list(QuantileMethod)))
def test_median_iqr_plain_numbers_equal_the_general_path(values, method) -> None:
    # The fast path (a float array, numpy's sort) must give bit-identical quartiles to the general path, which
    # sorts LabValue objects with the censoring key; one detected LabValue forces the general path.
    fast = median_iqr(values, method)
    general = median_iqr([LabValue(Qualifier.EQ, float(values[0]), unit=""), *values[1:]], method)
    assert fast == general
    assert median_iqr(np.asarray(values, dtype=float), method) == general


@pytest.mark.parametrize(
    "values, field",
    [([1.0, float("nan")], "values[1]"), ([1.0, True], "values[1]"), ([2, "3"], "values[1]"),
     ([1.0, float("inf")], "values[1]")],
)
def test_median_iqr_bad_value_is_named_even_beside_plain_numbers(values, field) -> None:
    # A value the fast path cannot take goes to the general path, which names it (never a silent drop).
    with pytest.raises(StatsInputError) as exc:
        median_iqr(values)
    assert exc.value.field == field


# --- median_iqr's fast path for censored lab values (issue 12: Tg of 10 000 patients) ----------------------------

_lab = st.builds(
    lambda q, v: LabValue(q, v, unit="ng/mL"),
    st.sampled_from([Qualifier.EQ, Qualifier.EQ, Qualifier.EQ, Qualifier.LT, Qualifier.GT]),
    st.sampled_from([0.1, 0.2, 0.2, 1.0, 2.5, 30.0]) | st.floats(0, 1e4, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_lab, min_size=1, max_size=50), st.sampled_from(list(QuantileMethod)))
def test_median_iqr_lab_values_equal_the_general_path(values, method) -> None:
    # The numpy path (ranks and values as arrays, a stable lexsort) must give what sorting the LabValue objects with
    # the censoring key gives: the same quartiles, qualifiers, counts and note, or the same refusal of a quartile
    # spanning both '<' and '>' values.
    from assessment.stats import _median_iqr_general

    try:
        expected = _median_iqr_general(values, QuantileMethod(method))
    except StatsInputError as exc:
        with pytest.raises(StatsInputError) as got:
            median_iqr(values, method)
        assert got.value.field == exc.field and str(got.value) == str(exc)
        return
    assert median_iqr(values, method) == expected


def test_median_iqr_lab_values_keep_the_given_order_of_censored_ties() -> None:
    # "<" values tie below every detected value and keep the order given (a stable sort, as the general path's):
    # with n = 3 (Weibull) Q1 is the first value given, "<0.5", and the median the second, "<0.2".
    values = [LabValue(Qualifier.LT, 0.5), LabValue(Qualifier.LT, 0.2), LabValue(Qualifier.EQ, 3.0)]
    mi = median_iqr(values)
    assert (mi.q1.qualifier, mi.q1.value) == (Qualifier.LT, 0.5)
    assert (mi.median.qualifier, mi.median.value) == (Qualifier.LT, 0.2)
    assert mi.note.startswith("a censoring limit exceeds") is False and (mi.n_left_censored, mi.n) == (2, 3)


# --- paired_compare's fast path for lab values (issue 12: Table 2's Tg, 10 000 patients) ---------------------------


class _OtherLab(LabValue):
    """A LabValue of another type: the array path takes only exact LabValues, so this one takes the general path."""


def _general(v: LabValue | None) -> LabValue | None:
    return None if v is None else _OtherLab(v.qualifier, v.value, unit=v.unit)


_maybe_lab = st.none() | _lab


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_maybe_lab, _maybe_lab), min_size=2, max_size=40),
       st.sampled_from(list(Substitution)), st.sampled_from([None, *PairedTest]))
def test_paired_compare_lab_values_equal_the_general_path(pairs, how, force) -> None:
    # Ranks and substituted values as arrays must give exactly the comparison of the per-value path: the same
    # censored count, substituted differences, medians, test chosen and statistic — or the same refusal.
    cfg = PairedSettings(substitution=how, force_test=force)
    base, follow = [b for b, _ in pairs], [f for _, f in pairs]
    try:
        expected = paired_compare([_general(b) for b in base], [_general(f) for f in follow], cfg)
    except StatsInputError as exc:
        with pytest.raises(StatsInputError) as got:
            paired_compare(base, follow, cfg)
        assert str(got.value) == str(exc)
        return
    got = paired_compare(base, follow, cfg)
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_maybe_lab, _maybe_lab), min_size=2, max_size=30) | st.lists(
    st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 100, allow_nan=False)), min_size=2, max_size=30),
    st.lists(st.tuples(st.sampled_from(list(Substitution)), st.sampled_from([None, *PairedTest])), min_size=2,
             max_size=4))
def test_paired_data_compared_again_equals_a_fresh_comparison(pairs, runs) -> None:
    # The pairs are prepared once (cohort tables compare them automatically, then with a forced test): every
    # comparison of the same PairedData, in any order of settings, equals the comparison of fresh data.
    from assessment.stats import PairedData

    base, follow = [b for b, _ in pairs], [f for _, f in pairs]
    try:
        data = PairedData(base, follow)
    except StatsInputError:
        return
    for how, force in runs:
        cfg = PairedSettings(substitution=how, force_test=force)
        try:
            expected = paired_compare([_general(b) if isinstance(b, LabValue) else b for b in base],
                                      [_general(f) if isinstance(f, LabValue) else f for f in follow], cfg)
        except StatsInputError as exc:
            with pytest.raises(StatsInputError) as got:
                data.compare(cfg)
            assert str(got.value) == str(exc)
            continue
        assert data.compare(cfg) == expected

"""assessment/survival.py: Kaplan–Meier by hand on a small example and against lifelines' KaplanMeierFitter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assessment.survival import KaplanMeier, SurvivalInputError, kaplan_meier

Z95 = 1.959963984540054

# ------------------------------------------------------------------------------------------- by hand

# 6 subjects: events at 1, 2, 3, 8 days; censored at 2 (tied with an event) and 5.
HAND_T = [8, 1, 2, 5, 3, 2]
HAND_E = [True, True, False, False, True, True]


@pytest.fixture(scope="module")
def hand() -> KaplanMeier:
    return kaplan_meier(HAND_T, HAND_E)


def test_hand_example_table(hand):
    assert hand.n_subjects == 6 and hand.n_events == 4
    assert hand.time_days == (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
    assert hand.n_at_risk == (6, 6, 5, 3, 2, 1)  # the subject censored at 2 is at risk at 2
    assert hand.events == (0, 1, 1, 1, 0, 1)
    assert hand.censored == (0, 0, 1, 0, 1, 0)
    expected = [1.0, 5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3, 4 / 9, 0.0]
    assert hand.survival == pytest.approx(expected, abs=1e-15)


def test_hand_example_greenwood_variance(hand):
    # Σ d/(n(n−d)): 1/30, + 1/20, + 1/6; the last term (n = d = 1) is left out and S = 0 there.
    sums = [0.0, 1 / 30, 1 / 30 + 1 / 20, 1 / 30 + 1 / 20 + 1 / 6, 1 / 4]
    expected = [s**2 * g for s, g in zip(hand.survival[:5], sums, strict=True)] + [0.0]
    assert hand.variance == pytest.approx(expected, abs=1e-15)
    assert hand.variance[3] == pytest.approx(4 / 81, abs=1e-15)  # (4/9)² · 1/4


def test_hand_example_log_log_interval(hand):
    # exp(−exp(log(−log S) ± z·se)) = S ** exp(∓ z·se), se = √Σ / |log S|.
    sums = {1: 1 / 30, 2: 1 / 12, 3: 1 / 4}
    for i, g in sums.items():
        s = hand.survival[i]
        se = math.sqrt(g) / abs(math.log(s))
        assert hand.ci_low[i] == pytest.approx(s ** math.exp(Z95 * se), abs=1e-12)
        assert hand.ci_high[i] == pytest.approx(s ** math.exp(-Z95 * se), abs=1e-12)
        assert hand.ci_low[i] < s < hand.ci_high[i] < 1.0
    assert (hand.ci_low[0], hand.ci_high[0]) == (1.0, 1.0)  # S = 1
    assert (hand.ci_low[-1], hand.ci_high[-1]) == (0.0, 0.0)  # S = 0
    assert hand.ci_low[1] == pytest.approx(0.273123, abs=1e-6)  # as printed by lifelines / R log-log


def test_hand_example_median_and_numbers_at_risk(hand):
    assert hand.median_days == 3.0  # S falls from 2/3 to 4/9 at day 3
    assert hand.at_risk([0, 1, 1.5, 2, 2.5, 5, 7.9, 8, 8.1, 400]) == [6, 6, 5, 5, 3, 2, 1, 1, 0, 0]
    assert hand.survival_at([0, 0.99, 1, 2.5, 7.99, 8, 1000]) == pytest.approx(
        [1.0, 1.0, 5 / 6, 2 / 3, 4 / 9, 0.0, 0.0], abs=1e-15
    )


def test_median_exactly_one_half_is_the_first_time_at_one_half():
    km = kaplan_meier([10, 20, 30, 40], [1, 1, 0, 0])
    assert km.survival[2] == 0.5
    assert km.median_days == 20.0


def test_median_with_rounding_of_the_product_still_counts_one_half():
    # S(30) = 5/6 · 4/5 · 3/4 = 1/2 mathematically; the floating product may land a hair above.
    km = kaplan_meier([10, 20, 30, 40, 50, 60], [1, 1, 1, 0, 0, 0])
    assert km.survival[3] == pytest.approx(0.5, abs=1e-15)
    assert km.median_days == 30.0


def test_median_not_reached_and_all_censored():
    km = kaplan_meier([100, 200, 300], [False, False, False])
    assert km.median_days is None
    assert set(km.survival) == {1.0} and set(km.ci_low) == {1.0} and set(km.variance) == {0.0}
    assert km.n_events == 0


def test_events_at_day_zero_lower_the_first_row():
    km = kaplan_meier([0, 0, 5, 9], [1, 0, 1, 0])
    assert km.time_days == (0.0, 5.0, 9.0)  # no extra row: day 0 is an observed time
    assert km.n_at_risk == (4, 2, 1)
    assert km.survival == pytest.approx([0.75, 0.375, 0.375])


def test_accepts_numpy_arrays_and_zero_one_flags():
    a = kaplan_meier(np.array([3.0, 1.0, 2.0]), np.array([1, 0, 1]))
    b = kaplan_meier([3, 1, 2], [True, False, True])
    assert a == b


def test_confidence_level_changes_the_interval_width():
    narrow = kaplan_meier(HAND_T, HAND_E, confidence=0.80)
    wide = kaplan_meier(HAND_T, HAND_E)
    assert narrow.confidence == 0.80
    assert wide.ci_low[3] < narrow.ci_low[3] < narrow.survival[3] < narrow.ci_high[3] < wide.ci_high[3]


@pytest.mark.parametrize(
    ("times", "events", "kwargs", "message"),
    [
        ([], [], {}, r"times_days: got 0 values; allowed: at least 1 subject"),
        ([1, 2, 3], [1, 0], {}, r"events: got 2 values; allowed: one per subject: times_days has 3, so 3 values"),
        ([1, -2, 3], [1, 0, 1], {}, r"times_days\[1\]: got -2.0; allowed: a finite number of days ≥ 0"),
        ([1, float("nan")], [1, 0], {}, r"times_days\[1\]: got nan; allowed: a finite number of days ≥ 0"),
        ([1, float("inf")], [1, 0], {}, r"times_days\[1\]: got inf"),
        ([1, 2], [1, 2], {}, r"events\[1\]: got 2; allowed: True \(event observed\) or False \(censored\), or 1 / 0"),
        ([1, 2], ["yes", "no"], {}, r"events\[0\]: got 'yes'; allowed: True"),
        ("1,2", [1, 0], {}, r"times_days: got '1,2'; allowed: a sequence of numbers of days"),
        ([1, 2], [1, 0], {"confidence": 95}, r"confidence: got 95; allowed: a number strictly between 0 and 1"),
    ],
    ids=["empty", "unequal", "negative", "nan", "inf", "event-2", "event-str", "string", "confidence"],
)
def test_bad_input_raises_one_line_naming_the_field(times, events, kwargs, message):
    with pytest.raises(SurvivalInputError, match=message) as info:
        kaplan_meier(times, events, **kwargs)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_at_risk_days_raise():
    km = kaplan_meier([1, 2], [1, 0])
    with pytest.raises(SurvivalInputError, match=r"at_days\[0\]: got -1.0; allowed: a finite number of days ≥ 0"):
        km.at_risk([-1])


# --------------------------------------------------------------------------------------- against lifelines


def _data_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20240611)
    # Ties: 60 subjects on whole months, a third censored.
    ties_t = rng.integers(1, 13, size=60) * 30.0
    ties_e = rng.random(60) > 0.33
    # Censorings at event times: every distinct time has both an event and a censoring.
    cens_t = np.repeat([30.0, 61.0, 183.0, 365.0, 400.0], [3, 4, 2, 5, 3])
    cens_e = np.array([1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1], dtype=bool)
    # All censored.
    allc_t = np.array([12.0, 40.0, 40.0, 180.0, 365.0])
    allc_e = np.zeros(5, dtype=bool)
    # No censoring: continuous times, the curve falls to 0.
    none_t = np.round(rng.exponential(300.0, size=40), 3)
    none_e = np.ones(40, dtype=bool)
    # A cohort: exponential event times, administrative censoring at 2 years plus drop-outs, 500 subjects.
    event_t = rng.exponential(900.0, size=500)
    drop_t = rng.uniform(30.0, 2000.0, size=500)
    follow = np.minimum(np.minimum(event_t, drop_t), 730.0)
    cohort_e = event_t <= np.minimum(drop_t, 730.0)
    return {
        "ties": (ties_t, ties_e),
        "censoring-at-event-times": (cens_t, cens_e),
        "all-censored": (allc_t, allc_e),
        "no-censoring": (none_t, none_e),
        "cohort-500": (np.round(follow, 1), cohort_e),
    }


DATA_SETS = _data_sets()


@pytest.mark.parametrize("name", list(DATA_SETS))
def test_matches_lifelines(name):
    lifelines = pytest.importorskip("lifelines")
    t, e = DATA_SETS[name]
    ref = lifelines.KaplanMeierFitter().fit(t, e)
    km = kaplan_meier(t, e)

    assert list(km.time_days) == ref.timeline.tolist()
    np.testing.assert_allclose(km.survival, ref.survival_function_.iloc[:, 0].to_numpy(), rtol=0, atol=1e-9)
    ci = ref.confidence_interval_.to_numpy()
    np.testing.assert_allclose(km.ci_low, ci[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(km.ci_high, ci[:, 1], rtol=0, atol=1e-6)
    table = ref.event_table
    assert list(km.n_at_risk) == table["at_risk"].tolist()
    assert list(km.events) == table["observed"].tolist()
    assert list(km.censored) == table["censored"].tolist()
    greenwood = np.asarray(km.survival) ** 2 * ref._cumulative_sq_.to_numpy()
    np.testing.assert_allclose(km.variance, np.nan_to_num(greenwood), rtol=1e-9, atol=1e-12)
    expected_median = ref.median_survival_time_
    assert km.median_days == (None if math.isinf(expected_median) else expected_median)
    probe = np.linspace(0.0, float(t.max()) * 1.1, 37)
    np.testing.assert_allclose(
        km.survival_at(probe), ref.survival_function_at_times(probe).to_numpy(), rtol=0, atol=1e-9
    )


def test_data_sets_cover_the_named_cases():
    t, e = DATA_SETS["censoring-at-event-times"]
    km = kaplan_meier(t, e)
    assert all(d > 0 and c > 0 for d, c in zip(km.events[1:], km.censored[1:], strict=True))
    assert kaplan_meier(*DATA_SETS["no-censoring"]).survival[-1] == 0.0
    assert len(set(DATA_SETS["ties"][0].tolist())) <= 12 < len(DATA_SETS["ties"][0])
    cohort = kaplan_meier(*DATA_SETS["cohort-500"])
    assert cohort.median_days is None or cohort.median_days > 0
    assert 0 < cohort.n_events < cohort.n_subjects

"""reports/plots.py cohort figures of the physicians' dashboard: rates, spider, swimmer, Kaplan–Meier, Tg,
volume, dose–response. SVG ids (gids) are counted as the dashboard's browser test will count them."""

from __future__ import annotations

import csv
import io
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from assessment.dashboard_figures import km_curve
from assessment.survival import kaplan_meier
from reports.plots import (
    DoseResponsePoint,
    KmCurve,
    PlotInputError,
    PlotSettings,
    RateBar,
    SpiderSeries,
    SwimmerRow,
    TgSeries,
    VolumeGroup,
    dose_response_csv,
    dose_response_figure,
    km_csv,
    km_figure,
    remission_bars_csv,
    remission_bars_figure,
    render,
    spider_csv,
    spider_figure,
    svg_inline,
    swimmer_csv,
    swimmer_figure,
    tg_csv,
    tg_figure,
    volume_csv,
    volume_figure,
)


def svg_ids(fig) -> list[str]:
    return re.findall(r'<g id="([^"]+)"', svg_inline(fig))


def ids_with(fig, prefix: str) -> list[str]:
    return [i for i in svg_ids(fig) if i.startswith(prefix)]


def by_gid(fig, gid: str):
    found = [a for ax in fig.axes for a in ax.findobj() if a.get_gid() == gid]
    assert len(found) == 1, (gid, found)
    return found[0]


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def legend_texts(fig) -> list[str]:
    legends = fig.legends or [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


# ------------------------------------------------------------------------------------------ remission bars

REM, ORR = "Remission (CR+PR+SD)", "ORR (CR+PR)"
RATES = [
    RateBar("2 months", REM, 18, 20, 69.9, 97.2),
    RateBar("2 months", ORR, 6, 20, 14.5, 51.9),
    RateBar("6 months", REM, 16, 19, 62.4, 94.5),
    RateBar("6 months", ORR, 10, 19, 31.7, 72.7),
    RateBar("12 months", ORR, 9, 17, 31.0, 73.8),  # given before the 12-month remission bar: drawn after it
    RateBar("12 months", REM, 12, 17, 46.9, 86.7),
]


@pytest.fixture(scope="module")
def rate_fig():
    return remission_bars_figure(RATES, "Remission and ORR")


def test_rate_bars_three_time_points_times_two_measures_is_six_ids(rate_fig):
    assert ids_with(rate_fig, "rate-") == [  # drawn measure by measure
        "rate-2-months-remission-cr-pr-sd", "rate-6-months-remission-cr-pr-sd", "rate-12-months-remission-cr-pr-sd",
        "rate-2-months-orr-cr-pr", "rate-6-months-orr-cr-pr", "rate-12-months-orr-cr-pr",
    ]
    assert ids_with(rate_fig, "rate_ci-") == ["rate_ci-remission-cr-pr-sd", "rate_ci-orr-cr-pr"]


def test_rate_bars_heights_positions_labels_and_error_bars(rate_fig):
    ax = rate_fig.axes[0]
    bar = by_gid(rate_fig, "rate-6-months-orr-cr-pr")
    assert bar.get_height() == pytest.approx(100 * 10 / 19)
    assert bar.get_x() + bar.get_width() / 2 == pytest.approx(1.2)  # group 1, second of two bars of width 0.4
    assert by_gid(rate_fig, "rate-2-months-remission-cr-pr-sd").get_height() == pytest.approx(90.0)
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["18/20", "16/19", "12/17", "6/20", "10/19", "9/17"]
    segments = by_gid(rate_fig, "rate_ci-orr-cr-pr").get_segments()
    spans = sorted((round(s[0][1], 6), round(s[1][1], 6)) for s in segments)
    assert spans == [(14.5, 51.9), (31.0, 73.8), (31.7, 72.7)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2 months", "6 months", "12 months"]
    assert legend_texts(rate_fig) == [REM, ORR]


def test_rate_bars_measures_differ_by_hatch_not_only_colour(rate_fig):
    rem = by_gid(rate_fig, "rate-2-months-remission-cr-pr-sd")
    orr = by_gid(rate_fig, "rate-2-months-orr-cr-pr")
    assert (rem.get_hatch() or "") != (orr.get_hatch() or "")
    assert rem.get_facecolor() != orr.get_facecolor()


def test_rate_bars_missing_measure_leaves_its_slot_empty():
    fig = remission_bars_figure(RATES[:5], "t")
    assert len(ids_with(fig, "rate-")) == 5
    bar = by_gid(fig, "rate-12-months-orr-cr-pr")
    assert bar.get_x() + bar.get_width() / 2 == pytest.approx(2.2)  # still the right-hand slot of its group


def test_rate_csv_is_the_bars_in_drawing_order():
    rows = read_csv(remission_bars_csv(RATES))
    assert rows[0] == ["timepoint", "measure", "numerator", "denominator", "rate_pct", "ci_low_pct", "ci_high_pct"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("2 months", REM), ("2 months", ORR), ("6 months", REM), ("6 months", ORR), ("12 months", REM), ("12 months", ORR),
    ]
    assert rows[4][2:] == ["10", "19", repr(100 * 10 / 19), "31.7", "72.7"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("6 months", ORR, 11, 10, 50.0, 100.0), r"RateBar '6 months'/'ORR \(CR\+PR\)': numerator = 11 exceeds denominator = 10"),
        (("6 months", ORR, 0, 0, 0.0, 0.0), r"denominator = 0; allowed: an integer ≥ 1"),
        (("6 months", ORR, True, 10, 0.0, 50.0), r"numerator = True; allowed: an integer ≥ 0"),
        (("6 months", ORR, 5, 10, 55.0, 80.0), r"ci_low_pct = 55.0; allowed: a % in 0–50 \(≤ the rate\)"),
        (("6 months", ORR, 5, 10, 20.0, 101.0), r"ci_high_pct = 101.0; allowed: a % in 50–100 \(≥ the rate\)"),
        (("6 months", ORR, 5, 10, float("nan"), 80.0), r"ci_low_pct = nan"),
        (("", ORR, 5, 10, 20.0, 80.0), r"RateBar.timepoint: got ''; allowed: a non-empty string"),
    ],
    ids=["n-over-N", "N-zero", "bool", "low-above-rate", "high-over-100", "nan", "blank-timepoint"],
)
def test_bad_rate_bars_raise(args, message):
    with pytest.raises(PlotInputError, match=message) as info:
        RateBar(*args)
    assert "\n" not in str(info.value)


def test_rate_bars_reject_repeated_pairs_and_empty_input():
    with pytest.raises(PlotInputError, match=r"rows\[1\]: '2 months ORR \(CR\+PR\)' repeats .*'rate-2-months-orr-cr-pr'"):
        remission_bars_figure([RATES[1], RATES[1]], "t")
    with pytest.raises(PlotInputError, match="rows: got 0 items; allowed: at least one RateBar"):
        remission_bars_csv([])


# ------------------------------------------------------------------------------------------------ spider

SPIDER = [
    SpiderSeries("S-03", (61, 183, 365), (-10.0, -35.0, -60.0), ("SD", "PR", "PR")),
    SpiderSeries("S-01", (61, 183), (5.0, 25.0), ("SD", "PD"), baseline_day=-7),
    SpiderSeries("S-02", (61, 183, 365), (-40.0, -100.0, -100.0), ("PR", "CR", "CR")),
    SpiderSeries("S-04", (61,), (0.0,), ("NE",)),
]


@pytest.fixture(scope="module")
def spider_fig():
    return spider_figure(SPIDER, "Spider")


def test_spider_one_line_per_patient_in_label_order(spider_fig):
    assert ids_with(spider_fig, "spider-") == ["spider-s-01", "spider-s-02", "spider-s-03", "spider-s-04"]
    line = by_gid(spider_fig, "spider-s-01")
    assert list(line.get_xdata()) == [-7.0, 61.0, 183.0]  # starts at the baseline day …
    assert list(line.get_ydata()) == [0.0, 5.0, 25.0]  # … at 0 %
    assert list(by_gid(spider_fig, "spider-s-03").get_xdata())[0] == 0.0


def test_spider_markers_per_category_with_distinct_shapes(spider_fig):
    markers = {c: by_gid(spider_fig, f"spider_markers-{c}") for c in ("cr", "pr", "sd", "pd", "ne")}
    assert {c: len(m.get_xdata()) for c, m in markers.items()} == {"cr": 2, "pr": 3, "sd": 2, "pd": 1, "ne": 1}
    assert list(markers["pd"].get_ydata()) == [25.0]
    assert len({m.get_marker() for m in markers.values()}) == 5
    assert legend_texts(spider_fig) == [
        "CR (complete response)", "PR (partial response)", "SD (stable disease)", "PD (progressive disease)",
        "NE (not evaluable)",
    ]


def test_spider_guides_and_axis(spider_fig):
    assert by_gid(spider_fig, "spider_pd").get_ydata()[0] == 20.0
    assert by_gid(spider_fig, "spider_pr").get_ydata()[0] == -30.0
    ax = spider_fig.axes[0]
    assert ax.get_xlabel() == "Days since implant"
    lo, hi = ax.get_ylim()
    assert lo < -100.0 + 1e-9 and hi > 25.0
    assert {"+20 %", "−30 %"} <= {t.get_text() for t in ax.texts}


def test_spider_csv_has_baseline_and_every_point():
    rows = read_csv(spider_csv(SPIDER))
    assert rows[0] == ["patient", "day", "change_pct", "response"]
    assert len(rows) - 1 == sum(len(s.days) + 1 for s in SPIDER)
    assert rows[1:4] == [["S-01", "-7.0", "0.0", "baseline"], ["S-01", "61.0", "5.0", "SD"], ["S-01", "183.0", "25.0", "PD"]]


def test_spider_caps_series_and_says_so_but_csv_keeps_all():
    fig = spider_figure(SPIDER, "Spider", PlotSettings(max_series=2))
    assert ids_with(fig, "spider-") == ["spider-s-01", "spider-s-02"]
    assert fig.axes[0].get_title() == "Spider (showing 2 of 4 patients)"
    assert fig.get_label() == "Spider (showing 2 of 4 patients)"
    assert len(by_gid(fig, "spider_markers-cr").get_xdata()) == 2  # markers only of drawn patients
    assert not ids_with(fig, "spider_markers-ne")
    assert {r[0] for r in read_csv(spider_csv(SPIDER))[1:]} == {"S-01", "S-02", "S-03", "S-04"}


def test_spider_ids_never_collide_with_guides():
    fig = spider_figure([SpiderSeries("PD", (10,), (30.0,), ("PD",)), SpiderSeries("markers CR", (10,), (-100.0,), ("CR",))], "t")
    assert sorted(ids_with(fig, "spider-")) == ["spider-markers-cr", "spider-pd"]
    assert {"spider_pd", "spider_markers-cr"} <= set(svg_ids(fig))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": (61, 61), "change_pct": (0, 1), "responses": ("SD", "SD")}, r"days\[1\] = 61.0 is not after days\[0\] = 61.0"),
        ({"days": (61,), "change_pct": (-101,), "responses": ("CR",)}, r"change_pct\[0\] = -101.0; allowed: a finite % ≥ −100"),
        ({"days": (61,), "change_pct": (0,), "responses": ("NON_CR_NON_PD",)}, r"responses\[0\] = 'NON_CR_NON_PD'; allowed: CR, PR, SD, PD, NE"),
        ({"days": (61, 90), "change_pct": (0,), "responses": ("SD",)}, r"days, change_pct, responses have 2, 1, 1 values"),
        ({"days": (0,), "change_pct": (0,), "responses": ("SD",)}, r"days\[0\] = 0.0; allowed: finite days after baseline_day = 0"),
        ({"days": (), "change_pct": (), "responses": ()}, r"days has 0 values; allowed: at least one assessment"),
        ({"days": (5,), "change_pct": (0,), "responses": "SD"}, r"responses is a string"),
    ],
    ids=["days-repeat", "below-minus-100", "bad-response", "lengths", "day-at-baseline", "empty", "string"],
)
def test_bad_spider_series_raise(kwargs, message):
    with pytest.raises(PlotInputError, match=r"SpiderSeries 'S-9': " + message):
        SpiderSeries("S-9", **kwargs)


def test_spider_rejects_duplicates_by_slug():
    with pytest.raises(PlotInputError, match=r"series\[1\]: 's 01' repeats .*'spider-s-01'"):
        spider_figure([SPIDER[1], SpiderSeries("s 01", (5,), (0.0,), ("SD",))], "t")


# ------------------------------------------------------------------------------------------------ swimmer

SWIM = [
    SwimmerRow("S-01", 400, ((61, "SD"), (183, "PR"), (365, "PR")), ongoing=True),
    SwimmerRow("S-02", 700, ((61, "PD"), (90, "NEW_THERAPY"))),
    SwimmerRow("S-03", 400, ()),
    SwimmerRow("S-04", 90, ((61, "NE"),), ongoing=True),
]


@pytest.fixture(scope="module")
def swim_fig():
    return swimmer_figure(SWIM, "Swimmer")


def test_swimmer_bars_longest_on_top_ties_by_label(swim_fig):
    assert ids_with(swim_fig, "swim-") == ["swim-s-02", "swim-s-01", "swim-s-03", "swim-s-04"]
    bar = by_gid(swim_fig, "swim-s-02")
    assert (bar.get_x(), bar.get_width()) == (0.0, 700.0)
    assert [t.get_text() for t in swim_fig.axes[0].get_yticklabels()] == ["S-02", "S-01", "S-03", "S-04"]
    top, bottom = swim_fig.axes[0].get_ylim()
    assert top > bottom  # inverted: the first patient is drawn on top


def test_swimmer_markers_ongoing_arrows_and_new_therapy(swim_fig):
    pr = by_gid(swim_fig, "swim_marker-pr")
    assert list(pr.get_xdata()) == [183.0, 365.0] and list(pr.get_ydata()) == [1.0, 1.0]
    therapy = by_gid(swim_fig, "swim_marker-new-therapy")
    assert list(therapy.get_xdata()) == [90.0] and therapy.get_marker() == "D"
    ongoing = by_gid(swim_fig, "swim_ongoing")
    assert ongoing.get_marker() == ">"
    assert list(ongoing.get_ydata()) == [1.0, 3.0]  # S-01 and S-04
    assert all(x > end for x, end in zip(ongoing.get_xdata(), [400.0, 90.0], strict=True))
    texts = legend_texts(swim_fig)
    assert "New therapy" in texts and "Follow-up ongoing" in texts and "PD (progressive disease)" in texts
    shapes = {by_gid(swim_fig, f"swim_marker-{k}").get_marker() for k in ("sd", "pr", "pd", "ne", "new-therapy")}
    assert len(shapes) == 5


def test_swimmer_csv_lists_events_and_patients_without_events():
    rows = read_csv(swimmer_csv(SWIM))
    assert rows[0] == ["patient", "last_follow_up_day", "ongoing", "event_day", "event"]
    assert rows[1:3] == [["S-02", "700.0", "no", "61.0", "PD"], ["S-02", "700.0", "no", "90.0", "NEW_THERAPY"]]
    assert ["S-03", "400.0", "no", "", ""] in rows
    assert len(rows) - 1 == 2 + 3 + 1 + 1


def test_swimmer_cap_keeps_the_longest_follow_ups():
    fig = swimmer_figure(SWIM, "Swim", PlotSettings(max_series=2))
    assert ids_with(fig, "swim-") == ["swim-s-02", "swim-s-01"]
    assert fig.axes[0].get_title() == "Swim (showing 2 of 4 patients)"
    assert list(by_gid(fig, "swim_ongoing").get_ydata()) == [1.0]


def test_swimmer_hides_patient_labels_for_large_cohorts():
    fig = swimmer_figure(SWIM, "Swim", PlotSettings(max_bar_labels=3))
    assert not fig.axes[0].get_yticklabels()
    assert fig.axes[0].get_ylabel() == "Patients (n = 4)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("S-9", 100, ((120, "SD"),)), r"SwimmerRow 'S-9': events\[0\] day = 120; allowed: a day in 0–100 \(last_follow_up_day\)"),
        (("S-9", 100, ((50, "TKI"),)), r"events\[0\] kind = 'TKI'; allowed: CR, PR, SD, PD, NE, NEW_THERAPY"),
        (("S-9", 100, ((50,),)), r"events\[0\] = \(50,\); allowed: a \(day, kind\) pair"),
        (("S-9", -1), r"last_follow_up_day = -1; allowed: a finite number of days ≥ 0"),
        (("S-9", 100, (), "yes"), r"ongoing = 'yes'; allowed: True or False"),
    ],
    ids=["after-last-follow-up", "kind", "not-a-pair", "negative", "ongoing"],
)
def test_bad_swimmer_rows_raise(args, message):
    with pytest.raises(PlotInputError, match=message):
        SwimmerRow(*args)


# ------------------------------------------------------------------------------------------ Kaplan–Meier

KM_A = kaplan_meier([30, 61, 61, 120, 183, 200, 365, 400], [1, 1, 0, 0, 1, 0, 1, 0])
KM_B = kaplan_meier([20, 40, 90, 90, 150, 365], [1, 1, 1, 0, 0, 0])
AT = [0, 90, 180, 365]


@pytest.fixture(scope="module")
def km_fig():
    return km_figure([km_curve("Remission", KM_A), km_curve("No remission", KM_B)], AT, "PFS")


def test_km_ids_per_curve_and_numbers_at_risk(km_fig):
    ids = svg_ids(km_fig)
    assert [i for i in ids if i.startswith("km-")] == ["km-remission", "km-no-remission"]
    assert {"km_ci-remission", "km_ci-no-remission", "km_censor-remission", "km_censor-no-remission"} <= set(ids)
    at_risk = [i for i in ids if i.startswith("km_atrisk-")]
    assert len(at_risk) == 2 * len(AT)
    assert [by_gid(km_fig, f"km_atrisk-remission-{j}").get_text() for j in range(4)] == ["8", "5", "4", "2"]
    assert [by_gid(km_fig, f"km_atrisk-no-remission-{j}").get_text() for j in range(4)] == ["6", "4", "1", "1"]
    assert [by_gid(km_fig, f"km_atrisk-remission-{j}").get_position()[0] for j in range(4)] == AT


def test_km_steps_are_the_table_and_ticks_mark_censorings(km_fig):
    line = by_gid(km_fig, "km-remission")
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_xdata()) == list(KM_A.time_days)
    assert list(line.get_ydata()) == list(KM_A.survival)
    ticks = by_gid(km_fig, "km_censor-remission")
    x = np.asarray(ticks.get_xdata())
    assert sorted(set(x[~np.isnan(x)])) == [61.0, 120.0, 200.0, 400.0]
    assert by_gid(km_fig, "km-remission").get_linestyle() != by_gid(km_fig, "km-no-remission").get_linestyle()


def test_km_axes_legend_and_table(km_fig):
    ax, table = km_fig.axes
    assert ax.get_xlabel() == "Days since implant"
    assert list(ax.get_xticks()) == AT
    texts = legend_texts(km_fig)
    assert texts[0] == "Remission (n = 8, median 365 days)"
    assert texts[1] == "No remission (n = 6, median 90 days)"
    assert "95 % confidence band" in texts and "Censored" in texts
    assert table.get_title(loc="left") == "Number at risk"
    assert [t.get_text() for t in table.get_yticklabels()] == ["Remission", "No remission"]


def test_km_median_not_reached_is_said():
    km = kaplan_meier([100, 200, 300], [1, 0, 0])
    fig = km_figure([km_curve("A", km)], [0, 100], "t")
    assert legend_texts(fig)[0] == "A (n = 3, median not reached)"


def test_km_band_of_a_large_cohort_stays_within_tolerance_of_the_exact_interval():
    rng = np.random.default_rng(3)
    km = kaplan_meier(rng.exponential(500, 5000).round(1), rng.random(5000) < 0.6)
    fig = km_figure([km_curve("Big", km)], [0, 365], "t")
    band = by_gid(fig, "km_ci-big")
    verts = band.get_paths()[0].vertices
    assert len(verts) < 4 * len(km.time_days) / 2  # thinned
    t = np.asarray(km.time_days)
    kept_t = np.unique(verts[:, 0])
    # Drawn (step-post through the kept rows) vs exact bounds at every row time.
    rows = np.searchsorted(t, kept_t)
    idx = rows[np.searchsorted(kept_t, t, side="right") - 1]
    for exact in (np.asarray(km.ci_low), np.asarray(km.ci_high)):
        assert np.max(np.abs(exact[idx] - exact)) <= 0.001 + 1e-12


def test_km_csv_is_the_tables():
    rows = read_csv(km_csv([km_curve("Remission", KM_A), km_curve("No remission", KM_B)]))
    assert rows[0] == ["label", "time_days", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"]
    assert len(rows) - 1 == len(KM_A.time_days) + len(KM_B.time_days)
    assert rows[1] == ["Remission", "0.0", "1.0", "1.0", "1.0", "8", "0", "0"]
    third = rows[3]  # day 61: one event, one censoring
    assert third[0:2] == ["Remission", "61.0"] and third[5:] == ["7", "1", "1"]
    assert float(third[2]) == KM_A.survival[2] and float(third[3]) == KM_A.ci_low[2]


@pytest.mark.parametrize(
    ("curves", "times", "message"),
    [
        ([], [0], r"curves: got 0 items; allowed: at least one KmCurve"),
        ([km_curve("A", KM_A), km_curve("a", KM_B)], [0], r"curves\[1\]: 'a' repeats .*'km-a'"),
        ([km_curve("A", KM_A)], [0, 90, 90], r"times_at_risk_days: got \[0.0, 90.0, 90.0\]; allowed: strictly increasing days"),
        ([km_curve("A", KM_A)], [], r"times_at_risk_days: got 0 values"),
        ([km_curve("A", KM_A)], [-1, 90], r"times_at_risk_days\[0\] = -1.0; allowed: finite days ≥ 0"),
    ],
    ids=["empty", "duplicate", "not-increasing", "no-times", "negative"],
)
def test_bad_km_input_raises(curves, times, message):
    with pytest.raises(PlotInputError, match=message):
        km_figure(curves, times, "t")


def test_km_curve_is_plain_arrays_checked_row_by_row():
    ok = dict(time_days=(0, 10), survival=(1.0, 0.5), ci_low=(1.0, 0.2), ci_high=(1.0, 0.8), n_at_risk=(2, 2),
              events=(0, 1), censored=(0, 1), n_subjects=2, median_days=10.0)
    assert KmCurve("A", **ok).at_risk([0, 10, 11]) == [2, 2, 0]
    for change, message in (
        ({"survival": (1.0,)}, r"KmCurve 'A': survival has 1 rows; allowed: one per time \(2\)"),
        ({"ci_high": (1.0, 1.5)}, r"KmCurve 'A': ci_high\[1\] = 1.5; allowed: a proportion in 0–1"),
        ({"time_days": (10, 0)}, r"KmCurve 'A': time_days = \[10.0, 0.0\]; allowed: increasing days"),
        ({"events": (0, -1)}, r"KmCurve 'A': events = \(0, -1\); allowed: one integer ≥ 0 per time \(2\)"),
        ({"time_days": ([1, 2], [1, 0])}, r"KmCurve 'A': time_days has shape \(2, 2\)"),
    ):
        with pytest.raises(PlotInputError, match=message):
            KmCurve("A", **{**ok, **change})


# ---------------------------------------------------------------------------------------------------- Tg

TG = [
    TgSeries("S-02", (-7, 61, 183, 365), (120.0, 15.0, 0.2, 0.2), ("=", "=", "<", "<")),
    TgSeries("S-01", (-7, 61, 183), (300.0, 900.0, 1000.0), ("=", "=", ">")),
]


@pytest.fixture(scope="module")
def tg_fig():
    return tg_figure(TG, 0.2, "Thyroglobulin")


def test_tg_log_axis_lines_and_loq(tg_fig):
    ax = tg_fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ids_with(tg_fig, "tg-") == ["tg-s-01", "tg-s-02"]
    loq = by_gid(tg_fig, "tg_loq")
    assert list(loq.get_ydata()) == [0.2, 0.2] and loq.get_linestyle() == "--"
    assert "LoQ 0.2 ng/mL" in legend_texts(tg_fig)
    assert "Thyroglobulin (ng/mL" in ax.get_ylabel()


def test_tg_censored_markers_are_distinct_and_at_the_limit(tg_fig):
    measured, below, above = (by_gid(tg_fig, g) for g in ("tg_measured", "tg_below", "tg_above"))
    assert (measured.get_marker(), below.get_marker(), above.get_marker()) == ("o", "v", "^")
    assert measured.get_markerfacecolor() != "white"
    assert below.get_markerfacecolor() == "white" and above.get_markerfacecolor() == "white"  # open markers
    assert list(below.get_ydata()) == [0.2, 0.2] and list(below.get_xdata()) == [183.0, 365.0]
    assert list(above.get_ydata()) == [1000.0]
    assert len(measured.get_xdata()) == 4
    assert legend_texts(tg_fig)[:3] == [
        "Measured", "Below the limit (“<”, drawn at the limit)", "Above the limit (“>”, drawn at the limit)",
    ]


def test_tg_without_loq_has_no_loq_line_and_qualifiers_default_to_measured():
    fig = tg_figure([TgSeries("S-1", (0, 30), (5.0, 2.0))], None, "t")
    assert "tg_loq" not in svg_ids(fig)
    assert "tg_below" not in svg_ids(fig) and len(by_gid(fig, "tg_measured").get_xdata()) == 2


def test_tg_csv_and_cap():
    rows = read_csv(tg_csv(TG))
    assert rows[0] == ["patient", "day", "value_ng_ml", "qualifier"]
    assert rows[1:4] == [["S-01", "-7.0", "300.0", "="], ["S-01", "61.0", "900.0", "="], ["S-01", "183.0", "1000.0", ">"]]
    assert len(rows) - 1 == 7
    fig = tg_figure(TG, 0.2, "Tg", PlotSettings(max_series=1))
    assert ids_with(fig, "tg-") == ["tg-s-01"] and fig.axes[0].get_title() == "Tg (showing 1 of 2 patients)"


def test_tg_accepts_thyroglobulin_qualifiers():
    from assessment.thyroglobulin import Qualifier

    series = TgSeries("S-1", (0, 30), (5.0, 0.2), (Qualifier.EQ, Qualifier.LT))
    assert series.qualifiers == ("=", "<")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": (0,), "values_ng_ml": (0.0,)}, r"values_ng_ml\[0\] = 0.0; allowed: a finite Tg > 0 ng/mL \(log axis\)"),
        ({"days": (0,), "values_ng_ml": (1.0,), "qualifiers": ("<=",)}, r"qualifiers\[0\] = '<='; allowed: =, <, >"),
        ({"days": (0, 1), "values_ng_ml": (1.0,)}, r"days, values_ng_ml, qualifiers have 2, 1, 1 values"),
        ({"days": (5, 1), "values_ng_ml": (1.0, 2.0)}, r"days\[1\] = 1.0 is before days\[0\] = 5.0"),
    ],
    ids=["zero", "qualifier", "lengths", "days-order"],
)
def test_bad_tg_series_raise(kwargs, message):
    with pytest.raises(PlotInputError, match=r"TgSeries 'S-9': " + message):
        TgSeries("S-9", **kwargs)


def test_bad_loq_raises():
    with pytest.raises(PlotInputError, match=r"loq_ng_ml: got -0.2; allowed: None or a positive number of ng/mL"):
        tg_figure(TG, -0.2, "t")


# ------------------------------------------------------------------------------------------------ volume

BASE = tuple(float(v) for v in range(1, 11))  # 1 … 10 cm³
SIX = (0.5, 1.0, 1.5, 2.0, 30.0)


@pytest.fixture(scope="module")
def volume_fig():
    return volume_figure([VolumeGroup("Baseline", BASE), VolumeGroup("6 months", SIX)], "Volume")


def test_volume_boxes_use_type_6_quartiles_and_tukey_whiskers(volume_fig):
    assert ids_with(volume_fig, "volume-") == ["volume-baseline", "volume-6-months"]
    box = by_gid(volume_fig, "volume-baseline").get_path().vertices
    # Type 6 (SPSS): q1 at rank 0.25·11 = 2.75, q3 at 8.25, median 5.5.
    assert (box[:, 1].min(), box[:, 1].max()) == pytest.approx((2.75, 8.25))
    assert list(by_gid(volume_fig, "volume_median-baseline").get_ydata()) == [5.5, 5.5]
    rows = read_csv(volume_csv([VolumeGroup("6 months", SIX)]))
    stats = {r[1]: float(r[2]) for r in rows[1:6]}
    # SIX: q1 0.75, q3 16.0 (type 6), IQR 15.25 → 30 is within 1.5 IQR of q3, whisker_high 30.
    assert stats == pytest.approx({"whisker_low": 0.5, "q1": 0.75, "median": 1.5, "q3": 16.0, "whisker_high": 30.0})


def test_volume_quartiles_agree_with_the_statistics_core():
    from assessment.stats import quantile

    rows = read_csv(volume_csv([VolumeGroup("B", (3.1, 0.4, 7.7, 2.2, 5.0, 9.9, 1.3))]))
    stats = {r[1]: float(r[2]) for r in rows[1:6]}
    values = [3.1, 0.4, 7.7, 2.2, 5.0, 9.9, 1.3]
    assert stats["q1"] == pytest.approx(quantile(values, 0.25))
    assert stats["q3"] == pytest.approx(quantile(values, 0.75))


def test_volume_points_then_outliers_only_for_large_groups(volume_fig):
    dots = by_gid(volume_fig, "volume_points-baseline")
    assert sorted(dots.get_ydata()) == list(BASE)
    assert all(0.2 < x < 0.45 for x in dots.get_xdata())  # beside the box, deterministic jitter
    big = VolumeGroup("Big", tuple(float(v) for v in range(1, 21)) + (200.0,))
    fig = volume_figure([big], "t", PlotSettings(max_scatter_artists=10))
    assert "volume_points-big" not in svg_ids(fig)
    assert list(by_gid(fig, "volume_outliers-big").get_ydata()) == [200.0]
    assert fig.axes[0].get_xticklabels()[0].get_text() == "Big\n(n = 21)"


def test_volume_csv_lists_statistics_then_every_volume():
    rows = read_csv(volume_csv([VolumeGroup("Baseline", BASE), VolumeGroup("6 months", SIX)]))
    assert rows[0] == ["timepoint", "statistic", "value_cm3"]
    assert [r[1] for r in rows[1:6]] == ["whisker_low", "q1", "median", "q3", "whisker_high"]
    assert [float(r[2]) for r in rows[6:16]] == list(BASE)
    assert len(rows) - 1 == 5 + 10 + 5 + 5


@pytest.mark.parametrize(
    ("volumes", "message"),
    [((), r"volumes_cm3 has 0 values"), ((1.0, -0.1), r"volumes_cm3\[1\] = -0.1; allowed: finite volumes ≥ 0 cm³")],
    ids=["empty", "negative"],
)
def test_bad_volume_groups_raise(volumes, message):
    with pytest.raises(PlotInputError, match=r"VolumeGroup '6 months': " + message):
        VolumeGroup("6 months", volumes)


# ------------------------------------------------------------------------------------------ dose–response

DOSE = [
    DoseResponsePoint("S-01", 160.0, -45.0, "PR"),
    DoseResponsePoint("S-02", 90.0, 25.0, "PD"),
    DoseResponsePoint("S-03", 210.0, -100.0, "CR"),
    DoseResponsePoint("S-04", 130.0, -5.0, "SD"),
]


@pytest.fixture(scope="module")
def dose_fig():
    return dose_response_figure(DOSE, 145.0, "D90 vs response")


def test_dose_one_artist_per_point_with_the_category_marker(dose_fig):
    assert ids_with(dose_fig, "dose-") == ["dose-s-01", "dose-s-02", "dose-s-03", "dose-s-04"]
    point = by_gid(dose_fig, "dose-s-02")
    assert (list(point.get_xdata()), list(point.get_ydata())) == ([90.0], [25.0])
    assert len({by_gid(dose_fig, f"dose-s-0{i}").get_marker() for i in range(1, 5)}) == 4
    assert by_gid(dose_fig, "dose_rx").get_xdata()[0] == 145.0
    assert "Rx 145 Gy" in [t.get_text() for t in dose_fig.axes[0].texts]
    assert by_gid(dose_fig, "dose_pd").get_ydata()[0] == 20.0
    assert dose_fig.axes[0].get_xlabel() == "Post-implant D90 (Gy)"


def test_dose_large_cohort_uses_one_artist_per_category():
    points = [DoseResponsePoint(f"P-{i:02d}", 100.0 + i, -i * 3.0, ("CR", "PR", "SD")[i % 3]) for i in range(12)]
    fig = dose_response_figure(points, None, "t", PlotSettings(max_scatter_artists=11))
    ids = svg_ids(fig)
    assert not [i for i in ids if i.startswith("dose-")]
    assert [i for i in ids if i.startswith("dose_group-")] == ["dose_group-cr", "dose_group-pr", "dose_group-sd"]
    assert len(by_gid(fig, "dose_group-pr").get_xdata()) == 4
    assert "dose_rx" not in ids


def test_dose_csv():
    rows = read_csv(dose_response_csv(DOSE))
    assert rows[0] == ["patient", "d90_gy", "best_change_pct", "best_response"]
    assert rows[1] == ["S-01", "160.0", "-45.0", "PR"] and len(rows) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("S-9", -1.0, 0.0, "SD"), r"DoseResponsePoint 'S-9': d90_gy = -1.0; allowed: a finite dose ≥ 0 Gy"),
        (("S-9", 100.0, -120.0, "SD"), r"best_change_pct = -120.0; allowed: a finite % ≥ −100"),
        (("S-9", 100.0, 0.0, "iCR"), r"best_response = 'iCR'; allowed: CR, PR, SD, PD, NE"),
    ],
)
def test_bad_dose_points_raise(args, message):
    with pytest.raises(PlotInputError, match=message):
        DoseResponsePoint(*args)


def test_bad_prescription_raises():
    with pytest.raises(PlotInputError, match=r"prescription_gy: got 0; allowed: None or a positive number of Gy"):
        dose_response_figure(DOSE, 0, "t")


# ------------------------------------------------------------------------------------------------ all of them

BUILDERS = {
    "rate": lambda: remission_bars_figure(RATES, "Rates"),
    "spider": lambda: spider_figure(SPIDER, "Spider"),
    "swimmer": lambda: swimmer_figure(SWIM, "Swimmer"),
    "km": lambda: km_figure([km_curve("A", KM_A), km_curve("B", KM_B)], AT, "KM"),
    "tg": lambda: tg_figure(TG, 0.2, "Tg ≥ LoQ, ng/mL"),
    "volume": lambda: volume_figure([VolumeGroup("Baseline", BASE), VolumeGroup("6 months", SIX)], "Volume (cm³)"),
    "dose": lambda: dose_response_figure(DOSE, 145.0, "¹²⁵I D90"),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_svg_is_deterministic_well_formed_and_titled(name):
    a = svg_inline(BUILDERS[name]())
    assert a == svg_inline(BUILDERS[name]())
    root = ET.fromstring(a)
    assert root.get("role") == "img" and root.get("aria-label")
    ids = [g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id")]
    assert len(ids) == len(set(ids))  # no id twice within a figure


@pytest.mark.parametrize("name", list(BUILDERS))
def test_png_and_pdf_render_without_missing_glyphs(name):
    fig = BUILDERS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render(fig, "png").startswith(b"\x89PNG")
        assert render(fig, "pdf").startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_series": 0}, r"max_series: got 0; allowed: an integer ≥ 1"),
     ({"max_scatter_artists": -1}, r"max_scatter_artists: got -1; allowed: an integer ≥ 0")],
)
def test_new_settings_are_validated(kwargs, message):
    with pytest.raises(PlotInputError, match=message):
        PlotSettings(**kwargs)


def test_builders_refuse_a_blank_title_and_wrong_item_types():
    with pytest.raises(PlotInputError, match=r"title: got ''"):
        spider_figure(SPIDER, "")
    with pytest.raises(PlotInputError, match=r"rows\[0\]: got tuple; allowed: SwimmerRow"):
        swimmer_figure([("S-1", 100)], "t")

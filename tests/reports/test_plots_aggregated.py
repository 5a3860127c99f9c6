"""Large cohorts (more than ``PlotSettings.aggregate_above`` items): the waterfall in bins, the spider / Tg /
dose–response figures as median and quantile bands, the swimmer at the percentiles of follow-up, the volume
outliers once per distinct value; each caption sentence (``aggregation_note``); the CSVs keep every item."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from reports import plots
from reports.plots import (
    DoseResponsePoint,
    PlotInputError,
    PlotSettings,
    SpiderSeries,
    TgSeries,
    VolumeGroup,
    WaterfallRow,
)
from tests.reports.cohort_inputs import KM_DAYS, figures, km_curves, swimmer_rows, waterfall_rows


def by_gid(fig, gid: str):
    found = [a for ax in fig.axes for a in ax.findobj() if a.get_gid() == gid]
    assert len(found) == 1, (gid, found)
    return found[0]


def gids(fig) -> set[str]:
    return {a.get_gid() for ax in fig.axes for a in ax.findobj() if a.get_gid()}


def type6(values, p: float) -> float:
    """Hyndman–Fan type 6 by hand: position (n + 1)·p, clamped to the ends, linear between order statistics."""
    v = sorted(values)
    h = (len(v) + 1) * p
    if h <= 1:
        return v[0]
    if h >= len(v):
        return v[-1]
    lo = math.floor(h)
    return v[lo - 1] + (h - lo) * (v[lo] - v[lo - 1])


# ------------------------------------------------------------------------------------------------ waterfall

def test_waterfall_bins_take_the_most_frequent_response_and_span_their_bars():
    # 6 bars, at most 2 bins → 2 bins of 3; sorted: 50 PD, 40 PD, 30 SD | −10 SD, −20 PR, −40 PR
    rows = [WaterfallRow("a", 30.0, "SD"), WaterfallRow("b", -40.0, "PR"), WaterfallRow("c", 50.0, "PD"),
            WaterfallRow("d", -10.0, "SD"), WaterfallRow("e", 40.0, "PD"), WaterfallRow("f", -20.0, "PR")]
    fig = plots.waterfall_figure(rows, "W", PlotSettings(aggregate_above=2))
    assert not any(g.startswith("bar-") for g in gids(fig))  # no bar per patient
    assert {g for g in gids(fig) if g.startswith("waterfall_bins-")} == {"waterfall_bins-pd", "waterfall_bins-pr"}
    [pd] = by_gid(fig, "waterfall_bins-pd").get_paths()
    [pr] = by_gid(fig, "waterfall_bins-pr").get_paths()
    assert (pd.vertices[:, 0].min(), pd.vertices[:, 0].max()) == (-0.5, 2.5)
    assert (pd.vertices[:, 1].min(), pd.vertices[:, 1].max()) == (0.0, 50.0)  # from the 0 line to the highest bar
    assert (pr.vertices[:, 0].min(), pr.vertices[:, 0].max()) == (2.5, 5.5)
    assert (pr.vertices[:, 1].min(), pr.vertices[:, 1].max()) == (-40.0, 0.0)  # tie SD 1 / PR 2 → PR
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["PR (partial response): 2", "SD (stable disease): 2", "PD (progressive disease): 2"]


@hsettings(max_examples=30, deadline=None)
@given(n=st.integers(2, 400), limit=st.integers(1, 60))
def test_waterfall_bins_cover_every_bar_once_in_at_most_the_limit(n, limit):
    k, bins = plots._bins_of(n, PlotSettings(aggregate_above=limit))
    assert bins <= limit and k * (bins - 1) < n <= k * bins


def test_large_waterfall_outline_is_exactly_the_bars_envelope():
    rows = waterfall_rows(2000)
    fig = plots.waterfall_figure(rows, "W")
    verts = np.vstack([p.vertices for g in gids(fig) if g.startswith("waterfall_bins-")
                       for p in by_gid(fig, g).get_paths()])
    changes = [r.best_change_pct for r in rows]
    assert verts[:, 1].max() == max(changes) and verts[:, 1].min() == min(changes)
    assert (verts[:, 0].min(), verts[:, 0].max()) == (-0.5, 1999.5)
    svg = plots.svg_inline(fig)
    assert len(svg) < 200_000 and "<pattern" not in svg  # no hatch patterns
    assert len(plots.waterfall_csv(rows).splitlines()) == 2001  # the CSV keeps every patient


# ---------------------------------------------------------------------------------------- spider and Tg

def test_spider_bands_are_the_type_6_quantiles_per_30_day_interval():
    series = [SpiderSeries(f"P{i:02d}", (10.0 + i, 100.0), (float(i + 1), -5.0), ("SD", "SD")) for i in range(12)]
    series += [SpiderSeries(f"Q{i:02d}", (200.0,), (0.0,), ("SD",)) for i in range(9)]  # 9 values: left out
    fig = plots.spider_figure(series, "S", PlotSettings(aggregate_above=20))
    assert not any(g.startswith("spider-") for g in gids(fig))
    median = by_gid(fig, "spider_median")
    # day 0 (baseline 0 %), interval 0–30 (values 1…12), interval 90–120 (twelve −5 %); 180–210 has 9: dropped
    assert list(median.get_xdata()) == [0.0, 15.0, 105.0]
    assert list(median.get_ydata()) == [0.0, 6.5, -5.0]
    iqr = by_gid(fig, "spider_iqr").get_paths()[0].vertices
    assert type6(range(1, 13), 0.25) == 3.25 and 3.25 in iqr[:, 1] and type6(range(1, 13), 0.75) in iqr[:, 1]


@hsettings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-60, 400), st.floats(-100, 300, allow_nan=False)), min_size=1, max_size=200))
def test_interval_quantiles_agree_with_type_6_by_hand(points):
    days = np.array([float(d) for d, _ in points])
    values = np.array([v for _, v in points])
    x, q, counts = plots._interval_quantiles(days, values)
    groups: dict[int, list[float]] = {}
    for d, v in points:
        groups.setdefault(math.floor(d / 30), []).append(v)
    want = {b: vs for b, vs in groups.items() if len(vs) >= 10}
    assert list(x) == [(b + 0.5) * 30 for b in sorted(want)]
    assert list(counts) == [len(want[b]) for b in sorted(want)]
    for row, b in zip(q, sorted(want), strict=True):
        assert row == pytest.approx([type6(want[b], p / 100) for p in (10, 25, 50, 75, 90)], abs=1e-9)


def test_tg_bands_take_quantiles_on_the_log_scale_and_keep_the_loq():
    series = [TgSeries(f"P{i:02d}", (40.0,), (10 ** (i / 10),), ("<",) if i == 0 else ("=",)) for i in range(11)]
    fig = plots.tg_figure(series, 1.0, "Tg", PlotSettings(aggregate_above=10))
    median = by_gid(fig, "tg_median")
    assert list(median.get_xdata()) == [45.0]
    assert median.get_ydata()[0] == pytest.approx(10 ** 0.5)  # geometric: the median of the logs
    assert fig.axes[0].get_yscale() == "log" and by_gid(fig, "tg_loq") is not None
    assert not any(g.startswith("tg-") for g in gids(fig))


# ------------------------------------------------------------------------------------------------ swimmer

def test_swimmer_of_a_large_cohort_draws_the_percentiles_of_follow_up():
    rows = swimmer_rows(1000)
    fig = plots.swimmer_figure(rows, "Swim")
    drawn = sorted(g for g in gids(fig) if g.startswith("swim-"))
    ordered = sorted(rows, key=lambda r: (-r.last_follow_up_day, r.patient_label))
    want = [ordered[i] for i in np.unique(np.round(np.linspace(0, 999, 101)).astype(int))]
    assert drawn == sorted(f"swim-{plots._slug(r.patient_label)}" for r in want) and len(drawn) == 101
    ends = sorted(b.get_width() for b in fig.axes[0].patches if (b.get_gid() or "").startswith("swim-"))
    assert ends[0] == ordered[-1].last_follow_up_day and ends[-1] == ordered[0].last_follow_up_day
    assert fig.get_label() == "Swim"  # the title stays; the y axis says which rows are drawn
    assert "one per percentile of follow-up" in fig.axes[0].get_ylabel()
    assert len({r[0] for r in [line.split(",") for line in plots.swimmer_csv(rows).splitlines()[1:]]}) == 1000


# ------------------------------------------------------------------------------------------------ Kaplan–Meier

@pytest.mark.parametrize(("n", "spacing"), [(300, 0.001), (3000, 0.01)])
def test_km_censoring_marks_are_thinned_to_1_pct_of_the_axes_above_the_limit(n, spacing):
    [curve] = km_curves(n)
    fig = plots.km_figure([curve], KM_DAYS, "KM")
    xs = by_gid(fig, "km_censor-all-patients").get_xdata()[::3]
    ys = by_gid(fig, "km_censor-all-patients").get_ydata()[::3] + 0.018  # each tick's centre: S at that time
    x_max = max(curve.time_days[-1], KM_DAYS[-1])
    steps = np.column_stack((np.abs(np.diff(xs)) / x_max, np.abs(np.diff(ys))))
    assert (steps.max(axis=1) > spacing).all()  # no mark within the spacing of the previous one
    censored = [t for t, k in zip(curve.time_days, curve.censored, strict=True) if k]
    assert set(xs) <= set(censored) and xs[0] == censored[0]
    if n > 300:
        assert len(xs) <= 2 / spacing  # at most ~100 along the time axis (a drop in S may add one)


# --------------------------------------------------------------------------------------------- volume, dose

def test_large_volume_group_draws_each_outlier_value_once_at_the_plot_resolution():
    vols = (10.0,) * 390 + tuple(1000.0 + i * 1e-4 for i in range(5)) + (500.0,) * 5
    fig = plots.volume_figure([VolumeGroup("Baseline", vols)], "V", PlotSettings(aggregate_above=300))
    out = by_gid(fig, "volume_outliers-baseline")
    assert sorted(out.get_ydata()) == pytest.approx([500.0, 1000.0], abs=1050 / 400)
    small = plots.volume_figure([VolumeGroup("Baseline", vols)], "V", PlotSettings(aggregate_above=400))
    assert len(by_gid(small, "volume_points-baseline").get_ydata()) == 400  # up to the limit: every volume a dot


def test_dose_bands_are_quantiles_of_equal_groups_by_d90():
    points = [DoseResponsePoint(f"P{i:03d}", float(i), -i / 10, "SD") for i in range(400)]
    fig = plots.dose_response_figure(points, 120.0, "D")
    median = by_gid(fig, "dose_median")
    assert len(median.get_xdata()) == 20
    assert median.get_xdata()[0] == 9.5 and median.get_ydata()[0] == pytest.approx(-0.95)  # D90 0…19
    assert median.get_xdata()[-1] == 389.5 and by_gid(fig, "dose_rx") is not None
    assert not any(g.startswith("dose-") or g.startswith("dose_group-") for g in gids(fig))
    assert len(plots.dose_response_csv(points).splitlines()) == 401


# ------------------------------------------------------------------------------------- every figure at scale

@pytest.fixture(scope="module")
def large():
    return figures(3000)


@pytest.mark.parametrize("name", ["waterfall", "spider", "swimmer", "tg", "volume", "dose"])
def test_every_aggregated_figure_stays_under_200_kb_with_unique_ids(large, name):
    build, _ = large[name]
    svg = plots.svg_inline(build(), "t", "d")
    assert len(svg.encode()) < 200_000, len(svg)
    ids = re.findall(r'<g id="([^"]+)"', svg)
    assert len(ids) == len(set(ids))


def test_aggregation_note_says_how_only_above_the_limit():
    ps = PlotSettings(aggregate_above=300)
    assert all(plots.aggregation_note(f, 300, ps) == "" for f in plots.AGGREGATED_FIGURES)
    assert plots.aggregation_note("waterfall", 10_000, ps).startswith(
        "10 000 patients, more than 300: shown as 295 bins of 34 patients in the sorted order")
    assert "the 101 lesions at the percentiles of follow-up" in plots.aggregation_note(
        "swimmer", 5000, PlotSettings(unit="lesion"))
    assert "per 30-day interval (intervals with at least 10 values)" in plots.aggregation_note("tg", 301, ps)
    assert "in 20 groups of equal size by D90" in plots.aggregation_note("dose", 301, ps)
    assert plots.aggregation_note("km", 301, ps).startswith("301 patients, more than 300: a censoring mark is drawn")
    with pytest.raises(PlotInputError,
                       match=r"figure: got 'remission'; allowed: waterfall, spider, swimmer, km, tg, volume, dose"):
        plots.aggregation_note("remission", 10_000, ps)
    with pytest.raises(PlotInputError, match=r"n_items: got -1; allowed: an integer ≥ 0"):
        plots.aggregation_note("tg", -1, ps)


def test_aggregate_above_is_validated():
    with pytest.raises(PlotInputError, match=r"aggregate_above: got 0; allowed: an integer ≥ 1"):
        PlotSettings(aggregate_above=0)


# ------------------------------------------------------------------------ input checks (fast path vs numpy)

_num = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-500, 500))


@hsettings(max_examples=200, deadline=None)
@given(days=st.lists(_num, min_size=1, max_size=5), change=st.lists(_num, min_size=1, max_size=5),
       base=st.integers(-30, 0))
def test_spider_series_accepts_exactly_what_the_numpy_checks_accept(days, change, base):
    n = min(len(days), len(change))
    days, change = days[:n], change[:n]
    d, c = np.asarray(days, dtype=float), np.asarray(change, dtype=float)
    valid = bool(np.isfinite(d).all() and (d > base).all() and np.isfinite(c).all() and (c >= -100).all()
                 and (np.diff(d) > 0).all())
    try:
        SpiderSeries("P", days, change, ("SD",) * n, baseline_day=base)
    except PlotInputError as exc:
        assert not valid and str(exc).startswith("SpiderSeries 'P': ")
    else:
        assert valid


@hsettings(max_examples=200, deadline=None)
@given(days=st.lists(_num, min_size=1, max_size=5), values=st.lists(_num, min_size=1, max_size=5))
def test_tg_series_accepts_exactly_what_the_numpy_checks_accept(days, values):
    n = min(len(days), len(values))
    days, values = days[:n], values[:n]
    d, v = np.asarray(days, dtype=float), np.asarray(values, dtype=float)
    valid = bool(np.isfinite(d).all() and np.isfinite(v).all() and (v > 0).all() and (np.diff(d) >= 0).all())
    try:
        TgSeries("P", days, values)
    except PlotInputError as exc:
        assert not valid and str(exc).startswith("TgSeries 'P': ")
    else:
        assert valid

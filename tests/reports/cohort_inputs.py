"""Deterministic synthetic inputs for every dashboard figure of ``reports.plots`` at a given cohort size (plain
data, no database): the small-cohort identity test and the aggregated-figure tests draw from them.

The shapes follow the dashboard (``assessment.dashboard``): best changes from −100 % to about +80 % with the
RECIST category mostly following them, 1–6 visits per patient over up to 3 years, Tg on a log scale with a share
of "<" results at 0.2 ng/mL, skewed lesion volumes, D90 around a 120 Gy prescription."""

from __future__ import annotations

import numpy as np

from assessment.dashboard_figures import km_curve
from assessment.survival import kaplan_meier
from reports import plots
from reports.plots import (
    DoseResponsePoint,
    RateBar,
    SpiderSeries,
    SwimmerRow,
    TgSeries,
    VolumeGroup,
    WaterfallRow,
)

CATEGORIES = ("CR", "PR", "SD", "PD", "NE")


def _category(change: float, rng: np.random.Generator) -> str:
    if rng.random() < 0.05:
        return "NE"
    if change <= -100.0:
        return "CR"
    if change <= -30.0:
        return "PR"
    if change >= 20.0 or rng.random() < 0.03:  # a few PD by a new lesion at any change
        return "PD"
    return "SD"


def label(i: int) -> str:
    return f"S-{i:05d}"


def waterfall_rows(n: int, seed: int = 1) -> list[WaterfallRow]:
    rng = np.random.default_rng(seed)
    change = np.clip(np.round(rng.normal(-25.0, 35.0, n), 1), -100.0, None)
    return [WaterfallRow(label(i), float(c), _category(float(c), rng)) for i, c in enumerate(change)]


def spider_series(n: int, seed: int = 2) -> list[SpiderSeries]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(1, 7))
        days = np.cumsum(rng.integers(40, 200, k)).astype(float)
        slope = rng.normal(-0.04, 0.06)
        change = np.clip(np.round(slope * days + rng.normal(0, 8, k), 1), -100.0, None)
        out.append(SpiderSeries(label(i), tuple(days), tuple(float(c) for c in change),
                                tuple(_category(float(c), rng) for c in change),
                                baseline_day=float(-rng.integers(0, 20))))
    return out


def swimmer_rows(n: int, seed: int = 3) -> list[SwimmerRow]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        end = float(rng.integers(0, 1100))
        days = np.sort(rng.uniform(0, end, int(rng.integers(0, 5)))).round(0)
        events = [(float(d), CATEGORIES[int(rng.integers(0, 5))]) for d in days]
        if rng.random() < 0.05:
            events.append((float(round(end * rng.random())), "NEW_THERAPY"))
        ended = rng.random() < 0.2
        if ended:
            events.append((end, ("COMPLETED", "LOST", "WITHDRAWN", "DIED")[int(rng.integers(0, 4))]))
        out.append(SwimmerRow(label(i), end, tuple(events), ongoing=not ended))
    return out


def km_curves(n: int, seed: int = 4) -> list:
    rng = np.random.default_rng(seed)
    times = rng.exponential(700.0, n).round(0) + 1
    follow = rng.uniform(30, 1100, n).round(0)
    events = times <= follow
    km = kaplan_meier([float(t) for t in np.minimum(times, follow)], [bool(e) for e in events])
    return [km_curve("All patients", km)]


def tg_series(n: int, seed: int = 5) -> list[TgSeries]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(1, 7))
        days = np.sort(rng.integers(-30, 1100, k)).astype(float)
        level = rng.lognormal(0.5, 1.5)
        values = np.round(level * np.exp(rng.normal(0, 0.4, k) - days / 900.0), 2)
        q = np.where(values < 0.2, "<", np.where(values > 500, ">", "="))
        values = np.clip(values, 0.2, 500)
        out.append(TgSeries(label(i), tuple(days), tuple(float(v) for v in values), tuple(str(x) for x in q)))
    return out


def volume_groups(n: int, seed: int = 6) -> list[VolumeGroup]:
    rng = np.random.default_rng(seed)
    groups = []
    for j, tp in enumerate(("Baseline", "2 months", "6 months", "12 months")):
        m = max(1, n - j * n // 5)
        groups.append(VolumeGroup(tp, tuple(float(v) for v in np.round(rng.lognormal(1.0 - 0.2 * j, 1.0, m), 2))))
    return groups


def dose_points(n: int, seed: int = 7) -> list[DoseResponsePoint]:
    rng = np.random.default_rng(seed)
    d90 = np.round(rng.normal(125.0, 25.0, n).clip(20, None), 1)
    change = np.clip(np.round(-0.5 * (d90 - 100) + rng.normal(0, 25, n), 1), -100.0, None)
    return [DoseResponsePoint(label(i), float(d), float(c), _category(float(c), rng))
            for i, (d, c) in enumerate(zip(d90, change, strict=True))]


def rate_bars(n: int) -> list[RateBar]:
    from assessment.stats import proportion_ci

    out = []
    for k, (tp, frac) in enumerate((("2 months", 0.8), ("6 months", 0.7), ("12 months", 0.6))):
        big_n = max(1, n - k * n // 6)
        for measure, f in (("Remission (CR+PR+SD)", frac), ("ORR (CR+PR)", frac / 2)):
            num = int(round(f * big_n))
            p = proportion_ci(num, big_n)
            out.append(RateBar(tp, measure, num, big_n, p.ci_low_pct, p.ci_high_pct))
    return out


KM_DAYS = (0, 90, 180, 270, 365, 540, 730)


def figures(n: int, settings: plots.PlotSettings = plots.DEFAULT_SETTINGS) -> dict[str, tuple]:
    """Per dashboard figure, ``(build, csv)`` callables on the inputs of an ``n``-patient cohort."""
    w, s, sw, km, tg, vol, dose, rate = (waterfall_rows(n), spider_series(n), swimmer_rows(n), km_curves(n),
                                         tg_series(n), volume_groups(n), dose_points(n), rate_bars(n))
    return {
        "remission": (lambda: plots.remission_bars_figure(rate, "Remission", settings),
                      lambda: plots.remission_bars_csv(rate)),
        "waterfall": (lambda: plots.waterfall_figure(w, "Waterfall", settings), lambda: plots.waterfall_csv(w)),
        "spider": (lambda: plots.spider_figure(s, "Spider", settings), lambda: plots.spider_csv(s)),
        "swimmer": (lambda: plots.swimmer_figure(sw, "Swimmer", settings), lambda: plots.swimmer_csv(sw)),
        "km": (lambda: plots.km_figure(km, KM_DAYS, "KM", settings), lambda: plots.km_csv(km)),
        "tg": (lambda: plots.tg_figure(tg, 0.2, "Tg", settings), lambda: plots.tg_csv(tg)),
        "volume": (lambda: plots.volume_figure(vol, "Volume", settings), lambda: plots.volume_csv(vol)),
        "dose": (lambda: plots.dose_response_figure(dose, 120.0, "Dose", settings),
                 lambda: plots.dose_response_csv(dose)),
    }

"""The one plotting module of SeedTrack: matplotlib figures for the web pages (inline SVG) and the PDF reports.

Plain data in (frozen dataclasses of floats and strings), a :class:`matplotlib.figure.Figure` out; never a
Django model. :func:`render` turns a figure into SVG / PNG / PDF bytes, :func:`svg_inline` into an accessible
``<svg>`` element for a page. Every figure offers the exact data it draws as CSV (:func:`figure_csv`,
:func:`waterfall_csv` and ``<figure>_csv`` for each cohort figure).

Figures: DVH (:func:`dvh_figure`), waterfall (:func:`waterfall_figure`) and the cohort figures of the
physicians' dashboard: remission / response rates per visit (:func:`remission_bars_figure`), spider
(:func:`spider_figure`), swimmer (:func:`swimmer_figure`), Kaplan–Meier with numbers at risk
(:func:`km_figure`, the table of a Kaplan–Meier estimate as plain arrays), thyroglobulin on a log axis
(:func:`tg_figure`), lesion volume per visit (:func:`volume_figure`) and D90 vs best change
(:func:`dose_response_figure`).

SVG ids (``gid``) of the cohort figures: each drawn item (bar, patient line, curve, point, box) has
``<figure>-<label as slug>`` with a hyphen — ``rate-``, ``spider-``, ``swim-``, ``km-``, ``tg-``, ``volume-``,
``dose-`` — and every other artist with an id has ``<figure>_<what>`` with an underscore (``spider_pd``,
``tg_loq``, ``km_ci-<slug>``…). A slug has only ``[a-z0-9-]``, so ``[id^="spider-"]`` counts exactly the
drawn patients. Each builder's docstring lists its ids. Large cohorts: up to ``PlotSettings.aggregate_above``
items (default 300) the spider, swimmer and Tg figures draw at most ``PlotSettings.max_series`` patients and say
"(showing N of M patients)" in the title; above it the waterfall, spider, swimmer, Tg, volume and dose–response
figures are drawn aggregated and the Kaplan–Meier censoring marks thinned (bins, median and quantile bands, the percentiles of follow-up; no per-item ids) and
:func:`aggregation_note` is the sentence a caption adds. Every CSV lists every item.

Rules kept here:

* Object API only (``Figure(...)``, ``fig.add_subplot``), never ``pyplot``: pages render concurrently and
  pyplot keeps global state. Rendering goes through the Agg / SVG / PDF canvases of ``savefig``.
* One figure at a time per process: every builder and :func:`render` hold one lock. matplotlib's font and
  mathtext caches are shared by all threads and are not thread-safe: the dashboard's figures, fetched in
  parallel from a threaded server, failed now and then with "FT_Load_Glyph … invalid outline" or a mathtext
  ParseException (the swimmer plot's event markers are mathtext glyphs).
* A few rcParams must be fixed for correct output and are read by matplotlib at draw time only from the global
  ``matplotlib.rcParams``: ``svg.hashsalt`` (deterministic SVG ids), ``svg.fonttype = "path"`` (glyphs drawn
  as paths, so ¹²⁵I, ³, ≥ do not depend on the browser's fonts), ``pdf.fonttype = 42`` (TrueType in the PDF,
  so its text can be extracted) and the font DejaVu Sans (bundled with matplotlib; has ¹²⁵, ³, ≥, −).
  :func:`_pin_rc` writes these constant values before each figure is built and rendered. It never restores
  anything (``rc_context`` restores, which races between threads), so concurrent renders all see the same
  values.
* Output is deterministic: the same data gives the same bytes in every format (no dates in the metadata).
* Lines are distinguishable without colour (line styles, hatches, text labels), colours are the
  colour-blind-safe Okabe–Ito palette.

Units: doses in Gy, DVH volumes in % of the structure volume (0–100), lesion volumes in cm³, changes in % of
baseline, times in days since the implant, thyroglobulin in ng/mL.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import wraps
from typing import Any, Literal, ParamSpec, TypeVar, cast

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from numpy.typing import NDArray

from common.errors import InputError

__all__ = [
    "AGGREGATED_FIGURES",
    "DEFAULT_SETTINGS",
    "DoseResponsePoint",
    "DvhCurve",
    "KmCurve",
    "LineStyle",
    "PlotInputError",
    "PlotSettings",
    "RateBar",
    "SpiderSeries",
    "SwimmerRow",
    "TgSeries",
    "VolumeGroup",
    "WaterfallRow",
    "aggregation_note",
    "dose_response_csv",
    "dose_response_figure",
    "dvh_figure",
    "dvh_gid",
    "figure_csv",
    "km_csv",
    "km_figure",
    "remission_bars_csv",
    "remission_bars_figure",
    "render",
    "simplify_curve",
    "spider_csv",
    "spider_figure",
    "svg_inline",
    "swimmer_csv",
    "swimmer_figure",
    "tg_csv",
    "tg_figure",
    "volume_csv",
    "volume_figure",
    "waterfall_csv",
    "waterfall_figure",
]

FloatArray = NDArray[np.float64]
Format = Literal["svg", "png", "pdf"]
FORMATS: tuple[str, ...] = ("svg", "png", "pdf")

# Okabe & Ito (2008) colour-blind-safe palette.
_OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

# rcParams that matplotlib reads globally at draw time; see the module docstring.
_PINNED_RC: dict[str, Any] = {
    "svg.hashsalt": "seedtrack",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "font.family": ["DejaVu Sans"],
    "axes.unicode_minus": True,
}


_P = ParamSpec("_P")
_R = TypeVar("_R")
_MATPLOTLIB = threading.RLock()  # re-entrant: svg_inline renders through render, builders may nest


def _one_at_a_time(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Hold the module's matplotlib lock while ``fn`` builds or renders a figure (see "Rules kept here")."""

    @wraps(fn)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _MATPLOTLIB:
            return fn(*args, **kwargs)

    return locked


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class PlotInputError(InputError):
    """Bad input to a figure builder; the message names the field, the value and what is allowed."""


class LineStyle(StrEnum):
    """How a DVH curve is drawn; solid vs dashed keeps pre-plan and post-implant apart without colour."""

    SOLID = "solid"
    DASHED = "dashed"


@dataclass(frozen=True)
class PlotSettings:
    """Presentation settings shared by the figure builders. Every field has the default the pages use.

    figsize_in: figure (width, height) in inches.
    png_dpi: resolution of PNG output (dots per inch); 6.4 × 4.0 in at 150 dpi is 960 × 600 px.
    max_points_per_curve: point budget of one drawn (and CSV-exported) DVH curve, kept unless that would
        cost more than ``max_simplify_tolerance_pct`` [DESIGN DECISION: 500 keeps an SVG of two curves well
        under 150 kB].
    simplify_tolerance_pct: a DVH point is dropped only if the drawn polyline stays within this many
        percentage points of volume of every original point [DESIGN DECISION: 0.2 %]. If the curve would
        still need more than ``max_points_per_curve`` points, the tolerance is doubled until it does not,
        but never beyond ``max_simplify_tolerance_pct``.
    max_simplify_tolerance_pct: accuracy wins over the point budget above this tolerance [DESIGN DECISION:
        0.5 %, so any dose, e.g. the Rx, reads within 0.5 % volume]. With the default budget the cap is
        rarely reached: a cumulative DVH falls by at most 100 %, and each step taller than the tolerance
        costs two points, so at 0.4 % a few hundred points suffice (measured: 0.45 % voxel steps → 436 points
        at 0.2 %, 118 at 0.4 %). It matters for small budgets (e.g. thumbnails).
    high_dose_pct_of_rx: second reference line on the DVH, in % of the prescription (V150 → 150 %).
    dose_axis_max_gy: upper end of the DVH dose axis; None = the largest dose of any curve (the whole
        curve is visible, so the CSV is exactly what can be seen) [DESIGN DECISION].
    pd_guide_pct, pr_guide_pct: waterfall guide lines (RECIST 1.1: PD ≥ +20 %, PR ≤ −30 %; note PD is
        judged against the nadir, the bar shows the best change from baseline).
    max_bar_labels: the waterfall writes the response letters on the bars up to this many patients;
        beyond that they would overlap and only colour, hatch and legend remain [DESIGN DECISION: 60]. The
        swimmer plot writes patient labels on its y axis up to this many patients.
    max_series: the spider, swimmer and Tg figures draw at most this many patients (the first ones in the
        order each documents) and then say "(showing N of M patients)" in the title; their CSV still lists
        all [DESIGN DECISION: 200 — lines stay distinguishable and a 10 000-patient cohort renders in well
        under a second].
    max_scatter_artists: the dose–response figure gives each point its own artist and SVG id up to this many
        points and draws one artist per category above it; the volume figure draws a group's individual
        volumes as dots up to this many per group [DESIGN DECISION: 500].
    unit: what one bar / line / point counts, "patient" or "lesion" (the per-lesion "modified RECIST" mode):
        used in the axis labels ("Lesions (n = …)", "lesion diameter") and in "(showing N of M lesions)".
    aggregate_above: above this many items (bars, lines, rows, points, or volumes of one box) the waterfall,
        spider, swimmer, Tg, volume and dose–response figures draw an aggregated view instead of one artist per
        item, so a 10 000-patient figure builds and renders in well under half a second and stays under 200 kB
        of SVG; up to it they draw exactly what they drew before. :func:`aggregation_note` gives the sentence
        a caption adds; the CSVs list every item at any size [DESIGN DECISION: 300, the protocol's
        ``dashboard.aggregate_above_items``].
    """

    figsize_in: tuple[float, float] = (6.4, 4.0)
    png_dpi: int = 150
    max_points_per_curve: int = 500
    simplify_tolerance_pct: float = 0.2
    max_simplify_tolerance_pct: float = 0.5
    high_dose_pct_of_rx: float = 150.0
    dose_axis_max_gy: float | None = None
    pd_guide_pct: float = 20.0
    pr_guide_pct: float = -30.0
    max_bar_labels: int = 60
    max_series: int = 200
    max_scatter_artists: int = 500
    unit: str = "patient"
    aggregate_above: int = 300

    def __post_init__(self) -> None:
        if self.unit not in ("patient", "lesion"):
            raise PlotInputError(f"unit: got {self.unit!r}; allowed: 'patient' or 'lesion'")
        w, h = self.figsize_in
        if not (_finite(w) and _finite(h) and w > 0 and h > 0):
            raise PlotInputError(f"figsize_in: got {self.figsize_in!r}; allowed: two positive finite inches")
        for name, minimum in (
            ("png_dpi", 1), ("max_points_per_curve", 2), ("max_bar_labels", 0), ("max_series", 1),
            ("max_scatter_artists", 0), ("aggregate_above", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise PlotInputError(f"{name}: got {value!r}; allowed: an integer ≥ {minimum}")
        for name in ("simplify_tolerance_pct", "max_simplify_tolerance_pct", "high_dose_pct_of_rx"):
            value = getattr(self, name)
            if not (_finite(value) and value > 0):
                raise PlotInputError(f"{name}: got {value!r}; allowed: a positive finite number")
        if self.dose_axis_max_gy is not None and not (_finite(self.dose_axis_max_gy) and self.dose_axis_max_gy > 0):
            raise PlotInputError(f"dose_axis_max_gy: got {self.dose_axis_max_gy!r}; allowed: None or a positive number of Gy")
        if not (_finite(self.pd_guide_pct) and _finite(self.pr_guide_pct)):
            raise PlotInputError(f"pd_guide_pct / pr_guide_pct: got {self.pd_guide_pct!r} / {self.pr_guide_pct!r}; allowed: finite %")


DEFAULT_SETTINGS = PlotSettings()


def _units(settings: PlotSettings) -> str:
    """ "Patients" or "Lesions" for axis labels."""
    return f"{settings.unit.capitalize()}s"


def _size_text(settings: PlotSettings) -> str:
    return "lesion diameter" if settings.unit == "lesion" else "sum of diameters"


def _pin_rc() -> None:
    """Write the constant rcParams this module relies on (idempotent, never restored; see module docstring)."""
    matplotlib.rcParams.update(cast("dict[Any, Any]", _PINNED_RC))  # the stubs type keys as a Literal of names


def _slug(text: str) -> str:
    """SVG-id-safe form of a label: lower case, runs of other characters → '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "x"


def _fmt_num(value: float) -> str:
    """Short number for axis annotations: 145 → '145', 217.5 → '217.5'."""
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


# --------------------------------------------------------------------------------------------------- DVH


@dataclass(frozen=True)
class DvhCurve:
    """One cumulative DVH curve.

    label: legend label and CSV series name (unique within a figure), e.g. "Pre-plan", "Post-implant".
    dose_gy: doses (Gy), non-decreasing (a repeated dose draws a vertical step), finite, ≥ 0.
    volume_pct: volume (% of the structure) receiving ≥ each dose; 0–100, non-increasing.
    style: :class:`LineStyle` (or its value "solid" / "dashed").

    The sequences are stored as tuples of floats. Construction raises :class:`PlotInputError` naming the
    curve on empty or mismatched data.
    """

    label: str
    dose_gy: Sequence[float]
    volume_pct: Sequence[float]
    style: LineStyle | str = LineStyle.SOLID

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise PlotInputError(f"DvhCurve.label: got {self.label!r}; allowed: a non-empty string")
        who = f"DvhCurve {self.label!r}"
        try:
            style = LineStyle(self.style)
        except ValueError:
            raise PlotInputError(
                f"{who}: style {self.style!r} is not allowed; allowed: {', '.join(s.value for s in LineStyle)}"
            ) from None
        dose = _float_tuple(who, "dose_gy", self.dose_gy)
        volume = _float_tuple(who, "volume_pct", self.volume_pct)
        if len(dose) != len(volume):
            raise PlotInputError(
                f"{who}: dose_gy has {len(dose)} values but volume_pct has {len(volume)}; they must have the same length"
            )
        if len(dose) < 2:
            raise PlotInputError(f"{who}: dose_gy/volume_pct have {len(dose)} points; allowed: at least 2 points")
        d = np.asarray(dose)
        v = np.asarray(volume)
        _check_values(who, "dose_gy", d, "finite doses ≥ 0 Gy", lambda a: np.isfinite(a) & (a >= 0))
        _check_values(who, "volume_pct", v, "finite volumes in 0–100 %", lambda a: np.isfinite(a) & (a >= 0) & (a <= 100))
        bad = np.flatnonzero(np.diff(d) < 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise PlotInputError(
                f"{who}: dose_gy[{i}] = {dose[i]!r} is below dose_gy[{i - 1}] = {dose[i - 1]!r}; allowed: non-decreasing doses"
            )
        bad = np.flatnonzero(np.diff(v) > 1e-9 * 100)
        if bad.size:
            i = int(bad[0]) + 1
            raise PlotInputError(
                f"{who}: volume_pct[{i}] = {volume[i]!r} is above volume_pct[{i - 1}] = {volume[i - 1]!r}; "
                "allowed: a cumulative DVH, non-increasing in volume"
            )
        object.__setattr__(self, "style", style)
        object.__setattr__(self, "dose_gy", dose)
        object.__setattr__(self, "volume_pct", volume)


def _float_tuple(who: str, name: str, values: Sequence[float]) -> tuple[float, ...]:
    if isinstance(values, str | bytes):
        raise PlotInputError(f"{who}: {name} is a string; allowed: a sequence of numbers")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PlotInputError(f"{who}: {name} = {values!r:.80} is not a sequence of numbers") from None
    if arr.ndim != 1:
        raise PlotInputError(f"{who}: {name} has shape {arr.shape}; allowed: a flat sequence of numbers")
    return tuple(arr.tolist())  # Python floats, as float(x) for each; a list in one call (10 000 series per figure)


def _check_values(
    who: str, name: str, arr: FloatArray, allowed: str, ok: Callable[[FloatArray], NDArray[np.bool_]]
) -> None:
    good = ok(arr)
    if not good.all():
        i = int(np.flatnonzero(~good)[0])
        raise PlotInputError(f"{who}: {name}[{i}] = {float(arr[i])!r}; allowed: {allowed}")


def _vertical_error(d: FloatArray, v: FloatArray, a: int, b: int) -> FloatArray:
    """|v_i − polyline(a→b)| for a < i < b, in volume %; a vertical chord spans [min(v_a, v_b), max(v_a, v_b)]."""
    di = d[a + 1 : b]
    vi = v[a + 1 : b]
    span = d[b] - d[a]
    if span > 0:
        line = v[a] + (di - d[a]) / span * (v[b] - v[a])
        # Points sharing the end doses lie on vertical steps the chord does not draw.
        return cast(FloatArray, np.abs(vi - line))
    lo, hi = min(v[a], v[b]), max(v[a], v[b])
    return cast(FloatArray, np.maximum(np.maximum(vi - hi, lo - vi), 0.0))


def _simplify_mask(d: FloatArray, v: FloatArray, tol_pct: float) -> NDArray[np.bool_]:
    """Ramer–Douglas–Peucker with vertical (volume) distance: keep the fewest points such that every dropped
    point lies within ``tol_pct`` of the polyline through the kept ones. First and last are always kept."""
    n = d.size
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        err = _vertical_error(d, v, a, b)
        i = int(np.argmax(err))
        if err[i] > tol_pct:
            m = a + 1 + i
            keep[m] = True
            stack.append((a, m))
            stack.append((m, b))
    return keep


def simplify_curve(curve: DvhCurve, settings: PlotSettings = DEFAULT_SETTINGS) -> DvhCurve:
    """The curve as drawn: a subset of its points (first and last always kept) such that the polyline through
    them differs from the polyline through all points by at most ``settings.simplify_tolerance_pct`` volume %
    at every dose. While that needs more than ``settings.max_points_per_curve`` points the tolerance is
    doubled, up to ``settings.max_simplify_tolerance_pct`` (accuracy wins over the budget there). Because the
    kept points are original points and both curves are piecewise linear, the bound holds at every dose,
    including the prescription."""
    d = np.asarray(curve.dose_gy)
    v = np.asarray(curve.volume_pct)
    tol = min(settings.simplify_tolerance_pct, settings.max_simplify_tolerance_pct)
    keep = _simplify_mask(d, v, tol)
    while int(keep.sum()) > settings.max_points_per_curve and tol < settings.max_simplify_tolerance_pct:
        tol = min(tol * 2.0, settings.max_simplify_tolerance_pct)
        keep = _simplify_mask(d, v, tol)
    if keep.all():
        return curve
    return DvhCurve(curve.label, tuple(d[keep].tolist()), tuple(v[keep].tolist()), curve.style)


def _check_curves(curves: Sequence[DvhCurve]) -> list[DvhCurve]:
    items = list(curves)
    if not items:
        raise PlotInputError("curves: got 0 curves; allowed: at least one DvhCurve")
    seen: set[str] = set()
    for i, c in enumerate(items):
        if not isinstance(c, DvhCurve):
            raise PlotInputError(f"curves[{i}]: got {type(c).__name__}; allowed: DvhCurve")
        slug = _slug(c.label)
        if slug in seen:
            raise PlotInputError(
                f"curves[{i}]: label {c.label!r} repeats another curve's label (as SVG id 'dvh-{slug}'); "
                "allowed: distinct labels"
            )
        seen.add(slug)
    return items


def dvh_gid(label: str) -> str:
    """SVG group id of a DVH curve: ``dvh-<label as slug>`` ("Post-implant" → "dvh-post-implant")."""
    return f"dvh-{_slug(label)}"


@_one_at_a_time
def dvh_figure(
    curves: Sequence[DvhCurve],
    prescription_gy: float | None,
    title: str,
    settings: PlotSettings = DEFAULT_SETTINGS,
) -> Figure:
    """Cumulative DVH figure: volume (%) against dose (Gy), all curves on one axes (e.g. pre-plan solid,
    post-implant dashed), with a legend, gridlines, and — if ``prescription_gy`` (Gy, > 0) is given — vertical
    labelled lines at the prescription and at ``settings.high_dose_pct_of_rx`` % of it.

    Each curve is drawn through :func:`simplify_curve` points (what :func:`figure_csv` exports) and carries the
    SVG id :func:`dvh_gid` of its label; the reference lines carry ``dvh-rx`` and ``dvh-rx-high``.
    The figure's label (``fig.get_label()``) is the title, used by :func:`svg_inline` as accessible name.
    """
    items = _check_curves(curves)
    _check_title(title)
    if prescription_gy is not None and not (_finite(prescription_gy) and prescription_gy > 0):
        raise PlotInputError(f"prescription_gy: got {prescription_gy!r}; allowed: None or a positive number of Gy")
    drawn = [simplify_curve(c, settings) for c in items]

    _pin_rc()
    fig = Figure(figsize=settings.figsize_in, layout="constrained")
    fig.set_label(title)
    ax = fig.add_subplot()
    for i, c in enumerate(drawn):
        (line,) = ax.plot(
            c.dose_gy,
            c.volume_pct,
            linestyle="-" if c.style is LineStyle.SOLID else (0, (6, 3)),
            linewidth=1.8,
            color=_OKABE_ITO[i % len(_OKABE_ITO)],
            label=c.label,
        )
        line.set_gid(dvh_gid(c.label))

    dose_max = max(max(c.dose_gy) for c in drawn)
    if prescription_gy is not None:
        high_gy = prescription_gy * settings.high_dose_pct_of_rx / 100.0
        for gid, dose, text, ls in (
            ("dvh-rx", prescription_gy, f"Rx {_fmt_num(prescription_gy)} Gy", ":"),
            ("dvh-rx-high", high_gy, f"{_fmt_num(settings.high_dose_pct_of_rx)} % Rx {_fmt_num(high_gy)} Gy", "-."),
        ):
            vline = ax.axvline(dose, color="#444444", linestyle=ls, linewidth=1.0)
            vline.set_gid(gid)
            label = ax.annotate(
                text,
                xy=(dose, 99.0),
                xytext=(-3.0, 0.0),
                textcoords="offset points",
                rotation=90,
                ha="right",
                va="top",
                fontsize=8,
                color="#222222",
            )
            label.set_gid(f"{gid}-label")
        dose_max = max(dose_max, high_gy * 1.05)

    x_max = settings.dose_axis_max_gy if settings.dose_axis_max_gy is not None else dose_max
    ax.set_xlim(0.0, x_max if x_max > 0 else 1.0)
    ax.set_ylim(0.0, 102.0)
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume (% of structure)")
    ax.set_title(title)
    ax.grid(True, color="#cccccc", linewidth=0.6)
    ax.legend(loc="lower left", frameon=True)
    return fig


def figure_csv(curves: Sequence[DvhCurve], settings: PlotSettings = DEFAULT_SETTINGS) -> str:
    """CSV of exactly the points :func:`dvh_figure` draws for these curves (same settings): header
    ``series,dose_gy,volume_pct``, one row per drawn point, curves in the given order; numbers written
    with ``repr`` so they read back as the same floats. Line ends are CRLF (RFC 4180)."""
    items = _check_curves(curves)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["series", "dose_gy", "volume_pct"])
    for c in items:
        s = simplify_curve(c, settings)
        writer.writerows((s.label, repr(d), repr(v)) for d, v in zip(s.dose_gy, s.volume_pct, strict=True))
    return out.getvalue()


# --------------------------------------------------------------------------------------------- waterfall

_BOR_ORDER = ("CR", "PR", "SD", "PD", "NE")
_BOR_STYLE: dict[str, tuple[str, str, str]] = {
    # category: (colour, hatch, legend wording)
    "CR": ("#009E73", "", "CR (complete response)"),
    "PR": ("#0072B2", "///", "PR (partial response)"),
    "SD": ("#E69F00", "...", "SD (stable disease)"),
    "PD": ("#D55E00", "xxx", "PD (progressive disease)"),
    "NE": ("#999999", "---", "NE (not evaluable)"),
}


@dataclass(frozen=True)
class WaterfallRow:
    """One patient's bar.

    patient_label: what the x axis shows (a study number, never a name), unique in the figure.
    best_change_pct: best (lowest) % change in the sum of target-lesion diameters from baseline, ≥ −100.
    best_response: best overall response, one of CR, PR, SD, PD, NE (``assessment.recist.Response`` members
        with these values are accepted, as they are strings).

    Patients without a post-baseline sum have no bar; leave them out (and say how many in the caption).
    """

    patient_label: str
    best_change_pct: float
    best_response: str = field(default="NE")

    def __post_init__(self) -> None:
        if not isinstance(self.patient_label, str) or not self.patient_label.strip():
            raise PlotInputError(f"WaterfallRow.patient_label: got {self.patient_label!r}; allowed: a non-empty string")
        who = f"WaterfallRow {self.patient_label!r}"
        if not (_finite(self.best_change_pct) and self.best_change_pct >= -100.0):
            raise PlotInputError(
                f"{who}: best_change_pct = {self.best_change_pct!r}; allowed: a finite % ≥ −100"
            )
        if str(self.best_response) not in _BOR_ORDER:
            raise PlotInputError(
                f"{who}: best_response = {self.best_response!r}; allowed: {', '.join(_BOR_ORDER)}"
            )
        object.__setattr__(self, "best_change_pct", float(self.best_change_pct))
        object.__setattr__(self, "best_response", str(self.best_response))


def _waterfall_order(rows: Sequence[WaterfallRow]) -> list[WaterfallRow]:
    items = list(rows)
    if not items:
        raise PlotInputError("rows: got 0 rows; allowed: at least one WaterfallRow")
    seen: set[str] = set()
    for i, r in enumerate(items):
        if not isinstance(r, WaterfallRow):
            raise PlotInputError(f"rows[{i}]: got {type(r).__name__}; allowed: WaterfallRow")
        if _slug(r.patient_label) in seen:
            raise PlotInputError(f"rows[{i}]: patient_label {r.patient_label!r} repeats; allowed: one row per patient")
        seen.add(_slug(r.patient_label))
    # Largest increase on the left, deepest shrinkage on the right; ties by label so the order is stable.
    return sorted(items, key=lambda r: (-r.best_change_pct, r.patient_label))


@_one_at_a_time
def waterfall_figure(
    rows: Sequence[WaterfallRow], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Waterfall plot: one bar per patient, the best % change in the sum of diameters from baseline, sorted
    from the largest increase (left) to the deepest shrinkage (right). Bars are coloured by best response and
    also hatched per category, with the category letters written at the bar ends (up to
    ``settings.max_bar_labels`` patients) and a legend, so the plot reads without colour. Dashed guide lines at
    ``settings.pd_guide_pct`` (+20 %) and ``settings.pr_guide_pct`` (−30 %). Bar SVG ids are
    ``bar-<patient label as slug>``; the guide lines ``waterfall-pd`` and ``waterfall-pr``.

    Above ``settings.aggregate_above`` bars: at most that many bins of consecutive bars (:func:`_waterfall_binned`),
    one collection per category ``waterfall_bins-<category, lower case>``, run labels
    ``waterfall_label-<category>``, no ``bar-`` ids."""
    ordered = _waterfall_order(rows)
    _check_title(title)
    if len(ordered) > settings.aggregate_above:
        return _waterfall_binned(ordered, title, settings)

    _pin_rc()
    fig = Figure(figsize=settings.figsize_in, layout="constrained")
    fig.set_label(title)
    ax = fig.add_subplot()
    x = np.arange(len(ordered))
    heights = [r.best_change_pct for r in ordered]
    bars = ax.bar(
        x,
        heights,
        width=0.8,
        color=[_BOR_STYLE[r.best_response][0] for r in ordered],
        edgecolor="#222222",
        linewidth=0.6,
    )
    for bar, r in zip(bars.patches, ordered, strict=True):
        bar.set_hatch(_BOR_STYLE[r.best_response][1])
        bar.set_gid(f"bar-{_slug(r.patient_label)}")

    lo = min(min(heights), settings.pr_guide_pct)
    hi = max(max(heights), settings.pd_guide_pct)
    pad = 0.08 * (hi - lo)
    if len(ordered) <= settings.max_bar_labels:
        for xi, r in zip(x, ordered, strict=True):
            up = r.best_change_pct >= 0
            ax.text(
                float(xi),
                r.best_change_pct + (0.015 if up else -0.015) * (hi - lo),
                r.best_response,
                ha="center",
                va="bottom" if up else "top",
                fontsize=7,
            )

    _waterfall_guides(ax, settings)

    ax.set_xlim(-0.7, len(ordered) - 0.3)
    ax.set_ylim(max(lo - pad, -110.0), hi + pad)
    ax.set_ylabel(f"Best change in {_size_text(settings)} (%)")
    ax.set_xlabel(f"{_units(settings)} (n = {len(ordered)})")
    if len(ordered) <= settings.max_bar_labels:
        ax.set_xticks(x, [r.patient_label for r in ordered], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_title(title)
    ax.grid(True, axis="y", color="#cccccc", linewidth=0.6)
    ax.set_axisbelow(True)
    present = [c for c in _BOR_ORDER if any(r.best_response == c for r in ordered)]
    ax.legend(
        handles=[
            Patch(facecolor=_BOR_STYLE[c][0], hatch=_BOR_STYLE[c][1], edgecolor="#222222", label=_BOR_STYLE[c][2])
            for c in present
        ],
        loc="lower left",  # sorted bars leave the lower left empty (left bars rise, right bars fall)
        fontsize=8,
    )
    return fig


def _waterfall_guides(ax: Axes, settings: PlotSettings) -> None:
    """The 0 line and the PD / PR guides ``waterfall-pd`` / ``waterfall-pr``, labelled outside the right edge."""
    ax.axhline(0.0, color="#222222", linewidth=0.8)
    for gid, value, ls in (("waterfall-pd", settings.pd_guide_pct, "--"), ("waterfall-pr", settings.pr_guide_pct, ":")):
        guide = ax.axhline(value, color="#444444", linestyle=ls, linewidth=1.0)
        guide.set_gid(gid)
        # Outside the right edge: inside, the upper right holds the legend and the lower right the deepest bars.
        ax.text(
            1.01, value, f"{value:+.4g} %".replace("-", "−"), transform=ax.get_yaxis_transform(),
            ha="left", va="center", fontsize=8, color="#222222", clip_on=False,
        )


def _bins_of(n: int, settings: PlotSettings) -> tuple[int, int]:
    """(bin size k, number of bins) for ``n`` sorted items drawn in at most ``settings.aggregate_above`` bins of
    equal size (the last one may be smaller)."""
    k = -(-n // settings.aggregate_above)
    return k, -(-n // k)


def _waterfall_binned(ordered: list[WaterfallRow], title: str, settings: PlotSettings) -> Figure:
    """The waterfall of a large cohort (see :func:`waterfall_figure`): the sorted bars in bins of k consecutive
    patients; each bin spans from the lowest to the highest change in it (and the 0 line), which is the outline
    all its bars would draw, and takes the colour of its most frequent best response (ties: the first in CR, PR,
    SD, PD, NE). Consecutive bins of one category are one polygon, labelled with the category's letters beside the
    0 line when it is at least 4 % of the axis wide (so the plot reads without colour); one collection per
    category. No hatching: matplotlib writes each hatch as an SVG pattern of up to 150 kB."""
    n = len(ordered)
    k, n_bins = _bins_of(n, settings)
    change = np.fromiter((r.best_change_pct for r in ordered), dtype=np.float64, count=n)
    cat = np.fromiter((_BOR_ORDER.index(r.best_response) for r in ordered), dtype=np.int64, count=n)
    starts = np.arange(n_bins) * k
    hi = np.maximum(np.maximum.reduceat(change, starts), 0.0)
    lo = np.minimum(np.minimum.reduceat(change, starts), 0.0)
    counts = np.zeros((n_bins, len(_BOR_ORDER)), dtype=np.int64)
    np.add.at(counts, (np.arange(n) // k, cat), 1)
    major = np.argmax(counts, axis=1)  # the first maximum: ties go to the earlier category
    x0 = starts - 0.5
    x1 = np.minimum(starts + k, n) - 0.5

    _pin_rc()
    fig = Figure(figsize=settings.figsize_in, layout="constrained")
    fig.set_label(title)
    ax = fig.add_subplot()
    run_edges = np.flatnonzero(np.diff(major)) + 1
    polygons: dict[int, list[FloatArray]] = {}
    runs: list[tuple[float, float, int, bool]] = []  # (left, right, category, mostly above 0)
    for a, b in zip(np.r_[0, run_edges], np.r_[run_edges, n_bins], strict=True):
        xs = np.column_stack((x0[a:b], x1[a:b])).ravel()
        top = np.column_stack((xs, np.repeat(hi[a:b], 2)))
        bottom = np.column_stack((xs, np.repeat(lo[a:b], 2)))[::-1]
        polygons.setdefault(int(major[a]), []).append(np.vstack((top, bottom)))
        runs.append((float(x0[a]), float(x1[b - 1]), int(major[a]), bool((hi[a:b] + lo[a:b]).sum() > 0)))
    present = [c for i, c in enumerate(_BOR_ORDER) if counts[:, i].any()]
    for i, c in enumerate(_BOR_ORDER):
        if i in polygons:
            ax.add_collection(PolyCollection(polygons[i], facecolors=_BOR_STYLE[c][0], edgecolors=_EDGE,
                                             linewidths=0.4, gid=f"waterfall_bins-{c.lower()}"))

    lo_all = min(float(change.min()), settings.pr_guide_pct)
    hi_all = max(float(change.max()), settings.pd_guide_pct)
    pad = 0.08 * (hi_all - lo_all)
    for left, right, i, up in runs:
        if right - left >= 0.04 * n:
            ax.text((left + right) / 2, (-0.02 if up else 0.02) * (hi_all - lo_all), _BOR_ORDER[i], ha="center",
                    va="top" if up else "bottom", fontsize=8, gid=f"waterfall_label-{_BOR_ORDER[i].lower()}")
    _waterfall_guides(ax, settings)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(max(lo_all - pad, -110.0), hi_all + pad)
    ax.set_ylabel(f"Best change in {_size_text(settings)} (%)")
    ax.set_xlabel(f"{_units(settings)} (n = {_count(n)}), sorted; {n_bins} bins of {k}, each coloured by its most "
                  "frequent response", fontsize=9)
    ax.set_xticks([])
    ax.set_title(title)
    ax.grid(True, axis="y", color="#cccccc", linewidth=0.6)
    ax.set_axisbelow(True)
    total = counts.sum(axis=0)
    ax.legend(
        handles=[
            Patch(facecolor=_BOR_STYLE[c][0], edgecolor="#222222",
                  label=f"{_BOR_STYLE[c][2]}: {_count(int(total[_BOR_ORDER.index(c)]))}")
            for c in present
        ],
        loc="lower left",
        fontsize=8,
    )
    return fig


def _count(n: int) -> str:
    """An item count as the captions write it: 10 000 (a space between thousands)."""
    return f"{n:,}".replace(",", " ")


def waterfall_csv(rows: Sequence[WaterfallRow], unit: str = "patient") -> str:
    """CSV of exactly the bars :func:`waterfall_figure` draws, left to right: header
    ``position,patient,best_change_pct,best_response`` (position 1 = leftmost bar)."""
    ordered = _waterfall_order(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["position", unit, "best_change_pct", "best_response"])
    writer.writerows((i, r.patient_label, repr(r.best_change_pct), r.best_response) for i, r in enumerate(ordered, 1))
    return out.getvalue()


# ---------------------------------------------------------------------------------- cohort figures: shared
#
# SVG id conventions of the cohort figures (the dashboard's browser test counts them):
# * one id per drawn item, ``<figure>-<slug>`` (hyphen): rate-, spider-, swim-, km-, tg-, volume-, dose-;
# * every other artist that carries an id uses ``<figure>_<what>`` (underscore), e.g. ``spider_pd``.
# A slug only has [a-z0-9-], so ``[id^="spider-"]`` selects exactly the patient lines, never a guide.

# RECIST category → (marker, size in points). With the colour of _BOR_STYLE; NE is drawn hollow.
_BOR_MARKER: dict[str, tuple[str, float]] = {
    "CR": ("*", 9.0),
    "PR": ("^", 6.0),
    "SD": ("s", 5.0),
    "PD": ("X", 7.0),
    "NE": ("o", 5.0),
}
_EDGE = "#222222"
_MEASURE_HATCHES = ("", "///", "...", "xxx", "\\\\\\")
_T = TypeVar("_T")
_SERIES_LINE = "#555555"


def _check_label(who: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlotInputError(f"{who}: got {value!r}; allowed: a non-empty string")
    return value


def _check_number(who: str, value: object, allowed: str, ok: Callable[[float], bool]) -> float:
    if not (_finite(value) and ok(float(value))):  # type: ignore[arg-type]
        raise PlotInputError(f"{who} = {value!r}; allowed: {allowed}")
    return float(value)  # type: ignore[arg-type]


def _check_response(who: str, value: object) -> str:
    if str(value) not in _BOR_ORDER:
        raise PlotInputError(f"{who} = {value!r}; allowed: {', '.join(_BOR_ORDER)}")
    return str(value)


def _check_items(items: Sequence[_T], kind: type[_T], name: str, gid_prefix: str, key: Callable[[_T], str]) -> list[_T]:
    """Non-empty, all of ``kind``, distinct ``key`` slugs (they become SVG ids ``<gid_prefix>-<slug>``)."""
    if isinstance(items, str | bytes):
        raise PlotInputError(f"{name}: got a string; allowed: a sequence of {kind.__name__}")
    out = list(items)
    if not out:
        raise PlotInputError(f"{name}: got 0 items; allowed: at least one {kind.__name__}")
    seen: set[str] = set()
    for i, item in enumerate(out):
        if not isinstance(item, kind):
            raise PlotInputError(f"{name}[{i}]: got {type(item).__name__}; allowed: {kind.__name__}")
        slug = _slug(key(item))
        if slug in seen:
            raise PlotInputError(
                f"{name}[{i}]: {key(item)!r} repeats another item (as SVG id '{gid_prefix}-{slug}'); allowed: distinct labels"
            )
        seen.add(slug)
    return out


def _capped(ordered: list[_T], settings: PlotSettings, title: str) -> tuple[list[_T], str]:
    """The first ``settings.max_series`` items and the title, with "(showing N of M patients)" when capped."""
    shown = ordered[: settings.max_series]
    if len(shown) < len(ordered):
        title = f"{title} (showing {len(shown)} of {len(ordered)} {settings.unit}s)"
    return shown, title


def _new_figure(title: str, settings: PlotSettings) -> Figure:
    _pin_rc()
    fig = Figure(figsize=settings.figsize_in, layout="constrained")
    fig.set_label(title)
    return fig


def _marker_style(category: str, scale: float = 1.0) -> dict[str, Any]:
    marker, size = _BOR_MARKER[category]
    colour = _BOR_STYLE[category][0]
    return {
        "linestyle": "none",
        "marker": marker,
        "markersize": size * scale,
        "markerfacecolor": "white" if category == "NE" else colour,
        "markeredgecolor": colour if category == "NE" else _EDGE,
        "markeredgewidth": 1.2 if category == "NE" else 0.5,
        "color": colour,
    }


def _response_handles(present: Sequence[str]) -> list[Line2D]:
    return [Line2D([], [], label=_BOR_STYLE[c][2], **_marker_style(c)) for c in _BOR_ORDER if c in present]


def _guides(ax: Axes, prefix: str, settings: PlotSettings, changes_pct: Sequence[float]) -> None:
    """RECIST guide lines at +20 % (dashed, ``<prefix>_pd``) and −30 % (dotted, ``<prefix>_pr``), labelled; the
    y axis spans the changes and both guides with a margin."""
    lo = min(min(changes_pct, default=0.0), settings.pr_guide_pct, 0.0)
    hi = max(max(changes_pct, default=0.0), settings.pd_guide_pct, 0.0)
    pad = 0.06 * (hi - lo)
    ax.set_ylim(max(lo - pad, -105.0), hi + pad)
    ax.axhline(0.0, color=_EDGE, linewidth=0.8)
    for name, value, ls in (("pd", settings.pd_guide_pct, "--"), ("pr", settings.pr_guide_pct, ":")):
        ax.axhline(value, color="#444444", linestyle=ls, linewidth=1.0, gid=f"{prefix}_{name}")
        ax.text(
            1.01, value, f"{value:+.4g} %".replace("-", "−"), transform=ax.get_yaxis_transform(),
            ha="left", va="center", fontsize=8, color=_EDGE, clip_on=False,
        )


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _num_csv(value: float) -> str:
    """A float for the CSV: ``repr`` reads back as the same float; integral values stay as e.g. '61.0'."""
    return repr(float(value))


# --------------------------------------------------------------------------------------- remission bars


@dataclass(frozen=True)
class RateBar:
    """One bar of :func:`remission_bars_figure`: a rate at one time point with its confidence interval.

    timepoint: the group on the x axis, e.g. "2 months", "6 months", "12 months" (drawn in order of first
        appearance in the rows).
    measure: the bar within a group, e.g. "Remission (CR+PR+SD)", "ORR (CR+PR)" (order of first appearance).
    numerator, denominator: patients with the outcome / evaluable patients (integers, 0 ≤ n ≤ N, N ≥ 1).
    ci_low_pct, ci_high_pct: the interval of the rate in %, 0 ≤ low ≤ 100·n/N ≤ high ≤ 100 (e.g. from
        ``assessment.stats.proportion_ci`` × 100; a rounding slack of 1e-6 % is allowed).
    """

    timepoint: str
    measure: str
    numerator: int
    denominator: int
    ci_low_pct: float
    ci_high_pct: float

    def __post_init__(self) -> None:
        _check_label("RateBar.timepoint", self.timepoint)
        _check_label("RateBar.measure", self.measure)
        who = f"RateBar {self.timepoint!r}/{self.measure!r}"
        for name, minimum in (("denominator", 1), ("numerator", 0)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
                raise PlotInputError(f"{who}: {name} = {value!r}; allowed: an integer ≥ {minimum}")
        if self.numerator > self.denominator:
            raise PlotInputError(
                f"{who}: numerator = {self.numerator!r} exceeds denominator = {self.denominator!r}; allowed: n ≤ N"
            )
        rate = self.rate_pct
        low = _check_number(f"{who}: ci_low_pct", self.ci_low_pct, f"a % in 0–{rate:.4g} (≤ the rate)",
                            lambda v: -1e-6 <= v <= rate + 1e-6)
        high = _check_number(f"{who}: ci_high_pct", self.ci_high_pct, f"a % in {rate:.4g}–100 (≥ the rate)",
                             lambda v: rate - 1e-6 <= v <= 100.0 + 1e-6)
        object.__setattr__(self, "numerator", int(self.numerator))
        object.__setattr__(self, "denominator", int(self.denominator))
        object.__setattr__(self, "ci_low_pct", low)
        object.__setattr__(self, "ci_high_pct", high)

    @property
    def rate_pct(self) -> float:
        """100 · numerator / denominator."""
        return 100.0 * self.numerator / self.denominator

    @property
    def gid(self) -> str:
        """SVG id of the bar: ``rate-<timepoint slug>-<measure slug>`` ("6 months", "ORR (CR+PR)" →
        "rate-6-months-orr-cr-pr")."""
        return f"rate-{_slug(self.timepoint)}-{_slug(self.measure)}"


def _rate_layout(rows: Sequence[RateBar]) -> tuple[list[str], list[str], list[RateBar]]:
    items = _check_items(rows, RateBar, "rows", "rate", lambda r: f"{r.timepoint} {r.measure}")
    seen_gid: set[str] = set()
    for i, r in enumerate(items):
        if r.gid in seen_gid:  # e.g. "a b"/"c" and "a"/"b c": same id
            raise PlotInputError(f"rows[{i}]: SVG id {r.gid!r} repeats; allowed: distinct time point / measure pairs")
        seen_gid.add(r.gid)
    timepoints = list(dict.fromkeys(r.timepoint for r in items))
    measures = list(dict.fromkeys(r.measure for r in items))
    ordered = sorted(items, key=lambda r: (timepoints.index(r.timepoint), measures.index(r.measure)))
    return timepoints, measures, ordered


@_one_at_a_time
def remission_bars_figure(
    rows: Sequence[RateBar], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Grouped bars of rates (%) per time point with confidence-interval error bars, one bar per measure in
    each group (a time point without a row for a measure leaves that slot empty). Measures differ by colour
    *and* hatch and are named in a legend below the plot; each bar is labelled "n/N" above its error bar.

    SVG ids: each bar ``rate-<timepoint slug>-<measure slug>`` (:attr:`RateBar.gid`; 3 time points × 2
    measures = 6 ids starting ``rate-``), the error bars of a measure ``rate_ci-<measure slug>``, each "n/N"
    label ``rate_label-<timepoint slug>-<measure slug>``."""
    timepoints, measures, ordered = _rate_layout(rows)
    _check_title(title)
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    width = 0.8 / len(measures)
    handles = []
    for j, measure in enumerate(measures):
        colour = _OKABE_ITO[j % len(_OKABE_ITO)]
        hatch = _MEASURE_HATCHES[j % len(_MEASURE_HATCHES)]
        mine = [r for r in ordered if r.measure == measure]
        x = np.array([timepoints.index(r.timepoint) + (j - (len(measures) - 1) / 2) * width for r in mine])
        rates = np.array([r.rate_pct for r in mine])
        bars = ax.bar(x, rates, width=width * 0.92, color=colour, edgecolor=_EDGE, linewidth=0.6, hatch=hatch)
        for bar, r in zip(bars.patches, mine, strict=True):
            bar.set_gid(r.gid)
        err = ax.errorbar(
            x, rates,
            yerr=[rates - [r.ci_low_pct for r in mine], [r.ci_high_pct for r in mine] - rates],
            fmt="none", ecolor=_EDGE, elinewidth=1.0, capsize=3,
        )
        for coll in err.lines[2]:
            coll.set_gid(f"rate_ci-{_slug(measure)}")
        for xi, r in zip(x, mine, strict=True):
            ax.text(
                float(xi), r.ci_high_pct + 1.5, f"{r.numerator}/{r.denominator}", ha="center", va="bottom",
                fontsize=7, gid=f"rate_label-{_slug(r.timepoint)}-{_slug(r.measure)}",
            )
        handles.append(Patch(facecolor=colour, hatch=hatch, edgecolor=_EDGE, label=measure))

    ax.set_xticks(range(len(timepoints)), timepoints)
    ax.set_xlim(-0.6, len(timepoints) - 0.4)
    ax.set_ylim(0.0, 112.0)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(f"{_units(settings)} (%)")
    ax.set_xlabel("Time since implant")
    ax.set_title(title)
    ax.grid(True, axis="y", color="#cccccc", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8)
    return fig


def remission_bars_csv(rows: Sequence[RateBar]) -> str:
    """CSV of the bars of :func:`remission_bars_figure`, in drawing order (time points, then measures):
    header ``timepoint,measure,numerator,denominator,rate_pct,ci_low_pct,ci_high_pct``."""
    _, _, ordered = _rate_layout(rows)
    return _csv(
        ["timepoint", "measure", "numerator", "denominator", "rate_pct", "ci_low_pct", "ci_high_pct"],
        (
            (r.timepoint, r.measure, r.numerator, r.denominator, _num_csv(r.rate_pct), _num_csv(r.ci_low_pct),
             _num_csv(r.ci_high_pct))
            for r in ordered
        ),
    )


# ----------------------------------------------------------------------------------------------- spider


@dataclass(frozen=True)
class SpiderSeries:
    """One patient's line in :func:`spider_figure`.

    patient_label: a study number (never a name), unique in the figure.
    days: days since implant of each post-baseline assessment, strictly increasing, after ``baseline_day``.
    change_pct: % change of the sum of target-lesion diameters from baseline at each day, finite, ≥ −100.
    responses: the RECIST 1.1 overall response at each day: CR, PR, SD, PD or NE.
    baseline_day: day of the baseline measurement (the line starts at (baseline_day, 0 %)); default 0 = the
        implant; negative when the baseline scan was before the implant.
    """

    patient_label: str
    days: Sequence[float]
    change_pct: Sequence[float]
    responses: Sequence[str]
    baseline_day: float = 0.0

    def __post_init__(self) -> None:
        _check_label("SpiderSeries.patient_label", self.patient_label)
        who = f"SpiderSeries {self.patient_label!r}"
        base = _check_number(f"{who}: baseline_day", self.baseline_day, "a finite number of days", lambda v: True)
        days = _float_tuple(who, "days", self.days)
        change = _float_tuple(who, "change_pct", self.change_pct)
        if isinstance(self.responses, str):
            raise PlotInputError(f"{who}: responses is a string; allowed: a sequence of {', '.join(_BOR_ORDER)}")
        raw = self.responses
        if all(type(r) is str and r in _BOR_ORDER for r in raw):  # the usual case: no message built per item
            responses = tuple(raw)
        else:
            responses = tuple(_check_response(f"{who}: responses[{i}]", r) for i, r in enumerate(raw))
        if not len(days) == len(change) == len(responses):
            raise PlotInputError(
                f"{who}: days, change_pct, responses have {len(days)}, {len(change)}, {len(responses)} values; "
                "they must have the same length"
            )
        if not days:
            raise PlotInputError(f"{who}: days has 0 values; allowed: at least one assessment (leave the patient out)")
        # Checked in plain Python first (a patient has a handful of values); numpy names the first bad one.
        if not (all(math.isfinite(v) and v > base for v in days) and all(math.isfinite(v) and v >= -100 for v in change)
                and all(a < b for a, b in itertools.pairwise(days))):
            d = np.asarray(days)
            _check_values(who, "days", d, f"finite days after baseline_day = {_fmt_num(base)}",
                          lambda a: np.isfinite(a) & (a > base))
            _check_values(who, "change_pct", np.asarray(change), "a finite % ≥ −100",
                          lambda a: np.isfinite(a) & (a >= -100))
            i = int(np.flatnonzero(d[1:] <= d[:-1])[0]) + 1
            raise PlotInputError(f"{who}: days[{i}] = {days[i]!r} is not after days[{i - 1}] = {days[i - 1]!r}; allowed: increasing days")
        object.__setattr__(self, "baseline_day", base)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "change_pct", change)
        object.__setattr__(self, "responses", responses)


def _by_label(items: list[_T], key: Callable[[_T], str]) -> list[_T]:
    return sorted(items, key=key)


def _spider_order(series: Sequence[SpiderSeries]) -> list[SpiderSeries]:
    items = _check_items(series, SpiderSeries, "series", "spider", lambda s: s.patient_label)
    return _by_label(items, lambda s: s.patient_label)


@_one_at_a_time
def spider_figure(
    series: Sequence[SpiderSeries], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Spider plot: % change of the sum of diameters from baseline against days since implant, one grey line
    per patient from (baseline_day, 0 %) through its assessments, with a marker per assessment whose shape
    *and* colour give the RECIST category (legend below), and the +20 % / −30 % guides.

    Patients are drawn in order of ``patient_label`` (string order); beyond ``settings.max_series`` only the
    first that many are drawn and the title ends "(showing N of M patients)"; :func:`spider_csv` lists all.

    SVG ids: each patient's line ``spider-<patient slug>`` (so the ids starting ``spider-`` are exactly the
    drawn patients); the markers of one category ``spider_markers-<category, lower case>`` (one artist for all
    patients); the guides ``spider_pd`` and ``spider_pr``.

    Above ``settings.aggregate_above`` lines: the median and quantile bands per 30-day interval
    (:func:`_spider_bands`), ids ``spider_median``, ``spider_iqr``, ``spider_p10_p90``, no ``spider-`` ids."""
    ordered = _spider_order(series)
    _check_title(title)
    if len(ordered) > settings.aggregate_above:
        return _spider_bands(ordered, title, settings)
    shown, full_title = _capped(ordered, settings, title)
    fig = _new_figure(full_title, settings)
    ax = fig.add_subplot()
    points: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in _BOR_ORDER}
    for s in shown:
        ax.plot(
            (s.baseline_day, *s.days), (0.0, *s.change_pct), color=_SERIES_LINE, linewidth=0.9, alpha=0.8,
            gid=f"spider-{_slug(s.patient_label)}", zorder=2,
        )
        for day, change, response in zip(s.days, s.change_pct, s.responses, strict=True):
            points[response][0].append(day)
            points[response][1].append(change)
    for c in _BOR_ORDER:
        if points[c][0]:
            ax.plot(*points[c], gid=f"spider_markers-{c.lower()}", zorder=3, **_marker_style(c))
    _guides(ax, "spider", settings, [c for s in shown for c in s.change_pct])
    ax.set_xlabel("Days since implant")
    ax.set_ylabel(f"Change in {_size_text(settings)} from baseline (%)")
    ax.set_title(full_title)
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = _response_handles([c for c in _BOR_ORDER if points[c][0]])
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8)
    return fig


# Large cohorts (more than PlotSettings.aggregate_above lines): the spider and Tg figures draw, per interval of this
# many days since implant, the median and the 25–75 % and 10–90 % ranges of the values measured in it; intervals
# with fewer values than _BAND_MIN_VALUES are left out [DESIGN DECISION: 30 days, about one month; 10 values].
_BAND_DAYS = 30.0
_BAND_MIN_VALUES = 10
_BAND_PCT = (10.0, 25.0, 50.0, 75.0, 90.0)
_BAND_COLOUR = "#0072B2"


def _interval_quantiles(days: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """(interval centres in days, quantiles at _BAND_PCT per interval (Hyndman–Fan type 6, as the tables), values
    per interval) of ``values`` grouped by the ``_BAND_DAYS`` interval of ``days``, for intervals with at least
    ``_BAND_MIN_VALUES`` values."""
    interval = np.floor(days / _BAND_DAYS).astype(np.int64)
    order = np.lexsort((values, interval))
    interval, values = interval[order], values[order]
    ids, starts, counts = np.unique(interval, return_index=True, return_counts=True)
    keep = counts >= _BAND_MIN_VALUES
    quantiles = np.array([np.percentile(values[a:a + m], _BAND_PCT, method="weibull")
                          for a, m in zip(starts[keep], counts[keep], strict=True)]).reshape(-1, len(_BAND_PCT))
    centres = cast(FloatArray, (ids[keep] + 0.5) * _BAND_DAYS)
    return centres, cast(FloatArray, quantiles), counts[keep]


def _draw_bands(ax: Axes, prefix: str, x: FloatArray, q: FloatArray) -> list[Any]:
    """The 10–90 % and 25–75 % bands and the median line (columns of ``q`` as _BAND_PCT); legend handles."""
    outer = ax.fill_between(x, q[:, 0], q[:, 4], color=_BAND_COLOUR, alpha=0.15, linewidth=0, gid=f"{prefix}_p10_p90",
                            zorder=2)
    inner = ax.fill_between(x, q[:, 1], q[:, 3], color=_BAND_COLOUR, alpha=0.35, linewidth=0, gid=f"{prefix}_iqr",
                            zorder=2)
    (median,) = ax.plot(x, q[:, 2], color=_EDGE, linewidth=1.6, marker="o", markersize=3.0, gid=f"{prefix}_median",
                        zorder=3)
    outer.set_label("10th–90th percentile")
    inner.set_label("Interquartile range")
    median.set_label("Median")
    return [median, inner, outer]


def _band_labels(fig: Figure, ax: Axes, handles: list[Any], title: str, x_label: str, y_label: str,
                 ncol: int = 3) -> Figure:
    """Axis labels, title, grid and the legend below of a figure drawn with :func:`_draw_bands`."""
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(True, which="major", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8)
    return fig


def _spider_bands(ordered: list[SpiderSeries], title: str, settings: PlotSettings) -> Figure:
    """The spider plot of a large cohort (see :func:`spider_figure`): per 30-day interval, the median % change and
    its interquartile and 10–90 % ranges over every assessment in it, from (day 0, 0 %), the baseline."""
    days = np.fromiter(itertools.chain.from_iterable(s.days for s in ordered), dtype=np.float64)
    change = np.fromiter(itertools.chain.from_iterable(s.change_pct for s in ordered), dtype=np.float64)
    x, q, _ = _interval_quantiles(days, change)
    x = np.r_[0.0, x]
    q = np.vstack((np.zeros((1, len(_BAND_PCT))), q))
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    handles = _draw_bands(ax, "spider", x, q)
    _guides(ax, "spider", settings, [float(q.min()), float(q.max())])
    return _band_labels(fig, ax, handles, title,
                        f"Days since implant ({_count(len(ordered))} {settings.unit}s, {_count(days.size)} assessments "
                        f"in {_fmt_num(_BAND_DAYS)}-day intervals)",
                        f"Change in {_size_text(settings)} from baseline (%)")


def spider_csv(series: Sequence[SpiderSeries], unit: str = "patient") -> str:
    """CSV of every patient's line (all patients, also those beyond ``max_series``), in the figure's order:
    header ``patient,day,change_pct,response``; each patient starts with its baseline row
    (baseline_day, 0.0, "baseline"), where the line starts without a marker."""
    rows: list[tuple[str, str, str, str]] = []
    for s in _spider_order(series):
        rows.append((s.patient_label, _num_csv(s.baseline_day), "0.0", "baseline"))
        rows.extend(
            (s.patient_label, _num_csv(d), _num_csv(c), r) for d, c, r in zip(s.days, s.change_pct, s.responses, strict=True)
        )
    return _csv([unit, "day", "change_pct", "response"], rows)


# ---------------------------------------------------------------------------------------------- swimmer

_SWIM_EVENTS: dict[str, tuple[str, str]] = {
    "NEW_THERAPY": ("D", "New therapy"),
    # end of follow-up (drawn at the bar's end: the date of the status, or the last contact when lost)
    "COMPLETED": ("|", "Follow-up completed"),
    "LOST": ("v", "Lost to follow-up (last contact)"),
    "WITHDRAWN": ("P", "Withdrawn"),
    "DIED": ("$\\dagger$", "Died"),
}
_SWIM_KINDS = (*_BOR_ORDER, *_SWIM_EVENTS)
_SWIM_END_KINDS = ("COMPLETED", "LOST", "WITHDRAWN", "DIED")


@dataclass(frozen=True)
class SwimmerRow:
    """One patient's bar in :func:`swimmer_figure`.

    patient_label: a study number, unique in the figure.
    last_follow_up_day: days from implant to the last follow-up (the bar's end), finite, ≥ 0.
    events: (day, kind) pairs, 0 ≤ day ≤ last_follow_up_day; kind is a RECIST 1.1 assessment (CR, PR, SD,
        PD — progression — or NE), "NEW_THERAPY" (start of another treatment, e.g. a kinase inhibitor), or how
        the follow-up ended: "COMPLETED", "LOST" (at the last contact), "WITHDRAWN", "DIED".
    ongoing: True when follow-up continues (an arrow after the bar's end); only for patients in follow-up.
    """

    patient_label: str
    last_follow_up_day: float
    events: Sequence[tuple[float, str]] = ()
    ongoing: bool = False

    def __post_init__(self) -> None:
        _check_label("SwimmerRow.patient_label", self.patient_label)
        who = f"SwimmerRow {self.patient_label!r}"
        end = _check_number(f"{who}: last_follow_up_day", self.last_follow_up_day, "a finite number of days ≥ 0",
                            lambda v: v >= 0)
        if not isinstance(self.ongoing, bool | np.bool_):
            raise PlotInputError(f"{who}: ongoing = {self.ongoing!r}; allowed: True or False")
        if isinstance(self.events, str):
            raise PlotInputError(f"{who}: events is a string; allowed: a sequence of (day, kind) pairs")
        events = []
        for i, ev in enumerate(self.events):
            if type(ev) is not tuple and (isinstance(ev, str) or not isinstance(ev, Sequence)) or len(ev) != 2:
                raise PlotInputError(f"{who}: events[{i}] = {ev!r}; allowed: a (day, kind) pair")
            if type(ev[0]) in (float, int) and 0 <= ev[0] <= end:  # the usual case, checked without a message
                day = float(ev[0])
            else:
                day = _check_number(f"{who}: events[{i}] day", ev[0],
                                    f"a day in 0–{_fmt_num(end)} (last_follow_up_day)", lambda v: 0 <= v <= end)
            if str(ev[1]) not in _SWIM_KINDS:
                raise PlotInputError(f"{who}: events[{i}] kind = {ev[1]!r}; allowed: {', '.join(_SWIM_KINDS)}")
            events.append((day, str(ev[1])))
        ended = sorted({k for _, k in events if k in _SWIM_END_KINDS})
        if ended and self.ongoing:
            raise PlotInputError(f"{who}: ongoing = True with the follow-up ended ({', '.join(ended)}); allowed: "
                                 "ongoing only for a patient still in follow-up")
        object.__setattr__(self, "last_follow_up_day", end)
        object.__setattr__(self, "events", tuple(sorted(events)))
        object.__setattr__(self, "ongoing", bool(self.ongoing))


def _swim_order(rows: Sequence[SwimmerRow]) -> list[SwimmerRow]:
    items = _check_items(rows, SwimmerRow, "rows", "swim", lambda r: r.patient_label)
    return sorted(items, key=lambda r: (-r.last_follow_up_day, r.patient_label))


def _swim_style(kind: str) -> dict[str, Any]:
    if kind in _BOR_MARKER:
        return _marker_style(kind)
    marker, _ = _SWIM_EVENTS[kind]
    return {"linestyle": "none", "marker": marker, "markersize": 5.5, "markerfacecolor": "#000000",
            "markeredgecolor": "#000000", "color": "#000000"}


# A large cohort's swimmer plot draws the patients at the percentiles 0, 1, …, 100 of follow-up [DESIGN DECISION:
# 101 rows; 200 rows with their markers would pass 200 kB of SVG].
_SWIM_PERCENTILES = 101


def _swim_sample(ordered: list[SwimmerRow], settings: PlotSettings) -> list[SwimmerRow]:
    """A large cohort's swimmer rows: the rows at the percentiles 0, 1, …, 100 of the order of follow-up (the
    longest and the shortest included), so the bars are the distribution of follow-up and their markers a sample
    of the cohort rather than its longest follow-ups (the y axis says so)."""
    m = min(_SWIM_PERCENTILES, settings.aggregate_above)
    idx = np.unique(np.round(np.linspace(0, len(ordered) - 1, m)).astype(np.int64))
    return [ordered[i] for i in idx]


@_one_at_a_time
def swimmer_figure(
    rows: Sequence[SwimmerRow], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Swimmer plot: one horizontal bar per patient from the implant (day 0) to the last follow-up, longest
    on top (ties by label); markers at the assessments by RECIST category (shape and colour; the legend below
    gives the words) and a black diamond at a new therapy; a black arrow "▶" just after the bar when follow-up is
    ongoing. Patient labels are written on the y axis up to ``settings.max_bar_labels`` patients.

    Beyond ``settings.max_series`` patients only the first that many in this order (the longest follow-ups)
    are drawn and the title ends "(showing N of M patients)"; :func:`swimmer_csv` lists all.

    SVG ids: each bar ``swim-<patient slug>``; the markers of one kind ``swim_marker-<kind slug>`` (cr, pr,
    sd, pd, ne, new-therapy, completed, lost, withdrawn, died; one artist for all patients); the ongoing arrows
    ``swim_ongoing``.

    Above ``settings.aggregate_above`` rows: the 101 rows at the percentiles of this order (:func:`_swim_sample`),
    drawn as above; the y axis says so."""
    ordered = _swim_order(rows)
    _check_title(title)
    sampled = len(ordered) > settings.aggregate_above
    if sampled:
        shown, full_title = _swim_sample(ordered, settings), title
    else:
        shown, full_title = _capped(ordered, settings, title)
    fig = _new_figure(full_title, settings)
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    ends = np.array([r.last_follow_up_day for r in shown])
    bars = ax.barh(y, ends, left=0.0, height=0.7, color="#56B4E9", edgecolor=_EDGE, linewidth=0.4, zorder=2)
    for bar, r in zip(bars.patches, shown, strict=True):
        bar.set_gid(f"swim-{_slug(r.patient_label)}")
    x_max = max(float(ends.max()), 1.0)
    present: dict[str, tuple[list[float], list[float]]] = {}
    for yi, r in zip(y, shown, strict=True):
        for day, kind in r.events:
            xs, ys = present.setdefault(kind, ([], []))
            xs.append(day)
            ys.append(float(yi))
    handles: list[Line2D] = []
    for kind in _SWIM_KINDS:
        if kind in present:
            style = _swim_style(kind)
            ax.plot(*present[kind], gid=f"swim_marker-{_slug(kind)}", zorder=3, **style)
            label = _BOR_STYLE[kind][2] if kind in _BOR_STYLE else _SWIM_EVENTS[kind][1]
            handles.append(Line2D([], [], label=label, **style))
    ongoing = [(end, float(yi)) for yi, end, r in zip(y, ends, shown, strict=True) if r.ongoing]
    if ongoing:
        arrow: dict[str, Any] = {"linestyle": "none", "marker": ">", "markersize": 5.0, "color": "#000000"}
        ax.plot([e + 0.015 * x_max for e, _ in ongoing], [yy for _, yy in ongoing], gid="swim_ongoing", zorder=3,
                **arrow)
        handles.append(Line2D([], [], label="Follow-up ongoing", **arrow))
    ax.set_xlim(0.0, x_max * 1.05)
    ax.set_ylim(len(shown) - 0.5, -0.5)  # first patient on top
    if len(shown) <= settings.max_bar_labels:
        ax.set_yticks(y, [r.patient_label for r in shown], fontsize=7)
    else:
        ax.set_yticks([])
    if sampled:
        ax.set_ylabel(f"{_units(settings)}: {len(shown)} of {_count(len(ordered))},\none per percentile of follow-up",
                      fontsize=9)
    else:
        ax.set_ylabel(f"{_units(settings)} (n = {len(shown)})")
    ax.set_xlabel("Days since implant")
    ax.set_title(full_title)
    ax.grid(True, axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8)
    return fig


def swimmer_csv(rows: Sequence[SwimmerRow], unit: str = "patient") -> str:
    """CSV of every patient (also those beyond ``max_series``) in the figure's order: header
    ``patient,last_follow_up_day,ongoing,event_day,event``; one row per event (by day), or one row with empty
    ``event_day`` and ``event`` for a patient without events. ``ongoing`` is "yes" or "no"."""
    out: list[tuple[str, str, str, str, str]] = []
    for r in _swim_order(rows):
        head = (r.patient_label, _num_csv(r.last_follow_up_day), "yes" if r.ongoing else "no")
        if not r.events:
            out.append((*head, "", ""))
        out.extend((*head, _num_csv(day), kind) for day, kind in r.events)
    return _csv([unit, "last_follow_up_day", "ongoing", "event_day", "event"], out)


# ------------------------------------------------------------------------------------------ Kaplan–Meier

_KM_LINESTYLES = ("-", "--", ":", "-.")
# The confidence band is drawn through the rows where a bound has moved by more than this since the last drawn
# step (S units; 0.001 is under half a pixel of the plot height); censoring ticks closer than this fraction of
# the axes to the previous drawn tick are not drawn again. Keeps a 10 000-subject SVG small.
_KM_BAND_TOLERANCE = 0.001
# Above PlotSettings.aggregate_above subjects a censoring tick is drawn only this far (fraction of the axes) from the
# previous drawn one [DESIGN DECISION: 1 %, at most about 100 marks].
_KM_LARGE_TICK_SPACING = 0.01


def _band_steps(low: FloatArray, high: FloatArray, tol: float) -> NDArray[np.bool_]:
    """Rows to draw the step band through: the first, the last, and each row where the low or high bound
    differs by more than ``tol`` from the last kept row, so the drawn band is within ``tol`` of the exact one
    at every time."""
    keep = np.zeros(low.size, dtype=bool)
    keep[0] = keep[-1] = True
    last_lo, last_hi = low[0], high[0]
    for i in range(1, low.size - 1):
        if abs(low[i] - last_lo) > tol or abs(high[i] - last_hi) > tol:
            keep[i] = True
            last_lo, last_hi = low[i], high[i]
    return keep


def _distinct_ticks(
    t: FloatArray, s: FloatArray, censored: NDArray[np.bool_], tol_x: float, tol_y: float
) -> NDArray[np.bool_]:
    """The censored rows whose tick is not drawn on top of the previous drawn tick (within tol_x and tol_y)."""
    keep = np.zeros(t.size, dtype=bool)
    last_x, last_y = -np.inf, -np.inf
    for i in np.flatnonzero(censored):
        if abs(t[i] - last_x) > tol_x or abs(s[i] - last_y) > tol_y:
            keep[i] = True
            last_x, last_y = t[i], s[i]
    return keep


@dataclass(frozen=True)
class KmCurve:
    """One curve of :func:`km_figure`: a label (legend, at-risk row, CSV) and a Kaplan–Meier table as plain
    arrays, one entry per row (the caller converts its estimate, e.g. ``assessment.dashboard_figures.km_curve``).

    time_days: the row times, days since implant (finite, ≥ 0, increasing; the first row is day 0).
    survival, ci_low, ci_high: S(t) from the row time until the next row, and its pointwise confidence band
    (proportions in 0–1). n_at_risk, events, censored: subjects at risk just before the row time, events and
    censorings at it (integers ≥ 0). n_subjects: subjects of the curve. median_days: median survival time in days,
    None when not reached. confidence: the level of the band (e.g. 0.95).
    """

    label: str
    time_days: Sequence[float]
    survival: Sequence[float]
    ci_low: Sequence[float]
    ci_high: Sequence[float]
    n_at_risk: Sequence[int]
    events: Sequence[int]
    censored: Sequence[int]
    n_subjects: int
    median_days: float | None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _check_label("KmCurve.label", self.label)
        who = f"KmCurve {self.label!r}"
        t = _float_tuple(who, "time_days", self.time_days)
        if not t:
            raise PlotInputError(f"{who}: time_days has 0 rows; allowed: at least the day-0 row")
        _check_values(who, "time_days", np.asarray(t), "finite days ≥ 0", lambda a: np.isfinite(a) & (a >= 0))
        if any(b < a for a, b in itertools.pairwise(t)):
            raise PlotInputError(f"{who}: time_days = {list(t)!r:.80}; allowed: increasing days")
        object.__setattr__(self, "time_days", t)
        for name in ("survival", "ci_low", "ci_high"):
            values = _float_tuple(who, name, getattr(self, name))
            if len(values) != len(t):
                raise PlotInputError(f"{who}: {name} has {len(values)} rows; allowed: one per time ({len(t)})")
            _check_values(who, name, np.asarray(values), "a proportion in 0–1",
                          lambda a: np.isfinite(a) & (a >= 0) & (a <= 1))
            object.__setattr__(self, name, values)
        for name in ("n_at_risk", "events", "censored"):
            values = getattr(self, name)
            if isinstance(values, str | bytes) or len(values) != len(t) or any(
                    isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0 for v in values):
                raise PlotInputError(f"{who}: {name} = {values!r:.80}; allowed: one integer ≥ 0 per time ({len(t)})")
            object.__setattr__(self, name, tuple(int(v) for v in values))
        if isinstance(self.n_subjects, bool) or not isinstance(self.n_subjects, int | np.integer) or self.n_subjects < 0:
            raise PlotInputError(f"{who}: n_subjects = {self.n_subjects!r}; allowed: an integer ≥ 0")
        if self.median_days is not None:
            _check_number(f"{who}: median_days", self.median_days, "finite days ≥ 0 or None", lambda v: v >= 0)
        _check_number(f"{who}: confidence", self.confidence, "a level in (0, 1)", lambda v: 0 < v < 1)

    def at_risk(self, at_days: Sequence[float]) -> list[int]:
        """Numbers at risk at each of ``at_days`` (finite, ≥ 0): the subjects whose time is ≥ that day; 0 after the
        last row."""
        idx = np.searchsorted(np.asarray(self.time_days), np.asarray(at_days, dtype=np.float64), side="left")
        counts = np.append(np.asarray(self.n_at_risk, dtype=np.int64), 0)
        return [int(c) for c in counts[idx]]


def _km_check(curves: Sequence[KmCurve]) -> list[KmCurve]:
    return _check_items(curves, KmCurve, "curves", "km", lambda c: c.label)


def _median_text(km: KmCurve) -> str:
    return "median not reached" if km.median_days is None else f"median {_fmt_num(km.median_days)} days"


@_one_at_a_time
def km_figure(
    curves: Sequence[KmCurve],
    times_at_risk_days: Sequence[float],
    title: str,
    settings: PlotSettings = DEFAULT_SETTINGS,
    y_label: str = "Survival probability",
) -> Figure:
    """Kaplan–Meier curves against **days** since implant: steps (colour and line style per curve), the
    pointwise confidence band (as the caller computed it, e.g. log(−log)) shaded, and a short vertical tick at
    each censoring time. For large cohorts the band is drawn through the steps where a bound moves by more than
    0.001 (the drawn band stays within 0.001 of the exact one; :func:`km_csv` has every row) and a censoring
    tick is not drawn again on top of the previous one (within 0.001 of the axis ranges; above
    ``settings.aggregate_above`` subjects within 1 % of them, so the marks do not hide the curve, and the at-risk
    row labels stand further from the numbers). Legend:
    "<label> (n = …, median … days)" or "(n = …, median not reached)", "Censored", "95 % confidence band".
    Under the plot a "Number at risk" table: one row per curve (row label = curve label, in its colour), the
    numbers at risk (:meth:`KmCurve.at_risk`) at ``times_at_risk_days`` (finite, ≥ 0, strictly increasing),
    which are also the x ticks. The figure is ``settings.figsize_in`` plus 0.35 in + 0.22 in per curve of height
    for the table. ``y_label`` names the event, e.g. "Progression-free (proportion)".

    SVG ids: each curve's step line ``km-<label slug>``; its band ``km_ci-<label slug>``; its censoring ticks
    ``km_censor-<label slug>`` (one path for all ticks); each at-risk number ``km_atrisk-<label slug>-<i>``
    (i = 0… over ``times_at_risk_days``, so curves × times ids)."""
    items = _km_check(curves)
    _check_title(title)
    _check_label("y_label", y_label)
    at = _float_tuple("km_figure", "times_at_risk_days", times_at_risk_days)
    if not at:
        raise PlotInputError("times_at_risk_days: got 0 values; allowed: at least one day ≥ 0")
    _check_values("km_figure", "times_at_risk_days", np.asarray(at), "finite days ≥ 0",
                  lambda a: np.isfinite(a) & (a >= 0))
    if any(b <= a for a, b in itertools.pairwise(at)):
        raise PlotInputError(f"times_at_risk_days: got {list(at)!r:.80}; allowed: strictly increasing days")

    # The numbers-at-risk table adds height to the figure: 0.35 in for its title and 0.22 in per curve.
    width_in, height_in = settings.figsize_in
    table_in = 0.35 + 0.22 * len(items)
    fig = _new_figure(title, replace(settings, figsize_in=(width_in, height_in + table_in)))
    grid = fig.add_gridspec(2, 1, height_ratios=[height_in, table_in])
    ax = fig.add_subplot(grid[0])
    table = fig.add_subplot(grid[1], sharex=ax)
    x_max = max(max(c.time_days[-1] for c in items), at[-1])
    x_max = x_max if x_max > 0 else 1.0
    # A large cohort's censoring marks: at most one per 1 % of the time axis, else thousands of ticks hide the curve.
    large = any(c.n_subjects > settings.aggregate_above for c in items)
    tick_tol = _KM_LARGE_TICK_SPACING if large else _KM_BAND_TOLERANCE
    tick_half = 0.018
    for i, c in enumerate(items):
        colour = _OKABE_ITO[i % len(_OKABE_ITO)]
        slug = _slug(c.label)
        km = c
        t = np.asarray(km.time_days)
        s = np.asarray(km.survival)
        keep = _band_steps(np.asarray(km.ci_low), np.asarray(km.ci_high), _KM_BAND_TOLERANCE)
        ax.fill_between(t[keep], np.asarray(km.ci_low)[keep], np.asarray(km.ci_high)[keep], step="post",
                        color=colour, alpha=0.18, linewidth=0, gid=f"km_ci-{slug}")
        ax.step(t, s, where="post", color=colour, linestyle=_KM_LINESTYLES[i % len(_KM_LINESTYLES)],
                linewidth=1.6, gid=f"km-{slug}", label=f"{c.label} (n = {km.n_subjects}, {_median_text(km)})")
        cens = _distinct_ticks(t, s, np.asarray(km.censored) > 0, tick_tol * x_max, tick_tol)
        if cens.any():
            # One path of short vertical segments (NaN-separated): compact in SVG even for thousands of ticks.
            tx = np.repeat(t[cens], 3)
            ty = np.column_stack((s[cens] - tick_half, s[cens] + tick_half, np.full(cens.sum(), np.nan))).ravel()
            tx[2::3] = np.nan
            ax.plot(tx, ty, color=colour, linewidth=1.0, gid=f"km_censor-{slug}")
        for j, n in enumerate(km.at_risk(at)):
            table.text(at[j], i, str(n), ha="center", va="center", fontsize=8, color=_EDGE,
                       gid=f"km_atrisk-{slug}-{j}")
    ax.plot([], [], color=_EDGE, linestyle="none", marker="|", markersize=7, label="Censored")
    levels = {c.confidence for c in items}
    band = f"{_fmt_num(100 * levels.pop())} % confidence band" if len(levels) == 1 else "Confidence band"
    ax.fill_between([], [], [], color="#888888", alpha=0.3, linewidth=0, label=band)
    ax.set_xlim(0.0, x_max * 1.02)
    ax.set_ylim(0.0, 1.03)
    ax.set_xticks(at, [_fmt_num(d) for d in at])
    ax.set_ylabel(y_label)
    ax.set_xlabel("Days since implant")
    ax.set_title(title)
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)  # deterministic: the same data picks the same place

    table.set_ylim(len(items) - 0.5, -0.5)
    table.set_yticks(range(len(items)), [c.label for c in items], fontsize=8)
    for i, tick in enumerate(table.get_yticklabels()):
        tick.set_color(_OKABE_ITO[i % len(_OKABE_ITO)])
    table.tick_params(axis="both", length=0, pad=24 if large else 10)  # 5-digit numbers at day 0 need room
    table.tick_params(axis="x", labelbottom=False)
    for spine in table.spines.values():
        spine.set_visible(False)
    table.set_title("Number at risk", fontsize=8, loc="left")
    return fig


def km_csv(curves: Sequence[KmCurve]) -> str:
    """CSV of the Kaplan–Meier tables drawn by :func:`km_figure`, curves in the given order: header
    ``label,time_days,survival,ci_low,ci_high,at_risk,events,censored``, one row per table row (day 0 and each
    observed time; ``at_risk`` = subjects with time ≥ ``time_days``)."""
    out: list[tuple[object, ...]] = []
    for c in _km_check(curves):
        k = c
        out.extend(
            (c.label, _num_csv(t), _num_csv(s), _num_csv(lo), _num_csv(hi), n, d, cen)
            for t, s, lo, hi, n, d, cen in zip(
                k.time_days, k.survival, k.ci_low, k.ci_high, k.n_at_risk, k.events, k.censored, strict=True
            )
        )
    return _csv(["label", "time_days", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"], out)


# -------------------------------------------------------------------------------------------- thyroglobulin

_QUALIFIERS = ("=", "<", ">")
# qualifier → (gid suffix, marker, filled, colour, legend)
_TG_STYLE: dict[str, tuple[str, str, bool, str, str]] = {
    "=": ("measured", "o", True, "#0072B2", "Measured"),
    "<": ("below", "v", False, "#D55E00", "Below the limit (“<”, drawn at the limit)"),
    ">": ("above", "^", False, "#CC79A7", "Above the limit (“>”, drawn at the limit)"),
}


@dataclass(frozen=True)
class TgSeries:
    """One patient's thyroglobulin course in :func:`tg_figure`.

    patient_label: a study number, unique in the figure.
    days: days since implant of each sample, non-decreasing (negative = before the implant).
    values_ng_ml: Tg in ng/mL, finite, > 0 (a log axis); for a censored value, the limit ("<0.2" → 0.2).
    qualifiers: "=" (measured), "<" (below the limit) or ">" (above it) per value
        (``assessment.thyroglobulin.Qualifier`` members are accepted); default all "=".
    """

    patient_label: str
    days: Sequence[float]
    values_ng_ml: Sequence[float]
    qualifiers: Sequence[str] | None = None

    def __post_init__(self) -> None:
        _check_label("TgSeries.patient_label", self.patient_label)
        who = f"TgSeries {self.patient_label!r}"
        days = _float_tuple(who, "days", self.days)
        values = _float_tuple(who, "values_ng_ml", self.values_ng_ml)
        raw_q = ("=",) * len(values) if self.qualifiers is None else self.qualifiers
        if isinstance(raw_q, str):
            raise PlotInputError(f"{who}: qualifiers is a string; allowed: a sequence of =, <, >")
        qualifiers = tuple(str(q) for q in raw_q)
        if not all(q in _QUALIFIERS for q in qualifiers):
            i = next(i for i, q in enumerate(qualifiers) if q not in _QUALIFIERS)
            raise PlotInputError(f"{who}: qualifiers[{i}] = {raw_q[i]!r}; allowed: =, <, >")
        if not len(days) == len(values) == len(qualifiers):
            raise PlotInputError(
                f"{who}: days, values_ng_ml, qualifiers have {len(days)}, {len(values)}, {len(qualifiers)} values; "
                "they must have the same length"
            )
        if not days:
            raise PlotInputError(f"{who}: days has 0 values; allowed: at least one sample (leave the patient out)")
        # Checked in plain Python first (a patient has a handful of values); numpy names the first bad one.
        if not (all(math.isfinite(v) for v in days) and all(math.isfinite(v) and v > 0 for v in values)
                and all(a <= b for a, b in itertools.pairwise(days))):
            d = np.asarray(days)
            _check_values(who, "days", d, "finite days", np.isfinite)
            _check_values(who, "values_ng_ml", np.asarray(values), "a finite Tg > 0 ng/mL (log axis)",
                          lambda a: np.isfinite(a) & (a > 0))
            i = int(np.flatnonzero(d[1:] < d[:-1])[0]) + 1
            raise PlotInputError(f"{who}: days[{i}] = {days[i]!r} is before days[{i - 1}] = {days[i - 1]!r}; allowed: non-decreasing days")
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "values_ng_ml", values)
        object.__setattr__(self, "qualifiers", qualifiers)


def _tg_order(series: Sequence[TgSeries]) -> list[TgSeries]:
    items = _check_items(series, TgSeries, "series", "tg", lambda s: s.patient_label)
    return _by_label(items, lambda s: s.patient_label)


def _tg_marker(qualifier: str) -> dict[str, Any]:
    _, marker, filled, colour, _ = _TG_STYLE[qualifier]
    return {"linestyle": "none", "marker": marker, "markersize": 5.0 if filled else 6.0,
            "markerfacecolor": colour if filled else "white", "markeredgecolor": colour,
            "markeredgewidth": 0.6 if filled else 1.2, "color": colour}


@_one_at_a_time
def tg_figure(
    series: Sequence[TgSeries],
    loq_ng_ml: float | None,
    title: str,
    settings: PlotSettings = DEFAULT_SETTINGS,
) -> Figure:
    """Thyroglobulin (ng/mL, **log** y axis) against days since implant: a thin grey line per patient; measured
    values as filled blue circles, values below the limit ("<") as open down-triangles and above it (">") as
    open up-triangles, both drawn at the limit — shape, fill and colour differ, and the legend says it. If
    ``loq_ng_ml`` (> 0) is given, a dashed horizontal line labelled "LoQ … ng/mL" at the limit of quantification.

    Patients are drawn in order of ``patient_label``; beyond ``settings.max_series`` only the first that many
    and the title ends "(showing N of M patients)"; :func:`tg_csv` lists all.

    SVG ids: each patient's line ``tg-<patient slug>``; the markers ``tg_measured``, ``tg_below`` and
    ``tg_above`` (one artist each, for all patients); the LoQ line ``tg_loq``.

    Above ``settings.aggregate_above`` patients: the median and quantile bands per 30-day interval on the log
    scale (:func:`_tg_bands`), ids ``tg_median``, ``tg_iqr``, ``tg_p10_p90`` and ``tg_loq``, no ``tg-`` ids."""
    ordered = _tg_order(series)
    _check_title(title)
    if loq_ng_ml is not None and not (_finite(loq_ng_ml) and loq_ng_ml > 0):
        raise PlotInputError(f"loq_ng_ml: got {loq_ng_ml!r}; allowed: None or a positive number of ng/mL")
    if len(ordered) > settings.aggregate_above:
        return _tg_bands(ordered, loq_ng_ml, title, settings)
    shown, full_title = _capped(ordered, settings, title)
    fig = _new_figure(full_title, settings)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    points: dict[str, tuple[list[float], list[float]]] = {q: ([], []) for q in _QUALIFIERS}
    for s in shown:
        ax.plot(s.days, s.values_ng_ml, color=_SERIES_LINE, linewidth=0.8, alpha=0.8,
                gid=f"tg-{_slug(s.patient_label)}", zorder=2)
        for day, value, q in zip(s.days, s.values_ng_ml, cast(Sequence[str], s.qualifiers), strict=True):
            points[q][0].append(day)
            points[q][1].append(value)
    handles: list[Line2D] = []
    for q in _QUALIFIERS:
        if points[q][0]:
            style = _tg_marker(q)
            ax.plot(*points[q], gid=f"tg_{_TG_STYLE[q][0]}", zorder=3, **style)
            handles.append(Line2D([], [], label=_TG_STYLE[q][4], **style))
    _tg_loq(ax, loq_ng_ml, handles)
    ax.set_xlabel("Days since implant")
    ax.set_ylabel("Thyroglobulin (ng/mL, log scale)")
    ax.set_title(full_title)
    ax.grid(True, which="major", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2), fontsize=8)
    return fig


def _tg_loq(ax: Axes, loq_ng_ml: float | None, handles: list[Any]) -> None:
    """The dashed LoQ line ``tg_loq``, labelled at the right, and its legend handle."""
    if loq_ng_ml is not None:
        style: dict[str, Any] = {"color": "#444444", "linestyle": "--", "linewidth": 1.0}
        ax.axhline(loq_ng_ml, gid="tg_loq", **style)
        handles.append(Line2D([], [], label=f"LoQ {_fmt_num(loq_ng_ml)} ng/mL", **style))
        ax.text(1.01, loq_ng_ml, f"LoQ {_fmt_num(loq_ng_ml)}", transform=ax.get_yaxis_transform(), ha="left",
                va="center", fontsize=8, color=_EDGE, clip_on=False)


def _tg_bands(ordered: list[TgSeries], loq_ng_ml: float | None, title: str, settings: PlotSettings) -> Figure:
    """The Tg figure of a large cohort (see :func:`tg_figure`): per 30-day interval, the median Tg and its
    interquartile and 10–90 % ranges over every value in it, quantiles taken on the log scale; a "<" or ">" value
    counts at its limit (a median on the LoQ line means at least half the values were at or below it)."""
    days = np.fromiter(itertools.chain.from_iterable(s.days for s in ordered), dtype=np.float64)
    values = np.fromiter(itertools.chain.from_iterable(s.values_ng_ml for s in ordered), dtype=np.float64)
    x, q, _ = _interval_quantiles(days, np.log10(values))
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    # Decades written as plain numbers (0.1, 1, 10 …), not as mathtext powers of ten: as readable, and the
    # mathtext layout was half of this figure's drawing time.
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _fmt_num(value)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    handles = _draw_bands(ax, "tg", x, 10.0 ** q)
    _tg_loq(ax, loq_ng_ml, handles)
    return _band_labels(fig, ax, handles, title,
                        f"Days since implant ({_count(len(ordered))} patients, {_count(days.size)} values in "
                        f"{_fmt_num(_BAND_DAYS)}-day intervals)", "Thyroglobulin (ng/mL, log scale)", ncol=2)


def tg_csv(series: Sequence[TgSeries]) -> str:
    """CSV of every patient's values (also those beyond ``max_series``) in the figure's order: header
    ``patient,day,value_ng_ml,qualifier`` (qualifier "=", "<" or ">"; a censored value is its limit)."""
    return _csv(
        ["patient", "day", "value_ng_ml", "qualifier"],
        (
            (s.patient_label, _num_csv(d), _num_csv(v), q)
            for s in _tg_order(series)
            for d, v, q in zip(s.days, s.values_ng_ml, cast(Sequence[str], s.qualifiers), strict=True)
        ),
    )


# ------------------------------------------------------------------------------------------------ volume


@dataclass(frozen=True)
class VolumeGroup:
    """One box of :func:`volume_figure`: a time point (e.g. "Baseline", "6 months") and the lesion volumes
    measured then, in cm³ (finite, ≥ 0, at least one)."""

    timepoint: str
    volumes_cm3: Sequence[float]

    def __post_init__(self) -> None:
        _check_label("VolumeGroup.timepoint", self.timepoint)
        who = f"VolumeGroup {self.timepoint!r}"
        volumes = _float_tuple(who, "volumes_cm3", self.volumes_cm3)
        if not volumes:
            raise PlotInputError(f"{who}: volumes_cm3 has 0 values; allowed: at least one volume (leave the time point out)")
        _check_values(who, "volumes_cm3", np.asarray(volumes), "finite volumes ≥ 0 cm³",
                      lambda a: np.isfinite(a) & (a >= 0))
        object.__setattr__(self, "volumes_cm3", volumes)


_BOX_STATS = ("whisker_low", "q1", "median", "q3", "whisker_high")


def _box_stats(volumes: Sequence[float]) -> dict[str, float]:
    """Quartiles by Hyndman–Fan type 6 (numpy "weibull", as SPSS and ``assessment.stats`` print them);
    whiskers at the most extreme volumes within 1.5 IQR of the box (Tukey)."""
    v = np.asarray(volumes)
    q1, med, q3 = (float(x) for x in np.percentile(v, [25.0, 50.0, 75.0], method="weibull"))
    iqr = q3 - q1
    inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
    lo = float(inside.min()) if inside.size else q1
    hi = float(inside.max()) if inside.size else q3
    return {"whisker_low": min(lo, q1), "q1": q1, "median": med, "q3": q3, "whisker_high": max(hi, q3)}


def _volume_check(groups: Sequence[VolumeGroup]) -> list[VolumeGroup]:
    return _check_items(groups, VolumeGroup, "groups", "volume", lambda g: g.timepoint)


@_one_at_a_time
def volume_figure(
    groups: Sequence[VolumeGroup], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Lesion volume (cm³) per time point, in the given order: a box (quartiles by Hyndman–Fan type 6, as the
    tables; median line; whiskers to the most extreme volume within 1.5 IQR) with the individual volumes as
    dots beside it (deterministic jitter) while a group has at most ``settings.max_scatter_artists`` volumes;
    larger groups show only the box and the volumes beyond the whiskers. A group of more than
    ``settings.aggregate_above`` volumes draws its volumes beyond the whiskers once per value distinct at the
    plot's resolution (1/400 of the y axis; thousands of outliers of a skewed cohort drew 260 kB of dots on one
    another). The x labels give "n = …".

    SVG ids: each box ``volume-<timepoint slug>``; its median line ``volume_median-<timepoint slug>``; its dots
    ``volume_points-<timepoint slug>`` (one artist) or, for a large group, ``volume_outliers-<timepoint slug>``."""
    items = _volume_check(groups)
    _check_title(title)
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    stats = []
    for g in items:
        b = _box_stats(g.volumes_cm3)
        stats.append({"med": b["median"], "q1": b["q1"], "q3": b["q3"], "whislo": b["whisker_low"],
                      "whishi": b["whisker_high"], "fliers": [], "label": g.timepoint})
    positions = np.arange(len(items), dtype=float)
    # Outliers of a large group closer than this are one dot: 1/400 of the y axis, under a pixel of the page.
    resolution = max((max(max(g.volumes_cm3) for g in items) * 1.05) / 400.0, 1e-9)
    art = ax.bxp(stats, positions=positions, widths=0.45, patch_artist=True, showfliers=False, manage_ticks=False,
                 boxprops={"facecolor": "#CCE5F3", "edgecolor": _EDGE, "linewidth": 0.9},
                 medianprops={"color": "#D55E00", "linewidth": 2.0},
                 whiskerprops={"color": _EDGE}, capprops={"color": _EDGE})
    for i, g in enumerate(items):
        slug = _slug(g.timepoint)
        art["boxes"][i].set_gid(f"volume-{slug}")
        art["medians"][i].set_gid(f"volume_median-{slug}")
        v = np.asarray(g.volumes_cm3)
        dots: dict[str, Any] = {"linestyle": "none", "marker": "o", "markersize": 3.5, "markerfacecolor": "#0072B2",
                "markeredgecolor": "white", "markeredgewidth": 0.4, "alpha": 0.85, "zorder": 3}
        if v.size > settings.aggregate_above:
            s = stats[i]
            out = v[(v < s["whislo"]) | (v > s["whishi"])]
            if out.size:  # one dot per outlier value distinct at the plot's resolution
                out = np.unique(np.round(out / resolution)) * resolution
                ax.plot(np.full(out.size, positions[i]), out, gid=f"volume_outliers-{slug}", **dots)
        elif v.size <= settings.max_scatter_artists:
            jitter = np.random.default_rng(i).uniform(-0.1, 0.1, size=v.size)
            ax.plot(positions[i] + 0.33 + jitter, v, gid=f"volume_points-{slug}", **dots)
        else:
            s = stats[i]
            out = v[(v < s["whislo"]) | (v > s["whishi"])]
            if out.size:
                ax.plot(np.full(out.size, positions[i]), out, gid=f"volume_outliers-{slug}", **dots)
    ax.set_xticks(positions, [f"{g.timepoint}\n(n = {len(g.volumes_cm3)})" for g in items])
    ax.set_xlim(-0.6, len(items) - 0.1)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("Lesion volume (cm³)")
    ax.set_title(title)
    ax.grid(True, axis="y", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig


def volume_csv(groups: Sequence[VolumeGroup]) -> str:
    """CSV of :func:`volume_figure`: header ``timepoint,statistic,value_cm3``; per time point (given order)
    the box rows ``whisker_low``, ``q1``, ``median``, ``q3``, ``whisker_high`` and then one ``volume`` row per
    volume in the given order (all of them, also where a large group draws only the box)."""
    out: list[tuple[object, ...]] = []
    for g in _volume_check(groups):
        b = _box_stats(g.volumes_cm3)
        out.extend((g.timepoint, name, _num_csv(b[name])) for name in _BOX_STATS)
        out.extend((g.timepoint, "volume", _num_csv(v)) for v in g.volumes_cm3)
    return _csv(["timepoint", "statistic", "value_cm3"], out)


# ----------------------------------------------------------------------------------------- dose–response


@dataclass(frozen=True)
class DoseResponsePoint:
    """One patient (or lesion) of :func:`dose_response_figure`.

    patient_label: a study number (or "patient/lesion"), unique in the figure.
    d90_gy: post-implant D90 (Gy), finite, ≥ 0.
    best_change_pct: best % change in the sum of diameters from baseline, finite, ≥ −100.
    best_response: CR, PR, SD, PD or NE.
    """

    patient_label: str
    d90_gy: float
    best_change_pct: float
    best_response: str = "NE"

    def __post_init__(self) -> None:
        _check_label("DoseResponsePoint.patient_label", self.patient_label)
        who = f"DoseResponsePoint {self.patient_label!r}"
        d90 = _check_number(f"{who}: d90_gy", self.d90_gy, "a finite dose ≥ 0 Gy", lambda v: v >= 0)
        change = _check_number(f"{who}: best_change_pct", self.best_change_pct, "a finite % ≥ −100", lambda v: v >= -100)
        object.__setattr__(self, "d90_gy", d90)
        object.__setattr__(self, "best_change_pct", change)
        object.__setattr__(self, "best_response", _check_response(f"{who}: best_response", self.best_response))


def _dose_order(points: Sequence[DoseResponsePoint]) -> list[DoseResponsePoint]:
    items = _check_items(points, DoseResponsePoint, "points", "dose", lambda p: p.patient_label)
    return _by_label(items, lambda p: p.patient_label)


@_one_at_a_time
def dose_response_figure(
    points: Sequence[DoseResponsePoint],
    prescription_gy: float | None,
    title: str,
    settings: PlotSettings = DEFAULT_SETTINGS,
) -> Figure:
    """Post-implant D90 (Gy, x) against the best % change in the sum of diameters (y), a marker per point whose
    shape and colour give the best response (legend below), the +20 % / −30 % guides and, if
    ``prescription_gy`` (> 0) is given, a dash-dotted vertical line labelled "Rx … Gy". All points are drawn.

    SVG ids: up to ``settings.max_scatter_artists`` points, one artist per point, ``dose-<patient slug>``;
    above that (a large cohort) one artist per category, ``dose_group-<category, lower case>``, and no
    ``dose-`` ids. The guides ``dose_pd`` / ``dose_pr``, the prescription line ``dose_rx``. Above
    ``settings.aggregate_above`` points: the median best change and its bands in 20 equal groups by D90
    (:func:`_dose_bands`), ids ``dose_median``, ``dose_iqr``, ``dose_p10_p90``, no marker per point."""
    ordered = _dose_order(points)
    _check_title(title)
    if prescription_gy is not None and not (_finite(prescription_gy) and prescription_gy > 0):
        raise PlotInputError(f"prescription_gy: got {prescription_gy!r}; allowed: None or a positive number of Gy")
    if len(ordered) > settings.aggregate_above:
        return _dose_bands(ordered, prescription_gy, title, settings)
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    present = [c for c in _BOR_ORDER if any(p.best_response == c for p in ordered)]
    if len(ordered) <= settings.max_scatter_artists:
        for p in ordered:
            ax.plot([p.d90_gy], [p.best_change_pct], gid=f"dose-{_slug(p.patient_label)}", zorder=3,
                    **_marker_style(p.best_response))
    else:
        for c in present:
            mine = [p for p in ordered if p.best_response == c]
            ax.plot([p.d90_gy for p in mine], [p.best_change_pct for p in mine], gid=f"dose_group-{c.lower()}",
                    zorder=3, **_marker_style(c, 0.8))
    _guides(ax, "dose", settings, [p.best_change_pct for p in ordered])
    _dose_rx(ax, prescription_gy)
    ax.set_xlim(left=0.0)
    ax.set_xlabel("Post-implant D90 (Gy)")
    ax.set_ylabel(f"Best change in {_size_text(settings)} (%)")
    ax.set_title(title)
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = _response_handles(present)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8)
    return fig


def _dose_rx(ax: Axes, prescription_gy: float | None) -> None:
    if prescription_gy is not None:
        ax.axvline(prescription_gy, color="#444444", linestyle="-.", linewidth=1.0, gid="dose_rx")
        ax.annotate(f"Rx {_fmt_num(prescription_gy)} Gy", xy=(prescription_gy, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-3.0, -3.0), textcoords="offset points", rotation=90, ha="right", va="top", fontsize=8,
                    color=_EDGE)


# A large cohort's dose–response figure: groups of equal size by D90 [DESIGN DECISION: 20 groups, 5 % each].
_DOSE_GROUPS = 20


def _dose_bands(points: list[DoseResponsePoint], prescription_gy: float | None, title: str,
                settings: PlotSettings) -> Figure:
    """The dose–response figure of a large cohort (see :func:`dose_response_figure`): the points sorted by D90 in
    20 groups of equal size; at each group's median D90, the median best change and its interquartile and 10–90 %
    ranges (Hyndman–Fan type 6)."""
    d90 = np.fromiter((p.d90_gy for p in points), dtype=np.float64, count=len(points))
    change = np.fromiter((p.best_change_pct for p in points), dtype=np.float64, count=len(points))
    order = np.argsort(d90, kind="stable")
    groups = np.array_split(order, min(_DOSE_GROUPS, len(points)))
    x = np.array([np.median(d90[g]) for g in groups])
    q = np.array([np.percentile(change[g], _BAND_PCT, method="weibull") for g in groups])
    fig = _new_figure(title, settings)
    ax = fig.add_subplot()
    handles = _draw_bands(ax, "dose", x, q)
    _guides(ax, "dose", settings, [float(q.min()), float(q.max())])
    _dose_rx(ax, prescription_gy)
    ax.set_xlim(left=0.0)
    return _band_labels(fig, ax, handles, title,
                        f"Post-implant D90 (Gy); {_count(len(points))} {settings.unit}s in {len(groups)} groups of "
                        "equal size by D90", f"Best change in {_size_text(settings)} (%)")


def dose_response_csv(points: Sequence[DoseResponsePoint], unit: str = "patient") -> str:
    """CSV of the points of :func:`dose_response_figure`, in order of ``patient_label``: header
    ``patient,d90_gy,best_change_pct,best_response``."""
    return _csv(
        [unit, "d90_gy", "best_change_pct", "best_response"],
        ((p.patient_label, _num_csv(p.d90_gy), _num_csv(p.best_change_pct), p.best_response) for p in _dose_order(points)),
    )


# ------------------------------------------------------------------------------------- large-cohort captions

AGGREGATED_FIGURES = ("waterfall", "spider", "swimmer", "km", "tg", "volume", "dose")


def aggregation_note(figure: str, n_items: int, settings: PlotSettings = DEFAULT_SETTINGS) -> str:
    """The sentence a caption adds when ``figure`` (one of :data:`AGGREGATED_FIGURES`) draws ``n_items`` items
    aggregated, i.e. ``n_items > settings.aggregate_above``; "" otherwise (the figure is drawn item by item). For
    "volume", ``n_items`` is the largest box's number of volumes; for the others the items given to the builder."""
    if figure not in AGGREGATED_FIGURES:
        raise PlotInputError(f"figure: got {figure!r}; allowed: {', '.join(AGGREGATED_FIGURES)}")
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 0:
        raise PlotInputError(f"n_items: got {n_items!r}; allowed: an integer ≥ 0")
    limit = settings.aggregate_above
    if n_items <= limit:
        return ""
    unit, n = settings.unit, _count(n_items)
    every = f"; the CSV lists every {unit}."
    if figure == "waterfall":
        k, bins = _bins_of(n_items, settings)
        return (f"{n} {unit}s, more than {limit}: shown as {bins} bins of {k} {unit}s in the sorted order, each "
                f"spanning its bars and coloured (and, when wide enough, lettered) by its most frequent best "
                f"response, instead of one hatched, lettered bar per {unit}" + every)
    if figure in ("spider", "tg"):
        what = "% change" if figure == "spider" else "Tg (quantiles on the log scale; '<' and '>' results at their limit)"
        return (f"{n} {unit}s, more than {limit}: shown as the median {what} with its interquartile and 10–90 % "
                f"ranges per {_fmt_num(_BAND_DAYS)}-day interval (intervals with at least {_BAND_MIN_VALUES} values), "
                f"instead of one line per {unit}" + every)
    if figure == "swimmer":
        m = min(_SWIM_PERCENTILES, limit)
        return (f"{n} {unit}s, more than {limit}: shown as the {m} {unit}s at the percentiles of follow-up (longest "
                f"to shortest), instead of one bar per {unit}" + every)
    if figure == "km":
        return (f"{n} {unit}s, more than {limit}: a censoring mark is drawn at most once per 1 % of the time axis "
                "(the numbers at risk and the CSV have every censoring).")
    if figure == "volume":
        return (f"Boxes of more than {limit} volumes ({n} at most here): no dots beside the box; the volumes beyond "
                "the whiskers are drawn once per value distinct at the plot's resolution; the CSV lists every volume.")
    return (f"{n} {unit}s, more than {limit}: shown as the median best change with its interquartile and 10–90 % "
            f"ranges in {min(_DOSE_GROUPS, n_items)} groups of equal size by D90, instead of one marker per {unit}; "
            f"the CSV lists every {unit} with its response.")


# ------------------------------------------------------------------------------------------------ output


def _check_title(title: str) -> None:
    if not isinstance(title, str) or not title.strip():
        raise PlotInputError(f"title: got {title!r}; allowed: a non-empty string (it is also the accessible name)")


_METADATA: dict[str, dict[str, str | None]] = {
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "png": {},
}


@_one_at_a_time
def render(fig: Figure, fmt: Format, settings: PlotSettings = DEFAULT_SETTINGS) -> bytes:
    """The figure as file bytes: ``"svg"`` (a standalone SVG document), ``"png"`` (at ``settings.png_dpi``)
    or ``"pdf"`` (vector, fonts embedded as TrueType). The same figure data gives the same bytes."""
    if fmt not in FORMATS:
        raise PlotInputError(f"fmt: got {fmt!r}; allowed: {', '.join(FORMATS)}")
    _pin_rc()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=settings.png_dpi, metadata=_METADATA[fmt])
    return buf.getvalue()


def svg_inline(fig: Figure, title: str | None = None, description: str | None = None) -> str:
    """The figure as an ``<svg …>`` element to put in a page: no XML prolog or doctype, with
    ``role="img"``, ``aria-label`` and a ``<title>`` (``title``, default the figure's label, i.e. the title
    given to the builder) and, if given, a ``<desc>``. The text is escaped for XML."""
    name = title if title is not None else cast(str, fig.get_label())
    _check_title(name)
    text = render(fig, "svg").decode("utf-8")
    start = text.find("<svg")
    if start < 0:  # pragma: no cover - matplotlib always writes an <svg> element
        raise RuntimeError("matplotlib produced no <svg> element")
    text = text[start:]
    open_end = text.index(">")
    label = html.escape(name, quote=True)
    head = text[:open_end] + f' role="img" aria-label="{label}" {_SVG_ROOT_STYLE}>'
    extra = f"\n <title>{html.escape(name, quote=False)}</title>"
    if description:
        extra += f"\n <desc>{html.escape(description, quote=False)}</desc>"
    return head + extra + _styles_as_attributes(text[open_end + 1 :])


# The page's Content-Security-Policy allows no inline style (config/settings.py), so the SVG put in a page carries
# no <style> element and no style="…" attribute: matplotlib's declarations (fill, stroke, stroke-width, opacity,
# dashes…) are all SVG presentation attributes, written as such; its one stylesheet rule (`*{stroke-linejoin:
# round; stroke-linecap: butt}`) becomes the root's attributes, inherited by every element that sets none.
_SVG_ROOT_STYLE = 'stroke-linejoin="round" stroke-linecap="butt"'
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)
_START_TAG_WITH_STYLE = re.compile(r'<[a-zA-Z][^<>]*?\sstyle="[^"]*"[^<>]*>')
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_ATTRIBUTE_NAME = re.compile(r'\s([a-zA-Z:-]+)=')


def _styles_as_attributes(svg: str) -> str:
    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        declarations = cast(re.Match[str], _STYLE_ATTRIBUTE.search(text)).group(1)  # every tag matched has one
        present = set(_ATTRIBUTE_NAME.findall(text))
        attributes = []
        for declaration in declarations.split(";"):
            prop, _, value = declaration.partition(":")
            prop, value = prop.strip(), value.strip()
            if prop and value and prop not in present:
                attributes.append(f'{prop}="{value}"')
        return _STYLE_ATTRIBUTE.sub(lambda _: "".join(f" {a}" for a in attributes), text, count=1)

    return _START_TAG_WITH_STYLE.sub(tag, _STYLE_ELEMENT.sub("", svg))

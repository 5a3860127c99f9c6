"""The one plotting module of SeedTrack: matplotlib figures for the web pages (inline SVG) and the PDF reports.

Plain data in (frozen dataclasses of floats and strings), a :class:`matplotlib.figure.Figure` out; never a
Django model. :func:`render` turns a figure into SVG / PNG / PDF bytes, :func:`svg_inline` into an accessible
``<svg>`` element for a page. Every figure offers the exact data it draws as CSV (:func:`figure_csv`,
:func:`waterfall_csv`).

Rules kept here:

* Object API only (``Figure(...)``, ``fig.add_subplot``), never ``pyplot``: pages render concurrently and
  pyplot keeps global state. Rendering goes through the Agg / SVG / PDF canvases of ``savefig``.
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

Units: doses in Gy, volumes in % of the structure volume (0–100), changes in % of baseline.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import NDArray

__all__ = [
    "DvhCurve",
    "LineStyle",
    "PlotInputError",
    "PlotSettings",
    "WaterfallRow",
    "dvh_figure",
    "dvh_gid",
    "figure_csv",
    "render",
    "simplify_curve",
    "svg_inline",
    "waterfall_csv",
    "waterfall_figure",
]

FloatArray = NDArray[np.float64]
Format = Literal["svg", "png", "pdf"]
FORMATS: tuple[str, ...] = ("svg", "png", "pdf")

# Okabe & Ito (2008) colour-blind-safe palette.
_OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

# rcParams that matplotlib reads globally at draw time; see the module docstring.
_PINNED_RC: dict[str, object] = {
    "svg.hashsalt": "seedtrack",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "font.family": ["DejaVu Sans"],
    "axes.unicode_minus": True,
}


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class PlotInputError(ValueError):
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
        beyond that they would overlap and only colour, hatch and legend remain [DESIGN DECISION: 60].
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

    def __post_init__(self) -> None:
        w, h = self.figsize_in
        if not (_finite(w) and _finite(h) and w > 0 and h > 0):
            raise PlotInputError(f"figsize_in: got {self.figsize_in!r}; allowed: two positive finite inches")
        for name, minimum in (("png_dpi", 1), ("max_points_per_curve", 2), ("max_bar_labels", 0)):
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


def _pin_rc() -> None:
    """Write the constant rcParams this module relies on (idempotent, never restored; see module docstring)."""
    matplotlib.rcParams.update(_PINNED_RC)


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
    return tuple(float(x) for x in arr)


def _check_values(
    who: str, name: str, arr: FloatArray, allowed: str, ok: Callable[[FloatArray], NDArray[np.bool_]]
) -> None:
    bad = np.flatnonzero(~ok(arr))
    if bad.size:
        i = int(bad[0])
        raise PlotInputError(f"{who}: {name}[{i}] = {float(arr[i])!r}; allowed: {allowed}")


def _vertical_error(d: FloatArray, v: FloatArray, a: int, b: int) -> FloatArray:
    """|v_i − polyline(a→b)| for a < i < b, in volume %; a vertical chord spans [min(v_a, v_b), max(v_a, v_b)]."""
    di = d[a + 1 : b]
    vi = v[a + 1 : b]
    span = d[b] - d[a]
    if span > 0:
        line = v[a] + (di - d[a]) / span * (v[b] - v[a])
        # Points sharing the end doses lie on vertical steps the chord does not draw.
        return np.abs(vi - line)
    lo, hi = min(v[a], v[b]), max(v[a], v[b])
    return np.maximum(np.maximum(vi - hi, lo - vi), 0.0)


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


def waterfall_figure(
    rows: Sequence[WaterfallRow], title: str, settings: PlotSettings = DEFAULT_SETTINGS
) -> Figure:
    """Waterfall plot: one bar per patient, the best % change in the sum of diameters from baseline, sorted
    from the largest increase (left) to the deepest shrinkage (right). Bars are coloured by best response and
    also hatched per category, with the category letters written at the bar ends (up to
    ``settings.max_bar_labels`` patients) and a legend, so the plot reads without colour. Dashed guide lines at
    ``settings.pd_guide_pct`` (+20 %) and ``settings.pr_guide_pct`` (−30 %). Bar SVG ids are
    ``bar-<patient label as slug>``; the guide lines ``waterfall-pd`` and ``waterfall-pr``."""
    ordered = _waterfall_order(rows)
    _check_title(title)

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

    ax.axhline(0.0, color="#222222", linewidth=0.8)
    for gid, value, ls in (("waterfall-pd", settings.pd_guide_pct, "--"), ("waterfall-pr", settings.pr_guide_pct, ":")):
        guide = ax.axhline(value, color="#444444", linestyle=ls, linewidth=1.0)
        guide.set_gid(gid)
        # Outside the right edge: inside, the upper right holds the legend and the lower right the deepest bars.
        ax.text(
            1.01, value, f"{value:+.4g} %".replace("-", "−"), transform=ax.get_yaxis_transform(),
            ha="left", va="center", fontsize=8, color="#222222", clip_on=False,
        )

    ax.set_xlim(-0.7, len(ordered) - 0.3)
    ax.set_ylim(max(lo - pad, -110.0), hi + pad)
    ax.set_ylabel("Best change in sum of diameters (%)")
    ax.set_xlabel(f"Patients (n = {len(ordered)})")
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


def waterfall_csv(rows: Sequence[WaterfallRow]) -> str:
    """CSV of exactly the bars :func:`waterfall_figure` draws, left to right: header
    ``position,patient,best_change_pct,best_response`` (position 1 = leftmost bar)."""
    ordered = _waterfall_order(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["position", "patient", "best_change_pct", "best_response"])
    writer.writerows((i, r.patient_label, repr(r.best_change_pct), r.best_response) for i, r in enumerate(ordered, 1))
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ output


def _check_title(title: str) -> None:
    if not isinstance(title, str) or not title.strip():
        raise PlotInputError(f"title: got {title!r}; allowed: a non-empty string (it is also the accessible name)")


_METADATA: dict[str, dict[str, str | None]] = {
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "png": {},
}


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
    name = title if title is not None else fig.get_label()
    _check_title(name)
    text = render(fig, "svg").decode("utf-8")
    start = text.find("<svg")
    if start < 0:  # pragma: no cover - matplotlib always writes an <svg> element
        raise RuntimeError("matplotlib produced no <svg> element")
    text = text[start:]
    open_end = text.index(">")
    label = html.escape(name, quote=True)
    head = text[:open_end] + f' role="img" aria-label="{label}">'
    extra = f"\n <title>{html.escape(name, quote=False)}</title>"
    if description:
        extra += f"\n <desc>{html.escape(description, quote=False)}</desc>"
    return head + extra + text[open_end + 1 :]

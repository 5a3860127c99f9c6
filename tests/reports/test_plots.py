"""reports/plots.py: DVH and waterfall figures rendered to SVG / PNG / PDF, their CSV, downsampling, errors.

Test curves are the analytic cumulative DVH of a sphere (radius 1.2 cm) around a point source with dose
k / r² (dosimetry.md §7.1): V(≥D) = 100 · min(1, (√(k/D) / R)³) %. k = 120 Gy·cm² gives D100 = 83.3 Gy, the
kink where the plateau ends.
"""

import csv
import io
import re
import struct
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from reports.plots import (
    DvhCurve,
    LineStyle,
    PlotInputError,
    PlotSettings,
    WaterfallRow,
    dvh_figure,
    dvh_gid,
    figure_csv,
    render,
    simplify_curve,
    svg_inline,
    waterfall_csv,
    waterfall_figure,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
RADIUS_CM = 1.2
DOSE_GY = np.arange(0.0, 1000.0, 0.05)  # 20 000 points, as a 5 cGy-binned DVH would give
TITLE = "Lesion 1 — ¹²⁵I DVH, V ≥ Rx (cm³)"


def sphere_volume_pct(dose_gy: np.ndarray, k_gy_cm2: float) -> np.ndarray:
    r_cm = np.sqrt(k_gy_cm2 / np.maximum(dose_gy, 1e-12))
    return 100.0 * np.minimum(1.0, (r_cm / RADIUS_CM) ** 3)


def stepped_volume_pct(dose_gy: np.ndarray, k_gy_cm2: float, step_pct: float = 0.05) -> np.ndarray:
    """Voxel-like staircase: the sphere curve quantised to ``step_pct`` steps (many small vertical steps)."""
    return np.floor(sphere_volume_pct(dose_gy, k_gy_cm2) / step_pct) * step_pct


def coarse_stepped_volume_pct(dose_gy: np.ndarray, k_gy_cm2: float) -> np.ndarray:
    """A structure of ~220 voxels: 0.45 % steps, each taller than the 0.2 % tolerance."""
    return stepped_volume_pct(dose_gy, k_gy_cm2, 0.45)


SHAPES = [sphere_volume_pct, stepped_volume_pct, coarse_stepped_volume_pct]
SHAPE_IDS = ["smooth", "stepped", "coarse-steps"]


PRE = DvhCurve("Pre-plan", DOSE_GY, sphere_volume_pct(DOSE_GY, 120.0), "solid")
POST = DvhCurve("Post-implant", DOSE_GY, sphere_volume_pct(DOSE_GY, 100.0), LineStyle.DASHED)
CURVES = [PRE, POST]


@pytest.fixture(scope="module")
def dvh_fig():
    return dvh_figure(CURVES, 145.0, TITLE)


@pytest.fixture(scope="module")
def dvh_svg(dvh_fig):
    return svg_inline(dvh_fig)


def _lines_by_gid(fig):
    return {ln.get_gid(): ln for ln in fig.axes[0].get_lines() if ln.get_gid()}


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


# ------------------------------------------------------------------------------------------------ rendering


def test_svg_inline_is_an_accessible_svg_element_without_prolog(dvh_svg):
    assert dvh_svg.startswith("<svg ")
    assert "<?xml" not in dvh_svg and "<!DOCTYPE" not in dvh_svg
    root = ET.fromstring(dvh_svg)  # well-formed on its own
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == TITLE
    assert root[0].tag == f"{SVG_NS}title" and root[0].text == TITLE
    assert "<dc:date>" not in dvh_svg  # no date in the metadata


def test_svg_has_one_group_per_curve_with_its_gid_and_the_rx_lines(dvh_svg):
    root = ET.fromstring(dvh_svg)
    ids = [g.get("id") for g in root.iter(f"{SVG_NS}g") if (g.get("id") or "").startswith("dvh-")]
    assert sorted(i for i in ids if i not in {"dvh-rx", "dvh-rx-high", "dvh-rx-label", "dvh-rx-high-label"}) == [
        "dvh-post-implant",
        "dvh-pre-plan",
    ]
    assert {"dvh-rx", "dvh-rx-high", "dvh-rx-label", "dvh-rx-high-label"} <= set(ids)
    for gid in ("dvh-pre-plan", "dvh-post-implant"):
        group = next(g for g in root.iter(f"{SVG_NS}g") if g.get("id") == gid)
        assert len(group.findall(f"{SVG_NS}path")) == 1


def test_figure_draws_styles_rx_lines_labels_and_legend(dvh_fig):
    ax = dvh_fig.axes[0]
    lines = _lines_by_gid(dvh_fig)
    assert lines["dvh-pre-plan"].get_linestyle() == "-"
    assert lines["dvh-post-implant"].get_linestyle() == "--"  # dashed: readable without colour
    assert lines["dvh-rx"].get_xdata()[0] == pytest.approx(145.0)
    assert lines["dvh-rx-high"].get_xdata()[0] == pytest.approx(217.5)
    texts = [t.get_text() for t in ax.texts]
    assert "Rx 145 Gy" in texts and "150 % Rx 217.5 Gy" in texts
    assert ax.get_xlabel() == "Dose (Gy)" and "%" in ax.get_ylabel()
    assert ax.get_title() == TITLE
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Pre-plan", "Post-implant"]
    assert all(gl.get_visible() for gl in ax.get_xgridlines())


def test_no_prescription_means_no_reference_lines():
    fig = dvh_figure([PRE], None, "Pre-plan only")
    assert set(_lines_by_gid(fig)) == {"dvh-pre-plan"}
    assert not fig.axes[0].texts


@pytest.mark.parametrize("make", SHAPES[1:], ids=SHAPE_IDS[1:])
def test_svg_stays_small_for_curves_of_thousands_of_points(dvh_svg, make):
    assert len(dvh_svg.encode()) < 150_000
    stepped = [
        DvhCurve("Pre-plan", DOSE_GY, make(DOSE_GY, 120.0)),
        DvhCurve("Post-implant", DOSE_GY, make(DOSE_GY, 100.0), "dashed"),
    ]
    svg = svg_inline(dvh_figure(stepped, 145.0, "Stepped"))
    assert len(svg.encode()) < 150_000


def test_png_has_signature_and_the_configured_size(dvh_fig):
    png = render(dvh_fig, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _png_size(png) == (960, 600)  # 6.4 × 4.0 in at 150 dpi
    assert 10_000 < len(png) < 500_000
    small = render(dvh_fig, "png", PlotSettings(png_dpi=50))
    assert _png_size(small) == (320, 200)


def test_pdf_is_a_pdf_with_dejavu_embedded(dvh_fig):
    pdf = render(dvh_fig, "pdf")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"DejaVuSans" in pdf
    assert b"CreationDate" not in pdf


def test_special_characters_render_without_missing_glyphs():
    fig = dvh_figure([PRE], 145.0, "¹²⁵I seeds: V ≥ 100 % in cm³, −5 %")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        for fmt in ("svg", "png", "pdf"):
            render(fig, fmt)


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_same_data_gives_identical_bytes(fmt):
    a = render(dvh_figure(CURVES, 145.0, TITLE), fmt)
    b = render(dvh_figure(CURVES, 145.0, TITLE), fmt)
    assert a == b


def test_svg_inline_is_deterministic_and_escapes_the_title():
    title = 'A & B <"1">'
    a = svg_inline(dvh_figure([PRE], 145.0, title), description="Pre-plan < post")
    b = svg_inline(dvh_figure([PRE], 145.0, title), description="Pre-plan < post")
    assert a == b
    root = ET.fromstring(a)
    assert root.get("aria-label") == title
    assert root.find(f"{SVG_NS}title").text == title
    assert root.find(f"{SVG_NS}desc").text == "Pre-plan < post"


def test_unknown_format_is_refused(dvh_fig):
    with pytest.raises(PlotInputError, match=r"fmt: got 'jpeg'; allowed: svg, png, pdf"):
        render(dvh_fig, "jpeg")


# ----------------------------------------------------------------------------------------- CSV and downsampling


def test_csv_rows_are_exactly_the_plotted_points(dvh_fig):
    rows = list(csv.reader(io.StringIO(figure_csv(CURVES))))
    assert rows[0] == ["series", "dose_gy", "volume_pct"]
    lines = _lines_by_gid(dvh_fig)
    for curve in CURVES:
        got = [(float(d), float(v)) for s, d, v in rows[1:] if s == curve.label]
        line = lines[dvh_gid(curve.label)]
        drawn = list(zip(np.asarray(line.get_xdata()).tolist(), np.asarray(line.get_ydata()).tolist(), strict=True))
        assert got == drawn  # exact floats, not approximately
        assert 2 <= len(got) <= 500 < len(curve.dose_gy)
    assert len(rows) - 1 == sum(len(ln.get_xdata()) for g, ln in lines.items() if g in {"dvh-pre-plan", "dvh-post-implant"})


def test_csv_quotes_labels_with_commas():
    curve = DvhCurve('PTV, "lobe"', [0.0, 1.0], [100.0, 0.0])
    rows = list(csv.reader(io.StringIO(figure_csv([curve]))))
    assert rows[1] == ['PTV, "lobe"', "0.0", "100.0"]


@pytest.mark.parametrize("make", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("rx_gy", [50.0, 83.3333, 100.0, 145.0, 217.5, 600.0])
def test_downsampling_keeps_ends_and_the_value_at_rx(make, rx_gy):
    curve = DvhCurve("c", DOSE_GY, make(DOSE_GY, 120.0))
    s = simplify_curve(curve)
    assert (s.dose_gy[0], s.volume_pct[0]) == (curve.dose_gy[0], curve.volume_pct[0])
    assert (s.dose_gy[-1], s.volume_pct[-1]) == (curve.dose_gy[-1], curve.volume_pct[-1])
    exact = np.interp(rx_gy, curve.dose_gy, curve.volume_pct)
    assert abs(np.interp(rx_gy, s.dose_gy, s.volume_pct) - exact) <= 0.5


@pytest.mark.parametrize("make", SHAPES, ids=SHAPE_IDS)
def test_downsampled_polyline_is_within_tolerance_at_every_original_point(make):
    curve = DvhCurve("c", DOSE_GY, make(DOSE_GY, 120.0))
    s = simplify_curve(curve)
    err = np.abs(np.interp(DOSE_GY, s.dose_gy, s.volume_pct) - np.asarray(curve.volume_pct))
    assert err.max() <= 0.2 + 1e-9  # the first tolerance already fits the 500-point budget here
    assert len(s.dose_gy) <= 500
    assert set(s.dose_gy) <= set(curve.dose_gy)  # a subset of the original points, nothing invented


def test_coarse_staircase_keeps_its_corners():
    # 0.45 % steps are taller than the 0.2 % tolerance: every step keeps both corners (2 points per step).
    curve = DvhCurve("c", DOSE_GY, coarse_stepped_volume_pct(DOSE_GY, 120.0))
    s = simplify_curve(curve)
    n_steps = len(set(curve.volume_pct)) - 1
    assert 2 * n_steps - 2 <= len(s.dose_gy) <= 2 * n_steps + 2


def test_point_budget_wins_up_to_the_tolerance_cap():
    curve = DvhCurve("c", DOSE_GY, stepped_volume_pct(DOSE_GY, 120.0))
    uncapped = simplify_curve(curve, PlotSettings(max_points_per_curve=10, max_simplify_tolerance_pct=50.0))
    assert len(uncapped.dose_gy) <= 10
    assert (uncapped.dose_gy[0], uncapped.dose_gy[-1]) == (0.0, DOSE_GY[-1])
    capped = simplify_curve(curve, PlotSettings(max_points_per_curve=10))  # cap 0.5 % needs more than 10
    assert len(capped.dose_gy) > 10
    err = np.abs(np.interp(DOSE_GY, capped.dose_gy, capped.volume_pct) - np.asarray(curve.volume_pct))
    assert 0.2 < err.max() <= 0.5 + 1e-9


def test_vertical_steps_are_kept():
    # A two-level step DVH: 100 % up to 10 Gy, then 40 % up to 20 Gy, then 0.
    curve = DvhCurve("step", [0, 10, 10, 20, 20], [100, 100, 40, 40, 0])
    assert simplify_curve(curve) == curve


def test_short_curves_are_drawn_unchanged():
    curve = DvhCurve("short", [0.0, 50.0, 100.0], [100.0, 60.0, 0.0])
    assert simplify_curve(curve) is curve


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dose_gy": [], "volume_pct": []}, r"DvhCurve 'Post-implant': dose_gy/volume_pct have 0 points; allowed: at least 2"),
        ({"dose_gy": [0, 1, 2], "volume_pct": [100, 50]}, r"DvhCurve 'Post-implant': dose_gy has 3 values but volume_pct has 2"),
        ({"dose_gy": [0, float("nan")], "volume_pct": [100, 0]}, r"'Post-implant': dose_gy\[1\] = nan; allowed: finite doses ≥ 0 Gy"),
        ({"dose_gy": [-1, 1], "volume_pct": [100, 0]}, r"'Post-implant': dose_gy\[0\] = -1.0"),
        ({"dose_gy": [0, 1], "volume_pct": [100.5, 0]}, r"'Post-implant': volume_pct\[0\] = 100.5; allowed: finite volumes in 0–100 %"),
        ({"dose_gy": [0, 2, 1], "volume_pct": [100, 50, 0]}, r"'Post-implant': dose_gy\[2\] = 1.0 is below dose_gy\[1\] = 2.0"),
        ({"dose_gy": [0, 1, 2], "volume_pct": [100, 50, 60]}, r"'Post-implant': volume_pct\[2\] = 60.0 is above .*non-increasing"),
        ({"dose_gy": "0,1", "volume_pct": [100, 0]}, r"'Post-implant': dose_gy is a string"),
        ({"dose_gy": [0, 1], "volume_pct": [100, 0], "style": "dotted"}, r"'Post-implant': style 'dotted' is not allowed; allowed: solid, dashed"),
    ],
    ids=["empty", "mismatched", "nan", "negative-dose", "volume-over-100", "dose-decreasing", "volume-increasing", "string", "style"],
)
def test_bad_curves_raise_naming_the_curve_and_field(kwargs, message):
    with pytest.raises(PlotInputError, match=message):
        DvhCurve("Post-implant", **kwargs)


@pytest.mark.parametrize(
    ("curves", "rx", "title", "message"),
    [
        ([], 145.0, "t", r"curves: got 0 curves; allowed: at least one DvhCurve"),
        ([PRE, DvhCurve("pre plan", [0, 1], [100, 0])], 145.0, "t", r"curves\[1\]: label 'pre plan' repeats .*'dvh-pre-plan'"),
        ([PRE], 0.0, "t", r"prescription_gy: got 0.0; allowed: None or a positive number of Gy"),
        ([PRE], float("inf"), "t", r"prescription_gy: got inf"),
        ([PRE], 145.0, "  ", r"title: got '  '; allowed: a non-empty string"),
        ([(0, 100)], 145.0, "t", r"curves\[0\]: got tuple; allowed: DvhCurve"),
    ],
    ids=["no-curves", "duplicate-label", "rx-zero", "rx-inf", "blank-title", "not-a-curve"],
)
def test_bad_figure_input_raises(curves, rx, title, message):
    with pytest.raises(PlotInputError, match=message):
        dvh_figure(curves, rx, title)


def test_csv_of_no_curves_raises():
    with pytest.raises(PlotInputError, match="curves: got 0 curves"):
        figure_csv([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_points_per_curve": 1}, r"max_points_per_curve: got 1; allowed: an integer ≥ 2"),
        ({"png_dpi": 0}, r"png_dpi: got 0; allowed: an integer ≥ 1"),
        ({"simplify_tolerance_pct": 0.0}, r"simplify_tolerance_pct: got 0.0; allowed: a positive finite number"),
        ({"figsize_in": (0.0, 4.0)}, r"figsize_in: got \(0.0, 4.0\)"),
        ({"dose_axis_max_gy": -5.0}, r"dose_axis_max_gy: got -5.0"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(PlotInputError, match=message):
        PlotSettings(**kwargs)


def test_dose_axis_limit_setting():
    fig = dvh_figure(CURVES, 145.0, "t", PlotSettings(dose_axis_max_gy=400.0))
    assert fig.axes[0].get_xlim() == (0.0, 400.0)
    full = dvh_figure(CURVES, 145.0, "t")
    assert full.axes[0].get_xlim()[1] == pytest.approx(DOSE_GY[-1])


# ---------------------------------------------------------------------------------------------- waterfall

WATERFALL = [
    WaterfallRow("S-01", -50.0, "PR"),
    WaterfallRow("S-02", 35.0, "PD"),
    WaterfallRow("S-03", -100.0, "CR"),
    WaterfallRow("S-04", 5.0, "SD"),
    WaterfallRow("S-05", -30.0, "PR"),  # exactly at the PR threshold
    WaterfallRow("S-06", 20.0, "PD"),  # exactly at the PD threshold
    WaterfallRow("S-07", -10.0, "SD"),
    WaterfallRow("S-08", -10.0, "SD"),  # tie: ordered by label
]
EXPECTED_ORDER = ["S-02", "S-06", "S-04", "S-07", "S-08", "S-05", "S-01", "S-03"]


@pytest.fixture(scope="module")
def waterfall_fig():
    return waterfall_figure(WATERFALL, "Best response, target lesions")


def _bars(fig):
    return [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("bar-")]


def test_waterfall_sorts_bars_from_largest_increase_to_deepest_shrinkage(waterfall_fig):
    bars = _bars(waterfall_fig)
    assert [b.get_gid() for b in bars] == [f"bar-{p.lower()}" for p in EXPECTED_ORDER]
    assert [b.get_height() for b in bars] == [35.0, 20.0, 5.0, -10.0, -10.0, -30.0, -50.0, -100.0]


def test_waterfall_reads_without_colour(waterfall_fig):
    ax = waterfall_fig.axes[0]
    bars = _bars(waterfall_fig)
    by_response = {}
    for bar, pid in zip(bars, EXPECTED_ORDER, strict=True):
        response = next(r.best_response for r in WATERFALL if r.patient_label == pid)
        by_response.setdefault(response, set()).add(bar.get_hatch() or "")
    assert all(len(h) == 1 for h in by_response.values())  # one hatch per category
    assert len({next(iter(h)) for h in by_response.values()}) == len(by_response)  # distinct across categories
    letters = [t.get_text() for t in ax.texts if t.get_text() in {"CR", "PR", "SD", "PD", "NE"}]
    assert letters == ["PD", "PD", "SD", "SD", "SD", "PR", "PR", "CR"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "CR (complete response)",
        "PR (partial response)",
        "SD (stable disease)",
        "PD (progressive disease)",
    ]


def test_waterfall_guide_lines_at_plus_20_and_minus_30(waterfall_fig):
    lines = {ln.get_gid(): ln for ln in waterfall_fig.axes[0].get_lines() if ln.get_gid()}
    assert lines["waterfall-pd"].get_ydata()[0] == 20.0
    assert lines["waterfall-pr"].get_ydata()[0] == -30.0
    texts = {t.get_text() for t in waterfall_fig.axes[0].texts}
    assert {"+20 %", "−30 %"} <= texts


def test_waterfall_svg_has_a_group_per_bar_and_is_deterministic(waterfall_fig):
    svg = svg_inline(waterfall_fig)
    ids = re.findall(r'<g id="(bar-[^"]+)"', svg)
    assert ids == [f"bar-{p.lower()}" for p in EXPECTED_ORDER]
    assert svg == svg_inline(waterfall_figure(WATERFALL, "Best response, target lesions"))
    assert render(waterfall_fig, "png").startswith(b"\x89PNG")


def test_waterfall_csv_is_exactly_the_bars(waterfall_fig):
    rows = list(csv.reader(io.StringIO(waterfall_csv(WATERFALL))))
    assert rows[0] == ["position", "patient", "best_change_pct", "best_response"]
    assert [r[1] for r in rows[1:]] == EXPECTED_ORDER
    assert [float(r[2]) for r in rows[1:]] == [b.get_height() for b in _bars(waterfall_fig)]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, 9)]


def test_waterfall_drops_bar_letters_for_large_cohorts():
    rows = [WaterfallRow(f"S-{i:03d}", float(i % 50 - 40), "SD") for i in range(12)]
    fig = waterfall_figure(rows, "t", PlotSettings(max_bar_labels=10))
    assert not [t for t in fig.axes[0].texts if t.get_text() == "SD"]
    assert len(_bars(fig)) == 12
    assert {b.get_hatch() for b in _bars(fig)} == {"..."}  # hatch still carries the category


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("S-1", -100.5, "PR"), r"WaterfallRow 'S-1': best_change_pct = -100.5; allowed: a finite % ≥ −100"),
        (("S-1", float("nan"), "PR"), r"WaterfallRow 'S-1': best_change_pct = nan"),
        (("S-1", -10.0, "NON_CR_NON_PD"), r"WaterfallRow 'S-1': best_response = 'NON_CR_NON_PD'; allowed: CR, PR, SD, PD, NE"),
        (("", -10.0, "PR"), r"WaterfallRow.patient_label: got ''"),
    ],
)
def test_bad_waterfall_rows_raise(row, message):
    with pytest.raises(PlotInputError, match=message):
        WaterfallRow(*row)


def test_waterfall_accepts_minus_100_and_rejects_empty_and_duplicate_rows():
    assert WaterfallRow("S-1", -100, "CR").best_change_pct == -100.0
    with pytest.raises(PlotInputError, match="rows: got 0 rows"):
        waterfall_figure([], "t")
    with pytest.raises(PlotInputError, match=r"rows\[1\]: patient_label 'S-1' repeats"):
        waterfall_csv([WaterfallRow("S-1", 1.0, "SD"), WaterfallRow("S-1", 2.0, "SD")])


def test_waterfall_takes_recist_response_members():
    from assessment.recist import Response

    row = WaterfallRow("S-1", -40.0, Response.PR)
    assert row.best_response == "PR" and type(row.best_response) is str


"""The physicists' JSON commands ``manage.py dvh`` and ``manage.py tg43`` (dosimetry.cli + management commands).

Small synthetic DICOM files (demo.dicom_synth) are written into a temporary directory; numbers are checked
against closed forms (uniform dose, the §7 point-source sphere), the pure core run directly, and the TG-43 worked
examples of ``tests/cases/tg43.json`` (reference §2.1, §3.4). The error contract (exit status 2, one stderr line,
no traceback) is checked through ``call_command`` for every error kind and through two real ``manage.py``
subprocesses. No database is used.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import django
import django.apps
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if not django.apps.apps.ready:  # pytest -p no:django: set Django up ourselves (no database is touched)
    django.setup()

from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402

from demo import dicom_synth as synth  # noqa: E402
from dosimetry import cli, tg43  # noqa: E402
from dosimetry.dvh import DoseGrid, SamplingSettings, Structure, summary  # noqa: E402
from dosimetry.sources import get_seed_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FRAME = "1.2.826.0.1.3680043.8.498.11"
OTHER_FRAME = "1.2.826.0.1.3680043.8.498.12"
STUDY = "1.2.826.0.1.3680043.8.498.13"
K_GY_CM2 = 120.0  # §7: D(r) = k / r², D(1 cm) = 120 Gy
SPHERE_R_CM = 1.2
TG43_CASES = [
    c
    for c in json.loads((REPO / "tests" / "cases" / "tg43.json").read_text(encoding="utf-8"))
    if c["kind"] in ("dose_rate_per_u", "seed_dose_rate", "engine_total_gy")
]


# ---------------------------------------------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------------------------------------------


def run(command: str, *args: str) -> list[dict]:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    text = out.getvalue()
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


def fails(command: str, *args: str) -> str:
    """Run a command that must fail with the input-error contract; return its message."""
    with pytest.raises(CommandError) as info:
        call_command(command, *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert info.value.returncode == 2
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def centred_axis(half_width_cm: float, spacing_cm: float) -> np.ndarray:
    n = int(round(2 * half_width_cm / spacing_cm))
    return (np.arange(n) + 0.5) * spacing_cm - half_width_cm  # voxel centres never at 0 (§7.3)


def rect(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One directory of small DICOM/JSON inputs shared by the module's tests (written once)."""
    d = tmp_path_factory.mktemp("commands")
    ax = centred_axis(1.5, 0.1)  # 30³ voxels, 1 mm
    zz, yy, xx = np.meshgrid(ax, ax, ax, indexing="ij")
    r2 = xx**2 + yy**2 + zz**2
    synth.write_rtdose(d / "sphere_dose.dcm", K_GY_CM2 / r2, ax, ax, ax, FRAME, STUDY)
    synth.write_rtdose(d / "uniform_dose.dcm", np.full((30, 30, 30), 120.0), ax, ax, ax, FRAME, STUDY)
    synth.write_rtdose(d / "other_frame_dose.dcm", np.full((30, 30, 30), 120.0), ax, ax, ax, OTHER_FRAME, STUDY)
    box_planes = [-0.4, -0.2, 0.0, 0.2, 0.4]
    sphere_planes = centred_axis(SPHERE_R_CM, 0.1)  # planes at ±0.05, ±0.15 … (midpoint rule, §7.3)
    structures = {
        "GTV": synth.sphere_contours((0.0, 0.0, 0.0), SPHERE_R_CM, sphere_planes, n_vertices=256),
        "Box": [(z, rect(-0.5, 0.5, -0.5, 0.5)) for z in box_planes],
        "Huge": [(z, rect(-3.0, 3.0, -0.5, 0.5)) for z in box_planes],  # extends outside the dose grid in x
    }
    synth.write_rtstruct(d / "rtstruct.dcm", structures, FRAME, STUDY, points_cm={"Marker": np.zeros((1, 3))})
    synth.write_rtstruct(d / "flat.dcm", {"Flat": [(0.0, rect(-0.5, 0.5, -0.5, 0.5))]}, FRAME, STUDY)
    seeds = np.array([[0.0, 0.0, 0.0], [0.5, 0.2, -0.3]])
    synth.write_rtplan_seeds(
        d / "rtplan.dcm", seeds, 0.635, datetime(2024, 3, 1, 9, 0), frame_uid=FRAME, study_uid=STUDY
    )
    (d / "garbage.dcm").write_bytes(b"this is not DICOM at all" * 20)
    return {
        "dir": str(d),
        "sphere_dose": str(d / "sphere_dose.dcm"),
        "uniform_dose": str(d / "uniform_dose.dcm"),
        "other_frame_dose": str(d / "other_frame_dose.dcm"),
        "rtstruct": str(d / "rtstruct.dcm"),
        "flat": str(d / "flat.dcm"),
        "rtplan": str(d / "rtplan.dcm"),
        "garbage": str(d / "garbage.dcm"),
        "seeds": write_json(d / "seeds.json", [
            {"position_cm": [0, 0, 0], "air_kerma_strength_u": 0.635},
            {"position_cm": [0.5, 0.2, -0.3], "axis": [0, 0, 1], "air_kerma_strength_u": 0.635},
        ]),
        "points": write_json(d / "points.json", [[1.0, 0.0, 0.0], [0.0, 2.0, 0.5], [0.3, -0.4, 1.2]]),
    }


# ---------------------------------------------------------------------------------------------------------------
# dvh
# ---------------------------------------------------------------------------------------------------------------


def test_dvh_uniform_dose_box_closed_form(files: dict[str, str]) -> None:
    """Uniform 120 Gy, Rx 100 Gy: every dose metric is 120 Gy, V100 = 100 %, V150 = V200 = 0, HI = 1; the box
    (1 × 1 cm, 5 planes 2 mm apart) holds exactly 0.8 cm³ with the default half end slabs (4 × 2 mm of height),
    1.0 cm³ with --end-caps whole (5 full slabs)."""
    (row,) = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
                 "--structure", "Box", "--prescription-gy", "100")
    assert row["name"] == "Box"
    assert row["volume_cm3"] == pytest.approx(0.8, rel=1e-9)
    (whole,) = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
                   "--structure", "Box", "--prescription-gy", "100", "--end-caps", "whole")
    assert whole["volume_cm3"] == pytest.approx(1.0, rel=1e-9)
    for key in ("d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy"):
        assert row[key] == pytest.approx(120.0, rel=1e-6), key
    assert row["v100_pct"] == pytest.approx(100.0, rel=1e-12)
    assert row["v150_pct"] == 0.0 and row["v200_pct"] == 0.0
    assert row["hi"] == pytest.approx(1.0)


def test_dvh_keys_order_and_types(files: dict[str, str]) -> None:
    rows = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
               "--structure", "box", "--prescription-gy", "100")
    assert list(rows[0]) == list(cli.DVH_KEYS) == [
        "name", "volume_cm3", "d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy",
        "v100_pct", "v150_pct", "v200_pct", "hi",
    ]
    assert isinstance(rows[0]["name"], str)
    assert all(type(rows[0][k]) is float for k in cli.DVH_KEYS[1:])


def test_dvh_hi_is_null_when_nothing_reaches_the_prescription(files: dict[str, str]) -> None:
    out = io.StringIO()
    call_command("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
                 "--structure", "Box", "--prescription-gy", "200", stdout=out)
    assert '"hi": null' in out.getvalue()
    (row,) = json.loads(out.getvalue())
    assert row["v100_pct"] == 0.0 and row["hi"] is None


def test_dvh_rx_boundary_is_inclusive(files: dict[str, str]) -> None:
    """V100 counts dose ≥ Rx (§6.1): at Rx = the uniform dose it is 100 %, a hair above it 0 %."""
    at = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
             "--structure", "Box", "--prescription-gy", "120")[0]
    above = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
                "--structure", "Box", "--prescription-gy", "120.001")[0]
    assert at["v100_pct"] == pytest.approx(100.0)
    assert above["v100_pct"] == 0.0


def test_dvh_point_source_sphere_matches_core_and_closed_form(files: dict[str, str]) -> None:
    """§7.1 sphere (R 1.2 cm, k/r² centred) on a 1 mm grid: the command equals the core run on the same grid
    (only the 32-bit DoseGridScaling rounding differs) and is within the §5.5 1 mm tolerances of the closed form:
    V 7.238229 cm³, D90 89.3972 Gy, V100 76.0726 %, V150 41.4087 %, V200 26.8957 % (Rx 100 Gy)."""
    (row,) = run("dvh", "--rtdose", files["sphere_dose"], "--rtstruct", files["rtstruct"],
                 "--structure", "GTV", "--prescription-gy", "100")
    ax = centred_axis(1.5, 0.1)
    zz, yy, xx = np.meshgrid(ax, ax, ax, indexing="ij")
    grid = DoseGrid(dose_gy=K_GY_CM2 / (xx**2 + yy**2 + zz**2), x_cm=ax, y_cm=ax, z_cm=ax)
    gtv = Structure("GTV", synth.sphere_contours((0, 0, 0), SPHERE_R_CM, centred_axis(SPHERE_R_CM, 0.1), 256))
    core = summary(gtv, grid, 100.0, include_conformity=False)
    for key in cli.DVH_KEYS[1:]:
        assert row[key] == pytest.approx(core[key], rel=1e-5), key
    assert row["volume_cm3"] == pytest.approx(7.238229, rel=0.01)
    assert row["d90_gy"] == pytest.approx(89.3972, rel=0.02)
    assert row["d100_gy"] == pytest.approx(83.3333, rel=0.03)
    assert row["v100_pct"] == pytest.approx(76.0726, abs=2.0)
    assert row["v150_pct"] == pytest.approx(41.4087, abs=2.0)
    assert row["v200_pct"] == pytest.approx(26.8957, abs=2.0)


def test_dvh_default_is_every_roi_with_closed_contours_in_file_order(files: dict[str, str]) -> None:
    """Without --structure: GTV, Box and Huge (file order); the POINT-only ROI 'Marker' is left out. 'Huge'
    sticks out of the grid, so --clip-to-grid is needed; clipped, it is the 6 × 1 cm slab cut to 3 × 1 cm, 0.8 cm
    high (5 planes 2 mm apart, half end slabs)."""
    rows = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
               "--prescription-gy", "100", "--clip-to-grid")
    assert [r["name"] for r in rows] == ["GTV", "Box", "Huge"]
    assert rows[2]["volume_cm3"] == pytest.approx(3.0 * 0.8, rel=1e-9)


def test_dvh_named_structures_keep_the_given_order_case_insensitively(files: dict[str, str]) -> None:
    rows = run("dvh", "--rtdose", files["uniform_dose"], "--rtstruct", files["rtstruct"],
               "--structure", "box", "--structure", "gtv", "--prescription-gy", "100")
    assert [r["name"] for r in rows] == ["Box", "GTV"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param({"--structure": "PTV"}, "no ROI named 'PTV'", id="unknown-structure"),
        pytest.param({"--structure": "Marker"}, "'Marker'", id="structure-without-closed-contours"),
        pytest.param({"--structure": "Huge"}, "set require_inside_grid=False (command line: --clip-to-grid)",
                     id="structure-outside-grid"),
        pytest.param({"--rtdose": "other_frame_dose"}, "FrameOfReferenceUID (0020,0052)", id="frame-mismatch"),
        pytest.param({"--rtdose": "missing"}, "cannot be opened", id="missing-rtdose"),
        pytest.param({"--rtstruct": "garbage"}, "not a DICOM file", id="rtstruct-not-dicom"),
        pytest.param({"--rtstruct": "uniform_dose"}, "Modality", id="rtstruct-is-an-rtdose"),
        pytest.param({"--rtstruct": "flat", "--structure": "flat"}, "one plane only", id="single-plane-structure"),
        pytest.param({"--prescription-gy": "0"}, "--prescription-gy=0.0", id="zero-prescription"),
        pytest.param({"--prescription-gy": "nan"}, "--prescription-gy=nan", id="nan-prescription"),
        pytest.param({"--prescription-gy": "abc"}, "invalid float value: 'abc'", id="non-numeric-prescription"),
        pytest.param({"--end-caps": "round"}, "invalid choice: 'round' (choose from 'half', 'whole')",
                     id="unknown-end-caps"),
    ],
)
def test_dvh_input_errors(files: dict[str, str], case: dict[str, str], expected: str) -> None:
    options = {"--rtdose": "uniform_dose", "--rtstruct": "rtstruct", "--prescription-gy": "100", "--structure": "Box"}
    options.update(case)
    args: list[str] = []
    for flag, value in options.items():
        if flag in ("--rtdose", "--rtstruct"):
            value = files.get(value, os.path.join(files["dir"], value + ".dcm"))
        args += [flag, value]
    assert expected in fails("dvh", *args)


# ---------------------------------------------------------------------------------------------------------------
# tg43
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TG43_CASES, ids=[c["id"] for c in TG43_CASES])
def test_tg43_worked_examples(tmp_path: Path, case: dict) -> None:
    """Reference §2.1 / §3.4 values through the command: one seed at the origin along z (the default axis),
    the point at (r, θ) from it; 'dose_rate_per_u' cases use S_K = 1 U."""
    strength = case.get("strength_u", 1.0)
    theta = math.radians(case["theta_deg"])
    point = [case["r_cm"] * math.sin(theta), 0.0, case["r_cm"] * math.cos(theta)]
    seeds = write_json(tmp_path / "s.json", [{"position_cm": [0, 0, 0], "air_kerma_strength_u": strength}])
    points = write_json(tmp_path / "p.json", [point])
    (row,) = run("tg43", "--model", case["model"].lower(), "--seeds", seeds, "--points", points,
                 "--formalism", case.get("formalism", "line"))
    value = row["total_dose_gy"] if case["kind"] == "engine_total_gy" else row["dose_rate_cgy_per_h"]
    assert value == pytest.approx(case["expected"], rel=2e-4)  # the reference prints 4–6 significant digits


def test_tg43_reference_point_is_sk_lambda_and_total_is_rate_tau(tmp_path: Path) -> None:
    """Ḋ(1 cm, 90°) = S_K·Λ exactly (§1.1) and D_total = Ḋ0·τ/100 Gy with τ = T½/ln 2 in hours (§3.3)."""
    seeds = write_json(tmp_path / "s.json", [{"position_cm": [1, 2, 3], "axis": [0, 1, 0],
                                              "air_kerma_strength_u": 0.7}])
    points = write_json(tmp_path / "p.json", [[1, 2, 4]])  # 1 cm away along z, perpendicular to the y axis
    for code, half_life_days in (("6711", 59.4), ("STUDY-4.5TI", 59.6)):
        (row,) = run("tg43", "--model", code, "--seeds", seeds, "--points", points)
        rate = 0.7 * get_seed_model(code).dose_rate_constant_cgy_per_h_per_u
        assert row["point_cm"] == [1.0, 2.0, 4.0]
        assert row["dose_rate_cgy_per_h"] == pytest.approx(rate, rel=1e-12)
        tau_h = half_life_days * 24.0 / math.log(2.0)
        assert row["total_dose_gy"] == pytest.approx(rate * tau_h / 100.0, rel=1e-12)


def test_tg43_superposes_seeds_and_keeps_point_order(files: dict[str, str]) -> None:
    rows = run("tg43", "--model", "6711", "--seeds", files["seeds"], "--points", files["points"])
    points = np.array(json.loads(Path(files["points"]).read_text()))
    assert [r["point_cm"] for r in rows] == points.tolist()
    model = get_seed_model("6711")
    exact = tg43.Tg43Settings(use_table=False)
    expected = sum(
        tg43.dose_rate_cgy_per_h([pos], [[0, 0, 1]], [0.635], points, model, "line", exact)
        for pos in ([0, 0, 0], [0.5, 0.2, -0.3])
    )
    np.testing.assert_allclose([r["dose_rate_cgy_per_h"] for r in rows], expected, rtol=1e-12)


def test_tg43_rtplan_gives_the_same_as_the_equivalent_seeds_json(files: dict[str, str]) -> None:
    """The plan holds the two seeds of seeds.json (0.635 U); its axes are taken along z, as the JSON's are."""
    for formalism in ("line", "point"):
        from_plan = run("tg43", "--model", "6711", "--rtplan", files["rtplan"], "--points", files["points"],
                        "--formalism", formalism)
        from_json = run("tg43", "--model", "6711", "--seeds", files["seeds"], "--points", files["points"],
                        "--formalism", formalism)
        for a, b in zip(from_plan, from_json, strict=True):
            assert a["dose_rate_cgy_per_h"] == pytest.approx(b["dose_rate_cgy_per_h"], rel=1e-9)


def test_tg43_axis_matters_for_line_but_not_for_point(tmp_path: Path) -> None:
    """A point 1 cm along z: on the axis of a z seed (F(1, 0°) = 0.370), on the transverse axis of an x seed."""
    points = write_json(tmp_path / "p.json", [[0, 0, 1]])
    rates = {}
    for axis in ("z", "x"):
        vec = [0, 0, 1] if axis == "z" else [1, 0, 0]
        seeds = write_json(tmp_path / f"{axis}.json", [{"position_cm": [0, 0, 0], "axis": vec,
                                                        "air_kerma_strength_u": 1.0}])
        for formalism in ("line", "point"):
            rates[axis, formalism] = run("tg43", "--model", "6711", "--seeds", seeds, "--points", points,
                                         "--formalism", formalism)[0]["dose_rate_cgy_per_h"]
    assert rates["z", "line"] == pytest.approx(0.36799, rel=2e-4)
    assert rates["x", "line"] == pytest.approx(0.965, rel=1e-12)
    assert rates["z", "point"] == rates["x", "point"] == pytest.approx(0.965 * 0.944, rel=1e-12)


BAD_TG43_INPUTS = [
    # (id, seeds JSON or None for the default file, points JSON or None, model, expected message part)
    ("unknown-model", None, None, "9999", "unknown seed model code '9999'"),
    ("seeds-not-a-list", {"position_cm": [0, 0, 0]}, None, "6711", "must be a JSON list of seed objects"),
    ("seeds-empty", [], None, "6711", "the list is empty"),
    ("seed-not-an-object", [[0, 0, 0]], None, "6711", "[0]=[0, 0, 0]: must be an object"),
    ("seed-missing-strength", [{"position_cm": [0, 0, 0]}], None, "6711", "missing key 'air_kerma_strength_u'"),
    ("seed-unknown-key", [{"position_cm": [0, 0, 0], "strength_u": 1}], None, "6711", "unknown key 'strength_u'"),
    ("seed-position-2d", [{"position_cm": [0, 0], "air_kerma_strength_u": 1}], None, "6711",
     "[0].position_cm=[0, 0]: must be a list of 3 numbers"),
    ("seed-position-text", [{"position_cm": [0, "a", 0], "air_kerma_strength_u": 1}], None, "6711",
     "[0].position_cm[1]='a': must be a finite number"),
    ("negative-strength", [{"position_cm": [0, 0, 0], "air_kerma_strength_u": -0.5}], None, "6711",
     "air_kerma_strength_u=-0.5: must be > 0 U"),
    ("zero-strength", [{"position_cm": [0, 0, 0], "air_kerma_strength_u": 0}], None, "6711",
     "air_kerma_strength_u=0.0: must be > 0 U"),
    ("bool-strength", [{"position_cm": [0, 0, 0], "air_kerma_strength_u": True}], None, "6711",
     "air_kerma_strength_u=True: must be a finite number of U"),
    ("zero-axis", [{"position_cm": [0, 0, 0], "axis": [0, 0, 0], "air_kerma_strength_u": 1}], None, "6711",
     "[0].axis=[0.0, 0.0, 0.0]: must be a non-zero vector"),
    ("points-not-a-list", None, {"x": 1}, "6711", "must be a JSON list of points"),
    ("points-empty", None, [], "6711", "give at least one point"),
    ("point-wrong-shape", None, [[1, 2, 3], [1, 2]], "6711", "[1]=[1, 2]: must be a list of 3 numbers"),
    ("point-bool", None, [[1.0, 2.0, 3.0], [True, 0, 0]], "6711", "[1][0]=True: must be a finite number"),
    ("point-null", None, [[1.0, 2.0, None]], "6711", "[0][2]=None: must be a finite number"),
    ("point-text", None, [[1.0, 2.0, "3.0"]], "6711", "[0][2]='3.0': must be a finite number"),
    ("point-nested", None, [[[1.0, 2.0, 3.0]]], "6711", "[0]=[[1.0, 2.0, 3.0]]: must be a list of 3 numbers"),
]


@pytest.mark.parametrize(("seeds", "points", "model", "expected"), [c[1:] for c in BAD_TG43_INPUTS],
                         ids=[c[0] for c in BAD_TG43_INPUTS])
def test_tg43_input_errors(files: dict[str, str], tmp_path: Path, seeds, points, model, expected) -> None:
    seeds_file = files["seeds"] if seeds is None else write_json(tmp_path / "seeds.json", seeds)
    points_file = files["points"] if points is None else write_json(tmp_path / "points.json", points)
    message = fails("tg43", "--model", model, "--seeds", seeds_file, "--points", points_file)
    assert expected in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--seeds", "missing.json", "--points", "points"], "missing.json: file not found",
                     id="missing-seeds-file"),
        pytest.param(["--seeds", "seeds", "--points", "bad.json"], "not valid JSON", id="bad-json"),
        pytest.param(["--rtplan", "garbage", "--points", "points"], "--rtplan: garbage.dcm: not a DICOM file",
                     id="rtplan-not-dicom"),
        pytest.param(["--rtplan", "rtstruct", "--points", "points"], "Modality", id="rtplan-is-an-rtstruct"),
        pytest.param(["--rtplan", "rtplan", "--seeds", "seeds", "--points", "points"], "not allowed with",
                     id="rtplan-and-seeds"),
        pytest.param(["--points", "points"], "one of the arguments --rtplan --seeds is required",
                     id="neither-rtplan-nor-seeds"),
        pytest.param(["--seeds", "seeds", "--points", "points", "--formalism", "2d"], "invalid choice: '2d'",
                     id="unknown-formalism"),
        pytest.param(["--seeds", "seeds", "--points", "points", "--method", "fast"], "invalid choice: 'fast'",
                     id="unknown-method"),
    ],
)
def test_tg43_file_and_argument_errors(files: dict[str, str], args: list[str], expected: str) -> None:
    Path(files["dir"], "bad.json").write_text("[[1, 2, 3],", encoding="utf-8")
    resolved = [files.get(a, os.path.join(files["dir"], a)) if a in files or a.endswith(".json") else a for a in args]
    message = fails("tg43", "--model", "6711", *resolved)
    assert expected in message


def test_run_tg43_requires_exactly_one_seed_source(files: dict[str, str]) -> None:
    """The pure entry point enforces the exclusivity itself (callers other than argparse)."""
    with pytest.raises(cli.CliInputError, match="give exactly one of them"):
        cli.run_tg43("6711", files["points"], seeds_file=files["seeds"], rtplan_file=files["rtplan"])
    with pytest.raises(cli.CliInputError, match="give exactly one of them"):
        cli.run_tg43("6711", files["points"])


# the command's fast input and output paths must give exactly the text of the per-point path

_COORD = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-10**6, max_value=10**6),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0.0, -0.0, 1e-4, 1e-5, -2.5e-7, 1e15, 1e16, 123456789012345.6, 0.1, 10.0]),
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False).map(float),
)
_POINTS = st.lists(st.lists(_COORD, min_size=3, max_size=3), min_size=1, max_size=30)
_DUMPS = st.sampled_from([
    json.dumps,
    lambda d: json.dumps(d, indent=2),
    lambda d: json.dumps(d, separators=(",", ":")),
    lambda d: "\n " + json.dumps(d) + " \t\n",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=_POINTS, dumps=_DUMPS)
def test_points_file_fast_path_equals_json_parse(tmp_path: Path, points: list[list[float]], dumps) -> None:
    """Bit for bit the numbers of json.loads + parse_points_cm; the per-point texts, when given, are what
    json.dumps prints for those floats."""
    path = tmp_path / "p.json"
    path.write_text(dumps(points), encoding="utf-8")
    values, texts = cli.read_points_file(path, "--points p.json")
    expected = cli.parse_points_cm(json.loads(path.read_text(encoding="utf-8")))
    assert values.dtype == np.float64 and values.shape == expected.shape
    assert np.array_equal(values.view(np.int64), expected.view(np.int64))  # -0.0 stays -0.0
    if texts is not None:
        assert texts == [json.dumps(row)[1:-1] for row in expected.tolist()]


def test_points_file_fast_path_is_taken_for_json_dumps_output() -> None:
    text = json.dumps([[1.5, -0.25, 0.0], [-0.0, 0.0001, 12.0]])
    values, texts = cli.canonical_points_cm(text) or (None, None)
    assert values is not None and values.tolist() == [[1.5, -0.25, 0.0], [-0.0, 0.0001, 12.0]]
    assert texts == ["1.5, -0.25, 0.0", "-0.0, 0.0001, 12.0"]
    for other in ("[[1, 2.0, 3.0]]", "[[1.0, 2.0, 1e-05]]", "[[1.0, 2.0, 0.00001]]", "[[1.50, 2.0, 3.0]]",
                  "[[1.0, 2.0, 3.0], [1.0, 2.0]]", "[[1.0, 2.0], [3.0, 4.0, 5.0, 6.0]]", "[[1.0,2.0, 3.0]]",
                  "[[.5, 2.0, 3.0]]", "[[1.0, 2.0, -3.0-]]", "[[1.0, 2.0, 3.0]][", "[[1.0, true, 3.0]]"):
        assert cli.canonical_points_cm(other) is None, other


@settings(max_examples=200, deadline=None)
@given(
    points=_POINTS,
    data=st.data(),
    with_texts=st.booleans(),
)
def test_tg43_json_equals_to_json_of_the_rows(points: list[list[float]], data, with_texts: bool) -> None:
    pts = np.array(points, dtype=np.float64).reshape(-1, 3)
    n = pts.shape[0]
    finite = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
    rate = np.array(data.draw(st.lists(finite, min_size=n, max_size=n)), dtype=np.float64)
    total = rate * 2056.7 / 100.0
    rows = [{"point_cm": p, "dose_rate_cgy_per_h": r, "total_dose_gy": d}
            for p, r, d in zip(pts.tolist(), rate.tolist(), total.tolist(), strict=True)]
    texts = [json.dumps(p)[1:-1] for p in pts.tolist()] if with_texts else None
    assert cli.tg43_json(pts, rate, total, texts) == cli.to_json(rows)


def _old_tg43_text(seeds: cli.SeedSet, points: np.ndarray, formalism: str) -> str:
    """The output the command printed before its fast paths: one dict per point, then to_json."""
    model = get_seed_model("6711")
    rate = tg43.dose_rate_cgy_per_h(seeds.positions_cm, seeds.axes if formalism == "line" else None,
                                    seeds.strengths_u, points, model, formalism, tg43.Tg43Settings(use_table=False))
    total = tg43.total_dose_cgy_from_initial_rate(rate, model.half_life_days)
    rows = [{"point_cm": [float(c) for c in p], "dose_rate_cgy_per_h": float(r), "total_dose_gy": float(d) / 100.0}
            for p, r, d in zip(points, rate, np.atleast_1d(total), strict=True)]
    return cli.to_json(rows) + "\n"


@pytest.mark.parametrize("formalism", ["line", "point"])
@pytest.mark.parametrize("layout", ["canonical", "indented", "integers"])
def test_tg43_default_output_is_unchanged(tmp_path: Path, formalism: str, layout: str) -> None:
    """Default --method exact: the text, character for character, of the per-point path, whatever the layout."""
    rng = np.random.default_rng(12)
    seeds = [{"position_cm": rng.uniform(-1, 1, 3).tolist(), "axis": rng.normal(size=3).tolist(),
              "air_kerma_strength_u": float(rng.uniform(0.4, 0.9))} for _ in range(5)]
    pts = rng.uniform(-3, 3, (400, 3)).round(3)
    pts[:5] = [[0.0, 0.0, 0.0], [-0.0, 1.0, 2.0], [0.5, 0.00001, 1e-7], [1e5, 2.0, 3.0], seeds[0]["position_cm"]]
    data: list[list[float]] | list[list[int]] = pts.tolist()
    if layout == "integers":
        data = [[int(round(c)) for c in p] for p in pts.tolist()]
        pts = np.array(data, dtype=np.float64)
    seeds_file = write_json(tmp_path / "s.json", seeds)
    points_file = tmp_path / "p.json"
    points_file.write_text(json.dumps(data, indent=2 if layout == "indented" else None), encoding="utf-8")
    out = io.StringIO()
    call_command("tg43", "--model", "6711", "--seeds", seeds_file, "--points", str(points_file),
                 "--formalism", formalism, stdout=out)
    parsed = cli.parse_seeds(seeds)
    assert out.getvalue() == _old_tg43_text(parsed, np.asarray(pts, dtype=np.float64), formalism)


def test_tg43_method_table_is_the_engine_table_and_close_to_exact(tmp_path: Path) -> None:
    """--method table gives the engine's table numbers; ≥ 0.05 cm from every active segment they are within
    0.2 % of exact (dosimetry.tg43's documented table accuracy); the totals stay rate·τ/100."""
    rng = np.random.default_rng(3)
    seeds = [{"position_cm": rng.uniform(-1, 1, 3).tolist(), "axis": rng.normal(size=3).tolist(),
              "air_kerma_strength_u": 0.6} for _ in range(8)]
    pts = rng.uniform(-4, 4, (3000, 3))
    parsed = cli.parse_seeds(seeds)
    axes = parsed.axes / np.linalg.norm(parsed.axes, axis=1)[:, None]
    d = pts[:, None, :] - parsed.positions_cm[None]
    z = np.abs((d * axes[None]).sum(axis=2))
    y = np.sqrt(np.maximum((d * d).sum(axis=2) - z * z, 0.0))
    half = get_seed_model("6711").active_length_cm / 2
    far = (np.hypot(np.maximum(z - half, 0.0), y) >= 0.05).all(axis=1)
    seeds_file = write_json(tmp_path / "s.json", seeds)
    points_file = write_json(tmp_path / "p.json", pts.tolist())
    rows = {m: run("tg43", "--model", "6711", "--seeds", seeds_file, "--points", points_file, "--method", m)
            for m in ("exact", "table")}
    table = np.array([r["dose_rate_cgy_per_h"] for r in rows["table"]])
    exact = np.array([r["dose_rate_cgy_per_h"] for r in rows["exact"]])
    model = get_seed_model("6711")
    engine = tg43.dose_rate_cgy_per_h(parsed.positions_cm, parsed.axes, parsed.strengths_u, pts, model)
    np.testing.assert_array_equal(table, engine)
    assert far.sum() > 2500
    assert np.max(np.abs(table[far] / exact[far] - 1.0)) < 2e-3
    assert np.max(np.abs(table[far] / exact[far] - 1.0)) > 0.0  # two different paths, not the same numbers
    tau_h = model.half_life_days * 24.0 / math.log(2.0)
    np.testing.assert_allclose([r["total_dose_gy"] for r in rows["table"]], table * tau_h / 100.0, rtol=1e-15)


def test_to_json_turns_non_finite_floats_into_null() -> None:
    text = cli.to_json([{"a": float("nan"), "b": np.float32(1.5), "c": [np.inf, 2]}])
    assert json.loads(text) == [{"a": None, "b": 1.5, "c": [None, 2]}]


def test_dvh_summaries_use_the_given_sampling_settings() -> None:
    """A structure sticking out of the grid is refused by default and clipped with require_inside_grid=False."""
    ax = centred_axis(0.5, 0.1)
    grid = DoseGrid(dose_gy=np.full((10, 10, 10), 50.0), x_cm=ax, y_cm=ax, z_cm=ax)
    wide = Structure("wide", [(z, rect(-0.8, 0.8, -0.2, 0.2)) for z in (-0.2, 0.0, 0.2)])
    with pytest.raises(cli.CliInputError, match="outside the dose grid"):
        cli.dvh_summaries(grid, [wide], 40.0)
    clipped = cli.dvh_summaries(grid, [wide], 40.0, cli.DvhCommandSettings(SamplingSettings(require_inside_grid=False)))
    assert clipped[0]["volume_cm3"] == pytest.approx(1.0 * 0.4 * 0.4, rel=1e-9)  # 3 planes, half end slabs


# ---------------------------------------------------------------------------------------------------------------
# The process-level contract: exit status 2, exactly one stderr line, no traceback (two real subprocesses)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        pytest.param(["dvh", "--rtdose", "uniform_dose", "--rtstruct", "rtstruct", "--structure", "PTV",
                      "--prescription-gy", "100"], "CommandError: rtstruct.dcm: no ROI named 'PTV'", id="dvh"),
        pytest.param(["tg43", "--model", "6711", "--points", "points"],
                     "CommandError: Error: one of the arguments --rtplan --seeds is required", id="tg43-arguments"),
    ],
)
def test_exit_status_and_single_stderr_line(files: dict[str, str], command: list[str], expected: str) -> None:
    args = [files.get(a, a) for a in command]
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected)
    assert "Traceback" not in proc.stderr

"""Round trips through demo.dicom_synth (writing) and dosimetry.dicom_io (reading), and every error path.

Files are tiny (a few kB) and written into tmp_path. pydicom is used directly only to tamper with written files
(delete a tag, shorten PixelData, change orientation) so the reader meets the broken inputs it must refuse.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from demo import dicom_synth as synth
from dosimetry import dicom_io as io

FRAME = "1.2.826.0.1.3680043.8.498.1"
OTHER_FRAME = "1.2.826.0.1.3680043.8.498.2"
STUDY = "1.2.826.0.1.3680043.8.498.3"
REF_TIME = datetime(2024, 3, 1, 9, 30, 15)

# DS strings keep about 11 significant digits; coordinates come back equal to this tolerance (cm).
COORD_ATOL_CM = 1e-9


def _dose_field(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """An asymmetric dose (Gy) so that any axis mix-up or flip changes the values."""
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    return 10.0 + 3.0 * xx + 7.0 * yy**2 + 11.0 * zz + 0.5 * xx * zz


def _axes(x_dir: int = 1, y_dir: int = 1, z_dir: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # non-square on purpose: 5 columns 0.25 cm apart, 3 rows 0.4 cm apart, 4 frames 0.3 cm apart
    x = np.array([-0.5, -0.25, 0.0, 0.25, 0.5])[::x_dir]
    y = np.array([1.2, 1.6, 2.0])[::y_dir]
    z = np.array([-0.6, -0.3, 0.0, 0.3])[::z_dir] + 0.9  # z0 != 0 so the absolute form is available
    return x, y, z


def _tamper(path: Path, change: Callable[[Dataset], None]) -> Path:
    """Edit a written file in place (invalid values on purpose, so pydicom's validation warnings are muted)."""
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        change(ds)
        ds.save_as(path, enforce_file_format=True)
    return path


def _assert_one_line_error(exc: io.DicomImportError, file_name: str, tag: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"{file_name}: "), message
    assert tag in message, message


# ---------------------------------------------------------------------------------------------------------------
# RT Dose
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [16, 32])
def test_dose_round_trip_within_quantisation_step(tmp_path: Path, bits: int) -> None:
    rng = np.random.default_rng(7)
    x, y, z = _axes()
    dose = rng.uniform(0.0, 150.0, size=(z.size, y.size, x.size))
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", dose, x, y, z, FRAME, STUDY, bits=bits)

    rd = io.read_rtdose(path)

    assert rd.dose_gy.dtype == np.float32
    # rounding to the integer grid (half a step) plus float32 representation of the result
    bound = 0.5 * rd.dose_grid_scaling_gy + np.finfo(np.float32).eps * dose.max()
    assert np.max(np.abs(rd.dose_gy - dose)) <= bound
    # the scaling uses the integer range: the largest dose is stored as the largest integer
    assert pydicom.dcmread(path).pixel_array.max() == 2**bits - 1
    assert rd.dose_grid_scaling_gy == pytest.approx(dose.max() / (2**bits - 1), rel=1e-9)
    assert (rd.frame_of_reference_uid, rd.dose_type, rd.dose_summation_type) == (FRAME, "PHYSICAL", "PLAN")


def test_sixteen_bit_quantisation_is_visible_but_bounded(tmp_path: Path) -> None:
    x, y, z = _axes()
    dose = _dose_field(x, y, z) + 1e-3 / 3  # off the 16-bit grid
    rd = io.read_rtdose(synth.write_rtdose(tmp_path / "d16.dcm", dose, x, y, z, FRAME, STUDY, bits=16))
    err = np.abs(rd.dose_gy.astype(np.float64) - dose)
    assert err.max() > 1e-6  # 16 bits really do quantise (the test above is not vacuous)
    assert err.max() <= 0.5 * rd.dose_grid_scaling_gy + 1e-5


@pytest.mark.parametrize("offsets", ["relative", "absolute"])
@pytest.mark.parametrize(
    ("x_dir", "y_dir", "z_dir"),
    [(1, 1, 1), (1, 1, -1), (-1, 1, 1), (1, -1, 1), (-1, -1, -1)],
    ids=["identity", "z-flipped", "x-flipped", "y-flipped", "all-flipped"],
)
def test_dose_coordinates_exact_in_every_orientation(
    tmp_path: Path, offsets: str, x_dir: int, y_dir: int, z_dir: int
) -> None:
    x, y, z = _axes(x_dir, y_dir, z_dir)
    dose = _dose_field(x, y, z)
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", dose, x, y, z, FRAME, STUDY, offsets=offsets)  # type: ignore[arg-type]

    stored = pydicom.dcmread(path)
    first_offset = float(stored.GridFrameOffsetVector[0])
    assert first_offset == (0.0 if offsets == "relative" else pytest.approx(z[0] * 10.0))
    assert [float(v) for v in stored.PixelSpacing] == pytest.approx([4.0, 2.5])  # [rows (y), columns (x)] mm

    # default: axes ascending, array flipped to match
    rd = io.read_rtdose(path)
    np.testing.assert_allclose(rd.x_cm, np.sort(x), rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(rd.y_cm, np.sort(y), rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(rd.z_cm, np.sort(z), rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(rd.dose_gy, _dose_field(rd.x_cm, rd.y_cm, rd.z_cm), rtol=1e-6)

    # stored order kept: coordinates are exactly the written ones, index for index
    raw = io.read_rtdose(path, settings=io.DicomReadSettings(ascending_axes=False))
    np.testing.assert_allclose(raw.x_cm, x, rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(raw.y_cm, y, rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(raw.z_cm, z, rtol=0, atol=COORD_ATOL_CM)
    np.testing.assert_allclose(raw.dose_gy, dose, rtol=1e-6)


def test_pixel_spacing_row_column_order(tmp_path: Path) -> None:
    """PixelSpacing is [row spacing (y), column spacing (x)]; swapping them is caught on a non-square grid."""
    x = np.arange(6) * 0.2  # dx = 2 mm
    y = np.arange(3) * 0.5  # dy = 5 mm
    z = np.array([0.0, 0.3])
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", _dose_field(x, y, z), x, y, z, FRAME, STUDY)
    rd = io.read_rtdose(path)
    assert rd.shape == (2, 3, 6)
    assert rd.x_cm[1] - rd.x_cm[0] == pytest.approx(0.2, abs=1e-12)
    assert rd.y_cm[1] - rd.y_cm[0] == pytest.approx(0.5, abs=1e-12)


def test_transposed_orientation_rows_along_x(tmp_path: Path) -> None:
    """ImageOrientationPatient 0\\1\\0\\1\\0\\0: columns run along y, rows along x, slice normal is -z."""
    x, y, z = _axes()
    dose = _dose_field(x, y, z)
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", dose, x, y, z, FRAME, STUDY)
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)  # (frames, rows=3, cols=5)
    _tamper(path, lambda d: setattr(d, "ImageOrientationPatient", ["0", "1", "0", "1", "0", "0"]))

    rd = io.read_rtdose(path, settings=io.DicomReadSettings(ascending_axes=False))

    # rows (3 of them, PixelSpacing[0] = 4 mm apart) now step along +x; columns (5, 2.5 mm) along +y
    np.testing.assert_allclose(rd.x_cm, x[0] + 0.4 * np.arange(3), atol=COORD_ATOL_CM)
    np.testing.assert_allclose(rd.y_cm, y[0] + 0.25 * np.arange(5), atol=COORD_ATOL_CM)
    np.testing.assert_allclose(rd.z_cm, z[0] - (z - z[0]), atol=COORD_ATOL_CM)  # relative offsets along -z
    np.testing.assert_allclose(rd.dose_gy, stored.transpose(0, 2, 1), rtol=1e-6)


def test_single_frame_dose_without_offset_vector(tmp_path: Path) -> None:
    x, y = _axes()[:2]
    z = np.array([1.5])
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", _dose_field(x, y, z), x, y, z, FRAME, STUDY)
    _tamper(path, lambda d: delattr(d, "GridFrameOffsetVector"))
    rd = io.read_rtdose(path)
    assert rd.shape == (1, 3, 5)
    np.testing.assert_allclose(rd.z_cm, [1.5], atol=COORD_ATOL_CM)


def test_dose_read_from_bytes_and_file_object(tmp_path: Path) -> None:
    x, y, z = _axes()
    path = synth.write_rtdose(tmp_path / "rtdose.dcm", _dose_field(x, y, z), x, y, z, FRAME, STUDY)
    from_bytes = io.read_rtdose(path.read_bytes(), name="upload.dcm")
    with path.open("rb") as fh:
        from_file = io.read_rtdose(fh)
    assert from_bytes.file_name == "upload.dcm"
    np.testing.assert_array_equal(from_bytes.dose_gy, from_file.dose_gy)
    assert from_bytes.dose_gy.flags.writeable is False


# ---------------------------------------------------------------------------------------------------------------
# RT Structure Set
# ---------------------------------------------------------------------------------------------------------------


def _square(z: float, half: float, cx: float = 0.0, cy: float = 0.0) -> tuple[float, np.ndarray]:
    xy = np.array([[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]])
    return (z, xy)


def test_contours_round_trip(tmp_path: Path) -> None:
    gtv = synth.sphere_contours((0.3, -0.2, 1.0), 0.8, [0.4, 0.7, 1.0, 1.3, 1.6], n_vertices=24)
    skin = [_square(1.0, 3.0), _square(1.0, 1.0)]  # outer contour + a hole on the same plane
    markers = np.array([[0.1, 0.2, 0.3], [1.1, -1.2, 2.5]])
    path = synth.write_rtstruct(
        tmp_path / "rtstruct.dcm", {"GTV": gtv, "Skin": skin}, FRAME, STUDY,
        ct_uids=[generate_uid(), generate_uid()], points_cm={"Markers": markers},
    )  # fmt: skip

    ss = io.read_rtstruct(path)

    assert ss.names == ("GTV", "Skin", "Markers")
    assert ss.frame_of_reference_uid == FRAME
    assert ss.warnings == ()
    read_gtv = ss.get("gtv")  # case-insensitive
    assert read_gtv.number == 1 and read_gtv.interpreted_type == "GTV"
    assert len(read_gtv.contours) == len(gtv) == 5
    for (z_in, xy_in), (z_out, xy_out) in zip(gtv, read_gtv.contours, strict=True):
        assert z_out == pytest.approx(z_in, abs=COORD_ATOL_CM)
        np.testing.assert_allclose(xy_out, xy_in, rtol=0, atol=COORD_ATOL_CM)
    assert ss.get(" SKIN ").z_planes_cm == (1.0,)
    assert len(ss.get("Skin").contours) == 2
    np.testing.assert_allclose(ss.get("Skin").contours[1][1], skin[1][1], atol=COORD_ATOL_CM)
    np.testing.assert_allclose(ss.get("Markers").points_cm, markers, atol=COORD_ATOL_CM)
    assert ss.get("Markers").contours == ()
    assert ss.by_number(2).name == "Skin"


def test_unsupported_and_non_axial_contours_are_skipped_with_warnings(tmp_path: Path) -> None:
    path = synth.write_rtstruct(
        tmp_path / "rtstruct.dcm", {"GTV": [_square(0.0, 1.0), _square(0.5, 1.0), _square(1.0, 1.0)]}, FRAME, STUDY
    )

    def change(ds: Dataset) -> None:
        contours = ds.ROIContourSequence[0].ContourSequence
        contours[0].ContourGeometricType = "OPEN_PLANAR"
        data = [float(v) for v in contours[1].ContourData]
        data[2] += 2.0  # first point's z moved 2 mm off the plane
        contours[1].ContourData = [f"{v:.6g}" for v in data]

    _tamper(path, change)
    ss = io.read_rtstruct(path)
    assert [z for z, _ in ss.get("GTV").contours] == [pytest.approx(1.0)]
    assert len(ss.warnings) == 2
    assert "OPEN_PLANAR" in ss.warnings[0] and "skipped" in ss.warnings[0]
    assert "not axial" in ss.warnings[1]


def test_bare_dataset_without_file_meta_is_read() -> None:
    """pydicom's bundled rtstruct.dcm has no 'DICM' preamble or File Meta header (as some exports do)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("rtstruct.dcm")
    assert path is not None
    assert Path(path).read_bytes()[128:132] != b"DICM"
    ss = io.read_rtstruct(path)
    assert ss.names == ("patient", "Isocenter 1", "Isocenter 2")
    assert ss.get("PATIENT").z_planes_cm == (-20.0, -19.0, -18.0)
    assert ss.get("isocenter 1").points_cm.shape == (1, 3)
    assert ss.get("isocenter 1").interpreted_type == "ISOCENTER"


def test_sphere_contours_boundary_planes_excluded() -> None:
    contours = synth.sphere_contours((0.0, 0.0, 1.0), 0.5, [0.4, 0.5, 0.75, 1.0, 1.5, 1.6], n_vertices=8)
    # |dz| = 0.5 = r (z = 0.5 and 1.5) is a single point: excluded; |dz| > r: excluded
    assert [z for z, _ in contours] == [0.75, 1.0]
    radii = [np.hypot(xy[:, 0], xy[:, 1]) for _, xy in contours]
    np.testing.assert_allclose(radii[0], math.sqrt(0.5**2 - 0.25**2), rtol=1e-12)
    np.testing.assert_allclose(radii[1], 0.5, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# RT Plan (seeds)
# ---------------------------------------------------------------------------------------------------------------

SEEDS_CM = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 0.5, 0.25], [-0.35, 0.12, 1.05]])


@pytest.mark.parametrize(
    "needle_ids", [None, [1, 1, 2, 2]], ids=["one-channel-per-seed", "one-channel-per-needle"]
)
def test_seeds_round_trip(tmp_path: Path, needle_ids: list[int] | None) -> None:
    path = synth.write_rtplan_seeds(
        tmp_path / "rtplan.dcm", SEEDS_CM, 0.635, REF_TIME, frame_uid=FRAME, study_uid=STUDY,
        prescription_gy=150.0, needle_ids=needle_ids,
    )  # fmt: skip
    plan = io.read_rtplan_seeds(path)

    assert plan.n_seeds == 4  # the 0/1 time-weight control-point pair of one seed is one seed
    np.testing.assert_allclose(plan.positions_cm, SEEDS_CM, rtol=0, atol=COORD_ATOL_CM)
    assert plan.air_kerma_strength_u == pytest.approx(0.635, rel=1e-12)
    assert plan.reference_datetime == REF_TIME
    assert plan.isotope_name == "I-125"
    assert plan.half_life_days == pytest.approx(59.4)
    assert (plan.source_model_id, plan.source_manufacturer) == ("6711", "Oncura")
    assert plan.prescription_gy == pytest.approx(150.0)
    assert plan.brachy_technique == "PERMANENT" and plan.brachy_treatment_type == "LDR"
    assert plan.frame_of_reference_uid == FRAME
    expected_channels = [1, 2, 3, 4] if needle_ids is None else [1, 1, 2, 2]
    assert plan.seed_channel_numbers.tolist() == expected_channels
    assert plan.sources[0].active_length_cm == pytest.approx(0.3)


def test_seed_plan_without_half_life_or_time(tmp_path: Path) -> None:
    path = synth.write_rtplan_seeds(
        tmp_path / "rtplan.dcm", SEEDS_CM[:1], 0.5, REF_TIME, frame_uid=FRAME, study_uid=STUDY, half_life_days=None
    )
    _tamper(path, lambda d: delattr(d.SourceSequence[0], "SourceStrengthReferenceTime"))
    plan = io.read_rtplan_seeds(path)
    assert plan.half_life_days is None
    assert plan.reference_datetime == datetime(2024, 3, 1, 0, 0)
    assert len(plan.warnings) == 1 and "midnight" in plan.warnings[0]


def test_two_source_types_need_explicit_per_seed_strengths(tmp_path: Path) -> None:
    path = synth.write_rtplan_seeds(tmp_path / "rtplan.dcm", SEEDS_CM[:2], 0.5, REF_TIME, frame_uid=FRAME, study_uid=STUDY)

    def add_second_source(ds: Dataset) -> None:
        second = Dataset()
        second.update(ds.SourceSequence[0])
        second.SourceNumber = 2
        second.ReferenceAirKermaRate = "0.8"
        ds.SourceSequence.append(second)
        ds.ApplicationSetupSequence[0].ChannelSequence[1].ReferencedSourceNumber = 2

    _tamper(path, add_second_source)
    plan = io.read_rtplan_seeds(path)
    assert plan.seed_strengths_u.tolist() == pytest.approx([0.5, 0.8])
    with pytest.raises(io.DicomImportError) as err:
        _ = plan.air_kerma_strength_u
    _assert_one_line_error(err.value, "rtplan.dcm", "ReferencedSourceNumber (300C,000E)")


# ---------------------------------------------------------------------------------------------------------------
# CT geometry and frame of reference
# ---------------------------------------------------------------------------------------------------------------


def test_ct_series_geometry_and_lesion(tmp_path: Path) -> None:
    hu = synth.sphere_lesion_hu((0.0, 0.0, 0.0), 0.3, lesion_hu=60.0, background_hu=0.0)
    paths = synth.write_ct_series(tmp_path / "ct", (4, 6, 8), (2.5, 1.0, 1.5), (-5.25, -2.5, -5.0), FRAME, STUDY, hu=hu)
    geometry = io.read_ct_geometry(list(reversed(paths)))  # order of the paths does not matter

    assert geometry.shape == (4, 6, 8)
    assert geometry.spacing_cm == pytest.approx((0.25, 0.1, 0.15))
    assert geometry.uniform_z is True
    np.testing.assert_allclose(geometry.z_cm, [-0.5, -0.25, 0.0, 0.25], atol=COORD_ATOL_CM)
    np.testing.assert_allclose(geometry.x_cm, -0.525 + 0.15 * np.arange(8), atol=COORD_ATOL_CM)
    assert geometry.file_names == tuple(p.name for p in paths)
    assert geometry.sop_instance_uids[0] == pydicom.dcmread(paths[0]).SOPInstanceUID
    # voxel nearest the centre (x 0.075 cm, y 0, z 0) is inside the lesion; a corner is water
    centre_slice = pydicom.dcmread(paths[2]).pixel_array
    assert centre_slice[2, 4] == 60 and centre_slice[0, 0] == 0
    assert all(p.stat().st_size < 4096 for p in paths)


def test_all_objects_share_frame_of_reference(tmp_path: Path) -> None:
    x, y, z = _axes()
    dose = io.read_rtdose(synth.write_rtdose(tmp_path / "rtdose.dcm", _dose_field(x, y, z), x, y, z, FRAME, STUDY))
    ss = io.read_rtstruct(synth.write_rtstruct(tmp_path / "rtstruct.dcm", {"GTV": [_square(0.0, 1.0)]}, FRAME, STUDY))
    plan = io.read_rtplan_seeds(
        synth.write_rtplan_seeds(tmp_path / "rtplan.dcm", SEEDS_CM, 0.5, REF_TIME, frame_uid=FRAME, study_uid=STUDY)
    )
    ct = io.read_ct_geometry(synth.write_ct_series(tmp_path / "ct", (2, 3, 3), (2.0, 2.0, 2.0), (0, 0, 0), FRAME, STUDY))
    io.check_same_frame_of_reference(dose, ss, plan, ct)  # must not raise

    other = io.read_rtstruct(
        synth.write_rtstruct(tmp_path / "other.dcm", {"GTV": [_square(0.0, 1.0)]}, OTHER_FRAME, STUDY)
    )
    with pytest.raises(io.DicomImportError) as err:
        io.check_same_frame_of_reference(dose, ss, other)
    assert str(err.value) == f"other.dcm: FrameOfReferenceUID (0020,0052) {OTHER_FRAME} does not match rtdose.dcm's {FRAME}"


# ---------------------------------------------------------------------------------------------------------------
# Error paths: one line, naming the file and the tag
# ---------------------------------------------------------------------------------------------------------------


def _dose_file(tmp_path: Path, name: str = "rtdose.dcm") -> Path:
    x, y, z = _axes()
    return synth.write_rtdose(tmp_path / name, _dose_field(x, y, z), x, y, z, FRAME, STUDY)


def _plan_file(tmp_path: Path) -> Path:
    return synth.write_rtplan_seeds(tmp_path / "rtplan.dcm", SEEDS_CM, 0.5, REF_TIME, frame_uid=FRAME, study_uid=STUDY)


def _case_wrong_modality(tmp_path: Path) -> None:
    paths = synth.write_ct_series(tmp_path, (1, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0), FRAME, STUDY)
    io.read_rtplan_seeds(paths[0], name="plan.dcm")


def _case_missing_scaling(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: delattr(d, "DoseGridScaling")))


def _case_truncated_pixel_data(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "PixelData", d.PixelData[:-40])))


def _case_relative_units(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "DoseUnits", "RELATIVE")))


def _case_oblique(tmp_path: Path) -> None:
    c = f"{math.cos(0.2):.6f}"
    s = f"{math.sin(0.2):.6f}"
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "ImageOrientationPatient", [c, s, "0", f"-{s}", c, "0"])))


def _case_sagittal(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "ImageOrientationPatient", ["0", "1", "0", "0", "0", "-1"])))


def _case_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Patient notes, not DICOM.\n" * 20)
    io.read_rtdose(path)


def _case_unknown_roi(tmp_path: Path) -> None:
    path = synth.write_rtstruct(
        tmp_path / "rtstruct.dcm", {"GTV": [_square(0.0, 1.0)], "Skin": [_square(0.0, 4.0)]}, FRAME, STUDY
    )
    io.read_rtstruct(path).get("PTV2")


def _case_offsets_neither_form(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "GridFrameOffsetVector", ["5", "8", "11", "14"])))


def _case_offsets_wrong_count(tmp_path: Path) -> None:
    io.read_rtdose(_tamper(_dose_file(tmp_path), lambda d: setattr(d, "GridFrameOffsetVector", ["0", "3", "6"])))


def _case_missing_strength(tmp_path: Path) -> None:
    io.read_rtplan_seeds(_tamper(_plan_file(tmp_path), lambda d: delattr(d.SourceSequence[0], "ReferenceAirKermaRate")))


def _case_dose_rate_water_units(tmp_path: Path) -> None:
    io.read_rtplan_seeds(
        _tamper(_plan_file(tmp_path), lambda d: setattr(d.SourceSequence[0], "SourceStrengthUnits", "DOSE_RATE_WATER"))
    )


def _case_not_permanent(tmp_path: Path) -> None:
    io.read_rtplan_seeds(_tamper(_plan_file(tmp_path), lambda d: setattr(d, "BrachyTreatmentTechnique", "INTRACAVITARY")))


def _case_bad_reference_date(tmp_path: Path) -> None:
    io.read_rtplan_seeds(
        _tamper(_plan_file(tmp_path), lambda d: setattr(d.SourceSequence[0], "SourceStrengthReferenceDate", "20241399"))
    )


def _case_ct_frames_differ(tmp_path: Path) -> None:
    paths = synth.write_ct_series(tmp_path, (3, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0), FRAME, STUDY)
    _tamper(paths[1], lambda d: setattr(d, "FrameOfReferenceUID", OTHER_FRAME))
    io.read_ct_geometry(paths)


ERROR_CASES = [
    # (id, why, build-and-read, file name, exact message or None, substrings)
    ("wrong-modality", "a CT slice offered as the plan", _case_wrong_modality, "plan.dcm",
     "plan.dcm: Modality (0008,0060) is 'CT', expected 'RTPLAN'", []),
    ("missing-scaling", "no DoseGridScaling: stored integers have no Gy meaning", _case_missing_scaling, "rtdose.dcm",
     "rtdose.dcm: DoseGridScaling (3004,000E) is missing", []),
    ("truncated-pixels", "PixelData shorter than Rows×Columns×Frames", _case_truncated_pixel_data, "rtdose.dcm",
     None, ["PixelData (7FE0,0010) cannot be decoded: ", "expected 240"]),
    ("relative-units", "RELATIVE dose cannot become Gy", _case_relative_units, "rtdose.dcm",
     None, ["DoseUnits (3004,0002) is 'RELATIVE', expected 'GY'"]),
    ("oblique", "grid rotated 0.2 rad about z", _case_oblique, "rtdose.dcm",
     None, ["ImageOrientationPatient (0020,0037)", "oblique"]),
    ("sagittal", "axis-aligned but not axial", _case_sagittal, "rtdose.dcm",
     None, ["ImageOrientationPatient (0020,0037)", "not axial"]),
    ("not-dicom", "a text file", _case_not_dicom, "notes.txt",
     None, ["not a DICOM file", "(0002,0000)"]),
    ("unknown-roi", "structure name not in the set", _case_unknown_roi, "rtstruct.dcm",
     "rtstruct.dcm: no ROI named 'PTV2' (ROIName (3006,0026)); available: GTV, Skin", []),
    ("offsets-neither", "first offset neither 0 nor IPP z", _case_offsets_neither_form, "rtdose.dcm",
     None, ["GridFrameOffsetVector (3004,000C) first value 5 is neither 0"]),
    ("offsets-count", "3 offsets for 4 frames", _case_offsets_wrong_count, "rtdose.dcm",
     None, ["GridFrameOffsetVector (3004,000C) has 3 values but NumberOfFrames (0028,0008) is 4"]),
    ("missing-strength", "source without ReferenceAirKermaRate", _case_missing_strength, "rtplan.dcm",
     "rtplan.dcm: SourceSequence[0] > ReferenceAirKermaRate (300A,022A) is missing", []),
    ("dose-rate-water", "strength not in U", _case_dose_rate_water_units, "rtplan.dcm",
     None, ["SourceStrengthUnits (300A,0229) is 'DOSE_RATE_WATER', expected 'AIR_KERMA_RATE'"]),
    ("not-permanent", "technique other than PERMANENT refused by default", _case_not_permanent, "rtplan.dcm",
     None, ["BrachyTreatmentTechnique (300A,0200) is 'INTRACAVITARY', expected PERMANENT"]),
    ("bad-date", "month 13", _case_bad_reference_date, "rtplan.dcm",
     None, ["SourceStrengthReferenceDate (300A,022C) '20241399' is not a DICOM date"]),
    ("ct-frames", "one CT slice in another frame of reference", _case_ct_frames_differ, "CT_0001.dcm",
     None, [f"FrameOfReferenceUID (0020,0052) {OTHER_FRAME} differs from CT_0000.dcm's {FRAME}"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "file_name", "exact", "parts"), [c[2:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_is_one_line_naming_file_and_tag(
    tmp_path: Path, build: Callable[[Path], None], file_name: str, exact: str | None, parts: list[str]
) -> None:
    with pytest.raises(io.DicomImportError) as err:
        build(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{file_name}: "), message
    assert "(" in message and "," in message  # a (gggg,eeee) tag is named
    if exact is not None:
        assert message == exact
    for part in parts:
        assert part in message, message
    assert isinstance(err.value, ValueError)


def test_widened_technique_setting_accepts_interstitial(tmp_path: Path) -> None:
    path = _tamper(_plan_file(tmp_path), lambda d: setattr(d, "BrachyTreatmentTechnique", "INTERSTITIAL"))
    settings = io.DicomReadSettings(accepted_brachy_techniques=frozenset({"PERMANENT", "INTERSTITIAL"}))
    assert io.read_rtplan_seeds(path, settings=settings).brachy_technique == "INTERSTITIAL"


# ---------------------------------------------------------------------------------------------------------------
# Writer input validation
# ---------------------------------------------------------------------------------------------------------------

_X, _Y, _Z = _axes()
_DOSE = _dose_field(_X, _Y, _Z)

WRITER_ERRORS = [
    ("non-uniform-x", dict(x_cm=np.array([0.0, 0.1, 0.3, 0.4, 0.5])), "x_cm: spacing must be uniform"),
    ("negative-dose", dict(dose_gy=-_DOSE), "dose_gy: values must be finite and >= 0 Gy"),
    ("shape-mismatch", dict(dose_gy=_DOSE[:, :2, :]), "does not match (len(z_cm), len(y_cm), len(x_cm))"),
    ("absolute-at-zero", dict(z_cm=_Z - _Z[0], offsets="absolute"), "offsets: 'absolute' needs z_cm[0] != 0"),
    ("bits-8", dict(bits=8), "bits: must be 16 or 32, got 8"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in WRITER_ERRORS], ids=[c[0] for c in WRITER_ERRORS])
def test_write_rtdose_rejects_bad_input(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = dict(dose_gy=_DOSE, x_cm=_X, y_cm=_Y, z_cm=_Z, frame_uid=FRAME, study_uid=STUDY)
    kwargs.update(changes)
    with pytest.raises(synth.DicomSynthError, match=None) as err:
        synth.write_rtdose(tmp_path / "d.dcm", **kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)
    assert not (tmp_path / "d.dcm").exists()


# ---------------------------------------------------------------------------------------------------------------
# Written files are proper DICOM Part 10 objects
# ---------------------------------------------------------------------------------------------------------------

SOP_CLASSES = [
    # (id, SOP Class UID from dosimetry.md §4 / PS3.4, modality)
    ("rtdose", "1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE"),
    ("rtstruct", "1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT"),
    ("rtplan", "1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN"),
    ("ct", "1.2.840.10008.5.1.4.1.1.2", "CT"),
]


@pytest.mark.parametrize(("kind", "sop_class", "modality"), SOP_CLASSES, ids=[c[0] for c in SOP_CLASSES])
def test_written_files_have_file_meta_and_sop_class(tmp_path: Path, kind: str, sop_class: str, modality: str) -> None:
    ct_uids = [generate_uid() for _ in range(3)]
    writers: dict[str, Callable[[], Path]] = {
        "rtdose": lambda: _dose_file(tmp_path),
        "rtstruct": lambda: synth.write_rtstruct(
            tmp_path / "s.dcm", {"GTV": [_square(0.0, 1.0)]}, FRAME, STUDY, ct_uids=ct_uids, ct_series_uid="1.2.3.4"
        ),
        "rtplan": lambda: _plan_file(tmp_path),
        "ct": lambda: synth.write_ct_series(tmp_path, (1, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0), FRAME, STUDY)[0],
    }
    path = writers[kind]()
    assert path.read_bytes()[128:132] == b"DICM"
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == sop_class
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert (ds.Modality, ds.StudyInstanceUID) == (modality, STUDY)
    if kind == "rtstruct":
        series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
        assert series.SeriesInstanceUID == "1.2.3.4"
        assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == ct_uids
    else:
        assert ds.FrameOfReferenceUID == FRAME


# ---------------------------------------------------------------------------------------------------------------
# ContourData from the raw bytes: the same numbers as pydicom's converted values, the same refusals
# ---------------------------------------------------------------------------------------------------------------

CONTOUR_DATA = 0x30060050


def _pydicom_contours(path: Path | str) -> dict[str, list[tuple[float, np.ndarray]]]:
    """What the reader did before: pydicom's DSfloat values of every CLOSED_PLANAR ContourData, mm → cm."""
    ds = pydicom.dcmread(path, force=True)  # pydicom's bundled rtstruct.dcm has no File Meta header
    names = {int(item.ROINumber): str(item.ROIName) for item in ds.StructureSetROISequence}
    out: dict[str, list[tuple[float, np.ndarray]]] = {name: [] for name in names.values()}
    for roi in ds.ROIContourSequence:
        for item in roi.get("ContourSequence", []):
            if item.ContourGeometricType in ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR"):
                xyz = np.array([float(v) for v in item.ContourData]).reshape(-1, 3)
                out[names[int(roi.ReferencedROINumber)]].append((float(xyz[0, 2]) / 10.0, xyz[:, :2] / 10.0))
    return out


def _assert_same_as_pydicom(path: Path | str) -> None:
    ss = io.read_rtstruct(path)
    expected = _pydicom_contours(path)
    assert list(expected) == list(ss.names)
    for roi in ss.rois:
        assert len(roi.contours) == len(expected[roi.name])
        for (z, xy), (z_ref, xy_ref) in zip(roi.contours, expected[roi.name], strict=True):
            assert z == z_ref  # exactly: the same float() of the same text
            assert np.array_equal(xy, xy_ref)


def _set_raw_contour_data(path: Path, texts: list[bytes]) -> Path:
    """Replace each contour's ContourData by the given undecoded bytes (written as they are)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(path)
    items = [c for roi in ds.ROIContourSequence for c in roi.ContourSequence]
    assert len(items) == len(texts)
    for item, raw in zip(items, texts, strict=True):
        padded = raw + b" " * (len(raw) % 2)
        item[CONTOUR_DATA] = RawDataElement(Tag(CONTOUR_DATA), "DS", len(padded), padded, 0, False, True)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_contour_data_equals_pydicom_values_on_test_exports(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    bundled = get_testdata_file("rtstruct.dcm")
    assert bundled is not None
    _assert_same_as_pydicom(bundled)
    gtv = synth.sphere_contours((0.31, -0.27, 1.03), 0.77, np.arange(0.3, 1.8, 0.15), n_vertices=37)
    _assert_same_as_pydicom(synth.write_rtstruct(tmp_path / "rtstruct.dcm", {"GTV": gtv, "Skin": [_square(1.0, 3.0)]},
                                                 FRAME, STUDY))


def _ds_text(value: float, style: str) -> str:
    return {"fixed2": f"{value:.2f}", "short": f"{value:.6g}", "exp": f"{value:.5e}", "plus": f"{value:+.3f}",
            "padded": f" {value:.4f} "}[style]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rois=st.lists(st.lists(st.tuples(st.integers(3, 12), st.floats(-400, 400)), min_size=1, max_size=4),
                  min_size=1, max_size=4),
    style=st.sampled_from(["fixed2", "short", "exp", "plus", "padded"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_contour_data_equals_pydicom_values_on_generated_sets(
    tmp_path: Path, rois: list[list[tuple[int, float]]], style: str, seed: int
) -> None:
    """Structure sets with random coordinates in the number formats planning systems write (fixed decimals,
    exponents, a leading +, padded values): every coordinate read equals float() of pydicom's DS value."""
    rng = np.random.default_rng(seed)
    structures, texts = {}, []
    for r, contours in enumerate(rois):
        structures[f"ROI{r}"] = [(z_mm / 10.0, rng.uniform(-5, 5, (n, 2))) for n, z_mm in contours]
        for n, z_mm in contours:
            xyz = np.column_stack([rng.uniform(-300, 300, (n, 2)), np.full(n, z_mm)])
            texts.append("\\".join(_ds_text(v, style) for v in xyz.ravel()).encode())
    path = _set_raw_contour_data(synth.write_rtstruct(tmp_path / f"s{seed}.dcm", structures, FRAME, STUDY), texts)
    _assert_same_as_pydicom(path)


_DS_NUMBER = st.floats(allow_nan=True, allow_infinity=True).flatmap(
    lambda v: st.sampled_from([repr(v), f"{v:.2f}", f"{v:.4e}", f"{v:+g}"]))
_DS_JUNK = st.text(alphabet=list("0123456789.eE+-_x \t\x00\xa0nai"), max_size=5)
_DS_PAD = st.sampled_from(["", " ", "  ", "\x00", " \x00", "\t", "\xa0", "\x85"])
DS_TEXT = st.builds(
    lambda lead, values, trail: lead + "\\".join(values) + trail,
    _DS_PAD, st.lists(st.tuples(_DS_PAD, st.one_of(_DS_NUMBER, _DS_NUMBER, _DS_JUNK), _DS_PAD).map("".join),
                      min_size=1, max_size=7), _DS_PAD)


@settings(max_examples=500, deadline=None)
@example(text="1.5\\-2\\3e1 ")
@example(text="\xa01.5\\2\\3\xa0")
@example(text="1.5\\2\\3\x00")
@example(text="1\\2\\3e")
@example(text="1_0\\2\\ 3 ")
@given(text=DS_TEXT)
def test_raw_contour_data_parser_agrees_with_pydicom_on_any_text(text: str) -> None:
    """The raw-bytes parser gives exactly pydicom's numbers whenever pydicom reads the value as DS; on a value
    pydicom cannot take as DS (it then retries other VRs and keeps text) it gives the numbers the old reader took
    from that text, or refuses with a one-line DicomImportError naming ContourData (never another exception)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag
    from pydicom.values import convert_DS_string

    raw = text.encode("latin-1")

    def read(convert_first: bool) -> object:
        ds = Dataset()
        ds[CONTOUR_DATA] = RawDataElement(Tag(CONTOUR_DATA), None, len(raw), raw, 0, True, True)
        if convert_first:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds[CONTOUR_DATA]  # noqa: B018 - pydicom converts it: the reader then takes pydicom's values
        try:
            return io._contour_points_mm(io._Reader(ds, "rtstruct.dcm"), "ROI 'GTV' contour 0").tolist()
        except io.DicomImportError as exc:
            assert "ContourData (3006,0050)" in str(exc) and "\n" not in str(exc)
            return "refused"

    new, old = read(False), read(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            convert_DS_string(raw, True)
        valid_ds = True
    except ValueError:
        valid_ds = False
    if valid_ds:
        assert new == old, (text, new, old)
    else:
        assert new in ("refused", old), (text, new, old)


def _bad_contour_file(tmp_path: Path, raw: bytes) -> Path:
    path = synth.write_rtstruct(tmp_path / "rtstruct.dcm",
                                {"GTV": [_square(0.0, 1.0)], "PTV": [_square(0.0, 1.5), _square(0.5, 1.5)]},
                                FRAME, STUDY)
    good = b"\\".join(b"%.2f" % v for v in [0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 10.0, 10.0, 0.0])
    return _set_raw_contour_data(path, [good, good, raw])


@pytest.mark.parametrize(("raw", "expected"), [
    (b"1.5\\2.5\\5.0\\abc\\3\\5.0\\1\\1\\5.0", "value 'abc' (number 4 of 9) is not a number"),
    (b"1.5\\2.5\\5.0\\\\3\\5.0\\1\\1\\5.0", "value '' (number 4 of 9) is not a number"),
    (b"1.5\\2.5\\5.0\\3\\5.0\\1\\1\\5.0", "has 8 values, not a multiple of 3"),
    (b"1.5\\2.5\\5.0\\3\\nan\\5.0\\1\\1\\5.0", "value nan (number 5 of 9) is not finite"),
    (b"1.5\\2.5\\5.0\\3\\1e999\\5.0\\1\\1\\5.0", "value inf (number 5 of 9) is not finite"),
    (b"  ", "is empty"),
])  # fmt: skip
def test_bad_contour_data_names_roi_contour_and_value(tmp_path: Path, raw: bytes, expected: str) -> None:
    with pytest.raises(io.DicomImportError) as err:
        io.read_rtstruct(_bad_contour_file(tmp_path, raw))
    message = str(err.value)
    assert message.startswith("rtstruct.dcm: ROIContourSequence[1] > ContourSequence[1] > ContourData (3006,0050)")
    assert "ROI 'PTV' contour 1" in message and expected in message, message
    assert "\n" not in message

"""Write small, valid synthetic DICOM objects (CT, RT Structure Set, brachy RT Plan, RT Dose) with pydicom.

For tests, benchmarks and the demo cohort generator. Inputs use SeedTrack's units (cm, Gy, U) except where a
parameter name says mm; the files store DICOM's mm. Every object gets a proper File Meta header (Explicit VR
Little Endian), the SOP Class UID of dosimetry.md §4 (from ``pydicom.uid``), fresh SOP/Series UIDs from
``pydicom.uid.generate_uid``, and the FrameOfReferenceUID / StudyInstanceUID passed in, so that the objects of
one synthetic patient belong together. Read them back with :mod:`dosimetry.dicom_io`.

No Django import here (pure core).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, cast

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

__all__ = [
    "DicomSynthError",
    "SyntheticPatient",
    "sphere_contours",
    "sphere_lesion_hu",
    "write_ct_series",
    "write_rtdose",
    "write_rtplan_seeds",
    "write_rtstruct",
]

_MM_PER_CM = 10.0
#: Contour of the form (z_cm, xy_cm of shape (k, 2)).
Contour = tuple[float, np.ndarray]
#: HU given as an array (nz, ny, nx) or as f(x_cm, y_cm, z_cm) -> HU on broadcast voxel-centre grids.
HuSpec = np.ndarray | Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class DicomSynthError(ValueError):
    """Bad input to a writer; the message names the parameter, its value and what is allowed."""


@dataclass(frozen=True)
class SyntheticPatient:
    """Patient-level identifiers written into every object (synthetic, no real person)."""

    patient_id: str = "SYNTH-0001"
    patient_name: str = "Synthetic^Patient"


_DEFAULT_PATIENT = SyntheticPatient()


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _ds(value: float) -> str:
    """A float as a DICOM DS string (at most 16 characters).

    pydicom's formatter can return 17 characters for some values (e.g. rounding noise such as
    -1.1000000000000001e-05) and then warns; fall back to fewer significant digits until it fits.
    """
    v = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = format_number_as_ds(v)
    digits = 12
    while len(text) > 16 and digits > 1:
        text = f"{v:.{digits}g}"
        digits -= 1
    return text


def _ds_list(values: Sequence[float] | np.ndarray) -> list[str]:
    return [_ds(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _base_dataset(
    sop_class_uid: str,
    modality: str,
    *,
    frame_uid: str,
    study_uid: str,
    series_uid: str | None,
    patient: SyntheticPatient,
    when: datetime,
) -> Dataset:
    meta = FileMetaDataset()
    sop_uid = generate_uid()
    meta.MediaStorageSOPClassUID = cast(UID, sop_class_uid)  # pydicom makes the str a UID on assignment
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.Modality = modality
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.patient_name
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "SeedTrack synthetic"
    ds.InstanceCreationDate = when.strftime("%Y%m%d")
    ds.InstanceCreationTime = when.strftime("%H%M%S")
    return ds


def _save(ds: Dataset, path: str | os.PathLike[str]) -> Path:
    out = Path(os.fspath(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


def _uniform_axis(name: str, values_cm: np.ndarray, *, allow_single: bool = False) -> float:
    """Signed uniform step (cm) of a 1-D coordinate axis; raises DicomSynthError otherwise."""
    if values_cm.ndim != 1 or values_cm.size == 0:
        raise DicomSynthError(f"{name}: expected a non-empty 1-D array of voxel-centre coordinates in cm")
    if not np.all(np.isfinite(values_cm)):
        raise DicomSynthError(f"{name}: coordinates must be finite")
    if values_cm.size == 1:
        if allow_single:
            return 0.0
        raise DicomSynthError(f"{name}: needs at least 2 voxel centres to define a spacing, got 1")
    steps = np.diff(values_cm)
    step = float(steps[0])
    if step == 0 or not np.allclose(steps, step, rtol=1e-6, atol=1e-9):
        raise DicomSynthError(f"{name}: spacing must be uniform and non-zero (steps {steps[:4]} cm …)")
    return step


# ---------------------------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------------------------


def sphere_contours(
    center_cm: Sequence[float],
    radius_cm: float,
    z_planes_cm: Sequence[float] | np.ndarray,
    n_vertices: int = 64,
) -> list[Contour]:
    """Axial contours of a sphere: one polygon per plane strictly inside the sphere (|z − z_c| < r).

    The ``n_vertices`` vertices lie on the sphere's circle of that plane (an inscribed polygon, so its area is
    slightly smaller than the circle's: factor sin(2π/n)·n/(2π), 0.9984 for n = 64). Counter-clockwise, first
    point not repeated. Returns ``[(z_cm, xy_cm (n, 2)), ...]`` in the order of ``z_planes_cm``.
    """
    if len(center_cm) != 3:
        raise DicomSynthError(f"center_cm: expected (x, y, z) in cm, got {center_cm!r}")
    if not radius_cm > 0:
        raise DicomSynthError(f"radius_cm: must be > 0, got {radius_cm!r}")
    if n_vertices < 3:
        raise DicomSynthError(f"n_vertices: must be >= 3, got {n_vertices}")
    cx, cy, cz = (float(v) for v in center_cm)
    angles = np.linspace(0.0, 2.0 * math.pi, n_vertices, endpoint=False)
    out: list[Contour] = []
    for z in np.asarray(z_planes_cm, dtype=np.float64).ravel():
        dz = float(z) - cz
        if abs(dz) >= radius_cm:
            continue
        rho = math.sqrt(radius_cm**2 - dz**2)
        xy = np.column_stack([cx + rho * np.cos(angles), cy + rho * np.sin(angles)])
        out.append((float(z), xy))
    return out


def sphere_lesion_hu(
    center_cm: Sequence[float], radius_cm: float, lesion_hu: float = 60.0, background_hu: float = 0.0
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """An HU function for :func:`write_ct_series`: water (``background_hu``) with a spherical lesion."""
    cx, cy, cz = (float(v) for v in center_cm)

    def hu(x_cm: np.ndarray, y_cm: np.ndarray, z_cm: np.ndarray) -> np.ndarray:
        inside = (x_cm - cx) ** 2 + (y_cm - cy) ** 2 + (z_cm - cz) ** 2 <= radius_cm**2
        return np.where(inside, lesion_hu, background_hu)

    return hu


# ---------------------------------------------------------------------------------------------------------------
# CT
# ---------------------------------------------------------------------------------------------------------------


def write_ct_series(
    folder: str | os.PathLike[str],
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    origin_mm: tuple[float, float, float],
    frame_uid: str,
    study_uid: str,
    hu: HuSpec | None = None,
    *,
    patient: SyntheticPatient = _DEFAULT_PATIENT,
    when: datetime | None = None,
) -> list[Path]:
    """Write an axial, head-first-supine CT series, one file per slice (``CT_0000.dcm`` …).

    ``shape`` is (nz, ny, nx); ``spacing_mm`` is (dz, dy, dx) > 0; ``origin_mm`` is the (x, y, z) centre of the
    first voxel. ``hu`` is an (nz, ny, nx) array or a function of broadcastable voxel-centre coordinate arrays
    ``(x_cm, y_cm, z_cm)`` returning HU (default: water, 0 HU). Pixels are int16 with RescaleSlope 1 and
    RescaleIntercept 0, so stored value = HU (clipped to [-1024, 3071]). Returns the paths in slice order.
    """
    nz, ny, nx = (int(v) for v in shape)
    if min(nz, ny, nx) < 1:
        raise DicomSynthError(f"shape: (nz, ny, nx) must all be >= 1, got {shape}")
    if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
        raise DicomSynthError(f"spacing_mm: (dz, dy, dx) must be 3 positive values, got {spacing_mm}")
    if len(origin_mm) != 3:
        raise DicomSynthError(f"origin_mm: expected (x, y, z), got {origin_mm}")
    dz, dy, dx = (float(v) for v in spacing_mm)
    x0, y0, z0 = (float(v) for v in origin_mm)
    x_cm = (x0 + dx * np.arange(nx)) / _MM_PER_CM
    y_cm = (y0 + dy * np.arange(ny)) / _MM_PER_CM
    z_cm = (z0 + dz * np.arange(nz)) / _MM_PER_CM
    if hu is None:
        values = np.zeros((nz, ny, nx))
    elif callable(hu):
        values = np.broadcast_to(
            np.asarray(hu(x_cm[None, None, :], y_cm[None, :, None], z_cm[:, None, None]), dtype=np.float64),
            (nz, ny, nx),
        )
    else:
        values = np.asarray(hu, dtype=np.float64)
        if values.shape != (nz, ny, nx):
            raise DicomSynthError(f"hu: array shape {values.shape} does not match shape {(nz, ny, nx)}")
    stored = np.clip(np.rint(values), -1024, 3071).astype(np.int16)

    when = when or datetime.now().replace(microsecond=0)
    series_uid = generate_uid()
    out_dir = Path(os.fspath(folder))
    paths: list[Path] = []
    for k in range(nz):
        ds = _base_dataset(
            CTImageStorage, "CT", frame_uid=frame_uid, study_uid=study_uid, series_uid=series_uid,
            patient=patient, when=when,
        )  # fmt: skip
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = _ds_list([x0, y0, z0 + dz * k])
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = _ds(z0 + dz * k)
        ds.SliceThickness = _ds(dz)
        ds.PixelSpacing = [_ds(dy), _ds(dx)]  # [between rows (y), between columns (x)]
        ds.KVP = "120"
        ds.Rows = ny
        ds.Columns = nx
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.PixelData = stored[k].tobytes()
        paths.append(_save(ds, out_dir / f"CT_{k:04d}.dcm"))
    return paths


# ---------------------------------------------------------------------------------------------------------------
# RT Structure Set
# ---------------------------------------------------------------------------------------------------------------

_COLORS = [(255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 200, 0), (200, 0, 255), (0, 220, 220)]


def write_rtstruct(
    path: str | os.PathLike[str],
    structures: Mapping[str, Sequence[Contour]],
    frame_uid: str,
    study_uid: str,
    ct_uids: Sequence[str] = (),
    *,
    ct_series_uid: str | None = None,
    points_cm: Mapping[str, np.ndarray] | None = None,
    interpreted_types: Mapping[str, str] | None = None,
    label: str = "SYNTH",
    patient: SyntheticPatient = _DEFAULT_PATIENT,
    when: datetime | None = None,
) -> Path:
    """Write an RT Structure Set.

    ``structures`` maps ROI name → list of ``(z_cm, xy_cm (k, 2))`` axial CLOSED_PLANAR contours (first point not
    repeated). ``points_cm`` maps ROI name → (m, 3) POINT markers (an ROI may have both; names only there
    become point ROIs). ``ct_uids`` (SOP Instance UIDs of the CT slices, e.g. ``CtGeometry.sop_instance_uids``)
    and ``ct_series_uid`` fill the referenced-series tree; omitted when empty. ``interpreted_types`` maps
    ROI name → RTROIInterpretedType (default: ``GTV`` for names starting with GTV, ``PTV`` likewise,
    ``ORGAN`` otherwise). ROI numbers are 1, 2, … in mapping order.
    """
    points_cm = dict(points_cm or {})
    interpreted_types = dict(interpreted_types or {})
    names = list(structures) + [n for n in points_cm if n not in structures]
    if len({n.strip().casefold() for n in names}) != len(names):
        raise DicomSynthError(f"structures: ROI names must be unique ignoring case, got {names}")

    when = when or datetime.now().replace(microsecond=0)
    ds = _base_dataset(
        RTStructureSetStorage, "RTSTRUCT", frame_uid=frame_uid, study_uid=study_uid, series_uid=None,
        patient=patient, when=when,
    )  # fmt: skip
    del ds.FrameOfReferenceUID  # the structure set refers to it through ReferencedFrameOfReferenceSequence
    del ds.PositionReferenceIndicator
    ds.StructureSetLabel = label
    ds.StructureSetDate = when.strftime("%Y%m%d")
    ds.StructureSetTime = when.strftime("%H%M%S")

    ref_frame = Dataset()
    ref_frame.FrameOfReferenceUID = frame_uid
    if ct_uids:
        images = []
        for uid in ct_uids:
            image = Dataset()
            image.ReferencedSOPClassUID = CTImageStorage
            image.ReferencedSOPInstanceUID = uid
            images.append(image)
        series = Dataset()
        series.SeriesInstanceUID = ct_series_uid or generate_uid()
        series.ContourImageSequence = images
        study = Dataset()
        study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (conventional)
        study.ReferencedSOPInstanceUID = study_uid
        study.RTReferencedSeriesSequence = [series]
        ref_frame.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [ref_frame]

    roi_items, contour_items, observation_items = [], [], []
    for number, name in enumerate(names, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        roi_items.append(roi)

        contour_seq = []
        for i, contour in enumerate(structures.get(name, [])):
            try:
                z_cm, xy_cm = contour
            except (TypeError, ValueError) as exc:
                raise DicomSynthError(f"structures[{name!r}][{i}]: expected (z_cm, xy_cm (k, 2))") from exc
            xy = np.asarray(xy_cm, dtype=np.float64)
            if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 3 or not np.all(np.isfinite(xy)):
                raise DicomSynthError(
                    f"structures[{name!r}][{i}]: xy_cm must be a finite (k, 2) array with k >= 3, got shape {xy.shape}"
                )
            xyz_mm = np.column_stack([xy * _MM_PER_CM, np.full(len(xy), float(z_cm) * _MM_PER_CM)])
            item = Dataset()
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(xyz_mm)
            item.ContourNumber = i + 1
            item.ContourData = _ds_list(xyz_mm)
            contour_seq.append(item)
        if name in points_cm:
            pts = np.asarray(points_cm[name], dtype=np.float64).reshape(-1, 3)
            for p in pts:
                item = Dataset()
                item.ContourGeometricType = "POINT"
                item.NumberOfContourPoints = 1
                item.ContourNumber = len(contour_seq) + 1
                item.ContourData = _ds_list(p * _MM_PER_CM)
                contour_seq.append(item)
        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        roi_contour.ROIDisplayColor = list(_COLORS[(number - 1) % len(_COLORS)])
        roi_contour.ContourSequence = contour_seq
        contour_items.append(roi_contour)

        upper = name.upper()
        default_type = "GTV" if upper.startswith("GTV") else "PTV" if upper.startswith("PTV") else "ORGAN"
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = interpreted_types.get(name, default_type)
        obs.ROIInterpreter = ""
        observation_items.append(obs)

    ds.StructureSetROISequence = roi_items
    ds.ROIContourSequence = contour_items
    ds.RTROIObservationsSequence = observation_items
    return _save(ds, path)


# ---------------------------------------------------------------------------------------------------------------
# RT Plan (permanent seeds)
# ---------------------------------------------------------------------------------------------------------------


def write_rtplan_seeds(
    path: str | os.PathLike[str],
    seed_positions_cm: np.ndarray | Sequence[Sequence[float]],
    air_kerma_strength_u: float,
    reference_datetime: datetime,
    isotope: str = "I-125",
    *,
    frame_uid: str,
    study_uid: str,
    prescription_gy: float | None = None,
    half_life_days: float | None = 59.4,
    source_model_id: str = "6711",
    source_manufacturer: str = "Oncura",
    active_length_mm: float = 3.0,
    needle_ids: Sequence[int] | None = None,
    application_setup_type: str = "PERINEAL",
    plan_label: str = "SEEDS",
    patient: SyntheticPatient = _DEFAULT_PATIENT,
    when: datetime | None = None,
) -> Path:
    """Write a permanent-implant (BrachyTreatmentTechnique PERMANENT, LDR) RT Plan.

    ``seed_positions_cm`` (S, 3) are seed centres in patient coordinates (cm → written in mm).
    ``air_kerma_strength_u`` is S_K per seed in U at ``reference_datetime``, written as ReferenceAirKermaRate
    (µGy·h⁻¹ at 1 m) with SourceStrengthReferenceDate/Time. One SourceSequence item for all seeds.

    Channel layout (dosimetry.md §4.1): by default one channel per seed with two control points at the same
    position (CumulativeTimeWeight 0 and 1). With ``needle_ids`` (S,) seeds are grouped into one channel per
    needle id with one control point per seed. ``prescription_gy`` (if given) goes to
    DoseReferenceSequence → TargetPrescriptionDose and BrachyApplicationSetupDose. ``half_life_days`` ``None``
    omits SourceIsotopeHalfLife.
    """
    positions = np.asarray(seed_positions_cm, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] < 1:
        raise DicomSynthError(f"seed_positions_cm: expected shape (S, 3) with S >= 1, got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise DicomSynthError("seed_positions_cm: positions must be finite")
    if not (math.isfinite(air_kerma_strength_u) and air_kerma_strength_u > 0):
        raise DicomSynthError(f"air_kerma_strength_u: must be > 0 U, got {air_kerma_strength_u!r}")
    if half_life_days is not None and not half_life_days > 0:
        raise DicomSynthError(f"half_life_days: must be > 0 or None, got {half_life_days!r}")
    if prescription_gy is not None and not prescription_gy > 0:
        raise DicomSynthError(f"prescription_gy: must be > 0 or None, got {prescription_gy!r}")
    n_seeds = positions.shape[0]
    if needle_ids is not None and len(needle_ids) != n_seeds:
        raise DicomSynthError(f"needle_ids: expected {n_seeds} ids (one per seed), got {len(needle_ids)}")

    when = when or datetime.now().replace(microsecond=0)
    ds = _base_dataset(
        RTPlanStorage, "RTPLAN", frame_uid=frame_uid, study_uid=study_uid, series_uid=None,
        patient=patient, when=when,
    )  # fmt: skip
    ds.RTPlanLabel = plan_label
    ds.RTPlanDate = when.strftime("%Y%m%d")
    ds.RTPlanTime = when.strftime("%H%M%S")
    ds.RTPlanGeometry = "PATIENT"
    ds.BrachyTreatmentTechnique = "PERMANENT"
    ds.BrachyTreatmentType = "LDR"

    machine = Dataset()
    machine.TreatmentMachineName = "MANUAL SEEDS"
    ds.TreatmentMachineSequence = [machine]

    source = Dataset()
    source.SourceNumber = 1
    source.SourceType = "CYLINDER"
    source.SourceManufacturer = source_manufacturer
    source.SourceModelID = source_model_id
    source.ActiveSourceLength = _ds(active_length_mm)
    source.SourceIsotopeName = isotope
    if half_life_days is not None:
        source.SourceIsotopeHalfLife = _ds(half_life_days)
    source.SourceStrengthUnits = "AIR_KERMA_RATE"
    source.ReferenceAirKermaRate = _ds(air_kerma_strength_u)
    source.SourceStrengthReferenceDate = reference_datetime.strftime("%Y%m%d")
    source.SourceStrengthReferenceTime = reference_datetime.strftime("%H%M%S")
    ds.SourceSequence = [source]

    if prescription_gy is not None:
        ref = Dataset()
        ref.DoseReferenceNumber = 1
        ref.DoseReferenceStructureType = "SITE"
        ref.DoseReferenceDescription = "Prescription"
        ref.DoseReferenceType = "TARGET"
        ref.TargetPrescriptionDose = _ds(prescription_gy)
        ds.DoseReferenceSequence = [ref]

    groups: list[list[int]]
    if needle_ids is None:
        groups = [[i] for i in range(n_seeds)]
    else:
        order: dict[int, list[int]] = {}
        for i, needle in enumerate(needle_ids):
            order.setdefault(int(needle), []).append(i)
        groups = list(order.values())

    channels = []
    for number, seeds in enumerate(groups, start=1):
        channel = Dataset()
        channel.ChannelNumber = number
        channel.ChannelTotalTime = "0"
        channel.SourceMovementType = "FIXED"
        channel.ReferencedSourceNumber = 1
        points: list[tuple[np.ndarray, float]]
        if needle_ids is None:
            points = [(positions[seeds[0]], 0.0), (positions[seeds[0]], 1.0)]
        else:
            n = len(seeds)
            points = [(positions[s], (k + 1) / n) for k, s in enumerate(seeds)]
        cps = []
        for index, (xyz_cm, weight) in enumerate(points):
            cp = Dataset()
            cp.ControlPointIndex = index
            cp.ControlPointRelativePosition = "0"
            cp.ControlPoint3DPosition = _ds_list(xyz_cm * _MM_PER_CM)
            cp.CumulativeTimeWeight = _ds(weight)
            cps.append(cp)
        channel.NumberOfControlPoints = len(cps)
        channel.FinalCumulativeTimeWeight = "1"
        channel.BrachyControlPointSequence = cps
        channels.append(channel)

    setup = Dataset()
    setup.ApplicationSetupType = application_setup_type
    setup.ApplicationSetupNumber = 1
    setup.TotalReferenceAirKerma = "0"
    setup.ChannelSequence = channels
    ds.ApplicationSetupSequence = [setup]

    ref_setup = Dataset()
    ref_setup.ReferencedBrachyApplicationSetupNumber = 1
    if prescription_gy is not None:
        ref_setup.BrachyApplicationSetupDose = _ds(prescription_gy)
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = 1
    group.NumberOfBeams = 0
    group.NumberOfBrachyApplicationSetups = 1
    group.ReferencedBrachyApplicationSetupSequence = [ref_setup]
    ds.FractionGroupSequence = [group]
    return _save(ds, path)


# ---------------------------------------------------------------------------------------------------------------
# RT Dose
# ---------------------------------------------------------------------------------------------------------------


def write_rtdose(
    path: str | os.PathLike[str],
    dose_gy: np.ndarray,
    x_cm: np.ndarray | Sequence[float],
    y_cm: np.ndarray | Sequence[float],
    z_cm: np.ndarray | Sequence[float],
    frame_uid: str,
    study_uid: str,
    bits: Literal[16, 32] = 32,
    *,
    offsets: Literal["relative", "absolute"] = "relative",
    dose_type: str = "PHYSICAL",
    dose_summation_type: str = "PLAN",
    dose_comment: str = "Total dose of a permanent implant (D0 x tau), TG-43",
    patient: SyntheticPatient = _DEFAULT_PATIENT,
    when: datetime | None = None,
) -> Path:
    """Write an RT Dose grid; ``dose_gy[k, j, i]`` is the dose at ``(x_cm[i], y_cm[j], z_cm[k])``.

    Each axis must be uniformly spaced (x and y need ≥ 2 points) and may run in either direction: a
    decreasing x or y is written with a flipped ImageOrientationPatient cosine; z positions go to
    GridFrameOffsetVector, ``"relative"`` (first value 0, offsets along the slice normal; the form
    dosimetry.md §4.2 recommends) or ``"absolute"`` (the z values themselves; refused when z_cm[0] is 0,
    which would read as relative).
    DoseGridScaling is chosen so that the maximum dose maps to the top of the unsigned ``bits`` range; the
    rounding error per voxel is at most half of it. Dose must be finite and ≥ 0 Gy.
    """
    dose = np.asarray(dose_gy, dtype=np.float64)
    x = np.asarray(x_cm, dtype=np.float64)
    y = np.asarray(y_cm, dtype=np.float64)
    z = np.asarray(z_cm, dtype=np.float64)
    if dose.ndim != 3:
        raise DicomSynthError(f"dose_gy: expected a 3-D array (nz, ny, nx), got shape {dose.shape}")
    if dose.shape != (z.size, y.size, x.size):
        raise DicomSynthError(
            f"dose_gy: shape {dose.shape} does not match (len(z_cm), len(y_cm), len(x_cm)) = {(z.size, y.size, x.size)}"
        )
    if not np.all(np.isfinite(dose)) or (dose.size and dose.min() < 0):
        raise DicomSynthError("dose_gy: values must be finite and >= 0 Gy")
    if bits not in (16, 32):
        raise DicomSynthError(f"bits: must be 16 or 32, got {bits!r}")
    if offsets not in ("relative", "absolute"):
        raise DicomSynthError(f"offsets: must be 'relative' or 'absolute', got {offsets!r}")
    dx = _uniform_axis("x_cm", x)
    dy = _uniform_axis("y_cm", y)
    if z.size > 1:
        _uniform_axis("z_cm", z)
    if len(np.unique(z)) != z.size:
        raise DicomSynthError("z_cm: frame positions must be distinct")

    row_sign = 1 if dx > 0 else -1  # ImageOrientationPatient row cosine along ±x
    col_sign = 1 if dy > 0 else -1  # column cosine along ±y
    normal_z = row_sign * col_sign  # z of row × column
    z_mm = z * _MM_PER_CM
    if offsets == "relative":
        frame_offsets = (z_mm - z_mm[0]) * normal_z
    else:
        if z_mm[0] == 0.0:
            raise DicomSynthError("offsets: 'absolute' needs z_cm[0] != 0 (a first offset of 0 reads as relative)")
        frame_offsets = z_mm

    max_int = (1 << bits) - 1
    max_dose = float(dose.max()) if dose.size else 0.0
    scaling = float(_ds(max_dose / max_int)) if max_dose > 0 else 1.0
    while np.rint(max_dose / scaling) > max_int:  # the DS string rounded the scaling down a hair
        scaling = float(_ds(scaling * (1.0 + 1e-9)))
    stored = np.clip(np.rint(dose / scaling), 0, max_int).astype(np.uint32 if bits == 32 else np.uint16)

    when = when or datetime.now().replace(microsecond=0)
    ds = _base_dataset(
        RTDoseStorage, "RTDOSE", frame_uid=frame_uid, study_uid=study_uid, series_uid=None,
        patient=patient, when=when,
    )  # fmt: skip
    ds.ImagePositionPatient = _ds_list([x[0] * _MM_PER_CM, y[0] * _MM_PER_CM, z_mm[0]])
    ds.ImageOrientationPatient = [str(row_sign), "0", "0", "0", str(col_sign), "0"]
    ds.PixelSpacing = [_ds(abs(dy) * _MM_PER_CM), _ds(abs(dx) * _MM_PER_CM)]  # [rows (y), columns (x)]
    ds.SliceThickness = _ds(abs(z_mm[1] - z_mm[0])) if z.size > 1 else ""
    ds.NumberOfFrames = int(z.size)
    ds.FrameIncrementPointer = 0x3004000C  # GridFrameOffsetVector
    ds.GridFrameOffsetVector = _ds_list(frame_offsets)
    ds.Rows = int(y.size)
    ds.Columns = int(x.size)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = dose_summation_type
    ds.DoseComment = dose_comment
    ds.DoseGridScaling = _ds(scaling)
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    return _save(ds, path)

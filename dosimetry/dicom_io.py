"""Read DICOM RT objects (RT Dose, RT Structure Set, brachy RT Plan, CT geometry) into plain data.

This is the only SeedTrack module that *reads* DICOM. It turns pydicom datasets into frozen dataclasses holding
numpy arrays, converts DICOM millimetres to centimetres, and refuses anything it cannot interpret with a
:class:`DicomImportError` whose message is one line naming the file and the DICOM tag::

    rtdose.dcm: DoseGridScaling (3004,000E) is missing

Units of everything returned: positions and coordinates in **cm** (DICOM patient coordinate system, LPS),
dose in **Gy**, source strength in **U** (= µGy·m²·h⁻¹, numerically the DICOM ReferenceAirKermaRate in
µGy·h⁻¹ at 1 m), half-life in **days**.

Reference: ``/work/shared/reference/dosimetry.md`` §4 (tags, conventions) and §3 (strength, reference date).
No Django import here (pure core).
"""

from __future__ import annotations

import io
import math
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _at_pixel_data, _read_file_meta_info, read_dataset, read_preamble
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, TM

from common.errors import InputError

__all__ = [
    "DEFAULT_READ_SETTINGS",
    "CtGeometry",
    "DicomHeader",
    "DicomImportError",
    "DicomReadSettings",
    "DicomSource",
    "HasFrameOfReference",
    "Roi",
    "RtDose",
    "RtStructureSet",
    "SeedPlan",
    "SeedSource",
    "check_same_frame_of_reference",
    "declared_pixel_bytes",
    "read_ct_geometry",
    "read_header",
    "read_rtdose",
    "read_rtplan_seeds",
    "read_rtstruct",
    "tag_label",
]

#: What the readers accept: a filesystem path, the file's bytes, or a binary file-like object.
DicomSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

_MM_PER_CM = 10.0
_MAX_REASON_CHARS = 160


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------


def tag_label(keyword: str) -> str:
    """``"DoseGridScaling (3004,000E)"`` for a DICOM keyword (keyword alone if pydicom does not know it)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _one_line(text: object, limit: int | None = None) -> str:
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


class DicomImportError(InputError):
    """A DICOM file cannot be used. ``str()`` is one line: ``"<file>: <Keyword (gggg,eeee)> <problem>"``.

    Attributes: ``file_name`` (display name of the file), ``keyword`` (DICOM keyword of the offending attribute,
    or ``None`` when the file itself is unreadable), ``detail`` (the message after ``"<file>: "``); ``field`` is
    ``"files"``, the upload form's field, and ``value`` the file name.
    """

    def __init__(self, file_name: str, detail: str, keyword: str | None = None) -> None:
        self.file_name = file_name
        self.keyword = keyword
        self.detail = _one_line(detail)
        super().__init__(f"{file_name}: {self.detail}", field="files", value=file_name)


# ---------------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DicomReadSettings:
    """Choices the readers make; the defaults are SeedTrack's [DESIGN DECISION]s.

    - ``ascending_axes``: return dose grids (and CT coordinates) with x, y and z increasing, flipping the array
      where the file stores an axis in decreasing order (flipped ImageOrientationPatient, decreasing frame
      offsets). ``False`` keeps the stored index order (coordinates still describe each index exactly).
    - ``orientation_tolerance``: how far a direction cosine may be from 0 or ±1 and still count as
      axis-aligned (dimensionless).
    - ``absolute_offset_tolerance_mm``: a GridFrameOffsetVector whose first value is not 0 is read as absolute
      z only if that value equals ImagePositionPatient z within this tolerance (mm).
    - ``contour_planarity_tolerance_mm``: a CLOSED_PLANAR contour is axial if all its z values agree within
      this tolerance (mm); non-axial contours are skipped with a warning.
    - ``ct_uniform_spacing_tolerance_mm``: CT slice gaps that differ by more than this (mm) make the series
      non-uniform (``CtGeometry.uniform_z`` is ``False``).
    - ``accepted_brachy_techniques``: BrachyTreatmentTechnique values accepted by :func:`read_rtplan_seeds`
      (default only ``PERMANENT``; widen to e.g. ``{"PERMANENT", "INTERSTITIAL"}`` for TPSs that label
      seed implants as interstitial).
    """

    ascending_axes: bool = True
    orientation_tolerance: float = 1e-4
    absolute_offset_tolerance_mm: float = 1e-3
    contour_planarity_tolerance_mm: float = 1e-3
    ct_uniform_spacing_tolerance_mm: float = 1e-3
    accepted_brachy_techniques: frozenset[str] = field(default_factory=lambda: frozenset({"PERMANENT"}))
    max_pixel_bytes: int = 512 * 1024 * 1024
    """Refuse a file whose declared pixel data (Rows × Columns × NumberOfFrames × BitsAllocated/8 ×
    SamplesPerPixel) is larger, before any pixel is read (Django setting ``DICOM_MAX_PIXEL_BYTES``)."""
    max_inflated_bytes: int = 512 * 1024 * 1024
    """A deflated file (transfer syntax 1.2.840.10008.1.2.1.99) is refused once it inflates past this, counted in
    bounded chunks before anything is kept (Django setting ``DICOM_MAX_INFLATED_BYTES``)."""
    max_header_bytes: int = 16 * 1024 * 1024
    """Reading only the header of a deflated file (no pixel data) inflates at most this much."""


DEFAULT_READ_SETTINGS = DicomReadSettings()


# ---------------------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------------------


def _frozen_array(values: Any, dtype: Any = np.float64) -> np.ndarray:
    arr = np.array(values, dtype=dtype)  # always a copy, so the caller's array stays writable
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class RtDose:
    """An RT Dose grid in Gy on voxel centres.

    ``dose_gy[k, j, i]`` is the dose at ``(x_cm[i], y_cm[j], z_cm[k])`` (float32, already multiplied by
    DoseGridScaling). Arrays are read-only.
    """

    file_name: str
    dose_gy: np.ndarray
    x_cm: np.ndarray
    y_cm: np.ndarray
    z_cm: np.ndarray
    frame_of_reference_uid: str
    dose_type: str | None
    dose_summation_type: str | None
    dose_grid_scaling_gy: float
    """Gy per stored integer; the rounding error of each voxel is at most half of it."""
    sop_instance_uid: str | None = None
    dose_comment: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(nz, ny, nx)."""
        nz, ny, nx = self.dose_gy.shape
        return (int(nz), int(ny), int(nx))

    @property
    def max_dose_gy(self) -> float:
        return float(self.dose_gy.max()) if self.dose_gy.size else 0.0


@dataclass(frozen=True, eq=False)
class Roi:
    """One ROI of an RT Structure Set.

    ``contours`` holds the axial CLOSED_PLANAR (and CLOSEDPLANAR_XOR) contours as ``(z_cm, xy_cm)`` with
    ``xy_cm`` of shape (k, 2), the closing segment implied (first point not repeated). Several contours on
    one plane are meant to be combined with the even-odd rule (holes, islands). ``points_cm`` (m, 3) holds
    POINT contours.
    """

    number: int
    name: str
    contours: tuple[tuple[float, np.ndarray], ...]
    points_cm: np.ndarray
    frame_of_reference_uid: str | None
    interpreted_type: str | None = None
    display_color_rgb: tuple[int, int, int] | None = None

    @property
    def z_planes_cm(self) -> tuple[float, ...]:
        """Distinct contour planes, ascending (cm)."""
        return tuple(sorted({z for z, _ in self.contours}))


@dataclass(frozen=True, eq=False)
class RtStructureSet:
    """ROIs of an RT Structure Set, with the frame of reference they refer to."""

    file_name: str
    label: str | None
    frame_of_reference_uid: str
    rois: tuple[Roi, ...]
    warnings: tuple[str, ...] = ()
    """Contours skipped or oddities tolerated (one readable line each)."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(roi.name for roi in self.rois)

    def get(self, name: str) -> Roi:
        """The ROI called ``name`` (case-insensitive, surrounding blanks ignored).

        Raises :class:`DicomImportError` naming the file and listing the available names.
        """
        wanted = name.strip().casefold()
        for roi in self.rois:
            if roi.name.strip().casefold() == wanted:
                return roi
        available = ", ".join(self.names) if self.rois else "(none)"
        raise DicomImportError(
            self.file_name, f"no ROI named {name!r} ({tag_label('ROIName')}); available: {available}", "ROIName"
        )

    def by_number(self, number: int) -> Roi:
        """The ROI with ROINumber ``number``."""
        for roi in self.rois:
            if roi.number == number:
                return roi
        raise DicomImportError(
            self.file_name,
            f"no ROI with {tag_label('ROINumber')} {number}; available: {', '.join(str(r.number) for r in self.rois)}",
            "ROINumber",
        )


@dataclass(frozen=True)
class SeedSource:
    """One item of the RT Plan SourceSequence (a source *type*, shared by many seeds)."""

    number: int
    isotope_name: str
    air_kerma_strength_u: float
    """ReferenceAirKermaRate (µGy·h⁻¹ at 1 m) = S_K in U at ``reference_datetime``."""
    reference_datetime: datetime
    """SourceStrengthReferenceDate/Time (naive, as stored; midnight if the time is absent)."""
    half_life_days: float | None = None
    model_id: str | None = None
    manufacturer: str | None = None
    source_type: str | None = None
    active_length_cm: float | None = None


@dataclass(frozen=True, eq=False)
class SeedPlan:
    """Seeds of a permanent-implant brachytherapy RT Plan.

    ``positions_cm`` (S, 3) are seed centres in patient coordinates (cm); ``seed_source_numbers`` (S,) says which
    :class:`SeedSource` each seed is; ``seed_channel_numbers`` (S,) the ChannelNumber it came from.
    """

    file_name: str
    frame_of_reference_uid: str
    brachy_technique: str
    brachy_treatment_type: str | None
    sources: tuple[SeedSource, ...]
    positions_cm: np.ndarray
    seed_source_numbers: np.ndarray
    seed_channel_numbers: np.ndarray
    prescription_gy: float | None = None
    plan_label: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def n_seeds(self) -> int:
        return int(self.positions_cm.shape[0])

    @property
    def seed_strengths_u(self) -> np.ndarray:
        """S_K of each seed at its source's reference date/time (U), shape (S,)."""
        by_number = {s.number: s.air_kerma_strength_u for s in self.sources}
        return np.array([by_number[int(n)] for n in self.seed_source_numbers], dtype=np.float64)

    def _single_source(self) -> SeedSource:
        used = sorted({int(n) for n in self.seed_source_numbers})
        if len(used) != 1:
            raise DicomImportError(
                self.file_name,
                f"{tag_label('ReferencedSourceNumber')}: seeds use {len(used)} source types {used}; "
                "use SeedPlan.sources and seed_source_numbers instead of the single-source shortcuts",
                "ReferencedSourceNumber",
            )
        return next(s for s in self.sources if s.number == used[0])

    @property
    def air_kerma_strength_u(self) -> float:
        """S_K per seed (U) when all seeds share one source type."""
        return self._single_source().air_kerma_strength_u

    @property
    def reference_datetime(self) -> datetime:
        return self._single_source().reference_datetime

    @property
    def isotope_name(self) -> str:
        return self._single_source().isotope_name

    @property
    def half_life_days(self) -> float | None:
        return self._single_source().half_life_days

    @property
    def source_model_id(self) -> str | None:
        return self._single_source().model_id

    @property
    def source_manufacturer(self) -> str | None:
        return self._single_source().manufacturer


@dataclass(frozen=True, eq=False)
class CtGeometry:
    """Geometry of an axial CT series (no pixel data).

    ``z_cm`` are the slice centres sorted ascending; ``sop_instance_uids`` and ``file_names`` follow the same
    order. ``spacing_cm`` is (dz, dy, dx) with dz the median slice gap; ``uniform_z`` tells whether every gap
    equals it (within ``DicomReadSettings.ct_uniform_spacing_tolerance_mm``).
    """

    file_name: str
    frame_of_reference_uid: str
    series_instance_uid: str | None
    study_instance_uid: str | None
    shape: tuple[int, int, int]
    x_cm: np.ndarray
    y_cm: np.ndarray
    z_cm: np.ndarray
    spacing_cm: tuple[float, float, float]
    uniform_z: bool
    sop_instance_uids: tuple[str, ...]
    file_names: tuple[str, ...]


class HasFrameOfReference(Protocol):
    """Anything with a display ``file_name`` and a ``frame_of_reference_uid``."""

    @property
    def file_name(self) -> str: ...

    @property
    def frame_of_reference_uid(self) -> str: ...


# ---------------------------------------------------------------------------------------------------------------
# Low-level helpers: opening files and getting attributes with one-line errors
# ---------------------------------------------------------------------------------------------------------------


def _display_name(src: DicomSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, str | os.PathLike):
        return Path(os.fspath(src)).name or os.fspath(src)
    handle_name = getattr(src, "name", None)
    return Path(handle_name).name if isinstance(handle_name, str) and handle_name else "<bytes>"


def _dcmread(
    src: DicomSource, file_name: str, *, stop_before_pixels: bool = False,
    settings: DicomReadSettings = DEFAULT_READ_SETTINGS,
) -> Dataset:
    """Read a DICOM Part 10 file; anything that is not DICOM becomes a DicomImportError.

    Bounded whatever the file says: a deflated file is inflated in chunks, only up to its pixel data when
    ``stop_before_pixels`` (at most ``settings.max_header_bytes``), else after counting that the whole inflates
    to at most ``settings.max_inflated_bytes``; and a file whose declared pixel data exceeds
    ``settings.max_pixel_bytes`` is refused (:func:`declared_pixel_bytes`).
    """
    if isinstance(src, str | os.PathLike):
        try:
            with open(os.fspath(src), "rb") as handle:
                return _dcmread(handle, file_name, stop_before_pixels=stop_before_pixels, settings=settings)
        except OSError as exc:
            raise DicomImportError(file_name, f"cannot be opened: {_one_line(exc, _MAX_REASON_CHARS)}") from exc
    fileobj: Any = io.BytesIO(bytes(src)) if isinstance(src, bytes | bytearray | memoryview) else src
    try:
        ds = _read_deflated(fileobj, file_name, stop_before_pixels, settings)
        if ds is None:
            ds = pydicom.dcmread(fileobj, stop_before_pixels=stop_before_pixels)
    except DicomImportError:
        raise
    except InvalidDicomError as exc:
        # Some exports are a bare dataset without the Part 10 preamble/header: accept those only if they
        # parse and carry a SOP Class UID and a Modality, so that arbitrary files are still refused.
        ds = _read_bare_dataset(fileobj, stop_before_pixels)
        if ds is None:
            raise DicomImportError(
                file_name,
                "not a DICOM file: no 'DICM' prefix or File Meta Information header "
                f"({tag_label('FileMetaInformationGroupLength')})",
            ) from exc
    except OSError as exc:
        raise DicomImportError(file_name, f"cannot be opened: {_one_line(exc, _MAX_REASON_CHARS)}") from exc
    except Exception as exc:  # pydicom raises many types on corrupt input; none may escape
        raise DicomImportError(
            file_name, f"is not a readable DICOM file: {type(exc).__name__}: {_one_line(exc, _MAX_REASON_CHARS)}"
        ) from exc
    _check_declared_pixels(ds, file_name, settings.max_pixel_bytes)
    return ds


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MB" if n_bytes >= 2**20 else f"{n_bytes / 2**20:.2g} MB"


_INFLATE_CHUNK = 1 << 20  # bytes of inflated output per step: memory stays at a few MB whatever the ratio


def _inflate_steps(fileobj: BinaryIO) -> Iterator[bytes]:
    """Inflated chunks (raw deflate, PS3.5 A.5) of the rest of ``fileobj``, each at most _INFLATE_CHUNK."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    while not inflater.eof:
        data = inflater.unconsumed_tail or fileobj.read(64 * 1024)
        if not data:
            tail = inflater.flush()
            if tail:
                yield tail
            return
        out = inflater.decompress(data, _INFLATE_CHUNK)
        if out:
            yield out


class _InflatingReader:
    """A read-only file over the inflated rest of ``fileobj``, inflating only as far as it is read.

    Keeps what it inflated (pydicom seeks back a few bytes); past ``limit`` bytes it raises ``on_limit()``.
    """

    def __init__(self, fileobj: BinaryIO, limit: int, on_limit: Callable[[], Exception]) -> None:
        self._steps = _inflate_steps(fileobj)
        self._buffer = bytearray()
        self._pos = 0
        self._limit = limit
        self._on_limit = on_limit
        self.name = getattr(fileobj, "name", None)

    def _fill(self, upto: int | None) -> None:
        while upto is None or len(self._buffer) < upto:
            chunk = next(self._steps, None)
            if chunk is None:
                return
            self._buffer += chunk
            if len(self._buffer) > self._limit:
                raise self._on_limit()

    def read(self, size: int | None = -1) -> bytes:
        end = None if size is None or size < 0 else self._pos + size
        self._fill(end)
        data = bytes(self._buffer[self._pos:end])
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            self._fill(None)
            offset += len(self._buffer)
        self._pos = max(0, offset)
        return self._pos


def _read_deflated(fileobj: Any, file_name: str, stop_before_pixels: bool,
                   settings: DicomReadSettings) -> Dataset | None:
    """The dataset of a deflated file read within the limits, or None (and ``fileobj`` rewound) if the file is
    not in the deflated transfer syntax. pydicom itself would inflate the whole file in one call."""
    start = fileobj.tell()
    try:
        preamble = read_preamble(fileobj, False)
        meta = _read_file_meta_info(fileobj)
    except Exception:  # not Part 10, or a damaged header: pydicom.dcmread reports it
        fileobj.seek(start)
        return None
    syntax = str(meta.get("TransferSyntaxUID", "")).strip()
    if syntax != pydicom.uid.DeflatedExplicitVRLittleEndian:
        fileobj.seek(start)
        return None
    label = f"{tag_label('TransferSyntaxUID')} {syntax} (deflated)"
    data_start = fileobj.tell()
    if stop_before_pixels:
        limit = settings.max_header_bytes

        def refused() -> DicomImportError:
            return DicomImportError(file_name, f"{label}: the header before {tag_label('PixelData')} inflates to "
                                               f"more than {_mb(limit)} (the limit for reading headers)",
                                    "TransferSyntaxUID")
    else:
        limit = settings.max_inflated_bytes

        def refused() -> DicomImportError:
            return DicomImportError(file_name, f"{label} inflates to more than {_mb(limit)} "
                                               "(DICOM_MAX_INFLATED_BYTES)", "TransferSyntaxUID")

        total = 0  # count first, keeping nothing: a bomb is refused with a few MB of memory
        for chunk in _inflate_steps(fileobj):
            total += len(chunk)
            if total > limit:
                raise refused()
        fileobj.seek(data_start)
    try:
        # _InflatingReader is the part of a binary file pydicom reads (read, seek, tell).
        dataset = read_dataset(cast(BinaryIO, _InflatingReader(fileobj, limit, refused)), False, True,
                               stop_when=_at_pixel_data if stop_before_pixels else None)
    except zlib.error as exc:
        raise DicomImportError(file_name, f"{label} does not inflate: {_one_line(exc, _MAX_REASON_CHARS)}",
                               "TransferSyntaxUID") from exc
    ds = FileDataset(file_name, dataset, preamble, meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds


def declared_pixel_bytes(ds: Dataset) -> tuple[int, str] | None:
    """The size of the pixel data the header declares (Rows × Columns × NumberOfFrames × BitsAllocated/8 ×
    SamplesPerPixel) and the product spelt out, or None when the file declares no image (no Rows/Columns)."""
    try:
        rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        frames = int(ds.get("NumberOfFrames") or 1)
        bits = int(ds.get("BitsAllocated") or 16)
        samples = int(ds.get("SamplesPerPixel") or 1)
    except (TypeError, ValueError):
        return None  # unparsable values: the readers name them
    if not rows or not cols:
        return None
    total = rows * cols * max(frames, 1) * max(bits, 1) * max(samples, 1) // 8
    spelt = (f"{tag_label('Rows')} {rows} × {tag_label('Columns')} {cols} × {tag_label('NumberOfFrames')} "
             f"{frames} × {tag_label('BitsAllocated')} {bits}/8 × {tag_label('SamplesPerPixel')} {samples}")
    return total, spelt


def _check_declared_pixels(ds: Dataset, file_name: str, limit: int) -> None:
    declared = declared_pixel_bytes(ds)
    if declared is not None and declared[0] > limit:
        raise DicomImportError(file_name, f"declared pixel data {declared[1]} = {_mb(declared[0])} exceeds the "
                                          f"limit of {_mb(limit)} (DICOM_MAX_PIXEL_BYTES)", "Rows")


def _read_bare_dataset(fileobj: Any, stop_before_pixels: bool) -> Dataset | None:
    """A dataset stored without File Meta Information, or None if ``fileobj`` does not look like one."""
    try:
        if not isinstance(fileobj, str):
            fileobj.seek(0)
        ds = pydicom.dcmread(fileobj, force=True, stop_before_pixels=stop_before_pixels)
        ok = bool(str(ds.get("SOPClassUID", "")).strip()) and bool(str(ds.get("Modality", "")).strip())
    except Exception:  # garbage read with force=True can fail anywhere; it is simply not DICOM
        return None
    return ds if ok else None


class _Reader:
    """Attribute access on one dataset (or a nested item) that raises one-line DicomImportErrors."""

    def __init__(self, ds: Dataset, file_name: str, where: str = "") -> None:
        self.ds = ds
        self.file_name = file_name
        self.where = where  # e.g. "SourceSequence[0] > "

    def item(self, ds: Dataset, label: str) -> _Reader:
        return _Reader(ds, self.file_name, f"{self.where}{label} > ")

    def fail(self, keyword: str, problem: str) -> DicomImportError:
        return DicomImportError(self.file_name, f"{self.where}{tag_label(keyword)} {problem}", keyword)

    def raw(self, keyword: str, *, required: bool) -> Any:
        try:
            present = keyword in self.ds
            value = self.ds[keyword].value if present else None
        except Exception as exc:  # bad VR / unparsable value
            raise self.fail(keyword, f"cannot be parsed: {_one_line(exc, _MAX_REASON_CHARS)}") from exc
        if value is None or (isinstance(value, str | bytes | list | MultiValue) and len(value) == 0):
            if required:
                raise self.fail(keyword, "is missing" if not present else "is empty")
            return None
        return value

    def text(self, keyword: str, *, required: bool = True) -> str | None:
        value = self.raw(keyword, required=required)
        if value is None:
            return None
        if isinstance(value, list | MultiValue):
            value = "\\".join(str(v) for v in value)
        text = str(value).strip()
        if not text and required:
            raise self.fail(keyword, "is empty")
        return text or None

    def floats(self, keyword: str, count: int | None = None, *, required: bool = True) -> list[float] | None:
        value = self.raw(keyword, required=required)
        if value is None:
            return None
        items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
        try:
            numbers = [float(v) for v in items]
        except (TypeError, ValueError) as exc:
            raise self.fail(keyword, f"value {_one_line(value, 60)!r} is not numeric") from exc
        if not all(math.isfinite(v) for v in numbers):
            raise self.fail(keyword, f"value {numbers} is not finite")
        if count is not None and len(numbers) != count:
            raise self.fail(keyword, f"has {len(numbers)} values, expected {count}")
        return numbers

    def number(self, keyword: str, *, required: bool = True) -> float | None:
        values = self.floats(keyword, 1, required=required)
        return None if values is None else values[0]

    def integer(self, keyword: str, *, required: bool = True) -> int | None:
        value = self.number(keyword, required=required)
        if value is None:
            return None
        if value != int(value):
            raise self.fail(keyword, f"value {value} is not an integer")
        return int(value)

    def sequence(self, keyword: str, *, required: bool = True) -> list[Dataset]:
        value = self.raw(keyword, required=required)
        if value is None:
            return []
        return list(value)


def _check_modality(r: _Reader, expected: str) -> None:
    modality = r.text("Modality")
    if modality is None or modality.upper() != expected:
        raise r.fail("Modality", f"is {modality!r}, expected {expected!r}")


def _axis_aligned(vec: Sequence[float], tol: float) -> tuple[int, int] | None:
    """(axis, sign) if ``vec`` is ±x, ±y or ±z within ``tol``, else None."""
    for axis in range(3):
        others = [abs(vec[k]) for k in range(3) if k != axis]
        if abs(abs(vec[axis]) - 1.0) <= tol and max(others) <= tol:
            return axis, (1 if vec[axis] > 0 else -1)
    return None


def _axial_orientation(r: _Reader, tol: float) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Row-direction (axis, sign), column-direction (axis, sign) and the sign of the slice normal's z."""
    iop = r.floats("ImageOrientationPatient", 6)
    assert iop is not None
    row_dir = _axis_aligned(iop[:3], tol)
    col_dir = _axis_aligned(iop[3:], tol)
    if row_dir is None or col_dir is None or row_dir[0] == 2 or col_dir[0] == 2 or row_dir[0] == col_dir[0]:
        shown = "\\".join(f"{v:g}" for v in iop)
        raise r.fail(
            "ImageOrientationPatient",
            f"{shown} is oblique or not axial; only axial grids with row/column cosines along ±x/±y are supported",
        )
    # normal = row × column; both lie in the xy plane, so only its z component is non-zero
    rx = [0.0, 0.0, 0.0]
    cx = [0.0, 0.0, 0.0]
    rx[row_dir[0]] = row_dir[1]
    cx[col_dir[0]] = col_dir[1]
    normal_z = int(round(rx[0] * cx[1] - rx[1] * cx[0]))
    return row_dir, col_dir, normal_z


def _in_plane_coordinates_mm(
    r: _Reader, rows: int, cols: int, tol: float
) -> tuple[np.ndarray, np.ndarray, bool, int, list[float]]:
    """x and y voxel-centre coordinates (mm) in array index order, whether the array is (rows=x, cols=y)."""
    (row_axis, row_sign), (col_axis, col_sign), normal_z = _axial_orientation(r, tol)
    ipp = r.floats("ImagePositionPatient", 3)
    spacing = r.floats("PixelSpacing", 2)
    assert ipp is not None and spacing is not None
    if min(spacing) <= 0:
        raise r.fail("PixelSpacing", f"{spacing} must be positive (row spacing, column spacing in mm)")
    row_spacing_mm, col_spacing_mm = spacing  # PixelSpacing = [between rows, between columns]
    # moving along a row (increasing column index) follows the row cosine, by the column spacing
    along_cols = ipp[row_axis] + row_sign * col_spacing_mm * np.arange(cols)
    # moving down a column (increasing row index) follows the column cosine, by the row spacing
    along_rows = ipp[col_axis] + col_sign * row_spacing_mm * np.arange(rows)
    if row_axis == 0:  # rows index y, columns index x: array is (.., y, x)
        return along_cols, along_rows, False, normal_z, ipp
    return along_rows, along_cols, True, normal_z, ipp  # array is (.., x, y): transpose later


# ---------------------------------------------------------------------------------------------------------------
# RT Dose
# ---------------------------------------------------------------------------------------------------------------


def read_rtdose(
    src: DicomSource, name: str | None = None, *, settings: DicomReadSettings = DEFAULT_READ_SETTINGS
) -> RtDose:
    """Read an RT Dose file into a dose grid in Gy on voxel centres (cm).

    ``src`` is a path, the file's bytes or a binary file-like object; ``name`` is the display name used in
    error messages (default: the file name). Checks Modality RTDOSE, DoseUnits GY (RELATIVE is refused),
    DoseGridScaling, an axis-aligned axial ImageOrientationPatient, and the pixel data length.
    GridFrameOffsetVector is read as relative to ImagePositionPatient z (along the slice normal) when its first
    value is 0, and as absolute z when its first value equals ImagePositionPatient z (dosimetry.md §4.2).
    """
    file_name = _display_name(src, name)
    ds = _dcmread(src, file_name, settings=settings)
    r = _Reader(ds, file_name)
    _check_modality(r, "RTDOSE")

    units = (r.text("DoseUnits") or "").upper()
    if units != "GY":
        hint = " (relative dose has no absolute scale in Gy)" if units == "RELATIVE" else ""
        raise r.fail("DoseUnits", f"is {units!r}, expected 'GY'{hint}")
    scaling = r.number("DoseGridScaling")
    assert scaling is not None
    if scaling <= 0:
        raise r.fail("DoseGridScaling", f"is {scaling:g}, must be > 0 (Gy per stored value)")
    frame_uid = r.text("FrameOfReferenceUID")
    assert frame_uid is not None

    rows = r.integer("Rows")
    cols = r.integer("Columns")
    assert rows is not None and cols is not None
    n_frames = r.integer("NumberOfFrames", required=False) or 1
    if rows < 1 or cols < 1 or n_frames < 1:
        raise r.fail("Rows", f"grid {n_frames}×{rows}×{cols} (frames×Rows×Columns) is empty")

    tol = settings.orientation_tolerance
    x_mm, y_mm, transposed, normal_z, ipp = _in_plane_coordinates_mm(r, rows, cols, tol)

    offsets = r.floats("GridFrameOffsetVector", required=n_frames > 1) or [0.0]
    if len(offsets) != n_frames:
        raise r.fail("GridFrameOffsetVector", f"has {len(offsets)} values but NumberOfFrames (0028,0008) is {n_frames}")
    offsets_arr = np.asarray(offsets, dtype=np.float64)
    if offsets[0] == 0.0:
        z_mm = ipp[2] + normal_z * offsets_arr  # relative form, along the slice normal
    elif abs(offsets[0] - ipp[2]) <= settings.absolute_offset_tolerance_mm:
        z_mm = offsets_arr  # absolute form
    else:
        raise r.fail(
            "GridFrameOffsetVector",
            f"first value {offsets[0]:g} is neither 0 (relative offsets) nor ImagePositionPatient (0020,0032) "
            f"z {ipp[2]:g} (absolute z)",
        )
    if len(np.unique(z_mm)) != len(z_mm):
        raise r.fail("GridFrameOffsetVector", "contains repeated frame positions")

    pixels = _dose_pixels(r, rows, cols, n_frames)
    dose = pixels.astype(np.float64) * scaling
    if transposed:
        dose = dose.transpose(0, 2, 1)

    if settings.ascending_axes:
        order = np.argsort(z_mm, kind="stable")
        dose, z_mm = dose[order], z_mm[order]
        if x_mm.size > 1 and x_mm[1] < x_mm[0]:
            dose, x_mm = dose[:, :, ::-1], x_mm[::-1]
        if y_mm.size > 1 and y_mm[1] < y_mm[0]:
            dose, y_mm = dose[:, ::-1, :], y_mm[::-1]

    return RtDose(
        file_name=file_name,
        dose_gy=_frozen_array(dose, np.float32),
        x_cm=_frozen_array(x_mm / _MM_PER_CM),
        y_cm=_frozen_array(y_mm / _MM_PER_CM),
        z_cm=_frozen_array(z_mm / _MM_PER_CM),
        frame_of_reference_uid=frame_uid,
        dose_type=r.text("DoseType", required=False),
        dose_summation_type=r.text("DoseSummationType", required=False),
        dose_grid_scaling_gy=float(scaling),
        sop_instance_uid=r.text("SOPInstanceUID", required=False),
        dose_comment=r.text("DoseComment", required=False),
    )


def _dose_pixels(r: _Reader, rows: int, cols: int, n_frames: int) -> np.ndarray:
    """Stored pixel values as (frames, rows, cols)."""
    ds = r.ds
    if "PixelData" not in ds:
        raise r.fail("PixelData", "is missing")
    samples = r.integer("SamplesPerPixel", required=False) or 1
    if samples != 1:
        raise r.fail("SamplesPerPixel", f"is {samples}, expected 1 for a dose grid")
    bits = r.integer("BitsAllocated")
    assert bits is not None
    if bits not in (8, 16, 32):
        raise r.fail("BitsAllocated", f"is {bits}, expected 16 or 32")
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = bool(transfer_syntax is not None and transfer_syntax.is_compressed)
    if not compressed:
        expected = rows * cols * n_frames * bits // 8
        actual = len(ds.PixelData)
        if actual < expected:
            raise r.fail(
                "PixelData",
                f"cannot be decoded: {actual} bytes, expected {expected} "
                f"(Rows {rows} × Columns {cols} × NumberOfFrames {n_frames} × {bits // 8} bytes)",
            )
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # decoder errors, missing handlers, bad lengths
        raise r.fail("PixelData", f"cannot be decoded: {_one_line(exc, _MAX_REASON_CHARS)}") from exc
    if pixels.size != rows * cols * n_frames:
        raise r.fail("PixelData", f"cannot be decoded: {pixels.size} values for a {n_frames}×{rows}×{cols} grid")
    return pixels.reshape(n_frames, rows, cols)


# ---------------------------------------------------------------------------------------------------------------
# RT Structure Set
# ---------------------------------------------------------------------------------------------------------------

_CLOSED_TYPES = frozenset({"CLOSED_PLANAR", "CLOSEDPLANAR_XOR"})
_CONTOUR_DATA_TAG = 0x30060050  # ContourData (3006,0050), DS, (x, y, z) triplets in mm
_CONTOUR_TYPE_TAG = 0x30060042  # ContourGeometricType (3006,0042), CS
_CONTOUR_COUNT_TAG = 0x30060046  # NumberOfContourPoints (3006,0046), IS


def _raw_ascii(ds: Dataset, tag: int) -> str | None:
    """The text of a CS/IS element pydicom has not converted yet, stripped, when it is plain ASCII; else None
    (absent, converted already, or anything unusual: the caller then asks :class:`_Reader`, which says what is
    wrong). Skips pydicom's value objects and validation for the thousands of contour items of a structure set.
    """
    elem = ds.get_item(tag)
    if not isinstance(elem, RawDataElement) or not isinstance(elem.value, bytes) or not elem.value.isascii():
        return None
    return elem.value.decode("ascii").rstrip(" \x00").strip() or None  # as pydicom's text, then _Reader.text


def _ds_bytes_to_floats(raw: bytes) -> np.ndarray | None:
    """The numbers of an undecoded DS multi-value as float64, or None if numpy's parser refuses one of them.

    Splits like pydicom (the whole value stripped of blanks, then of trailing spaces and NULs, ``\\`` between
    values) and converts each value as ``float()`` does (the number pydicom's DSfloat holds), in one numpy call
    instead of one Python number object per coordinate. What this refuses (a value that is not a number, or
    Latin-1 blanks such as NBSP that ``float()`` of pydicom's decoded text accepts) goes value by value through
    :func:`_floats_or_first_bad` on pydicom's decoding.
    """
    try:
        return np.array(raw.strip().rstrip(b" \x00").split(b"\\"), dtype=np.float64)
    except ValueError:
        return None


def _ds_text_items(text: str) -> list[str]:
    """pydicom's split of a decoded DS multi-value (``pydicom.values.convert_DS_string``)."""
    return text.strip().rstrip(" \x00").split("\\")


def _floats_or_first_bad(items: Sequence[object]) -> tuple[np.ndarray, tuple[int, object] | None]:
    """``float()`` of each item; on the first item that is not a number, ``(empty, (index, item))``."""
    values = np.empty(len(items), dtype=np.float64)
    for k, item in enumerate(items):
        try:
            values[k] = float(cast(Any, item))
        except (TypeError, ValueError):
            return values[:0], (k, item)
    return values, None


def _contour_points_mm(kr: _Reader, label: str) -> np.ndarray:
    """ContourData of one ContourSequence item as an (n, 3) float64 array in mm.

    Read from the element's raw bytes when pydicom has not converted it yet (the usual case: a dataset just read),
    else from pydicom's converted values; the numbers are the same either way (``float()`` of each value). ``label``
    (``"ROI 'PTV' contour 3"``) names the contour in errors: missing or empty, a value that is not a number, a
    non-finite value, a count that is not a multiple of 3.
    """
    elem = kr.ds.get_item(_CONTOUR_DATA_TAG)
    if elem is None:
        raise kr.fail("ContourData", f"is missing ({label})")
    values: np.ndarray | None = None
    items: Sequence[object]
    if isinstance(elem, RawDataElement) and elem.VR in (None, "DS") and isinstance(elem.value, bytes | None):
        raw = elem.value or b""
        values = _ds_bytes_to_floats(raw)
        # pydicom decodes DS with its default encoding (Latin-1) whatever SpecificCharacterSet says
        items = [] if values is not None else _ds_text_items(raw.decode("latin-1"))
    else:  # converted already (a dataset built or changed in memory), or an unusual VR: pydicom's values
        value = kr.raw("ContourData", required=True)
        items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    if values is None:
        if items in ([], [""]):
            raise kr.fail("ContourData", f"is empty ({label})")
        values, bad = _floats_or_first_bad(items)
        if bad is not None:
            k, item = bad
            raise kr.fail("ContourData", f"of {label}: value {_one_line(item, 40)!r} (number {k + 1} of "
                                         f"{len(items)}) is not a number")
    finite = np.isfinite(values)
    if not finite.all():
        k = int(np.argmin(finite))
        raise kr.fail("ContourData", f"of {label}: value {values[k]:g} (number {k + 1} of {values.size}) is not "
                                     "finite")
    if values.size % 3:
        raise kr.fail("ContourData", f"of {label} has {values.size} values, not a multiple of 3 (x, y, z triplets)")
    return values.reshape(-1, 3)


def read_rtstruct(
    src: DicomSource, name: str | None = None, *, settings: DicomReadSettings = DEFAULT_READ_SETTINGS
) -> RtStructureSet:
    """Read an RT Structure Set: ROI names/numbers and their axial contours in cm.

    CLOSED_PLANAR (and CLOSEDPLANAR_XOR) contours become ``(z_cm, xy_cm (k, 2))``; POINT contours go to
    ``Roi.points_cm``. OPEN_PLANAR / OPEN_NONPLANAR contours, non-axial closed contours and closed contours with
    fewer than 3 points are skipped and listed in ``warnings``.
    """
    file_name = _display_name(src, name)
    ds = _dcmread(src, file_name, stop_before_pixels=True, settings=settings)
    r = _Reader(ds, file_name)
    _check_modality(r, "RTSTRUCT")
    warnings: list[str] = []

    frame_uids: list[str] = []
    for i, item in enumerate(r.sequence("ReferencedFrameOfReferenceSequence", required=False)):
        uid = r.item(item, f"ReferencedFrameOfReferenceSequence[{i}]").text("FrameOfReferenceUID", required=False)
        if uid:
            frame_uids.append(uid)

    roi_items = r.sequence("StructureSetROISequence")
    info: dict[int, tuple[str, str | None]] = {}
    order: list[int] = []
    for i, item in enumerate(roi_items):
        ir = r.item(item, f"StructureSetROISequence[{i}]")
        number = ir.integer("ROINumber")
        assert number is not None
        if number in info:
            raise ir.fail("ROINumber", f"{number} is used by more than one ROI")
        info[number] = (ir.text("ROIName") or "", ir.text("ReferencedFrameOfReferenceUID", required=False))
        order.append(number)

    if not frame_uids:
        roi_frames = sorted({f for _, f in info.values() if f})
        if len(roi_frames) != 1:
            raise r.fail("ReferencedFrameOfReferenceSequence", "is missing (no FrameOfReferenceUID (0020,0052) to use)")
        frame_uids = roi_frames
    if len(set(frame_uids)) > 1:
        warnings.append(f"{len(set(frame_uids))} frames of reference referenced; using the first, {frame_uids[0]}")

    observations: dict[int, str] = {}
    for i, item in enumerate(r.sequence("RTROIObservationsSequence", required=False)):
        orr = r.item(item, f"RTROIObservationsSequence[{i}]")
        ref = orr.integer("ReferencedROINumber", required=False)
        kind = orr.text("RTROIInterpretedType", required=False)
        if ref is not None and kind:
            observations[ref] = kind

    contours: dict[int, list[tuple[float, np.ndarray]]] = {n: [] for n in order}
    points: dict[int, list[list[float]]] = {n: [] for n in order}
    colors: dict[int, tuple[int, int, int]] = {}
    tol_mm = settings.contour_planarity_tolerance_mm
    for i, item in enumerate(r.sequence("ROIContourSequence", required=False)):
        cr = r.item(item, f"ROIContourSequence[{i}]")
        ref = cr.integer("ReferencedROINumber")
        assert ref is not None
        if ref not in info:
            warnings.append(f"ROIContourSequence[{i}] refers to ROI number {ref}, absent from StructureSetROISequence; skipped")
            continue
        roi_name = info[ref][0]
        color = cr.floats("ROIDisplayColor", 3, required=False)
        if color is not None:
            colors[ref] = (int(color[0]), int(color[1]), int(color[2]))
        for j, contour in enumerate(cr.sequence("ContourSequence", required=False)):
            kr = cr.item(contour, f"ContourSequence[{j}]")
            kind_text = _raw_ascii(contour, _CONTOUR_TYPE_TAG)
            kind = (kind_text if kind_text else kr.text("ContourGeometricType") or "").upper()
            xyz_mm = _contour_points_mm(kr, f"ROI {roi_name!r} contour {j}")
            count_text = _raw_ascii(contour, _CONTOUR_COUNT_TAG)
            declared = int(count_text) if count_text and count_text.isdigit() else kr.integer(
                "NumberOfContourPoints", required=False)
            if declared is not None and declared != len(xyz_mm):
                warnings.append(
                    f"ROI {roi_name!r} contour {j}: NumberOfContourPoints {declared} but ContourData has "
                    f"{len(xyz_mm)} points; used ContourData"
                )
            if kind == "POINT":
                points[ref].extend(xyz_mm.tolist())
            elif kind in _CLOSED_TYPES:
                if len(xyz_mm) < 3:
                    warnings.append(f"ROI {roi_name!r} contour {j}: {len(xyz_mm)} points, a polygon needs 3; skipped")
                    continue
                z_span = float(xyz_mm[:, 2].max() - xyz_mm[:, 2].min())
                if z_span > tol_mm:
                    warnings.append(f"ROI {roi_name!r} contour {j}: not axial (z varies by {z_span:g} mm); skipped")
                    continue
                xy_cm = _frozen_array(xyz_mm[:, :2] / _MM_PER_CM)
                contours[ref].append((float(xyz_mm[0, 2]) / _MM_PER_CM, xy_cm))
            else:
                warnings.append(f"ROI {roi_name!r} contour {j}: ContourGeometricType {kind or '(empty)'} not supported; skipped")

    rois = tuple(
        Roi(
            number=n,
            name=info[n][0],
            contours=tuple(contours[n]),
            points_cm=_frozen_array(np.asarray(points[n], dtype=np.float64).reshape(-1, 3) / _MM_PER_CM),
            frame_of_reference_uid=info[n][1] or frame_uids[0],
            interpreted_type=observations.get(n),
            display_color_rgb=colors.get(n),
        )
        for n in order
    )
    return RtStructureSet(
        file_name=file_name,
        label=r.text("StructureSetLabel", required=False),
        frame_of_reference_uid=frame_uids[0],
        rois=rois,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------------------------
# RT Plan (permanent seeds)
# ---------------------------------------------------------------------------------------------------------------


def _reference_datetime(sr: _Reader, warnings: list[str], label: str) -> datetime:
    raw_date = sr.text("SourceStrengthReferenceDate")
    try:
        day = DA(raw_date)
    except (TypeError, ValueError) as exc:
        raise sr.fail("SourceStrengthReferenceDate", f"{raw_date!r} is not a DICOM date (YYYYMMDD)") from exc
    if not isinstance(day, date):
        raise sr.fail("SourceStrengthReferenceDate", f"{raw_date!r} is not a DICOM date (YYYYMMDD)")
    raw_time = sr.text("SourceStrengthReferenceTime", required=False)
    clock = time(0, 0)
    if raw_time is None:
        warnings.append(f"{label}: SourceStrengthReferenceTime (300A,022E) absent; midnight assumed")
    else:
        try:
            parsed = TM(raw_time)
        except (TypeError, ValueError) as exc:
            raise sr.fail("SourceStrengthReferenceTime", f"{raw_time!r} is not a DICOM time (HHMMSS.FFFFFF)") from exc
        if not isinstance(parsed, time):
            raise sr.fail("SourceStrengthReferenceTime", f"{raw_time!r} is not a DICOM time (HHMMSS.FFFFFF)")
        clock = time(parsed.hour, parsed.minute, parsed.second, parsed.microsecond)
    return datetime.combine(date(day.year, day.month, day.day), clock)


def _read_source(sr: _Reader, label: str, warnings: list[str]) -> SeedSource:
    number = sr.integer("SourceNumber")
    assert number is not None
    units = sr.text("SourceStrengthUnits", required=False)
    if units is not None and units.upper() != "AIR_KERMA_RATE":
        raise sr.fail("SourceStrengthUnits", f"is {units!r}, expected 'AIR_KERMA_RATE' (strength in U)")
    strength = sr.number("ReferenceAirKermaRate")
    assert strength is not None
    if strength <= 0:
        raise sr.fail("ReferenceAirKermaRate", f"is {strength:g}, must be > 0 (µGy·h⁻¹ at 1 m = U)")
    half_life = sr.number("SourceIsotopeHalfLife", required=False)
    if half_life is not None and half_life <= 0:
        raise sr.fail("SourceIsotopeHalfLife", f"is {half_life:g}, must be > 0 (days)")
    length_mm = sr.number("ActiveSourceLength", required=False)
    return SeedSource(
        number=number,
        isotope_name=sr.text("SourceIsotopeName") or "",
        air_kerma_strength_u=float(strength),
        reference_datetime=_reference_datetime(sr, warnings, label),
        half_life_days=half_life,
        model_id=sr.text("SourceModelID", required=False),
        manufacturer=sr.text("SourceManufacturer", required=False),
        source_type=sr.text("SourceType", required=False),
        active_length_cm=None if length_mm is None else length_mm / _MM_PER_CM,
    )


def read_rtplan_seeds(
    src: DicomSource, name: str | None = None, *, settings: DicomReadSettings = DEFAULT_READ_SETTINGS
) -> SeedPlan:
    """Read the seeds of a permanent-implant brachytherapy RT Plan.

    Seed positions come from ApplicationSetupSequence → ChannelSequence → BrachyControlPointSequence →
    ControlPoint3DPosition (mm → cm). Every distinct position of every channel is a seed; exact repeats within
    a channel are one seed, so both conventions of dosimetry.md §4.1 work (one channel per seed with two equal
    control points, or one channel per needle with one control point per seed). Source data (isotope, S_K in U,
    reference date/time, half-life in days, model, manufacturer) come from SourceSequence.
    """
    file_name = _display_name(src, name)
    ds = _dcmread(src, file_name, stop_before_pixels=True, settings=settings)
    r = _Reader(ds, file_name)
    _check_modality(r, "RTPLAN")
    warnings: list[str] = []

    technique = (r.text("BrachyTreatmentTechnique") or "").upper()
    if technique not in settings.accepted_brachy_techniques:
        allowed = ", ".join(sorted(settings.accepted_brachy_techniques))
        raise r.fail("BrachyTreatmentTechnique", f"is {technique!r}, expected {allowed} (a permanent seed implant)")
    frame_uid = r.text("FrameOfReferenceUID")
    assert frame_uid is not None

    sources: dict[int, SeedSource] = {}
    for i, item in enumerate(r.sequence("SourceSequence")):
        label = f"SourceSequence[{i}]"
        source = _read_source(r.item(item, label), label, warnings)
        if source.number in sources:
            raise r.item(item, label).fail("SourceNumber", f"{source.number} is used by more than one source")
        sources[source.number] = source

    positions_mm: list[tuple[float, float, float]] = []
    seed_sources: list[int] = []
    seed_channels: list[int] = []
    for a, setup in enumerate(r.sequence("ApplicationSetupSequence")):
        ar = r.item(setup, f"ApplicationSetupSequence[{a}]")
        for c, channel in enumerate(ar.sequence("ChannelSequence")):
            cr = ar.item(channel, f"ChannelSequence[{c}]")
            channel_number = cr.integer("ChannelNumber", required=False)
            channel_number = c + 1 if channel_number is None else channel_number
            source_number = cr.integer("ReferencedSourceNumber", required=False)
            if source_number is None:
                if len(sources) != 1:
                    raise cr.fail("ReferencedSourceNumber", f"is missing and the plan has {len(sources)} sources")
                source_number = next(iter(sources))
            if source_number not in sources:
                raise cr.fail(
                    "ReferencedSourceNumber",
                    f"{source_number} is not a SourceNumber (300A,0212) of SourceSequence; have {sorted(sources)}",
                )
            seen: set[tuple[float, float, float]] = set()
            for p, cp in enumerate(cr.sequence("BrachyControlPointSequence", required=False)):
                xyz = cr.item(cp, f"BrachyControlPointSequence[{p}]").floats(
                    "ControlPoint3DPosition", 3, required=False
                )
                if xyz is None:
                    continue
                key = (xyz[0], xyz[1], xyz[2])
                if key in seen:
                    continue  # same seed, e.g. the second of a 0/1 CumulativeTimeWeight pair
                seen.add(key)
                positions_mm.append(key)
                seed_sources.append(source_number)
                seed_channels.append(channel_number)
            if not seen:
                warnings.append(f"channel {channel_number}: no ControlPoint3DPosition (300A,02D4); no seed taken")

    if not positions_mm:
        raise r.fail("ControlPoint3DPosition", "is absent from every channel: the plan has no seed positions")
    if len(set(positions_mm)) != len(positions_mm):
        warnings.append(f"{len(positions_mm) - len(set(positions_mm))} seed position(s) repeated in different channels")

    prescription: float | None = None
    for i, item in enumerate(r.sequence("DoseReferenceSequence", required=False)):
        value = r.item(item, f"DoseReferenceSequence[{i}]").number("TargetPrescriptionDose", required=False)
        if value is not None:
            prescription = value
            break

    used = set(seed_sources)
    return SeedPlan(
        file_name=file_name,
        frame_of_reference_uid=frame_uid,
        brachy_technique=technique,
        brachy_treatment_type=r.text("BrachyTreatmentType", required=False),
        sources=tuple(sources[n] for n in sorted(sources) if n in used),
        positions_cm=_frozen_array(np.asarray(positions_mm, dtype=np.float64) / _MM_PER_CM),
        seed_source_numbers=_frozen_array(seed_sources, np.int64),
        seed_channel_numbers=_frozen_array(seed_channels, np.int64),
        prescription_gy=prescription,
        plan_label=r.text("RTPlanLabel", required=False),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------------------------
# CT series geometry
# ---------------------------------------------------------------------------------------------------------------


def read_ct_geometry(
    paths: Iterable[str | os.PathLike[str]],
    *,
    settings: DicomReadSettings = DEFAULT_READ_SETTINGS,
    series_name: str | None = None,
) -> CtGeometry:
    """Geometry of an axial CT series from its files (pixel data is not read).

    All slices must be Modality CT, share FrameOfReferenceUID, ImageOrientationPatient, Rows, Columns and
    PixelSpacing, and lie at distinct z. Returns slices sorted by z (ascending). ``series_name`` is the display
    name of the whole series (default ``"CT series (N files)"``).
    """
    path_list = [Path(os.fspath(p)) for p in paths]
    label = series_name or f"CT series ({len(path_list)} files)"
    if not path_list:
        raise DicomImportError(label, f"no files given ({tag_label('SOPInstanceUID')} list is empty)")

    slices: list[tuple[float, str, str]] = []  # (z_mm, sop uid, file name)
    first: dict[str, Any] = {}
    tol = settings.orientation_tolerance
    for path in path_list:
        file_name = path.name
        ds = _dcmread(path, file_name, stop_before_pixels=True, settings=settings)
        r = _Reader(ds, file_name)
        _check_modality(r, "CT")
        rows, cols = r.integer("Rows"), r.integer("Columns")
        assert rows is not None and cols is not None
        x_mm, y_mm, transposed, _normal_z, ipp = _in_plane_coordinates_mm(r, rows, cols, tol)
        current = {
            "FrameOfReferenceUID": r.text("FrameOfReferenceUID"),
            "ImageOrientationPatient": tuple(r.floats("ImageOrientationPatient", 6) or ()),
            "Rows": rows,
            "Columns": cols,
            "PixelSpacing": tuple(r.floats("PixelSpacing", 2) or ()),
        }
        if not first:
            first = {
                **current,
                "file": file_name,
                "x_mm": x_mm,
                "y_mm": y_mm,
                "transposed": transposed,
                "series": r.text("SeriesInstanceUID", required=False),
                "study": r.text("StudyInstanceUID", required=False),
            }
        else:
            for keyword, value in current.items():
                if value != first[keyword]:
                    raise r.fail(keyword, f"{value} differs from {first['file']}'s {first[keyword]}")
            if not (np.allclose(x_mm, first["x_mm"]) and np.allclose(y_mm, first["y_mm"])):
                raise r.fail("ImagePositionPatient", f"x/y {ipp[:2]} differ from {first['file']}'s slice origin")
        slices.append((ipp[2], r.text("SOPInstanceUID") or "", file_name))

    slices.sort(key=lambda s: s[0])
    z_mm = np.array([s[0] for s in slices], dtype=np.float64)
    gaps = np.diff(z_mm)
    if gaps.size and gaps.min() <= 0:
        k = int(np.argmin(gaps))
        raise DicomImportError(
            slices[k + 1][2],
            f"{tag_label('ImagePositionPatient')} z {z_mm[k + 1]:g} mm repeats the slice of {slices[k][2]}",
            "ImagePositionPatient",
        )
    dz_mm = float(np.median(gaps)) if gaps.size else 0.0
    uniform = bool(gaps.size == 0 or np.all(np.abs(gaps - dz_mm) <= settings.ct_uniform_spacing_tolerance_mm))

    x_mm, y_mm = first["x_mm"], first["y_mm"]
    if settings.ascending_axes:
        x_mm, y_mm = np.sort(x_mm), np.sort(y_mm)
    dx_mm = float(abs(x_mm[1] - x_mm[0])) if x_mm.size > 1 else float("nan")
    dy_mm = float(abs(y_mm[1] - y_mm[0])) if y_mm.size > 1 else float("nan")
    return CtGeometry(
        file_name=label,
        frame_of_reference_uid=first["FrameOfReferenceUID"],
        series_instance_uid=first["series"],
        study_instance_uid=first["study"],
        shape=(len(slices), int(y_mm.size), int(x_mm.size)),
        x_cm=_frozen_array(x_mm / _MM_PER_CM),
        y_cm=_frozen_array(y_mm / _MM_PER_CM),
        z_cm=_frozen_array(z_mm / _MM_PER_CM),
        spacing_cm=(dz_mm / _MM_PER_CM, dy_mm / _MM_PER_CM, dx_mm / _MM_PER_CM),
        uniform_z=uniform,
        sop_instance_uids=tuple(s[1] for s in slices),
        file_names=tuple(s[2] for s in slices),
    )


# ---------------------------------------------------------------------------------------------------------------
# Cross-object checks
# ---------------------------------------------------------------------------------------------------------------


def check_same_frame_of_reference(*objects: HasFrameOfReference) -> None:
    """Raise DicomImportError unless all objects share the first one's FrameOfReferenceUID.

    The message names the mismatching file first and the reference (first) file second, e.g.
    ``"rtstruct.dcm: FrameOfReferenceUID (0020,0052) 1.2.3 does not match rtdose.dcm's 1.2.4"``.
    """
    if len(objects) < 2:
        return
    reference = objects[0]
    for obj in objects[1:]:
        if obj.frame_of_reference_uid != reference.frame_of_reference_uid:
            raise DicomImportError(
                obj.file_name,
                f"{tag_label('FrameOfReferenceUID')} {obj.frame_of_reference_uid} does not match "
                f"{reference.file_name}'s {reference.frame_of_reference_uid}",
                "FrameOfReferenceUID",
            )


@dataclass(frozen=True)
class DicomHeader:
    """Identity and consistency facts of one RT object, read from its header only (no pixel data).

    ``patient_name`` is the PatientName (0010,0010) as stored (``Family^Given^Middle^Prefix^Suffix``);
    ``frame_of_reference_uid`` is the object's own FrameOfReferenceUID (0020,0052), or for an RT Structure Set
    the first ReferencedFrameOfReferenceSequence item's; ``dose_type`` / ``dose_summation_type`` only for RTDOSE.
    Absent or empty attributes are ``None``: whether that matters is for the caller's checks to say.
    """

    file_name: str
    modality: str
    patient_id: str | None
    patient_name: str | None
    study_instance_uid: str | None
    frame_of_reference_uid: str | None
    dose_type: str | None = None
    dose_summation_type: str | None = None


def read_header(
    src: DicomSource, name: str | None = None, *, settings: DicomReadSettings = DEFAULT_READ_SETTINGS
) -> DicomHeader:
    """Read the :class:`DicomHeader` of an RT object (or CT slice) without its pixel data."""
    file_name = _display_name(src, name)
    ds = _dcmread(src, file_name, stop_before_pixels=True, settings=settings)
    r = _Reader(ds, file_name)
    modality = (r.text("Modality", required=False) or "").upper()
    if not modality:
        raise r.fail("Modality", "is missing")
    frame = r.text("FrameOfReferenceUID", required=False)
    if frame is None and modality == "RTSTRUCT":
        for i, item in enumerate(r.sequence("ReferencedFrameOfReferenceSequence", required=False)):
            frame = r.item(item, f"ReferencedFrameOfReferenceSequence[{i}]").text("FrameOfReferenceUID",
                                                                                   required=False)
            if frame:
                break
    is_dose = modality == "RTDOSE"
    return DicomHeader(
        file_name=file_name,
        modality=modality,
        patient_id=r.text("PatientID", required=False),
        patient_name=r.text("PatientName", required=False),
        study_instance_uid=r.text("StudyInstanceUID", required=False),
        frame_of_reference_uid=frame,
        dose_type=(r.text("DoseType", required=False) or "").upper() or None if is_dose else None,
        dose_summation_type=(r.text("DoseSummationType", required=False) or "").upper() or None if is_dose else None,
    )


def sniff_modality(
    src: DicomSource, name: str | None = None, *, settings: DicomReadSettings = DEFAULT_READ_SETTINGS
) -> str:
    """The Modality (0008,0060) of a file, read without its pixel data (to sort an upload into RT objects).

    Also refuses, from the header alone, a file too large to import (declared pixel data, deflated header)."""
    file_name = _display_name(src, name)
    ds = _dcmread(src, file_name, stop_before_pixels=True, settings=settings)
    modality = str(ds.get("Modality", "")).strip().upper()
    if not modality:
        raise DicomImportError(file_name, f"{tag_label('Modality')} is missing")
    return modality

"""Benchmark of ``dosimetry.dicom_io.read_rtstruct``: ContourData parsed from the raw bytes vs pydicom's numbers.

Run: ``.venv/bin/python bench/dicom_io.py`` (``--quick`` for a smaller synthetic set; ``--sdist PATH`` to use a
dicompyler-core-0.5.6.tar.gz already on disk instead of fetching it).

Structure sets:

1. **Synthetic large set** (the issue's case: a 28-ROI RayStation set, 2.0 s CPU): 30 ROIs (a body outline,
   organs, targets) written by ``demo.dicom_synth.write_rtstruct`` into ``bench/_work/dicom_io``, contours every
   2.5 mm with a vertex every 1 mm along the outline (as planning systems export), coordinates stored with
   2 decimals in mm (0.01 mm, as Eclipse writes them); about 290 000 points.
2. **Real Eclipse export**: ``rtss.dcm`` of the example plan in dicompyler-core 0.5.6's source distribution
   (``tests/testdata/example_data``, 10 ROIs, 88 158 points), fetched once with ``pip download --no-deps
   --no-binary :all: dicompyler-core==0.5.6`` into ``bench/_work/dicompyler-sdist`` (never by the test suite).

For each, in the same run, best of N, CPU time (``time.process_time``; the machine is shared):

- **old path**: ``read_rtstruct`` as before this change — every ContourData value becomes a pydicom DSfloat
  (pydicom's conversion of each element, forced before the reader looks at it) and then a Python float;
- **new path**: ``read_rtstruct`` as it is: ContourData parsed from the element's undecoded bytes in one numpy
  call per contour;
- **floor**: ``pydicom.dcmread`` and a walk over every ContourSequence item without touching ContourData, what
  no ContourData parser can go below.

It checks that both paths return the same contours (every coordinate equal, not approximately) and prints the
ratio old / new against the target (≥ 10× on the large set).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import dicom_synth as synth  # noqa: E402
from dosimetry import dicom_io  # noqa: E402

WORK = ROOT / "bench" / "_work"
DATA = WORK / "dicom_io"
SDIST_DIR = WORK / "dicompyler-sdist"
SDIST_NAME = "dicompyler-core-0.5.6.tar.gz"
ECLIPSE_RTSS = "dicompyler-core-0.5.6/tests/testdata/example_data/rtss.dcm"
FRAME = "1.2.826.0.1.3680043.8.498.911"
STUDY = "1.2.826.0.1.3680043.8.498.912"
TARGET_RATIO = 10.0


# --- structure sets --------------------------------------------------------------------------------------------


def _outline(cx: float, cy: float, a: float, b: float, wobble: float, phase: float) -> np.ndarray:
    """A closed, slightly irregular outline (cm) with a vertex about every 1 mm, rounded to 0.01 mm."""
    perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))  # Ramanujan
    n = max(8, int(perimeter / 0.1))
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    r = 1.0 + wobble * np.sin(5 * t + phase)
    xy = np.column_stack([cx + a * r * np.cos(t), cy + b * r * np.sin(t)])
    return np.round(xy * 1000.0) / 1000.0  # 0.01 mm = 0.001 cm


def large_structure_set(n_rois: int, scale: float) -> dict[str, list[tuple[float, np.ndarray]]]:
    """``n_rois`` ellipsoid-like ROIs: a 34 × 24 cm body over 40 cm, then organs and targets of decreasing size.

    ``scale`` multiplies the in-plane sizes of all but the body (1.0: about 450 000 points for 30 ROIs).
    """
    rng = np.random.default_rng(12)
    dz = 0.25
    rois: dict[str, list[tuple[float, np.ndarray]]] = {}
    specs = [("BODY", 0.0, 0.0, 17.0, 12.0, 20.0)]
    for k in range(1, n_rois):
        size = scale * (6.0 - 5.0 * k / n_rois)  # 6 cm down to ~1 cm semi-axis
        kind = "PTV" if k % 7 == 1 else "GTV" if k % 7 == 2 else "OAR"
        specs.append((f"{kind}_{k:02d}", float(rng.uniform(-8, 8)), float(rng.uniform(-5, 5)), size,
                      size * float(rng.uniform(0.6, 1.0)), size * float(rng.uniform(0.8, 1.6))))
    for name, cx, cy, a, b, c in specs:
        contours = []
        for z in np.arange(-c + dz / 2, c, dz):
            f = math.sqrt(max(0.0, 1.0 - (z / c) ** 2))
            if f * min(a, b) < 0.05:
                continue
            contours.append((round(float(z), 4), _outline(cx, cy, a * f, b * f, 0.04, z)))
        rois[name] = contours
    return rois


def write_large(n_rois: int, scale: float) -> Path:
    """The synthetic set, written once; ContourData then rewritten with 2 decimals in mm ("-123.45"), as the
    Eclipse export stores it (the writer's full-precision strings of the mm values are 16 characters)."""
    path = DATA / f"rtstruct_{n_rois}rois_{scale:g}.dcm"
    if not path.exists():
        synth.write_rtstruct(path, large_structure_set(n_rois, scale), FRAME, STUDY, label="BENCH")
        ds = pydicom.dcmread(path)
        for item in _contour_items(ds):
            item.ContourData = [f"{float(v):.2f}" for v in item.ContourData]
        ds.save_as(path, enforce_file_format=True)
    return path


def eclipse_rtss(sdist: Path | None) -> Path | None:
    """The Eclipse rtss.dcm, extracted from the dicompyler-core 0.5.6 sdist (fetched once if not given)."""
    target = WORK / "dicompyler-example" / "rtss.dcm"
    if target.exists():
        return target
    archive = sdist if sdist is not None else SDIST_DIR / SDIST_NAME
    if not archive.exists():
        SDIST_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "dicompyler-core==0.5.6", "-d", str(SDIST_DIR)]
        if subprocess.run(cmd, capture_output=True, text=True).returncode != 0 or not archive.exists():
            print(f"  (could not fetch {SDIST_NAME}; pass --sdist PATH) — Eclipse case skipped")
            return None
    with tarfile.open(archive) as tar:
        member = tar.extractfile(ECLIPSE_RTSS)
        if member is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(member.read())
    return target


# --- the paths timed -------------------------------------------------------------------------------------------


def _contour_items(ds: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
    for roi in ds.get("ROIContourSequence", []):
        yield from roi.get("ContourSequence", [])


@contextmanager
def pydicom_converted_contours() -> Iterator[None]:
    """``read_rtstruct`` as before: every ContourData element converted by pydicom (one DSfloat per value) before
    the reader reads it, which then takes pydicom's numbers instead of the raw bytes."""
    read = dicom_io._dcmread

    def converting(*args: Any, **kwargs: Any) -> pydicom.Dataset:
        ds = read(*args, **kwargs)
        for item in _contour_items(ds):
            if "ContourData" in item:
                item["ContourData"]  # noqa: B018 - converts the raw element in place
        return ds

    with mock.patch.object(dicom_io, "_dcmread", converting):
        yield


def old_path(path: Path) -> dicom_io.RtStructureSet:
    with pydicom_converted_contours():
        return dicom_io.read_rtstruct(path)


def new_path(path: Path) -> dicom_io.RtStructureSet:
    return dicom_io.read_rtstruct(path)


def floor(path: Path) -> int:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return sum(1 for item in _contour_items(ds) if "ContourGeometricType" in item)


def cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best * 1000.0


def same_contours(a: dicom_io.RtStructureSet, b: dicom_io.RtStructureSet) -> bool:
    if a.names != b.names or a.warnings != b.warnings:
        return False
    for ra, rb in zip(a.rois, b.rois, strict=True):
        if len(ra.contours) != len(rb.contours) or not np.array_equal(ra.points_cm, rb.points_cm):
            return False
        for (za, xya), (zb, xyb) in zip(ra.contours, rb.contours, strict=True):
            if za != zb or not np.array_equal(xya, xyb):
                return False
    return True


def run_case(label: str, path: Path, repeat: int, target: float | None) -> bool:
    new = new_path(path)
    identical = same_contours(old_path(path), new)
    n_points = sum(len(xy) for roi in new.rois for _, xy in roi.contours) + sum(len(r.points_cm) for r in new.rois)
    n_contours = sum(len(roi.contours) for roi in new.rois)
    old_ms = cpu_ms(lambda: old_path(path), repeat)
    new_ms = cpu_ms(lambda: new_path(path), repeat)
    floor_ms = cpu_ms(lambda: floor(path), repeat)
    ratio = old_ms / new_ms
    print(f"\n{label}: {path.name}, {path.stat().st_size / 2**20:.1f} MB, {len(new.rois)} ROIs, "
          f"{n_contours} contours, {n_points:,} points")
    print(f"  old path (pydicom DSfloat per value) {old_ms:9.1f} ms CPU")
    print(f"  new path (raw ContourData bytes)     {new_ms:9.1f} ms CPU")
    print(f"  floor (dcmread + walk, no ContourData){floor_ms:8.1f} ms CPU")
    print(f"  ratio old / new {ratio:.1f}×; identical contours: {'yes' if identical else 'NO'}")
    ok = identical
    if target is not None:
        met = ratio >= target
        ok = ok and met
        print(f"  target ≥ {target:g}×: {'met' if met else 'NOT met'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller synthetic set, fewer repeats")
    parser.add_argument("--sdist", type=Path, default=None, help=f"a local {SDIST_NAME} (else fetched once)")
    parser.add_argument("--repeat", type=int, default=None, help="best of N (default 5, 3 with --quick)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    print(f"read_rtstruct, CPU time, best of {repeat}")
    ok = run_case("Synthetic large set", write_large(30, 0.5 if args.quick else 1.0), repeat, TARGET_RATIO)
    rtss = eclipse_rtss(args.sdist)
    if rtss is not None:
        ok = run_case("Real Eclipse export (dicompyler-core 0.5.6 example)", rtss, repeat, None) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Hostile DICOM files: a deflated RT Dose that inflates to 1 GiB, a tiny file declaring a huge grid.

The upload classifies files from their headers only, and a deflated file is inflated in bounded chunks in the
import job alone; memory is measured in the tests (tracemalloc peak, which numpy and zlib buffers report to)."""

from __future__ import annotations

import html
import io
import struct
import zlib

import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

from dosimetry import dicom_io, services
from dosimetry.dicom_io import DicomImportError, DicomReadSettings
from dosimetry.models import DicomImport, DosePlan
from tests.memory import measured

pytestmark = pytest.mark.django_db

GIB = 1 << 30
MEMORY_BOUND = 64 * 1024 * 1024


def _preamble_and_meta(meta) -> bytes:
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue()


def _body(ds) -> bytes:
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    return body.getvalue()


def deflate_bomb(rtdose: bytes, pixel_bytes: int = GIB) -> bytes:
    """The RT Dose ``rtdose`` in the deflated transfer syntax, its PixelData replaced by ``pixel_bytes`` zeros.

    Its header still declares the original (small) grid, so only inflating reveals the size. Zeros compress
    about 1000:1; after a full flush the compressor's output for the same block repeats byte for byte, so one
    16 MB block compressed once builds the 1 GiB stream (a valid raw-deflate stream, checked below)."""
    ds = pydicom.dcmread(io.BytesIO(rtdose))
    del ds.PixelData
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    head = _preamble_and_meta(ds.file_meta)
    block_size = 16 << 20
    assert pixel_bytes % block_size == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = compressor.compress(_body(ds) + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, pixel_bytes))
    start += compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(block_size)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + start + block * (pixel_bytes // block_size) + compressor.flush()


def _inflated_size(data: bytes) -> int:
    """Count what ``data``'s deflated part inflates to (bounded memory: 1 MB at a time)."""
    fh = io.BytesIO(data)
    pydicom.filereader.read_preamble(fh, False)
    pydicom.filereader._read_file_meta_info(fh)
    return sum(len(chunk) for chunk in dicom_io._inflate_steps(fh))


def _modality(files, modality):
    return next(i for i, (name, content) in enumerate(files) if dicom_io.sniff_modality(content, name) == modality)


def _upload(client, procedure, files):
    return client.post(reverse("dosimetry:dicom_upload", args=[procedure.pk]), {
        "kind": "pre", "files": [SimpleUploadedFile(name, content) for name, content in files]})


def test_a_deflated_rtdose_inflating_to_1_gib_is_uploaded_with_bounded_memory_and_its_import_fails(
        login, users, procedure, export):
    files = export("pre")
    i = _modality(files, "RTDOSE")
    bomb = deflate_bomb(files[i][1])
    assert len(bomb) < 2 * 1024 * 1024 and _inflated_size(bomb) > GIB  # 1 MB on the wire, 1 GiB inflated
    files[i] = ("bomb-rtdose.dcm", bomb)
    client = login(users["physician"])

    response, upload_peak = measured(lambda: _upload(client, procedure, files))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert upload_peak < MEMORY_BOUND, f"upload request peaked at {upload_peak / 2**20:.0f} MB"
    imp = DicomImport.objects.latest("pk")
    assert imp.status == DicomImport.Status.UPLOADED

    response, import_peak = measured(lambda: client.post(
        reverse("dosimetry:dicom_mapping", args=[imp.pk]), {"roi_0": "GTV", "roi_1": ""}
        if imp.roi_names[0] == "GTV_L1" else {"roi_0": "", "roi_1": "GTV"}))
    assert response.status_code == 302
    assert import_peak < MEMORY_BOUND, f"import peaked at {import_peak / 2**20:.0f} MB"
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED
    assert imp.error == ("bomb-rtdose.dcm: TransferSyntaxUID (0002,0010) 1.2.840.10008.1.2.1.99 (deflated) "
                         "inflates to more than 512 MB (DICOM_MAX_INFLATED_BYTES)")
    assert not DosePlan.objects.filter(procedure=procedure).exists()
    page = client.get(reverse("dosimetry:dicom_status", args=[imp.pk])).content.decode()
    assert "inflates to more than 512 MB (DICOM_MAX_INFLATED_BYTES)" in page


def test_the_inflation_limit_is_the_setting(procedure, users, export):
    files = export("pre")
    i = _modality(files, "RTDOSE")
    bomb = deflate_bomb(files[i][1], pixel_bytes=32 << 20)  # 32 MB: under the default, over 16 MB
    with pytest.raises(DicomImportError, match=r"^d\.dcm: PixelData \(7FE0,0010\) cannot be decoded"):
        dicom_io.read_rtdose(bomb, "d.dcm", settings=DicomReadSettings())  # inflated (and then found wrong)
    with override_settings(DICOM_MAX_INFLATED_BYTES=16 << 20), pytest.raises(
            DicomImportError, match=r"^d\.dcm: .* inflates to more than 16 MB \(DICOM_MAX_INFLATED_BYTES\)$"):
        dicom_io.read_rtdose(bomb, "d.dcm", settings=services.read_settings())


def test_a_deflated_header_is_read_only_up_to_its_limit(export):
    files = export("pre")
    ds = pydicom.dcmread(io.BytesIO(files[_modality(files, "RTDOSE")][1]))
    ds.add_new(0x00091010, "OB", bytes(8 << 20))  # 8 MB private element before the pixel data
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    small = DicomReadSettings(max_header_bytes=1 << 20)
    with pytest.raises(DicomImportError, match=r"^h\.dcm: TransferSyntaxUID .* the header before PixelData "
                                               r"\(7FE0,0010\) inflates to more than 1 MB"):
        dicom_io.sniff_modality(buf.getvalue(), "h.dcm", settings=small)
    assert dicom_io.sniff_modality(buf.getvalue(), "h.dcm") == "RTDOSE"  # the default allows 16 MB


def test_a_deflated_export_imports_like_the_plain_one(login, users, procedure, export):
    files = export("pre")
    plain = {dicom_io.sniff_modality(c, n): c for n, c in files}
    deflated = []
    for name, content in files:
        ds = pydicom.dcmread(io.BytesIO(content))
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        deflated.append((name, buf.getvalue()))
    d = {dicom_io.sniff_modality(c, n): c for n, c in deflated}
    a, b = dicom_io.read_rtdose(plain["RTDOSE"], "a"), dicom_io.read_rtdose(d["RTDOSE"], "b")
    assert np.array_equal(a.dose_gy, b.dose_gy) and np.array_equal(a.z_cm, b.z_cm)
    assert dicom_io.read_rtstruct(d["RTSTRUCT"], "s").names == dicom_io.read_rtstruct(plain["RTSTRUCT"], "s").names
    client = login(users["physician"])
    assert _upload(client, procedure, deflated).status_code == 302
    imp = DicomImport.objects.latest("pk")
    client.post(reverse("dosimetry:dicom_mapping", args=[imp.pk]), {"roi_0": "GTV", "roi_1": ""}
                if imp.roi_names[0] == "GTV_L1" else {"roi_0": "", "roi_1": "GTV"})
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.DONE, imp.error


def _huge_grid(rtdose: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(rtdose))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4096, 4096, 64  # 4096² × 64 × 4 bytes = 4 GB declared
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_a_tiny_file_declaring_a_huge_grid_is_refused_at_the_upload(login, users, procedure, export):
    files = export("pre")
    i = _modality(files, "RTDOSE")
    files[i] = ("huge-grid.dcm", _huge_grid(files[i][1]))
    assert len(files[i][1]) < 100_000
    expected = ("huge-grid.dcm: declared pixel data Rows (0028,0010) 4096 × Columns (0028,0011) 4096 × "
                "NumberOfFrames (0028,0008) 64 × BitsAllocated (0028,0100) 32/8 × SamplesPerPixel (0028,0002) 1 "
                "= 4,096 MB exceeds the limit of 512 MB (DICOM_MAX_PIXEL_BYTES)")
    response = _upload(login(users["nurse"]), procedure, files)
    assert response.status_code == 200
    assert expected in html.unescape(response.content.decode())
    assert not DicomImport.objects.exists()
    with pytest.raises(DicomImportError) as exc:
        dicom_io.read_rtdose(files[i][1], "huge-grid.dcm")
    assert str(exc.value) == expected


def test_the_declared_pixel_limit_is_the_setting(export):
    files = export("pre")
    content = files[_modality(files, "RTDOSE")][1]
    declared = dicom_io.declared_pixel_bytes(pydicom.dcmread(io.BytesIO(content)))
    assert declared is not None
    with pytest.raises(DicomImportError, match="DICOM_MAX_PIXEL_BYTES"):
        dicom_io.read_header(content, "d.dcm", settings=DicomReadSettings(max_pixel_bytes=declared[0] - 1))
    assert dicom_io.read_header(content, "d.dcm", settings=DicomReadSettings(max_pixel_bytes=declared[0]))

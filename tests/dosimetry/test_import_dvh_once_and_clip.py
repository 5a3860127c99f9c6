"""The web DICOM import: one DVH per structure per dose grid; a structure beyond the dose grid is refused unless the
user asks for it to be clipped, and then the volume left out is stored and shown (the dvh command's numbers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.urls import reverse
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from demo import dicom_synth
from dosimetry import cli, rt_metrics, services
from dosimetry import dvh as dvh_core
from dosimetry.dicom_io import read_rtdose, read_rtstruct
from dosimetry.dvh import SamplingSettings, Structure
from dosimetry.models import DicomImport, DosePlan, PlanSource

pytestmark = pytest.mark.django_db

# The export fixture's dose grid: voxel centres -2.4 … 2.4 cm every 0.2 cm on each axis (edges ±2.5 cm).
AXIS = np.arange(-2.4, 2.4001, 0.2)
PTV_CENTRE, PTV_RADIUS = (1.75, 0.1, 0.0), 1.1  # reaches x = 2.85 cm, past the grid's edge at 2.5 cm
MAPPING = {"GTV_L1": "GTV", "Skin": "skin"}
CLIP_MAPPING = {"GTV_L1": "GTV", "Skin": "", "PTV": "PTV"}


def _with_ptv(files: list[tuple[str, bytes]], tmp_path: Path) -> list[tuple[str, bytes]]:
    """The export with its RTSTRUCT rewritten: the same GTV_L1 and Skin plus a PTV partly outside the dose grid."""
    by_name = dict(files)
    original = pydicom.dcmread(pydicom.filebase.DicomBytesIO(by_name["rtstruct.dcm"]))
    ss = read_rtstruct(by_name["rtstruct.dcm"], "rtstruct.dcm")
    planes = np.arange(-1.0, 1.0001, 0.2)
    path = dicom_synth.write_rtstruct(
        tmp_path / "with_ptv" / "rtstruct.dcm",
        {"GTV_L1": list(ss.get("GTV_L1").contours), "Skin": list(ss.get("Skin").contours),
         "PTV": dicom_synth.sphere_contours(PTV_CENTRE, PTV_RADIUS, planes, 96)},
        ss.frame_of_reference_uid, str(original.StudyInstanceUID),
        patient=dicom_synth.SyntheticPatient(str(original.PatientID), str(original.PatientName)))
    by_name["rtstruct.dcm"] = path.read_bytes()
    return list(by_name.items())


class DvhCounter:
    """Counts calls of the DVH engine, whoever calls it (rt_metrics by name, dvh.summary inside the core)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        real = dvh_core.dvh

        def counting(structure_or_mask, grid, *args, **kwargs):
            self.calls.append(getattr(structure_or_mask, "name", "mask"))
            return real(structure_or_mask, grid, *args, **kwargs)

        monkeypatch.setattr(dvh_core, "dvh", counting)
        monkeypatch.setattr(rt_metrics, "dvh", counting)


def test_the_import_computes_each_structures_dvh_once_per_dose_grid(procedure, users, export, monkeypatch):
    counter = DvhCounter(monkeypatch)
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=MAPPING)
    assert imp.status == DicomImport.Status.DONE, imp.error
    # TPS grid: GTV_L1 and Skin; the TG-43 check grid: the target GTV_L1 (before: twice each, 6 in all)
    assert sorted(counter.calls) == ["GTV_L1", "GTV_L1", "Skin"]
    assert DosePlan.objects.filter(source=PlanSource.TG43).count() == 1


def test_plan_metrics_equal_the_dvh_summary_and_curve_of_the_same_dvh(export):
    """One DVH read twice gives what summary() and a second dvh() gave: the stored numbers do not change."""
    files = dict(export())
    grid = rt_metrics.dose_grid(read_rtdose(files["rtdose.dcm"], "rtdose.dcm"))
    structures = read_rtstruct(files["rtstruct.dcm"], "rtstruct.dcm")
    sampling = SamplingSettings(supersampling=3)
    results = rt_metrics.plan_metrics(grid, structures, MAPPING, 120.0, sampling=sampling)
    for result, target in zip(results, (True, False), strict=True):
        structure = Structure(result.name, structures.get(result.name).contours)
        summ = dvh_core.summary(structure, grid, 120.0, settings=sampling, include_conformity=target)
        assert result.metrics == {k: None if isinstance(v, float) and math.isnan(v) else v
                                  for k, v in summ.items() if k not in ("name", "hi")}
        curve = dvh_core.dvh(structure, grid, settings=sampling)
        assert result.curve == rt_metrics.downsample_curve(curve.dose_bins_gy, curve.cumulative_pct)
        assert result.outside is None
    assert set(results[0].metrics) >= {"ci", "ei"} and "ci" not in results[1].metrics


def _dvh_command_volume(tmp_path: Path, files: list[tuple[str, bytes]], *, clip: bool, x_cm=AXIS) -> float:
    """Volume of the PTV by the dvh command's function, on the export's grid (clipped) or a wider one."""
    by_name = dict(files)
    folder = tmp_path / f"cmd_{clip}_{len(x_cm)}"
    folder.mkdir()
    (folder / "rtstruct.dcm").write_bytes(by_name["rtstruct.dcm"])
    dose_path = folder / "rtdose.dcm"
    if len(x_cm) == len(AXIS):
        dose_path.write_bytes(by_name["rtdose.dcm"])
    else:  # same voxels, more of them along x: holds the whole PTV
        frame = read_rtstruct(by_name["rtstruct.dcm"]).frame_of_reference_uid
        dicom_synth.write_rtdose(dose_path, np.full((AXIS.size, AXIS.size, len(x_cm)), 50.0), x_cm, AXIS, AXIS,
                                 frame, "1.2.3")
    settings = cli.DvhCommandSettings(sampling=SamplingSettings(require_inside_grid=not clip))
    (row,) = cli.run_dvh(dose_path, folder / "rtstruct.dcm", 120.0, ["PTV"], settings)
    return float(row["volume_cm3"])


def test_a_structure_beyond_the_grid_is_refused_by_default_with_the_option_named(procedure, users, export, tmp_path):
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                files=_with_ptv(export(), tmp_path))
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=CLIP_MAPPING)
    assert imp.status == DicomImport.Status.FAILED and not imp.clip_to_grid
    assert "structure 'PTV'" in imp.error and "outside the dose grid" in imp.error, imp.error
    assert "tick “Clip structures to the dose grid” and retry" in imp.error
    assert "require_inside_grid" not in imp.error  # the engine's name for it means nothing on the page
    assert not DosePlan.objects.exists()


def test_clipped_import_stores_the_volume_left_out_as_the_dvh_command_measures_it(
    procedure, users, export, tmp_path
):
    files = _with_ptv(export(), tmp_path)
    clipped_cm3 = _dvh_command_volume(tmp_path, files, clip=True)
    whole_cm3 = _dvh_command_volume(tmp_path, files, clip=False, x_cm=np.arange(-2.4, 3.6001, 0.2))
    assert whole_cm3 > clipped_cm3 + 0.3  # the PTV really pokes out (0.37 of its 5.57 cm³)

    imp = services.dicom_upload(user=users["physician"], procedure=procedure, kind="pre", files=files)
    imp = services.dicom_import_confirm(user=users["physician"], imp=imp, mapping=CLIP_MAPPING, clip_to_grid=True)
    assert imp.status == DicomImport.Status.DONE, imp.error
    (warning,) = [w for w in imp.warnings if w["code"] == services.CLIPPED_CODE]
    assert warning["structure"] == "PTV" and not warning["blocking"]
    assert warning["outside_cm3"] == pytest.approx(whole_cm3 - clipped_cm3, rel=1e-6)
    assert warning["outside_pct"] == pytest.approx(100 * (whole_cm3 - clipped_cm3) / whole_cm3, rel=1e-6)
    assert f"{whole_cm3 - clipped_cm3:.2f} cm³ ({100 * (whole_cm3 - clipped_cm3) / whole_cm3:.1f} %)" in (
        warning["message"])
    ptv = imp.plan.structures.get(name="PTV")
    assert ptv.volume_cm3 == pytest.approx(clipped_cm3, rel=1e-6)  # the stored metrics are the clipped DVH's
    # only the structure that pokes out is warned about; the TG-43 check is clipped too and stored
    assert [w["structure"] for w in imp.warnings if w["code"] == services.CLIPPED_CODE] == ["PTV"]
    check = DosePlan.objects.get(source=PlanSource.TG43)
    assert check.structures.get(name="PTV").volume_cm3 == pytest.approx(clipped_cm3, rel=1e-6)
    row = imp.history.filter(history_change_reason__contains="clipped").get()
    assert row.history_user == users["physician"] and row.clip_to_grid


def test_a_refused_import_is_retried_clipped_from_its_page_and_the_warning_is_shown(
    login, procedure, users, export, tmp_path
):
    client = login(users["nurse"])
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                files=_with_ptv(export(), tmp_path))
    page = client.get(reverse("dosimetry:dicom_mapping", args=[imp.pk])).content.decode()
    assert 'name="clip_to_grid"' in page and "Clip structures to the dose grid" in page
    form = {f"roi_{i}": CLIP_MAPPING.get(name, "") for i, name in enumerate(imp.roi_names)}
    client.post(reverse("dosimetry:dicom_mapping", args=[imp.pk]), form)
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED
    status_page = client.get(reverse("dosimetry:dicom_status", args=[imp.pk])).content.decode()
    assert 'id="retry-form"' in status_page and 'name="clip_to_grid"' in status_page

    response = client.post(reverse("dosimetry:dicom_retry", args=[imp.pk]), {"clip_to_grid": "on"}, follow=True)
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.DONE and imp.clip_to_grid, imp.error
    (warning,) = [w for w in imp.warnings if w["code"] == services.CLIPPED_CODE]
    assert warning["outside_cm3"] > 0.3
    shown = client.get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert f"{warning['outside_cm3']:.2f} cm³ ({warning['outside_pct']:.1f} %)" in shown
    assert response.status_code == 200
    assert imp.history.filter(history_change_reason__contains="structures clipped to the dose grid").exists()


@settings(max_examples=12, deadline=None)
@given(centre=st.tuples(st.floats(-1.6, 1.6), st.floats(-1.6, 1.6), st.floats(-1.6, 1.6)),
       radius=st.floats(0.4, 1.2), dz=st.sampled_from([0.1, 0.2, 0.25]))
def test_volume_outside_is_what_a_grid_holding_the_whole_structure_adds_to_the_clipped_dvh(centre, radius, dz):
    """On a 0.2 cm grid with edges at ±1.5 cm, a sphere anywhere (also through the top or bottom frames, where
    only its end slab pokes out): clipped DVH volume + volume outside = the DVH volume on a grid holding it all."""
    axis = np.arange(-1.4, 1.4001, 0.2)
    small = dvh_core.DoseGrid(np.ones((axis.size,) * 3, dtype=np.float32), axis, axis, axis)
    wide_axis = np.arange(-3.4, 3.4001, 0.2)
    wide = dvh_core.DoseGrid(np.ones((wide_axis.size,) * 3, dtype=np.float32), wide_axis, wide_axis, wide_axis)
    contours = dicom_synth.sphere_contours(centre, radius, np.arange(-3.0, 3.0, dz) + 0.013, 48)
    assume(len(contours) >= 2)
    structure = Structure("S", contours)
    clip = SamplingSettings(supersampling=2, require_inside_grid=False)
    try:
        clipped = dvh_core.dvh(structure, small, settings=clip).volume_cm3
    except dvh_core.DVHError:  # the sphere misses the grid entirely (nothing to clip to)
        assume(False)
    whole = dvh_core.dvh(structure, wide, settings=SamplingSettings(supersampling=2)).volume_cm3
    outside = rt_metrics.volume_outside_grid(structure, small, clip, clipped)
    if outside is None:
        assert clipped == pytest.approx(whole, rel=1e-6)
    else:  # float32 occupancy on the extended grid: equal within 1e-6
        assert outside.total_cm3 == pytest.approx(whole, rel=1e-6)
        assert clipped + outside.outside_cm3 == pytest.approx(whole, rel=1e-6)
        assert 0 < outside.outside_pct <= 100

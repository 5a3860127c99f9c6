"""Procedures, hand-entered plans, DICOM import with the TG-43 check, pre/post comparison and Table 4."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from assessment.cohort_tables import pre_post_summary
from dosimetry import selectors, services
from dosimetry.models import DicomImport, DosePlan, StructureDose, StructureNameMapping
from dosimetry.plan_checks import check_structure_metrics

pytestmark = pytest.mark.django_db

GTV = {"role": "GTV", "name": "GTV", "volume_cm3": 6.2, "d90_gy": 125.0, "d100_gy": 80.0, "dmean_gy": 190.0,
       "dmax_gy": 600.0, "v100_pct": 95.0, "v150_pct": 66.0, "v200_pct": 35.0}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"v200_pct": 70.0}, "v200_pct", "V200 70% is above V150 66%"),
    ({"v150_pct": 96.0}, "v150_pct", "V150 96% is above V100 95%"),
    ({"d100_gy": 130.0}, "d100_gy", "D100 130 Gy is above D90 125 Gy"),
    ({"v100_pct": 101.0}, "v100_pct", "V100 101% must be between 0 and 100%"),
    ({"dmean_gy": 700.0}, "dmean_gy", "Dmean 700 Gy is above Dmax 600 Gy"),
])
def test_hand_entry_checks_name_the_relation(change, field, message):
    errors = check_structure_metrics({**GTV, **change})
    assert message in errors[field]


def test_consistent_metrics_pass_the_checks():
    assert check_structure_metrics(GTV) == {}


def test_prescription_outside_the_protocol_range_warns_but_saves(procedure, users):
    saved, warnings = services.procedure_save(user=users["nurse"], patient=procedure.patient,
                                              lesions=procedure.lesions.all(), procedure=procedure,
                                              data={"prescription_gy": Decimal("150")})
    assert warnings == ["Prescription 150 Gy is outside the protocol range 110–140 Gy."]
    saved.refresh_from_db()
    assert saved.prescription_gy == Decimal("150")


def test_deviation_needs_a_reason_and_seeds_must_be_positive(procedure, users):
    with pytest.raises(ValidationError) as exc:
        services.procedure_save(user=users["nurse"], patient=procedure.patient, lesions=procedure.lesions.all(),
                                procedure=procedure, data={"deviation_from_plan": True, "seeds_implanted": 0})
    assert "reason" in exc.value.message_dict["deviation_reason"][0]
    assert "Seeds implanted 0 must be between 1 and 300" in exc.value.message_dict["seeds_implanted"][0]


def test_hand_entered_plan_computes_hi_and_a_failed_replacement_keeps_the_old_plan(procedure, users):
    plan = services.plan_save(user=users["nurse"], procedure=procedure, kind="pre", source="manual",
                              plan_data={"seed_count": 8, "prescription_gy": Decimal("120")}, structures=[GTV])
    gtv = plan.structures.get()
    assert gtv.hi == pytest.approx((95 - 66) / 95)
    with pytest.raises(ValidationError):
        services.plan_save(user=users["nurse"], procedure=procedure, kind="pre", source="manual",
                           plan_data={"prescription_gy": Decimal("120")},
                           structures=[{**GTV, "d100_gy": 200.0}])
    assert DosePlan.objects.get(procedure=procedure, kind="pre").pk == plan.pk  # nothing half-saved
    assert StructureDose.objects.filter(plan=plan).count() == 1


def test_dicom_import_end_to_end_with_tg43_check(procedure, users, export):
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    assert set(imp.roi_names) == {"GTV_L1", "Skin"}
    assert imp.mapping == {"GTV_L1": "GTV", "Skin": "skin"}  # guessed from the names
    assert {f.modality for f in imp.files.all()} == {"RTDOSE", "RTSTRUCT", "RTPLAN"}
    assert all(len(f.sha256) == 64 for f in imp.files.all())
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping={"GTV_L1": "GTV", "Skin": ""})
    assert imp.status == DicomImport.Status.DONE, imp.error
    plan = DosePlan.objects.get(procedure=procedure, kind="pre", source="dicom")
    gtv = plan.structures.get(role="GTV")
    assert gtv.volume_cm3 == pytest.approx(4 / 3 * 3.14159 * 1.0**3, rel=0.03)  # 1 cm sphere, 2 mm grid
    assert gtv.d100_gy <= gtv.d90_gy <= gtv.dmax_gy
    assert len(gtv.dvh["dose_gy"]) <= 200 and gtv.dvh["volume_pct"][0] == pytest.approx(100)
    assert plan.seed_count == 8
    # The mapping is remembered for the site.
    assert StructureNameMapping.objects.get(site=procedure.patient.site, roi_name="gtv_l1").role == "GTV"
    cmp = services.compare_pre_post(procedure)
    d90 = cmp.tg43_checks["pre"][0]
    assert d90["metric"] == "D90 (Gy)" and abs(d90["diff_pct"]) < 5 and not d90["flagged"]


def test_dicom_import_with_mismatched_frame_fails_with_one_line(procedure, users, export):
    from pydicom.uid import generate_uid

    files = export()
    other = dict(export("other", frame=generate_uid()))
    files = [(name, other["rtstruct.dcm"] if name == "rtstruct.dcm" else content) for name, content in files]
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=files)
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping={"GTV_L1": "GTV"})
    assert imp.status == DicomImport.Status.FAILED
    assert "FrameOfReferenceUID (0020,0052)" in imp.error and "\n" not in imp.error
    assert not DosePlan.objects.filter(procedure=procedure).exists()


def test_upload_refuses_a_non_rt_file_naming_it(procedure, users, export):
    with pytest.raises(ValidationError) as exc:
        services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                              files=[("notes.txt", b"hello"), *export()])
    assert "notes.txt" in exc.value.message_dict["files"][0]
    assert not DicomImport.objects.exists()


def test_pre_post_comparison_and_table4(procedure, users):
    services.plan_save(user=users["nurse"], procedure=procedure, kind="pre", source="manual",
                       plan_data={"seed_count": 9, "prescription_gy": Decimal("120")}, structures=[GTV])
    services.plan_save(user=users["nurse"], procedure=procedure, kind="post", source="manual",
                       plan_data={"prescription_gy": Decimal("120")},
                       structures=[{**GTV, "d90_gy": 110.0, "d100_gy": 70.0}])
    cmp = services.compare_pre_post(procedure)
    row = next(r for r in cmp.rows if r["key"] == "d90_gy")
    assert (row["pre"], row["post"], row["diff"]) == (125.0, 110.0, -15.0)
    assert (cmp.seeds_planned, cmp.seeds_implanted) == (9, 8)
    table = pre_post_summary(selectors.pre_post_pairs([procedure]))
    assert table["n_pairs"] == 1 and table["post_d90_below_rx"] == 1  # 110 Gy < Rx 120 Gy
    assert table["rows"][0]["pre"] is None  # fewer than 3 pairs: no test


def test_imports_are_dated_and_audited(procedure, users):
    services.plan_save(user=users["nurse"], procedure=procedure, kind="pre", source="manual",
                       plan_data={"prescription_gy": Decimal("120")}, structures=[GTV])
    assert DosePlan.history.filter(history_user=users["nurse"]).exists()
    assert procedure.date == dt.date(2018, 2, 5)

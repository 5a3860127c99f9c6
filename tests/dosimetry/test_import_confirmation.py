"""DICOM import checked against the patient and the procedure: blocking warnings need a physician's reason."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.uid import generate_uid

from dosimetry import services
from dosimetry.models import DicomImport, DosePlan

pytestmark = pytest.mark.django_db

MAPPING = {"GTV_L1": "GTV", "Skin": ""}


def _codes(imp):
    return [w["code"] for w in imp.warnings]


def test_matching_export_has_no_warning_and_stores_the_header_facts(procedure, users, export):
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    assert imp.warnings == [] and not imp.needs_confirmation
    assert (imp.patient_id, imp.patient_name) == ("MRN-1", "DOE^JANE")
    assert imp.study_instance_uid and imp.frame_of_reference_uid
    assert imp.history.earliest("history_id").history_user == users["nurse"]
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=MAPPING)
    assert imp.status == DicomImport.Status.DONE, imp.error


def test_another_patients_files_block_a_nurse_with_the_reason(procedure, users, export):
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                files=export(patient=("SYNTH-0001", "Synthetic^Patient")))
    assert _codes(imp)[:2] == ["patient_id_mismatch", "patient_name_mismatch"] and imp.needs_confirmation
    with pytest.raises(ValidationError) as exc:
        services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=MAPPING)
    message = exc.value.message_dict["override_reason"][0]
    assert message.startswith("A physician must confirm: ")
    assert "PatientID (0010,0020) 'SYNTH-0001' does not match the patient's record number 'MRN-1'" in message
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.UPLOADED and not DosePlan.objects.exists()


def test_a_physician_needs_a_reason_then_the_import_runs_and_the_override_is_stored(procedure, users, export):
    imp = services.dicom_upload(user=users["physician"], procedure=procedure, kind="pre",
                                files=export(patient=("MRN-1", "DOE^JOAN")))
    assert _codes(imp) == ["patient_name_mismatch"] * 3  # RTDOSE, RTSTRUCT, RTPLAN
    with pytest.raises(ValidationError) as exc:
        services.dicom_import_confirm(user=users["physician"], imp=imp, mapping=MAPPING, override_reason=" ok ")
    assert "Give the reason for importing despite the warnings (at least 5 characters)" in (
        exc.value.message_dict["override_reason"][0])
    imp = services.dicom_import_confirm(user=users["physician"], imp=imp, mapping=MAPPING,
                                        override_reason="Name misspelt in the TPS; MRN verified")
    assert imp.status == DicomImport.Status.DONE, imp.error
    assert imp.overridden_by == users["physician"] and imp.overridden_at is not None
    assert imp.override_reason == "Name misspelt in the TPS; MRN verified"
    row = imp.history.filter(history_change_reason__startswith="imported despite").get()
    assert row.history_change_reason == ("imported despite patient_name_mismatch, patient_name_mismatch, "
                                         "patient_name_mismatch: Name misspelt in the TPS; MRN verified")
    assert row.history_user == users["physician"]


def test_run_import_refuses_unconfirmed_blocking_warnings_whoever_calls_it(procedure, users, export):
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                files=export(patient=("OTHER", "DOE^JANE")))
    assert services.run_import(imp.pk, users["nurse"]) is None
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED and imp.error.startswith("A physician must confirm: ")
    assert not DosePlan.objects.exists()


def test_reimport_with_another_study_or_frame_than_the_phases_earlier_import_blocks(procedure, users, export):
    first = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    services.dicom_import_confirm(user=users["nurse"], imp=first, mapping=MAPPING)
    again = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                  files=export("again", frame=generate_uid(), study=generate_uid()))
    assert _codes(again) == ["study_differs_from_earlier", "frame_differs_from_earlier"]
    assert f"earlier pre-plan import #{first.pk} of this procedure" in again.warnings[0]["message"]
    # The post-implant CT is another study: not compared with the pre-plan's import.
    post = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="post",
                                 files=export("post", frame=generate_uid(), study=generate_uid()))
    assert post.warnings == []


def test_plan_facts_against_the_procedure_are_flagged_and_do_not_block(procedure, users, export):
    import numpy as np

    seeds = np.array([[x, y, z] for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.3, 0.0, 0.3)])
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="post",
                                files=export("post12", seed_positions=seeds, prescription_gy=130.0))
    assert _codes(imp) == ["prescription_mismatch", "seed_count_mismatch"] and not imp.needs_confirmation
    assert imp.warnings[1]["message"] == "The plan has 12 seeds; the procedure records 8 seeds implanted."
    imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=MAPPING)
    assert imp.status == DicomImport.Status.DONE, imp.error


def _upload(client, procedure, files):
    response = client.post(reverse("dosimetry:dicom_upload", args=[procedure.pk]), {
        "kind": "pre", "files": [SimpleUploadedFile(name, content) for name, content in files]})
    assert response.status_code == 302
    return DicomImport.objects.latest("pk")


def _mapping_post(imp, **extra):
    return {f"roi_{i}": "GTV" if name == "GTV_L1" else "" for i, name in enumerate(imp.roi_names)} | extra


def test_nurse_sees_the_warnings_on_the_mapping_page_and_cannot_import(login, users, procedure, export):
    client = login(users["nurse"])
    imp = _upload(client, procedure, export(patient=("SYNTH-0001", "DOE^JANE")))
    url = reverse("dosimetry:dicom_mapping", args=[imp.pk])
    page = client.get(url).content.decode()
    assert "PatientID (0010,0020) &#x27;SYNTH-0001&#x27; does not match" in page
    assert "A physician must confirm" in page and 'name="override_reason"' not in page
    response = client.post(url, _mapping_post(imp))
    assert response.status_code == 200
    assert "A physician must confirm: rtdose.dcm: PatientID" in response.content.decode()
    assert not DosePlan.objects.exists()


def test_physician_confirms_on_the_page_and_the_procedure_page_shows_it(login, users, procedure, export):
    client = login(users["physician"])
    imp = _upload(client, procedure, export(patient=("SYNTH-0001", "DOE^JANE")))
    url = reverse("dosimetry:dicom_mapping", args=[imp.pk])
    assert 'name="override_reason"' in client.get(url).content.decode()
    response = client.post(url, _mapping_post(imp, override_reason=""))
    assert "at least 5 characters" in response.content.decode() and not DosePlan.objects.exists()
    response = client.post(url, _mapping_post(imp, override_reason="TPS uses the old MRN; checked"))
    assert response.status_code == 302
    assert DosePlan.objects.filter(source="dicom").exists()
    page = client.get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert "Confirmed by physician_a" in page and "TPS uses the old MRN; checked" in page
    assert "&#x27;SYNTH-0001&#x27; does not match the patient&#x27;s record number" in page


def test_reviewer_sees_check_codes_not_identifiers_or_the_reason(login, users, procedure, export):
    imp = services.dicom_upload(user=users["physician"], procedure=procedure, kind="pre",
                                files=export(patient=("SYNTH-0001", "DOE^JANE")))
    services.dicom_import_confirm(user=users["physician"], imp=imp, mapping=MAPPING,
                                  override_reason="TPS uses the old MRN; checked")
    page = login(users["reviewer"]).get(reverse("dosimetry:procedure_detail", args=[procedure.pk])).content.decode()
    assert "patient_id_mismatch" in page
    assert "SYNTH-0001" not in page and "MRN-1" not in page and "old MRN" not in page


def test_checks_run_again_at_the_import_when_another_import_finished_meanwhile(procedure, users, export):
    first = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    other = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre",
                                  files=export("other", frame=generate_uid(), study=generate_uid()))
    assert other.warnings == []  # nothing to compare with yet
    services.dicom_import_confirm(user=users["nurse"], imp=first, mapping=MAPPING)
    with pytest.raises(ValidationError) as exc:
        services.dicom_import_confirm(user=users["nurse"], imp=other, mapping=MAPPING)
    assert "The checks changed since the upload; review them: StudyInstanceUID (0020,000D)" in (
        exc.value.message_dict["override_reason"][0])
    other.refresh_from_db()
    assert _codes(other) == ["study_differs_from_earlier", "frame_differs_from_earlier"]
    with pytest.raises(ValidationError) as exc:  # now the usual rule: a physician must confirm
        services.dicom_import_confirm(user=users["nurse"], imp=other, mapping=MAPPING)
    assert exc.value.message_dict["override_reason"][0].startswith("A physician must confirm: StudyInstanceUID")
    assert DosePlan.objects.filter(procedure=procedure, kind="pre", source="dicom").count() == 1

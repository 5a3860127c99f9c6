"""The pure checks of a DICOM export against the registry (dosimetry.import_checks) and the header reader."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dosimetry.dicom_io import DicomHeader, read_header
from dosimetry.import_checks import (
    EarlierImport,
    ExportFacts,
    PatientIdentity,
    PlanFacts,
    ProcedureFacts,
    _fold,
    check_export,
    names_match,
)

PATIENT = PatientIdentity("MRN-1", "Doe", "Jane")
PROCEDURE = ProcedureFacts(prescription_gy=120.0, seeds_implanted=8, seed_model_code="6711", kind="pre")


def header(name="rtdose.dcm", modality="RTDOSE", pid="MRN-1", pname="DOE^JANE", study="1.2.3", frame="1.2.9",
           dose_type="PHYSICAL", summation="PLAN"):
    is_dose = modality == "RTDOSE"
    return DicomHeader(name, modality, pid, pname, study, frame, dose_type if is_dose else None,
                       summation if is_dose else None)


def export(*headers, plan=None):
    return ExportFacts(tuple(headers) or (header(), header("rtstruct.dcm", "RTSTRUCT")),
                       plan or PlanFacts(120.0, 8, ("6711",)))


def codes(warnings):
    return [w["code"] for w in warnings]


def test_a_consistent_export_gives_no_warning():
    assert check_export(export(), PATIENT, PROCEDURE, [EarlierImport(3, "1.2.3", "1.2.9")]) == []


def test_patient_id_mismatch_blocks_and_names_both_values():
    [w] = check_export(export(header(pid="SYNTH-0001")), PATIENT, PROCEDURE)
    assert w == {"code": "patient_id_mismatch", "blocking": True,
                 "message": "rtdose.dcm: PatientID (0010,0020) 'SYNTH-0001' does not match the patient's record "
                            "number 'MRN-1'."}


def test_missing_identifiers_block():
    warnings = check_export(export(header(pid="", pname=None)), PATIENT, PROCEDURE)
    assert codes(warnings) == ["patient_id_missing", "patient_name_missing"]
    assert all(w["blocking"] for w in warnings)
    assert "PatientName (0010,0010) is empty; the patient is 'Doe, Jane'" in warnings[1]["message"]


@pytest.mark.parametrize("dicom_name", ["DOE^JANE", "Doe^Jane", " doe ^ jane ", "DOE^JANE^MARIE", "Doe^Jane Marie",
                                        "DOE^JANE^^^", "Doe Jane", "Jane Doe"])
def test_patient_name_tolerates_dicom_format_case_and_middle_names(dicom_name):
    assert names_match(dicom_name, "Doe", "Jane")


@pytest.mark.parametrize("dicom_name", ["DOE^JOHN", "ROE^JANE", "JANE^DOE", "DOE", "DOE^JANET", "Synthetic^Patient"])
def test_patient_name_mismatch_is_caught(dicom_name):
    assert not names_match(dicom_name, "Doe", "Jane")
    [w] = check_export(export(header(pname=dicom_name)), PATIENT, PROCEDURE)
    assert w["code"] == "patient_name_mismatch" and w["blocking"]
    assert f"{dicom_name.strip()!r} does not match the patient's name 'Doe, Jane'" in w["message"]


def test_accents_are_ignored():
    assert names_match("MULLER^JOSE", "Müller", "José")


_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé", min_size=1, max_size=12)


@given(_part, _part, st.sampled_from([str.upper, str.lower, str.title]))
def test_any_registry_name_written_the_dicom_way_matches(family, given_name, case):
    assert names_match(case(f"{family}^{given_name}"), family, given_name)


@given(_part, _part, _part)
def test_another_family_name_never_matches(family, given_name, other):
    assume(_fold(other) != _fold(family))
    assert not names_match(f"{other}^{given_name}", family, given_name)


def test_files_of_two_studies_block():
    warnings = check_export(export(header(), header("rtstruct.dcm", "RTSTRUCT", study="9.9")), PATIENT, PROCEDURE)
    assert codes(warnings) == ["study_mismatch_in_export"]
    assert warnings[0]["blocking"]
    assert "2 studies (StudyInstanceUID (0020,000D)): 1.2.3 in rtdose.dcm; 9.9 in rtstruct.dcm" in (
        warnings[0]["message"])


def test_another_study_or_frame_than_an_earlier_import_of_the_phase_blocks():
    warnings = check_export(export(), PATIENT, PROCEDURE, [EarlierImport(4, "7.7", "8.8")])
    assert codes(warnings) == ["study_differs_from_earlier", "frame_differs_from_earlier"]
    assert all(w["blocking"] for w in warnings)
    assert warnings[0]["message"] == ("StudyInstanceUID (0020,000D) 1.2.3 of this export differs from 7.7 of the "
                                      "earlier pre-plan import #4 of this procedure.")
    assert "FrameOfReferenceUID (0020,0052) 1.2.9 of this export differs from 8.8" in warnings[1]["message"]


def test_plan_against_the_procedure_is_flagged_not_blocking():
    warnings = check_export(export(plan=PlanFacts(145.0, 10, ("2301",))), PATIENT, PROCEDURE)
    assert codes(warnings) == ["prescription_mismatch", "seed_count_mismatch", "seed_model_mismatch"]
    assert not any(w["blocking"] for w in warnings)
    assert "TargetPrescriptionDose (300A,0026)) 145 Gy differs from the procedure's 120 Gy" in warnings[0]["message"]
    assert warnings[1]["message"] == "The plan has 10 seeds; the procedure records 8 seeds implanted."
    assert "'2301' is not the procedure's seed model '6711'" in warnings[2]["message"]


@pytest.mark.parametrize(("rx", "flagged"), [(120.0, False), (120.04, False), (120.1, True), (119.9, True)])
def test_prescription_tolerance(rx, flagged):
    warnings = check_export(export(plan=PlanFacts(rx, 8, ("6711",))), PATIENT, PROCEDURE)
    assert ("prescription_mismatch" in codes(warnings)) is flagged


@pytest.mark.parametrize("model_id", ["6711", "oncoseed 6711", " 6711 "])
def test_seed_model_id_written_with_the_model_name_matches(model_id):
    assert check_export(export(plan=PlanFacts(120.0, 8, (model_id,))), PATIENT, PROCEDURE) == []


def test_no_plan_facts_no_plan_warnings():
    assert check_export(export(plan=PlanFacts()), PATIENT, PROCEDURE) == []


@pytest.mark.parametrize(("dose_type", "summation", "expected"), [
    ("EFFECTIVE", "PLAN", ["dose_type"]),
    ("PHYSICAL", "BEAM", ["dose_summation_type"]),
    (None, None, ["dose_summation_type", "dose_type"]),
])
def test_dose_grid_type_other_than_physical_plan_is_flagged(dose_type, summation, expected):
    warnings = check_export(export(header(dose_type=dose_type, summation=summation)), PATIENT, PROCEDURE)
    assert codes(warnings) == expected and not any(w["blocking"] for w in warnings)
    if dose_type == "EFFECTIVE":
        assert warnings[0]["message"] == "rtdose.dcm: DoseType (3004,0004) is 'EFFECTIVE', not 'PHYSICAL'."
    if summation == "BEAM":
        assert "DoseSummationType (3004,000A) is 'BEAM', not 'PLAN'" in warnings[0]["message"]


def test_read_header_reads_identity_study_frame_and_dose_type(export):
    files = dict(export(patient=("X-9", "ROE^RICHARD")))
    dose = read_header(files["rtdose.dcm"], "rtdose.dcm")
    struct = read_header(files["rtstruct.dcm"], "rtstruct.dcm")
    assert (dose.modality, dose.patient_id, dose.patient_name) == ("RTDOSE", "X-9", "ROE^RICHARD")
    assert (dose.dose_type, dose.dose_summation_type) == ("PHYSICAL", "PLAN")
    assert struct.frame_of_reference_uid == dose.frame_of_reference_uid  # from ReferencedFrameOfReferenceSequence
    assert struct.study_instance_uid == dose.study_instance_uid and struct.dose_type is None


def test_files_in_two_frames_of_reference_are_announced():
    warnings = check_export(export(header(), header("rtstruct.dcm", "RTSTRUCT", frame="5.5")), PATIENT, PROCEDURE)
    assert codes(warnings) == ["frame_mismatch_in_export"]
    assert warnings[0]["message"] == ("The files have 2 frames of reference (FrameOfReferenceUID (0020,0052)): "
                                      "1.2.9 in rtdose.dcm; 5.5 in rtstruct.dcm; the import refuses them (dose and "
                                      "contours would not line up).")

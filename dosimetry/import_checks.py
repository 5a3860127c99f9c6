"""Checks of a DICOM RT export against what the registry already knows (pure core, no Django).

Data in: the header facts of the export's files (``dicom_io.DicomHeader``), the brachy plan's prescription,
seed count and seed models, the patient's identifiers, the procedure's prescription / seeds implanted / seed
model, and the study and frame-of-reference UIDs of the procedure's earlier imports of the same phase. Out: a
list of warnings ``{"code", "message", "blocking"}`` whose message names both values.

Rules (dosimetry reference §4; the issue "Integrity and clinical safety"):

- The files must belong to the patient: PatientID (0010,0020) equal to the hospital record number (blanks
  around it ignored), PatientName (0010,0010) equal to the registry's family and given names, compared
  tolerant of DICOM's ``Family^Given^Middle`` format, case, accents and extra blanks. A mismatch or an
  absent value **blocks** the import until a physician confirms it with a reason.
- All files of the export share one StudyInstanceUID (0020,000D), and the export has the study and
  FrameOfReferenceUID (0020,0052) of the procedure's earlier imports of the same phase (a pre-plan re-import
  is planned on the same CT; the post-implant CT is another study and is compared only with post imports).
  A difference **blocks** until a physician confirms. Files of one export with different frames of reference
  are announced here and refused outright at the import (their DVH would be meaningless; no override).
- The plan's TargetPrescriptionDose, seed count and SourceModelID are compared with the procedure's
  prescription, seeds implanted and seed model; DoseSummationType other than PLAN and DoseType other than
  PHYSICAL are flagged. These warnings are shown and stored with the import; they do not block it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from dosimetry.dicom_io import DicomHeader

#: Prescriptions closer than this are the same (DS strings and one decimal on the procedure), Gy.
PRESCRIPTION_TOLERANCE_GY = 0.05

BLOCKING_CODES = frozenset({
    "patient_id_mismatch", "patient_id_missing", "patient_name_mismatch", "patient_name_missing",
    "study_mismatch_in_export", "study_differs_from_earlier", "frame_differs_from_earlier",
})


@dataclass(frozen=True)
class PatientIdentity:
    record_number: str
    family_name: str
    given_name: str


@dataclass(frozen=True)
class ProcedureFacts:
    prescription_gy: float
    seeds_implanted: int
    seed_model_code: str
    kind: str  # "pre" or "post"


@dataclass(frozen=True)
class PlanFacts:
    """What the RT Plan says (None where the export has no RT Plan or the plan does not say)."""

    prescription_gy: float | None = None
    seed_count: int | None = None
    source_model_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class EarlierImport:
    import_id: int
    study_instance_uid: str | None
    frame_of_reference_uid: str | None


@dataclass(frozen=True)
class ExportFacts:
    headers: tuple[DicomHeader, ...]
    plan: PlanFacts = field(default_factory=PlanFacts)


def _warning(code: str, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "blocking": code in BLOCKING_CODES}


def _fold(text: str) -> str:
    """Case-, accent- and blank-insensitive form of a name part."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.split(r"[\s,.\-']+", plain.casefold())).strip()


def names_match(dicom_name: str, family_name: str, given_name: str) -> bool:
    """Does a DICOM PatientName denote the registry's family and given names?

    ``Family^Given^Middle^Prefix^Suffix``: the family component must equal the family name and the given
    component must start with the given name (middle names may follow it, in the given component or the next).
    A name without ``^`` (some systems write "Doe Jane") matches when its words are the family and given words.
    """
    family, given = _fold(family_name), _fold(given_name)
    if not family:
        return False
    if "^" in dicom_name:
        parts = [_fold(p) for p in dicom_name.split("^")]
        d_family, d_given = parts[0], " ".join(p for p in parts[1:3] if p)
        if d_family != family:
            return False
        return not given or d_given == given or d_given.startswith(given + " ")
    words = sorted(_fold(dicom_name).split())
    return bool(words) and words == sorted(f"{family} {given}".split())


def _uid_groups(headers: Sequence[DicomHeader], attr: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for h in headers:
        value = getattr(h, attr)
        if value:
            groups.setdefault(value, []).append(h.file_name)
    return groups


def _model_matches(model_id: str, code: str) -> bool:
    """SourceModelID "6711" or "OncoSeed 6711" is the catalogue's 6711; comparison ignores case and blanks."""
    a, b = _fold(model_id), _fold(code)
    return bool(b) and (a == b or b in a.split() or a.replace(" ", "") == b.replace(" ", ""))


def check_export(
    export: ExportFacts, patient: PatientIdentity, procedure: ProcedureFacts,
    earlier: Sequence[EarlierImport] = (),
) -> list[dict[str, object]]:
    """The warnings for one export, in a stable order (identity, study / frame, plan, dose grid)."""
    out: list[dict[str, object]] = []
    record = patient.record_number.strip()
    full_name = f"{patient.family_name}, {patient.given_name}"
    for h in export.headers:
        pid = (h.patient_id or "").strip()
        if not pid:
            out.append(_warning("patient_id_missing", f"{h.file_name}: PatientID (0010,0020) is empty; the "
                                                      f"patient's record number is {record!r}."))
        elif pid != record:
            out.append(_warning("patient_id_mismatch", f"{h.file_name}: PatientID (0010,0020) {pid!r} does not "
                                                       f"match the patient's record number {record!r}."))
        name = (h.patient_name or "").strip()
        if not name:
            out.append(_warning("patient_name_missing", f"{h.file_name}: PatientName (0010,0010) is empty; the "
                                                        f"patient is {full_name!r}."))
        elif not names_match(name, patient.family_name, patient.given_name):
            out.append(_warning("patient_name_mismatch", f"{h.file_name}: PatientName (0010,0010) {name!r} does "
                                                         f"not match the patient's name {full_name!r}."))

    studies = _uid_groups(export.headers, "study_instance_uid")
    if len(studies) > 1:
        listed = "; ".join(f"{uid} in {', '.join(files)}" for uid, files in studies.items())
        out.append(_warning("study_mismatch_in_export",
                            f"The files belong to {len(studies)} studies (StudyInstanceUID (0020,000D)): {listed}."))
    frames = _uid_groups(export.headers, "frame_of_reference_uid")
    if len(frames) > 1:
        listed = "; ".join(f"{uid} in {', '.join(files)}" for uid, files in frames.items())
        out.append(_warning("frame_mismatch_in_export",
                            f"The files have {len(frames)} frames of reference (FrameOfReferenceUID (0020,0052)): "
                            f"{listed}; the import refuses them (dose and contours would not line up)."))
    phase = "pre-plan" if procedure.kind == "pre" else "post-implant"
    for prior in earlier:
        if prior.study_instance_uid and studies and prior.study_instance_uid not in studies:
            out.append(_warning(
                "study_differs_from_earlier",
                f"StudyInstanceUID (0020,000D) {', '.join(studies)} of this export differs from "
                f"{prior.study_instance_uid} of the earlier {phase} import #{prior.import_id} of this procedure."))
        if prior.frame_of_reference_uid and frames and prior.frame_of_reference_uid not in frames:
            out.append(_warning(
                "frame_differs_from_earlier",
                f"FrameOfReferenceUID (0020,0052) {', '.join(frames)} of this export differs from "
                f"{prior.frame_of_reference_uid} of the earlier {phase} import #{prior.import_id} of this "
                "procedure."))

    plan = export.plan
    if plan.prescription_gy is not None and abs(plan.prescription_gy - procedure.prescription_gy) > (
            PRESCRIPTION_TOLERANCE_GY):
        out.append(_warning("prescription_mismatch",
                            f"The plan's prescription (TargetPrescriptionDose (300A,0026)) {plan.prescription_gy:g} "
                            f"Gy differs from the procedure's {procedure.prescription_gy:g} Gy."))
    if plan.seed_count is not None and plan.seed_count != procedure.seeds_implanted:
        out.append(_warning("seed_count_mismatch",
                            f"The plan has {plan.seed_count} seeds; the procedure records "
                            f"{procedure.seeds_implanted} seeds implanted."))
    for model_id in plan.source_model_ids:
        if not _model_matches(model_id, procedure.seed_model_code):
            out.append(_warning("seed_model_mismatch",
                                f"The plan's seed model (SourceModelID (300A,021B)) {model_id!r} is not the "
                                f"procedure's seed model {procedure.seed_model_code!r}."))

    for h in export.headers:
        if h.modality != "RTDOSE":
            continue
        if h.dose_summation_type != "PLAN":
            value = repr(h.dose_summation_type) if h.dose_summation_type else "absent"
            out.append(_warning("dose_summation_type",
                                f"{h.file_name}: DoseSummationType (3004,000A) is {value}, not 'PLAN': the grid "
                                "may not be the whole implant's dose."))
        if h.dose_type != "PHYSICAL":
            value = repr(h.dose_type) if h.dose_type else "absent"
            out.append(_warning("dose_type",
                                f"{h.file_name}: DoseType (3004,0004) is {value}, not 'PHYSICAL'."))
    return out


def blocking(warnings: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    return [w for w in warnings if w.get("blocking")]

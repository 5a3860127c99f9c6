"""Writes and derived views of the dosimetry app: procedures, hand-entered plans, DICOM RT import with the TG-43
check, the pre/post comparison and the cohort's Table 4. Transactions, audit and validation as in the registry."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, close_old_connections, models, transaction
from django.utils import timezone

from common.errors import InputError
from common.protocol import section_settings
from common.writes import assign, differs_from_db, is_replacing, save_validated, set_history
from dosimetry import import_checks, rt_metrics
from dosimetry.dicom_io import (
    DicomHeader,
    DicomImportError,
    DicomReadSettings,
    check_same_frame_of_reference,
    read_header,
    read_rtdose,
    read_rtplan_seeds,
    read_rtstruct,
    sniff_modality,
)
from dosimetry.dvh import ContourOutsideGridError
from dosimetry.models import (
    DicomFile,
    DicomImport,
    DosePlan,
    ImplantProcedure,
    PlanKind,
    PlanSource,
    StructureDose,
    StructureNameMapping,
    StructureRole,
)
from dosimetry.protocol import DosimetrySettings
from dosimetry.selectors import default_plan_of_record, plan_of_record, reasons_for_patient, target_of
from registry import dataversion, derived
from registry.models import Patient, Site
from registry.roles import SIGN_OFF_PERMISSION
from registry.services import require_sign_off

logger = logging.getLogger(__name__)

#: The Celery task that runs an import (dosimetry/tasks.py), sent by name.
IMPORT_TASK = "dosimetry.import_dicom"

METRIC_KEYS = ("volume_cm3", "d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy", "v100_pct", "v150_pct",
               "v200_pct", "ci", "ei")


def protocol_settings() -> DosimetrySettings:
    """The protocol's dosimetry section: prescription range, TG-43 check flag, DVH supersampling and end caps."""
    return section_settings("dosimetry", DosimetrySettings)


# --- procedures ------------------------------------------------------------------------------------------------

# Facts of the procedure the dosimetry sign-off also covers: changing one withdraws it.
SIGNED_PROCEDURE_FACTS = ("prescription_gy", "seeds_implanted", "seed_model", "activity_per_seed_mbq",
                          "activity_calibration_date", "date")


def _fact(value: Any) -> str:
    return getattr(value, "code", None) or str(value)


def _fact_label(name: str) -> str:
    # SIGNED_PROCEDURE_FACTS are columns of the procedure, never a reverse relation
    return str(cast("models.Field[Any, Any]", ImplantProcedure._meta.get_field(name)).verbose_name)


class UnconfirmedWarnings(ValidationError):
    """A save would produce warnings nobody accepted yet; ``warnings`` lists them (nothing was saved)."""

    def __init__(self, warnings: list[dict[str, str]], message: str) -> None:
        super().__init__({"override_reason": message})
        self.warnings = warnings


def _accept_deviations(procedure: ImplantProcedure, user: User, override_reason: str) -> str:
    """Check the protocol deviations an implant of this patient on this date would have (before any save).

    Warnings a physician already accepted on this record are not asked again; new ones need a physician
    (perm ``registry.sign_off``) and a reason of at least 5 characters. Returns the history reason ("" if none).
    """
    if procedure.date is None:
        return ""
    warnings = reasons_for_patient(procedure.patient, procedure.date)
    accepted = {w["code"] for w in procedure.accepted_warnings} if procedure.overridden_at else set()
    if not warnings or {w["code"] for w in warnings} <= accepted:
        return ""
    listed = " ".join(w["message"] for w in warnings)
    if not user.has_perm(f"registry.{SIGN_OFF_PERMISSION}"):
        raise UnconfirmedWarnings(warnings, f"A physician must confirm: {listed}")
    reason = (override_reason or "").strip()
    if len(reason) < 5:
        raise UnconfirmedWarnings(warnings, "Give the reason for saving despite the protocol deviation "
                                            f"(at least 5 characters): {listed}")
    procedure.accepted_warnings, procedure.override_reason = warnings, reason
    procedure.overridden_by, procedure.overridden_at = user, timezone.now()
    return "saved despite " + ", ".join(w["code"] for w in warnings) + f": {reason}"


# What each service lets its caller set (common.writes whitelists): the facts of the procedure and plan forms.
PROCEDURE_FIELDS = (
    "date", "operator", "ct_scanner", "anaesthesia", "positioning_aids", "needles", "seed_model", "seeds_implanted",
    "activity_per_seed_mbq", "activity_calibration_date", "prescription_gy", "intraoperative_events",
    "deviation_from_plan", "deviation_reason",
)
PLAN_FIELDS = ("seed_count", "prescription_gy", "mpd_gy", "tps_name", "notes")


@transaction.atomic
def procedure_save(
    *, user: User, patient: Patient, data: Mapping[str, Any], lesions: Iterable, procedure: ImplantProcedure | None = None,
    check_deviations: bool = False, override_reason: str = "",
) -> tuple[ImplantProcedure, list[str]]:
    """Save a procedure and its treated lesions; returns it with the protocol warnings (not refusals).

    With ``check_deviations`` (the procedure form) an implant of a patient not assessed eligible or not
    RAI-refractory at the implant is not saved until a physician accepts the deviation with a reason
    (``UnconfirmedWarnings`` otherwise); scripts and imports save and the deviation is listed on the dashboard.
    """
    lesions = list(lesions)
    if not lesions:
        raise ValidationError({"lesions": "Choose at least one treated lesion."})
    foreign = [le.label for le in lesions if le.patient_id != patient.pk]
    if foreign:
        raise ValidationError({"lesions": f"Lesions {', '.join(foreign)} belong to another patient."})
    before = {f: getattr(procedure, f) for f in SIGNED_PROCEDURE_FACTS} if procedure is not None else {}
    lesions_before = set(procedure.lesions.values_list("pk", flat=True)) if procedure is not None else set()
    procedure = assign(procedure or ImplantProcedure(patient=patient), data, fields=PROCEDURE_FIELDS)
    reason = ""
    # a save that changes nothing stores nothing, so it asks for no confirmation either
    changes = differs_from_db(procedure) or lesions_before != {le.pk for le in lesions}
    if check_deviations and changes:
        procedure.full_clean()  # refusals first: warnings are asked only of a record that could be saved
        reason = _accept_deviations(procedure, user, override_reason)
    save_validated(procedure, user=user, reason=reason)
    changed = [f"{_fact_label(f)} {_fact(before[f])} → {_fact(getattr(procedure, f))}"
               for f in before if before[f] != getattr(procedure, f)]
    if changed and procedure.signed_off_at:
        _withdraw_sign_off(procedure, user, "the procedure's " + "; ".join(changed))
    procedure.lesions.set(lesions)
    derived.facts_changed(patient)  # the implant date is day 0 of every follow-up category
    return procedure, procedure.warnings()


# --- hand-entered plans ----------------------------------------------------------------------------------------

def _structure_row(plan: DosePlan, row: Mapping[str, Any], user: User | None) -> StructureDose:
    unknown = set(row) - {"role", "name", "dvh", *METRIC_KEYS}
    if unknown:
        raise ValidationError({"structures": f"Unknown structure fields: {', '.join(sorted(unknown))}."})
    if row.get("role") not in StructureRole.values:
        raise ValidationError({"role": f"Structure role {row.get('role')!r} is not one of {', '.join(StructureRole.values)}."})
    metrics = {}
    for key in METRIC_KEYS:
        value = row.get(key)
        try:
            metrics[key] = None if value is None else float(value)
        except (TypeError, ValueError):
            raise ValidationError({key: f"{key} {value!r} is not a number."}) from None
    structure = StructureDose(plan=plan, role=row["role"], name=row.get("name") or "", **metrics)
    structure.dvh = row.get("dvh") or {}
    if structure.volume_cm3 is None:
        raise ValidationError({"volume_cm3": f"Give the volume (cm³) of {structure.role}."})
    return save_validated(structure, user=user)


@transaction.atomic
def plan_save(
    *, user: User | None, procedure: ImplantProcedure, kind: str, source: str, plan_data: Mapping[str, Any],
    structures: Sequence[Mapping[str, Any]],
) -> DosePlan:
    """Create or replace the plan of this kind and source with its structures (all or nothing).

    ``user`` None: an import whose user no longer exists (no acting user on the history rows).
    """
    if kind not in PlanKind.values:
        raise ValidationError({"kind": f"Plan kind {kind!r} is not one of {', '.join(PlanKind.values)}."})
    if not any(s.get("role") in ("GTV", "PTV") for s in structures):
        raise ValidationError({"structures": "A plan needs the metrics of at least a GTV or a PTV."})
    replaced = DosePlan.objects.filter(procedure=procedure, kind=kind, source=source).first()
    if replaced is not None:
        # replacing: _settle_plan_of_record below decides, not after_plan_deleted
        set_history(replaced, user, f"replaced by a new {replaced.get_source_display().lower()}", replacing=True)
        replaced.delete()
    plan = assign(DosePlan(procedure=procedure, kind=kind, source=source), plan_data, fields=PLAN_FIELDS)
    if plan.prescription_gy is None:
        plan.prescription_gy = procedure.prescription_gy
    save_validated(plan, user=user)
    for row in structures:
        _structure_row(plan, row, user)
    _settle_plan_of_record(procedure, kind, user, plan, replaced)
    return plan


# --- the plan of record and the dosimetry sign-off ---------------------------------------------------------------


def plan_label(plan: DosePlan) -> str:
    """"DICOM import plan #12 (D90 118.2 Gy)": what a history row or the sign-off names."""
    target = target_of(plan)
    d90 = f" (D90 {target.d90_gy:.1f} Gy)" if target is not None and target.d90_gy is not None else ""
    return f"{plan.get_source_display()} plan #{plan.pk}{d90}"


# user None: a plan deleted outside the services (no acting user on the history row).
def _mark_record(plan: DosePlan, user: User | None, reason: str, *, chosen_by: User | None = None) -> None:
    plan.is_plan_of_record, plan.record_chosen_by = True, chosen_by
    set_history(plan, user, reason)
    plan.save(update_fields=["is_plan_of_record", "record_chosen_by"])


def _unmark_record(plan: DosePlan, user: User | None, reason: str) -> None:
    plan.is_plan_of_record, plan.record_chosen_by = False, None
    set_history(plan, user, reason)
    plan.save(update_fields=["is_plan_of_record", "record_chosen_by"])


def _settle_plan_of_record(procedure: ImplantProcedure, kind: str, user: User | None, new: DosePlan,
                           replaced: DosePlan | None) -> None:
    """Keep exactly one plan of record in the phase after ``new`` was added (replacing ``replaced``).

    A re-entered / re-imported plan of record stays the plan of record (its metrics changed); a plan chosen
    explicitly stays chosen; otherwise the default applies. Any change withdraws the dosimetry sign-off.
    """
    phase = PlanKind(kind).label.lower()
    plans = list(DosePlan.objects.filter(procedure=procedure, kind=kind).prefetch_related("structures"))
    current = next((p for p in plans if p.is_plan_of_record), None)
    if replaced is not None and replaced.is_plan_of_record:
        renewed = next(p for p in plans if p.pk == new.pk)
        _mark_record(renewed, user, f"plan of record ({phase}): {replaced.get_source_display()} plan "
                                    f"#{replaced.pk} → {plan_label(renewed)} (re-entered)",
                     chosen_by=replaced.record_chosen_by)
        _withdraw_sign_off(procedure, user, f"the {phase} plan of record's metrics changed "
                                            f"(plan #{replaced.pk} → {plan_label(renewed)})")
        return
    if current is not None and current.record_chosen_by_id is not None:
        return  # an explicit choice stands until someone changes it
    target = default_plan_of_record(plans, kind)
    if target is None or (current is not None and target.pk == current.pk):
        return
    change = f"{plan_label(current)} → {plan_label(target)}" if current else f"none → {plan_label(target)}"
    if current is not None:
        _unmark_record(current, user, f"plan of record ({phase}): {change} (default)")
    _mark_record(target, user, f"plan of record ({phase}): {change} (default)")
    _withdraw_sign_off(procedure, user, f"the {phase} plan of record changed ({change})")


def after_plan_deleted(sender: type[DosePlan], instance: DosePlan, **kwargs: Any) -> None:
    """post_delete of a DosePlan: if it was the plan of record (and not being replaced), withdraw the sign-off
    and mark the phase's default plan of record among the plans left."""
    dataversion.bump()  # a deletion is not a store(): in its transaction, whichever path deleted the plan
    if is_replacing(instance) or not instance.is_plan_of_record:
        return
    procedure = ImplantProcedure.objects.filter(pk=instance.procedure_id).first()
    if procedure is None:
        return
    user = getattr(instance, "_history_user", None)
    phase = PlanKind(instance.kind).label.lower()
    plans = list(DosePlan.objects.filter(procedure=procedure, kind=instance.kind).prefetch_related("structures"))
    target = default_plan_of_record(plans, instance.kind)
    change = f"{instance.get_source_display()} plan #{instance.pk} (deleted) → " + (
        plan_label(target) if target else "none")
    if target is not None and not any(p.is_plan_of_record for p in plans):
        _mark_record(target, user, f"plan of record ({phase}): {change} (default)")
    _withdraw_sign_off(procedure, user, f"the {phase} plan of record changed ({change})")


@transaction.atomic
def set_plan_of_record(*, user: User, procedure: ImplantProcedure, plan: DosePlan, reason: str = "") -> bool:
    """Make ``plan`` the plan of record of its phase (explicit choice; history: who, when, from → to).

    Returns False when it already was. Withdraws the dosimetry sign-off.
    """
    if plan.procedure_id != procedure.pk:
        raise ValidationError({"plan": f"Plan #{plan.pk} belongs to another procedure."})
    phase = PlanKind(plan.kind).label.lower()
    plans = list(DosePlan.objects.select_for_update().filter(procedure=procedure, kind=plan.kind)
                 .prefetch_related("structures"))
    target = next((p for p in plans if p.pk == plan.pk), None)
    if target is None:
        raise ValidationError({"plan": f"Plan #{plan.pk} no longer exists."})
    current = next((p for p in plans if p.is_plan_of_record), None)
    if current is not None and current.pk == target.pk:
        return False
    change = f"{plan_label(current) if current else 'none'} → {plan_label(target)}"
    dataversion.bump()  # the marks are saved without store()
    text = f"plan of record ({phase}): {change}" + (f": {reason.strip()}" if reason.strip() else "")
    if current is not None:
        _unmark_record(current, user, text)
    _mark_record(target, user, text, chosen_by=user)
    _withdraw_sign_off(procedure, user, f"the {phase} plan of record changed ({change})")
    plan.is_plan_of_record, plan.record_chosen_by = True, user
    return True


def plan_of_record_history(procedure: ImplantProcedure) -> list[Any]:
    """The plan-of-record changes of a procedure, newest first (history rows of the plan that became it)."""
    return list(DosePlan.history.filter(procedure_id=procedure.pk, is_plan_of_record=True,
                                        history_change_reason__startswith="plan of record")
                .select_related("history_user").order_by("-history_date", "-history_id"))


def _summary(plan: DosePlan) -> dict[str, Any]:
    target = target_of(plan)
    return {
        "plan_id": plan.pk, "source": plan.source, "label": plan_label(plan),
        "prescription_gy": float(plan.prescription_gy), "seed_count": plan.seed_count,
        "target": target.role if target else None,
        **{k: getattr(target, k) if target else None for k in ("d90_gy", "v100_pct", "volume_cm3")},
    }


def _save_sign_off(procedure: ImplantProcedure, user: User | None, reason: str) -> None:
    """Save only the sign-off fields (the facts were validated when they were saved), with a history row."""
    set_history(procedure, user, reason)
    procedure.save(update_fields=["signed_off_by", "signed_off_at", "sign_off_covers", "sign_off_meaning"])


@transaction.atomic
def procedure_sign_off(*, user: User, procedure: ImplantProcedure, meaning: str = "") -> ImplantProcedure:
    """A physician signs off the dosimetry: the plans of record at this moment (stored, shown on the page), with
    ``meaning``, the statement the signer approved (registry/signature.py)."""
    require_sign_off(user)
    procedure = ImplantProcedure.objects.select_for_update().get(pk=procedure.pk)
    plans = list(procedure.plans.prefetch_related("structures"))
    covers = {kind: _summary(plan) for kind in PlanKind.values if (plan := plan_of_record(plans, kind))}
    if not covers:
        raise ValidationError("There is no plan to sign off: enter or import a pre-plan or a post-implant plan.")
    for kind in covers:  # a plan shown by the fallback becomes the recorded plan of record
        plan = next(p for p in plans if p.pk == covers[kind]["plan_id"])
        if not plan.is_plan_of_record:
            _mark_record(plan, user, f"plan of record ({PlanKind(kind).label.lower()}): none → "
                                     f"{plan_label(plan)} (default, at the sign-off)")
    procedure.signed_off_by, procedure.signed_off_at, procedure.sign_off_covers = user, timezone.now(), covers
    procedure.sign_off_meaning = meaning
    _save_sign_off(procedure, user, "dosimetry signed off: " + "; ".join(
        f"{PlanKind(k).label.lower()} {v['label']}" for k, v in covers.items()))
    return procedure


def _withdraw_sign_off(procedure: ImplantProcedure, user: User | None, why: str) -> None:
    fresh = ImplantProcedure.objects.filter(pk=procedure.pk).first()
    if fresh is None or fresh.signed_off_at is None:
        return
    fresh.signed_off_by, fresh.signed_off_at, fresh.sign_off_covers, fresh.sign_off_meaning = None, None, {}, ""
    _save_sign_off(fresh, user, f"dosimetry sign-off withdrawn: {why}")
    procedure.signed_off_by, procedure.signed_off_at, procedure.sign_off_covers = None, None, {}
    procedure.sign_off_meaning = ""


def sign_off_history(procedure: ImplantProcedure) -> list[Any]:
    """Sign-offs and withdrawals of a procedure, newest first."""
    return list(ImplantProcedure.history.filter(id=procedure.pk, history_change_reason__startswith="dosimetry sign")
                .select_related("history_user").order_by("-history_date", "-history_id"))


# --- DICOM RT import -------------------------------------------------------------------------------------------

ACCEPTED_MODALITIES = {"RTDOSE", "RTSTRUCT", "RTPLAN"}


def read_settings() -> DicomReadSettings:
    """The DICOM readers' limits from the Django settings (DICOM_MAX_PIXEL_BYTES, DICOM_MAX_INFLATED_BYTES)."""
    return DicomReadSettings(max_pixel_bytes=int(settings.DICOM_MAX_PIXEL_BYTES),
                             max_inflated_bytes=int(settings.DICOM_MAX_INFLATED_BYTES))


@transaction.atomic
def dicom_upload(*, user: User, procedure: ImplantProcedure, kind: str, files: Sequence[tuple[str, Any]]) -> DicomImport:
    """Store an export's files with their checksum, sort them by modality and list the structures to map.

    ``files`` are (name, bytes or a binary file such as an upload's temporary file): each is classified from its
    header; only the RT objects kept are read whole (their size is bounded by UPLOAD_MAX_FILE_MB).
    """
    if kind not in PlanKind.values:
        raise ValidationError({"kind": f"Plan kind {kind!r} is not one of pre, post."})
    by_modality: dict[str, tuple[str, bytes]] = {}
    limits = read_settings()
    for name, content in files:
        if hasattr(content, "seek"):
            content.seek(0)
        try:
            # headers only: a deflated file is never inflated past its header here, and a file declaring more
            # pixel data than DICOM_MAX_PIXEL_BYTES is refused before anything else is read
            modality = sniff_modality(content, name, settings=limits)
        except DicomImportError as exc:
            raise ValidationError({"files": str(exc)}) from None
        if modality == "CT":
            continue  # CT slices give geometry only; the RT objects carry what the import needs
        if modality not in ACCEPTED_MODALITIES:
            raise ValidationError({"files": f"{name}: Modality (0008,0060) is '{modality}', expected one of "
                                            "RTDOSE, RTSTRUCT, RTPLAN (or CT)"})
        if modality in by_modality:
            raise ValidationError({"files": f"{name}: a second {modality} file; upload one {modality} per plan"})
        by_modality[modality] = (name, _whole(content))
    missing = {"RTDOSE", "RTSTRUCT"} - set(by_modality)
    if missing:
        raise ValidationError({"files": f"The export lacks {' and '.join(sorted(missing))}; both are needed."})
    try:
        structures = read_rtstruct(by_modality["RTSTRUCT"][1], by_modality["RTSTRUCT"][0], settings=limits)
    except DicomImportError as exc:
        raise ValidationError({"files": str(exc)}) from None
    headers, warnings = _export_checks(procedure, kind, by_modality)
    imp = DicomImport(
        procedure=procedure, kind=kind, uploaded_by=user,
        roi_names=[roi.name for roi in structures.rois if roi.contours],
        patient_id=(headers[0].patient_id or "")[:64], patient_name=(headers[0].patient_name or "")[:200],
        study_instance_uid=_first(h.study_instance_uid for h in headers)[:64],
        frame_of_reference_uid=_first(h.frame_of_reference_uid for h in headers)[:64],
        warnings=warnings,
    )
    set_history(imp, user)
    imp.save()
    remembered = dict(StructureNameMapping.objects.filter(site=procedure.patient.site)
                      .values_list("roi_name", "role"))
    imp.mapping = {name: remembered.get(name.lower(), _guess_role(name)) for name in imp.roi_names}
    imp.save(update_fields=["mapping"])
    for modality, (name, content) in by_modality.items():
        row = DicomFile(dicom_import=imp, modality=modality, original_name=name[:255],
                        sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content))
        set_history(row, user, f"uploaded with DICOM import {imp.pk}")
        row.file.save(name, ContentFile(content), save=True)
    return imp


def _whole(content: Any) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    content.seek(0)
    return content.read()


def _first(values: Iterable[str | None]) -> str:
    return next((v for v in values if v), "")


def _export_checks(procedure: ImplantProcedure, kind: str, by_modality: Mapping[str, tuple[str, bytes]],
                   exclude: int | None = None) -> tuple[list[DicomHeader], list[dict[str, object]]]:
    """Header facts of the export's RT objects and the warnings of ``import_checks.check_export``."""
    try:
        headers = [read_header(content, name, settings=read_settings()) for name, content in by_modality.values()]
    except DicomImportError as exc:
        raise ValidationError({"files": str(exc)}) from None
    plan = import_checks.PlanFacts()
    if "RTPLAN" in by_modality:
        try:
            seeds = read_rtplan_seeds(by_modality["RTPLAN"][1], by_modality["RTPLAN"][0], settings=read_settings())
        except DicomImportError:
            pass  # the import itself reports what is wrong with the plan
        else:
            plan = import_checks.PlanFacts(
                prescription_gy=seeds.prescription_gy, seed_count=seeds.n_seeds,
                source_model_ids=tuple(dict.fromkeys(s.model_id for s in seeds.sources if s.model_id)))
    patient = procedure.patient
    earlier, seen = [], set()
    priors = DicomImport.objects.filter(procedure=procedure, kind=kind, status=DicomImport.Status.DONE)
    if exclude is not None:  # None: no import is left out
        priors = priors.exclude(pk=exclude)
    for prior in priors.order_by("-created_at", "-pk"):
        key = (prior.study_instance_uid, prior.frame_of_reference_uid)
        if key not in seen and any(key):
            seen.add(key)
            earlier.append(import_checks.EarlierImport(prior.pk, prior.study_instance_uid or None,
                                                       prior.frame_of_reference_uid or None))
    warnings = import_checks.check_export(
        import_checks.ExportFacts(tuple(headers), plan),
        import_checks.PatientIdentity(patient.record_number, patient.family_name, patient.given_name),
        import_checks.ProcedureFacts(float(procedure.prescription_gy), procedure.seeds_implanted,
                                     procedure.seed_model.code, kind),
        earlier)
    return headers, warnings


def _stored_export_checks(imp: DicomImport) -> list[dict[str, object]]:
    """The checks of ``_export_checks`` on the files stored with the import (excluding the import itself)."""
    by_modality = {}
    for row in imp.files.all():
        with row.file.open("rb") as fh:
            by_modality[row.modality] = (row.original_name, fh.read())
    if "RTDOSE" not in by_modality:
        return list(imp.warnings)  # nothing to re-check (the import reports the missing file)
    return _export_checks(imp.procedure, imp.kind, by_modality, exclude=imp.pk)[1]


def _guess_role(name: str) -> str:
    upper = name.upper()
    for role in ("GTV", "PTV"):
        if upper.startswith(role):
            return role
    return {"SKIN": "skin", "CORD": "spinal_cord", "SPINALCORD": "spinal_cord", "TRACHEA": "trachea",
            "CAROTID": "carotid", "ESOPHAGUS": "oesophagus", "OESOPHAGUS": "oesophagus"}.get(
        upper.replace(" ", "").replace("_", ""), "")


def dicom_import_confirm(
    *, user: User, imp: DicomImport, mapping: Mapping[str, str], run_async: bool | None = None,
    override_reason: str = "", clip_to_grid: bool = False,
) -> DicomImport:
    """Record the user's structure mapping (remembered per site) and run the import.

    ``clip_to_grid``: a structure reaching beyond the dose grid is clipped to it and the import stores a warning
    naming the volume left out (cm³ and %), instead of failing; the choice is kept on the import and its history.

    Blocking warnings of the upload (files of another patient, another study or frame of reference) need a
    physician's confirmation with a reason (≥ 5 characters), stored on the import with who and when; anyone else
    gets "A physician must confirm: …" and nothing is imported.
    The checks are run again on the stored files first: if they changed since the upload (another import of the
    phase finished meanwhile, the procedure was edited) the new list is stored and nothing is imported until the
    user has seen it.
    The import is queued as a task (dosimetry/tasks.py): a worker runs it when a broker is set, this process at once
    otherwise; ``run_async=False`` runs it here and now whatever the setting (the demo loader). The status page
    reads the row's state: queued, running, done or failed with the reason.
    """
    if imp.status == DicomImport.Status.UPLOADED and not imp.overridden_at:
        fresh = _stored_export_checks(imp)
        if fresh != imp.warnings:
            imp.warnings = fresh
            set_history(imp, user, "checks re-run at the import")
            imp.save(update_fields=["warnings"])
            if fresh:
                raise ValidationError({"override_reason": "The checks changed since the upload; review them: "
                                                          + " ".join(str(w["message"]) for w in fresh)})
    if imp.needs_confirmation:
        listed = " ".join(str(w["message"]) for w in imp.blocking_warnings)
        if not user.has_perm(f"registry.{SIGN_OFF_PERMISSION}"):
            raise ValidationError({"override_reason": f"A physician must confirm: {listed}"})
        reason = (override_reason or "").strip()
        if len(reason) < 5:
            raise ValidationError({"override_reason": "Give the reason for importing despite the warnings "
                                                      f"(at least 5 characters): {listed}"})
    unknown = set(mapping) - set(imp.roi_names)
    if unknown:
        raise ValidationError({"mapping": f"Unknown structure names: {', '.join(sorted(unknown))}; the RTSTRUCT "
                                          f"has {', '.join(imp.roi_names)}."})
    bad = {r for r in mapping.values() if r and r not in StructureRole.values}
    if bad:
        raise ValidationError({"mapping": f"Unknown roles {', '.join(sorted(bad))}."})
    if not any(r in ("GTV", "PTV") for r in mapping.values()):
        raise ValidationError({"mapping": "Map at least one structure to GTV or PTV."})
    with transaction.atomic():
        site = imp.procedure.patient.site
        for name, role in mapping.items():
            if role:
                _remember_mapping(site, name.lower(), role, user=user, imp=imp)
        imp.mapping = dict(mapping)
        imp.clip_to_grid = bool(clip_to_grid)
        _queue_fields(imp, "queued")
        why = None  # no reason of its own: the history row says who queued it
        if imp.needs_confirmation:
            imp.override_reason, imp.overridden_by, imp.overridden_at = reason, user, timezone.now()
            why = "imported despite " + ", ".join(str(w["code"]) for w in imp.blocking_warnings) + f": {reason}"
        if imp.clip_to_grid:
            why = "; ".join(filter(None, (why, CLIP_REASON)))
        set_history(imp, user, why)
        imp.save()
    return _start(imp, user, run_async)


def _queue_fields(imp: DicomImport, text: str) -> None:
    """A new run of the import, waiting for a worker (saved by the caller in its transaction)."""
    imp.status, imp.progress_pct, imp.progress_text, imp.error = DicomImport.Status.QUEUED, 5, text, ""
    imp.queued_at, imp.started_at, imp.finished_at = timezone.now(), None, None
    imp.heartbeat_at, imp.worker, imp.attempts = None, "", imp.attempts + 1


def _start(imp: DicomImport, user: User, run_async: bool | None) -> DicomImport:
    """Hand the committed run to the task queue (or run it here when ``run_async`` is False)."""
    if run_async is False:
        run_queued_import(imp.pk, user.pk, imp.attempts)
    else:
        # By name: dosimetry.tasks imports this module, so this module does not import it (no import cycle).
        import_dicom = current_app.tasks[IMPORT_TASK]
        args = (imp.pk, user.pk, imp.attempts)

        def send() -> None:
            try:
                import_dicom.apply_async(args, retry=True, retry_policy={"max_retries": 3, "interval_start": 0.5})
            except Exception as exc:  # the broker cannot be reached: say so, the import can be retried
                if settings.CELERY_TASK_ALWAYS_EAGER:
                    raise
                logger.exception("DICOM import %s could not be queued", imp.pk)
                _record_failure(imp.pk, user, f"The import could not be queued: {type(exc).__name__}: "
                                              f"{' '.join(str(exc).split())[:300]}. Retry it from this page.")

        if settings.CELERY_TASK_ALWAYS_EAGER:
            send()  # in this process, now (the row is saved; the caller's transaction, if any, sees it)
        else:
            transaction.on_commit(send)  # a worker must find the committed row
    imp.refresh_from_db()
    return imp


def _remember_mapping(site: Site, roi_name: str, role: str, *, user: User, imp: DicomImport) -> None:
    """Remember (or change) the site's role for a structure name; the history row names the import."""
    reason = f"mapping confirmed for DICOM import {imp.pk}"
    row = StructureNameMapping.objects.select_for_update().filter(site=site, roi_name=roi_name).first()
    if row is None:
        try:
            with transaction.atomic():  # a concurrent import may remember the same name first
                row = StructureNameMapping(site=site, roi_name=roi_name, role=role)
                set_history(row, user, reason)
                row.save()
                return
        except IntegrityError:
            row = StructureNameMapping.objects.select_for_update().get(site=site, roi_name=roi_name)
    if row.role == role:
        return  # unchanged: no history row
    row.role = role
    set_history(row, user, reason)
    row.save()


# Imports being run by this process (eager tasks of a web process): recover_interrupted_imports never fails those.
_RUNNING_HERE: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def worker_name() -> str:
    """"host:pid" of this process, stored on the import it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _claim(import_id: int, attempt: int) -> DicomImport | None:
    """Mark the run started by this process; None if it is not to be run (another run asked for since, or it
    already ended). A run found running is taken over: the broker delivers it again only when its worker died."""
    with transaction.atomic():
        imp = DicomImport.objects.select_for_update().filter(pk=import_id).first()
        active = (DicomImport.Status.QUEUED, DicomImport.Status.RUNNING)
        if imp is None or imp.attempts != attempt or imp.status not in active:
            return None
        now = timezone.now()
        # an update, like the progress and the end: the history keeps the user's steps (queued, failed, retried)
        DicomImport.objects.filter(pk=import_id).update(status=DicomImport.Status.RUNNING, started_at=now,
                                                        finished_at=None, heartbeat_at=now, worker=worker_name())
        return imp


def run_queued_import(import_id: int, user_id: int, attempt: int) -> str:
    """Run one queued run of an import (what the task calls); safe to call again for the same run.

    Returns the outcome: "done", "failed", or "skipped" (the run is no longer wanted, or ended already). Database
    errors while claiming the run propagate (the task retries them); once claimed, every failure ends the import
    failed with its reason.
    """
    if _claim(import_id, attempt) is None:
        return "skipped"
    with _RUNNING_LOCK:
        _RUNNING_HERE.add(import_id)
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(import_id, stop), daemon=True).start()
    try:
        user = get_user_model().objects.filter(pk=user_id).first()
        plan = run_import(import_id, user)
    except Exception as exc:  # run_import records failures itself; this is the last resort (e.g. DB down)
        _record_failure(import_id, None, _unexpected(exc, None))
        plan = None
    finally:
        stop.set()
        with _RUNNING_LOCK:
            _RUNNING_HERE.discard(import_id)
    return "done" if plan is not None else "failed"


def _heartbeat(import_id: int, stop: threading.Event) -> None:
    """Beat the heartbeat of the run between progress reports (a long DVH step reports nothing), so that a live
    run is never taken for a lost one."""
    interval = max(1.0, float(settings.DICOM_IMPORT_STALE_SECONDS) / 4)
    try:
        while not stop.wait(interval):
            DicomImport.objects.filter(pk=import_id, status=DicomImport.Status.RUNNING).update(
                heartbeat_at=timezone.now())
    except DatabaseError:
        logger.warning("DICOM import %s: heartbeat not written", import_id, exc_info=True)
    finally:
        close_old_connections()


class _Progress:
    """The progress callback of one import: stores percent, text and the heartbeat; remembers the last step."""

    def __init__(self, imp_id: int) -> None:
        self.imp_id, self.pct, self.text = imp_id, 5, "queued"

    def __call__(self, pct: int, text: str) -> None:
        self.pct, self.text = pct, text[:200]
        DicomImport.objects.filter(pk=self.imp_id).update(progress_pct=pct, progress_text=text[:200],
                                                          heartbeat_at=timezone.now(), worker=worker_name())


def _progress(imp_id: int) -> _Progress:
    return _Progress(imp_id)


def _unexpected(exc: BaseException, progress: _Progress | None) -> str:
    where = f" at {progress.pct} % ({progress.text})" if progress is not None else ""
    return f"The import stopped{where}: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}. " \
           "Nothing of it was saved; retry it from this page."


def _record_failure(import_id: int, user: User | None, reason: str, *, only_if_running: bool = False) -> bool:
    """Mark an import failed with its reason in a fresh transaction (and a history row); False if it could not be
    written (it is then left running and recover_interrupted_imports marks it once its heartbeat is stale)."""
    try:
        with transaction.atomic():
            imp = DicomImport.objects.select_for_update().filter(pk=import_id).first()
            if imp is None or (only_if_running and imp.status != DicomImport.Status.RUNNING):
                return False
            imp.status, imp.error, imp.finished_at = DicomImport.Status.FAILED, reason[:2000], timezone.now()
            set_history(imp, user, f"import failed: {reason}")
            imp.save(update_fields=["status", "error", "finished_at"])
    except DatabaseError:
        logger.exception("DICOM import %s: its failure could not be recorded (%s)", import_id, reason)
        return False
    return True


def run_import(import_id: int, user: User | None) -> DosePlan | None:
    """Run the import; it ends ``done``, or ``failed`` with the reason, whatever goes wrong."""
    report = _progress(import_id)
    try:
        imp = DicomImport.objects.select_related("procedure__patient", "procedure__seed_model").get(pk=import_id)
        if imp.needs_confirmation:  # never import past unconfirmed blocking warnings, whoever calls this
            _record_failure(imp.pk, user, "A physician must confirm: " + " ".join(
                str(w["message"]) for w in imp.blocking_warnings))
            return None
        plan = _import(imp, user, report)
    except (InputError, ValidationError) as exc:  # any core's input error: recorded with its message
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _record_failure(import_id, user, message)
        return None
    except Exception as exc:  # e.g. OperationalError "database is locked": never left "importing" for ever
        logger.exception("DICOM import %s failed", import_id)
        _record_failure(import_id, user, _unexpected(exc, report))
        return None
    return plan


def _worker_gone(worker: str) -> bool:
    """True if ``worker`` ("host:pid") is a process of this host that no longer runs."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True  # this process, and not in _RUNNING_HERE: its run ended without recording the end
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def stale_after_s() -> int:
    """Seconds of silence after which a running import is given up. Without a broker the run was in a web
    process, gone with it: DICOM_IMPORT_STALE_SECONDS. With one, the broker first hands the task to another worker
    once its visibility timeout has passed: only silence past both means the task itself is lost."""
    stale_s = int(settings.DICOM_IMPORT_STALE_SECONDS)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return stale_s
    return stale_s + int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))


def recover_interrupted_imports(*, now: dt.datetime | None = None) -> list[int]:
    """Mark failed every running import whose run is lost: silent for longer than :func:`stale_after_s`, or (with
    no broker) run by a process of this host that no longer runs. A queued import is waiting for a worker, not
    interrupted. Called at the start (config/wsgi.py) and when a status page is viewed. Returns the ids marked."""
    now = now or timezone.now()
    stale_s = stale_after_s()
    cutoff = now - dt.timedelta(seconds=stale_s)
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    with _RUNNING_LOCK:
        here = set(_RUNNING_HERE)
    marked: list[int] = []
    try:
        running = list(DicomImport.objects.filter(status=DicomImport.Status.RUNNING).exclude(pk__in=here).only(
            "pk", "heartbeat_at", "created_at", "worker", "progress_pct", "progress_text"))
    except DatabaseError:  # not migrated yet (first start): nothing to recover
        logger.warning("DICOM imports not checked for interrupted runs", exc_info=True)
        return marked
    for imp in running:
        last = imp.heartbeat_at or imp.created_at
        silent = last < cutoff
        # with a broker, a worker that died leaves its task to be delivered again: not a reason to give up
        if not silent and not (eager and imp.worker and _worker_gone(imp.worker)):
            continue
        step = f" ({imp.progress_text})" if imp.progress_text else ""
        setting = "DICOM_IMPORT_STALE_SECONDS" if eager else "DICOM_IMPORT_STALE_SECONDS + CELERY_VISIBILITY_TIMEOUT_S"
        why = f"no sign of life for more than {stale_s} s ({setting})" if silent else "that process no longer runs"
        reason = (f"The process running it ({imp.worker or 'unknown'}) stopped at {imp.progress_pct} %{step}: "
                  f"{why}. Nothing of it was saved; retry it from this page.")
        if _record_failure(imp.pk, None, reason, only_if_running=True):
            marked.append(imp.pk)
    return marked


def dicom_import_retry(*, user: User, imp: DicomImport, run_async: bool | None = None,
                       clip_to_grid: bool | None = None) -> DicomImport:
    """Run a failed import again from the files kept with it (audited: who, when, the failure it retries).

    ``clip_to_grid`` True/False changes the choice made at the confirmation (None keeps it)."""
    with transaction.atomic():
        fresh = DicomImport.objects.select_for_update().get(pk=imp.pk)
        if fresh.status != DicomImport.Status.FAILED:
            raise ValidationError(f"DICOM import #{fresh.pk} is {fresh.get_status_display().lower()}; only a "
                                  "failed import can be retried.")
        kept = {f.modality for f in fresh.files.all()
                if f.file and f.file.name and f.file.storage.exists(f.file.name)}
        missing = {"RTDOSE", "RTSTRUCT"} - kept
        if missing:
            raise ValidationError(f"The {' and '.join(sorted(missing))} file of import #{fresh.pk} is no longer "
                                  "stored; upload the export again.")
        previous = fresh.error
        if clip_to_grid is not None:
            fresh.clip_to_grid = bool(clip_to_grid)
        set_history(fresh, user, f"retried after: {previous}" + (f"; {CLIP_REASON}" if fresh.clip_to_grid else ""))
        if fresh.needs_confirmation:  # back to the mapping page, where a physician confirms
            fresh.status, fresh.error, fresh.progress_pct, fresh.progress_text = (
                DicomImport.Status.UPLOADED, "", 0, "")
            fresh.save()
            return fresh
        _queue_fields(fresh, "queued (retry)")
        fresh.save()
    return _start(fresh, user, run_async)


CLIPPED_CODE = "clipped_to_grid"
CLIP_REASON = "structures clipped to the dose grid"
CLIP_HINT = ("The structure reaches beyond the dose grid: to import the part inside it, tick “Clip structures to "
             "the dose grid” and retry (the volume left out is then reported with the plan).")


def clip_warnings(results: Iterable[rt_metrics.StructureResult]) -> list[dict[str, object]]:
    """One non-blocking import warning per structure clipped to the dose grid, naming the volume left out."""
    return [{"code": CLIPPED_CODE, "blocking": False, "structure": r.name,
             "outside_cm3": r.outside.outside_cm3, "outside_pct": r.outside.outside_pct,
             "message": f"{r.name}: {r.outside.outside_cm3:.2f} cm³ ({r.outside.outside_pct:.1f} %) of the structure "
                        f"lay outside the dose grid and was left out (clipped at the import); its metrics are those "
                        f"of the {r.outside.total_cm3 - r.outside.outside_cm3:.2f} cm³ inside."}
            for r in results if r.outside is not None]


def _import(imp: DicomImport, user: User | None, report: rt_metrics.Progress) -> DosePlan | None:
    """Read the stored files, compute the plan (and its TG-43 check) and save them; None when another delivery of
    this run had already saved it and its plan was deleted since."""
    files = {f.modality: f for f in imp.files.all()}

    def content(modality: str) -> tuple[bytes, str]:
        row = files[modality]
        with row.file.open("rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise ValidationError(f"{row.original_name}: stored file does not match its checksum")
        return data, row.original_name

    report(8, "reading RTDOSE and RTSTRUCT")
    limits = read_settings()  # a deflated file is inflated here, in bounded chunks, never in the upload request
    rtdose = read_rtdose(*content("RTDOSE"), settings=limits)
    structures = read_rtstruct(*content("RTSTRUCT"), settings=limits)
    seeds = read_rtplan_seeds(*content("RTPLAN"), settings=limits) if "RTPLAN" in files else None
    check_same_frame_of_reference(*(o for o in (rtdose, structures, seeds) if o is not None))
    procedure = imp.procedure
    rx = float(seeds.prescription_gy) if seeds is not None and seeds.prescription_gy else float(
        procedure.prescription_gy)
    grid = rt_metrics.dose_grid(rtdose)
    sampling = protocol_settings().sampling_settings(require_inside_grid=not imp.clip_to_grid)
    try:
        results = rt_metrics.plan_metrics(grid, structures, imp.mapping, rx, sampling=sampling, progress=report)
    except ContourOutsideGridError as exc:  # the core's own advice is for the command line and the API
        hint = "" if imp.clip_to_grid else f". {CLIP_HINT}"  # clipped already: no contour overlaps the grid
        raise InputError(f"{str(exc).split('; enlarge the dose grid')[0]}{hint}") from exc
    check_results = None
    if seeds is not None:
        report(65, f"TG-43 recomputation from {seeds.n_seeds} seeds")
        implant_at = dt.datetime.combine(procedure.date, dt.time(12, 0))
        check_grid = rt_metrics.tg43_recompute(grid, seeds, procedure.seed_model.core(), implant_at)
        targets = {name: role for name, role in imp.mapping.items() if role in ("GTV", "PTV")}
        check_results = rt_metrics.plan_metrics(check_grid, structures, targets, rx, sampling=sampling,
                                                measure_outside=False)  # the same geometry: the same part outside
    clipped = clip_warnings(results)
    report(92, "saving")

    def rows(results_: Iterable[rt_metrics.StructureResult]) -> list[dict[str, Any]]:
        return [{"role": r.role, "name": r.name, "dvh": r.curve, **r.metrics} for r in results_]

    with transaction.atomic():
        locked = DicomImport.objects.select_for_update().get(pk=imp.pk)
        if locked.status == DicomImport.Status.DONE:  # another delivery of this run saved it meanwhile
            return locked.plan
        plan = plan_save(user=user, procedure=procedure, kind=imp.kind, source=PlanSource.DICOM, plan_data={
            "seed_count": seeds.n_seeds if seeds is not None else None, "prescription_gy": rx,
            "notes": f"DICOM import #{imp.pk}"}, structures=rows(results))
        if check_results is not None and seeds is not None:  # the check is computed from the seeds only
            plan_save(user=user, procedure=procedure, kind=imp.kind, source=PlanSource.TG43, plan_data={
                "seed_count": seeds.n_seeds, "prescription_gy": rx,
                "notes": f"TG-43 (1-D) recomputation of DICOM import #{imp.pk}"}, structures=rows(check_results))
        # done in the same transaction as the plan: an import is never "done" without its plan, nor the reverse
        now = timezone.now()
        DicomImport.objects.filter(pk=imp.pk).update(status=DicomImport.Status.DONE, plan=plan, progress_pct=100,
                                                     progress_text="done", heartbeat_at=now, finished_at=now,
                                                     warnings=[w for w in locked.warnings
                                                               if w.get("code") != CLIPPED_CODE] + clipped)
    return plan


# --- comparisons -----------------------------------------------------------------------------------------------

COMPARED = (
    ("volume_cm3", "Volume (cm³)"), ("d90_gy", "D90 (Gy)"), ("d100_gy", "D100 (Gy)"), ("v100_pct", "V100 (%)"),
    ("v150_pct", "V150 (%)"), ("v200_pct", "V200 (%)"), ("hi", "HI"), ("dmean_gy", "Dmean (Gy)"),
)


@dataclass
class Comparison:
    pre: DosePlan | None
    post: DosePlan | None
    rows: list[dict[str, Any]]
    tg43_checks: dict[str, list[dict[str, object]]]
    seeds_planned: int | None
    seeds_implanted: int

    @property
    def seeds_difference(self) -> int | None:
        return None if self.seeds_planned is None else self.seeds_implanted - self.seeds_planned


def compare_pre_post(procedure: ImplantProcedure) -> Comparison:
    plans = list(procedure.plans.prefetch_related("structures"))
    pre, post = plan_of_record(plans, "pre"), plan_of_record(plans, "post")
    pre_t, post_t = target_of(pre), target_of(post)
    rows = []
    for key, label in COMPARED:
        a = getattr(pre_t, key) if pre_t else None
        b = getattr(post_t, key) if post_t else None
        rows.append({"key": key, "label": label, "pre": a, "post": b,
                     "diff": None if a is None or b is None else b - a})
    checks = {}
    flag = float(protocol_settings().tg43_flag_pct)
    for kind in ("pre", "post"):
        record = plan_of_record(plans, kind)
        tps = target_of(record)
        # The independent check of the plan of record: the TG-43 recomputation of the same DICOM export.
        check = target_of(next((p for p in plans if p.kind == kind and p.source == PlanSource.TG43), None)) if (
            record is not None and record.source == PlanSource.DICOM) else None
        if tps is not None and check is not None:
            checks[kind] = rt_metrics.tg43_differences(
                {"d90_gy": tps.d90_gy, "v100_pct": tps.v100_pct},
                {"d90_gy": check.d90_gy, "v100_pct": check.v100_pct}, flag)
    return Comparison(pre, post, rows, checks, pre.seed_count if pre else None, procedure.seeds_implanted)

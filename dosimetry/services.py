"""Writes and derived views of the dosimetry app: procedures, hand-entered plans, DICOM RT import with the TG-43
check, the pre/post comparison and the cohort's Table 4. Transactions, audit and validation as in the registry."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import close_old_connections, transaction

from assessment.stats import StatsInputError, mean_sd, paired_compare
from dosimetry import rt_metrics
from dosimetry.dicom_io import (
    DicomImportError,
    check_same_frame_of_reference,
    read_rtdose,
    read_rtplan_seeds,
    read_rtstruct,
    sniff_modality,
)
from dosimetry.dvh import DVHError
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
from dosimetry.tg43 import Tg43InputError
from registry.models import Patient
from registry.services import _assign, _save, recompute_followup

PROTOCOL = "dosimetry"
METRIC_KEYS = ("volume_cm3", "d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy", "v100_pct", "v150_pct",
               "v200_pct", "ci", "ei")


def _protocol() -> dict[str, Any]:
    return settings.SEEDTRACK_PROTOCOL[PROTOCOL]


# --- procedures ------------------------------------------------------------------------------------------------

@transaction.atomic
def procedure_save(
    *, user, patient: Patient, data: Mapping[str, Any], lesions: Iterable, procedure: ImplantProcedure | None = None
) -> tuple[ImplantProcedure, list[str]]:
    """Save a procedure and its treated lesions; returns it with the protocol warnings (not refusals)."""
    lesions = list(lesions)
    if not lesions:
        raise ValidationError({"lesions": "Choose at least one treated lesion."})
    foreign = [le.label for le in lesions if le.patient_id != patient.pk]
    if foreign:
        raise ValidationError({"lesions": f"Lesions {', '.join(foreign)} belong to another patient."})
    procedure = _assign(procedure or ImplantProcedure(patient=patient), data)
    _save(procedure, user)
    procedure.lesions.set(lesions)
    recompute_followup(patient)  # the implant date is day 0 of every follow-up category
    return procedure, procedure.warnings()


# --- hand-entered plans ----------------------------------------------------------------------------------------

def _structure_row(plan: DosePlan, row: Mapping[str, Any], user) -> StructureDose:
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
    return _save(structure, user)


@transaction.atomic
def plan_save(
    *, user, procedure: ImplantProcedure, kind: str, source: str, plan_data: Mapping[str, Any],
    structures: Sequence[Mapping[str, Any]],
) -> DosePlan:
    """Create or replace the plan of this kind and source with its structures (all or nothing)."""
    if kind not in PlanKind.values:
        raise ValidationError({"kind": f"Plan kind {kind!r} is not one of {', '.join(PlanKind.values)}."})
    if not any(s.get("role") in ("GTV", "PTV") for s in structures):
        raise ValidationError({"structures": "A plan needs the metrics of at least a GTV or a PTV."})
    DosePlan.objects.filter(procedure=procedure, kind=kind, source=source).delete()
    plan = _assign(DosePlan(procedure=procedure, kind=kind, source=source), plan_data)
    if plan.prescription_gy is None:
        plan.prescription_gy = procedure.prescription_gy
    _save(plan, user)
    for row in structures:
        _structure_row(plan, row, user)
    return plan


# --- DICOM RT import -------------------------------------------------------------------------------------------

ACCEPTED_MODALITIES = {"RTDOSE", "RTSTRUCT", "RTPLAN"}


@transaction.atomic
def dicom_upload(*, user, procedure: ImplantProcedure, kind: str, files: Sequence[tuple[str, bytes]]) -> DicomImport:
    """Store an export's files with their checksum, sort them by modality and list the structures to map."""
    if kind not in PlanKind.values:
        raise ValidationError({"kind": f"Plan kind {kind!r} is not one of pre, post."})
    by_modality: dict[str, tuple[str, bytes]] = {}
    for name, content in files:
        try:
            modality = sniff_modality(content, name)
        except DicomImportError as exc:
            raise ValidationError({"files": str(exc)}) from None
        if modality == "CT":
            continue  # CT slices give geometry only; the RT objects carry what the import needs
        if modality not in ACCEPTED_MODALITIES:
            raise ValidationError({"files": f"{name}: Modality (0008,0060) is '{modality}', expected one of "
                                            "RTDOSE, RTSTRUCT, RTPLAN (or CT)"})
        if modality in by_modality:
            raise ValidationError({"files": f"{name}: a second {modality} file; upload one {modality} per plan"})
        by_modality[modality] = (name, content)
    missing = {"RTDOSE", "RTSTRUCT"} - set(by_modality)
    if missing:
        raise ValidationError({"files": f"The export lacks {' and '.join(sorted(missing))}; both are needed."})
    try:
        structures = read_rtstruct(by_modality["RTSTRUCT"][1], by_modality["RTSTRUCT"][0])
    except DicomImportError as exc:
        raise ValidationError({"files": str(exc)}) from None
    imp = DicomImport.objects.create(
        procedure=procedure, kind=kind, uploaded_by=user,
        roi_names=[roi.name for roi in structures.rois if roi.contours],
    )
    remembered = dict(StructureNameMapping.objects.filter(site=procedure.patient.site)
                      .values_list("roi_name", "role"))
    imp.mapping = {name: remembered.get(name.lower(), _guess_role(name)) for name in imp.roi_names}
    imp.save(update_fields=["mapping"])
    for modality, (name, content) in by_modality.items():
        row = DicomFile(dicom_import=imp, modality=modality, original_name=name[:255],
                        sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content))
        row.file.save(name, ContentFile(content), save=True)
    return imp


def _guess_role(name: str) -> str:
    upper = name.upper()
    for role in ("GTV", "PTV"):
        if upper.startswith(role):
            return role
    return {"SKIN": "skin", "CORD": "spinal_cord", "SPINALCORD": "spinal_cord", "TRACHEA": "trachea",
            "CAROTID": "carotid", "ESOPHAGUS": "oesophagus", "OESOPHAGUS": "oesophagus"}.get(
        upper.replace(" ", "").replace("_", ""), "")


def dicom_import_confirm(
    *, user, imp: DicomImport, mapping: Mapping[str, str], run_async: bool | None = None
) -> DicomImport:
    """Record the user's structure mapping (remembered per site) and run the import.

    Runs in a background thread when ``DOSIMETRY_IMPORT_ASYNC`` is on (the page polls the progress), else inline.
    """
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
                StructureNameMapping.objects.update_or_create(site=site, roi_name=name.lower(),
                                                              defaults={"role": role})
        imp.mapping = dict(mapping)
        imp.status, imp.progress_pct, imp.progress_text, imp.error = DicomImport.Status.RUNNING, 5, "queued", ""
        imp.save()
    if settings.DOSIMETRY_IMPORT_ASYNC if run_async is None else run_async:
        threading.Thread(target=_run_import_thread, args=(imp.pk, user.pk), daemon=True).start()
    else:
        run_import(imp.pk, user)
        imp.refresh_from_db()
    return imp


def _run_import_thread(import_id: int, user_id: int) -> None:
    from django.contrib.auth import get_user_model

    close_old_connections()
    try:
        run_import(import_id, get_user_model().objects.get(pk=user_id))
    finally:
        close_old_connections()


def _progress(imp_id: int):
    def report(pct: int, text: str) -> None:
        DicomImport.objects.filter(pk=imp_id).update(progress_pct=pct, progress_text=text[:200])

    return report


def run_import(import_id: int, user) -> DosePlan | None:
    imp = DicomImport.objects.select_related("procedure__patient", "procedure__seed_model").get(pk=import_id)
    report = _progress(imp.pk)
    try:
        plan = _import(imp, user, report)
    except (DicomImportError, DVHError, Tg43InputError, ValidationError) as exc:
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        DicomImport.objects.filter(pk=imp.pk).update(status=DicomImport.Status.FAILED, error=message[:2000])
        return None
    DicomImport.objects.filter(pk=imp.pk).update(status=DicomImport.Status.DONE, plan=plan, progress_pct=100,
                                                 progress_text="done")
    return plan


def _import(imp: DicomImport, user, report) -> DosePlan:
    files = {f.modality: f for f in imp.files.all()}

    def content(modality: str) -> tuple[bytes, str]:
        row = files[modality]
        with row.file.open("rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise ValidationError(f"{row.original_name}: stored file does not match its checksum")
        return data, row.original_name

    report(8, "reading RTDOSE and RTSTRUCT")
    rtdose = read_rtdose(*content("RTDOSE"))
    structures = read_rtstruct(*content("RTSTRUCT"))
    seeds = read_rtplan_seeds(*content("RTPLAN")) if "RTPLAN" in files else None
    check_same_frame_of_reference(*(o for o in (rtdose, structures, seeds) if o is not None))
    procedure = imp.procedure
    rx = float(seeds.prescription_gy) if seeds is not None and seeds.prescription_gy else float(
        procedure.prescription_gy)
    grid = rt_metrics.dose_grid(rtdose)
    supersampling = int(_protocol()["dvh_supersampling"])
    results = rt_metrics.plan_metrics(grid, structures, imp.mapping, rx, supersampling=supersampling,
                                      progress=report)
    check_results = None
    if seeds is not None:
        report(65, f"TG-43 recomputation from {seeds.n_seeds} seeds")
        implant_at = dt.datetime.combine(procedure.date, dt.time(12, 0))
        check_grid = rt_metrics.tg43_recompute(grid, seeds, procedure.seed_model.core(), implant_at)
        targets = {name: role for name, role in imp.mapping.items() if role in ("GTV", "PTV")}
        check_results = rt_metrics.plan_metrics(check_grid, structures, targets, rx, supersampling=supersampling)
    report(92, "saving")

    def rows(results_):
        return [{"role": r.role, "name": r.name, "dvh": r.curve, **r.metrics} for r in results_]

    with transaction.atomic():
        plan = plan_save(user=user, procedure=procedure, kind=imp.kind, source=PlanSource.DICOM, plan_data={
            "seed_count": seeds.n_seeds if seeds is not None else None, "prescription_gy": rx,
            "notes": f"DICOM import #{imp.pk}"}, structures=rows(results))
        if check_results is not None:
            plan_save(user=user, procedure=procedure, kind=imp.kind, source=PlanSource.TG43, plan_data={
                "seed_count": seeds.n_seeds, "prescription_gy": rx,
                "notes": f"TG-43 (1-D) recomputation of DICOM import #{imp.pk}"}, structures=rows(check_results))
    return plan


# --- comparisons -----------------------------------------------------------------------------------------------

SOURCE_PREFERENCE = (PlanSource.DICOM, PlanSource.MANUAL)  # the planning system's numbers, not our recomputation
COMPARED = (
    ("volume_cm3", "Volume (cm³)"), ("d90_gy", "D90 (Gy)"), ("d100_gy", "D100 (Gy)"), ("v100_pct", "V100 (%)"),
    ("v150_pct", "V150 (%)"), ("v200_pct", "V200 (%)"), ("hi", "HI"), ("dmean_gy", "Dmean (Gy)"),
)


def primary_plan(plans: Iterable[DosePlan], kind: str) -> DosePlan | None:
    candidates = {p.source: p for p in plans if p.kind == kind}
    return next((candidates[s] for s in SOURCE_PREFERENCE if s in candidates), None)


def target_of(plan: DosePlan | None) -> StructureDose | None:
    if plan is None:
        return None
    structures = list(plan.structures.all())
    return next((s for s in structures if s.role == "GTV"), None) or next(
        (s for s in structures if s.role == "PTV"), None)


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
    pre, post = primary_plan(plans, "pre"), primary_plan(plans, "post")
    pre_t, post_t = target_of(pre), target_of(post)
    rows = []
    for key, label in COMPARED:
        a = getattr(pre_t, key) if pre_t else None
        b = getattr(post_t, key) if post_t else None
        rows.append({"key": key, "label": label, "pre": a, "post": b,
                     "diff": None if a is None or b is None else b - a})
    checks = {}
    flag = float(_protocol()["tg43_flag_pct"])
    for kind in ("pre", "post"):
        tps = target_of(primary_plan(plans, kind))
        check = target_of(next((p for p in plans if p.kind == kind and p.source == PlanSource.TG43), None))
        if tps is not None and check is not None:
            checks[kind] = rt_metrics.tg43_differences(
                {"d90_gy": tps.d90_gy, "v100_pct": tps.v100_pct},
                {"d90_gy": check.d90_gy, "v100_pct": check.v100_pct}, flag)
    return Comparison(pre, post, rows, checks, pre.seed_count if pre else None, procedure.seeds_implanted)


TABLE4 = (
    ("d90_gy", "D90 (Gy)"), ("d100_gy", "D100 (Gy)"), ("v100_pct", "V100 (%)"), ("v150_pct", "V150 (%)"),
    ("hi", "HI"), ("volume_cm3", "Target volume (cm³)"), ("seed_count", "Seeds"),
)


def cohort_table4(procedures: Iterable[ImplantProcedure]) -> dict[str, Any]:
    """Pre vs post for every procedure with both plans: mean ± SD, the paired test and post D90 < Rx count."""
    pairs = []
    for procedure in procedures:
        plans = list(procedure.plans.all())
        pre, post = primary_plan(plans, "pre"), primary_plan(plans, "post")
        pre_t, post_t = target_of(pre), target_of(post)
        if pre_t is None or post_t is None:
            continue
        pairs.append((procedure, pre, post, pre_t, post_t))
    rows = []
    for key, label in TABLE4:
        if key == "seed_count":
            values = [(pre.seed_count, post.seed_count or proc.seeds_implanted) for proc, pre, post, _, _ in pairs]
        else:
            values = [(getattr(a, key), getattr(b, key)) for _, _, _, a, b in pairs]
        values = [(float(a), float(b)) for a, b in values if a is not None and b is not None]
        if len(values) < 3:
            rows.append({"key": key, "label": label, "n": len(values), "pre": None, "post": None, "test": None})
            continue
        pre_v, post_v = [a for a, _ in values], [b for _, b in values]
        try:
            result, note = paired_compare(pre_v, post_v), ""
        except StatsInputError as exc:  # e.g. every difference is 0 (same seed count pre and post)
            result, note = None, f"no paired test: {exc}"
        rows.append({"key": key, "label": label, "n": len(values), "pre": mean_sd(pre_v), "post": mean_sd(post_v),
                     "test": result, "note": note})
    below = [proc for proc, _, _, _, post_t in pairs
             if post_t.d90_gy is not None and post_t.d90_gy < float(proc.prescription_gy)]
    return {"n_pairs": len(pairs), "rows": rows, "post_d90_below_rx": len(below)}

"""Follow-up writes and the recomputation of everything derived from them.

Every write runs in one transaction, validates with the models' rules, records who did it (history) and then calls
:func:`recompute_followup`, which loads the patient's facts, calls the pure cores (``assessment.recist``,
``registry.volumes``, ``assessment.thyroglobulin``, ``assessment.mda``, ``assessment.toxicity``) and replaces the
derived rows, stamped with the rule set. Views, forms, the demo loader and commands call these functions; none of
them writes follow-up models directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assessment import choices as c
from assessment import recist
from assessment.mda import MdaError, mda_bone_response
from assessment.models import (
    FollowUpResult,
    FollowUpStatus,
    LabResult,
    LesionDesignation,
    LesionVisitResult,
    Measurement,
    NewLesion,
    NewTherapy,
    Toxicity,
    Visit,
    VisitResult,
)
from assessment.protocol import FollowupSettings
from assessment.schedule import (
    RecordedVisit,
    ScheduledVisit,
    ScheduleSettings,
    end_of_follow_up_warnings,
    visit_schedule,
    visit_window_warnings,
)
from assessment.thyroglobulin import (
    ATA_RULE_SET,
    AtaSettings,
    ImagingStatus,
    TgAbReading,
    TgPoint,
    ThyroglobulinInputError,
    assay_key,
    classify_response_to_therapy,
    imaging_status_from_recist,
    tg_doubling_time,
    tgab_cutoff_warnings,
)
from assessment.toxicity import RULE_SETS as TOXICITY_RULE_SETS
from common.protocol import section_settings
from common.writes import assign, save_validated, store, update
from dosimetry.models import ImplantProcedure
from registry import overrides
from registry.models import Lesion, Patient
from registry.volumes import VolumeError, volume_change_pct

RowKey = str  # "visit", "measurement:L1", "new_lesion:0", "lab:tg", "toxicity:0"


def recist_settings(mode: str | None = None) -> recist.RecistSettings:
    """The protocol's RECIST settings, in ``mode`` when given (the other thresholds unchanged)."""
    s = section_settings("recist", recist.RecistSettings)
    # the settings turn the string into a Mode themselves and refuse any other value (RecistError)
    return s if mode is None else replace(s, mode=cast(recist.Mode, mode))


def schedule_settings() -> ScheduleSettings:
    return section_settings("schedule", ScheduleSettings)


def followup_settings() -> FollowupSettings:
    """The protocol's follow-up section: remission definition, TgAb cut-off, Tg-DT, RTOG and ATA settings."""
    return section_settings("followup", FollowupSettings)


def index_procedure(patient: Patient) -> ImplantProcedure | None:
    """The implant whose date is day 0 of follow-up: the patient's first one."""
    return patient.procedures.order_by("date", "id").first()


def organ_of(lesion: Lesion) -> str:
    if lesion.nodal:
        return "lymph node"
    return lesion.site_text if lesion.region in ("bone", "other") else lesion.get_region_display().lower()


# --- target / non-target designation ---------------------------------------------------------------------------


def recist_axis_mm(lesion: Lesion, long_mm: Decimal | None, short_mm: Decimal | None) -> Decimal | None:
    """RECIST measures nodes in short axis, everything else in long axis."""
    return short_mm if lesion.nodal else long_mm


def propose_roles(lesions: Sequence[Lesion], baseline_sizes: Mapping[int, Decimal | None],
                  s: recist.RecistSettings) -> dict[int, str]:
    """Strict RECIST 1.1 selection (§1.3): largest measurable lesions first, ≤ max per organ (all nodes one organ)
    and ≤ max in all; the rest are non-target. In per-lesion mode every measurable lesion is a target."""
    roles: dict[int, str] = {}
    per_organ: dict[str, int] = {}
    chosen = 0
    ranked = sorted(lesions, key=lambda les: (-(baseline_sizes.get(les.pk) or 0), les.pk))
    for les in ranked:
        size = baseline_sizes.get(les.pk)
        threshold = s.node_measurable_mm if les.nodal else s.non_nodal_measurable_mm
        organ = "lymph node" if les.nodal else organ_of(les)
        measurable = size is not None and Fraction(str(size)) >= threshold
        if measurable and (s.mode is recist.Mode.PER_LESION or (
            chosen < s.max_targets and per_organ.get(organ, 0) < s.max_targets_per_organ
        )):
            roles[les.pk] = c.LesionRole.TARGET
            per_organ[organ] = per_organ.get(organ, 0) + 1
            chosen += 1
        else:
            roles[les.pk] = c.LesionRole.NON_TARGET
    return roles


def _baseline_sizes(patient: Patient, baseline: Visit | None) -> dict[int, Decimal | None]:
    sizes: dict[int, Decimal | None] = {}
    lesions = list(patient.lesions.all())
    measured = {m.lesion_id: m for m in baseline.measurements.all()} if baseline else {}
    for les in lesions:
        m = measured.get(les.pk)
        if m is not None:
            sizes[les.pk] = recist_axis_mm(les, m.long_mm, m.short_mm) if m.qualifier == "measured" else None
        else:
            sizes[les.pk] = recist_axis_mm(les, les.baseline_long_mm, les.baseline_short_mm)
    return sizes


def lesion_roles(patient: Patient, baseline: Visit | None = None) -> tuple[dict[int, str], bool]:
    """Role of every lesion: the stored designation, else the automatic proposal (second value True)."""
    lesions = list(patient.lesions.all())
    stored = {d.lesion_id: d.role for d in LesionDesignation.objects.filter(lesion__patient=patient)}
    if stored:
        return {les.pk: stored.get(les.pk, c.LesionRole.NON_TARGET) for les in lesions}, False
    if baseline is None:
        baseline = _baseline_visit(patient, index_procedure(patient))
    return propose_roles(lesions, _baseline_sizes(patient, baseline), recist_settings()), True


@transaction.atomic
def designation_save(*, user: User, patient: Patient, roles: Mapping[int, str]) -> None:
    """Store the target / non-target roles; in strict mode the selection must satisfy RECIST 1.1 §1.3."""
    lesions = {les.pk: les for les in patient.lesions.all()}
    for pk, role in roles.items():
        if pk not in lesions:
            raise ValidationError({"designation": f"Lesion id {pk} is not registered for patient {patient.study_id}."})
        if role not in c.LesionRole.values:
            raise ValidationError({f"role_{pk}": f"Role {role!r} is not one of: {', '.join(c.LesionRole.values)}."})
    s = recist_settings()
    if s.mode is recist.Mode.STRICT:
        baseline = _baseline_visit(patient, index_procedure(patient))
        sizes = _baseline_sizes(patient, baseline)
        rl = [recist.Lesion(lesions[pk].label, organ_of(lesions[pk]), lesions[pk].nodal, _role(role))
              for pk, role in roles.items() if role != c.LesionRole.NOT_FOLLOWED]
        bl = recist.Assessment(date.min, target={
            lesions[pk].label: recist.Measurement.mm(size) for pk, role in roles.items()
            if role == c.LesionRole.TARGET and (size := sizes.get(pk)) is not None
        })
        problems = recist.validate_target_selection(rl, bl, s)
        if problems:
            raise ValidationError({"designation": list(problems)})
    for pk, role in roles.items():
        d = LesionDesignation.objects.filter(lesion_id=pk).first() or LesionDesignation(lesion=lesions[pk])
        if d.pk is None or d.role != role:
            d.role = role
            save_validated(d, user=user)
    recompute_followup(patient)


# --- visits ------------------------------------------------------------------------------------------------------

# What each service lets its caller set (common.writes whitelists): the facts the visit form and its rows send.
VISIT_FIELDS = ("timepoint", "visit_date", "modality", "slice_thickness_mm", "reader", "imaging_nonspecific", "notes")
MEASUREMENT_FIELDS = ("qualifier", "long_mm", "short_mm", "third_mm", "non_target_status", "enhancement",
                      "mda_modality", "mda_findings", "flare_excluded")
NEW_LESION_FIELDS = ("site", "certainty", "modality")
LAB_FIELDS = ("sample_date", "analyte", "qualifier", "value", "unit", "assay", "loq", "tgab_cutoff_iu_ml", "tsh_state")
TOXICITY_FIELDS = ("kind", "onset_date", "grade", "ctcae_term", "specify", "resolution_date", "treatment")
THERAPY_FIELDS = ("kind", "start_date", "notes")
FOLLOWUP_STATUS_FIELDS = ("status", "status_date", "death_cause", "death_cause_detail")
# A lab or toxicity saved on its own (not through the visit form) may name the visit it belongs to.
LAB_SAVE_FIELDS = (*LAB_FIELDS, "visit")
TOXICITY_SAVE_FIELDS = (*TOXICITY_FIELDS, "visit")


def _prefixed(exc: ValidationError, prefix: RowKey) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {f"{prefix}.{k}": [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {f"{prefix}.__all__": exc.messages}


def _check_recist_axis(m: Measurement, role: str) -> dict[str, str]:
    """A measured target needs the axis RECIST uses (short for nodes, long otherwise)."""
    les = m.lesion
    if role != c.LesionRole.TARGET or m.qualifier != c.MeasurementQualifier.MEASURED:
        return {}
    if les.nodal and m.short_mm is None:
        return {"short_mm": f"{les.label} is a nodal target: give its short axis (RECIST measures nodes in short axis)."}
    if not les.nodal and m.long_mm is None:
        return {"long_mm": f"{les.label} is a target: give its long axis (RECIST sums the longest diameters)."}
    return {}


@dataclass
class VisitInput:
    """Everything the visit form sends: the visit's own fields and its rows (plain dicts of model fields)."""

    visit: Mapping[str, Any]
    measurements: Mapping[int, Mapping[str, Any]]  # lesion pk → fields (rows without data are skipped)
    new_lesions: Sequence[Mapping[str, Any]] = ()
    labs: Sequence[Mapping[str, Any]] = ()
    toxicities: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class KnownTgAbAssay:
    """A TgAb assay the patient was tested with before, and the cut-off recorded with it."""

    assay: str
    cutoff_iu_ml: Decimal
    sample_date: date


def previous_tgab_assays(patient: Patient, before: date | None = None,
                         exclude_visit: Visit | None = None) -> list[KnownTgAbAssay]:
    """The patient's earlier TgAb results (visit labs and the eligibility TgAb) with a cut-off, latest first,
    one per assay (its latest result); ``before``: on or before this date; ``exclude_visit``: leave out the
    labs of the visit being edited."""
    rows: list[tuple[date, int, str, Decimal]] = []
    labs = patient.lab_results.filter(analyte=c.Analyte.TGAB, tgab_cutoff_iu_ml__isnull=False)
    if before is not None:
        labs = labs.filter(sample_date__lte=before)
    if exclude_visit is not None and exclude_visit.pk:
        labs = labs.exclude(visit=exclude_visit)
    # both queries keep only results with a cut-off
    rows += [(lab.sample_date, lab.pk, lab.assay, cast(Decimal, lab.tgab_cutoff_iu_ml)) for lab in labs]
    for e in patient.eligibility_assessments.filter(tgab_cutoff_iu_per_ml__isnull=False):
        when = e.labs_date or e.assessment_date
        if before is None or when <= before:
            rows.append((when, -1, e.tgab_assay, cast(Decimal, e.tgab_cutoff_iu_per_ml)))
    out, seen = [], set()
    for when, _, assay, cutoff in sorted(rows, key=lambda r: (r[0], r[1]), reverse=True):
        if assay_key(assay) not in seen:
            seen.add(assay_key(assay))
            out.append(KnownTgAbAssay(assay, cutoff, when))
    return out


def visit_warnings(procedure: ImplantProcedure, visit: Visit,
                   labs: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, str]]:
    """Entry warnings of a visit about to be saved, from the pure cores: its date outside the chosen time
    point's window (``assessment.schedule.visit_window_warnings``) and a TgAb cut-off that differs from the one
    recorded with the same assay before (``assessment.thyroglobulin.tgab_cutoff_warnings``)."""
    if visit.visit_date is None or not visit.timepoint:
        return []
    out = visit_window_warnings(procedure.date, visit.visit_date, visit.timepoint, schedule_settings())
    for lab in labs:
        if lab.get("analyte") == c.Analyte.TGAB and lab.get("tgab_cutoff_iu_ml") is not None and lab.get("assay"):
            known = previous_tgab_assays(visit.patient, before=visit.visit_date, exclude_visit=visit)
            out += tgab_cutoff_warnings(lab["assay"], float(lab["tgab_cutoff_iu_ml"]), [
                (k.assay, float(k.cutoff_iu_ml), (k.sample_date - procedure.date).days) for k in known])
    return out


@transaction.atomic
def visit_save(*, user: User, patient: Patient, data: VisitInput, visit: Visit | None = None,
               override: overrides.Override | None = None, check_warnings: bool = True) -> Visit:
    """Create or change a visit with its measurements, new lesions, labs and toxicity scores, all or nothing.

    Errors are collected from every row and raised together as one ValidationError whose keys are
    ``"<row>.<field>"`` (``visit.visit_date``, ``measurement:L1.short_mm``, ``lab:tg.unit`` …), so the form can
    put each message beside its input; nothing is saved when any row is wrong.

    Entry warnings (:func:`visit_warnings`) follow ``registry.overrides``: unless the visit already carries
    exactly these accepted warnings, :class:`registry.overrides.WarningsPending` is raised (key
    ``visit.__all__``, nothing saved) until a physician gives ``override`` (reason ≥ 5 characters, the warnings
    shown); the warnings, reason, who and when are then stored on the visit and in its history.
    ``check_warnings=False`` is for the live preview only (its transaction is rolled back).
    """
    errors: dict[str, list[str]] = {}
    procedure = index_procedure(patient)
    if procedure is None:
        raise ValidationError({"visit.__all__": ["Record the implant procedure first: follow-up counts from its date (day 0)."]})
    visit = visit or Visit(patient=patient, procedure=procedure)
    assign(visit, data.visit, fields=VISIT_FIELDS)
    try:
        visit.full_clean(validate_unique=True)
    except ValidationError as exc:
        errors.update(_prefixed(exc, "visit"))
        if "visit.__all__" in errors:  # the unique (patient, date) constraint
            errors["visit.visit_date"] = [f"Patient {patient.study_id} already has a visit on {visit.visit_date}."]
            del errors["visit.__all__"]
        raise ValidationError(errors) from None
    if check_warnings:
        decision = overrides.decide(user=user, warnings=visit_warnings(procedure, visit, data.labs), override=override,
                                    accepted=visit.warnings if visit.pk else (), key="visit.__all__")
        overrides.apply(visit, decision, user)
    store(visit, user)  # unchanged rows are not written and get no history entry

    lesions = {les.pk: les for les in patient.lesions.all()}
    roles, _ = lesion_roles(patient, visit if visit.timepoint == c.Timepoint.BASELINE else None)
    existing = {m.lesion_id: m for m in visit.measurements.all()}
    for lesion_pk, fields in data.measurements.items():
        les = lesions.get(lesion_pk)
        if les is None:
            errors[f"measurement:{lesion_pk}.lesion"] = [
                f"Lesion id {lesion_pk} is not registered for patient {patient.study_id}; register it first."
            ]
            continue
        m = existing.get(lesion_pk) or Measurement(visit=visit, lesion=les)
        assign(m, fields, fields=MEASUREMENT_FIELDS)
        key = f"measurement:{les.label}"
        try:
            m.full_clean(exclude=["visit"])
        except ValidationError as exc:
            errors.update(_prefixed(exc, key))
            continue
        axis = _check_recist_axis(m, roles.get(les.pk, ""))
        if axis:
            errors.update({f"{key}.{k}": [v] for k, v in axis.items()})
            continue
        store(m, user)

    for i, fields in enumerate(data.new_lesions):
        n = assign(NewLesion(visit=visit), fields, fields=NEW_LESION_FIELDS)
        try:
            n.full_clean(exclude=["visit"])
        except ValidationError as exc:
            errors.update(_prefixed(exc, f"new_lesion:{i}"))
            continue
        store(n, user)

    existing_labs: dict[str | None, LabResult] = {lab.analyte: lab for lab in visit.labs.all()} if visit.pk else {}
    for fields in data.labs:
        lab = existing_labs.get(fields.get("analyte")) or LabResult(patient=patient, visit=visit)
        lab.sample_date = fields.get("sample_date") or visit.visit_date
        assign(lab, {k: v for k, v in fields.items() if k != "sample_date"}, fields=LAB_FIELDS)
        try:
            lab.full_clean(exclude=["value_std"])
        except ValidationError as exc:
            errors.update(_prefixed(exc, f"lab:{fields.get('analyte', '?')}"))
            continue
        store(lab, user)

    scored: dict[str | None, Toxicity] = {t.kind: t for t in visit.toxicities.exclude(kind=c.ToxicityKind.CTCAE)}
    for i, fields in enumerate(data.toxicities):
        tox = (scored.get(fields.get("kind")) if fields.get("kind") != c.ToxicityKind.CTCAE else None) or Toxicity(
            patient=patient, procedure=procedure, visit=visit)
        tox.onset_date = fields.get("onset_date") or visit.visit_date
        assign(tox, {k: v for k, v in fields.items() if k != "onset_date"}, fields=TOXICITY_FIELDS)
        try:
            tox.full_clean()
        except ValidationError as exc:
            errors.update(_prefixed(exc, f"toxicity:{i}"))
            continue
        store(tox, user)

    if errors:
        raise ValidationError(errors)
    recompute_followup(patient)
    return visit


@transaction.atomic
def measurement_save(*, user: User, measurement: Measurement, data: Mapping[str, Any], reason: str = "") -> Measurement:
    """Correct one past measurement; every later category is recomputed in the same transaction."""
    assign(measurement, data, fields=MEASUREMENT_FIELDS)
    roles, _ = lesion_roles(measurement.visit.patient)
    errors = _check_recist_axis(measurement, roles.get(measurement.lesion_id, ""))
    measurement.full_clean()
    if errors:
        raise ValidationError(errors)
    save_validated(measurement, user=user, reason=reason)
    recompute_followup(measurement.visit.patient)
    return measurement


@transaction.atomic
def lab_save(*, user: User, patient: Patient, data: Mapping[str, Any], lab: LabResult | None = None) -> LabResult:
    lab = lab or LabResult(patient=patient)
    assign(lab, data, fields=LAB_SAVE_FIELDS)
    lab.full_clean(exclude=["value_std"])
    store(lab, user)
    recompute_followup(patient)
    return lab


@transaction.atomic
def toxicity_save(*, user: User, patient: Patient, data: Mapping[str, Any], toxicity: Toxicity | None = None) -> Toxicity:
    toxicity = toxicity or Toxicity(patient=patient, procedure=index_procedure(patient))
    update(toxicity, data, fields=TOXICITY_SAVE_FIELDS, user=user)
    recompute_followup(patient)
    return toxicity


@transaction.atomic
def therapy_save(*, user: User, patient: Patient, data: Mapping[str, Any], therapy: NewTherapy | None = None) -> NewTherapy:
    therapy = therapy or NewTherapy(patient=patient)
    update(therapy, data, fields=THERAPY_FIELDS, user=user)
    recompute_followup(patient)
    return therapy


class FollowUpWarnings(Exception):
    """The status would be saved with warnings nobody accepted yet: ``warnings`` lists them ({code, message})."""

    def __init__(self, warnings: list[dict[str, str]]) -> None:
        self.warnings = warnings
        super().__init__("; ".join(w["message"] for w in warnings))


OVERRIDE_MIN_CHARS = 5


def followup_status_warnings(patient: Patient, status: FollowUpStatus) -> list[dict[str, str]]:
    """The warnings of this status (``assessment.schedule.end_of_follow_up_warnings``)."""
    procedure = index_procedure(patient)
    if procedure is None:
        return []
    visits = [RecordedVisit(v.visit_date, v.timepoint) for v in patient.visits.all()
              if v.visit_date >= procedure.date or v.timepoint == c.Timepoint.BASELINE]
    return end_of_follow_up_warnings(procedure.date, visits, status.status, status.status_date,
                                     timezone.localdate(), schedule_settings())


@transaction.atomic
def followup_status_save(*, user: User, patient: Patient, data: Mapping[str, Any], override_reason: str = "") -> FollowUpStatus:
    """Record where the patient stands in the follow-up (in follow-up, completed, lost, withdrawn, died).

    Besides the model's rules: the date may not be before the index implant nor before the latest recorded visit
    (a visit is a contact: the last contact, a death or a withdrawal cannot precede it). Warnings (completed without
    a 12-month visit, lost with a recent contact) raise :class:`FollowUpWarnings` unless a physician (perm
    ``registry.sign_off``) gives an ``override_reason`` of at least 5 characters; the accepted warnings and the
    reason are stored on the record. Audited: the history row carries the user and a reason naming the status, its
    date and any override. Raises ``ValidationError`` naming the field."""
    status = FollowUpStatus.objects.filter(patient=patient).first() or FollowUpStatus(patient=patient)
    assign(status, data, fields=FOLLOWUP_STATUS_FIELDS)
    if status.status != c.FollowUpState.DIED:
        status.death_cause, status.death_cause_detail = status.death_cause or "", status.death_cause_detail or ""
    when = status.status_date
    if when is not None:
        procedure = index_procedure(patient)
        if procedure is not None and when < procedure.date:
            raise ValidationError({"status_date": f"Date {when} is before the implant ({procedure.date}); "
                                                  "allowed: on or after the implant."})
        last = patient.visits.order_by("-visit_date").values_list("visit_date", flat=True).first()
        if last is not None and when < last:
            raise ValidationError({"status_date": f"Date {when} is before the latest recorded visit ({last}); "
                                                  f"allowed: {last} or later ({status.date_label} cannot precede "
                                                  "a visit that took place)."})
    status.full_clean()
    warnings = followup_status_warnings(patient, status)
    reason = f"follow-up status: {status.get_status_display()}"
    if when is not None:
        reason += f" ({status.date_label} {when})"
    if status.status == c.FollowUpState.DIED:
        reason += f", cause: {status.get_death_cause_display()}"
    override_reason = (override_reason or "").strip()
    if warnings:
        if not override_reason:
            raise FollowUpWarnings(warnings)
        if not user.has_perm("registry.sign_off"):
            raise ValidationError({"override_reason": "A physician must confirm: "
                                                      + " ".join(w["message"] for w in warnings)})
        if len(override_reason) < OVERRIDE_MIN_CHARS:
            raise ValidationError({"override_reason": f"Override reason {override_reason!r} is too short; allowed: "
                                                      f"at least {OVERRIDE_MIN_CHARS} characters."})
        status.warnings, status.override_reason = warnings, override_reason
        status.overridden_by, status.overridden_at = user, timezone.now()
        reason += f"; warnings accepted ({', '.join(w['code'] for w in warnings)}): {override_reason}"
    else:
        status.warnings, status.override_reason, status.overridden_by, status.overridden_at = [], "", None, None
    return save_validated(status, user=user, reason=reason)


# --- the recomputation -------------------------------------------------------------------------------------------


def _baseline_visit(patient: Patient, procedure: ImplantProcedure | None) -> Visit | None:
    if procedure is None:
        return None
    return (patient.visits.filter(timepoint=c.Timepoint.BASELINE, visit_date__lte=procedure.date)
            .order_by("-visit_date").first())


_MODALITY: dict[str, recist.Modality] = {
    c.Modality.CT: recist.Modality.CT,
    c.Modality.MRI: recist.Modality.MRI,
    c.Modality.PET_CT: recist.Modality.CT,  # the CT of the hybrid scan is measured
    c.Modality.SPECT_CT: recist.Modality.CT,
    c.Modality.ULTRASOUND: recist.Modality.ULTRASOUND,
    c.Modality.CLINICAL: recist.Modality.CLINICAL,
}


def _role(role: str) -> recist.Role:
    # recist.Lesion turns the stored role into a Role itself and refuses any other value (RecistError)
    return cast(recist.Role, role)


def _tgab_cutoff(lab: LabResult) -> float:
    # a TgAb result is not stored without its cut-off (LabResult.clean)
    return float(cast(Decimal, lab.tgab_cutoff_iu_ml))


def _target_measurement(les: Lesion, m: Measurement | None, modality: str) -> recist.Measurement:
    if m is None:
        return recist.Measurement.not_assessed()
    q = m.qualifier
    axis = recist_axis_mm(les, m.long_mm, m.short_mm)
    if q == c.MeasurementQualifier.MEASURED:
        if axis is None:
            return recist.Measurement.not_assessed()
        return recist.Measurement.mm(Fraction(str(axis)), _MODALITY[modality])
    if q == c.MeasurementQualifier.TOO_SMALL:
        return recist.Measurement.too_small(Fraction(str(axis)) if axis is not None else None)
    if q == c.MeasurementQualifier.DISAPPEARED:
        return recist.Measurement.disappeared(Fraction(str(m.short_mm)) if les.nodal and m.short_mm else None)
    if q == c.MeasurementQualifier.NOT_EVALUABLE_ARTEFACT:
        return recist.Measurement.artefact()
    return recist.Measurement.not_assessed()


def _non_target_status(m: Measurement | None) -> recist.NonTargetStatus:
    if m is None:
        return recist.NonTargetStatus.NOT_EVALUATED
    if m.non_target_status:
        return recist.NonTargetStatus(m.non_target_status)
    by_qualifier: dict[str, recist.NonTargetStatus] = {
        c.MeasurementQualifier.DISAPPEARED: recist.NonTargetStatus.ABSENT,
        c.MeasurementQualifier.MEASURED: recist.NonTargetStatus.PRESENT,
        c.MeasurementQualifier.TOO_SMALL: recist.NonTargetStatus.PRESENT,
    }
    return by_qualifier.get(m.qualifier, recist.NonTargetStatus.NOT_EVALUATED)


def _new_lesions(visit: Visit) -> recist.NewLesions:
    kinds = {n.certainty for n in visit.new_lesions.all()}
    if c.NewLesionCertainty.UNEQUIVOCAL in kinds:
        return recist.NewLesions.YES
    if c.NewLesionCertainty.EQUIVOCAL in kinds:
        return recist.NewLesions.EQUIVOCAL
    return recist.NewLesions.NO


@dataclass(frozen=True)
class PatientFacts:
    """Everything the cores need for one patient, loaded once (also used by the cohort analysis)."""

    patient: Patient
    procedure: ImplantProcedure | None
    baseline: Visit | None
    followups: tuple[Visit, ...]
    lesions: tuple[Lesion, ...]
    roles: dict[int, str]
    roles_proposed: bool
    new_therapy_date: date | None


def load_facts(patient: Patient) -> PatientFacts:
    procedure = index_procedure(patient)
    visits = list(patient.visits.prefetch_related("measurements", "new_lesions").order_by("visit_date"))
    baseline = None
    if procedure is not None:
        pre = [v for v in visits if v.timepoint == c.Timepoint.BASELINE and v.visit_date <= procedure.date]
        baseline = pre[-1] if pre else None
    followups = tuple(v for v in visits if procedure is not None and v.visit_date > procedure.date)
    roles, proposed = lesion_roles(patient, baseline) if procedure is not None else ({}, False)
    therapy = None
    if procedure is not None:
        first = patient.new_therapies.filter(start_date__gt=procedure.date).order_by("start_date").first()
        therapy = first.start_date if first else None
    return PatientFacts(patient, procedure, baseline, followups, tuple(patient.lesions.all()), roles, proposed, therapy)


def recist_inputs(f: PatientFacts, *, all_targets: bool = False) -> tuple[list[recist.Lesion], list[recist.Assessment]]:
    """Core inputs from the facts. ``all_targets``: every followed lesion with a baseline size is a target (the
    per-lesion "modified RECIST" analysis)."""
    assert f.baseline is not None and f.procedure is not None
    base_meas = {m.lesion_id: m for m in f.baseline.measurements.all()}
    followed = [les for les in f.lesions if f.roles.get(les.pk) != c.LesionRole.NOT_FOLLOWED]
    roles = {}
    for les in followed:
        role = f.roles.get(les.pk, c.LesionRole.NON_TARGET)
        if all_targets:
            m = base_meas.get(les.pk)
            has_size = m is not None and m.qualifier == "measured" and recist_axis_mm(les, m.long_mm, m.short_mm)
            role = c.LesionRole.TARGET if has_size else c.LesionRole.NON_TARGET
        roles[les.pk] = role
    rl = [recist.Lesion(les.label, organ_of(les), les.nodal, _role(roles[les.pk])) for les in followed]
    assessments = []
    for v in (f.baseline, *f.followups):
        meas = {m.lesion_id: m for m in v.measurements.all()}
        target = {les.label: _target_measurement(les, meas.get(les.pk), v.modality)
                  for les in followed if roles[les.pk] == c.LesionRole.TARGET}
        non_target = {les.label: _non_target_status(meas.get(les.pk))
                      for les in followed if roles[les.pk] == c.LesionRole.NON_TARGET}
        assessments.append(recist.Assessment(v.visit_date, target, non_target, _new_lesions(v)))
    return rl, assessments


def evaluate_facts(f: PatientFacts, s: recist.RecistSettings) -> recist.RecistResult:
    """RECIST for one patient's facts (raises RecistError when the facts cannot be evaluated)."""
    if f.procedure is None:
        raise recist.RecistError("no implant procedure recorded (day 0 unknown)")
    if f.baseline is None:
        raise recist.RecistError(
            f"no baseline assessment on or before the implant ({f.procedure.date}); record the baseline visit"
        )
    lesions, assessments = recist_inputs(f, all_targets=s.mode is recist.Mode.PER_LESION)
    return recist.evaluate(lesions, assessments, f.procedure.date, s, new_therapy_date=f.new_therapy_date)


def _dec(x: Fraction | None) -> Decimal | None:
    return None if x is None else Decimal(str(round(float(x), 1)))


def _pct(x: Fraction | None) -> float | None:
    return None if x is None else round(float(x), 2)


def _volumes(f: PatientFacts, visits: Sequence[Visit]) -> tuple[dict[tuple[int, int], float | None], dict[int, float]]:
    """Per (visit, lesion) ellipsoid volume and per lesion baseline volume (baseline visit, else registry)."""
    per: dict[tuple[int, int], float | None] = {}
    base: dict[int, float] = {}
    for v in visits:
        meas = {m.lesion_id: m for m in v.measurements.all()}
        for les in f.lesions:
            m = meas.get(les.pk)
            vol = None
            if m is not None:
                vol = 0.0 if m.qualifier == c.MeasurementQualifier.DISAPPEARED and not les.nodal else m.volume_cm3
            per[(v.pk, les.pk)] = vol
    for les in f.lesions:
        vol = per.get((f.baseline.pk, les.pk)) if f.baseline else None
        if vol is None:
            vol = les.volume_cm3
        if vol is not None:
            base[les.pk] = vol
    return per, base


def _ata(visit: Visit, overall: str, labs: Sequence[LabResult], previous_tgab: TgAbReading | None,
         ata_settings: AtaSettings) -> tuple[str, str, TgAbReading | None]:
    tg_supp = [lab.lab_value() for lab in labs if lab.analyte == c.Analyte.TG and lab.tsh_state != c.TshState.STIMULATED]
    tg_stim = [lab.lab_value() for lab in labs if lab.analyte == c.Analyte.TG and lab.tsh_state == c.TshState.STIMULATED]
    tgab_labs = [lab for lab in labs if lab.analyte == c.Analyte.TGAB]
    tgab = None
    if tgab_labs:
        lab = tgab_labs[-1]
        tgab = TgAbReading(lab.lab_value(), _tgab_cutoff(lab), lab.assay or None)
    meas = list(visit.measurements.all())
    if visit.modality == c.Modality.CLINICAL or not meas:
        return "", "ATA response not assessed: no imaging of the lesions at this visit", tgab
    imaging = imaging_status_from_recist(overall, visit.imaging_nonspecific)
    if imaging is not ImagingStatus.STRUCTURAL and tgab is None:
        return "", "ATA response not assessed: no TgAb at this visit (Tg cannot be interpreted without it)", tgab
    if imaging is not ImagingStatus.STRUCTURAL and not (tg_supp or tg_stim) and tgab is not None and tgab.negative:
        return "", "ATA response not assessed: no Tg at this visit", tgab
    r = classify_response_to_therapy(imaging=imaging, suppressed_tg=tg_supp, stimulated_tg=tg_stim, tgab=tgab,
                                     previous_tgab=previous_tgab, settings=ata_settings)
    why = "disease visible on imaging (RECIST overall " + (overall or "not evaluable") + ")" \
        if imaging is ImagingStatus.STRUCTURAL else r.reason
    return r.category.value, f"{r.category.label}: {why}", tgab


def _tg_doubling(labs: Sequence[LabResult]) -> tuple[str, float | None, float | None, str]:
    tgab_by_date = {}
    for lab in labs:
        if lab.analyte == c.Analyte.TGAB:
            # Tg-DT needs TgAb negative (§6.2): positive and indeterminate TgAb both leave the Tg out
            tgab_by_date[lab.sample_date] = not TgAbReading(lab.lab_value(), _tgab_cutoff(lab)).negative
    tsh_by_date = {lab.sample_date: lab.value_std for lab in labs if lab.analyte == c.Analyte.TSH}
    points, excluded = [], 0
    for lab in labs:
        if lab.analyte != c.Analyte.TG or lab.tsh_state == c.TshState.STIMULATED:
            continue
        if tgab_by_date.get(lab.sample_date):
            excluded += 1
            continue
        points.append(TgPoint(lab.sample_date, lab.lab_value(), tsh_by_date.get(lab.sample_date)))
    cfg = followup_settings().doubling_time
    try:
        dt = tg_doubling_time(points, cfg)
    except ThyroglobulinInputError as exc:
        return "not computable", None, None, f"Tg doubling time not computable: {exc}"
    text = dt.display()
    if excluded:
        text += f" ({excluded} Tg value(s) with positive or indeterminate TgAb left out)"
    return dt.trend.value, dt.doubling_time_days, dt.doubling_rate_per_year, text


def recompute_followup(patient: Patient) -> FollowUpResult | None:
    """Replace every derived follow-up row of one patient (runs inside the caller's transaction)."""
    now = timezone.now()
    VisitResult.objects.filter(visit__patient=patient).delete()
    LesionVisitResult.objects.filter(visit__patient=patient).delete()
    FollowUpResult.objects.filter(patient=patient).delete()
    f = load_facts(patient)
    if f.procedure is None:
        return None
    s = recist_settings()
    flags: list[str] = []
    if f.roles_proposed and f.baseline is not None:
        flags.append("target selection proposed automatically from baseline sizes — confirm the designation")
    error = ""
    try:
        result = evaluate_facts(f, s)
    except recist.RecistError as exc:
        result, error = None, str(exc)
    try:
        per_lesion = evaluate_facts(f, recist_settings("per_lesion")) if s.mode is recist.Mode.STRICT else result
    except recist.RecistError:
        per_lesion = None

    visits = ([f.baseline] if f.baseline else []) + list(f.followups)
    labs = list(patient.lab_results.order_by("sample_date", "id"))
    labs_by_visit: dict[int, list[LabResult]] = {}
    for lab in labs:
        if lab.visit_id:
            labs_by_visit.setdefault(lab.visit_id, []).append(lab)
    vol_per, vol_base = _volumes(f, visits)
    ata_cfg = followup_settings().ata
    previous_tgab = None
    last_ata = ("", "")
    rows = []
    tps = result.timepoints if result else ()
    for k, v in enumerate(visits):
        tp = tps[k] if k < len(tps) else None
        if tp is None or result is None:  # no result, no time points
            day = (v.visit_date - f.procedure.date).days
            base = v is f.baseline
            overall = "" if base else recist.Response.NE.value
            reason = f"NE: {error}" if not base else f"baseline not evaluable: {error}"
            rv = VisitResult(visit=v, rule_set=recist.RULE_SET if s.mode is recist.Mode.STRICT
                             else recist.RULE_SET_PER_LESION, day=day, is_baseline=base,
                             overall=overall, reason=reason, flags=[], counts_for_bor=False, computed_at=now)
        else:
            rv = VisitResult(
                visit=v, rule_set=result.rule_set, day=tp.day, is_baseline=tp.is_baseline,
                sum_mm=_dec(tp.sum_mm), assessed_sum_mm=_dec(tp.assessed_sum_mm),
                change_from_baseline_pct=_pct(tp.change_from_baseline_pct), nadir_mm=_dec(tp.nadir_mm),
                change_from_nadir_pct=_pct(tp.change_from_nadir_pct),
                target=tp.target.value if tp.target else "", non_target=tp.non_target.value if tp.non_target else "",
                new_lesions=tp.new_lesions.value if tp.new_lesions else "", overall=tp.overall.value if tp.overall else "",
                reason=tp.reason, flags=list(tp.flags), counts_for_bor=tp.counts_for_bor, computed_at=now,
            )
        total, complete = 0.0, bool(vol_base)
        for les_pk in vol_base:
            vol = vol_base[les_pk] if v is f.baseline and vol_per.get((v.pk, les_pk)) is None else vol_per.get((v.pk, les_pk))
            if vol is None:
                complete = False
                break
            total += vol
        if complete:
            rv.volume_cm3 = round(total, 3)
            base_total = sum(vol_base.values())
            if v is not f.baseline and base_total > 0:
                rv.volume_change_pct = round(volume_change_pct(base_total, total), 2)
        if not rv.is_baseline:
            try:
                cat, why, tgab = _ata(v, rv.overall, labs_by_visit.get(v.pk, []), previous_tgab, ata_cfg)
            except ThyroglobulinInputError as exc:
                cat, why, tgab = "", f"ATA response not assessed: {exc}", None
            rv.ata_category, rv.ata_reason, rv.ata_rule_set = cat, why, ATA_RULE_SET
            previous_tgab = tgab or previous_tgab
            if cat:
                last_ata = (cat, why)
        rows.append(rv)
    VisitResult.objects.bulk_create(rows)
    LesionVisitResult.objects.bulk_create(_lesion_rows(f, visits, per_lesion, vol_per, vol_base))

    tg_trend, dt_days, dr, dt_text = _tg_doubling(labs)
    rtog: list[int] = []
    ctcae: list[int] = []
    for t in patient.toxicities.all():
        (ctcae if t.kind == c.ToxicityKind.CTCAE else rtog).append(t.grade)
    best_change = [tp.change_from_baseline_pct for tp in tps[1:]
                   if tp.counts_for_bor and tp.change_from_baseline_pct is not None]
    if result is not None:
        flags += list(result.flags)
    return FollowUpResult.objects.create(
        patient=patient, rule_set=result.rule_set if result else recist.RULE_SET, mode=s.mode.value,
        measurable_disease=result.measurable_disease if result else None,
        bor_unconfirmed=result.bor_unconfirmed.response.value if result else "NE",
        bor_unconfirmed_reason=result.bor_unconfirmed.reason if result else f"NE: {error}",
        bor_confirmed=result.bor_confirmed.response.value if result else "NE",
        bor_confirmed_reason=result.bor_confirmed.reason if result else f"NE: {error}",
        best_change_pct=_pct(min(best_change)) if best_change else None,
        error=error, flags=flags, tg_trend=tg_trend, tg_doubling_time_days=dt_days,
        tg_doubling_rate_per_year=dr, tg_dt_text=dt_text, ata_category=last_ata[0], ata_reason=last_ata[1],
        max_rtog_grade=max(rtog) if rtog else None, max_ctcae_grade=max(ctcae) if ctcae else None,
        toxicity_rule_sets=TOXICITY_RULE_SETS, computed_at=now,
    )


def _lesion_rows(f: PatientFacts, visits: Sequence[Visit], per_lesion: recist.RecistResult | None,
                 vol_per: Mapping[tuple[int, int], float | None],
                 vol_base: Mapping[int, float]) -> list[LesionVisitResult]:
    by_label = {lr.lesion_id: lr for lr in (per_lesion.per_lesion if per_lesion else ())}
    rows = []
    for les in f.lesions:
        if f.roles.get(les.pk) == c.LesionRole.NOT_FOLLOWED:
            continue
        lr = by_label.get(les.label)
        tps = {tp.assessment_date: tp for tp in lr.timepoints} if lr else {}
        base_vol = vol_base.get(les.pk)
        base_meas = None
        for v in visits:
            m = next((m for m in v.measurements.all() if m.lesion_id == les.pk), None)
            if v is f.baseline:
                base_meas = m
            tp = tps.get(v.visit_date)
            vol = vol_per.get((v.pk, les.pk))
            if v is f.baseline and vol is None:
                vol = base_vol
            if m is None and tp is None and vol is None:
                continue
            row = LesionVisitResult(visit=v, lesion=les, volume_cm3=None if vol is None else round(vol, 3))
            if vol is not None and base_vol and v is not f.baseline:
                try:
                    row.volume_change_pct = round(volume_change_pct(base_vol, vol), 2)
                except VolumeError:
                    row.volume_change_pct = None
            if tp is not None:
                row.size_mm, row.nadir_mm = _dec(tp.size_mm), _dec(tp.nadir_mm)
                row.response = tp.response.value if tp.response else ""
                row.reason = tp.reason
            if m is not None and m.mda_modality and v is not f.baseline:
                row.mda_response, row.mda_reason = _mda(m, base_meas, v, f)
            rows.append(row)
    return rows


def _spd(m: Measurement | None) -> float | None:
    if m is None or m.long_mm is None or m.short_mm is None or m.qualifier != "measured":
        return None
    return float(m.long_mm * m.short_mm)


def _mda(m: Measurement, base: Measurement | None, v: Visit, f: PatientFacts) -> tuple[str, str]:
    if f.procedure is None:  # recompute_followup stops before the lesion rows when there is no implant
        return "NE", "NE: no implant procedure recorded (day 0 unknown)"
    b, cur = _spd(base), _spd(m)
    try:
        r = mda_bone_response(
            m.mda_modality, m.mda_findings or (),
            baseline_spd_mm2=b if b is not None and cur is not None else None,
            current_spd_mm2=cur if b is not None and cur is not None else None,
            days_since_start=(v.visit_date - f.procedure.date).days, flare_excluded=m.flare_excluded,
        )
    except MdaError as exc:
        return "NE", f"NE: {exc}"
    return r.response.value, r.reason


# --- schedule ----------------------------------------------------------------------------------------------------


def patient_schedule(patient: Patient, today: date | None = None) -> tuple[ScheduledVisit, ...]:
    """The protocol visits of the patient's index implant with their status (the one schedule function)."""
    procedure = index_procedure(patient)
    if procedure is None:
        return ()
    visits = [RecordedVisit(v.visit_date, v.timepoint) for v in patient.visits.all()]
    therapy = patient.new_therapies.filter(start_date__gt=procedure.date).order_by("start_date").first()
    ends = [therapy.start_date] if therapy else []
    status = FollowUpStatus.objects.filter(patient=patient).first()
    if status is not None and status.left and status.status_date and status.status_date >= procedure.date:
        ends.append(status.status_date)  # died, withdrew, lost (last contact) or completed: no visit after it
    return visit_schedule(procedure.date, visits, today or timezone.localdate(), schedule_settings(),
                          follow_up_end=min(ends) if ends else None)


def recompute_all(patients: Iterable[Patient]) -> int:
    n = 0
    for p in patients:
        with transaction.atomic():
            recompute_followup(p)
        n += 1
    return n

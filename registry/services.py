"""Writes to the registry. Each runs in one transaction, validates with the model's rules, records who did it
(django-simple-history) and recomputes the derived values that depend on the changed facts.

Views, forms, the API and the demo loader call these; none of them writes models directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, SupportsFloat

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from common.protocol import section_settings
from common.writes import assign, save_validated, save_without_history, update
from registry import choices as c
from registry import dataversion, deletion, derived, overrides
from registry.eligibility import EligibilityFacts, EligibilityThresholds, evaluate_eligibility
from registry.iodine import cumulative_activity_gbq
from registry.models import (
    EligibilityAssessment,
    IodineCourse,
    IodineUptake,
    Lesion,
    Patient,
    RairClassification,
    Site,
)
from registry.rair import (
    CourseUptake,
    RairCriterion,
    RairCriterionFact,
    RairFacts,
    RairSettings,
    classify_rair,
    rair_consistency_warnings,
)
from registry.roles import SIGN_OFF_PERMISSION
from registry.staging import RULE_SET as STAGING_RULE_SET
from registry.staging import StagingError, stage_dtc

# --- derived values --------------------------------------------------------------------------------------------

def _stage(patient: Patient) -> tuple[str, str, str]:
    if not (patient.t_category and patient.n_category and patient.m_category):
        missing = [n for n, v in (("T", patient.t_category), ("N", patient.n_category), ("M", patient.m_category))
                   if not v]
        return "", f"not staged: {', '.join(missing)} not recorded", STAGING_RULE_SET
    age = patient.age_on(patient.diagnosis_date)
    try:
        result = stage_dtc(age, patient.t_category, patient.n_category, patient.m_category)
    except StagingError as exc:
        return "", str(exc), STAGING_RULE_SET
    return result.stage or "", result.reason, result.rule_set


def _rair_facts(patient: Patient, rair: RairClassification, courses: list[IodineCourse]) -> RairFacts:
    criteria = tuple(
        RairCriterionFact(
            criterion=criterion,
            present=getattr(rair, f"rair{i}_present"),
            evidence_date=getattr(rair, f"rair{i}_date"),
            evidence=getattr(rair, f"rair{i}_evidence"),
        )
        for i, criterion in enumerate(
            (RairCriterion.RAIR_1, RairCriterion.RAIR_2, RairCriterion.RAIR_3, RairCriterion.RAIR_4), start=1
        )
    )
    return RairFacts(
        criteria=criteria,
        had_therapeutic_rai=bool(courses),
        cumulative_activity_gbq=cumulative_activity_gbq(co.activity_gbq for co in courses) if courses else None,
        fdg_avid=rair.fdg_avid,
        progression_within_12_months=rair.progression_within_12_months,
    )


def _eligibility_facts(
    patient: Patient, a: EligibilityAssessment, rair_status: str, courses: list[IodineCourse]
) -> EligibilityFacts:
    def num(value: SupportsFloat | None) -> float | None:
        return None if value is None else float(value)

    prior = [co for co in courses if co.date <= (a.planned_implant_date or a.assessment_date)]
    thyroidectomy = (
        None if not patient.surgery_extent
        else patient.surgery_extent in (c.SurgeryExtent.TOTAL, c.SurgeryExtent.NEAR_TOTAL)
    )
    return EligibilityFacts(
        assessment_date=a.assessment_date,
        reference_date=a.planned_implant_date,
        labs_date=a.labs_date,
        wbc_e9_per_l=a.wbc_e9_per_l,
        hemoglobin_g_per_l=a.hemoglobin_g_per_l,
        platelets_e9_per_l=a.platelets_e9_per_l,
        pta_pct=num(a.pta_pct),
        alt_u_per_l=num(a.alt_u_per_l),
        alt_uln_u_per_l=num(a.alt_uln_u_per_l),
        ast_u_per_l=num(a.ast_u_per_l),
        ast_uln_u_per_l=num(a.ast_uln_u_per_l),
        ecg=a.ecg or None,
        kps=a.kps,
        tgab_iu_per_ml=num(a.tgab_iu_per_ml),
        tgab_cutoff_iu_per_ml=num(a.tgab_cutoff_iu_per_ml),
        thyroidectomy=thyroidectomy,
        prior_iodine=bool(prior),
        biopsy_proven_metastasis=a.biopsy_proven_metastasis,
        lesion_without_iodine_uptake=a.lesion_without_iodine_uptake,
        rair_status=rair_status,
        cumulative_iodine_gbq=cumulative_activity_gbq(co.activity_gbq for co in prior) if prior else None,
        last_iodine_date=max((co.date for co in prior), default=None),
        severe_cardiopulmonary_insufficiency=a.severe_cardiopulmonary_insufficiency,
        severe_hepatic_insufficiency=a.severe_hepatic_insufficiency,
        severe_renal_insufficiency=a.severe_renal_insufficiency,
        severe_coagulopathy=a.severe_coagulopathy,
        cachexia=a.cachexia,
        concurrent_radio_or_chemotherapy=a.concurrent_radio_or_chemotherapy,
        immunotherapy=a.immunotherapy,
    )


DERIVED_PATIENT_FIELDS = ("stage", "stage_reason", "stage_rule_set", "eligibility_status")


def recompute_patient(patient: Patient) -> Patient:
    """Recompute stage, RAIR status and every eligibility verdict of one patient from its stored facts.

    Runs inside the caller's transaction; derived rows are saved without a history entry of their own when
    nothing changed, so the audit trail shows facts, not recomputation noise.
    """
    now = timezone.now()
    courses = list(patient.iodine_courses.all())

    stage, reason, rule_set = _stage(patient)
    rair, _ = RairClassification.objects.get_or_create(patient=patient)
    rair_result = classify_rair(_rair_facts(patient, rair, courses), section_settings("rair", RairSettings))
    new_rair = (rair_result.status, list(rair_result.deciding), list(rair_result.flags), rair_result.rule_set)
    if new_rair != (rair.status, rair.deciding, rair.flags, rair.rule_set):
        dataversion.bump()  # derived values written without store(): the dashboard cache must see them
        rair.status, rair.deciding, rair.flags, rair.rule_set = new_rair
        rair.computed_at = now
        save_without_history(rair)

    thresholds = section_settings("eligibility", EligibilityThresholds)
    latest_status: str = c.EligibilityStatus.NOT_ASSESSED
    for i, a in enumerate(patient.eligibility_assessments.all()):  # newest first
        result = evaluate_eligibility(_eligibility_facts(patient, a, rair.status, courses), thresholds)
        criteria = [
            {"key": r.key, "label": r.label, "kind": r.kind, "outcome": r.outcome, "message": r.message}
            for r in result.criteria
        ]
        if (a.status, a.criteria, a.rule_set) != (result.status, criteria, result.rule_set):
            dataversion.bump()
            a.status, a.criteria, a.rule_set, a.computed_at = result.status, criteria, result.rule_set, now
            save_without_history(a)
        if i == 0:
            latest_status = result.status

    fields = {"stage": stage, "stage_reason": reason, "stage_rule_set": rule_set, "eligibility_status": latest_status}
    if any(getattr(patient, k) != v for k, v in fields.items()):
        dataversion.bump()
        Patient.objects.filter(pk=patient.pk).update(derived_at=now, **fields)
        assign(patient, fields, fields=DERIVED_PATIENT_FIELDS)
        patient.derived_at = now
    return patient


# --- patients --------------------------------------------------------------------------------------------------

STAGE_INPUTS = ("birth_date", "diagnosis_date", "t_category", "n_category", "m_category")

# What each service lets its caller set (common.writes whitelists): the facts of the registry forms.
PATIENT_FIELDS = (
    "record_number", "family_name", "given_name", "sex", "birth_date", "diagnosis_date", "histology",
    "histology_other", "surgery_extent", "surgery_date", "central_neck_dissection", "lateral_neck_dissection",
    "ata_initial_risk", "t_category", "n_category", "m_category", "tsh_suppression",
)
LESION_FIELDS = (
    "region", "cervical_level", "side", "lung_lobe", "site_detail", "nodal", "biopsy_date", "biopsy_result",
    "iodine_uptake", "fdg_avid", "enhancement", "baseline_long_mm", "baseline_short_mm", "baseline_third_mm",
    "baseline_volume_cm3",
)
IODINE_COURSE_FIELDS = ("date", "activity_value", "activity_unit", "notes")
RAIR_FIELDS = tuple(f"rair{i}_{part}" for i in range(1, 5) for part in ("present", "date", "evidence")) + (
    "fdg_avid", "progression_within_12_months")
ELIGIBILITY_FIELDS = (
    "assessment_date", "planned_implant_date", "labs_date", "wbc_value", "wbc_unit", "hemoglobin_value",
    "hemoglobin_unit", "platelets_value", "platelets_unit", "pta_pct", "inr", "alt_u_per_l", "alt_uln_u_per_l",
    "ast_u_per_l", "ast_uln_u_per_l", "ecg", "kps", "tgab_iu_per_ml", "tgab_cutoff_iu_per_ml", "tgab_assay",
    "tg_qualifier", "tg_ug_per_l", "biopsy_proven_metastasis", "lesion_without_iodine_uptake",
    "severe_cardiopulmonary_insufficiency", "severe_hepatic_insufficiency", "severe_renal_insufficiency",
    "severe_coagulopathy", "cachexia", "concurrent_radio_or_chemotherapy", "immunotherapy",
)


@transaction.atomic
def patient_create(*, user: User, site: Site, data: Mapping[str, Any]) -> Patient:
    site = Site.objects.select_for_update().get(pk=site.pk)
    patient = Patient(site=site, study_id=f"{site.code}-{site.next_study_number:04d}")
    update(patient, data, fields=PATIENT_FIELDS, user=user)
    Site.objects.filter(pk=site.pk).update(next_study_number=models.F("next_study_number") + 1)
    return recompute_patient(patient)


@transaction.atomic
def patient_update(*, user: User, patient: Patient, data: Mapping[str, Any]) -> Patient:
    if any(getattr(patient, k) != v for k, v in data.items() if k in STAGE_INPUTS):
        patient.stage_signed_off_by = None  # a sign-off covers the facts it saw
        patient.stage_signed_off_at = None
        patient.stage_sign_off_meaning = ""
    update(patient, data, fields=PATIENT_FIELDS, user=user)
    return recompute_patient(patient)


# --- lesions, courses, RAIR, eligibility --------------------------------------------------------------------------

@transaction.atomic
def lesion_save(*, user: User, patient: Patient, data: Mapping[str, Any], lesion: Lesion | None = None) -> Lesion:
    if lesion is None:
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        lesion = Lesion(patient=patient, label=f"L{locked.lesion_seq + 1}")
        Patient.objects.filter(pk=patient.pk).update(lesion_seq=models.F("lesion_seq") + 1)
    update(lesion, data, fields=LESION_FIELDS, user=user)
    recompute_patient(patient)
    derived.facts_changed(patient)  # follow-up results depend on the lesions (assessment registers)
    return lesion


@transaction.atomic
def iodine_course_save(
    *, user: User, patient: Patient, data: Mapping[str, Any], uptakes: Mapping[int, str] | None = None,
    course: IodineCourse | None = None,
) -> IodineCourse:
    """Save a course and, optionally, the post-therapy scan uptake per lesion id ("yes" / "no" / "unknown")."""
    course, _ = update(course or IodineCourse(patient=patient), data, fields=IODINE_COURSE_FIELDS, user=user)
    lesions = {le.pk: le for le in patient.lesions.all()}
    for lesion_id, value in (uptakes or {}).items():
        if lesion_id not in lesions:
            raise ValidationError({"uptakes": f"Lesion id {lesion_id} does not belong to {patient.study_id}."})
        row = IodineUptake.objects.filter(course=course, lesion_id=lesion_id).first() or IodineUptake(
            course=course, lesion=lesions[lesion_id]
        )
        if row.pk is None or row.uptake != value:
            update(row, {"uptake": value}, fields=("uptake",), user=user)
    recompute_patient(patient)
    return course


def rair_warnings(patient: Patient, rair: RairClassification) -> list[dict[str, str]]:
    """RAIR criteria contradicting the recorded ¹³¹I courses (pure core ``registry.rair``): RAIR-1 ("never took
    up radioiodine") while a course's post-therapy scan shows uptake in a lesion."""
    facts = _rair_facts(patient, rair, []).criteria
    uptakes = [CourseUptake(u.course.date, f"{u.lesion.label} ({u.lesion.site_text})", u.uptake)
               for u in IodineUptake.objects.filter(course__patient=patient).select_related("course", "lesion")
               .order_by("course__date", "lesion__label")]
    return rair_consistency_warnings(facts, uptakes)


@transaction.atomic
def rair_update(*, user: User, patient: Patient, data: Mapping[str, Any],
                override: overrides.Override | None = None) -> RairClassification:
    """Record the RAIR criteria. Criteria contradicting the ¹³¹I history (:func:`rair_warnings`) follow
    ``registry.overrides``: nothing is saved (:class:`registry.overrides.WarningsPending`) until a physician
    confirms with a reason, stored on the classification and in its history."""
    rair, _ = RairClassification.objects.get_or_create(patient=patient)
    assign(rair, data, fields=RAIR_FIELDS)
    rair.full_clean()
    decision = overrides.decide(user=user, warnings=rair_warnings(patient, rair), override=override,
                                accepted=rair.warnings)
    overrides.apply(rair, decision, user)
    save_validated(rair, user=user)
    recompute_patient(patient)
    rair.refresh_from_db()
    return rair


ELIGIBILITY_FACTS_EXCLUDED = {"status", "criteria", "rule_set", "computed_at", "signed_off_by", "signed_off_at",
                              "sign_off_meaning"}


@transaction.atomic
def eligibility_save(
    *, user: User, patient: Patient, data: Mapping[str, Any], assessment: EligibilityAssessment | None = None
) -> EligibilityAssessment:
    if assessment is not None and any(getattr(assessment, k) != v for k, v in data.items()):
        assessment.signed_off_by = None  # a fact changed: the sign-off no longer applies
        assessment.signed_off_at = None
        assessment.sign_off_meaning = ""
    assessment, _ = update(assessment or EligibilityAssessment(patient=patient), data, fields=ELIGIBILITY_FIELDS,
                           user=user)
    recompute_patient(patient)
    assessment.refresh_from_db()
    return assessment


def require_sign_off(user: User) -> None:
    """Refuse (PermissionDenied) a sign-off by a user whose role may not sign off (physicians only)."""
    if not user.has_perm(f"registry.{SIGN_OFF_PERMISSION}"):
        raise PermissionDenied("Only a physician may sign off.")


@transaction.atomic
def eligibility_sign_off(*, user: User, assessment: EligibilityAssessment, meaning: str = "") -> EligibilityAssessment:
    """``meaning``: the statement the signer approved (registry/signature.py), stored with who and when."""
    require_sign_off(user)
    if assessment.status == c.EligibilityStatus.INCOMPLETE:
        raise ValidationError("An incomplete eligibility assessment cannot be signed off; record the missing items.")
    assessment.signed_off_by = user
    assessment.signed_off_at = timezone.now()
    assessment.sign_off_meaning = meaning
    return save_validated(assessment, user=user, reason="signed off")


@transaction.atomic
def stage_sign_off(*, user: User, patient: Patient, meaning: str = "") -> Patient:
    require_sign_off(user)
    if not patient.stage:
        raise ValidationError("The patient has no stage to sign off; record T, N and M first.")
    patient.stage_signed_off_by = user
    patient.stage_signed_off_at = timezone.now()
    patient.stage_sign_off_meaning = meaning
    return save_validated(patient, user=user, reason="stage signed off")


MIN_REASON_CHARS = 5
_PARENTS = ("patient", "visit", "lesion", "course", "procedure", "plan", "dicom_import")


def owning_patient(instance: models.Model) -> Patient | None:
    """The patient a clinical record belongs to, following its parent links (measurement → visit → patient)."""
    seen = 0
    current: models.Model | None = instance
    while current is not None and not isinstance(current, Patient) and seen < 5:
        current = next((getattr(current, name) for name in _PARENTS if hasattr(current, name)), None)
        seen += 1
    return current if isinstance(current, Patient) else None


def _label(instance: models.Model) -> str:
    """The record's kind, capitalised, then the record, as the deletion messages name it (Django always fills
    ``verbose_name``, from the class name when the model gives none)."""
    return f"{str(instance._meta.verbose_name).capitalize()} {instance}"


def _check_deletion(user: User, instance: models.Model) -> None:
    opts = instance._meta
    if not user.has_perm(f"{opts.app_label}.delete_{opts.model_name}"):
        raise PermissionDenied(f"You may not delete a {opts.verbose_name}.")
    blocked = deletion.blockers(instance)
    if blocked:
        raise ValidationError(
            f"{_label(instance)} cannot be deleted: {'; '.join(blocked)}."
        )


def deletion_preview(*, user: User, instance: models.Model) -> tuple[list[str], list[str]]:
    """(what deleting ``instance`` would remove, one line per kind; what blocks it). Nothing is changed."""
    opts = instance._meta
    if not user.has_perm(f"{opts.app_label}.delete_{opts.model_name}"):
        raise PermissionDenied(f"You may not delete a {opts.verbose_name}.")
    blocked = deletion.blockers(instance)
    if blocked:
        return [], blocked
    result = deletion.preview(instance, user=user)
    return ([], list(result.blocked)) if result.blocked else (result.lines(), [])


@transaction.atomic
def delete_with_reason(*, user: User, instance: models.Model, reason: str) -> deletion.Deleted:
    """Delete a clinical record with everything that belongs to it, in one transaction (physicians and data
    managers only). Every deleted row, cascaded ones included, gets a history row with the user and the reason;
    stored files of the deleted rows are removed from storage once the transaction commits. A record that other
    clinical data depends on (a lesion measured at visits, an implant that is day 0 of visits) is refused with
    the sentence naming what blocks it; deleting the whole patient takes everything."""
    _check_deletion(user, instance)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise ValidationError({"reason": f"Give the reason for the deletion (at least {MIN_REASON_CHARS} "
                                         f"characters); got {reason!r}."})
    patient = None if isinstance(instance, Patient) else owning_patient(instance)
    label = _label(instance)
    try:
        result = deletion.delete_record(instance, user=user, reason=reason)
    except (ProtectedError, RestrictedError) as exc:  # a protection no app declared a blocker for
        raise ValidationError(f"{label} cannot be deleted: {deletion.protected_sentence(exc)}.") from None
    dataversion.bump()
    if patient is not None:
        recompute_patient(patient)
        derived.facts_changed(patient)
    return result

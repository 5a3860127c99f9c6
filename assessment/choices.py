"""Choices for follow-up facts. Values match the pure cores' enums (``assessment.recist`` and friends)."""

from __future__ import annotations

from django.db import models

from assessment.toxicity import CTCAE_TERMS, SEED_MIGRATION_TERM


class Timepoint(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    M2 = "m2", "2 months"
    M6 = "m6", "6 months"
    M12 = "m12", "12 months"
    UNSCHEDULED = "unscheduled", "Unscheduled"


class Modality(models.TextChoices):
    CT = "ct", "CT"
    MRI = "mri", "MRI"
    ULTRASOUND = "ultrasound", "Ultrasound (kept, never drives RECIST)"
    PET_CT = "pet_ct", "PET/CT"
    SPECT_CT = "spect_ct", "SPECT/CT"
    CLINICAL = "clinical", "Clinical examination only"


class LesionRole(models.TextChoices):
    TARGET = "target", "Target"
    NON_TARGET = "non-target", "Non-target"
    NOT_FOLLOWED = "not_followed", "Not followed"


class MeasurementQualifier(models.TextChoices):
    MEASURED = "measured", "Measured"
    TOO_SMALL = "too_small", "Too small to measure"
    DISAPPEARED = "disappeared", "Disappeared"
    NOT_ASSESSED = "not_assessed", "Not assessed"
    NOT_EVALUABLE_ARTEFACT = "not_evaluable_artefact", "Not evaluable: seed artefact"


class NonTargetStatus(models.TextChoices):
    ABSENT = "absent", "Absent"
    PRESENT = "present", "Present"
    PROGRESSION = "progression", "Unequivocal progression"
    NOT_EVALUATED = "not_evaluated", "Not evaluated"


class Enhancement(models.TextChoices):
    NONE = "none", "None"
    MILD = "mild", "Mild"
    MARKED = "marked", "Marked"


class NewLesionCertainty(models.TextChoices):
    EQUIVOCAL = "equivocal", "Equivocal"
    UNEQUIVOCAL = "unequivocal", "Unequivocal"


class Analyte(models.TextChoices):
    TG = "tg", "Tg"
    TGAB = "tgab", "TgAb"
    TSH = "tsh", "TSH"


ANALYTE_UNITS = {
    Analyte.TG: ["ng/mL", "µg/L", "ng/dL"],
    Analyte.TGAB: ["IU/mL", "kIU/L"],
    Analyte.TSH: ["mIU/L", "µIU/mL"],
}


class LabQualifier(models.TextChoices):
    EQ = "=", "="
    LT = "<", "<"
    GT = ">", ">"


class TshState(models.TextChoices):
    SUPPRESSED = "suppressed", "TSH suppressed"
    STIMULATED = "stimulated", "TSH stimulated"


class ToxicityKind(models.TextChoices):
    RTOG_SKIN = "rtog_skin", "RTOG/EORTC skin"
    RTOG_SUBCUTANEOUS = "rtog_subcutaneous", "RTOG/EORTC subcutaneous tissue (late only)"
    CTCAE = "ctcae", "CTCAE v5 complication"


# CTCAE v5 procedure terms (values are the term names the core grades). Seed migration and needle-tract
# implantation have no CTCAE term: they are "Injury, poisoning and procedural complications - Other, specify"
# with the specification filled in (reference §4.5).
SEED_MIGRATION = "seed migration"
NEEDLE_TRACT = "needle-tract implantation"
OTHER_SPECIFY_SHORTCUTS = {SEED_MIGRATION: "Seed migration", NEEDLE_TRACT: "Needle-tract implantation"}
CTCAE_TERM_CHOICES = [(t.term, t.term if t.term != SEED_MIGRATION_TERM else "Other, specify (procedural)")
                      for t in CTCAE_TERMS.values()]
CTCAE_TERM_CHOICES += [(key, f"{label} (Other, specify)") for key, label in OTHER_SPECIFY_SHORTCUTS.items()]


class TherapyKind(models.TextChoices):
    REPEAT_IMPLANT = "repeat_implant", "Repeat ¹²⁵I seed implantation"
    SURGERY = "surgery", "Surgery (e.g. neck dissection)"
    RAI = "rai", "Radioiodine (¹³¹I)"
    EBRT = "ebrt", "External beam radiotherapy"
    TKI = "tki", "Tyrosine-kinase inhibitor"
    OTHER = "other", "Other anticancer therapy"


class MdaModality(models.TextChoices):
    XR = "xr", "Radiograph"
    CT = "ct", "CT"
    MRI = "mri", "MRI"
    SS = "ss", "Skeletal scintigraphy"


class FollowUpState(models.TextChoices):
    """Where a patient stands in the follow-up (assessment.models.FollowUpStatus)."""

    IN_FOLLOW_UP = "in_follow_up", "In follow-up"
    COMPLETED = "completed", "Follow-up completed"
    LOST = "lost", "Lost to follow-up"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DIED = "died", "Died"


#: states in which the patient has left the follow-up (the worklist stops asking for visits)
LEFT_FOLLOW_UP = (FollowUpState.COMPLETED, FollowUpState.LOST, FollowUpState.WITHDRAWN, FollowUpState.DIED)


class DeathCause(models.TextChoices):
    THYROID_CANCER = "thyroid_cancer", "Thyroid cancer (disease progression)"
    TREATMENT = "treatment", "Treatment-related"
    OTHER = "other", "Other cause"
    UNKNOWN = "unknown", "Unknown"

"""Follow-up facts (visits, lesion measurements, new lesions, labs, toxicity, new therapies, target designation)
and the results derived from them.

Facts are entered by people and historised (django-simple-history: who, when, before/after). Single-row rules live
in ``clean`` so forms, the API and imports share them. Derived rows (``VisitResult``, ``LesionVisitResult``,
``FollowUpResult``) are written only by ``assessment.services.recompute_followup``, which calls the pure cores and
stamps the rule set; they are never typed in.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from assessment import choices as c
from assessment.protocol import FollowupSettings
from assessment.thyroglobulin import Analyte, TgAbReading, ThyroglobulinInputError, parse_lab_value
from assessment.toxicity import (
    SEED_MIGRATION_TERM,
    ToxicityInputError,
    ctcae_grade,
    days_since_implant,
    rtog_grade,
)
from common.protocol import section_settings
from dosimetry.models import ImplantProcedure
from registry.models import Lesion, Patient, check_dates
from registry.overrides import WarningOverride
from registry.volumes import ellipsoid_volume_cm3

MAX_AXIS_MM = 300


def _fmt(value) -> str:
    return f"{float(value):g}"


class LesionDesignation(models.Model):
    """Target / non-target role of a registered lesion, fixed at baseline (RECIST 1.1 §1.3)."""

    lesion = models.OneToOneField(Lesion, on_delete=models.CASCADE, related_name="designation")
    role = models.CharField(max_length=12, choices=c.LesionRole.choices)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.lesion.label}: {self.get_role_display()}"


class Visit(WarningOverride):
    """One follow-up (or baseline) assessment. Study day = visit date − implant date (day 0).

    ``warnings`` / ``override_reason`` / ``overridden_by`` / ``overridden_at``: the entry warnings (e.g. a date
    outside the time point's window) a physician accepted with a reason (``registry.overrides``).
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    procedure = models.ForeignKey(
        ImplantProcedure, on_delete=models.PROTECT, related_name="visits", verbose_name="implant (day 0)"
    )
    timepoint = models.CharField("time point", max_length=12, choices=c.Timepoint.choices)
    visit_date = models.DateField("visit date")
    modality = models.CharField("imaging modality", max_length=12, choices=c.Modality.choices, default=c.Modality.CT)
    slice_thickness_mm = models.DecimalField(
        "slice thickness (mm)", max_digits=4, decimal_places=1, null=True, blank=True
    )
    reader = models.CharField(max_length=100, blank=True, help_text="Radiologist who read the images.")
    imaging_nonspecific = models.BooleanField(
        "non-specific imaging findings", default=False,
        help_text="Findings that are neither clearly disease nor clearly normal (ATA 'indeterminate').",
    )
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "visit_date"]
        constraints = [models.UniqueConstraint(fields=["patient", "visit_date"], name="one_visit_per_day")]

    def __str__(self) -> str:
        return f"{self.get_timepoint_display()} visit {self.visit_date}"

    @property
    def day(self) -> int | None:
        if self.visit_date is None or self.procedure_id is None:
            return None
        return (self.visit_date - self.procedure.date).days

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.visit_date and self.visit_date > timezone.localdate():
            errors["visit_date"] = f"Visit date {self.visit_date} is in the future; record the visit once done."
        if self.procedure_id and self.patient_id and self.procedure.patient_id != self.patient_id:
            errors["procedure"] = "The implant belongs to another patient."
        if self.visit_date and self.procedure_id and self.timepoint and "visit_date" not in errors:
            implant = self.procedure.date
            if self.timepoint == c.Timepoint.BASELINE:
                if self.visit_date > implant:
                    errors["visit_date"] = (
                        f"Baseline visit date {self.visit_date} is after the implant ({implant}); "
                        "baseline imaging must be on or before the implant day."
                    )
            elif self.visit_date <= implant:
                errors["visit_date"] = (
                    f"Visit date {self.visit_date} is not after the implant ({implant}); a "
                    f"{self.get_timepoint_display()} visit must be after day 0 (only a baseline may precede it)."
                )
        if self.slice_thickness_mm is not None and not (0 < self.slice_thickness_mm <= 20):
            errors["slice_thickness_mm"] = f"Slice thickness {_fmt(self.slice_thickness_mm)} mm must be > 0 and ≤ 20 mm."
        check_dates(errors, self, {"visit_date": "since_diagnosis"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class Measurement(models.Model):
    """One registered lesion at one visit: axes in mm and a qualifier (target) or a status (non-target)."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="measurements")
    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="measurements")
    qualifier = models.CharField(
        max_length=24, choices=c.MeasurementQualifier.choices, default=c.MeasurementQualifier.MEASURED
    )
    long_mm = models.DecimalField("long axis (mm)", max_digits=5, decimal_places=1, null=True, blank=True)
    short_mm = models.DecimalField("short axis (mm)", max_digits=5, decimal_places=1, null=True, blank=True)
    third_mm = models.DecimalField("third axis (mm)", max_digits=5, decimal_places=1, null=True, blank=True)
    non_target_status = models.CharField(
        "non-target status", max_length=16, choices=c.NonTargetStatus.choices, blank=True
    )
    enhancement = models.CharField(max_length=8, choices=c.Enhancement.choices, blank=True)
    mda_modality = models.CharField("MDA modality (bone)", max_length=4, choices=c.MdaModality.choices, blank=True)
    mda_findings = models.JSONField("MDA findings (bone)", default=list, blank=True)
    flare_excluded = models.BooleanField("bone-scan flare excluded", default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit", "lesion"]
        constraints = [models.UniqueConstraint(fields=["visit", "lesion"], name="one_measurement_per_lesion")]

    def __str__(self) -> str:
        return f"{self.lesion.label} at {self.visit}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.lesion_id and self.visit_id and self.lesion.patient_id != self.visit.patient_id:
            errors["lesion"] = (
                f"Lesion {self.lesion.label} is not registered for this patient; register it in the registry first."
            )
        for name in ("long_mm", "short_mm", "third_mm"):
            value = getattr(self, name)
            if value is not None and not (0 < value <= MAX_AXIS_MM):
                label = self._meta.get_field(name).verbose_name
                errors[name] = f"{label.capitalize()} {_fmt(value)} mm must be > 0 and ≤ {MAX_AXIS_MM} mm."
        if (
            self.long_mm is not None and self.short_mm is not None
            and "short_mm" not in errors and "long_mm" not in errors and self.short_mm > self.long_mm
        ):
            errors["short_mm"] = (
                f"Short axis {_fmt(self.short_mm)} mm is longer than the long axis {_fmt(self.long_mm)} mm; "
                "the short axis must be ≤ the long axis."
            )
        q = self.qualifier
        if q in (c.MeasurementQualifier.NOT_ASSESSED, c.MeasurementQualifier.NOT_EVALUABLE_ARTEFACT) and any(
            v is not None for v in (self.long_mm, self.short_mm, self.third_mm)
        ):
            errors["qualifier"] = (
                f"A lesion marked '{self.get_qualifier_display().lower()}' carries no size; clear the axes or "
                "choose 'measured'."
            )
        if q == c.MeasurementQualifier.DISAPPEARED and "qualifier" not in errors:
            # A disappeared lesion has no size; only a node keeps its (normal) short axis (RECIST 1.1 §1.4).
            nodal = bool(self.lesion_id and self.lesion.nodal)
            kept = ("short_mm",) if nodal else ()
            for name in ("long_mm", "short_mm", "third_mm"):
                value = getattr(self, name)
                if value is not None and name not in kept and name not in errors:
                    label = self._meta.get_field(name).verbose_name
                    errors[name] = (
                        f"{label.capitalize()} {_fmt(value)} mm is given for a lesion marked 'disappeared'; allowed: "
                        + ("only the short axis of a node" if nodal else "no size") + ". Clear it or choose 'measured'."
                    )
        if self.mda_findings and not isinstance(self.mda_findings, list):
            errors["mda_findings"] = f"MDA findings {self.mda_findings!r} must be a list of finding codes."
        elif self.mda_findings and not self.mda_modality:
            errors["mda_modality"] = (
                f"MDA findings {', '.join(map(str, self.mda_findings))} are given without the MDA modality; choose "
                f"the modality they were read on ({', '.join(str(label) for label in c.MdaModality.labels)})."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def volume_cm3(self) -> float | None:
        """Ellipsoid π/6·a·b·c of the three axes when all three were measured."""
        if self.qualifier != c.MeasurementQualifier.MEASURED:
            return None
        axes = (self.long_mm, self.short_mm, self.third_mm)
        if any(a is None for a in axes):
            return None
        return ellipsoid_volume_cm3(*(float(a) for a in axes))


class NewLesion(models.Model):
    """A lesion first seen at this visit (RECIST §1.7): equivocal ones are re-imaged, unequivocal ones are PD."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="new_lesions")
    site = models.CharField(max_length=100)
    certainty = models.CharField(max_length=12, choices=c.NewLesionCertainty.choices)
    modality = models.CharField(max_length=12, choices=c.Modality.choices, default=c.Modality.CT)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"new lesion ({self.certainty}) {self.site}"

    def clean(self) -> None:
        if self.site is not None and not self.site.strip():
            raise ValidationError({"site": "Name the site of the new lesion."})


class LabResult(models.Model):
    """Tg, TgAb or TSH as reported ("<0.2" is stored as qualifier '<' and limit 0.2, never as 0)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lab_results")
    visit = models.ForeignKey(Visit, on_delete=models.SET_NULL, null=True, blank=True, related_name="labs")
    sample_date = models.DateField()
    analyte = models.CharField(max_length=6, choices=c.Analyte.choices)
    qualifier = models.CharField(max_length=1, choices=c.LabQualifier.choices, default=c.LabQualifier.EQ)
    value = models.DecimalField(max_digits=12, decimal_places=4, help_text="As reported, in the unit given.")
    unit = models.CharField(max_length=12)
    value_std = models.FloatField(
        "standardised value", editable=False, help_text="Tg ng/mL (= µg/L), TgAb IU/mL, TSH mIU/L."
    )
    assay = models.CharField(max_length=60, blank=True)
    loq = models.DecimalField(
        "limit of quantification", max_digits=10, decimal_places=4, null=True, blank=True,
        help_text="In the same unit as the value.",
    )
    tgab_cutoff_iu_ml = models.DecimalField(
        "TgAb positivity cut-off (IU/mL)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    tsh_state = models.CharField("TSH state", max_length=10, choices=c.TshState.choices, blank=True)
    history = HistoricalRecords()

    STANDARD_UNIT = {c.Analyte.TG: "ng/mL", c.Analyte.TGAB: "IU/mL", c.Analyte.TSH: "mIU/L"}

    class Meta:
        ordering = ["patient", "sample_date", "analyte"]

    def __str__(self) -> str:
        q = "" if self.qualifier == "=" else self.qualifier
        return f"{self.get_analyte_display()} {q}{_fmt(self.value)} {self.unit} ({self.sample_date})"

    @property
    def text(self) -> str:
        """The result as typed, every digit kept ("1234.567", never "1234.57" or "1e+06"), so the visit form shows
        exactly the stored value and an unchanged re-save changes nothing."""
        from decimal import Decimal

        q = "" if self.qualifier == "=" else self.qualifier
        return f"{q}{format(Decimal(self.value).normalize(), 'f')}"

    def lab_value(self):
        """The pure core's LabValue (standard unit), or raises ThyroglobulinInputError."""
        return parse_lab_value(
            f"{self.qualifier}{self.value}",
            unit=self.unit,
            analyte=Analyte(self.analyte),
            assay=self.assay or None,
            loq=float(self.loq) if self.loq is not None else None,
            field_name="value",
        )

    @property
    def tgab_status_text(self) -> str:
        """TgAb only: the verdict against the assay cut-off with its reason (assessment.thyroglobulin)."""
        if self.analyte != c.Analyte.TGAB or self.tgab_cutoff_iu_ml is None or self.value is None:
            return ""

        try:
            return TgAbReading(self.lab_value(), float(self.tgab_cutoff_iu_ml), self.assay or None).reason
        except ThyroglobulinInputError:
            return ""

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.sample_date and self.sample_date > timezone.localdate():
            errors["sample_date"] = f"Sample date {self.sample_date} is in the future."
        if self.visit_id and self.patient_id and self.visit.patient_id != self.patient_id:
            errors["visit"] = "The visit belongs to another patient."
        if self.analyte and self.value is not None and self.unit is not None:
            if self.value < 0:
                errors["value"] = f"Value {_fmt(self.value)} is negative; a lab value must be ≥ 0."
            else:
                try:
                    lab = self.lab_value()
                except ThyroglobulinInputError as exc:
                    target = "unit" if exc.field.endswith("unit") else (
                        "loq" if exc.field.endswith("loq") else "value")
                    allowed = exc.allowed
                    if target == "unit":
                        errors["unit"] = (
                            f"Unit {self.unit!r} is not accepted for {self.get_analyte_display()}; use {allowed}."
                        )
                    else:
                        errors[target] = f"{target.capitalize()} {exc.value!r} is not allowed; allowed: {allowed}."
                else:
                    self.value_std = lab.value
        if self.analyte == c.Analyte.TGAB and self.tgab_cutoff_iu_ml is None:
            errors["tgab_cutoff_iu_ml"] = "Give the TgAb assay's positivity cut-off (IU/mL); results are not comparable without it."
        if self.tgab_cutoff_iu_ml is not None and self.tgab_cutoff_iu_ml <= 0:
            errors["tgab_cutoff_iu_ml"] = f"TgAb cut-off {_fmt(self.tgab_cutoff_iu_ml)} IU/mL must be > 0."
        if self.analyte == c.Analyte.TG and not self.tsh_state:
            errors["tsh_state"] = "Say whether the Tg was drawn under TSH suppression or stimulation."
        check_dates(errors, self, {"sample_date": "since_diagnosis"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class Toxicity(models.Model):
    """An RTOG/EORTC skin score or a CTCAE v5 complication of the implant. The RTOG scale (acute ≤ day 90, late
    after) is derived from the date, never from the visit label."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="toxicities")
    procedure = models.ForeignKey(ImplantProcedure, on_delete=models.CASCADE, related_name="toxicities",
                                  verbose_name="implant")
    visit = models.ForeignKey(Visit, on_delete=models.SET_NULL, null=True, blank=True, related_name="toxicities")
    kind = models.CharField(max_length=20, choices=c.ToxicityKind.choices)
    onset_date = models.DateField("date scored / onset")
    grade = models.PositiveSmallIntegerField()
    ctcae_term = models.CharField("CTCAE term", max_length=80, choices=c.CTCAE_TERM_CHOICES, blank=True)
    specify = models.CharField("specify (Other, specify)", max_length=100, blank=True)
    resolution_date = models.DateField(null=True, blank=True)
    treatment = models.CharField(max_length=200, blank=True)
    # derived from the date and the grade by the pure core (assessment.toxicity)
    scale = models.CharField(max_length=80, editable=False, blank=True)
    description = models.CharField(max_length=200, editable=False, blank=True)
    rule_set = models.CharField(max_length=20, editable=False, blank=True)
    days_since_implant = models.IntegerField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "onset_date"]
        verbose_name_plural = "toxicities"

    def __str__(self) -> str:
        return f"{self.scale_label} grade {self.grade} ({self.onset_date})"

    SCALE_LABELS = {"rtog_acute_skin": "RTOG/EORTC acute skin", "rtog_late_skin": "RTOG/EORTC late skin",
                    "rtog_late_subcutaneous": "RTOG/EORTC late subcutaneous"}

    @property
    def scale_label(self) -> str:
        """The scale in words (acute/late RTOG), or the CTCAE term."""
        return self.SCALE_LABELS.get(self.scale, self.scale or self.get_kind_display())

    def clean(self) -> None:

        errors: dict[str, str] = {}
        if self.onset_date and self.onset_date > timezone.localdate():
            errors["onset_date"] = f"Date {self.onset_date} is in the future."
        if self.resolution_date and self.onset_date and self.resolution_date < self.onset_date:
            errors["resolution_date"] = f"Resolution {self.resolution_date} is before the onset {self.onset_date}."
        if self.procedure_id and self.patient_id and self.procedure.patient_id != self.patient_id:
            errors["procedure"] = "The implant belongs to another patient."
        check_dates(errors, self, {"onset_date": "event", "resolution_date": "event"},
                    self.patient if self.patient_id else None)
        if errors or not (self.procedure_id and self.onset_date and self.kind) or self.grade is None:
            if errors:
                raise ValidationError(errors)
            return
        try:
            days = days_since_implant(self.procedure.date, self.onset_date)
            if self.kind == c.ToxicityKind.CTCAE:
                term, specify = self.ctcae_term, self.specify.strip() or None
                if not term:
                    raise ValidationError({"ctcae_term": "Choose the CTCAE term of the complication."})
                if term in c.OTHER_SPECIFY_SHORTCUTS:
                    term, specify = SEED_MIGRATION_TERM, specify or term
                result = ctcae_grade(term, int(self.grade), specify=specify)
                self.ctcae_term = term
                self.specify = result.specify or ""
            else:
                result = rtog_grade(
                    int(self.grade), days=days,
                    subcutaneous=self.kind == c.ToxicityKind.RTOG_SUBCUTANEOUS,
                    settings=_toxicity_settings(),
                )
        except ToxicityInputError as exc:
            name = {"assessment_date": "onset_date", "subcutaneous": "kind", "term": "ctcae_term"}.get(
                exc.field, exc.field if exc.field in ("grade", "specify") else "grade"
            )
            label = self._meta.get_field(name).verbose_name
            raise ValidationError({name: f"{label.capitalize()} {exc.value!r} is not allowed; allowed: {exc.allowed}."}) from None
        self.scale, self.description, self.rule_set = result.scale, result.description[:200], result.rule_set
        self.days_since_implant = days


def _toxicity_settings():
    return section_settings("followup", FollowupSettings).toxicity


class NewTherapy(models.Model):
    """New anticancer therapy after the implant: it ends the window of response assessment (RECIST §1.9)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="new_therapies")
    kind = models.CharField(max_length=16, choices=c.TherapyKind.choices)
    start_date = models.DateField()
    notes = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "start_date"]
        verbose_name_plural = "new therapies"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.start_date}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start_date and self.start_date > timezone.localdate():
            errors["start_date"] = f"Start date {self.start_date} is in the future."
        check_dates(errors, self, {"start_date": "event"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class FollowUpStatus(models.Model):
    """Where the patient stands in the follow-up: in follow-up, completed, lost (last contact date), withdrawn or
    died (date, cause). One row per patient, recorded by nurses through ``assessment.services.followup_status_save``
    (which also checks the date against the implant and the visits); every change is in the history."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="followup_status")
    status = models.CharField(max_length=16, choices=c.FollowUpState.choices, default=c.FollowUpState.IN_FOLLOW_UP)
    status_date = models.DateField(
        "date", null=True, blank=True,
        help_text="Completed / withdrawn: the date; lost to follow-up: the last contact; died: the date of death.")
    death_cause = models.CharField("cause of death", max_length=16, choices=c.DeathCause.choices, blank=True)
    death_cause_detail = models.CharField("cause of death (detail)", max_length=200, blank=True)
    warnings = models.JSONField(default=list, blank=True, editable=False,
                                help_text="Warnings a physician accepted when saving ({code, message}).")
    override_reason = models.TextField(blank=True, editable=False)
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                      editable=False, related_name="+")
    overridden_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "follow-up statuses"

    def __str__(self) -> str:
        when = f" ({self.date_label} {self.status_date})" if self.status_date else ""
        return f"{self.get_status_display()}{when}"

    @property
    def date_label(self) -> str:
        return {c.FollowUpState.LOST: "last contact", c.FollowUpState.DIED: "died"}.get(self.status, "on")

    @property
    def left(self) -> bool:
        return self.status in c.LEFT_FOLLOW_UP

    def clean(self) -> None:
        errors: dict[str, str] = {}
        label = self.get_status_display() if self.status else ""
        if self.status in c.LEFT_FOLLOW_UP and self.status_date is None:
            what = "the last contact date" if self.status == c.FollowUpState.LOST else "the date"
            errors["status_date"] = f"{label}: {what} is required."
        if self.status == c.FollowUpState.IN_FOLLOW_UP and self.status_date is not None:
            errors["status_date"] = (f"In follow-up: got a date ({self.status_date}); allowed: no date (give one "
                                     "with completed, lost, withdrawn or died).")
        if self.status_date and self.status_date > timezone.localdate():
            errors["status_date"] = f"Date {self.status_date} is in the future; allowed: today or earlier."
        if self.status == c.FollowUpState.DIED and not self.death_cause:
            errors["death_cause"] = "Died: the cause of death is required (choose 'Unknown' if it is not known)."
        if self.status != c.FollowUpState.DIED and (self.death_cause or self.death_cause_detail):
            errors["death_cause"] = f"{label or 'This status'}: a cause of death is allowed only with 'Died'."
        if errors:
            raise ValidationError(errors)


# --- derived results (written only by assessment.services) ------------------------------------------------------


class VisitResult(models.Model):
    """Patient-level RECIST time point (and ATA response) of one visit, recomputed from the facts."""

    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="result")
    rule_set = models.CharField(max_length=40)
    day = models.IntegerField()
    is_baseline = models.BooleanField(default=False)
    sum_mm = models.DecimalField(max_digits=7, decimal_places=1, null=True)
    assessed_sum_mm = models.DecimalField(max_digits=7, decimal_places=1, null=True)
    change_from_baseline_pct = models.FloatField(null=True)
    nadir_mm = models.DecimalField(max_digits=7, decimal_places=1, null=True)
    change_from_nadir_pct = models.FloatField(null=True)
    target = models.CharField(max_length=16, blank=True)
    non_target = models.CharField(max_length=16, blank=True)
    new_lesions = models.CharField(max_length=10, blank=True)
    overall = models.CharField(max_length=16, blank=True)
    reason = models.TextField()
    flags = models.JSONField(default=list)
    counts_for_bor = models.BooleanField(default=True)
    volume_cm3 = models.FloatField(null=True)
    volume_change_pct = models.FloatField(null=True)
    ata_category = models.CharField(max_length=30, blank=True)
    ata_reason = models.TextField(blank=True)
    ata_rule_set = models.CharField(max_length=10, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.visit}: {self.overall or 'baseline'}"

    @property
    def overall_label(self) -> str:
        return RESPONSE_LABELS.get(self.overall, self.overall)


class LesionVisitResult(models.Model):
    """One lesion at one visit: size, volume and its change, per-lesion ("modified RECIST") and MDA responses."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="lesion_results")
    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="visit_results")
    size_mm = models.DecimalField(max_digits=6, decimal_places=1, null=True)
    nadir_mm = models.DecimalField(max_digits=6, decimal_places=1, null=True)
    volume_cm3 = models.FloatField(null=True)
    volume_change_pct = models.FloatField(null=True)
    response = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True)
    mda_response = models.CharField(max_length=4, blank=True)
    mda_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["visit", "lesion"]
        constraints = [models.UniqueConstraint(fields=["visit", "lesion"], name="one_lesion_result")]

    def __str__(self) -> str:
        return f"{self.lesion.label} at {self.visit}: {self.response or '-'}"


class FollowUpResult(models.Model):
    """Per-patient derived follow-up: best overall response, Tg doubling time, latest ATA response, worst toxicity."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="followup")
    rule_set = models.CharField(max_length=40)
    mode = models.CharField(max_length=12)
    measurable_disease = models.BooleanField(null=True)
    bor_unconfirmed = models.CharField(max_length=16, blank=True)
    bor_unconfirmed_reason = models.TextField(blank=True)
    bor_confirmed = models.CharField(max_length=16, blank=True)
    bor_confirmed_reason = models.TextField(blank=True)
    best_change_pct = models.FloatField(null=True, help_text="Lowest % change of the sum from baseline.")
    error = models.TextField(blank=True, help_text="Why the facts could not be evaluated (all time points NE).")
    flags = models.JSONField(default=list)
    tg_trend = models.CharField(max_length=20, blank=True)
    tg_doubling_time_days = models.FloatField(null=True)
    tg_doubling_rate_per_year = models.FloatField(null=True)
    tg_dt_text = models.CharField(max_length=200, blank=True)
    ata_category = models.CharField(max_length=30, blank=True)
    ata_reason = models.TextField(blank=True)
    max_rtog_grade = models.PositiveSmallIntegerField(null=True)
    max_ctcae_grade = models.PositiveSmallIntegerField(null=True)
    toxicity_rule_sets = models.CharField(max_length=60, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.patient}: BOR {self.bor_unconfirmed}"


RESPONSE_LABELS = {
    "CR": "CR (complete response)",
    "PR": "PR (partial response)",
    "SD": "SD (stable disease)",
    "PD": "PD (progressive disease)",
    "NE": "NE (not evaluable)",
    "NON_CR_NON_PD": "Non-CR/Non-PD",
    "NA": "not applicable",
}

"""Registry facts: sites, patients, ¹³¹I courses, metastatic lesions, RAIR facts and eligibility assessments.

Models hold facts and single-row invariants (``clean``). Derived values (stage, RAIR status, eligibility) are
written only by ``registry.services``, which calls the pure cores and stamps the rule set used.
Every clinical model is historised by django-simple-history (who, when, before/after).
"""

from __future__ import annotations

import datetime as dt

import simple_history
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.protocol import section_settings
from registry import choices as c
from registry.eligibility import EligibilityInputError, check_plausible, validate_kps
from registry.overrides import WarningOverride
from registry.plausibility import DateKind, DateLimits, date_problem
from registry.roles import is_data_manager
from registry.staging import age_in_completed_years
from registry.units import UnitError, convert
from registry.volumes import ellipsoid_volume_cm3


def _today() -> dt.date:
    return timezone.localdate()


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_dates(errors: dict[str, str], obj: models.Model, fields: dict[str, str], patient=None) -> None:
    """Add the implausible-date errors (registry/plausibility.py) of ``fields`` (name → "event" / "since_diagnosis"
    / "planned") to ``errors``, keeping an error already found for a field. Shared by every clinical model."""

    limits = section_settings("plausibility", DateLimits)
    for name, kind in fields.items():
        if name in errors:
            continue
        label = str(obj._meta.get_field(name).verbose_name)
        problem = date_problem(
            label[0].upper() + label[1:], getattr(obj, name), kind=DateKind(kind), today=_today(), limits=limits,
            birth=getattr(patient, "birth_date", None), diagnosis=getattr(patient, "diagnosis_date", None),
        )
        if problem:
            errors[name] = problem


class Site(models.Model):
    """A hospital or centre; study IDs are numbered per site (``NTC-0007``)."""

    code = models.CharField(
        max_length=10, unique=True, help_text="Short upper-case code used in study IDs, e.g. NTC."
    )
    name = models.CharField(max_length=200)
    next_study_number = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class SiteMembership(models.Model):
    """A user works at a site; she sees only the patients of her sites (data managers see all)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_memberships")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site.code}"


class AccountSecurity(models.Model):
    """Account state the user admin keeps beside Django's user (registry/admin_users.py).

    ``must_change_password``: a data manager issued a temporary password (shown to him once); until the user
    chooses his own, every page sends him to the password-change page (registry.middleware). The flag holds only
    while the stored password is still the temporary one (``temp_password_hash``), so any real change ends it.
    ``created_by``: the data manager who created the account (he manages it while it has no site yet).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_security")
    must_change_password = models.BooleanField(default=False)
    temp_password_hash = models.CharField(max_length=256, blank=True)
    temp_issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    temp_issued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    history = HistoricalRecords(excluded_fields=["temp_password_hash"])

    class Meta:
        verbose_name = "account security"
        verbose_name_plural = "account security"

    def __str__(self) -> str:
        return f"account security of {self.user}"

    def password_change_pending(self) -> bool:
        return self.must_change_password and self.temp_password_hash == self.user.password


class PatientQuerySet(models.QuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """The one place where site scoping is decided (pages, API and reports all call it)."""
        if not user.is_authenticated:
            return self.none()
        if is_data_manager(user):
            return self
        return self.filter(site__memberships__user=user)


class Patient(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    study_id = models.CharField(max_length=20, unique=True, editable=False)
    record_number = models.CharField("hospital record number", max_length=40)
    family_name = models.CharField(max_length=100)
    given_name = models.CharField(max_length=100)
    sex = models.CharField(max_length=1, choices=c.Sex.choices)
    birth_date = models.DateField("date of birth")
    diagnosis_date = models.DateField("date of diagnosis")
    histology = models.CharField(max_length=30, choices=c.Histology.choices)
    histology_other = models.CharField("histology (other)", max_length=100, blank=True)
    surgery_extent = models.CharField("initial surgery", max_length=20, choices=c.SurgeryExtent.choices, blank=True)
    surgery_date = models.DateField("date of surgery", null=True, blank=True)
    central_neck_dissection = models.BooleanField(null=True, blank=True)
    lateral_neck_dissection = models.CharField(max_length=20, choices=c.NeckDissection.choices, blank=True)
    ata_initial_risk = models.CharField("ATA initial risk", max_length=20, choices=c.AtaRisk.choices, blank=True)
    t_category = models.CharField("T", max_length=4, choices=c.TCategory.choices, blank=True)
    n_category = models.CharField("N", max_length=4, choices=c.NCategory.choices, blank=True)
    m_category = models.CharField("M", max_length=4, choices=c.MCategory.choices, blank=True)
    tsh_suppression = models.BooleanField("TSH-suppression therapy", null=True, blank=True)

    # Derived (registry.services.recompute_patient); never edited by hand.
    stage = models.CharField(max_length=8, blank=True, editable=False)
    stage_reason = models.CharField(max_length=200, blank=True, editable=False)
    stage_rule_set = models.CharField(max_length=20, blank=True, editable=False)
    stage_signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    stage_signed_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The electronic signature's statement of meaning ("I, <full name>, approve …"), as the signer saw it.
    stage_sign_off_meaning = models.TextField("stage sign-off meaning", blank=True, editable=False)
    eligibility_status = models.CharField(
        max_length=20, choices=c.EligibilityStatus.choices, default=c.EligibilityStatus.NOT_ASSESSED, editable=False
    )
    lesion_seq = models.PositiveIntegerField(default=0, editable=False)
    derived_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["derived_at"])

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "record_number"], name="unique_record_number_per_site"),
        ]
        permissions = [("sign_off", "Can sign off eligibility, staging and dosimetry")]

    def __str__(self) -> str:
        return self.study_id

    def age_on(self, day: dt.date) -> int:
        return age_in_completed_years(self.birth_date, day)

    def validate_constraints(self, exclude=None) -> None:
        # The record-number constraint is checked in clean() with a message naming the value.
        super().validate_constraints(exclude={*(exclude or ()), "record_number"})

    def clean(self) -> None:
        errors: dict[str, str] = {}
        today = _today()
        if self.birth_date and self.birth_date > today:
            errors["birth_date"] = f"Date of birth {self.birth_date} is in the future; it must be on or before {today}."
        if self.diagnosis_date and self.diagnosis_date > today:
            errors["diagnosis_date"] = (
                f"Date of diagnosis {self.diagnosis_date} is in the future; it must be on or before {today}."
            )
        if self.birth_date and self.diagnosis_date and self.diagnosis_date < self.birth_date:
            errors["diagnosis_date"] = (
                f"Date of diagnosis {self.diagnosis_date} is before the date of birth {self.birth_date}; "
                "it must be on or after it."
            )
        if self.birth_date and self.birth_date < today - dt.timedelta(days=int(365.25 * 120)):
            errors["birth_date"] = f"Date of birth {self.birth_date} gives an age over 120 years."
        if self.surgery_date:
            if self.surgery_date > today:
                errors["surgery_date"] = f"Date of surgery {self.surgery_date} is in the future."
            elif self.birth_date and self.surgery_date < self.birth_date:
                errors["surgery_date"] = f"Date of surgery {self.surgery_date} is before the date of birth."
            if not self.surgery_extent:
                errors["surgery_extent"] = "Give the extent of the surgery dated " f"{self.surgery_date}."
        if self.site_id and self.record_number:
            clash = Patient.objects.filter(site_id=self.site_id, record_number=self.record_number).exclude(pk=self.pk)
            if clash.exists():
                errors["record_number"] = (
                    f"Record number {self.record_number} is already used at site {self.site.code}; "
                    "record numbers must be unique within a site."
                )
        if self.histology == c.Histology.OTHER and not self.histology_other.strip():
            errors["histology_other"] = "Name the histology when 'Other' is chosen."
        elif self.histology and self.histology != c.Histology.OTHER and self.histology_other.strip():
            errors["histology_other"] = (
                f"Histology (other) {self.histology_other.strip()!r} is given with the histology "
                f"'{self.get_histology_display()}'; allowed only when 'Other' is chosen: clear it or choose 'Other'."
            )
        check_dates(errors, self, {"birth_date": "event"})
        check_dates(errors, self, {"diagnosis_date": "event", "surgery_date": "event"}, patient=self)
        if errors:
            raise ValidationError(errors)


class IodineCourse(models.Model):
    """One ¹³¹I therapy course; activity kept as entered and in GBq."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="iodine_courses")
    date = models.DateField()
    activity_value = models.DecimalField("activity", max_digits=8, decimal_places=3)
    activity_unit = models.CharField(max_length=4, choices=c.ActivityUnit.choices, default=c.ActivityUnit.GBQ)
    activity_gbq = models.FloatField(editable=False)
    notes = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    # A single therapeutic ¹³¹I course above 15 GBq (≈ 400 mCi) is not given in practice.
    MAX_COURSE_GBQ = 15.0

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"¹³¹I {self.activity_gbq:.2f} GBq on {self.date}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.date and self.date > _today():
            errors["date"] = f"Course date {self.date} is in the future; it must be on or before {_today()}."
        elif self.date and self.patient_id and self.date < self.patient.birth_date:
            errors["date"] = f"Course date {self.date} is before the date of birth {self.patient.birth_date}."
        if self.activity_value is not None:
            value = float(self.activity_value)
            if value <= 0:
                errors["activity_value"] = f"Activity {_fmt(value)} {self.activity_unit} must be greater than 0."
            else:
                try:
                    gbq = convert("activity", value, self.activity_unit)
                except UnitError as exc:
                    errors["activity_unit"] = str(exc)
                else:
                    if gbq > self.MAX_COURSE_GBQ:
                        errors["activity_value"] = (
                            f"Activity {_fmt(value)} {self.activity_unit} = {gbq:.1f} GBq exceeds the plausible "
                            f"maximum of {self.MAX_COURSE_GBQ:g} GBq for one course."
                        )
                    else:
                        self.activity_gbq = gbq
        check_dates(errors, self, {"date": "since_diagnosis"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class Lesion(models.Model):
    """A metastatic lesion with a stable per-patient label (L1, L2, …) that follow-ups refer to."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lesions")
    label = models.CharField(max_length=8, editable=False)
    region = models.CharField("anatomical site", max_length=20, choices=c.LesionRegion.choices)
    cervical_level = models.CharField(max_length=4, choices=c.CervicalLevel.choices, blank=True)
    side = models.CharField(max_length=10, choices=c.Side.choices, blank=True)
    lung_lobe = models.CharField(max_length=4, choices=c.LungLobe.choices, blank=True)
    site_detail = models.CharField("site detail", max_length=100, blank=True, help_text="Bone site, or 'other'.")
    nodal = models.BooleanField("lymph node", default=True)
    biopsy_date = models.DateField(null=True, blank=True)
    biopsy_result = models.CharField(max_length=20, choices=c.BiopsyResult.choices, blank=True)
    iodine_uptake = models.CharField(
        "iodine uptake on imaging", max_length=8, choices=c.YesNoUnknown.choices, default=c.YesNoUnknown.UNKNOWN
    )
    fdg_avid = models.CharField("FDG avid", max_length=8, choices=c.YesNoUnknown.choices, default="unknown")
    enhancement = models.CharField("contrast enhancement", max_length=8, choices=c.Enhancement.choices, blank=True)
    baseline_long_mm = models.DecimalField("baseline long axis (mm)", max_digits=5, decimal_places=1, null=True,
                                           blank=True)
    baseline_short_mm = models.DecimalField("baseline short axis (mm)", max_digits=5, decimal_places=1, null=True,
                                            blank=True)
    baseline_third_mm = models.DecimalField("baseline third axis (mm)", max_digits=5, decimal_places=1, null=True,
                                            blank=True)
    baseline_volume_cm3 = models.DecimalField(
        "baseline volume (cm³)", max_digits=7, decimal_places=2, null=True, blank=True,
        help_text="Measured volume; left blank, the ellipsoid π/6·a·b·c of the three axes is used.",
    )
    history = HistoricalRecords()

    MAX_AXIS_MM = 300

    class Meta:
        ordering = ["patient", "id"]
        constraints = [models.UniqueConstraint(fields=["patient", "label"], name="unique_lesion_label")]

    def __str__(self) -> str:
        return f"{self.label} {self.site_text}"

    @property
    def site_text(self) -> str:
        region = c.LesionRegion(self.region)
        if region == c.LesionRegion.CERVICAL_NODE:
            return f"cervical level {self.cervical_level} {self.side}".strip()
        if region == c.LesionRegion.LUNG:
            return f"lung {self.lung_lobe}"
        if region in (c.LesionRegion.BONE, c.LesionRegion.OTHER, c.LesionRegion.SOFT_TISSUE) and self.site_detail:
            return f"{region.label.lower()}: {self.site_detail}"
        side = f" {self.side}" if self.side else ""
        return f"{region.label.lower()}{side}"

    @property
    def volume_cm3(self) -> float | None:
        """Measured baseline volume, else the ellipsoid of the three axes, else None."""
        if self.baseline_volume_cm3 is not None:
            return float(self.baseline_volume_cm3)
        axes = (self.baseline_long_mm, self.baseline_short_mm, self.baseline_third_mm)
        if any(a is None for a in axes):
            return None
        return ellipsoid_volume_cm3(*(float(a) for a in axes))

    def clean(self) -> None:
        errors: dict[str, str] = {}
        region = self.region
        if region == c.LesionRegion.CERVICAL_NODE:
            if not self.cervical_level:
                errors["cervical_level"] = "A cervical nodal lesion needs its level (I–VII)."
            if not self.side:
                errors["side"] = "A cervical nodal lesion needs its side (left, right or midline)."
        if region == c.LesionRegion.LUNG and not self.lung_lobe:
            errors["lung_lobe"] = "A lung lesion needs its lobe."
        region_label = c.LesionRegion(region).label.lower() if region in c.LesionRegion.values else region
        if self.cervical_level and region and region != c.LesionRegion.CERVICAL_NODE:
            errors["cervical_level"] = (
                f"Cervical level {self.cervical_level} is given for a lesion in '{region_label}'; allowed only for a "
                "cervical lymph node: clear the level or choose that site."
            )
        if self.lung_lobe and region and region != c.LesionRegion.LUNG:
            errors["lung_lobe"] = (
                f"Lung lobe {self.lung_lobe} is given for a lesion in '{region_label}'; allowed only for a lung "
                "lesion: clear the lobe or choose 'Lung'."
            )
        if region in (c.LesionRegion.BONE, c.LesionRegion.OTHER) and not self.site_detail.strip():
            errors["site_detail"] = f"Name the {'bone' if region == c.LesionRegion.BONE else 'site'} of the lesion."
        if region in c.NODAL_REGIONS and not self.nodal:
            errors["nodal"] = f"A lesion in '{c.LesionRegion(region).label}' is a lymph node; tick 'lymph node'."
        if region in (c.LesionRegion.LUNG, c.LesionRegion.BONE) and self.nodal:
            errors["nodal"] = f"A {region} lesion is not a lymph node; untick 'lymph node'."
        for name in ("baseline_long_mm", "baseline_short_mm", "baseline_third_mm"):
            value = getattr(self, name)
            if value is not None and not (0 < value <= self.MAX_AXIS_MM):
                label = self._meta.get_field(name).verbose_name
                errors[name] = f"{label.capitalize()} {_fmt(float(value))} mm must be > 0 and ≤ {self.MAX_AXIS_MM} mm."
        if (
            self.baseline_long_mm is not None
            and self.baseline_short_mm is not None
            and "baseline_short_mm" not in errors
            and self.baseline_short_mm > self.baseline_long_mm
        ):
            errors["baseline_short_mm"] = (
                f"Short axis {_fmt(float(self.baseline_short_mm))} mm is longer than the long axis "
                f"{_fmt(float(self.baseline_long_mm))} mm; the short axis must be ≤ the long axis."
            )
        if self.baseline_volume_cm3 is not None and not (0 < self.baseline_volume_cm3 <= 1000):
            errors["baseline_volume_cm3"] = (
                f"Volume {_fmt(float(self.baseline_volume_cm3))} cm³ must be > 0 and ≤ 1000 cm³."
            )
        if self.biopsy_date and self.biopsy_date > _today():
            errors["biopsy_date"] = f"Biopsy date {self.biopsy_date} is in the future."
        if self.biopsy_result and not self.biopsy_date:
            errors["biopsy_date"] = "Give the date of the biopsy whose result is recorded."
        check_dates(errors, self, {"biopsy_date": "event"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class IodineUptake(models.Model):
    """Post-therapy scan uptake of one lesion after one ¹³¹I course."""

    course = models.ForeignKey(IodineCourse, on_delete=models.CASCADE, related_name="uptakes")
    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="uptakes")
    uptake = models.CharField(max_length=8, choices=c.YesNoUnknown.choices, default=c.YesNoUnknown.UNKNOWN)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "lesion"], name="unique_uptake")]

    def __str__(self) -> str:
        return f"{self.lesion.label}: {self.uptake}"


_BOOL_UNKNOWN = {"null": True, "blank": True}


class RairClassification(WarningOverride):
    """ATA 2015 RAIR-DTC criteria recorded as facts with evidence dates; the status is derived.

    ``warnings`` / ``override_reason`` / ``overridden_by`` / ``overridden_at``: criteria contradicting the
    recorded ¹³¹I courses (RAIR-1 with uptake on a post-therapy scan) that a physician confirmed with a reason.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="rair")
    rair1_present = models.BooleanField("RAIR-1: never concentrated RAI", **_BOOL_UNKNOWN)
    rair1_date = models.DateField("RAIR-1 evidence date", null=True, blank=True)
    rair1_evidence = models.CharField("RAIR-1 evidence", max_length=200, blank=True)
    rair2_present = models.BooleanField("RAIR-2: lost the ability to concentrate RAI", **_BOOL_UNKNOWN)
    rair2_date = models.DateField("RAIR-2 evidence date", null=True, blank=True)
    rair2_evidence = models.CharField("RAIR-2 evidence", max_length=200, blank=True)
    rair3_present = models.BooleanField("RAIR-3: uptake in some lesions but not others", **_BOOL_UNKNOWN)
    rair3_date = models.DateField("RAIR-3 evidence date", null=True, blank=True)
    rair3_evidence = models.CharField("RAIR-3 evidence", max_length=200, blank=True)
    rair4_present = models.BooleanField("RAIR-4: progression despite significant uptake", **_BOOL_UNKNOWN)
    rair4_date = models.DateField("RAIR-4 evidence date", null=True, blank=True)
    rair4_evidence = models.CharField("RAIR-4 evidence", max_length=200, blank=True)
    fdg_avid = models.BooleanField("FDG-avid disease", **_BOOL_UNKNOWN)
    progression_within_12_months = models.BooleanField("progression within 12 months after RAI", **_BOOL_UNKNOWN)

    # Derived by registry.services.
    status = models.CharField(
        max_length=20, choices=c.RairStatus.choices, default=c.RairStatus.UNDETERMINED, editable=False
    )
    deciding = models.JSONField(default=list, editable=False)
    flags = models.JSONField(default=list, editable=False)
    rule_set = models.CharField(max_length=20, blank=True, editable=False)
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["computed_at"])

    def __str__(self) -> str:
        return f"RAIR {self.get_status_display()}"

    def clean(self) -> None:
        errors = {}
        for i in range(1, 5):
            day = getattr(self, f"rair{i}_date")
            if day and day > _today():
                errors[f"rair{i}_date"] = f"Evidence date {day} is in the future."
            if day and getattr(self, f"rair{i}_present") is None:
                errors[f"rair{i}_present"] = f"RAIR-{i} has an evidence date; record whether it is present."
        check_dates(errors, self, {f"rair{i}_date": "event" for i in range(1, 5)},
                    self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


class EligibilityAssessment(models.Model):
    """Pre-procedure work-up: labs with units, inclusion and exclusion facts. The verdict is derived."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="eligibility_assessments")
    assessment_date = models.DateField()
    planned_implant_date = models.DateField(null=True, blank=True)
    labs_date = models.DateField("date of the labs", null=True, blank=True)
    wbc_value = models.DecimalField("WBC", max_digits=8, decimal_places=2, null=True, blank=True)
    wbc_unit = models.CharField("WBC unit", max_length=20, default="×10⁹/L")
    wbc_e9_per_l = models.FloatField(null=True, editable=False)
    hemoglobin_value = models.DecimalField("haemoglobin", max_digits=6, decimal_places=1, null=True, blank=True)
    hemoglobin_unit = models.CharField("haemoglobin unit", max_length=20, default="g/L")
    hemoglobin_g_per_l = models.FloatField(null=True, editable=False)
    platelets_value = models.DecimalField("platelets", max_digits=8, decimal_places=1, null=True, blank=True)
    platelets_unit = models.CharField("platelets unit", max_length=20, default="×10⁹/L")
    platelets_e9_per_l = models.FloatField(null=True, editable=False)
    pta_pct = models.DecimalField("prothrombin activity (%)", max_digits=5, decimal_places=1, null=True, blank=True)
    inr = models.DecimalField("INR (kept, not used by the rule)", max_digits=4, decimal_places=2, null=True,
                              blank=True)
    alt_u_per_l = models.DecimalField("ALT (U/L)", max_digits=7, decimal_places=1, null=True, blank=True)
    alt_uln_u_per_l = models.DecimalField("ALT ULN (U/L)", max_digits=6, decimal_places=1, null=True, blank=True)
    ast_u_per_l = models.DecimalField("AST (U/L)", max_digits=7, decimal_places=1, null=True, blank=True)
    ast_uln_u_per_l = models.DecimalField("AST ULN (U/L)", max_digits=6, decimal_places=1, null=True, blank=True)
    ecg = models.CharField("ECG", max_length=30, choices=c.Ecg.choices, blank=True)
    kps = models.PositiveSmallIntegerField("KPS", null=True, blank=True, help_text="0–100 in steps of 10.")
    tgab_iu_per_ml = models.DecimalField("TgAb (IU/mL)", max_digits=9, decimal_places=2, null=True, blank=True)
    tgab_cutoff_iu_per_ml = models.DecimalField("TgAb assay cut-off (IU/mL)", max_digits=7, decimal_places=2,
                                                null=True, blank=True)
    tgab_assay = models.CharField("TgAb assay", max_length=100, blank=True)
    tg_qualifier = models.CharField("Tg qualifier", max_length=1, choices=c.Qualifier.choices, default="=")
    tg_ug_per_l = models.DecimalField("Tg (µg/L)", max_digits=9, decimal_places=2, null=True, blank=True)
    # Inclusion facts not derivable from the rest of the registry.
    biopsy_proven_metastasis = models.BooleanField(**_BOOL_UNKNOWN)
    lesion_without_iodine_uptake = models.BooleanField("lesion without iodine uptake", **_BOOL_UNKNOWN)
    # Exclusion facts (yes = excluded).
    severe_cardiopulmonary_insufficiency = models.BooleanField(**_BOOL_UNKNOWN)
    severe_hepatic_insufficiency = models.BooleanField(**_BOOL_UNKNOWN)
    severe_renal_insufficiency = models.BooleanField(**_BOOL_UNKNOWN)
    severe_coagulopathy = models.BooleanField(**_BOOL_UNKNOWN)
    cachexia = models.BooleanField(**_BOOL_UNKNOWN)
    concurrent_radio_or_chemotherapy = models.BooleanField("concurrent radio- or chemotherapy", **_BOOL_UNKNOWN)
    immunotherapy = models.BooleanField(**_BOOL_UNKNOWN)

    # Derived by registry.services.
    status = models.CharField(
        max_length=20, choices=c.EligibilityStatus.choices, default=c.EligibilityStatus.INCOMPLETE, editable=False
    )
    criteria = models.JSONField(default=list, editable=False)
    rule_set = models.CharField(max_length=30, blank=True, editable=False)
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    sign_off_meaning = models.TextField("sign-off meaning", blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["computed_at"])

    class Meta:
        ordering = ["-assessment_date", "-id"]

    def __str__(self) -> str:
        return f"Eligibility {self.assessment_date}: {self.get_status_display()}"

    LAB_FIELDS = {
        # value field → (analyte for units / plausibility, unit field, standardised field)
        "wbc_value": ("wbc", "wbc_unit", "wbc_e9_per_l"),
        "hemoglobin_value": ("hemoglobin", "hemoglobin_unit", "hemoglobin_g_per_l"),
        "platelets_value": ("platelets", "platelets_unit", "platelets_e9_per_l"),
    }
    PLAIN_LABS = {
        "pta_pct": "pta",
        "alt_u_per_l": "alt",
        "ast_u_per_l": "ast",
        "alt_uln_u_per_l": "uln",
        "ast_uln_u_per_l": "uln",
        "tgab_iu_per_ml": "tgab",
        "tgab_cutoff_iu_per_ml": "tgab",
        "tg_ug_per_l": "tg",
    }

    def clean(self) -> None:
        errors: dict[str, str] = {}
        today = _today()
        for name in ("assessment_date", "labs_date"):
            day = getattr(self, name)
            if day and day > today:
                errors[name] = f"{self._meta.get_field(name).verbose_name.capitalize()} {day} is in the future."
        if self.labs_date and self.assessment_date and self.labs_date > self.assessment_date:
            errors["labs_date"] = f"Labs dated {self.labs_date} are after the assessment ({self.assessment_date})."
        if self.planned_implant_date and self.assessment_date and self.planned_implant_date < self.assessment_date:
            errors["planned_implant_date"] = (
                f"Planned implant {self.planned_implant_date} is before the assessment {self.assessment_date}; "
                "the assessment must come first."
            )
        for value_field, (analyte, unit_field, std_field) in self.LAB_FIELDS.items():
            value = getattr(self, value_field)
            setattr(self, std_field, None)
            if value is None:
                try:  # a unit typed without its value is still checked, never stored unchecked
                    convert(analyte, 1.0, getattr(self, unit_field))
                except UnitError as exc:
                    errors[unit_field] = str(exc)
                continue
            try:
                std = convert(analyte, float(value), getattr(self, unit_field))
            except UnitError as exc:
                errors[unit_field] = str(exc)
                continue
            try:
                check_plausible(analyte, std)
            except EligibilityInputError as exc:
                errors[value_field] = str(exc)
                continue
            setattr(self, std_field, std)
        for field, analyte in self.PLAIN_LABS.items():
            value = getattr(self, field)
            if value is None:
                continue
            try:
                check_plausible(analyte, float(value))
            except EligibilityInputError as exc:
                errors[field] = str(exc)
        if self.kps is not None:
            try:
                validate_kps(self.kps)
            except EligibilityInputError as exc:
                errors["kps"] = str(exc)
        if self.tg_ug_per_l is None and self.tg_qualifier and self.tg_qualifier != c.Qualifier.EQ:
            errors["tg_qualifier"] = (
                f"Tg qualifier {self.tg_qualifier!r} is given without a Tg value; allowed only with a value: type the "
                "Tg or set the qualifier back to '='."
            )
        if self.tgab_iu_per_ml is not None and self.tgab_cutoff_iu_per_ml is None:
            errors["tgab_cutoff_iu_per_ml"] = "Give the TgAb assay's positivity cut-off; TgAb values are assay-specific."
        check_dates(errors, self, {"assessment_date": "since_diagnosis", "labs_date": "since_diagnosis",
                                   "planned_implant_date": "planned"}, self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)


# Users: a new account, an activation, a role (auth group) or permission given or taken, a staff flag — each is a
# history row with who and when (the admin's history view shows it with the reason). Password hashes and login
# times are not copied into the history; a save that touches only them (a login) writes no row.
class UserHistory(HistoricalRecords):
    """History of ``auth.User`` with its groups and permissions (m2m).

    simple-history records an m2m change on the instance that made it; one made from the other side
    (``group.user_set.add(user)``) would be recorded on the group, which has no history: it is recorded on each user
    it touches instead."""

    def m2m_changed(self, instance, action, attr, pk_set, reverse, model=None, **kwargs):
        if not reverse:
            return super().m2m_changed(instance, action, attr, pk_set, reverse, **kwargs)
        if action == "pre_clear":
            instance._seedtrack_cleared_users = list(model.objects.filter(**{attr: instance}))
            return None
        if action == "post_clear":
            touched = getattr(instance, "_seedtrack_cleared_users", [])
        elif action in ("post_add", "post_remove") and pk_set:
            touched = list(model.objects.filter(pk__in=pk_set))
        else:
            return None
        for user in touched:
            super().m2m_changed(user, action, attr, None, False, **kwargs)
        return None


USER_HISTORY_EXCLUDED = ("password", "last_login")


def _skip_login_stamp(sender, instance, update_fields=None, **kwargs) -> None:
    """A save of only the password hash or the login time (``update_last_login``) writes no history row."""
    if update_fields and set(update_fields) <= set(USER_HISTORY_EXCLUDED) and not hasattr(
        instance, "skip_history_when_saving"
    ):
        instance.skip_history_when_saving = instance._seedtrack_skipped = True


def _end_skip_login_stamp(sender, instance, **kwargs) -> None:
    if getattr(instance, "_seedtrack_skipped", False):
        del instance.skip_history_when_saving, instance._seedtrack_skipped


def _register_user_history() -> None:
    user_model = get_user_model()
    if not hasattr(user_model._meta, "simple_history_manager_attribute"):
        simple_history.register(user_model, app="registry", records_class=UserHistory,
                                excluded_fields=list(USER_HISTORY_EXCLUDED), m2m_fields=["groups", "user_permissions"])
    # Connected after simple-history's own post_save, so the flag is still there when it looks.
    pre_save.connect(_skip_login_stamp, sender=user_model, dispatch_uid="seedtrack-user-history-skip")
    post_save.connect(_end_skip_login_stamp, sender=user_model, dispatch_uid="seedtrack-user-history-skip-end")


_register_user_history()
class FreeTextRelease(models.Model):
    """A data manager released one exact free text to reviewers (registry/free_text.py). The text is identified by
    its SHA-256, so an edited text is withheld again; revoking deletes the row (the history keeps both)."""

    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    field = models.CharField(max_length=64)
    sha256 = models.CharField("SHA-256 of the text", max_length=64)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="+")
    released_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["content_type", "object_id", "field", "sha256"],
                                               name="unique_free_text_release")]
        indexes = [models.Index(fields=["content_type", "object_id", "field"], name="free_text_release_lookup")]

    def __str__(self) -> str:
        return f"{self.content_type.app_label}.{self.content_type.model} #{self.object_id} {self.field}"


from registry.dataversion import DataVersion  # noqa: E402,F401  (the dashboard cache's data version)

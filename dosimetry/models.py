"""Implant procedures, the seed catalogue and dose plans (pre-plan vs post-implant verification).

Facts and single-row invariants live here; imports, TG-43 recomputation and the pre/post comparison live in
``dosimetry.services`` on top of the pure cores (``tg43``, ``dvh``, ``dicom_io``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.protocol import section_settings
from dosimetry.plan_checks import check_structure_metrics
from dosimetry.protocol import DosimetrySettings
from dosimetry.sources import SeedModelData, seed_model_from_dict
from registry.models import Lesion, Patient, Site, check_dates


def _fmt(value) -> str:
    return f"{float(value):g}"


class SeedModel(models.Model):
    """A seed model of the catalogue; ``data`` holds the TG-43U1 tables (``dosimetry.sources.SeedModelData``)."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=200, blank=True)
    isotope = models.CharField(max_length=10, default="I-125")
    half_life_days = models.FloatField()
    active_length_cm = models.FloatField()
    dose_rate_constant_cgy_per_h_per_u = models.FloatField("Λ (cGy·h⁻¹·U⁻¹)")
    notes = models.TextField(blank=True)
    data = models.JSONField(help_text="TG-43U1 tables: g_L(r), F(r,θ), φ_an(r)")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def core(self) -> SeedModelData:
        return seed_model_from_dict(self.data)


class Anaesthesia(models.TextChoices):
    LOCAL = "local", "Local"
    SEDATION = "sedation", "Local with sedation"
    GENERAL = "general", "General"


class ImplantProcedure(models.Model):
    """One CT-guided ¹²⁵I seed implantation; its date is day 0 of follow-up."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="procedures")
    date = models.DateField("implant date")
    lesions = models.ManyToManyField(Lesion, related_name="procedures", verbose_name="lesions treated")
    operator = models.CharField(max_length=100)
    ct_scanner = models.CharField("CT guidance / scanner", max_length=100, blank=True)
    anaesthesia = models.CharField(max_length=10, choices=Anaesthesia.choices, default=Anaesthesia.LOCAL)
    positioning_aids = models.CharField(max_length=200, blank=True, help_text="e.g. vacuum cushion, 3-D template")
    needles = models.PositiveSmallIntegerField("needles used", null=True, blank=True)
    seed_model = models.ForeignKey(SeedModel, on_delete=models.PROTECT)
    seeds_implanted = models.PositiveIntegerField()
    activity_per_seed_mbq = models.DecimalField("apparent activity per seed (MBq)", max_digits=6, decimal_places=2)
    activity_calibration_date = models.DateField("activity calibration date")
    prescription_gy = models.DecimalField("prescription dose (Gy)", max_digits=6, decimal_places=1)
    intraoperative_events = models.TextField("intra-operative events", blank=True)
    deviation_from_plan = models.BooleanField(default=False)
    deviation_reason = models.CharField(max_length=200, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the dosimetry sign-off covers: the plans of record at that moment (services.procedure_sign_off);
    # emptied with the sign-off when a plan of record changes or its metrics change.
    sign_off_covers = models.JSONField(default=dict, blank=True, editable=False)
    # The electronic signature's statement of meaning ("I, <full name>, approve …"), as the signer saw it.
    sign_off_meaning = models.TextField("sign-off meaning", blank=True, editable=False)
    # Protocol deviations (dosimetry.deviations) a physician accepted when saving, with the reason
    # ([{"code", "message"}]; named accepted_warnings because ``warnings()`` is the protocol-range check).
    accepted_warnings = models.JSONField(default=list, blank=True, editable=False)
    override_reason = models.TextField(blank=True, editable=False)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(m2m_fields=[lesions])

    MAX_SEEDS = 300
    ACTIVITY_RANGE_MBQ = (3.0, 60.0)  # apparent activity of one ¹²⁵I seed (0.1–1.6 mCi); outside is a typing error
    PRESCRIPTION_RANGE_GY = (10.0, 300.0)  # plausibility, not the protocol range (a warning; config/protocol.py)

    class Meta:
        ordering = ["patient", "date"]

    def __str__(self) -> str:
        return f"Implant {self.date}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        today = timezone.localdate()
        if self.date and self.date > today:
            errors["date"] = f"Implant date {self.date} is in the future; record the procedure once done."
        elif self.date and self.patient_id and self.date < self.patient.diagnosis_date:
            errors["date"] = f"Implant date {self.date} is before the diagnosis ({self.patient.diagnosis_date})."
        if self.seeds_implanted is not None and not (1 <= self.seeds_implanted <= self.MAX_SEEDS):
            errors["seeds_implanted"] = (
                f"Seeds implanted {self.seeds_implanted} must be between 1 and {self.MAX_SEEDS}."
            )
        low, high = self.ACTIVITY_RANGE_MBQ
        if self.activity_per_seed_mbq is not None and not (low <= self.activity_per_seed_mbq <= high):
            errors["activity_per_seed_mbq"] = (
                f"Activity {_fmt(self.activity_per_seed_mbq)} MBq per seed is outside the plausible range "
                f"{low:g}–{high:g} MBq for an ¹²⁵I seed."
            )
        low, high = self.PRESCRIPTION_RANGE_GY
        if self.prescription_gy is not None and not (low <= self.prescription_gy <= high):
            errors["prescription_gy"] = (
                f"Prescription {_fmt(self.prescription_gy)} Gy is outside the plausible range {low:g}–{high:g} Gy."
            )
        if self.activity_calibration_date and self.date and (
            abs((self.date - self.activity_calibration_date).days) > 365
        ):
            errors["activity_calibration_date"] = (
                f"Calibration date {self.activity_calibration_date} is more than a year from the implant {self.date}."
            )
        if self.deviation_from_plan and not self.deviation_reason.strip():
            errors["deviation_reason"] = "Give the reason for the deviation from the plan."
        check_dates(errors, self, {"date": "since_diagnosis", "activity_calibration_date": "planned"},
                    self.patient if self.patient_id else None)
        if errors:
            raise ValidationError(errors)

    def warnings(self) -> list[str]:
        """Protocol warnings that do not refuse the record (e.g. Rx outside 110–140 Gy)."""
        protocol = section_settings("dosimetry", DosimetrySettings)
        low, high = protocol.prescription_min_gy, protocol.prescription_max_gy
        out = []
        if self.prescription_gy is not None and not (low <= float(self.prescription_gy) <= high):
            out.append(
                f"Prescription {_fmt(self.prescription_gy)} Gy is outside the protocol range {low:g}–{high:g} Gy."
            )
        return out


class PlanKind(models.TextChoices):
    PRE = "pre", "Pre-plan"
    POST = "post", "Post-implant verification"


class PlanSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    DICOM = "dicom", "DICOM import"
    TG43 = "tg43", "TG-43 recomputation"


class StructureRole(models.TextChoices):
    GTV = "GTV", "GTV"
    PTV = "PTV", "PTV"
    SKIN = "skin", "Skin"
    CAROTID = "carotid", "Carotid artery"
    TRACHEA = "trachea", "Trachea"
    SPINAL_CORD = "spinal_cord", "Spinal cord"
    OESOPHAGUS = "oesophagus", "Oesophagus"
    OTHER_OAR = "other_oar", "Other organ at risk"


class DosePlan(models.Model):
    procedure = models.ForeignKey(ImplantProcedure, on_delete=models.CASCADE, related_name="plans")
    kind = models.CharField(max_length=4, choices=PlanKind.choices)
    source = models.CharField(max_length=6, choices=PlanSource.choices)
    seed_count = models.PositiveIntegerField(null=True, blank=True)
    prescription_gy = models.DecimalField("prescription (Gy)", max_digits=6, decimal_places=1)
    mpd_gy = models.DecimalField("matched peripheral dose (Gy)", max_digits=7, decimal_places=2, null=True,
                                 blank=True)
    tps_name = models.CharField("planning system", max_length=100, blank=True)
    notes = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Exactly one plan per phase (pre / post) is the plan of record: what the comparison, Table 4 and the
    # dashboard use (services.set_plan_of_record). ``record_chosen_by`` is set when a user chose it explicitly;
    # otherwise it is the default (latest DICOM import, else hand entry; never a TG-43 recomputation).
    is_plan_of_record = models.BooleanField("plan of record", default=False, editable=False)
    record_chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["procedure", "kind", "source"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "kind", "source"], name="one_plan_per_kind_and_source"),
            models.UniqueConstraint(fields=["procedure", "kind"], condition=models.Q(is_plan_of_record=True),
                                    name="one_plan_of_record_per_phase"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_source_display()})"

    def clean(self) -> None:
        if self.seed_count is not None and not (1 <= self.seed_count <= ImplantProcedure.MAX_SEEDS):
            raise ValidationError({"seed_count": f"Seed count {self.seed_count} must be between 1 and 300."})
        if self.prescription_gy is not None and self.prescription_gy <= 0:
            raise ValidationError({"prescription_gy": f"Prescription {_fmt(self.prescription_gy)} Gy must be > 0."})


class StructureDose(models.Model):
    """Dose metrics of one structure in one plan; HI is derived, the DVH curve is kept for plotting."""

    plan = models.ForeignKey(DosePlan, on_delete=models.CASCADE, related_name="structures")
    role = models.CharField(max_length=12, choices=StructureRole.choices)
    name = models.CharField("structure name in the plan", max_length=64, blank=True)
    volume_cm3 = models.FloatField("volume (cm³)")
    d90_gy = models.FloatField("D90 (Gy)", null=True, blank=True)
    d100_gy = models.FloatField("D100 (Gy)", null=True, blank=True)
    dmin_gy = models.FloatField("Dmin (Gy)", null=True, blank=True)
    dmean_gy = models.FloatField("Dmean (Gy)", null=True, blank=True)
    dmax_gy = models.FloatField("Dmax (Gy)", null=True, blank=True)
    v100_pct = models.FloatField("V100 (%)", null=True, blank=True)
    v150_pct = models.FloatField("V150 (%)", null=True, blank=True)
    v200_pct = models.FloatField("V200 (%)", null=True, blank=True)
    ci = models.FloatField("CI", null=True, blank=True)
    ei = models.FloatField("EI", null=True, blank=True)
    hi = models.FloatField("HI", null=True, editable=False)
    dvh = models.JSONField(default=dict, blank=True, help_text='{"dose_gy": [...], "volume_pct": [...]}')
    history = HistoricalRecords(excluded_fields=["dvh"])

    class Meta:
        ordering = ["plan", "role"]
        constraints = [models.UniqueConstraint(fields=["plan", "role", "name"], name="unique_structure_in_plan")]

    def __str__(self) -> str:
        return f"{self.role} {self.name}".strip()

    def clean(self) -> None:

        problems = check_structure_metrics({f: getattr(self, f) for f in METRIC_FIELDS})
        if problems:
            raise ValidationError(problems)
        self.hi = hi_from(self.v100_pct, self.v150_pct)


METRIC_FIELDS = (
    "volume_cm3", "d90_gy", "d100_gy", "dmin_gy", "dmean_gy", "dmax_gy", "v100_pct", "v150_pct", "v200_pct", "ci",
    "ei",
)


def hi_from(v100_pct: float | None, v150_pct: float | None) -> float | None:
    if v100_pct is None or v150_pct is None or v100_pct <= 0:
        return None
    return (v100_pct - v150_pct) / v100_pct


class DicomImport(models.Model):
    """An upload of a TPS export (RTDOSE + RTSTRUCT, optional RTPLAN) for one plan kind, then its import."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded, waiting for the structure mapping"
        QUEUED = "queued", "Queued, waiting for a worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    procedure = models.ForeignKey(ImplantProcedure, on_delete=models.CASCADE, related_name="dicom_imports")
    kind = models.CharField(max_length=4, choices=PlanKind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    progress_pct = models.PositiveSmallIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    roi_names = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    plan = models.ForeignKey(DosePlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Header facts of the export (dicom_io.read_header) and the checks against the registry
    # (dosimetry.import_checks): [{"code", "message", "blocking"}]. Blocking warnings need a physician's
    # confirmation with a reason before the import runs.
    patient_id = models.CharField("PatientID in the files", max_length=64, blank=True)
    patient_name = models.CharField("PatientName in the files", max_length=200, blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    overridden_at = models.DateTimeField(null=True, blank=True)
    # The user's choice at the confirmation (or retry): a structure reaching beyond the dose grid is clipped to it,
    # with a warning naming the volume left out, instead of failing the import (the dvh command's --clip-to-grid).
    clip_to_grid = models.BooleanField("clip structures to the dose grid", default=False)
    # A confirmed import is queued (a Celery task, dosimetry/tasks.py), running on a worker, then done or failed;
    # ``error`` is the reason of a failure. The running worker ("host:pid") beats ``heartbeat_at`` with its
    # progress; services.recover_interrupted_imports marks failed one whose worker is gone for good (retryable;
    # ``attempts`` counts the runs asked for, a redelivery of the same run is not one).
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField("worker (host:pid)", max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords(excluded_fields=["progress_pct", "progress_text", "heartbeat_at"])

    def __str__(self) -> str:
        return f"DICOM import {self.pk} ({self.kind}, {self.status})"

    @property
    def failure_reason(self) -> str:
        return self.error if self.status == self.Status.FAILED else ""

    @property
    def blocking_warnings(self) -> list[dict]:
        return [w for w in self.warnings if w.get("blocking")]

    @property
    def needs_confirmation(self) -> bool:
        """Blocking warnings that no physician has confirmed yet."""
        return bool(self.blocking_warnings) and not self.overridden_at


def _dicom_path(instance: DicomFile, filename: str) -> str:
    return f"dicom/{instance.dicom_import.procedure_id}/{instance.sha256[:16]}-{filename}"


class DicomFile(models.Model):
    dicom_import = models.ForeignKey(DicomImport, on_delete=models.CASCADE, related_name="files")
    modality = models.CharField(max_length=10)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    file = models.FileField(upload_to=_dicom_path)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.modality} {self.original_name}"


class StructureNameMapping(models.Model):
    """Remembered per site: the TPS structure name → its role (GTV, PTV, organs at risk)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="structure_mappings")
    roi_name = models.CharField(max_length=64)
    role = models.CharField(max_length=12, choices=StructureRole.choices)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "roi_name"], name="unique_roi_mapping_per_site")]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.roi_name} → {self.role}"

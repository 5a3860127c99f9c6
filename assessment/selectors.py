"""Reads for the follow-up pages (scoped through registry.selectors; no writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Min
from django.http import Http404, HttpRequest

from assessment import choices as c
from assessment import services
from assessment.models import FollowUpResult, FollowUpStatus, LabResult, NewTherapy, Visit
from assessment.schedule import RecordedVisit, urgency_key, visit_schedule
from assessment.toxicity import patient_worst_text
from registry.models import Lesion, Patient
from registry.selectors import patients_for


def get_visit_for(user, pk: int) -> Visit:
    visit = Visit.objects.filter(pk=pk, patient__in=patients_for(user)).select_related("patient", "procedure").first()
    if visit is None:
        raise Http404("No such visit among your patients.")
    return visit


@dataclass(frozen=True)
class LesionHistory:
    """What the nurse sees beside each input: the previous RECIST value and the lesion's nadir so far."""

    previous_mm: Decimal | None
    previous_date: date | None
    nadir_mm: Decimal | None
    axis: str  # "SA" for nodes, "LD" otherwise


def lesion_histories(patient: Patient, before: date | None) -> dict[int, LesionHistory]:
    procedure = services.index_procedure(patient)
    out: dict[int, LesionHistory] = {}
    visits = list(patient.visits.prefetch_related("measurements").order_by("visit_date"))
    for les in patient.lesions.all():
        prev, prev_date, nadir = None, None, None
        for v in visits:
            if before is not None and v.visit_date >= before:
                break
            if procedure is not None and v.visit_date <= procedure.date and v.timepoint != c.Timepoint.BASELINE:
                continue
            m = next((m for m in v.measurements.all() if m.lesion_id == les.pk), None)
            if m is None or v.modality == c.Modality.ULTRASOUND:
                continue
            if m.qualifier == c.MeasurementQualifier.MEASURED:
                value = services.recist_axis_mm(les, m.long_mm, m.short_mm)
            elif m.qualifier == c.MeasurementQualifier.DISAPPEARED:
                value = m.short_mm if les.nodal else Decimal(0)
            else:
                continue
            if value is None:
                continue
            prev, prev_date = value, v.visit_date
            nadir = value if nadir is None else min(nadir, value)
        out[les.pk] = LesionHistory(prev, prev_date, nadir, "SA" if les.nodal else "LD")
    return out


def followed_lesions(patient: Patient) -> list[tuple[Lesion, str]]:
    roles, _ = services.lesion_roles(patient)
    return [(les, roles.get(les.pk, c.LesionRole.NON_TARGET)) for les in patient.lesions.all()
            if roles.get(les.pk) != c.LesionRole.NOT_FOLLOWED]


@dataclass(frozen=True)
class LabRow:
    sample_date: date
    tg: LabResult | None
    tgab: LabResult | None
    tsh: LabResult | None


def lab_table(patient: Patient) -> list[LabRow]:
    by_date: dict[date, dict[str, LabResult]] = {}
    for lab in patient.lab_results.order_by("sample_date", "id"):
        by_date.setdefault(lab.sample_date, {})[lab.analyte] = lab
    return [LabRow(d, v.get("tg"), v.get("tgab"), v.get("tsh")) for d, v in sorted(by_date.items())]


def followup_context(patient: Patient) -> dict:
    """Everything the patient page shows about follow-up (derived values are read, never computed here)."""
    procedure = services.index_procedure(patient)
    visits = list(patient.visits.select_related("result").prefetch_related(
        "lesion_results__lesion", "new_lesions").order_by("visit_date"))
    roles, proposed = services.lesion_roles(patient) if procedure else ({}, False)
    status = FollowUpStatus.objects.filter(patient=patient).first()
    result = FollowUpResult.objects.filter(patient=patient).first()
    followed_up = procedure is not None and any(v.visit_date > procedure.date for v in visits)
    return {
        "status": status,
        "status_day": (status.status_date - procedure.date).days if status and status.status_date and procedure
        else None,
        "procedure": procedure,
        "schedule": services.patient_schedule(patient) if procedure else (),
        "visits": visits,
        "result": result,
        # worst grade per scale: "not scored" without a follow-up visit, never grade 0 (assessment.toxicity)
        "worst_rtog": patient_worst_text(result.max_rtog_grade if result else None, followed_up=followed_up,
                                         none_recorded_is_grade_0=False),
        "worst_ctcae": patient_worst_text(result.max_ctcae_grade if result else None, followed_up=followed_up,
                                          none_recorded_is_grade_0=True),
        "labs": lab_table(patient),
        "toxicities": list(patient.toxicities.all()),
        "therapies": list(patient.new_therapies.all()),
        "roles": [(les, roles.get(les.pk, "")) for les in patient.lesions.all()],
        "roles_proposed": proposed,
    }


def followup_panel(request: HttpRequest, patient: Patient) -> dict:
    """The follow-up section of the patient page (a registry panel, registered in assessment/apps.py)."""
    return {"fu": followup_context(patient), "can_add_visit": request.user.has_perm("assessment.add_visit")}


@dataclass(frozen=True)
class WorklistRow:
    patient_id: int
    study_id: str
    site: str
    implant_date: date
    visit: object  # assessment.schedule.ScheduledVisit
    closes_this_week: bool


WORKLIST_STATUSES = ("overdue", "due", "missed")


def worklist_for(user, today: date, *, missed_within_days: int = 90, site: str = "") -> list[WorklistRow]:
    """Protocol visits due, overdue or recently missed for the user's patients, most urgent first.

    Four queries whatever the cohort size: patients with their index implant date, their visits, their first new
    therapy, nothing per patient. Patients who left the follow-up (died, withdrawn, lost, completed:
    ``FollowUpStatus``) give no rows. Missed visits older than ``missed_within_days`` after their window closed are
    left out (they are history, not work).
    """


    # An implant older than the 12-month window, its overdue grace and the missed horizon can give no row:
    # leave it out in SQL, so the work stays level as the registry grows.
    cfg = services.schedule_settings()
    horizon = today - relativedelta(months=12) - timedelta(
        days=cfg.windows_days["m12"] + cfg.missed_after_days + missed_within_days + 1)
    patients = patients_for(user).annotate(implant=Min("procedures__date")).filter(implant__gte=horizon)
    # Patients who died, withdrew, were lost to follow-up or completed it are not asked for visits any more.
    patients = patients.exclude(followup_status__status__in=c.LEFT_FOLLOW_UP)
    if site:
        patients = patients.filter(site__code=site)
    rows = list(patients.values_list("pk", "study_id", "site__code", "implant"))
    visits: dict[int, list[RecordedVisit]] = {}
    for pid, when, tp in Visit.objects.filter(patient__in=patients).values_list("patient_id", "visit_date",
                                                                                 "timepoint"):
        visits.setdefault(pid, []).append(RecordedVisit(when, tp))
    therapy = dict(NewTherapy.objects.filter(patient__in=patients).values("patient_id")
                   .annotate(first=Min("start_date")).values_list("patient_id", "first"))
    settings = cfg
    out: list[WorklistRow] = []
    for pid, study_id, site_code, implant in rows:
        end = therapy.get(pid)
        if end is not None and end < implant:
            end = None
        for sv in visit_schedule(implant, visits.get(pid, ()), today, settings, follow_up_end=end):
            if sv.status not in WORKLIST_STATUSES:
                continue
            if sv.status == "missed" and sv.days_overdue > missed_within_days:
                continue
            out.append(WorklistRow(pid, study_id, site_code, implant, sv,
                                   sv.status == "due" and (sv.window_end - today).days <= 7))
    out.sort(key=lambda r: (urgency_key(r.visit), r.study_id))
    return out

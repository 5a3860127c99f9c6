"""Read-only queries of the dosimetry app: protocol deviations of implants (rule: ``dosimetry.deviations``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import HttpRequest

from dosimetry.deviations import deviation_reasons
from dosimetry.models import ImplantProcedure
from registry import selectors as registry_selectors
from registry.models import EligibilityAssessment, Patient, RairClassification


@dataclass(frozen=True)
class Deviation:
    procedure: ImplantProcedure
    reasons: list[dict[str, str]]

    @property
    def study_id(self) -> str:
        return self.procedure.patient.study_id


def _with_facts(procedures: QuerySet[ImplantProcedure]) -> QuerySet[ImplantProcedure]:
    return procedures.select_related("patient__rair").prefetch_related(Prefetch(
        "patient__eligibility_assessments",
        queryset=EligibilityAssessment.objects.only("id", "patient_id", "assessment_date", "status")))


def reasons_for_patient(patient: Patient, implant_date: dt.date) -> list[dict[str, str]]:
    """Why an implant of this patient on this date deviates from the protocol (empty: it does not)."""
    try:
        rair_status = patient.rair.status
    except RairClassification.DoesNotExist:
        rair_status = None
    assessments = [(a.assessment_date, a.status) for a in patient.eligibility_assessments.all()]
    return deviation_reasons(implant_date, assessments, rair_status)


def reasons_for(procedure: ImplantProcedure) -> list[dict[str, str]]:
    """Why this implant deviates from the protocol (empty: it does not)."""
    return reasons_for_patient(procedure.patient, procedure.date)


def _candidates(procedures: QuerySet[ImplantProcedure]) -> QuerySet[ImplantProcedure]:
    """The implants that may deviate, found in SQL (the pure rule then gives the reasons): no eligible
    assessment as the latest on or before the implant, or a RAIR status other than refractory."""
    latest = (EligibilityAssessment.objects.filter(patient=OuterRef("patient"), assessment_date__lte=OuterRef("date"))
              .order_by("-assessment_date", "-id").values("status")[:1])
    return procedures.annotate(eligibility_at_implant=Subquery(latest)).filter(
        Q(eligibility_at_implant__isnull=True) | ~Q(eligibility_at_implant="eligible")
        | Q(patient__rair__isnull=True) | ~Q(patient__rair__status="refractory"))


def protocol_deviations(procedures: QuerySet[ImplantProcedure], limit: int | None = None) -> list[Deviation]:
    """Implanted procedures whose patient, at the implant, was not assessed eligible or not RAI-refractory
    (by study ID and implant date; the first ``limit`` only when given)."""
    candidates = _with_facts(_candidates(procedures)).order_by("patient__study_id", "date", "pk")
    out = []
    for procedure in candidates if limit is None else candidates[:limit]:
        reasons = reasons_for(procedure)
        if reasons:
            out.append(Deviation(procedure, reasons))
    return out


def count_protocol_deviations(procedures: QuerySet[ImplantProcedure]) -> int:
    """How many implants deviate (the SQL pre-filter is the rule itself, so this count is exact)."""
    return _candidates(procedures).count()


def procedures_panel(request: HttpRequest, patient: Patient) -> dict:
    """The implant procedures section of the patient page (a registry panel, registered in dosimetry/apps.py)."""
    return {"procedures": list(patient.procedures.select_related("seed_model").prefetch_related("lesions"))}


def first_implant_date(patient: Patient) -> dt.date | None:
    """The date of the patient's first implant procedure, None before any: the reviewers' day 1 (the registry's
    de-identification anchor, registered in dosimetry/apps.py)."""
    return (ImplantProcedure.objects.filter(patient_id=patient.pk)
            .order_by("date").values_list("date", flat=True).first())


def _visible(user) -> QuerySet[ImplantProcedure]:
    return ImplantProcedure.objects.filter(patient__in=registry_selectors.patients_for(user))


def protocol_deviations_for(user, limit: int | None = None) -> list[Deviation]:
    """The protocol deviations among the implants of the patients the user may see."""
    return protocol_deviations(_visible(user), limit)


def count_protocol_deviations_for(user) -> int:
    return count_protocol_deviations(_visible(user))

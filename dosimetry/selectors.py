"""Read-only queries of the dosimetry app: the plan of record of a phase and its target structure, the pre/post
pairs of implants with both plans (Table 4 of the cohort analysis compares them), protocol deviations of implants
(rule: ``dosimetry.deviations``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import HttpRequest

from common.rows import value_rows
from dosimetry.deviations import deviation_reasons
from dosimetry.models import DosePlan, ImplantProcedure, PlanSource, StructureDose
from registry import selectors as registry_selectors
from registry.models import EligibilityAssessment, Patient, RairClassification

DEFAULT_RECORD_SOURCES = (PlanSource.DICOM, PlanSource.MANUAL)  # a TG-43 recomputation never by default
T = TypeVar("T")


class PlanLike(Protocol):
    """What the plan-of-record rule reads of a plan: a :class:`DosePlan` or its :class:`PlanValues`."""

    @property
    def pk(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def is_plan_of_record(self) -> bool: ...


P = TypeVar("P", bound=PlanLike)


def default_plan_of_record(plans: Iterable[P], kind: str) -> P | None:
    """The latest DICOM import of the phase, else the latest hand entry (never a TG-43 recomputation)."""
    for source in DEFAULT_RECORD_SOURCES:
        candidates = [p for p in plans if p.kind == kind and p.source == source]
        if candidates:
            return max(candidates, key=lambda p: (p.created_at, p.pk))
    return None


def plan_of_record(plans: Iterable[P], kind: str) -> P | None:
    """The phase's plan of record; where none is marked (rows saved before the plan of record existed, or the
    marked plan was deleted) the default rule picks it: latest DICOM import, else hand entry."""
    plans = [p for p in plans if p.kind == kind]
    return next((p for p in plans if p.is_plan_of_record), None) or default_plan_of_record(plans, kind)


def target_of(plan: DosePlan | None) -> StructureDose | None:
    """The structure whose metrics stand for the plan: the GTV, else the PTV (None without either); of two GTVs
    (or PTVs) the first by name, then by creation, as :func:`records_of` picks it for Table 4 (the structures'
    default order, plan then role, leaves ties to the database)."""
    if plan is None:
        return None
    return _target_among(sorted(plan.structures.all(), key=lambda s: (s.name, s.pk)))


def _target_among(structures: Sequence[T]) -> T | None:
    """The GTV, else the PTV, of one plan's structures (model rows or :class:`TargetValues`)."""
    return next((s for s in structures if s.role == "GTV"), None) or next(
        (s for s in structures if s.role == "PTV"), None)


#: the plan metrics :func:`pre_post_pairs` reads for each phase (the target structure's, and the plan's seed count)
PAIR_METRICS = ("d90_gy", "d100_gy", "v100_pct", "v150_pct", "v200_pct", "hi", "dmean_gy", "volume_cm3")


@dataclass(frozen=True)
class PrePostPair:
    """One implant with both a pre-plan and a post-implant plan of record: the target's metrics per phase (GTV,
    else PTV; None when not recorded) and the seeds (post: the plan's count, else the seeds implanted)."""

    procedure_id: int
    prescription_gy: float | None
    pre: Mapping[str, float | None]
    post: Mapping[str, float | None]


def pre_post_pairs(procedures: Iterable[ImplantProcedure]) -> list[PrePostPair]:
    """The implants (plans and structures prefetched) that have both plans of record, as plain numbers; the cohort
    analysis (``assessment.cohort_tables``, Table 4) compares them."""
    pairs = []
    for procedure in procedures:
        plans = list(procedure.plans.all())
        pre, post = plan_of_record(plans, "pre"), plan_of_record(plans, "post")
        pair = pre_post_pair(procedure.pk, procedure.prescription_gy, procedure.seeds_implanted,
                             (pre, target_of(pre)), (post, target_of(post)))
        if pair is not None:
            pairs.append(pair)
    return pairs


def pre_post_pair(procedure_id: int, prescription_gy, seeds_implanted: int | None, pre: tuple, post: tuple,
                  ) -> PrePostPair | None:
    """The pair of one implant from its (plan of record, target) per phase (model rows or the values of
    :func:`records_of`); None unless both phases have a plan of record with a target."""
    (pre_plan, pre_t), (post_plan, post_t) = pre, post
    if pre_plan is None or post_plan is None or pre_t is None or post_t is None:
        return None
    return PrePostPair(
        procedure_id, None if prescription_gy is None else float(prescription_gy),
        {**_metrics(pre_t), "seed_count": pre_plan.seed_count},
        {**_metrics(post_t), "seed_count": post_plan.seed_count or seeds_implanted})


def _metrics(target: Any) -> dict[str, float | None]:
    """The :data:`PAIR_METRICS` of a target structure: a model row, or a :class:`TargetValues` (whose fields
    after the plan and the role are those metrics in that order: zipped, 10 000 times a cohort)."""
    if isinstance(target, TargetValues):
        return dict(zip(PAIR_METRICS, target[2:], strict=True))
    return {k: getattr(target, k) for k in PAIR_METRICS}


class PlanValues(NamedTuple):
    """What the plan-of-record rule and Table 4 read of a plan, as plain values (:func:`records_of`)."""

    pk: int
    procedure_id: int
    kind: str
    source: str
    created_at: dt.datetime
    is_plan_of_record: bool
    seed_count: int | None


class TargetValues(NamedTuple):
    """A structure's role and the metrics of :data:`PAIR_METRICS`, as plain values (:func:`records_of`)."""

    plan_id: int
    role: str
    d90_gy: float | None
    d100_gy: float | None
    v100_pct: float | None
    v150_pct: float | None
    v200_pct: float | None
    hi: float | None
    dmean_gy: float | None
    volume_cm3: float | None


Record = tuple[PlanValues | None, TargetValues | None]


def records_of(procedures: QuerySet[ImplantProcedure]) -> dict[int, dict[str, Record]]:
    """Per implant of ``procedures`` (a queryset, used as a subquery): phase ("pre", "post") → (plan of record,
    its target structure), by the rules of :func:`plan_of_record` and :func:`target_of`, in two queries of plain
    values whatever the number of implants (no model instances: the cohort analysis reads 10 000 implants)."""
    plan_rows = value_rows(DosePlan.objects.filter(procedure__in=procedures.values("pk"))
                           .order_by("procedure_id", "kind", "source", "pk")  # the column, not the models' orders
                           .values_list("pk", "procedure_id", "kind", "source", "created_at", "is_plan_of_record",
                                        "seed_count"))
    structure_rows = value_rows(StructureDose.objects.filter(plan__procedure__in=procedures.values("pk"),
                                                             role__in=("GTV", "PTV"))
                                .order_by("plan_id", "role", "name", "pk").values_list("plan_id", "role", *PAIR_METRICS))
    # ordered by role then name, the first structure of a plan is its first GTV, else its first PTV: _target_among
    target_row = {row[0]: row for row in reversed(structure_rows)}
    out: dict[int, dict[str, Record]] = {}
    i, n = 0, len(plan_rows)
    while i < n:  # the rows of one implant and phase are consecutive (ordered by the column); almost always one
        row = plan_rows[i]
        j = i + 1
        while j < n and plan_rows[j][1] == row[1] and plan_rows[j][2] == row[2]:
            j += 1
        if j == i + 1:
            plan = PlanValues._make(row) if row[5] or row[3] in DEFAULT_RECORD_SOURCES else None
        else:
            plan = plan_of_record([PlanValues._make(r) for r in plan_rows[i:j]], row[2])
        phases = out.get(row[1])
        if phases is None:
            phases = out[row[1]] = {"pre": (None, None), "post": (None, None)}
        if row[2] in phases:  # a kind other than pre / post is no phase of Table 4
            target = None if plan is None else target_row.get(plan.pk)
            phases[row[2]] = (plan, None if target is None else TargetValues._make(target))
        i = j
    return out


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

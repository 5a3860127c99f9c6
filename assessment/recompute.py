"""Recompute every derived result of a patient from its stored facts, after a rule-set or protocol change.

Two parts, each named by the rule sets it stamps (the cores' own constants):

* ``registry``: stage (AJCC 8), RAIR status (ATA 2015) and every eligibility verdict —
  ``registry.services.recompute_patient``;
* ``followup``: the RECIST 1.1 visit categories and best responses, MDA bone response, ATA response to therapy
  and the toxicity summaries — ``assessment.services.recompute_followup``.

Dose metrics are not derived here: they are computed once from the DICOM files at the import (and hand-entered
plans are facts), so no rule set changes them afterwards.

A patient is recomputed in one transaction (its row locked, so a concurrent save waits and is not overwritten):
a failure leaves that patient's results as they were. ``manage.py recompute`` runs one task per patient
(assessment/tasks.py), so several workers share a large cohort.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from assessment import mda, recist, thyroglobulin, toxicity
from assessment import services as assessment_services
from assessment.models import FollowUpResult, VisitResult
from registry import dataversion, eligibility, rair, staging
from registry import services as registry_services
from registry.models import Patient

PARTS: dict[str, tuple[str, ...]] = {
    "registry": (staging.RULE_SET, rair.RULE_SET, eligibility.RULE_SET),
    "followup": (recist.RULE_SET, mda.RULE_SET, thyroglobulin.ATA_RULE_SET, toxicity.RTOG_RULE_SET,
                 toxicity.CTCAE_RULE_SET),
}
RULE_SETS: tuple[str, ...] = tuple(sorted({r for rules in PARTS.values() for r in rules}))


def parts_for(rule_sets: Iterable[str] | None) -> tuple[str, ...]:
    """The parts that stamp any of ``rule_sets`` (all parts when none is given); an unknown name raises."""
    wanted = set(rule_sets or ())
    unknown = wanted - set(RULE_SETS)
    if unknown:
        raise ValueError(f"unknown rule set {', '.join(sorted(unknown))}; allowed: {', '.join(RULE_SETS)}")
    return tuple(part for part, rules in PARTS.items() if not wanted or wanted & set(rules))


def _derived(patient: Patient) -> tuple[Any, ...]:
    """What the recomputation may change, to tell whether it did."""
    fresh = Patient.objects.filter(pk=patient.pk).values_list(
        "stage", "stage_rule_set", "eligibility_status").first()
    followup = FollowUpResult.objects.filter(patient=patient).values_list(
        "rule_set", "bor_unconfirmed", "bor_confirmed", "ata_category", "max_rtog_grade").first()
    visits = tuple(VisitResult.objects.filter(visit__patient=patient).order_by("visit__visit_date")
                   .values_list("rule_set", "overall", "ata_category"))
    return fresh, followup, visits


def recompute_patient(patient_id: int, parts: Iterable[str]) -> dict[str, Any]:
    """Recompute the given parts of one patient in one transaction; returns its study id and whether a stored
    result changed. Running it twice changes nothing the second time (a task may be delivered twice)."""
    parts = tuple(parts)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        before = _derived(patient)
        if "registry" in parts:
            registry_services.recompute_patient(patient)
        if "followup" in parts:
            assessment_services.recompute_followup(patient)
        changed = _derived(patient) != before
        if changed:  # follow-up results are replaced without store(): the dashboard cache must see them
            dataversion.bump()
        return {"study_id": patient.study_id, "changed": changed}

"""Celery tasks of the assessment app: thin, they call the recomputation service (assessment/recompute.py)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from assessment import recompute

TRANSIENT = (OperationalError, InterfaceError)  # locked or dropped database: the transaction was rolled back


@shared_task(name="assessment.recompute_patient", acks_late=True, reject_on_worker_lost=True, ignore_result=False,
             autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60, max_retries=5)
def recompute_patient(patient_id: int, parts: list[str]) -> dict:
    """Recompute the derived results ``parts`` of one patient (idempotent); returns its study id and whether a
    stored result changed."""
    return recompute.recompute_patient(patient_id, parts)

"""Celery tasks of the dosimetry app: thin, they call dosimetry.services, which holds the rules.

A task may be delivered twice (``acks_late``: a worker killed mid-task leaves it to another worker): the service
runs a given run of an import at most to one saved plan, and skips a run that ended or was superseded.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from dosimetry import services

# Errors worth another try a little later: the database was locked or its connection dropped before the run
# was claimed (once claimed, the service records any failure on the import itself).
TRANSIENT = (OperationalError, InterfaceError)


@shared_task(name=services.IMPORT_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60, max_retries=5)
def import_dicom(import_id: int, user_id: int, attempt: int) -> str:
    """Run run ``attempt`` of DICOM import ``import_id`` for the user who asked for it; returns the outcome."""
    return services.run_queued_import(import_id, user_id, attempt)

"""Stuck imports: every import ends done or failed with its reason, one left running by a stopped process is
marked failed (at the start and when its page is viewed), and a failed import can be retried from its page."""

from __future__ import annotations

import datetime as dt
import importlib
import socket
import subprocess
import sys
from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from dosimetry import services
from dosimetry.models import DicomImport, DosePlan

pytestmark = pytest.mark.django_db

MAPPING = {"GTV_L1": "GTV", "Skin": ""}


@pytest.fixture
def uploaded(procedure, users, export):
    return services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())


def _locked(*args, **kwargs):
    raise OperationalError("database is locked")


def _left_running(imp, *, pct=8, text="reading RTDOSE and RTSTRUCT", age_s=600, worker="ward-pc-7:4242"):
    """What a process killed in the middle of an import leaves behind."""
    DicomImport.objects.filter(pk=imp.pk).update(
        status=DicomImport.Status.RUNNING, mapping=MAPPING, progress_pct=pct, progress_text=text,
        heartbeat_at=timezone.now() - dt.timedelta(seconds=age_s), worker=worker, attempts=1)
    imp.refresh_from_db()
    return imp


def test_a_database_lock_during_the_import_ends_it_failed_with_the_reason(uploaded, users):
    with mock.patch("dosimetry.rt_metrics.plan_metrics", _locked):
        imp = services.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping=MAPPING)
    assert imp.status == DicomImport.Status.FAILED
    assert imp.error.startswith("The import stopped at 8 % (reading RTDOSE and RTSTRUCT): "
                                "OperationalError: database is locked.")
    assert not DosePlan.objects.exists()
    last = imp.history.latest("history_id")
    assert last.status == "failed" and last.history_change_reason.startswith("import failed: The import stopped")


def test_a_lock_while_saving_the_plan_saves_nothing(uploaded, users):
    with mock.patch("dosimetry.services.plan_save", side_effect=OperationalError("database is locked")):
        imp = services.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping=MAPPING)
    assert imp.status == DicomImport.Status.FAILED and "at 92 % (saving)" in imp.error
    assert imp.plan is None and not DosePlan.objects.exists()


def test_an_import_left_running_by_a_stopped_process_is_failed_when_its_page_is_viewed(login, users, uploaded):
    imp = _left_running(uploaded)
    client = login(users["nurse"])
    status = client.get(reverse("dosimetry:dicom_status", args=[imp.pk]), HTTP_ACCEPT="application/json").json()
    assert status["status"] == "failed"
    assert status["error"] == (
        "The process running it (ward-pc-7:4242) stopped at 8 % (reading RTDOSE and RTSTRUCT): no sign of life for "
        "more than 120 s (DICOM_IMPORT_STALE_SECONDS). Nothing of it was saved; retry it from this page.")
    page = client.get(reverse("dosimetry:dicom_status", args=[imp.pk])).content.decode()
    assert "stopped at 8 %" in page and "Retry the import" in page


def test_a_running_import_with_a_recent_heartbeat_is_left_alone(users, uploaded):
    imp = _left_running(uploaded, age_s=30)  # another server process, still beating
    assert services.recover_interrupted_imports() == []
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.RUNNING
    # the stale limit is the setting
    assert services.recover_interrupted_imports(now=timezone.now() + dt.timedelta(seconds=91)) == [imp.pk]


def test_an_import_whose_process_on_this_host_ended_is_failed_without_waiting(users, uploaded):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    worker = f"{socket.gethostname()}:{done.stdout.strip()}"  # a process of this host that no longer runs
    imp = _left_running(uploaded, age_s=5, worker=worker)
    assert services.recover_interrupted_imports() == [imp.pk]
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED and "that process no longer runs" in imp.error


def test_the_start_of_the_server_recovers_interrupted_imports(uploaded):
    imp = _left_running(uploaded, pct=40, text="DVH GTV_L1")
    import config.wsgi

    importlib.reload(config.wsgi)  # what a (re)start runs
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED and "stopped at 40 % (DVH GTV_L1)" in imp.error


def test_a_failed_import_is_retried_from_its_page_with_the_kept_files(login, users, uploaded):
    with mock.patch("dosimetry.rt_metrics.plan_metrics", _locked):
        imp = services.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping=MAPPING)
    assert imp.status == DicomImport.Status.FAILED
    kept = sorted(imp.files.values_list("pk", "sha256"))
    client = login(users["physician"])
    response = client.post(reverse("dosimetry:dicom_retry", args=[imp.pk]))
    assert response.status_code == 302
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.DONE and imp.plan is not None and imp.attempts == 2
    assert sorted(imp.files.values_list("pk", "sha256")) == kept  # the files kept, no new upload
    retry = imp.history.filter(history_change_reason__startswith="retried after: ").get()
    assert retry.history_user == users["physician"] and "database is locked" in retry.history_change_reason
    # a done import is not retried
    response = client.post(reverse("dosimetry:dicom_retry", args=[imp.pk]), follow=True)
    assert "only a failed import can be retried" in response.content.decode()
    assert DosePlan.objects.filter(source="dicom").count() == 1


def test_retry_needs_the_import_permission_and_the_site(login, users, uploaded):
    imp = _left_running(uploaded)
    services.recover_interrupted_imports()
    url = reverse("dosimetry:dicom_retry", args=[imp.pk])
    page = login(users["reviewer"]).get(reverse("dosimetry:dicom_status", args=[imp.pk])).content.decode()
    assert "Retry the import" not in page
    assert login(users["reviewer"]).post(url).status_code == 403
    assert login(users["nurse_b"]).post(url).status_code == 404
    assert login(users["nurse"]).get(url).status_code == 405
    imp.refresh_from_db()
    assert imp.status == DicomImport.Status.FAILED and imp.attempts == 1


def test_an_exception_in_the_task_still_ends_the_import(users, uploaded):
    """The task's last resort: even run_import itself failing marks the import failed."""
    DicomImport.objects.filter(pk=uploaded.pk).update(status=DicomImport.Status.QUEUED, attempts=1)
    with mock.patch("dosimetry.services.run_import", side_effect=RuntimeError("boom")):
        assert services.run_queued_import(uploaded.pk, users["nurse"].pk, 1) == "failed"
    uploaded.refresh_from_db()
    assert uploaded.status == DicomImport.Status.FAILED and "RuntimeError: boom" in uploaded.error
    assert uploaded.finished_at is not None


def test_the_import_row_carries_queued_running_done_with_timestamps(users, uploaded):
    """Without a broker the task runs in this process: queued, then running on this process, then done."""
    seen = []
    real = services.run_import

    def spy(import_id, user):
        seen.append(DicomImport.objects.values_list("status", "worker").get(pk=import_id))
        return real(import_id, user)

    with mock.patch("dosimetry.services.run_import", spy):
        imp = services.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping=MAPPING)
    assert seen == [("running", services.worker_name())]
    assert imp.status == DicomImport.Status.DONE and imp.attempts == 1
    assert imp.queued_at <= imp.started_at <= imp.finished_at
    queued = imp.history.filter(status="queued").get()
    assert queued.history_user == users["nurse"]


def test_a_run_delivered_again_or_superseded_saves_no_second_plan(users, uploaded):
    """acks_late: the broker may deliver a task twice; the service skips a run that ended or was superseded."""
    imp = services.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping=MAPPING)
    assert imp.status == DicomImport.Status.DONE
    plans = set(DosePlan.objects.values_list("pk", flat=True))
    assert services.run_queued_import(imp.pk, users["nurse"].pk, imp.attempts) == "skipped"  # ended already
    assert services.run_queued_import(imp.pk, users["nurse"].pk, imp.attempts - 1) == "skipped"  # an older run
    # a run found "running" (its worker died before the save) is taken over and saves one plan, not two
    DicomImport.objects.filter(pk=imp.pk).update(status=DicomImport.Status.RUNNING, plan=None)
    DosePlan.objects.all().delete()
    assert services.run_queued_import(imp.pk, users["nurse"].pk, imp.attempts) == "done"
    assert DosePlan.objects.filter(notes=f"DICOM import #{imp.pk}").count() == 1
    assert set(DosePlan.objects.values_list("pk", flat=True)).isdisjoint(plans)


def test_with_a_broker_a_queued_import_waits_and_a_silent_one_waits_for_redelivery(users, uploaded, settings):
    """A queued task is waiting for a worker, not interrupted; a running one whose worker died is delivered
    again by the broker, so only silence past the visibility timeout as well gives it up."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
    DicomImport.objects.filter(pk=uploaded.pk).update(status=DicomImport.Status.QUEUED, attempts=1,
                                                      queued_at=timezone.now() - dt.timedelta(hours=5))
    assert services.recover_interrupted_imports() == []
    imp = _left_running(uploaded, age_s=400)  # past DICOM_IMPORT_STALE_SECONDS (120), not past 120 + 300
    assert services.recover_interrupted_imports() == []
    assert services.recover_interrupted_imports(now=timezone.now() + dt.timedelta(seconds=30)) == [imp.pk]
    imp.refresh_from_db()
    assert "no sign of life for more than 420 s" in imp.error


@pytest.mark.django_db(transaction=True)
def test_a_run_beats_the_heartbeat_during_a_long_step_and_records_the_failure(procedure, users, export):
    """Between progress reports the heartbeat still beats (a live run is never taken for a lost one), and a lock
    ends the import failed."""
    import time

    from django.db import connection
    from django.test import override_settings

    if connection.vendor == "sqlite" and "mode=memory" in str(connection.settings_dict["NAME"]) \
            and "cache=shared" not in str(connection.settings_dict["NAME"]):
        pytest.skip("the test database is not shared between threads")
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    seen = []

    def long_step_then_locked(*args, **kwargs):
        first = DicomImport.objects.get(pk=imp.pk).heartbeat_at
        for _ in range(200):  # wait (at most 20 s) for a beat that no progress report wrote
            if DicomImport.objects.get(pk=imp.pk).heartbeat_at > first:
                seen.append(True)
                break
            time.sleep(0.1)
        raise OperationalError("database is locked")

    with override_settings(DICOM_IMPORT_STALE_SECONDS=4), \
            mock.patch("dosimetry.rt_metrics.plan_metrics", long_step_then_locked):
        imp = services.dicom_import_confirm(user=users["nurse"], imp=imp, mapping=MAPPING)
    assert seen == [True]
    assert imp.status == DicomImport.Status.FAILED and "OperationalError: database is locked" in imp.error
    assert imp.worker == services.worker_name()

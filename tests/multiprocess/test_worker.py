"""DICOM imports on a real Celery worker (solo pool) against the local Redis: end to end, and a worker killed
inside the plan's transaction (SIGKILL) leaves no half-written plan, the task being completed by a new worker."""

from __future__ import annotations

import signal
import time

import pytest

from tests.multiprocess.conftest import POLL_S

WORKER = ["-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip",
          "--without-mingle", "--without-heartbeat"]
STATUS = "SELECT status, attempts, worker, started_at IS NOT NULL, finished_at IS NOT NULL, error " \
         "FROM dosimetry_dicomimport WHERE id = ?"
PLANS = "SELECT source FROM dosimetry_doseplan WHERE notes LIKE ?"


def _queue_import(stack, queue: str, kind: str) -> int:
    """Upload and confirm through the services in a subprocess: the row is queued and the task sent."""
    pk, status = stack.run("-m", "tests.multiprocess.stack", "import", kind, CELERY_QUEUE=queue).split()
    assert status == "queued"  # nothing runs it until a worker takes it from the broker
    return int(pk)


def test_a_worker_imports_a_dicom_export_end_to_end(stack, queue):
    pk = _queue_import(stack, queue, "pre")
    worker = stack.start([*WORKER, "--queues", queue], "worker.log", CELERY_QUEUE=queue)
    rows = stack.poll(STATUS, pk, until=lambda r: r[0][0] in ("done", "failed"), process=worker, log="worker.log")
    status, attempts, ran_on, started, finished, error = rows[0]
    assert (status, error) == ("done", "")
    assert attempts == 1 and started and finished
    assert ran_on.endswith(f":{worker.pid}")  # the worker process ran it, not the one that queued it
    assert sorted(r[0] for r in stack.query(PLANS, f"%DICOM import #{pk}")) == ["dicom", "tg43"]
    stack.kill(worker)


@pytest.mark.parametrize("kind", ["post"])
def test_a_worker_killed_mid_task_leaves_no_plan_and_the_task_completes_on_another(stack, queue, kind):
    pk = _queue_import(stack, queue, kind)
    marker = stack.folder / f"stuck-{queue}"
    fast = {"CELERY_QUEUE": queue, "CELERY_VISIBILITY_TIMEOUT_S": "2"}  # hand unacknowledged tasks over soon
    stuck = stack.start(["-m", "tests.multiprocess.stack", "stuck-worker"], "stuck.log", STUCK_MARKER=str(marker),
                        **fast)
    for _ in range(240):  # the stuck worker wrote the first plan inside the transaction and waits there
        if marker.exists():
            break
        assert stuck.poll() is None, stack.log("stuck.log")
        time.sleep(POLL_S)
    else:
        pytest.fail("the worker never reached the plan's transaction:\n" + stack.log("stuck.log"))
    stack.kill(stuck, signal.SIGKILL)

    assert stack.query(PLANS, f"%DICOM import #{pk}") == []  # the uncommitted plan went with the process
    status, attempts, *_ = stack.query(STATUS, pk)[0]
    assert (status, attempts) == ("running", 1)  # not failed: the broker still holds the unacknowledged task

    worker = stack.start([*WORKER, "--queues", queue], "worker2.log", **fast)
    rows = stack.poll(STATUS, pk, until=lambda r: r[0][0] in ("done", "failed"), process=worker,
                      log="worker2.log")
    status, attempts, ran_on, _, _, error = rows[0]
    assert (status, error, attempts) == ("done", "", 1)  # the same run, delivered again, not a new one
    assert ran_on.endswith(f":{worker.pid}")
    assert sorted(r[0] for r in stack.query(PLANS, f"%DICOM import #{pk}")) == ["dicom", "tg43"]  # once each
    stack.kill(worker)

"""The dashboard cache's data version (registry/dataversion.py): every kind of write the dashboard shows bumps it
in the write's own transaction, and a write rolled back leaves it where it was."""

from __future__ import annotations

import datetime as dt
import itertools
import pickle
from decimal import Decimal

import pytest
from django.db import transaction

from registry import dataversion

pytestmark = pytest.mark.django_db

HAND_PLAN = {"prescription_gy": Decimal("120")}
CALLS = itertools.count(1)
GTV = [{"role": "GTV", "volume_cm3": 4.2, "d90_gy": 100.0, "d100_gy": 70.0, "v100_pct": 80.0, "v150_pct": 50.0}]


def _writes(users, procedure):
    """One write of each kind, as the pages make them (name → function doing it); each call writes new values
    (an unchanged record is not written, so it would bump nothing)."""
    n = next(CALLS)
    from assessment import services as assessment
    from dosimetry import services as dosimetry
    from dosimetry.models import DosePlan
    from registry import services as registry
    from registry.models import Patient
    from tests.conftest import PATIENT_DATA

    patient = procedure.patient
    nurse, physician, dm = users["nurse"], users["physician"], users["data_manager"]

    def visit():
        lesion = patient.lesions.get(label="L1")
        assessment.visit_save(user=nurse, patient=patient, data=assessment.VisitInput(
            visit={"visit_date": procedure.date + dt.timedelta(days=20 + patient.visits.count()),
                   "timepoint": "unscheduled",
                   "modality": "ct"},
            measurements={lesion.pk: {"qualifier": "measured", "long_mm": Decimal("12"),
                                      "short_mm": Decimal("4")}}))

    def plan_of_record():
        hand = dosimetry.plan_save(user=nurse, procedure=procedure, kind="pre", source="manual",
                                   plan_data=HAND_PLAN, structures=GTV)
        dosimetry.plan_save(user=nurse, procedure=procedure, kind="pre", source="tg43", plan_data=HAND_PLAN,
                            structures=GTV)
        other = DosePlan.objects.filter(procedure=procedure, kind="pre", is_plan_of_record=False).first()
        before = dataversion.current()
        with transaction.atomic():
            dosimetry.set_plan_of_record(user=physician, procedure=procedure, plan=other, reason="checked")
        assert dataversion.current() > before, "the plan of record itself"
        return hand

    return {
        "patient created": lambda: registry.patient_create(user=dm, site=patient.site, data={
            **PATIENT_DATA, "record_number": f"MRN-{Patient.objects.count() + 2}"}),
        "patient changed": lambda: registry.patient_update(user=dm, patient=patient, data={"given_name": f"Joan {n}"}),
        "lesion saved": lambda: registry.lesion_save(user=dm, patient=patient,
                                                     lesion=patient.lesions.get(label="L1"),
                                                     data={"baseline_long_mm": Decimal(28 + n)}),
        "visit saved (follow-up recomputed)": visit,
        "follow-up status": lambda: assessment.followup_status_save(user=nurse, patient=patient, data={
            "status": "withdrawn", "status_date": procedure.date + dt.timedelta(days=30 + n)}),
        "plan saved": lambda: dosimetry.plan_save(user=nurse, procedure=procedure, kind="post", source="manual",
                                                  plan_data=HAND_PLAN, structures=GTV),
        "plan of record": plan_of_record,
        "record deleted": lambda: registry.delete_with_reason(
            user=physician, instance=dosimetry.plan_save(user=nurse, procedure=procedure, kind="post",
                                                         source="manual", plan_data=HAND_PLAN, structures=GTV),
            reason="entered for the wrong phase"),
    }


KINDS = ["patient created", "patient changed", "lesion saved", "visit saved (follow-up recomputed)",
         "follow-up status", "plan saved", "plan of record", "record deleted"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_write_bumps_the_version_and_a_rolled_back_one_does_not(kind, users, procedure):
    write = _writes(users, procedure)[kind]
    before = dataversion.current()
    with transaction.atomic():
        write()
    assert dataversion.current() > before

    class Undo(Exception):
        pass

    before = dataversion.current()
    with pytest.raises(Undo), transaction.atomic():
        _writes(users, procedure)[kind]()
        assert dataversion.current() > before  # inside the write's transaction it moved …
        raise Undo
    assert dataversion.current() == before  # … and went back with it


def test_the_dashboard_reads_the_version_once_and_its_built_cohort_pickles(client, login, users, procedure):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assessment import dashboard
    from assessment.cohort import CohortFilter, load_cohort

    board = dashboard.build(load_cohort(None, CohortFilter()))
    again = pickle.loads(pickle.dumps(board))
    assert [f.csv() if f.csv else "" for f in again.figures] == [f.csv() if f.csv else "" for f in board.figures]
    login(users["physician"])
    client.get("/dashboard/")  # builds and caches
    with CaptureQueriesContext(connection) as queries:
        client.get("/dashboard/waterfall.csv")
    version_reads = [q["sql"] for q in queries if "registry_dataversion" in q["sql"]]
    assert len(version_reads) == 1
    assert not [q["sql"] for q in queries if "assessment_followupresult" in q["sql"]]  # served from the cache

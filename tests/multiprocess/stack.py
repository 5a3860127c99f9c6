"""Run in a subprocess by the multi-process tests, against their own database (DATABASE_URL), with Django set up:

    python -m tests.multiprocess.stack seed              users, an eligible patient, its implant, two visits
    python -m tests.multiprocess.stack import KIND       upload a DICOM export and confirm it: the task is sent
                                                         to the broker of CELERY_BROKER_URL; prints the import id
    python -m tests.multiprocess.stack stuck-worker      a Celery worker that stops inside the plan transaction
                                                         (after the first plan is written, before the commit),
                                                         touching $STUCK_MARKER: the test kills it there

Everything goes through the real services, as the test fixtures do.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

PASSWORD = "multi-process-test-1"
MAPPING = {"GTV_L1": "GTV", "Skin": ""}
IMPLANT = dt.date(2018, 2, 5)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def seed() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from assessment import services as assessment
    from dosimetry import services as dosimetry
    from dosimetry.models import SeedModel
    from registry import roles
    from registry import services as registry
    from registry.models import Site, SiteMembership
    from tests.conftest import ELIGIBLE_LABS, PATIENT_DATA

    roles.ensure_roles()
    site = Site.objects.create(code="AAA", name="Site A")
    users = {}
    for name, role in (("nurse_a", roles.NURSE), ("physician_a", roles.PHYSICIAN), ("dm", roles.DATA_MANAGER)):
        user = get_user_model().objects.create_user(username=name, password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        SiteMembership.objects.create(user=user, site=site)
        users[name] = user
    dm, nurse = users["dm"], users["nurse_a"]
    patient = registry.patient_create(user=dm, site=site, data=PATIENT_DATA)
    lesion = registry.lesion_save(user=dm, patient=patient, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True,
        "biopsy_date": dt.date(2018, 1, 5), "biopsy_result": "metastatic", "iodine_uptake": "no",
        "baseline_long_mm": Decimal("28"), "baseline_short_mm": Decimal("20"), "baseline_third_mm": Decimal("24")})
    for day in (dt.date(2013, 1, 10), dt.date(2014, 2, 10), dt.date(2015, 3, 10), dt.date(2016, 4, 10)):
        registry.iodine_course_save(user=dm, patient=patient, data={
            "date": day, "activity_value": Decimal("160"), "activity_unit": "mCi"}, uptakes={lesion.pk: "no"})
    registry.rair_update(user=dm, patient=patient, data={
        "rair2_present": True, "rair2_date": dt.date(2016, 6, 1), "rair2_evidence": "lost uptake"})
    registry.eligibility_save(user=dm, patient=patient, data=ELIGIBLE_LABS)
    dosimetry.procedure_save(user=nurse, patient=patient, lesions=patient.lesions.all(), data={
        "date": IMPLANT, "operator": "Dr Test", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 8, "activity_per_seed_mbq": Decimal("25.0"), "activity_calibration_date": IMPLANT,
        "prescription_gy": Decimal("120")})
    for offset, timepoint, short in ((-10, "baseline", 20), (60, "m2", 18)):
        assessment.visit_save(user=nurse, patient=patient, data=assessment.VisitInput(
            visit={"visit_date": IMPLANT + dt.timedelta(days=offset), "timepoint": timepoint, "modality": "ct"},
            measurements={lesion.pk: {"qualifier": "measured", "long_mm": Decimal(short + 8),
                                      "short_mm": Decimal(short), "third_mm": Decimal(short)}}))
    print(patient.pk)


def queue_import(kind: str) -> None:
    import tempfile

    import numpy as np
    from django.contrib.auth import get_user_model
    from pydicom.uid import generate_uid

    from demo.dicom_synth import SyntheticPatient
    from demo.dosimetry_data import write_seed_export
    from dosimetry import services
    from dosimetry.models import ImplantProcedure
    from dosimetry.sources import get_seed_model

    positions = np.array([[x, y, z] for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.35, 0.35)])
    when = dt.datetime(2018, 2, 5, 12, 0)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_seed_export(
            Path(folder), positions, 0.858, when, when, get_seed_model("6711"), prescription_gy=120.0,
            gtv_radius_cm=1.0, axis_cm=np.arange(-2.4, 2.4001, 0.2), frame_uid=generate_uid(),
            study_uid=generate_uid(), with_ct=False,
            patient=SyntheticPatient("MRN-1", "DOE^JANE"))
        files = [(p.name, p.read_bytes()) for p in paths]
    nurse = get_user_model().objects.get(username="nurse_a")
    imp = services.dicom_upload(user=nurse, procedure=ImplantProcedure.objects.get(), kind=kind, files=files)
    imp = services.dicom_import_confirm(user=nurse, imp=imp, mapping=MAPPING)
    print(imp.pk, imp.status)


def stuck_worker() -> None:
    from dosimetry import services

    real = services.plan_save

    def stop_inside_the_transaction(*args, **kwargs):
        plan = real(*args, **kwargs)
        Path(os.environ["STUCK_MARKER"]).write_text(str(plan.pk))
        time.sleep(600)  # the test kills this process here; the transaction never commits
        raise RuntimeError("the test did not kill the stuck worker")

    services.plan_save = stop_inside_the_transaction
    from config.celery import app

    app.worker_main(worker_argv())


def worker_argv() -> list[str]:
    return ["worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--queues", os.environ["CELERY_QUEUE"]]


if __name__ == "__main__":
    _setup()
    command, *rest = sys.argv[1:]
    {"seed": seed, "import": queue_import, "stuck-worker": stuck_worker}[command](*rest)

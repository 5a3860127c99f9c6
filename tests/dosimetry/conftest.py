"""A procedure on the registry's eligible patient, and a small synthetic TPS export to import."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from pydicom.uid import generate_uid


@pytest.fixture
def procedure(eligible_patient, users):
    from dosimetry import services
    from dosimetry.models import SeedModel

    proc, _ = services.procedure_save(user=users["nurse"], patient=eligible_patient,
                                      lesions=eligible_patient.lesions.all(), data={
        "date": dt.date(2018, 2, 5), "operator": "Dr Test", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 8, "activity_per_seed_mbq": Decimal("25.0"),
        "activity_calibration_date": dt.date(2018, 2, 5), "prescription_gy": Decimal("120"),
    })
    return proc


@pytest.fixture
def export(tmp_path):
    """Write a pre-plan export (8 seeds of 0.858 U in a 1 cm GTV sphere) and return a function reading it."""
    from dosimetry.demo import write_seed_export
    from dosimetry.sources import get_seed_model

    frame_uid, study_uid = generate_uid(), generate_uid()
    positions = np.array([[x, y, z] for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.35, 0.35)])
    when = dt.datetime(2018, 2, 5, 12, 0)

    def make(name="pre", frame=frame_uid, shift_cm=0.0):
        paths = write_seed_export(
            tmp_path / name, positions + shift_cm, 0.858, when, when, get_seed_model("6711"), prescription_gy=120.0,
            gtv_radius_cm=1.0, axis_cm=np.arange(-2.4, 2.4001, 0.2), frame_uid=frame, study_uid=study_uid,
            with_ct=False)
        return [(p.name, p.read_bytes()) for p in paths]

    return make

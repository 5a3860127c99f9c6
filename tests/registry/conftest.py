"""Registry test fixtures: a followed patient (implant, DICOM-imported plan, two visits) for the deletion tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from assessment import services as followup
from dosimetry import services as dosimetry


def _visit(patient, user, when, timepoint, long_mm, short_mm, tg_ng_ml):
    lesion = patient.lesions.get(label="L1")
    return followup.visit_save(user=user, patient=patient, data=followup.VisitInput(
        visit={"visit_date": when, "timepoint": timepoint, "modality": "ct"},
        measurements={lesion.pk: {"qualifier": "measured", "long_mm": D(long_mm), "short_mm": D(short_mm),
                                  "third_mm": None}},
        labs=[{"analyte": "tg", "qualifier": "=", "value": D(tg_ng_ml), "unit": "ng/mL", "tsh_state": "suppressed"}]))


@pytest.fixture
def followed(procedure, users, export):
    """The eligible patient with an implant, a DICOM-imported pre-plan (stored files), baseline and 2-month visits with a Tg each."""
    patient = procedure.patient
    imp = dosimetry.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())
    dosimetry.dicom_import_confirm(user=users["nurse"], imp=imp, mapping={"GTV_L1": "GTV", "Skin": ""})
    _visit(patient, users["nurse"], dt.date(2018, 1, 20), "baseline", "28", "20", "30")
    _visit(patient, users["nurse"], dt.date(2018, 4, 5), "m2", "20", "13", "12")
    return patient

"""Deleting with a reason: the whole patient record in one transaction, history rows carrying the user and the
reason (cascaded rows included), refusals naming what blocks a record, DICOM files removed after the commit."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse

from assessment.models import FollowUpResult, Measurement, Visit
from dosimetry.models import DicomFile, DosePlan, ImplantProcedure
from registry import services
from registry.models import IodineCourse, Lesion, Patient

REASON = "registered twice (duplicate of AAA-0002)"


def _history_models():
    """Every historised model of the three clinical apps but the site-level ones (which stay)."""
    return [m for m in apps.get_models() if m._meta.app_label in ("registry", "assessment", "dosimetry")
            and hasattr(m, "history") and not m.__name__.startswith("Historical")
            and m.__name__ not in ("Site", "SiteMembership", "StructureNameMapping")]


def _snapshot():
    """model → ids of every live row of the historised models (the fixture holds one patient)."""
    out = {}
    for model in _history_models():
        ids = set(model.objects.values_list("pk", flat=True))
        out[model] = ids
    return out


def test_physician_deletes_a_followed_patient_with_everything_in_one_go(
        followed, users, django_capture_on_commit_callbacks):
    before = _snapshot()
    files = list(DicomFile.objects.filter(dicom_import__procedure__patient=followed))
    assert files and all(default_storage.exists(f.file.name) for f in files)
    pk = followed.pk
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.delete_with_reason(user=users["physician"], instance=followed, reason=REASON)
    assert all(default_storage.exists(f.file.name) for f in files)  # kept until the deletion commits

    assert not Patient.objects.filter(pk=pk).exists()
    for model in (Visit, Measurement, ImplantProcedure, DosePlan, Lesion, IodineCourse, DicomFile, FollowUpResult):
        assert not model.objects.exists(), model.__name__
    # Every deleted clinical row has its '-' history row with who and why, cascaded rows included.
    checked = 0
    for model, ids in before.items():
        for pk in ids:
            row = model.history.filter(**{model._meta.pk.attname: pk}, history_type="-").get()
            assert (row.history_user, row.history_change_reason) == (users["physician"], REASON), model.__name__
            checked += 1
    assert checked >= 10
    # Labs go before their visits, so their history rows still name the visit they belonged to.
    LabHistory = apps.get_model("assessment", "HistoricalLabResult")
    assert LabHistory.objects.filter(history_type="-").count() == 2
    assert not LabHistory.objects.filter(history_type="-", visit_id__isnull=True).exists()
    assert result.lines() == [
        "1 patient", "1 lesion", "4 iodine courses", "4 iodine uptakes", "1 rair classification",
        "1 eligibility assessment", "1 implant procedure", "2 dose plans", "2 structure doses", "1 dicom import",
        "3 dicom files", "2 visits", "2 measurements", "2 lab results",
        "5 derived results (computed from the facts above)", "3 stored files (removed from storage)"]
    # The stored DICOM files are gone once the deletion commits.
    for callback in callbacks:
        callback()
    assert all(not default_storage.exists(f.file.name) for f in files)


@pytest.mark.django_db(transaction=True)
def test_files_are_removed_after_commit_and_kept_when_the_deletion_rolls_back(followed, users):
    files = [f.file.name for f in DicomFile.objects.all()]
    assert files
    pk = followed.pk
    lines, blocked = services.deletion_preview(user=users["physician"], instance=followed)  # runs, rolls back
    assert blocked == [] and "3 stored files (removed from storage)" in lines
    assert Patient.objects.filter(pk=pk).exists() and all(default_storage.exists(name) for name in files)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.delete_with_reason(user=users["physician"], instance=followed, reason=REASON)
        assert not Patient.objects.filter(pk=pk).exists()
        assert all(default_storage.exists(name) for name in files)  # not before the commit
        raise Boom
    assert Patient.objects.filter(pk=pk).exists()
    assert all(default_storage.exists(name) for name in files)
    assert DicomFile.objects.count() == len(files)

    services.delete_with_reason(user=users["physician"], instance=Patient.objects.get(pk=pk), reason=REASON)
    assert not Patient.objects.filter(pk=pk).exists()
    assert all(not default_storage.exists(name) for name in files)


def test_reason_and_role_are_required(followed, users):
    with pytest.raises(ValidationError) as exc:
        services.delete_with_reason(user=users["physician"], instance=followed, reason=" abc ")
    assert "at least 5 characters" in exc.value.message_dict["reason"][0]
    with pytest.raises(PermissionDenied):
        services.delete_with_reason(user=users["nurse"], instance=followed, reason=REASON)
    assert Visit.objects.filter(patient=followed).count() == 2


def test_a_measured_and_treated_lesion_is_refused_naming_the_visits_and_the_implant(followed, users):
    lesion = followed.lesions.get(label="L1")
    with pytest.raises(ValidationError) as exc:
        services.delete_with_reason(user=users["physician"], instance=lesion, reason=REASON)
    message = exc.value.messages[0]
    assert message.startswith("Lesion ")
    assert "measured at 2 visits (Baseline 2018-01-20, 2 months 2018-04-05)" in message
    assert "treated by the implant of 2018-02-05" in message
    assert Measurement.objects.filter(lesion=lesion).count() == 2
    _lines, blocked = services.deletion_preview(user=users["physician"], instance=lesion)
    assert any("measured at 2 visits" in b for b in blocked)


def test_an_implant_that_is_day_0_of_visits_is_refused(followed, users):
    procedure = followed.procedures.get()
    with pytest.raises(ValidationError, match=r"it is day 0 of 2 visits \(Baseline 2018-01-20, 2 months 2018-04-05\)"):
        services.delete_with_reason(user=users["physician"], instance=procedure, reason=REASON)
    assert ImplantProcedure.objects.filter(pk=procedure.pk).exists()


def test_an_unmeasured_lesion_goes_with_its_uptakes_and_the_results_are_recomputed(eligible_patient, users):
    lesion = eligible_patient.lesions.get()
    uptakes = list(lesion.uptakes.values_list("pk", flat=True))
    assert len(uptakes) == 4
    lines, blocked = services.deletion_preview(user=users["physician"], instance=lesion)
    assert (blocked, lines) == ([], ["1 lesion", "4 iodine uptakes"])
    assert Lesion.objects.filter(pk=lesion.pk).exists()  # the preview changed nothing
    services.delete_with_reason(user=users["physician"], instance=lesion, reason=REASON)
    UptakeHistory = apps.get_model("registry", "HistoricalIodineUptake")
    rows = UptakeHistory.objects.filter(id__in=uptakes, history_type="-")
    assert rows.count() == 4 and set(rows.values_list("history_change_reason", flat=True)) == {REASON}


def test_delete_page_lists_what_goes_and_deletes(followed, users, login):
    client = login(users["physician"])
    url = reverse("registry:delete", args=["patient", followed.pk])
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "2 visits" in text and "1 implant procedure" in text and "removed from storage" in text
    assert Patient.objects.filter(pk=followed.pk).exists()
    refused = client.post(url, {"reason": "no"})
    assert refused.status_code == 200 and "at least 5 characters" in refused.content.decode()
    done = client.post(url, {"reason": REASON})
    assert done.status_code == 302
    assert not Patient.objects.filter(pk=followed.pk).exists()


def test_delete_page_shows_the_refusal_for_a_measured_lesion(followed, users, login):
    client = login(users["physician"])
    lesion = followed.lesions.get(label="L1")
    url = reverse("registry:delete", args=["lesion", lesion.pk])
    page = client.get(url)
    assert page.status_code == 200 and "measured at 2 visits" in page.content.decode()
    posted = client.post(url, {"reason": REASON})
    assert posted.status_code == 200 and "cannot be deleted" in posted.content.decode()
    assert Lesion.objects.filter(pk=lesion.pk).exists()


def test_an_undeclared_protection_is_a_clear_refusal_not_a_500(followed, users, monkeypatch):
    """Should an app add a PROTECT link without declaring its blocker, the deletion is refused in words."""
    from registry import deletion

    monkeypatch.setattr(deletion, "_BLOCKERS", {})
    procedure = followed.procedures.get()
    with pytest.raises(ValidationError, match=r"^\['Implant procedure .* cannot be deleted: 2 visits still refer"):
        services.delete_with_reason(user=users["physician"], instance=procedure, reason=REASON)
    assert services.deletion_preview(user=users["physician"], instance=procedure) == (
        [], ["2 visits still refer to it"])
    assert Visit.objects.filter(procedure=procedure).count() == 2

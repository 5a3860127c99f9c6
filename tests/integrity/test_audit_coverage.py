"""Audit trail coverage: every model that holds what users enter is historised (or explicitly listed as derived /
reference data, with why), users with their roles are historised, and the writes that change DICOM files,
structure-name mappings, site memberships and users record who and why."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from dosimetry import services as dosimetry
from dosimetry.models import DicomFile, DicomImport, StructureNameMapping
from registry import audit, roles
from registry.models import SiteMembership

APPS = ("registry", "dosimetry", "assessment")

# Models without history, each with why. A new model fails the test below until it is historised or listed here.
NOT_HISTORISED = {
    "dosimetry.SeedModel": "reference catalogue (TG-43U1 tables) written only from code by "
                           "dosimetry.catalogue.ensure_seed_catalogue at every migrate; no page or admin edits it",
    "assessment.VisitResult": "derived: recomputed from the visit's facts by assessment.services",
    "assessment.LesionVisitResult": "derived: recomputed from the measurements by assessment.services",
    "assessment.FollowUpResult": "derived: recomputed from the patient's follow-up by assessment.services",
    "registry.DataVersion": "a counter, not data: the dashboard cache's key, advanced by every write "
                            "(registry/dataversion.py)",
}

# Historised models that belong to no patient: their history is read in the admin's history view.
NOT_PATIENT_RECORDS = {
    "registry.Site": "a hospital; admin history view",
    "registry.SiteMembership": "who works where; admin history view",
    "dosimetry.StructureNameMapping": "remembered per site, not per patient; admin history view (the import that "
                                      "wrote a row is named in its reason; the patient's import shows its mapping)",
    "registry.AccountSecurity": "a user's temporary-password state; the user's admin history view",
    "registry.FreeTextRelease": "which texts reviewers may read; the free-text page lists who released each, and "
                                "the admin history view keeps releases and revocations",
}


def _label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _models():
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            if not model.__name__.startswith("Historical"):
                yield model


def _historised(model) -> bool:
    return hasattr(model._meta, "simple_history_manager_attribute")


def test_every_model_is_historised_or_listed_as_derived_or_reference():
    missing = sorted(_label(m) for m in _models() if not _historised(m) and _label(m) not in NOT_HISTORISED)
    assert not missing, (f"{missing} hold data but have no history: add `history = HistoricalRecords()` or list "
                         "them in NOT_HISTORISED with the reason they need none")
    stale = sorted(set(NOT_HISTORISED) - {_label(m) for m in _models() if not _historised(m)})
    assert not stale, f"{stale} are listed in NOT_HISTORISED but are historised or gone"


def test_every_historised_patient_record_is_in_the_patient_history():
    in_patient_history = {_label(model) for model, _lookup in audit._REGISTRY}
    missing = sorted(_label(m) for m in _models() if _historised(m)
                     and _label(m) not in in_patient_history and _label(m) not in NOT_PATIENT_RECORDS)
    assert not missing, f"{missing} are historised but shown in no history (registry.audit.register)"


def test_users_are_historised_with_their_roles_but_not_their_password():
    user_model = get_user_model()
    assert _historised(user_model)
    historical = user_model.history.model
    fields = {f.name for f in historical._meta.fields}
    assert {"username", "is_active", "is_staff", "is_superuser"} <= fields
    assert not {"password", "last_login"} & fields
    assert {f.name for f in historical._history_m2m_fields} == {"groups", "user_permissions"}


def test_a_new_user_a_role_and_a_deactivation_are_in_the_history_but_a_login_is_not(db, client):
    user_model = get_user_model()
    user = user_model.objects.create_user("new_nurse", password="Xq7!long-passphrase")
    nurse = Group.objects.get_or_create(name=roles.NURSE)[0]
    user.groups.add(nurse)
    assert [r.history_type for r in user.history.all()] == ["~", "+"]
    assert [row.group for row in user.history.first().groups.all()] == [nurse]
    # A role given from the group's side is recorded on the user too.
    physician = Group.objects.get_or_create(name=roles.PHYSICIAN)[0]
    physician.user_set.add(user)
    assert sorted(r.group.name for r in user.history.first().groups.all()) == sorted([roles.NURSE,
                                                                                      roles.PHYSICIAN])
    physician.user_set.clear()
    assert [r.group for r in user.history.first().groups.all()] == [nurse]
    count = user.history.count()
    assert client.post(reverse("login"), {"username": "new_nurse", "password": "Xq7!long-passphrase"}).status_code \
        == 302
    user.refresh_from_db()
    assert user.last_login is not None and user.history.count() == count  # the login stamp writes no row
    user.is_active = False
    user._change_reason = "left the hospital"
    user.save()
    assert (user.history.first().is_active, user.history.first().history_change_reason) == (False,
                                                                                            "left the hospital")


@pytest.fixture
def uploaded(procedure, users, export):
    return dosimetry.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=export())


def test_uploaded_dicom_files_have_history_with_the_user_and_the_import(uploaded, users):
    files = list(DicomFile.objects.filter(dicom_import=uploaded))
    assert {f.modality for f in files} >= {"RTDOSE", "RTSTRUCT"}
    for row in files:
        (created,) = row.history.all()
        assert (created.history_type, created.history_user, created.history_change_reason) == (
            "+", users["nurse"], f"uploaded with DICOM import {uploaded.pk}")


def test_remembered_structure_mappings_have_history_and_an_unchanged_one_writes_none(uploaded, procedure, users,
                                                                                      export):
    dosimetry.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping={"GTV_L1": "GTV", "Skin": ""})
    mapping = StructureNameMapping.objects.get(site=procedure.patient.site, roi_name="gtv_l1")
    (created,) = mapping.history.all()
    assert (created.role, created.history_user, created.history_change_reason) == (
        "GTV", users["nurse"], f"mapping confirmed for DICOM import {uploaded.pk}")
    assert not StructureNameMapping.objects.filter(roi_name="skin").exists()  # unmapped: not remembered

    second = dosimetry.dicom_upload(user=users["physician"], procedure=procedure, kind="post", files=export("post"))
    assert second.mapping["GTV_L1"] == "GTV"  # remembered
    dosimetry.dicom_import_confirm(user=users["physician"], imp=second, mapping={"GTV_L1": "GTV", "Skin": "skin"})
    assert mapping.history.count() == 1  # the same role again: no row
    skin = StructureNameMapping.objects.get(roi_name="skin")
    assert (skin.history.get().history_user, skin.history.get().history_change_reason) == (
        users["physician"], f"mapping confirmed for DICOM import {second.pk}")

    third = dosimetry.dicom_upload(user=users["physician"], procedure=procedure, kind="post", files=export("post2"))
    dosimetry.dicom_import_confirm(user=users["physician"], imp=third, mapping={"GTV_L1": "PTV", "Skin": ""})
    changed = mapping.history.first()
    assert (changed.history_type, changed.role, changed.history_user, changed.history_change_reason) == (
        "~", "PTV", users["physician"], f"mapping confirmed for DICOM import {third.pk}")


def test_patient_history_lists_the_imports_and_files_and_hides_the_dicom_names_from_reviewers(uploaded, procedure,
                                                                                              users):
    dosimetry.dicom_import_confirm(user=users["nurse"], imp=uploaded, mapping={"GTV_L1": "GTV", "Skin": ""})
    patient = procedure.patient
    entries = audit.patient_history(patient)
    files = [e for e in entries if e.what.startswith("dicom file")]
    names = {f.original_name for f in DicomFile.objects.filter(dicom_import=uploaded)}
    assert {e.what for e in files} == {f"dicom file {f.modality} {f.original_name}"
                                       for f in DicomFile.objects.filter(dicom_import=uploaded)}
    assert all(e.who == users["nurse"].username and e.action == "created" for e in files)
    imports = [e for e in entries if e.what == f"dicom import {uploaded.pk} (pre)"]
    assert imports and imports[-1].action == "created"
    mapped = [c for e in imports for c in e.changes if c.field == "mapping"]
    assert mapped and "GTV_L1" in mapped[0].after and "GTV" in mapped[0].after

    hidden = audit.patient_history(patient, identifiers=False)
    text = repr(hidden)
    assert "DOE^JANE" not in text and not any(name in text for name in names)
    assert {e.what for e in hidden if e.what.startswith("dicom file")} == {
        f"dicom file {f.modality}" for f in DicomFile.objects.filter(dicom_import=uploaded)}


def test_deleting_an_import_puts_the_reason_on_its_files_history(uploaded, users):
    from registry import services

    file_ids = list(uploaded.files.values_list("pk", flat=True))
    services.delete_with_reason(user=users["physician"], instance=uploaded, reason="Wrong patient's export")
    assert not DicomImport.objects.filter(pk=uploaded.pk).exists()
    rows = DicomFile.history.filter(id__in=file_ids, history_type="-")
    assert rows.count() == len(file_ids)
    assert {(r.history_user, r.history_change_reason) for r in rows} == {(users["physician"],
                                                                          "Wrong patient's export")}


def test_site_memberships_are_historised(users, sites):
    membership = SiteMembership.objects.get(user=users["nurse"], site=sites["A"])
    assert membership.history.get().history_type == "+"

"""Admin changes carry a reason (registry/admin_audit.py): refused without one, nothing saved; with one, every
history row the save writes (main object, inlines, a user's groups) has the reason and the data manager."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.urls import URLResolver, path, reverse
from django.utils.html import escape
from simple_history.admin import SimpleHistoryAdmin

from config.urls import urlpatterns as project_urls
from dosimetry.models import StructureNameMapping
from registry import roles
from registry.admin_audit import REASON_FIELD, AdminChangeReasonMixin
from registry.models import Lesion, Patient, SiteMembership

REASON = "Correction after the source document check"

# UserAdmin (two-step add) with the mixin, on an admin site of its own: registry/admin_users.py, written in
# parallel, gets the mixin at merge; this proves the mixin works on it.
user_site = admin.AdminSite(name="admin")


class AuditedUserAdmin(AdminChangeReasonMixin, SimpleHistoryAdmin, UserAdmin):
    pass


user_site.register(get_user_model(), AuditedUserAdmin)
urlpatterns = [path("admin/", user_site.urls),
               *[p for p in project_urls if not (isinstance(p, URLResolver) and p.app_name == "admin")]]


@pytest.fixture
def root_client(db):
    """Site memberships are edited directly by superusers only (data managers go through the user admin)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    root = get_user_model().objects.create_superuser("root", password="root-pass-123")
    client = Client()
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    client.user = root
    return client


@pytest.fixture
def dm_client(client, users):
    dm = users["data_manager"]
    dm.is_staff = True
    dm.save()
    client.force_login(dm, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _value(field: forms.Field, value):
    if isinstance(field, forms.NullBooleanField):
        return {True: "true", False: "false"}.get(value)
    if isinstance(field, forms.BooleanField):
        return "on" if value else None
    if isinstance(value, (list, tuple, set)) or hasattr(value, "all"):
        items = value.all() if hasattr(value, "all") else value
        return [str(getattr(v, "pk", v)) for v in items]
    if value is None or value == "":
        return None
    return str(getattr(value, "pk", value))


def _add_form(data: dict, form: forms.Form) -> None:
    for name, field in form.fields.items():
        if field.disabled or name == REASON_FIELD:
            continue
        value = form.initial.get(name, field.initial)
        key = form.add_prefix(name)
        if isinstance(field, forms.MultiValueField):
            for i, part in enumerate(field.widget.decompress(value) if value else []):
                if part is not None:
                    data[f"{key}_{i}"] = str(part)
            continue
        posted = _value(field, value)
        if posted is not None:
            data[key] = posted


def _page_data(page) -> dict:
    """What the browser would post back unchanged: the form's and the inlines' current values."""
    data: dict = {}
    _add_form(data, page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = str(value)
        for form in formset.forms:
            _add_form(data, form)
    return data


def _history_counts() -> dict[str, int]:
    return {m.__name__: m.history.count() for m in (Patient, Lesion, SiteMembership, StructureNameMapping)}


def test_patient_change_without_a_reason_is_refused_and_saves_nothing(dm_client, eligible_patient):
    url = reverse("admin:registry_patient_change", args=[eligible_patient.pk])
    page = dm_client.get(url)
    assert "Reason for change" in page.content.decode()
    data = _page_data(page)
    data["family_name"] = "Smith"
    data["lesions-0-baseline_long_mm"] = "30.0"
    before = _history_counts()
    for reason, message in (("", "Reason for change is required"),
                            ("typo", "Reason for change 'typo' has 4 characters; give at least 5")):
        refused = dm_client.post(url, {**data, REASON_FIELD: reason})
        assert refused.status_code == 200
        errors = refused.context["adminform"].form.errors
        assert list(errors) == [REASON_FIELD] and message in errors[REASON_FIELD][0]
        assert escape(message) in refused.content.decode()  # shown next to the field
    eligible_patient.refresh_from_db()
    assert eligible_patient.family_name == "Doe"
    assert eligible_patient.lesions.get().baseline_long_mm == Decimal("28")
    assert _history_counts() == before


def test_patient_change_with_a_reason_puts_it_on_the_patient_and_inline_rows(dm_client, eligible_patient, users):
    url = reverse("admin:registry_patient_change", args=[eligible_patient.pk])
    data = _page_data(dm_client.get(url))
    data.update({"family_name": "Smith", "lesions-0-baseline_long_mm": "30.0", REASON_FIELD: f"  {REASON}  "})
    last = {m: m.history.order_by("-history_id").first().history_id for m in (Patient, Lesion)}
    done = dm_client.post(url, data)
    assert done.status_code == 302, done.context["adminform"].form.errors
    row = eligible_patient.history.first()  # newest
    assert (row.family_name, row.history_user, row.history_change_reason) == ("Smith", users["data_manager"], REASON)
    lesion = eligible_patient.lesions.get()
    lesion_row = lesion.history.first()
    assert lesion_row.baseline_long_mm == Decimal("30.0")
    assert (lesion_row.history_user, lesion_row.history_change_reason) == (users["data_manager"], REASON)
    # Every row this save wrote (the recomputed derived values too) carries the reason.
    for model, history_id in last.items():
        written = model.history.filter(history_id__gt=history_id)
        assert set(written.values_list("history_change_reason", flat=True)) == {REASON}, model
    # The admin's history view of the patient shows it.
    history = dm_client.get(reverse("admin:registry_patient_history", args=[eligible_patient.pk]))
    assert REASON in history.content.decode()


def test_a_clinical_record_added_in_the_admin_needs_a_reason(dm_client, eligible_patient, users):
    url = reverse("admin:registry_iodinecourse_add")
    data = {"patient": eligible_patient.pk, "date": "2017-01-10", "activity_value": "3.7", "activity_unit": "GBq"}
    refused = dm_client.post(url, data)
    assert refused.status_code == 200 and REASON_FIELD in refused.context["adminform"].form.errors
    assert eligible_patient.iodine_courses.count() == 4
    done = dm_client.post(url, {**data, REASON_FIELD: "Course found in the old paper file"})
    assert done.status_code == 302, done.context["adminform"].form.errors
    course = eligible_patient.iodine_courses.get(date=dt.date(2017, 1, 10))
    row = course.history.earliest()
    assert (row.history_type, row.history_user, row.history_change_reason) == (
        "+", users["data_manager"], "Course found in the old paper file")


def test_site_membership_in_the_admin_needs_a_reason_and_its_history_shows_it(root_client, users, sites):
    nurse = users["nurse"]
    url = reverse("admin:registry_sitemembership_add")
    refused = root_client.post(url, {"user": nurse.pk, "site": sites["B"].pk})
    assert refused.status_code == 200 and REASON_FIELD in refused.context["adminform"].form.errors
    assert not SiteMembership.objects.filter(user=nurse, site=sites["B"]).exists()
    done = root_client.post(url, {"user": nurse.pk, "site": sites["B"].pk, REASON_FIELD: "Covers site B in June"})
    assert done.status_code == 302
    membership = SiteMembership.objects.get(user=nurse, site=sites["B"])
    row = membership.history.get()
    assert (row.history_type, row.history_user, row.history_change_reason) == (
        "+", root_client.user, "Covers site B in June")
    page = root_client.get(reverse("admin:registry_sitemembership_history", args=[membership.pk]))
    assert page.status_code == 200 and "Covers site B in June" in page.content.decode()


def test_site_membership_deleted_in_the_admin_needs_a_reason(root_client, users, sites):
    membership = SiteMembership.objects.get(user=users["nurse"], site=sites["A"])
    url = reverse("admin:registry_sitemembership_delete", args=[membership.pk])
    page = root_client.get(url)
    assert page.status_code == 200 and "1 site membership" in page.content.decode()
    root_client.post(url, {"confirm": "yes", "reason": ""})
    assert SiteMembership.objects.filter(pk=membership.pk).exists()
    assert root_client.post(url, {"confirm": "yes", "reason": "Left the unit"}).status_code == 302
    row = SiteMembership.history.get(id=membership.pk, history_type="-")
    assert (row.history_user, row.history_change_reason) == (root_client.user, "Left the unit")


def test_structure_name_mapping_changed_in_the_admin_needs_a_reason(dm_client, users, sites):
    mapping = StructureNameMapping.objects.create(site=sites["A"], roi_name="gtv_1", role="PTV")
    url = reverse("admin:dosimetry_structurenamemapping_change", args=[mapping.pk])
    data = {"site": sites["A"].pk, "roi_name": "gtv_1", "role": "GTV"}
    assert dm_client.post(url, data).status_code == 200
    mapping.refresh_from_db()
    assert mapping.role == "PTV"
    assert dm_client.post(url, {**data, REASON_FIELD: "GTV_1 is the GTV at site A"}).status_code == 302
    row = mapping.history.first()
    assert (row.role, row.history_user, row.history_change_reason) == (
        "GTV", users["data_manager"], "GTV_1 is the GTV at site A")


@pytest.mark.urls(__name__)
def test_user_admin_two_step_add_and_role_change_carry_the_reason(dm_client, users):
    User = get_user_model()
    add_url = reverse("admin:auth_user_add")
    page = dm_client.get(add_url)
    assert page.status_code == 200 and "Reason for change" in page.content.decode()
    step1 = {"username": "nurse_new", "usable_password": "true", "password1": "Xq7!long-passphrase",
             "password2": "Xq7!long-passphrase"}
    refused = dm_client.post(add_url, step1)
    assert refused.status_code == 200 and REASON_FIELD in refused.context["adminform"].form.errors
    assert not User.objects.filter(username="nurse_new").exists()
    added = dm_client.post(add_url, {**step1, REASON_FIELD: "New ward nurse, ticket 4711"})
    assert added.status_code == 302, added.context["adminform"].form.errors
    new = User.objects.get(username="nurse_new")
    created = new.history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+", users["data_manager"], "New ward nurse, ticket 4711")
    assert not hasattr(created, "password") and not hasattr(created, "last_login")

    # Step 2: the change form (the role) asks again; refused, the role is not given.
    change_url = reverse("admin:auth_user_change", args=[new.pk])
    data = _page_data(dm_client.get(change_url))
    nurse_group = Group.objects.get(name=roles.NURSE)
    data["groups"] = [str(nurse_group.pk)]
    assert dm_client.post(change_url, data).status_code == 200
    assert not new.groups.exists()
    done = dm_client.post(change_url, {**data, REASON_FIELD: "Nurse role for the ward"})
    assert done.status_code == 302, done.context["adminform"].form.errors
    assert list(new.groups.all()) == [nurse_group]
    rows = new.history.filter(history_date__gt=created.history_date)
    assert rows.exists()
    assert {(r.history_user, r.history_change_reason) for r in rows} == {(users["data_manager"],
                                                                          "Nurse role for the ward")}
    assert [g.group for g in rows.first().groups.all()] == [nurse_group]  # the role as of the newest row

    history = dm_client.get(reverse("admin:auth_user_history", args=[new.pk]))
    assert "Nurse role for the ward" in history.content.decode()


def test_reverting_to_an_earlier_version_in_the_admin_needs_a_reason(dm_client, users, sites):
    site = sites["A"]
    first = site.history.get()
    site.name = "Site A (renamed)"
    site.save()
    url = reverse("admin:registry_site_simple_history", args=[site.pk, first.history_id])
    page = dm_client.get(url)
    assert page.status_code == 200 and "Reason for change" in page.content.decode()
    data = {"code": site.code, "name": "Site A"}
    assert dm_client.post(url, data).status_code == 200
    site.refresh_from_db()
    assert site.name == "Site A (renamed)"
    assert dm_client.post(url, {**data, REASON_FIELD: "Renamed by mistake"}).status_code == 302
    site.refresh_from_db()
    row = site.history.first()
    assert (site.name, row.history_user, row.history_change_reason) == (
        "Site A", users["data_manager"], "Renamed by mistake")

"""Admin deletions (data manager): one record or the bulk action, always with a reason on the history rows."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from assessment.models import Visit
from registry.models import Lesion, Patient
from tests.registry.test_deletion import REASON


@pytest.fixture
def admin_client(client, users):
    dm = users["data_manager"]
    dm.is_staff = True
    dm.save()
    client.force_login(dm, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_admin_delete_page_needs_a_reason_then_deletes_the_whole_record(admin_client, followed, users):
    pk = followed.pk
    url = reverse("admin:registry_patient_delete", args=[pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "2 visits" in page.content.decode()
    refused = admin_client.post(url, {"confirm": "yes", "reason": ""})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert Patient.objects.filter(pk=pk).exists()
    done = admin_client.post(url, {"confirm": "yes", "reason": REASON})
    assert done.status_code == 302
    assert not Patient.objects.filter(pk=pk).exists() and not Visit.objects.exists()
    row = Patient.history.get(id=pk, history_type="-")
    assert (row.history_user, row.history_change_reason) == (users["data_manager"], REASON)


def test_bulk_action_needs_a_reason_and_djangos_own_is_gone(admin_client, make_patient, users):
    patients = [make_patient(record_number=f"MRN-{i}") for i in range(3)]
    ids = [str(p.pk) for p in patients]
    changelist = reverse("admin:registry_patient_changelist")
    listing = admin_client.get(changelist)
    actions = [name for name, _label in listing.context["action_form"].fields["action"].choices]
    assert "delete_with_reason" in actions and "delete_selected" not in actions
    # Django's own bulk delete is refused even when posted by hand.
    admin_client.post(changelist, {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, "post": "yes"})
    assert Patient.objects.count() == 3
    ask = admin_client.post(changelist, {"action": "delete_with_reason", ACTION_CHECKBOX_NAME: ids})
    assert ask.status_code == 200 and "Reason for deletion" in ask.content.decode()
    assert Patient.objects.count() == 3
    short = admin_client.post(changelist, {"action": "delete_with_reason", ACTION_CHECKBOX_NAME: ids,
                                           "confirm": "yes", "reason": "dup"})
    assert short.status_code == 200 and "at least 5 characters" in short.content.decode()
    assert Patient.objects.count() == 3
    done = admin_client.post(changelist, {"action": "delete_with_reason", ACTION_CHECKBOX_NAME: ids,
                                          "confirm": "yes", "reason": REASON})
    assert done.status_code == 302 and Patient.objects.count() == 0
    rows = Patient.history.filter(history_type="-")
    assert rows.count() == 3 and set(rows.values_list("history_change_reason", flat=True)) == {REASON}


def test_admin_refuses_a_measured_lesion_naming_the_visits(admin_client, followed):
    lesion = followed.lesions.get(label="L1")
    url = reverse("admin:registry_lesion_delete", args=[lesion.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "measured at 2 visits" in page.content.decode()
    posted = admin_client.post(url, {"confirm": "yes", "reason": REASON})
    assert "cannot be deleted" in posted.content.decode()
    assert Lesion.objects.filter(pk=lesion.pk).exists()


def test_patient_inlines_cannot_delete_lesions(admin_client, followed):
    page = admin_client.get(reverse("admin:registry_patient_change", args=[followed.pk]))
    assert page.status_code == 200
    assert all(not fs.formset.can_delete for fs in page.context["inline_admin_formsets"])

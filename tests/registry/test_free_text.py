"""registry/free_text.py: what reviewers see of free text, the release by data managers of the site, and the
release page's authorisation (URL × role × method)."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal as D

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from registry import free_text as ft
from registry.models import FreeTextRelease

URL = "/free-text/"


def _text(response) -> str:
    return html.unescape(response.content.decode("utf-8"))


@pytest.fixture
def other(make_patient, users):
    """A patient of each site with a free text: A's histology "Hürthle QQA", B's "Hürthle QQB"."""
    from registry import services

    a = make_patient("A")
    b = make_patient("B", record_number="MRN-B")
    services.patient_update(user=users["data_manager"], patient=a, data={"histology": "other",
                                                                          "histology_other": "Hürthle QQA"})
    services.patient_update(user=users["data_manager"], patient=b, data={"histology": "other",
                                                                          "histology_other": "Hürthle QQB"})
    return a, b


def _key(obj, field):
    return ContentType.objects.get_for_model(obj).id, obj.pk, field


def _release(user, obj, field, text, confirmed=True):
    ct_id, pk, field = _key(obj, field)
    return ft.release(user=user, content_type_id=ct_id, object_id=pk, field=field, digest=ft.sha256(text),
                      confirmed=confirmed)


def test_url_is_named_and_documented():
    assert reverse("registry:free_text") == URL


@pytest.mark.parametrize("reason, expected", [
    ("signed off", ("signed off", "")),
    ("stage signed off", ("stage signed off", "")),
    ("checks re-run at the import", ("checks re-run at the import", "")),
    ("replaced by a new dicom import", ("replaced by a new dicom import", "")),
    ("dosimetry signed off: pre-plan DICOM import plan #3 (D90 118.2 Gy)",
     ("dosimetry signed off: pre-plan DICOM import plan #3 (D90 118.2 Gy)", "")),
    ("dosimetry sign-off withdrawn: the pre-plan plan of record changed (none → Entered by hand plan #2)",
     ("dosimetry sign-off withdrawn: the pre-plan plan of record changed (none → Entered by hand plan #2)", "")),
    ("plan of record (pre-plan): none → DICOM import plan #1 (D90 120.0 Gy) (default)",
     ("plan of record (pre-plan): none → DICOM import plan #1 (D90 120.0 Gy) (default)", "")),
    ("plan of record (pre-plan): DICOM import plan #1 → Entered by hand plan #2",
     ("plan of record (pre-plan): DICOM import plan #1 → Entered by hand plan #2", "")),
    ("plan of record (pre-plan): DICOM import plan #1 → Entered by hand plan #2: Dr Who asked",
     ("plan of record (pre-plan): DICOM import plan #1 → Entered by hand plan #2: ", "Dr Who asked")),
    ("override (rair_uptake_contradiction): scan of Jane Doe re-read", ("override (rair_uptake_contradiction): ",
                                                                        "scan of Jane Doe re-read")),
    ("imported despite patient_name_mismatch: name misspelt, DOE^JOAN", ("imported despite patient_name_mismatch: ",
                                                                        "name misspelt, DOE^JOAN")),
    ("saved despite no_eligibility, rair_undetermined: Compassionate use for Mrs Doe",
     ("saved despite no_eligibility, rair_undetermined: ", "Compassionate use for Mrs Doe")),
    ("follow-up status: Died (date of death 2018-10-02), cause: Other",
     ("follow-up status: Died (date of death 2018-10-02), cause: Other", "")),
    ("follow-up status: Lost to follow-up (last contact 2019-01-02); warnings accepted (lost_recent_contact): "
     "phoned Jane", ("follow-up status: Lost to follow-up (last contact 2019-01-02); warnings accepted "
                     "(lost_recent_contact): ", "phoned Jane")),
    ("wrong patient: Doe, Jane MRN-1", ("", "wrong patient: Doe, Jane MRN-1")),
    ("signed off by Dr Smith for Jane", ("", "signed off by Dr Smith for Jane")),
])
def test_reason_parts_separate_what_the_system_wrote_from_what_a_user_typed(reason, expected):
    assert ft.reason_parts(reason) == expected


def test_a_deleted_rows_reason_is_typed_even_in_a_system_form():
    assert ft.reason_parts("signed off", "-") == ("", "signed off")
    assert ft.reason_parts("replaced by a new dicom import", "-") == ("replaced by a new dicom import", "")


def test_visible_text_by_role_release_and_edit(other, users):
    from registry import services

    a, _b = other
    assert ft.visible_text(users["nurse"], a, "histology_other") == "Hürthle QQA"
    assert ft.visible_text(users["reviewer"], a, "histology_other") == ft.WITHHELD == "[free text withheld]"
    assert ft.visible_text(users["reviewer"], a, "histology_other", "") == ""
    users["data_manager"].site_memberships.create(site=a.site)
    _release(users["data_manager"], a, "histology_other", "Hürthle QQA")
    assert ft.visible_text(users["reviewer"], a, "histology_other") == "Hürthle QQA"
    services.patient_update(user=users["nurse"], patient=a, data={"histology_other": "Hürthle QQA (Mrs Doe)"})
    a.refresh_from_db()
    assert ft.visible_text(users["reviewer"], a, "histology_other") == ft.WITHHELD


def test_the_withheld_marker_gives_no_length_hint(other, users):
    a, b = other
    from registry import services

    services.patient_update(user=users["nurse"], patient=b, data={"histology_other": "x" * 90})
    b.refresh_from_db()
    assert ft.visible_text(users["reviewer"], a, "histology_other") == ft.visible_text(
        users["reviewer"], b, "histology_other")


def test_a_released_text_is_shown_in_the_history_and_an_edited_one_is_not(other, users, login, client):
    from registry import services

    a, _b = other
    users["data_manager"].site_memberships.create(site=a.site)
    _release(users["data_manager"], a, "histology_other", "Hürthle QQA")
    services.patient_update(user=users["nurse"], patient=a, data={"histology_other": "Hürthle QQA2"})
    login(users["reviewer"])
    page = _text(client.get(reverse("registry:patient_detail", args=[a.pk])))
    history = page[page.index('id="history"'):]
    assert "<ins>Hürthle QQA</ins>" in history  # the released wording (papillary → other) …
    assert f"<del>Hürthle QQA</del> → <ins>{ft.WITHHELD}</ins>" in history  # … and its edit, withheld
    assert "Hürthle QQA2" not in page


def test_upload_label_is_the_modality_and_a_short_hash(procedure, users, export):
    from dosimetry import services

    files = [(f"Doe_Jane_{i}.dcm", content) for i, (_n, content) in enumerate(export())]
    imp = services.dicom_upload(user=users["nurse"], procedure=procedure, kind="pre", files=files)
    dose = imp.files.get(modality="RTDOSE")
    assert ft.upload_label(users["reviewer"], dose) == f"RTDOSE · {dose.sha256[:12]}"
    assert ft.upload_label(users["nurse"], dose) == dose.original_name
    assert ft.visible_text(users["reviewer"], dose, "original_name") == f"RTDOSE · {dose.sha256[:12]}"
    ct_id, pk, field = _key(dose, "original_name")
    with pytest.raises(ValidationError):  # never released: not one of the page's texts
        ft.release(user=users["data_manager"], content_type_id=ct_id, object_id=pk, field=field,
                   digest=ft.sha256(dose.original_name), confirmed=True)
    message = "RTDOSE file " + dose.original_name + " is unreadable; PatientName DOE^JANE"
    shown = ft.import_text(users["reviewer"], imp, message)
    assert "Doe_Jane" not in shown and "DOE^JANE" not in shown and f"RTDOSE · {dose.sha256[:12]}" in shown


def test_only_a_data_manager_of_the_site_releases(other, users, make_user):
    from registry import roles

    a, b = other
    dm = users["data_manager"]  # a data manager of no site
    with pytest.raises(ValidationError, match="not a text of a patient of your sites"):
        _release(dm, a, "histology_other", "Hürthle QQA")
    dm.site_memberships.create(site=b.site)
    with pytest.raises(ValidationError, match="not a text of a patient of your sites"):
        _release(dm, a, "histology_other", "Hürthle QQA")
    _release(dm, b, "histology_other", "Hürthle QQB")
    for name in ("nurse", "physician", "reviewer"):
        with pytest.raises(PermissionDenied):
            _release(users[name], a, "histology_other", "Hürthle QQA")
    dm_a = make_user("dm_a", roles.DATA_MANAGER, ("A",))
    with pytest.raises(ValidationError, match="changed since the page was shown"):
        _release(dm_a, a, "histology_other", "Hürthle QQ")
    with pytest.raises(ValidationError, match="Confirm that the histology \\(other\\) of AAA-0001"):
        _release(dm_a, a, "histology_other", "Hürthle QQA", confirmed=False)
    assert FreeTextRelease.objects.count() == 1
    _release(dm_a, a, "histology_other", "Hürthle QQA")
    release = FreeTextRelease.objects.get(object_id=a.pk)
    assert release.released_by == dm_a and release.sha256 == ft.sha256("Hürthle QQA")
    assert release.history.get().history_user == dm_a


def test_revoke_withholds_again_and_is_historised(other, users):
    a, _b = other
    dm = users["data_manager"]
    dm.site_memberships.create(site=a.site)
    _release(dm, a, "histology_other", "Hürthle QQA")
    ct_id, pk, field = _key(a, "histology_other")
    ft.revoke(user=dm, content_type_id=ct_id, object_id=pk, field=field)
    assert ft.visible_text(users["reviewer"], a, "histology_other") == ft.WITHHELD
    rows = list(FreeTextRelease.history.order_by("history_id").values_list("history_type", "history_user"))
    assert rows == [("+", dm.pk), ("-", dm.pk)]


ROLES = ("anonymous", "nurse", "nurse_b", "physician", "reviewer", "data_manager", "data_manager_a", "superuser")


@pytest.mark.parametrize("role", ROLES)
def test_release_page_url_role_method(role, other, users, make_user, client):
    from django.contrib.auth import get_user_model

    from registry import roles

    a, _b = other
    user = {"data_manager_a": lambda: make_user("dm_a", roles.DATA_MANAGER, ("A",)),
            "superuser": lambda: get_user_model().objects.create_superuser("root", password="x"),
            "anonymous": lambda: None}.get(role, lambda: users[role])()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    ct_id, pk, field = _key(a, "histology_other")
    post = {"action": "release", "item": f"{ct_id}:{pk}:{field}", "sha256": ft.sha256("Hürthle QQA"),
            "confirm": "on"}
    get, posted = client.get(URL), client.post(URL, post)
    if role == "anonymous":
        assert get.status_code == posted.status_code == 302 and "/login/" in get["Location"]
    elif role in ("nurse", "nurse_b", "physician", "reviewer"):
        assert get.status_code == posted.status_code == 403
    else:
        assert get.status_code == 200 and posted.status_code == 302
    released = FreeTextRelease.objects.exists()
    assert released == (role in ("data_manager_a", "superuser"))
    if role == "data_manager":  # a data manager of no site: sees no text, releases none
        assert "Hürthle" not in _text(get)
        assert "not a text of a patient of your sites" in _text(client.get(URL))
    if role == "data_manager_a":
        assert "Hürthle QQA" in _text(get) and "Hürthle QQB" not in _text(get)
    if user is not None:  # the navigation links the page for those who may use it only
        listed = client.get(reverse("registry:patient_list"))
        assert (f'href="{URL}"' in listed.content.decode()) == (role.startswith("data_manager") or role == "superuser")


def test_release_page_lists_withheld_texts_paginated_and_by_state(other, users, client, monkeypatch):
    from registry import views

    a, _b = other
    dm = users["data_manager"]
    dm.site_memberships.create(site=a.site)
    dm.site_memberships.create(site=_b.site)
    client.force_login(dm, backend="django.contrib.auth.backends.ModelBackend")
    monkeypatch.setattr(views, "FREE_TEXT_PAGE_SIZE", 1)
    first, second = _text(client.get(URL)), _text(client.get(URL, {"page": 2}))
    assert "2 texts" in first and "Page 1 of 2" in first
    assert ("Hürthle QQA" in first) != ("Hürthle QQA" in second)
    _release(dm, a, "histology_other", "Hürthle QQA")
    assert "Hürthle QQA" not in _text(client.get(URL)) + _text(client.get(URL, {"page": 2}))
    released = _text(client.get(URL, {"state": "released"}))
    assert "Hürthle QQA" in released and "Withhold again" in released and "Released by dm on " in released
    assert "state: got 'x'; allowed: one of withheld" in _text(client.get(URL, {"state": "x"}))


def test_deletion_reason_quoting_the_patient_is_listed_and_withheld(eligible_patient, users, login, client):
    from registry import services

    course = services.iodine_course_save(user=users["nurse"], patient=eligible_patient, data={
        "date": dt.date(2016, 9, 1), "activity_value": D("100"), "activity_unit": "mCi"})
    reason = "wrong patient: Doe, Jane, MRN-1, born 1960-05-17"
    services.delete_with_reason(user=users["physician"], instance=course, reason=reason)
    login(users["reviewer"])
    assert reason not in _text(client.get(reverse("registry:patient_detail", args=[eligible_patient.pk])))
    users["data_manager"].site_memberships.create(site=eligible_patient.site)
    login(users["data_manager"])
    assert reason in _text(client.get(URL))

"""Accounts and roles (issue 10): a data manager manages the users of his sites in a restricted user admin and
cannot escalate anyone's privileges or set a password; temporary passwords must be changed at the next login;
locked-out accounts can be unlocked by the data manager of their site."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import roles
from registry.admin_users import MANAGED_FIELDS
from registry.models import AccountSecurity, SiteMembership
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()
CHANGELIST = "/admin/auth/user/"


def _change_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def _client(user) -> Client:
    c = Client()
    c.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return c


@pytest.fixture
def dm_a(make_user):
    """A data manager (staff, as the admin needs) working at site A."""
    user = make_user("dm_a", roles.DATA_MANAGER, ("A",))
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", password=PASSWORD)


def _managed_post(user, **changes) -> dict:
    """The restricted form as it is shown for ``user``, with ``changes``."""
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "roles": [g.pk for g in user.groups.filter(name__in=roles.ROLES)],
            "sites": [m.site_id for m in user.site_memberships.all()], "_save": "Save",
            "change_reason": "Role review with the ward manager"}
    if user.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _errors(response) -> str:
    return " ".join(str(e) for e in response.context["adminform"].form.errors.values())


# --- the escalation, reproduced ------------------------------------------------------------------------------------

def test_a_data_manager_cannot_make_himself_superuser_or_grant_permissions(dm_a):
    client = _client(dm_a)
    everything = list(Permission.objects.values_list("pk", flat=True))
    response = client.post(_change_url(dm_a), _managed_post(
        dm_a, is_superuser="on", is_staff="on", user_permissions=everything,
        groups=list(Group.objects.values_list("pk", flat=True)), password="pbkdf2_sha256$1$x$y",
        first_name="Ada"))
    assert response.status_code == 302
    dm_a.refresh_from_db()
    assert dm_a.first_name == "Ada"  # the allowed field was saved …
    assert not dm_a.is_superuser and not dm_a.user_permissions.exists()  # … the escalation ignored
    assert dm_a.check_password(PASSWORD)
    page = client.get(_change_url(dm_a)).content.decode()
    for hidden in ('name="is_superuser"', 'name="is_staff"', 'name="user_permissions"', 'name="groups"',
                   'name="password"', "/password/"):
        assert hidden not in page


def test_a_data_manager_cannot_set_a_password(dm_a, users):
    physician = users["physician"]
    client = _client(dm_a)
    url = f"/admin/auth/user/{physician.pk}/password/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"password1": "Taken-Over-123", "password2": "Taken-Over-123"}).status_code == 403
    physician.refresh_from_db()
    assert physician.check_password(PASSWORD)


def test_a_superuser_keeps_full_control(root, users):
    client = _client(root)
    page = client.get(_change_url(users["nurse"])).content.decode()
    assert 'name="is_superuser"' in page and 'name="user_permissions"' in page
    assert client.get(f"/admin/auth/user/{users['nurse'].pk}/password/").status_code == 200


def test_a_data_manager_cannot_see_or_edit_a_superuser(dm_a, root, sites):
    SiteMembership.objects.create(user=root, site=sites["A"])
    client = _client(dm_a)
    assert "root" not in client.get(CHANGELIST).content.decode()
    response = client.post(_change_url(root), _managed_post(root, is_active=None))
    assert response.status_code == 302 and response.url == "/admin/"  # "does not exist"
    root.refresh_from_db()
    assert root.is_active and root.is_superuser


def test_filtering_the_list_on_hidden_fields_is_refused(dm_a):
    response = _client(dm_a).get(CHANGELIST, {"is_superuser__exact": "1"})
    assert response.status_code in (302, 400)  # Django's "invalid lookup": back to the list with ?e=1


# --- scoping to sites ----------------------------------------------------------------------------------------------

def test_a_data_manager_manages_only_the_users_of_his_sites(dm_a, users):
    client = _client(dm_a)
    listing = client.get(CHANGELIST).content.decode()
    for name in ("nurse_a", "physician_a", "reviewer_a", "dm_a"):
        assert f">{name}<" in listing
    for name in ("nurse_b", ">dm<"):  # site B; a user without a site he did not create
        assert name not in listing
    nurse_b = users["nurse_b"]
    response = client.post(_change_url(nurse_b), _managed_post(nurse_b, is_active=None))
    assert response.status_code == 302 and response.url == "/admin/"
    nurse_b.refresh_from_db()
    assert nurse_b.is_active


def test_memberships_only_of_his_own_sites_and_roles_only_of_the_four(dm_a, users, sites):
    nurse = users["nurse"]
    client = _client(dm_a)
    response = client.post(_change_url(nurse), _managed_post(nurse, sites=[sites["A"].pk, sites["B"].pk]))
    assert response.status_code == 200
    assert f"Site {sites['B'].pk} is not one of your sites; you can give memberships of AAA only." in _errors(response)
    custom = Group.objects.create(name="Auditors")
    custom.permissions.set(Permission.objects.filter(codename="delete_user"))
    response = client.post(_change_url(nurse), _managed_post(nurse, roles=[custom.pk]))
    assert f"Group {custom.pk} is not one of the roles you can give (Nurse, Physician, Data manager, Reviewer)." \
        in _errors(response)
    assert set(nurse.groups.values_list("name", flat=True)) == {roles.NURSE}
    assert list(nurse.site_memberships.values_list("site__code", flat=True)) == ["AAA"]


def test_roles_and_sites_change_and_other_groups_and_sites_stay(dm_a, users, sites):
    physician = users["physician"]
    SiteMembership.objects.create(user=physician, site=sites["B"])  # given by someone else
    auditors = Group.objects.create(name="Auditors")
    physician.groups.add(auditors)
    client = _client(dm_a)
    reviewer = Group.objects.get(name=roles.REVIEWER)
    response = client.post(_change_url(physician), _managed_post(physician, roles=[reviewer.pk], sites=[]))
    assert response.status_code == 302
    assert set(physician.groups.values_list("name", flat=True)) == {roles.REVIEWER, "Auditors"}
    # site A (his) was taken away; site B (not his) stays as it was
    assert list(physician.site_memberships.values_list("site__code", flat=True)) == ["BBB"]


def test_a_data_manager_cannot_deactivate_himself_but_can_deactivate_others(dm_a, users):
    client = _client(dm_a)
    response = client.post(_change_url(dm_a), _managed_post(dm_a, is_active=None))
    assert "You cannot deactivate your own account" in _errors(response)
    nurse = users["nurse"]
    client.post(CHANGELIST, {"action": "deactivate", "_selected_action": [nurse.pk, dm_a.pk]})
    nurse.refresh_from_db()
    dm_a.refresh_from_db()
    assert not nurse.is_active and dm_a.is_active


# --- the temporary password, end to end ----------------------------------------------------------------------------

def _temporary_password(response, username: str) -> str:
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    match = re.search(rf"<td>{username}</td><td><code class=\"temporary-password\">([^<]+)</code>", page)
    assert match, page
    return match.group(1)


def test_a_new_user_gets_a_temporary_password_and_must_change_it_first(dm_a, sites):
    client = _client(dm_a)
    nurse_role = Group.objects.get(name=roles.NURSE)
    response = client.post("/admin/auth/user/add/", {
        "username": "ward_nurse", "first_name": "Mei", "last_name": "Zhou", "email": "", "is_active": "on",
        "roles": [nurse_role.pk], "sites": [sites["A"].pk], "is_superuser": "on", "is_staff": "on",
        "password1": "Chosen-By-DM-1", "password2": "Chosen-By-DM-1", "change_reason": "New ward nurse"})
    temp = _temporary_password(response, "ward_nurse")
    created = User.objects.get(username="ward_nurse")
    assert not created.is_superuser and not created.is_staff
    assert not created.check_password("Chosen-By-DM-1") and created.check_password(temp)
    assert list(created.groups.values_list("name", flat=True)) == [roles.NURSE]
    security = AccountSecurity.objects.get(user=created)
    assert security.created_by == dm_a and security.temp_issued_by == dm_a and security.must_change_password
    assert security.history.filter(history_change_reason__startswith="temporary password issued by dm_a").exists()
    # the password is not shown again
    assert temp not in client.get(_change_url(created)).content.decode()

    user = Client()
    response = user.post("/login/", {"username": "ward_nurse", "password": temp}, follow=True)
    assert response.redirect_chain[-1][0] == "/password/"
    assert "Choose your own password to continue." in response.content.decode()
    for url in ("/patients/", "/worklist/", "/admin/"):
        response = user.get(url)
        assert response.status_code == 302 and response.url == "/password/", url
    response = user.post("/password/", {"old_password": temp, "new_password1": "my-own-Secret-77",
                                        "new_password2": "my-own-Secret-77"})
    assert response.status_code == 302 and response.url == "/password/done/"
    assert user.get("/patients/").status_code == 200
    security.refresh_from_db()
    assert not security.must_change_password


def test_the_action_issues_a_password_that_replaces_the_old_one(dm_a, users):
    physician = users["physician"]
    session = _client(physician)
    assert session.get("/patients/").status_code == 200
    response = _client(dm_a).post(CHANGELIST, {"action": "issue_temporary_password",
                                               "_selected_action": [physician.pk]})
    temp = _temporary_password(response, "physician_a")
    physician.refresh_from_db()
    assert not physician.check_password(PASSWORD) and physician.check_password(temp)
    assert session.get("/patients/").status_code == 302  # his open session ended with the old password
    assert LogEntry.objects.filter(object_id=str(physician.pk), change_message="temporary password issued").exists()


def test_a_password_set_by_a_superuser_ends_the_temporary_one(dm_a, users, root):
    nurse = users["nurse"]
    temp = _temporary_password(_client(dm_a).post(CHANGELIST, {"action": "issue_temporary_password",
                                                               "_selected_action": [nurse.pk]}), "nurse_a")
    _client(root).post(f"/admin/auth/user/{nurse.pk}/password/", {
        "password1": "Root-Chose-This-9", "password2": "Root-Chose-This-9", "usable_password": "true"})
    nurse.refresh_from_db()
    assert not nurse.check_password(temp)
    assert _client(nurse).get("/patients/").status_code == 200


# --- unlocking -------------------------------------------------------------------------------------------------

def _lock(username: str) -> Client:
    c = Client()
    for _ in range(5):
        c.post("/login/", {"username": username, "password": "wrong"})
    assert c.post("/login/", {"username": username, "password": PASSWORD}).status_code == 429
    return c


def test_a_data_manager_unlocks_a_locked_out_user_of_his_site_and_it_is_audited(dm_a, users):
    browser = _lock("nurse_a")
    _lock("nurse_b")
    client = _client(dm_a)
    listing = client.get(CHANGELIST).content.decode()
    assert "locked out" in listing.lower()
    response = client.post(CHANGELIST, {"action": "unlock",
                                        "_selected_action": [users["nurse"].pk, users["nurse_b"].pk]}, follow=True)
    assert "Unlocked: nurse_a (1)." in response.content.decode()
    response = browser.post("/login/", {"username": "nurse_a", "password": PASSWORD})
    assert response.status_code == 302
    assert LogEntry.objects.filter(object_id=str(users["nurse"].pk),
                                   change_message__startswith="unlocked: 1 failed-login").exists()
    assert AccountSecurity.objects.get(user=users["nurse"]).history.filter(
        history_user=dm_a, history_change_reason__startswith="unlocked by dm_a").exists()
    # nurse_b (site B) was not his to unlock
    assert AccessAttempt.objects.filter(username="nurse_b").exists()
    assert Client().post("/login/", {"username": "nurse_b", "password": PASSWORD}).status_code == 429


def test_a_user_without_a_site_is_managed_by_the_data_manager_who_created_him(dm_a, make_user, users):
    client = _client(dm_a)
    response = client.post("/admin/auth/user/add/", {"username": "newcomer", "is_active": "on",
                                                      "change_reason": "Starts on Monday"})
    _temporary_password(response, "newcomer")
    listing = client.get(CHANGELIST).content.decode()
    assert ">newcomer<" in listing
    other = make_user("dm_b", roles.DATA_MANAGER, ("B",))
    other.is_staff = True
    other.save()
    assert ">newcomer<" not in _client(other).get(CHANGELIST).content.decode()


# --- property: nothing outside the allowed set changes ---------------------------------------------------------

def _snapshot(user) -> dict:
    user = User.objects.get(pk=user.pk)
    values = {f.name: getattr(user, f.attname) for f in User._meta.concrete_fields}
    values["groups"] = sorted(user.groups.values_list("name", flat=True))
    values["user_permissions"] = sorted(user.user_permissions.values_list("pk", flat=True))
    values["sites"] = sorted(user.site_memberships.values_list("site__code", flat=True))
    return values


def _field_values():
    """A value a browser could post for each field of the user model, and for groups / permissions."""
    text = st.text(alphabet="abcxyz019_@.$", min_size=0, max_size=12)
    strategies = {}
    for f in [*User._meta.concrete_fields, *User._meta.many_to_many]:
        if f.many_to_many:
            strategies[f.name] = st.lists(st.integers(1, 400), max_size=4)
        elif f.get_internal_type() == "BooleanField":
            strategies[f.name] = st.sampled_from(["on", "true", "1", ""])
        elif f.get_internal_type() in ("DateTimeField",):
            strategies[f.name] = st.sampled_from(["2020-01-01 00:00:00", "1999-12-31 23:59:59", ""])
        else:
            strategies[f.name] = text
    return strategies


FIELD_VALUES = _field_values()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_no_post_of_a_data_manager_changes_a_field_outside_the_allowed_set(dm_a, users, data):
    target = data.draw(st.sampled_from([users["nurse"], users["physician"], dm_a]), label="target")
    names = data.draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), min_size=1), label="fields")
    extra = {name: data.draw(FIELD_VALUES[name], label=name) for name in sorted(names)}
    allowed = set(MANAGED_FIELDS) | {"groups", "sites"}
    client = _client(dm_a)  # logging in sets dm_a's last_login: before the snapshot
    before = _snapshot(target)
    post = {**_managed_post(target), **{k: v for k, v in extra.items() if k not in allowed}}
    client.post(_change_url(target), post)
    after = _snapshot(target)
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= allowed - {"groups", "sites"}, (changed, extra)
    assert after["groups"] == before["groups"] and after["sites"] == before["sites"]


def test_a_data_manager_cannot_join_a_site_through_the_membership_admin(dm_a, users, sites):
    client = _client(dm_a)
    assert client.get("/admin/registry/sitemembership/").status_code == 200  # he may look
    response = client.post("/admin/registry/sitemembership/add/", {"user": dm_a.pk, "site": sites["B"].pk})
    assert response.status_code == 403
    assert not SiteMembership.objects.filter(user=dm_a, site=sites["B"]).exists()
    assert ">nurse_b<" not in client.get(CHANGELIST).content.decode()

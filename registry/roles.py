"""The four roles, as auth groups, and what each may do.

Permissions are ordinary Django model permissions granted to the groups (see ``ensure_roles``), so the pages, the
admin and the REST API check the same thing.
"""

from __future__ import annotations

NURSE = "Nurse"
PHYSICIAN = "Physician"
DATA_MANAGER = "Data manager"
REVIEWER = "Reviewer"
ROLES = (NURSE, PHYSICIAN, DATA_MANAGER, REVIEWER)

# Clinical models of every app: nurses add and change them, physicians also delete; reviewers only view.
CLINICAL_MODELS = {
    "registry": ["patient", "lesion", "iodinecourse", "iodineuptake", "rairclassification", "eligibilityassessment"],
    "dosimetry": ["implantprocedure", "doseplan", "structuredose", "dicomimport", "dicomfile"],
    "assessment": ["visit", "measurement", "newlesion", "labresult", "toxicity", "newtherapy", "lesiondesignation",
                   "followupstatus"],
}
SIGN_OFF_PERMISSION = "sign_off"  # registry.sign_off: eligibility / staging / dosimetry sign-off


def grants() -> dict[str, set[str]]:
    """Role → set of "app_label.codename" permissions."""
    view, add_change, delete = set(), set(), set()
    for app, models in CLINICAL_MODELS.items():
        for model in models:
            view.add(f"{app}.view_{model}")
            add_change |= {f"{app}.add_{model}", f"{app}.change_{model}"}
            delete.add(f"{app}.delete_{model}")
    view |= {"registry.view_site", "dosimetry.view_seedmodel"}
    nurse = view | add_change
    physician = nurse | delete | {f"registry.{SIGN_OFF_PERMISSION}"}
    # Memberships are given in the restricted user admin (registry/admin_users.py), only of the data manager's own
    # sites: no add/change/delete on SiteMembership itself, or he could join any site and manage its users.
    data_manager = physician | {
        "registry.add_site", "registry.change_site", "registry.view_sitemembership",
        "auth.add_user", "auth.change_user", "auth.view_user", "auth.view_group",
        "dosimetry.view_structurenamemapping", "dosimetry.change_structurenamemapping",
        "dosimetry.delete_structurenamemapping",
        # Free text released to reviewers (registry/free_text.py)
        "registry.view_freetextrelease", "registry.add_freetextrelease", "registry.delete_freetextrelease",
    }
    return {NURSE: nurse, PHYSICIAN: physician, DATA_MANAGER: data_manager, REVIEWER: set(view)}


def ensure_roles(**_: object) -> None:
    """Create or refresh the role groups and their permissions (run after every migrate; idempotent).

    One query reads every permission the roles name; a group whose permissions are already right is not written."""
    from django.contrib.auth.models import Group, Permission

    wanted_by_role = grants()
    names = set().union(*wanted_by_role.values())
    by_name = {f"{p.content_type.app_label}.{p.codename}": p
               for p in Permission.objects.select_related("content_type")
               .filter(codename__in={n.split(".", 1)[1] for n in names})}
    for role, perms in wanted_by_role.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = {by_name[n].pk for n in perms if n in by_name}
        if set(group.permissions.values_list("pk", flat=True)) != wanted:
            group.permissions.set(wanted)


def roles_of(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_seedtrack_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._seedtrack_roles = cached
    return cached


def is_data_manager(user) -> bool:
    return user.is_superuser or DATA_MANAGER in roles_of(user)


def can_see_identifiers(user) -> bool:
    """Reviewers work on de-identified data: no names, record numbers or birth dates."""
    if user.is_superuser:
        return True
    roles = roles_of(user)
    return bool(roles) and roles != {REVIEWER}

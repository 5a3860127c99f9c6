"""The authorisation matrix: every URL × role × method, written out, so a new page or a changed rule fails here
until someone decides who may use it.

Roles: anonymous, a nurse of the patient's site (A), a nurse of another site (B), a physician and a reviewer of
site A, and a data manager. A record of site A is invisible to the nurse of site B (404: existence is not
disclosed); anonymous requests go to the login page; reviewers read and never write; read-only pages answer POST
with 405 before looking anything up. Whatever the answer, an empty POST changes nothing: it carries no version token, no data and no
password, so no history row may come of it.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from tests.registry.test_query_parameters import _objects, _reverse, _url_names

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "nurse", "nurse_b", "physician", "reviewer", "data_manager")
LOGIN = "login"  # a redirect to the login page
R = 302  # a redirect elsewhere (home → the role's landing page, a sign-off back to its page)

# Pages everyone with a role may read; a nurse of another site gets 404 on a record of site A.
_READ_A = (LOGIN, 200, 404, 200, 200, 200)
_READ_ANY = (LOGIN, 200, 200, 200, 200, 200)  # lists and cohort pages, scoped to the user's sites inside
_WRITE = (LOGIN, 200, 404, 200, 403, 200)  # a form: nurses, physicians and data managers of the site
_POST_ONLY = (LOGIN, 405, 405, 405, 405, 405)

# URL name → (expected GET per role, expected empty POST per role), roles in ROLES order.
MATRIX: dict[str, tuple[tuple, tuple]] = {
    "home": ((LOGIN, R, R, R, R, R), (LOGIN, 405, 405, 405, 405, 405)),
    "login": ((200,) * 6, (200,) * 6),  # the form again, with its error
    "logout": ((LOGIN, 405, 405, 405, 405, 405), (LOGIN, R, R, R, R, R)),
    # Everyone changes his own password (an empty POST: the form again with its errors).
    "password_change": ((LOGIN, 200, 200, 200, 200, 200), (LOGIN, 200, 200, 200, 200, 200)),
    "password_change_done": ((LOGIN, 200, 200, 200, 200, 200), (LOGIN, 405, 405, 405, 405, 405)),
    # Releasing free text to reviewers: data managers only (an empty POST releases nothing).
    "registry:free_text": ((LOGIN, 403, 403, 403, 403, 200), (LOGIN, 403, 403, 403, 403, R)),
    "registry:patient_list": (_READ_ANY, (LOGIN, 405, 405, 405, 405, 405)),
    "registry:patient_create": ((LOGIN, 200, 200, 200, 403, 200), (LOGIN, 200, 200, 200, 403, 200)),
    "registry:patient_detail": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "registry:patient_edit": (_WRITE, _WRITE),
    "registry:lesion_create": (_WRITE, _WRITE),
    "registry:lesion_edit": (_WRITE, _WRITE),
    "registry:course_create": (_WRITE, _WRITE),
    "registry:course_edit": (_WRITE, _WRITE),
    "registry:rair_edit": (_WRITE, _WRITE),
    "registry:eligibility_create": (_WRITE, _WRITE),
    "registry:eligibility_edit": (_WRITE, _WRITE),
    # Sign-offs: physicians (and data managers, who hold every physician permission) only.
    "registry:eligibility_sign_off": (_POST_ONLY, (LOGIN, 403, 404, 200, 403, 200)),
    "registry:stage_sign_off": (_POST_ONLY, (LOGIN, 403, 404, 200, 403, 200)),
    "registry:delete": ((LOGIN, 403, 404, 200, 403, 200), (LOGIN, 403, 404, 200, 403, 200)),
    "dosimetry:procedure_create": (_WRITE, _WRITE),
    "dosimetry:procedure_detail": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "dosimetry:procedure_edit": (_WRITE, _WRITE),
    "dosimetry:dvh_csv": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "dosimetry:plan_of_record": (_POST_ONLY, (LOGIN, R, 404, R, 403, R)),
    "dosimetry:procedure_sign_off": (_POST_ONLY, (LOGIN, 403, 404, 200, 403, 200)),
    "dosimetry:plan_entry": (_WRITE, _WRITE),
    "dosimetry:dicom_upload": (_WRITE, _WRITE),
    # The fixture's import is done: its mapping page sends writers on to the status page.
    "dosimetry:dicom_mapping": ((LOGIN, R, 404, R, 403, R), (LOGIN, R, 404, R, 403, R)),
    "dosimetry:dicom_status": ((LOGIN, R, 404, R, R, R), (LOGIN, 405, 405, 405, 405, 405)),
    # The fixture's import is done: nothing to retry, back to its page.
    "dosimetry:dicom_retry": (_POST_ONLY, (LOGIN, R, 404, R, 403, R)),
    "assessment:table4": (_READ_ANY, (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:visit_create": (_WRITE, _WRITE),
    # The worklist shows calendar windows: not for reviewers.
    "assessment:worklist": ((LOGIN, 200, 200, 200, 403, 200), (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:dashboard": (_READ_ANY, (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:dashboard_flow_csv": (_READ_ANY, (LOGIN, 405, 405, 405, 405, 405)),
    # The figure of a patient of site A: the nurse of site B has no patient behind it.
    "assessment:dashboard_csv": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:dashboard_svg": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:visit_preview": (_POST_ONLY, (LOGIN, 200, 404, 200, 403, 200)),
    "assessment:visit_preview_edit": (_POST_ONLY, (LOGIN, 200, 404, 200, 403, 200)),
    "assessment:visit_detail": (_READ_A, (LOGIN, 405, 405, 405, 405, 405)),
    "assessment:visit_edit": (_WRITE, _WRITE),
    "assessment:designation_edit": (_WRITE, _WRITE),
    "assessment:therapy_create": (_WRITE, _WRITE),
    "assessment:followup_status_edit": (_WRITE, _WRITE),
}


def _history_rows() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in apps.get_models()
            if model.__name__.startswith("Historical")}


def _client(role, users) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(users[role], backend="django.contrib.auth.backends.ModelBackend")
    return client


def _outcome(response, expected):
    if expected == LOGIN:
        return LOGIN if response.status_code == 302 and response.url.startswith(reverse("login")) else (
            response.status_code, response.get("Location"))
    return response.status_code


def test_every_url_is_in_the_matrix():
    names = {name for name, _pattern in _url_names()}
    assert sorted(names - MATRIX.keys()) == [], "new URL: say who may GET and POST it in MATRIX"
    assert sorted(MATRIX.keys() - names) == [], "MATRIX names a URL that no longer exists"


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_role_and_method(users, followed, method):
    objects = _objects(followed)
    wrong = []
    # History rows are counted around each POST (a GET is not asked to change nothing); the count after one
    # request is the count before the next: nothing else runs in between but the next client's login.
    before = _history_rows() if method == "post" else None
    for name, pattern in _url_names():
        url = _reverse(name, pattern, objects)
        expected_by_role = MATRIX[name][0 if method == "get" else 1]
        for role, expected in zip(ROLES, expected_by_role, strict=True):
            response = getattr(_client(role, users), method)(url)
            got = _outcome(response, expected)
            if got != expected:
                wrong.append(f"{method.upper()} {name} as {role}: expected {expected}, got {got}")
            if method == "post":
                after = _history_rows()
                if after != before:
                    wrong.append(f"POST {name} as {role} with an empty body changed the database")
                before = after
    assert wrong == [], "\n".join(wrong)

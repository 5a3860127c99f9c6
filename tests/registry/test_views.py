"""Pages: login, site scoping (404), role rules (403), de-identification for reviewers, history, inline errors."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_page_requires_login(client, eligible_patient):
    for url in (reverse("registry:patient_list"), reverse("registry:patient_detail", args=[eligible_patient.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


# (role, page, expected status) for a patient of site A. The nurse of site B gets 404: existence is not disclosed.
MATRIX = [
    ("nurse", "detail", 200), ("nurse", "edit", 200), ("nurse", "delete", 403),
    ("nurse_b", "detail", 404), ("nurse_b", "edit", 404), ("nurse_b", "delete", 404),
    ("physician", "detail", 200), ("physician", "delete", 200),
    ("reviewer", "detail", 200), ("reviewer", "edit", 403), ("reviewer", "delete", 403),
    ("data_manager", "detail", 200), ("data_manager", "delete", 200),
]


@pytest.mark.parametrize(("role", "page", "status"), MATRIX)
def test_permission_matrix(login, users, eligible_patient, role, page, status):
    urls = {
        "detail": reverse("registry:patient_detail", args=[eligible_patient.pk]),
        "edit": reverse("registry:patient_edit", args=[eligible_patient.pk]),
        "delete": reverse("registry:delete", args=["patient", eligible_patient.pk]),
    }
    assert login(users[role]).get(urls[page]).status_code == status


def test_nurse_of_another_site_cannot_change_a_lesion_by_post(login, users, eligible_patient):
    lesion = eligible_patient.lesions.get()
    response = login(users["nurse_b"]).post(reverse("registry:lesion_edit", args=[lesion.pk]), {
        "region": "cervical_node", "cervical_level": "II", "side": "left", "nodal": "on"})
    assert response.status_code == 404
    lesion.refresh_from_db()
    assert lesion.cervical_level == "III"


def test_list_shows_only_the_users_sites(login, users, make_patient):
    make_patient("A", record_number="a1")
    make_patient("B", record_number="b1")
    html = login(users["nurse"]).get(reverse("registry:patient_list")).content.decode()
    assert "AAA-0001" in html and "BBB-0001" not in html
    html = login(users["data_manager"]).get(reverse("registry:patient_list")).content.decode()
    assert "AAA-0001" in html and "BBB-0001" in html


def test_reviewer_sees_no_identifiers_and_cannot_search_by_name(login, users, eligible_patient):
    client = login(users["reviewer"])
    detail = client.get(reverse("registry:patient_detail", args=[eligible_patient.pk])).content.decode()
    for identifier in ("Doe", "Jane", "MRN-1", "1960-05-17"):
        assert identifier not in detail
    assert eligible_patient.study_id in detail
    found = client.get(reverse("registry:patient_list"), {"q": "Doe"}).content.decode()
    assert eligible_patient.study_id not in found
    nurse_found = login(users["nurse"]).get(reverse("registry:patient_list"), {"q": "Doe"}).content.decode()
    assert eligible_patient.study_id in nurse_found


def test_filters_by_eligibility_and_rair(login, users, eligible_patient, make_patient):
    make_patient(record_number="other")
    client = login(users["nurse"])
    eligible = client.get(reverse("registry:patient_list"), {"eligibility": "eligible"}).content.decode()
    assert "AAA-0001" in eligible and "AAA-0002" not in eligible
    refractory = client.get(reverse("registry:patient_list"), {"rair": "refractory"}).content.decode()
    assert "AAA-0001" in refractory and "AAA-0002" not in refractory


def test_edit_shows_in_history_with_before_and_after(login, users, eligible_patient):
    client = login(users["nurse"])
    url = reverse("registry:patient_edit", args=[eligible_patient.pk])
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"given_name": "Janet", "birth_date": "1960-05-17", "diagnosis_date": "2012-03-01",
                 "surgery_date": "2012-03-20", "central_neck_dissection": "unknown", "tsh_suppression": "true"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    page = client.get(reverse("registry:patient_detail", args=[eligible_patient.pk])).content.decode()
    history = page[page.index('id="history"'):]
    assert "nurse_a" in history and "Jane</del> → <ins>Janet" in history


def test_form_shows_the_field_error_and_saves_nothing(login, users, eligible_patient):
    client = login(users["nurse"])
    response = client.post(reverse("registry:course_create", args=[eligible_patient.pk]), {
        "date": "2015-05-05", "activity_value": "-2", "activity_unit": "GBq"})
    assert response.status_code == 200
    assert "Activity -2 GBq must be greater than 0." in response.content.decode()
    assert eligible_patient.iodine_courses.count() == 4


def test_eligibility_detail_lists_each_criterion_in_plain_words(login, users, eligible_patient):
    html = login(users["nurse"]).get(reverse("registry:patient_detail", args=[eligible_patient.pk])).content.decode()
    assert "Platelets 210 ×10⁹/L — needs &gt; 100" in html
    assert "Eligible" in html


def test_login_is_throttled_after_repeated_failures(client, users):
    for _ in range(5):
        client.post(reverse("login"), {"username": "nurse_a", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "nurse_a", "password": "test-pass-123"})
    assert response.status_code == 429
    assert "locked" in response.content.decode()


def test_login_with_the_right_password_works(client, users):
    response = client.post(reverse("login"), {"username": "nurse_a", "password": "test-pass-123"}, follow=True)
    assert response.status_code == 200
    assert [url for url, _ in response.redirect_chain] == ["/", reverse("assessment:worklist")]  # nurse's home
    response = client.post(reverse("login"), {"username": "reviewer_a", "password": "test-pass-123"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("registry:patient_list")


def test_data_manager_edit_in_the_admin_recomputes_the_stage(client, users, eligible_patient):
    users["data_manager"].is_staff = True
    users["data_manager"].save()
    client.force_login(users["data_manager"], backend="django.contrib.auth.backends.ModelBackend")
    url = reverse("admin:registry_patient_change", args=[eligible_patient.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update({"birth_date": "1950-01-01", "diagnosis_date": "2012-03-01", "surgery_date": "2012-03-20",
                 "m_category": "M1", "site": eligible_patient.site_id,
                 "change_reason": "M1 found on the PET review"})  # admin changes need a reason (admin_audit)
    for prefix in ("lesions", "iodine_courses"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    eligible_patient.refresh_from_db()
    assert eligible_patient.stage == "IVB"  # 62 at diagnosis, M1

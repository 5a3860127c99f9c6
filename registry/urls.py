from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<int:patient_pk>/lesions/new/", views.lesion_edit, name="lesion_create"),
    path("lesions/<int:pk>/edit/", views.lesion_edit, name="lesion_edit"),
    path("patients/<int:patient_pk>/courses/new/", views.course_edit, name="course_create"),
    path("courses/<int:pk>/edit/", views.course_edit, name="course_edit"),
    path("patients/<int:patient_pk>/rair/", views.rair_edit, name="rair_edit"),
    path("patients/<int:patient_pk>/eligibility/new/", views.eligibility_edit, name="eligibility_create"),
    path("eligibility/<int:pk>/edit/", views.eligibility_edit, name="eligibility_edit"),
    path("eligibility/<int:pk>/sign-off/", views.eligibility_sign_off, name="eligibility_sign_off"),
    path("patients/<int:patient_pk>/stage/sign-off/", views.stage_sign_off, name="stage_sign_off"),
    path("delete/<str:kind>/<int:pk>/", views.delete, name="delete"),
    path("free-text/", views.free_text_release, name="free_text"),
]

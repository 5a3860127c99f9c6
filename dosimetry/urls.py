from django.urls import path

from dosimetry import views

app_name = "dosimetry"

urlpatterns = [
    path("patients/<int:patient_pk>/procedures/new/", views.procedure_edit, name="procedure_create"),
    path("procedures/<int:pk>/", views.procedure_detail, name="procedure_detail"),
    path("procedures/<int:pk>/edit/", views.procedure_edit, name="procedure_edit"),
    path("procedures/<int:pk>/dvh.csv", views.dvh_csv, name="dvh_csv"),
    path("procedures/<int:pk>/plan-of-record/<str:kind>/", views.plan_of_record, name="plan_of_record"),
    path("procedures/<int:pk>/sign-off/", views.procedure_sign_off, name="procedure_sign_off"),
    path("procedures/<int:pk>/plans/new/", views.plan_entry, name="plan_entry"),
    path("procedures/<int:pk>/dicom/", views.dicom_upload, name="dicom_upload"),
    path("dicom-imports/<int:pk>/mapping/", views.dicom_mapping, name="dicom_mapping"),
    path("dicom-imports/<int:pk>/", views.dicom_status, name="dicom_status"),
    path("dicom-imports/<int:pk>/retry/", views.dicom_retry, name="dicom_retry"),
]

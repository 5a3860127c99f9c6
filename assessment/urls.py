from django.urls import path

from assessment import views

app_name = "assessment"

urlpatterns = [
    path("patients/<int:patient_pk>/visits/new/", views.visit_edit, name="visit_create"),
    path("worklist/", views.worklist, name="worklist"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dosimetry/table4/", views.table4, name="table4"),
    path("dashboard/flow.csv", views.dashboard_flow_csv, name="dashboard_flow_csv"),
    path("dashboard/<slug:key>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("dashboard/<slug:key>.svg", views.dashboard_svg, name="dashboard_svg"),
    path("patients/<int:patient_pk>/visits/preview/", views.visit_preview, name="visit_preview"),
    path("patients/<int:patient_pk>/visits/<int:pk>/preview/", views.visit_preview, name="visit_preview_edit"),
    path("visits/<int:pk>/", views.visit_detail, name="visit_detail"),
    path("visits/<int:pk>/edit/", views.visit_edit, name="visit_edit"),
    path("patients/<int:patient_pk>/designation/", views.designation_edit, name="designation_edit"),
    path("patients/<int:patient_pk>/therapies/new/", views.therapy_create, name="therapy_create"),
    path("patients/<int:patient_pk>/follow-up-status/", views.followup_status_edit, name="followup_status_edit"),
]

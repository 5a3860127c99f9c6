"""Django admin for data managers (staff); every clinical model keeps its history view."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from registry import models as m
from registry.services import recompute_patient


class RecomputeMixin:
    """Admin edits go through the same derived-value recomputation as the pages and the services."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        recompute_patient(obj if isinstance(obj, m.Patient) else obj.patient)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        recompute_patient(obj if isinstance(obj, m.Patient) else obj.patient)


@admin.register(m.Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "next_study_number")


@admin.register(m.SiteMembership)
class SiteMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "site")
    list_filter = ("site",)


class LesionInline(admin.TabularInline):
    model = m.Lesion
    extra = 0
    fields = ("label", "region", "cervical_level", "side", "nodal", "baseline_short_mm", "baseline_long_mm")
    readonly_fields = ("label",)


class CourseInline(admin.TabularInline):
    model = m.IodineCourse
    extra = 0
    readonly_fields = ("activity_gbq",)


@admin.register(m.Patient)
class PatientAdmin(RecomputeMixin, SimpleHistoryAdmin):
    list_display = ("study_id", "site", "sex", "histology", "stage", "eligibility_status")
    list_filter = ("site", "histology", "eligibility_status")
    search_fields = ("study_id", "record_number", "family_name")
    readonly_fields = ("study_id", "stage", "stage_reason", "stage_rule_set", "eligibility_status", "derived_at")
    inlines = [LesionInline, CourseInline]


class ClinicalAdmin(RecomputeMixin, SimpleHistoryAdmin):
    pass


for model in (m.Lesion, m.IodineCourse, m.RairClassification, m.EligibilityAssessment):
    admin.site.register(model, ClinicalAdmin)

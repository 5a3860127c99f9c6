"""Django admin for data managers (staff); every clinical model keeps its history view."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from registry import models as m


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
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ("study_id", "site", "sex", "histology", "stage", "eligibility_status")
    list_filter = ("site", "histology", "eligibility_status")
    search_fields = ("study_id", "record_number", "family_name")
    readonly_fields = ("study_id", "stage", "stage_reason", "stage_rule_set", "eligibility_status", "derived_at")
    inlines = [LesionInline, CourseInline]


for model in (m.Lesion, m.IodineCourse, m.IodineUptake, m.RairClassification, m.EligibilityAssessment):
    admin.site.register(model, SimpleHistoryAdmin)

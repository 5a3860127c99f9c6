"""Admin of the dosimetry reference a data manager may correct: the structure names remembered per site.

Changes ask a reason (registry/admin_audit.py); the history view shows who changed a mapping, when and why, next
to the rows the imports wrote ("mapping confirmed for DICOM import N")."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from dosimetry.models import StructureNameMapping
from registry.admin import ReasonDeletionMixin
from registry.admin_audit import AdminChangeReasonMixin


@admin.register(StructureNameMapping)
class StructureNameMappingAdmin(AdminChangeReasonMixin, ReasonDeletionMixin, SimpleHistoryAdmin):
    list_display = ("roi_name", "role", "site")
    list_filter = ("site", "role")
    search_fields = ("roi_name",)

"""Django admin for data managers (staff); every model keeps its history view, and every add / change asks a
reason that goes on each history row the save writes (registry/admin_audit.py)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from registry import models as m
from registry import services
from registry.admin_audit import AdminChangeReasonMixin
from registry.services import recompute_patient


class AdminDeleteForm(forms.Form):
    reason = forms.CharField(label="Reason for deletion", min_length=services.MIN_REASON_CHARS, max_length=200,
                             widget=forms.TextInput(attrs={"size": 60}))


class ReasonDeletionMixin:
    """Admin deletions (one record or the bulk action) go through ``services.delete_with_reason``: a reason is
    required and goes on every history row; what each deletion takes, or what blocks it, is listed first. Django's
    own delete paths (``delete_model`` / ``delete_queryset`` / the ``delete_selected`` action) are refused."""

    actions = ["delete_with_reason"]
    reason_template = "admin/delete_with_reason.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        raise PermissionDenied("Admin deletions need a reason: use the Delete page or action.")

    def delete_queryset(self, request, queryset):
        raise PermissionDenied("Admin deletions need a reason: use the Delete page or action.")

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        return self._reason_page(request, [obj], bulk=False)

    @admin.action(permissions=["delete"], description="Delete selected records (with a reason)")
    def delete_with_reason(self, request, queryset):
        return self._reason_page(request, list(queryset), bulk=True)

    def _reason_page(self, request, objs, *, bulk: bool):
        confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
        form = AdminDeleteForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                with transaction.atomic():  # all or nothing
                    for obj in objs:
                        services.delete_with_reason(user=request.user, instance=obj, reason=reason)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.message_user(request, f"Deleted {len(objs)} {self.opts.verbose_name_plural} ({reason}).",
                                  messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        rows = []
        for obj in objs:
            lines, blocked = services.deletion_preview(user=request.user, instance=obj)
            rows.append({"obj": obj, "lines": lines, "blocked": blocked})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete {len(objs)} {self.opts.verbose_name_plural if len(objs) != 1 else self.opts.verbose_name}",
            "opts": self.opts, "rows": rows, "form": form, "bulk": bulk,
            "any_blocked": any(r["blocked"] for r in rows),
            "selected": [obj.pk for obj in objs], "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, self.reason_template, context)


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
class SiteAdmin(AdminChangeReasonMixin, ReasonDeletionMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "next_study_number")


@admin.register(m.SiteMembership)
class SiteMembershipAdmin(AdminChangeReasonMixin, ReasonDeletionMixin, SimpleHistoryAdmin):
    list_display = ("user", "site")
    list_filter = ("site",)


class LesionInline(admin.TabularInline):
    model = m.Lesion
    extra = 0
    can_delete = False  # deletions need a reason: the lesion's own Delete page
    fields = ("label", "region", "cervical_level", "side", "nodal", "baseline_short_mm", "baseline_long_mm")
    readonly_fields = ("label",)


class CourseInline(admin.TabularInline):
    model = m.IodineCourse
    extra = 0
    can_delete = False
    readonly_fields = ("activity_gbq",)


@admin.register(m.Patient)
class PatientAdmin(AdminChangeReasonMixin, ReasonDeletionMixin, RecomputeMixin, SimpleHistoryAdmin):
    list_display = ("study_id", "site", "sex", "histology", "stage", "eligibility_status")
    list_filter = ("site", "histology", "eligibility_status")
    search_fields = ("study_id", "record_number", "family_name")
    readonly_fields = ("study_id", "stage", "stage_reason", "stage_rule_set", "eligibility_status", "derived_at")
    inlines = [LesionInline, CourseInline]


class ClinicalAdmin(AdminChangeReasonMixin, ReasonDeletionMixin, RecomputeMixin, SimpleHistoryAdmin):
    pass


for model in (m.Lesion, m.IodineCourse, m.RairClassification, m.EligibilityAssessment):
    admin.site.register(model, ClinicalAdmin)
from registry import admin_users  # noqa: E402, F401  (the restricted user admin replaces the stock one)

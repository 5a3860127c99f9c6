"""The user admin, registered in place of Django's stock one: superusers keep full control, data managers get a
restricted form (registry/accounts.py says what they may do).

The stock UserAdmin let a data manager (staff with auth.change_user) tick is_superuser on himself and set any
user's password. Here a data manager sees only ``accounts.managed_users`` and edits only user name, name, e-mail,
active, the four roles and memberships of his own sites; every other field of a POST is ignored, the password
change page answers 403, and passwords come only from the "issue a temporary password" action.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from simple_history.admin import SimpleHistoryAdmin

from registry import accounts, roles
from registry.admin_audit import AdminChangeReasonMixin
from registry.models import SiteMembership

User = get_user_model()

# What a data manager's POST may change: the model fields of the restricted form, plus roles and sites.
MANAGED_FIELDS = ("username", "first_name", "last_name", "email", "is_active")


class ManagedUserForm(forms.ModelForm):
    """A data manager's user form; ``manager`` is bound by ``SeedTrackUserAdmin.get_form``."""

    manager = None
    roles = forms.ModelMultipleChoiceField(queryset=Group.objects.none(), required=False,
                                           widget=forms.CheckboxSelectMultiple, label="Roles")
    sites = forms.ModelMultipleChoiceField(queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
                                           label="Sites", help_text="Only your own sites can be given.")

    class Meta:
        model = User
        fields = MANAGED_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        own = accounts.managed_sites(self.manager)
        self.fields["roles"].queryset = Group.objects.filter(name__in=roles.ROLES).order_by("name")
        self.fields["roles"].error_messages["invalid_choice"] = (
            f"Group %(value)s is not one of the roles you can give ({', '.join(roles.ROLES)}).")
        self.fields["sites"].queryset = own
        self.fields["sites"].error_messages["invalid_choice"] = (
            "Site %(value)s is not one of your sites; you can give memberships of "
            + (", ".join(own.values_list("code", flat=True)) or "no site (you have none)") + " only.")
        if self.instance.pk:
            self.initial["roles"] = list(self.instance.groups.filter(name__in=roles.ROLES))
            self.initial["sites"] = list(own.filter(memberships__user=self.instance))

    def clean_is_active(self):
        active = self.cleaned_data["is_active"]
        if self.instance.pk == self.manager.pk and not active:
            raise forms.ValidationError("You cannot deactivate your own account; ask another data manager.")
        return active

    def save_relations(self, user) -> None:
        """Roles: the chosen role groups, other groups kept as they are. Sites: the chosen ones among the manager's
        sites, memberships of other sites kept."""
        others = list(user.groups.exclude(name__in=roles.ROLES))
        user.groups.set([*others, *self.cleaned_data["roles"]])
        own = accounts.managed_sites(self.manager)
        chosen = set(self.cleaned_data["sites"])
        for membership in SiteMembership.objects.filter(user=user, site__in=own).select_related("site"):
            if membership.site not in chosen:
                membership.delete()
        for site in chosen:
            SiteMembership.objects.get_or_create(user=user, site=site)


def _is_manager(request) -> bool:
    return not request.user.is_superuser


class SeedTrackUserAdmin(AdminChangeReasonMixin, SimpleHistoryAdmin, UserAdmin):
    add_form_template = "admin/registry/user_add_form.html"
    actions = ["issue_temporary_password", "unlock", "deactivate"]
    managed_fieldsets = (
        (None, {"fields": ("username",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "roles", "sites")}),
    )

    # --- what a data manager sees --------------------------------------------------------------------------
    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=accounts.managed_users(request.user).values("pk"))

    def get_list_display(self, request):
        if _is_manager(request):
            return ("username", "first_name", "last_name", "is_active", "role_list", "site_list", "locked_out",
                    "must_change_password")
        return (*super().get_list_display(request), "is_superuser", "role_list", "locked_out")

    def get_list_filter(self, request):
        return ("is_active", "groups") if not _is_manager(request) else ("is_active",)

    def lookup_allowed(self, lookup, value, request=None):
        if request is not None and _is_manager(request) and lookup.split("__")[0] not in ("is_active",):
            return False  # no filtering on is_superuser, groups or permissions through the URL
        return super().lookup_allowed(lookup, value, request)

    def get_fieldsets(self, request, obj=None):
        if _is_manager(request):
            return self.managed_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if _is_manager(request) else super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if not _is_manager(request):
            return super().get_form(request, obj, **kwargs)
        kwargs.update(form=ManagedUserForm, fields=[*MANAGED_FIELDS, "roles", "sites"])
        form = super().get_form(request, obj, **kwargs)
        return type("ManagedUserFormFor", (form,), {"manager": request.user})

    @admin.display(description="roles")
    def role_list(self, user) -> str:
        return ", ".join(sorted(g.name for g in user.groups.all() if g.name in roles.ROLES)) or "—"

    @admin.display(description="sites")
    def site_list(self, user) -> str:
        return ", ".join(sorted(m.site.code for m in user.site_memberships.select_related("site"))) or "—"

    @admin.display(description="locked out", boolean=True)
    def locked_out(self, user) -> bool:
        from axes.conf import settings as axes_settings
        from axes.models import AccessAttempt

        return AccessAttempt.objects.filter(username=user.get_username(),
                                            failures_since_start__gte=axes_settings.AXES_FAILURE_LIMIT).exists()

    @admin.display(description="must change password", boolean=True)
    def must_change_password(self, user) -> bool:
        return accounts.password_change_pending(user)

    # --- what a data manager may do ----------------------------------------------------------------------------
    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or not _is_manager(request) or (
            not obj.is_superuser and accounts.managed_users(request.user).filter(pk=obj.pk).exists())

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or not _is_manager(request) or accounts.managed_users(request.user).filter(
            pk=obj.pk).exists()

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        if _is_manager(request):
            raise PermissionDenied("Data managers do not set passwords: issue a temporary password instead.")
        return super().user_change_password(request, id, form_url)

    def save_model(self, request, obj, form, change):
        if not _is_manager(request):
            super().save_model(request, obj, form, change)
        elif change:  # only the managed fields, whatever else the instance carries
            obj.save(update_fields=[f for f in MANAGED_FIELDS if f in form.cleaned_data])
        else:
            obj.set_unusable_password()  # until the temporary password shown after this save
            obj.save()
            accounts.record_creation(user=obj, by=request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if _is_manager(request):
            form.save_relations(form.instance)

    def response_add(self, request, obj, post_url_continue=None):
        if not _is_manager(request):
            return super().response_add(request, obj, post_url_continue)
        password = accounts.issue_temporary_password(user=obj, by=request.user)
        self.log_addition(request, obj, "temporary password issued")
        return self._passwords_page(request, [(obj, password)], created=True)

    # --- actions ---------------------------------------------------------------------------------------------
    def _passwords_page(self, request, issued, *, created=False):
        response = TemplateResponse(request, "admin/registry/temporary_passwords.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "issued": issued, "created": created,
            "title": "Temporary passwords",
        })
        add_never_cache_headers(response)  # shown once: never from a cache
        return response

    @admin.action(permissions=["change"], description="Issue a temporary password (shown once)")
    def issue_temporary_password(self, request, queryset):
        issued = []
        with transaction.atomic():
            for user in queryset.order_by("username"):
                if user.pk == request.user.pk:
                    self.message_user(request, "Your own password: change it with 'Change password'.",
                                      messages.WARNING)
                    continue
                issued.append((user, accounts.issue_temporary_password(user=user, by=request.user)))
                self.log_change(request, user, "temporary password issued")
        return self._passwords_page(request, issued) if issued else None

    @admin.action(permissions=["change"], description="Unlock (clear failed logins)")
    def unlock(self, request, queryset):
        names = []
        for user in queryset.order_by("username"):
            cleared = accounts.unlock(user=user, by=request.user)
            self.log_change(request, user, f"unlocked: {cleared} failed-login record(s) cleared")
            names.append(f"{user.get_username()} ({cleared})")
        self.message_user(request, "Unlocked: " + ", ".join(names) + ".", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Deactivate the selected users")
    def deactivate(self, request, queryset):
        users = list(queryset.exclude(pk=request.user.pk).filter(is_active=True))
        for user in users:
            user.is_active = False
            user.save(update_fields=["is_active"])
            self.log_change(request, user, "deactivated")
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, SeedTrackUserAdmin)

"""Admin changes with a reason: every add / change form of the admin asks "Reason for change".

:class:`AdminChangeReasonMixin` goes first in a ModelAdmin's bases (``class PatientAdmin(AdminChangeReasonMixin,
…, SimpleHistoryAdmin)``). It adds a required "Reason for change" field (at least ``MIN_REASON_CHARS``
characters) in its own fieldset at the end of the add and change forms — including a two-step add such as
UserAdmin's (the reason is asked on each step, each step writes its own rows) — and refuses the save with a field
error when it is missing or too short, before anything is written.

A valid reason becomes the ``history_change_reason`` of every history row the save writes while the admin view
runs: the main object, its inlines, m2m history (a user's groups) and the derived values recomputed after it.
A row that already carries its own reason (a service's "plan of record …", an override) keeps it. The history
user comes from simple-history's request middleware. The admin's history view of the object lists the reasons.

Saves that have no form to ask on (``list_editable`` on a changelist) are refused.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from django import forms
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

MIN_REASON_CHARS = 5  # as deletion and override reasons (registry.services.MIN_REASON_CHARS)
MAX_REASON_CHARS = 500
REASON_FIELD = "change_reason"
REASON_LABEL = "Reason for change"

# The reason of the admin save running in this thread / task, or None (outside an admin add / change view).
_scope: ContextVar[dict | None] = ContextVar("seedtrack_admin_change_reason", default=None)


class ChangeReasonField(forms.CharField):
    """Required, stripped, ``MIN_REASON_CHARS``–``MAX_REASON_CHARS`` characters; the messages name the value."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", REASON_LABEL)
        kwargs.setdefault("help_text", "Why this change is made; stored with every history row of this save "
                                       f"(at least {MIN_REASON_CHARS} characters).")
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 80}))
        super().__init__(required=True, strip=True, **kwargs)

    def validate(self, value):
        if not value:
            raise ValidationError(
                f"{REASON_LABEL} is required: say why this change is made (at least {MIN_REASON_CHARS} characters).",
                code="required")
        if len(value) < MIN_REASON_CHARS:
            raise ValidationError(
                f"{REASON_LABEL} {value!r} has {len(value)} characters; give at least {MIN_REASON_CHARS}.",
                code="min_length")
        if len(value) > MAX_REASON_CHARS:
            raise ValidationError(
                f"{REASON_LABEL} has {len(value)} characters; at most {MAX_REASON_CHARS} are allowed.",
                code="max_length")


@contextlib.contextmanager
def reason_scope():
    """While the block runs, history rows written without a reason get the admin save's reason (once known)."""
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def current_reason() -> str | None:
    scope = _scope.get()
    return scope.get("reason") if scope else None


@receiver(pre_create_historical_record, dispatch_uid="seedtrack-admin-change-reason")
def _stamp_admin_reason(sender, history_instance, **kwargs) -> None:
    reason = current_reason()
    if reason and not history_instance.history_change_reason:
        history_instance.history_change_reason = reason


class AdminChangeReasonMixin:
    """Ask a reason on every admin add / change form and store it on every history row the save writes."""

    change_reason_fieldset = REASON_LABEL

    def _asks_reason(self, request, obj) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = [f for f in options.get("fields", ()) if f != REASON_FIELD]
            fieldsets.append((name, {**options, "fields": fields}))
        if self._asks_reason(request, obj):
            fieldsets.append((self.change_reason_fieldset, {"fields": [REASON_FIELD]}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        # The reason is a declared field of the form, not a model field: keep it out of the model fields
        # (Django's change view passes the fieldsets' fields, which include it).
        fields = kwargs["fields"] if "fields" in kwargs else flatten_fieldsets(self.get_fieldsets(request, obj))
        if fields is not None:
            kwargs["fields"] = [f for f in fields if f != REASON_FIELD]
        form = super().get_form(request, obj, **kwargs)
        if not self._asks_reason(request, obj):
            return form
        return type(form.__name__, (form,), {REASON_FIELD: ChangeReasonField(), "__module__": form.__module__})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with reason_scope():
            return super().changeform_view(request, object_id, form_url, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # SimpleHistoryAdmin's "revert to this version" saves through save_model too.
        with reason_scope():
            return super().history_form_view(request, object_id, version_id, extra_context)

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data.get(REASON_FIELD) if hasattr(form, "cleaned_data") else None
        scope = _scope.get()
        if not reason or scope is None:
            raise PermissionDenied(f"Admin changes need a reason: use the {'change' if change else 'add'} page.")
        scope["reason"] = reason
        obj._change_reason = reason
        super().save_model(request, obj, form, change)

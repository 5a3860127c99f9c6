"""Page steps shared by the registry, dosimetry and assessment views: the version-checked save of an edit form
(registry/versioning.py) and the generic add / edit page of a record that belongs to a patient.

Rules kept here: a stale form saves nothing and comes back with the other user's changes and the values typed;
a service's refusal (``ValidationError`` or ``common.errors.InputError``) comes back on the form's fields
(:func:`common.pages.attach_errors`); a save that went through redirects to the patient page with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from common.errors import InputError
from common.pages import attach_errors
from registry import versioning
from registry.roles import can_see_identifiers

__all__ = ["child_form", "versioned_save"]


def versioned_save(request: HttpRequest, form, scope: versioning.Scope | None, save: Callable[[], Any],
                   ctx: dict) -> tuple[bool, object]:
    """Run ``save()`` behind the version check of ``form`` (given its token by ``versioning.attach``):
    ``(True, what save returned)``; on a stale form ``(False, None)`` with the refusal in ``ctx`` and a fresh token
    in the form, whose typed values stay."""
    token = versioning.posted_token(form)
    try:
        return True, versioning.guarded_save(token, scope, save, identifiers=can_see_identifiers(request.user))
    except versioning.StaleEdit as stale:
        versioning.renew(form, stale.token)
        ctx["stale"] = stale
        return False, None


def child_form(request: HttpRequest, patient, form, save: Callable[[], Any], title: str,
               scope: versioning.Scope | None = None, **ctx: Any) -> HttpResponse:
    """The add / edit page of one record of ``patient``: show ``form``; on a valid POST run ``save()`` behind the
    version check and go back to the patient page. ``scope``: the rows an edit form covers (version check,
    registry/versioning.py); None for a create form."""
    versioning.attach(form, scope)
    ctx = {"form": form, "patient": patient, "title": title, **ctx}
    if request.method == "POST" and form.is_valid():
        try:
            saved, _ = versioned_save(request, form, scope, save, ctx)
        except (ValidationError, InputError) as exc:
            attach_errors(exc, form)
        else:
            if saved:
                messages.success(request, f"{title}: saved.")
                return redirect("registry:patient_detail", pk=patient.pk)
    return render(request, "registry/form.html", ctx)

"""Page helpers every app's views use: the permission check and putting a service's errors on its form.

Rules kept here:

- A view checks the role permission first (:func:`require`); a refusal is a 403 naming the permission.
- Service errors reach the form by their structure, never by parsing the message: a ``ValidationError`` with an
  ``error_dict`` goes to the fields it names, a :class:`common.errors.InputError` to its ``field``; a field the
  form does not have (or none at all) makes it a form-wide error, so no message is ever lost.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from common.errors import InputError

__all__ = ["attach_errors", "require"]


def require(request: HttpRequest, perm: str) -> None:
    """Refuse (PermissionDenied, a 403) a user whose role lacks ``perm`` ("app_label.codename")."""
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def attach_errors(exc: ValidationError | InputError, form: forms.BaseForm,
                  fields: Mapping[str, str] | None = None) -> None:
    """Attach a service's error to ``form``: each field error beside its field where the form has it, the rest as
    form-wide errors. ``fields`` renames an error's field to the form's name for it (e.g. a core's
    ``"kps"`` → the form's ``"karnofsky"``)."""
    rename = fields or {}

    def target(name: str) -> str | None:
        name = rename.get(name, name)
        return name if name in form.fields else None

    if isinstance(exc, InputError):
        form.add_error(target(exc.field) if exc.field else None, str(exc))
    elif hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(target(name), ValidationError(errors))
    else:
        form.add_error(None, exc.messages)

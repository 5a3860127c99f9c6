"""Warnings with override: the team's shared pattern for entries checked against what is already known.

A service computes a list of warnings (``{"code": ..., "message": "human sentence naming the values"}``) with a
pure core, then calls :func:`decide` before saving:

* no warnings → saved; any override stored earlier no longer applies and is cleared;
* every warning already accepted on the record (same message) → saved, the earlier override is kept (a nurse may
  correct a measurement on a visit a physician confirmed);
* otherwise nothing is saved and :class:`WarningsPending` is raised, carrying the warnings, unless the user has
  seen exactly these warnings (``Override.acknowledged``), gives a reason of at least :data:`MIN_REASON_CHARS`
  characters and holds the physician permission ``registry.sign_off``. A nurse gets "A physician must confirm: …".

:func:`apply` stores the accepted warnings, the reason, who and when on the record (fields of
:class:`WarningOverride`) and sets the history ``_change_reason``. :class:`OverrideForm` is the form part (the
reason and the hidden list of the warnings shown); ``templates/_override.html`` shows both above a form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from registry.roles import SIGN_OFF_PERMISSION

MIN_REASON_CHARS = 5
Warning_ = Mapping[str, str]


class WarningOverride(models.Model):
    """Fields a record carries when a physician saved it despite warnings (all empty otherwise)."""

    warnings = models.JSONField("accepted warnings", default=list, blank=True, editable=False)
    override_reason = models.TextField("override reason", blank=True, editable=False)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False,
        related_name="+", verbose_name="overridden by",
    )
    overridden_at = models.DateTimeField("overridden at", null=True, blank=True, editable=False)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Override:
    """What the user sent with the save: the reason and the messages of the warnings they were shown."""

    reason: str = ""
    acknowledged: tuple[str, ...] = field(default_factory=tuple)


class WarningsPending(ValidationError):
    """Nothing was saved: the save would produce warnings not yet confirmed. ``warnings`` lists them;
    ``physician_required`` is True when the user gave a reason but may not confirm."""

    def __init__(self, warnings: Sequence[Warning_], message: str, *, key: str = "__all__",
                 physician_required: bool = False) -> None:
        self.warnings = [dict(w) for w in warnings]
        self.physician_required = physician_required
        self.text = message
        super().__init__({key: [message]})


@dataclass(frozen=True)
class Decision:
    """Outcome of :func:`decide`: the warnings to store, and whether they were confirmed by this save."""

    warnings: tuple[dict[str, str], ...]
    confirmed_now: bool
    reason: str = ""


def _messages(warnings: Sequence[Warning_]) -> str:
    return " ".join(w["message"] for w in warnings)


def may_confirm(user) -> bool:
    return bool(user is not None and user.has_perm(f"registry.{SIGN_OFF_PERMISSION}"))


def decide(*, user, warnings: Sequence[Warning_], override: Override | None,
           accepted: Sequence[Warning_] = (), key: str = "__all__") -> Decision:
    """Decide whether a save producing ``warnings`` may go ahead (see the module docstring); raises
    :class:`WarningsPending` (nothing saved, its message under ``key``) otherwise."""
    current = tuple({"code": str(w["code"]), "message": str(w["message"])} for w in warnings)
    if not current:
        return Decision((), False)
    already = {w.get("message") for w in accepted or ()}
    new = [w for w in current if w["message"] not in already]
    if not new:
        return Decision(current, False)
    reason = (override.reason if override else "").strip()
    shown = set(override.acknowledged) if override else set()
    if not may_confirm(user):
        raise WarningsPending(new, f"A physician must confirm: {_messages(new)}", key=key,
                              physician_required=bool(reason))
    if not reason or any(w["message"] not in shown for w in new):
        raise WarningsPending(
            new, f"Nothing saved. Check before saving: {_messages(new)} To save anyway, give an override reason "
            f"(at least {MIN_REASON_CHARS} characters).", key=key)
    if len(reason) < MIN_REASON_CHARS:
        raise WarningsPending(
            new, f"Nothing saved: override reason {reason!r} is too short; give at least {MIN_REASON_CHARS} "
            f"characters saying why this does not apply: {_messages(new)}", key=key)
    return Decision(current, True, reason)


def apply(instance: WarningOverride, decision: Decision, user) -> None:
    """Store the decision on the record (before its save) and set the history ``_change_reason``."""
    if not decision.warnings:
        instance.warnings, instance.override_reason = [], ""
        instance.overridden_by, instance.overridden_at = None, None
        return
    if decision.confirmed_now:
        instance.warnings = [dict(w) for w in decision.warnings]
        instance.override_reason = decision.reason
        instance.overridden_by = user
        instance.overridden_at = timezone.now()
        # the history reason names the codes and gives the reason whole; the full warning sentences are in the
        # record's ``warnings`` field, historised with it
        codes = ", ".join(sorted({w["code"] for w in decision.warnings}))
        instance._change_reason = f"override ({codes}): {decision.reason}"


class OverrideForm(forms.Form):
    """The override reason and the warnings shown (hidden), re-shown above a form that has warnings."""

    override_reason = forms.CharField(
        label="Override reason", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=f"Only a physician may save despite the warnings, with a reason (at least {MIN_REASON_CHARS} "
        "characters); it is stored on the record and in its history.")
    acknowledged = forms.CharField(required=False, widget=forms.HiddenInput)

    def override(self) -> Override:
        if not self.is_valid():
            return Override()
        try:
            shown = json.loads(self.cleaned_data.get("acknowledged") or "[]")
        except ValueError:
            shown = []
        if not isinstance(shown, list):
            shown = []
        return Override(self.cleaned_data.get("override_reason", "").strip(), tuple(str(m) for m in shown))

    @classmethod
    def after(cls, exc: WarningsPending, data=None, prefix: str = "override") -> OverrideForm:
        """The form to re-show: the reason typed so far and the warnings just shown."""
        typed = (data or {}).get(f"{prefix}-override_reason", "")
        return cls(initial={"override_reason": typed,
                            "acknowledged": json.dumps([w["message"] for w in exc.warnings])}, prefix=prefix)

"""Version tokens for edit forms: a save made on a form opened before someone else's save is refused.

Every edit form carries a hidden ``version`` token: a signed (``django.core.signing``) list of the highest
django-simple-history ``history_id`` of each history table, restricted to the rows the form edits (the record
and its children, a :class:`Scope`). On POST, :func:`guarded_save` locks the patient row, recomputes the
version inside the save's transaction and compares it with the token. When someone else's save has changed
those rows since the form was opened, nothing is saved and :class:`StaleEdit` carries what changed (who, when,
field: before → after, read from the newer history rows) and a fresh token, so the page can show the change
beside the values this user typed and a deliberate second save goes through. A missing or tampered token is
refused the same way (there is nothing to compare it with).

No model field is added: history rows are the versions. Saves that change nothing visible (a re-save of the
same values) do not make a form stale. The registry, assessment and dosimetry views use this module; it imports
nothing from the other apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django import forms
from django.core import signing
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from registry.audit import HIDDEN_FIELDS, IDENTIFYING_FIELDS, Change, _show
from registry.models import Lesion, Patient

FIELD_NAME = "_version"
_SALT = "seedtrack.versioning"
T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    """The historised rows of one model that a form edits: ``model.history.filter(**lookup)``."""

    model: type[models.Model]
    lookup: Mapping[str, Any]

    def history(self):
        return self.model.history.filter(**self.lookup)


@dataclass(frozen=True)
class Scope:
    """What one edit form covers: a key naming the form and its record, the patient to lock, the parts."""

    key: str
    patient_pk: int
    parts: tuple[Part, ...]

    def current(self) -> list[int]:
        """The highest history id of each part now (0 when the part has no history yet)."""
        return [part.history().aggregate(m=Max("history_id"))["m"] or 0 for part in self.parts]


def scope_for(record: models.Model, patient_pk: int, *children: tuple[type[models.Model], str]) -> Scope:
    """The record itself plus, for each ``(model, fk_field)``, the children whose ``fk_field`` is the record."""
    opts = record._meta
    parts = (Part(type(record), {"id": record.pk}),
             *(Part(model, {f"{fk}_id": record.pk}) for model, fk in children))
    return Scope(f"{opts.label_lower}:{record.pk}", patient_pk, parts)


@dataclass
class Entry:
    """One newer history row, as shown to the user whose form went stale."""

    when: datetime
    who: str
    what: str
    action: str
    reason: str
    changes: list[Change] = field(default_factory=list)


class StaleEdit(Exception):
    """The form was opened on an older version (or carries no valid token); nothing was saved."""

    def __init__(self, message: str, entries: list[Entry], token: str):
        super().__init__(message)
        self.message = message
        self.entries = entries
        self.token = token


    def summary(self) -> str:
        """One line: "physician_a changed T: T2 → T3a (2026-12-01 18:02)"; empty for a missing/invalid token."""
        parts = []
        for e in self.entries:
            detail = ", ".join(f"{c.field}: {c.before} → {c.after}" for c in e.changes)
            parts.append(f"{e.who} {e.action} {e.what}{' (' + detail + ')' if detail else ''} at "
                         f"{timezone.localtime(e.when):%Y-%m-%d %H:%M}")
        return "; ".join(parts)


def token_for(scope: Scope) -> str:
    return signing.dumps({"k": scope.key, "v": scope.current()}, salt=_SALT, compress=True)


def _read(token: str | None, scope: Scope) -> list[int] | None:
    """The versions a token was issued for, or None when it is missing, tampered or for another form."""
    if not token:
        return None
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("k") != scope.key:
        return None
    versions = payload.get("v")
    if not isinstance(versions, list) or len(versions) != len(scope.parts) or not all(
            isinstance(v, int) for v in versions):
        return None
    return versions


_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _label(rec: models.Model, model: type[models.Model]) -> str:
    name = str(model._meta.verbose_name)
    for attr in ("study_id", "label", "analyte", "kind", "timepoint", "date", "assessment_date", "visit_date"):
        value = getattr(rec, attr, None)
        if value not in (None, ""):
            name = f"{name} {value}"
            break
    lesion_id = getattr(rec, "lesion_id", None)
    if lesion_id is not None:

        label = Lesion.objects.filter(pk=lesion_id).values_list("label", flat=True).first()
        name = f"{name} of lesion {label or lesion_id}"
    return name


def _related(field: models.Field, rows: list[dict]) -> str:
    """A many-to-many value of a history diff (through rows) as the related records' names."""
    target = field.related_model
    ids = [row.get(target._meta.model_name) for row in rows or ()]
    names = {obj.pk: str(obj) for obj in target._default_manager.filter(pk__in=[i for i in ids if i is not None])}
    return ", ".join(names.get(i, f"#{i}") for i in ids) or "—"


def _newer(part: Part, since: int, identifiers: bool) -> Iterable[Entry]:
    """Entries for the rows of ``part`` with a history id above ``since`` (those with a visible change)."""
    model = part.model
    rows = list(part.history().filter(history_id__gt=since).select_related("history_user").order_by("history_id"))
    for rec in rows:
        changes: list[Change] = []
        if rec.history_type == "~":
            prev = part.history().filter(id=rec.id, history_id__lt=rec.history_id).order_by("-history_id").first()
            if prev is not None:
                for ch in rec.diff_against(prev).changes:
                    if ch.field in HIDDEN_FIELDS:
                        continue
                    hide = not identifiers and ch.field in IDENTIFYING_FIELDS
                    f = model._meta.get_field(ch.field)
                    show = (lambda v, f=f: _related(f, v)) if f.many_to_many else _show
                    changes.append(Change(str(f.verbose_name), "(hidden)" if hide else show(ch.old),
                                          "(hidden)" if hide else show(ch.new)))
            if not changes:
                continue  # a save that changed nothing visible cannot be lost
        elif rec.history_type == "+":  # a new row: what it was created with
            for f in model._meta.concrete_fields:
                if not f.editable or f.primary_key or f.is_relation or f.name in HIDDEN_FIELDS:
                    continue
                value = getattr(rec, f.attname, None)
                if value in (None, ""):
                    continue
                hide = not identifiers and f.name in IDENTIFYING_FIELDS
                changes.append(Change(str(f.verbose_name), "—", "(hidden)" if hide else _show(value)))
        yield Entry(
            when=rec.history_date,
            who=rec.history_user.get_username() if rec.history_user else "system",
            what=_label(rec, model),
            action=_ACTIONS.get(rec.history_type, rec.history_type),
            reason=rec.history_change_reason or "",
            changes=changes,
        )


def changes_since(token: str | None, scope: Scope, *, identifiers: bool = True) -> StaleEdit | None:
    """None when the form's token is current (or only invisible re-saves happened since); else the refusal."""
    versions = _read(token, scope)
    if versions is None:
        return StaleEdit(
            "Not saved: this form carries no valid version token, so it cannot tell whether someone else changed "
            "the record since it was opened. The values you typed are kept below; check them against the saved "
            "record and save again.", [], token_for(scope))
    if versions == scope.current():
        return None
    entries = [e for part, since in zip(scope.parts, versions, strict=True)
               for e in _newer(part, since, identifiers)]
    if not entries:
        return None
    entries.sort(key=lambda e: e.when)
    who = sorted({e.who for e in entries})
    return StaleEdit(
        f"Not saved: {', '.join(who)} changed this record after you opened the form. Their changes are listed "
        "below and your values are kept in the form; check them and save again to overwrite.",
        entries, token_for(scope))


def attach(form: forms.BaseForm, scope: Scope | None) -> None:
    """Give an edit form its hidden ``_version`` field (the current token when the form is shown unbound).

    A form field, so the token travels with the form's other values; it is removed from ``cleaned_data`` by
    :func:`posted_token` before the values reach a service.
    """
    if scope is None:
        return
    form.fields[FIELD_NAME] = forms.CharField(required=False, widget=forms.HiddenInput)
    if not form.is_bound:
        form.initial[FIELD_NAME] = token_for(scope)


def posted_token(form: forms.BaseForm) -> str | None:
    """The token the form was posted with (and out of ``cleaned_data``, which goes to the services)."""
    if getattr(form, "cleaned_data", None) is not None:
        form.cleaned_data.pop(FIELD_NAME, None)
    if not form.is_bound:
        return None
    return form.data.get(form.add_prefix(FIELD_NAME)) or None


def renew(form: forms.BaseForm, token: str) -> None:
    """Re-show a bound form with a fresh token (the typed values stay as posted)."""
    data = form.data.copy()
    data[form.add_prefix(FIELD_NAME)] = token
    form.data = data


def lock_patient(patient_pk: int) -> None:
    """Serialise versioned saves of one patient (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE does the same)."""

    list(Patient.objects.select_for_update().filter(pk=patient_pk).values_list("pk", flat=True))


def guarded_save(token: str | None, scope: Scope | None, save: Callable[[], T], *, identifiers: bool = True) -> T:
    """Run ``save()`` in one transaction after checking the form's version token; raises :class:`StaleEdit`.

    ``scope`` None (a form that creates a new record) saves without a check.
    """
    with transaction.atomic():
        if scope is not None:
            lock_patient(scope.patient_pk)
            stale = changes_since(token, scope, identifiers=identifiers)
            if stale is not None:
                raise stale
        return save()

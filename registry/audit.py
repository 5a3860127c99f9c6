"""The patient's audit trail: every historised change of the patient and its clinical records, newest first.

Other apps add their models with ``register(model, patient_field)``, so the patient page shows one history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import models

IDENTIFYING_FIELDS = {"family_name", "given_name", "record_number", "birth_date"}
# Per model (model_name): fields that carry what the DICOM files say about the patient (name, ID, the file names
# the TPS gave them, the import warnings quoting both).
IDENTIFYING_FIELDS_OF = {
    "dicomimport": {"patient_id", "patient_name", "warnings", "error"},
    "dicomfile": {"original_name", "file"},
}
HIDDEN_FIELDS = {"derived_at", "computed_at", "lesion_seq", "next_study_number"}
_REGISTRY: list[tuple[type[models.Model], str]] = []


def register(model: type[models.Model], patient_field: str) -> None:
    """``patient_field`` is the lookup from the model's historical row to the patient's id."""
    _REGISTRY.append((model, patient_field))


@dataclass
class Change:
    field: str
    before: str
    after: str
    name: str = ""  # the model field's name (registry/free_text.py withholds free-text fields from reviewers)


@dataclass
class Entry:
    when: datetime
    who: str
    what: str
    action: str  # created / changed / deleted
    reason: str
    changes: list[Change] = field(default_factory=list)
    # The record's model and historical row, for registry/free_text.py; kept out of repr (the row's own str names
    # the record, e.g. an upload's file name, which a reviewer's entry must not carry anywhere it is printed).
    model: type[models.Model] | None = field(default=None, repr=False)
    row: object = field(default=None, repr=False)


def _show(value: object) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def patient_history(patient, *, identifiers: bool = True, limit: int = 200) -> list[Entry]:
    entries: list[Entry] = []
    for model, lookup in _REGISTRY:
        records = model.history.filter(**{lookup: patient.pk}).select_related("history_user").order_by(
            "history_date"
        )
        previous: dict[int, models.Model] = {}
        for rec in records:
            prev = previous.get(rec.id)
            previous[rec.id] = rec
            changes: list[Change] = []
            if prev is not None and rec.history_type == "~":
                delta = rec.diff_against(prev)
                for ch in delta.changes:
                    if ch.field in HIDDEN_FIELDS:
                        continue
                    hide = not identifiers and (
                        ch.field in IDENTIFYING_FIELDS or ch.field in IDENTIFYING_FIELDS_OF.get(model._meta.model_name, ())
                    )
                    verbose = model._meta.get_field(ch.field).verbose_name
                    changes.append(Change(
                        str(verbose), "(hidden)" if hide else _show(ch.old), "(hidden)" if hide else _show(ch.new),
                        name=ch.field,
                    ))
                if not changes and not rec.history_change_reason:
                    continue  # a save that changed nothing visible
            label = f"{model._meta.verbose_name} {_label(rec, model, identifiers)}".strip()
            entries.append(Entry(
                when=rec.history_date,
                who=rec.history_user.get_username() if rec.history_user else "system",
                what=label,
                action=ACTIONS.get(rec.history_type, rec.history_type),
                reason=rec.history_change_reason or "",
                changes=changes,
                model=model,
                row=rec,
            ))
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:limit]


def _label(rec, model, identifiers: bool = True) -> str:
    if model._meta.model_name == "dicomimport":
        return f"{rec.id} ({rec.kind})"
    if model._meta.model_name == "dicomfile":  # the file name the TPS gave may name the patient
        return f"{rec.modality} {rec.original_name}" if identifiers else rec.modality
    for attr in ("study_id", "label", "date", "assessment_date"):
        if hasattr(rec, attr):
            return str(getattr(rec, attr))
    return ""

"""Free text typed by users, and what reviewers (de-identified role) may see of it.

Reviewers (``registry.roles.can_see_identifiers`` False) see no free text typed by users — reasons, notes, "other,
specify" texts, operator / reader names, DICOM header texts, upload file names — unless a data manager of the
patient's site has released that exact text (``FreeTextRelease``: the SHA-256 of the text, so an edited text is
withheld again). Everyone else sees the text as typed.

* ``FIELDS``: the inventory, model label → free-text fields (the pages, the history and the release page use it).
* ``visible_text(user, obj, field, text)``: the text, or ``WITHHELD`` (no length hint).
* ``visible_reason(user, history_row)``: a history change reason; a reason the system wrote is shown, the part a
  user typed is withheld ("override (W1): [free text withheld]").
* ``upload_label(user, dicom_file)``: "RTDOSE · 3fa2c9e1b0d4" for reviewers, never the file name.
* ``withheld_items(user)``: what a data manager may release (the release page).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models

from common.writes import set_history
from registry.audit import _REGISTRY
from registry.models import Patient, Site
from registry.roles import can_see_identifiers, is_data_manager

WITHHELD = "[free text withheld]"
REASON_FIELD = "history_change_reason"

# Model label → (patient lookup on the model, free-text fields typed by users). Structure names come from the
# planning system's files but are typed there by people, so they count too.
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "registry.patient": ("id", ("histology_other",)),
    "registry.lesion": ("patient_id", ("site_detail",)),
    "registry.iodinecourse": ("patient_id", ("notes",)),
    "registry.rairclassification": ("patient_id", ("rair1_evidence", "rair2_evidence", "rair3_evidence",
                                                   "rair4_evidence", "override_reason")),
    "registry.eligibilityassessment": ("patient_id", ("tgab_assay",)),
    "dosimetry.implantprocedure": ("patient_id", ("operator", "ct_scanner", "positioning_aids",
                                                  "intraoperative_events", "deviation_reason", "override_reason")),
    "dosimetry.doseplan": ("procedure__patient_id", ("tps_name", "notes")),
    "dosimetry.structuredose": ("plan__procedure__patient_id", ("name",)),
    "dosimetry.dicomimport": ("procedure__patient_id", ("patient_id", "patient_name", "override_reason")),
    "dosimetry.dicomfile": ("dicom_import__procedure__patient_id", ("original_name",)),
    "assessment.visit": ("patient_id", ("reader", "notes", "override_reason")),
    "assessment.newlesion": ("visit__patient_id", ("site",)),
    "assessment.labresult": ("patient_id", ("assay",)),
    "assessment.toxicity": ("patient_id", ("specify", "treatment")),
    "assessment.newtherapy": ("patient_id", ("notes",)),
    "assessment.followupstatus": ("patient_id", ("death_cause_detail", "override_reason")),
}
# Never released: identifiers read from the DICOM headers and upload names (shown as modality and hash instead).
NEVER_RELEASED: set[tuple[str, str]] = {
    ("dosimetry.dicomimport", "patient_id"), ("dosimetry.dicomimport", "patient_name"),
    ("dosimetry.dicomfile", "original_name"),
}

# History change reasons the system writes. (pattern, group holding the part a user typed or None).
_SYSTEM_REASONS: tuple[tuple[re.Pattern[str], int | None], ...] = (
    (re.compile(r"^(signed off|stage signed off|checks re-run at the import|\(preview\))$"), None),
    (re.compile(r"^replaced by a new [a-z0-9 -]+$"), None),
    (re.compile(r"^dosimetry signed off: .*$"), None),
    (re.compile(r"^dosimetry sign-off withdrawn: .*$"), None),
    (re.compile(r"^plan of record \([^)]*\): .* \((default|default, at the sign-off|re-entered)\)$"), None),
    (re.compile(r"^(override \([^)]*\): )(.*)$", re.S), 2),
    (re.compile(r"^(imported despite [^:]*: )(.*)$", re.S), 2),
    (re.compile(r"^(saved despite [^:]*: )(.*)$", re.S), 2),
    (re.compile(r"^(follow-up status: [^;]*; warnings accepted \([^)]*\): )(.*)$", re.S), 2),
    (re.compile(r"^follow-up status: [^;]*$"), None),
    # An explicit choice: "plan of record (pre-plan): <label> → <label>[: typed reason]"; labels have no colon.
    (re.compile(r"^(plan of record \([^)]*\): [^:]* → [^:]*?)(?:: (.*))?$", re.S), 2),
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def label_of(model_or_obj) -> str:
    return model_or_obj._meta.label_lower


def is_free_text(model_or_obj, field: str) -> bool:
    entry = FIELDS.get(label_of(model_or_obj))
    return entry is not None and field in entry[1]


def _release_model():
    return apps.get_model("registry", "FreeTextRelease")


def is_released(model_or_obj, object_id: int, field: str, text: str) -> bool:
    """A data manager released exactly this text of this record's field."""
    if (label_of(model_or_obj), field) in NEVER_RELEASED:
        return False
    ct = ContentType.objects.get_for_model(model_or_obj, for_concrete_model=False)
    return _release_model().objects.filter(content_type=ct, object_id=object_id, field=field,
                                           sha256=sha256(text)).exists()


def visible_text(user, obj: models.Model, field: str, text: str | None = None) -> str:
    """``text`` (default: the field's value) for identified users; for reviewers only when released."""
    if text is None:
        text = getattr(obj, field, "") or ""
    text = str(text)
    if not text.strip() or can_see_identifiers(user):
        return text
    if label_of(obj) == "dosimetry.dicomfile" and field == "original_name":
        return upload_label(user, obj)
    if is_released(obj, obj.pk, field, text):
        return text
    return WITHHELD


def redact_in(user, obj: models.Model, text: str) -> str:
    """``text`` (e.g. a lesion's site text, a RAIR reason) with the unreleased free texts of ``obj`` replaced."""
    text = "" if text is None else str(text)
    if can_see_identifiers(user) or not text:
        return text
    entry = FIELDS.get(label_of(obj))
    if entry is None:
        return text
    for field in entry[1]:
        value = str(getattr(obj, field, "") or "").strip()
        if value and value in text and visible_text(user, obj, field, value) != value:
            text = text.replace(value, WITHHELD)
    return text


def upload_label(user, dicom_file) -> str:
    """The upload's name for identified users; for reviewers its DICOM modality and a short hash of the file."""
    if can_see_identifiers(user):
        return dicom_file.original_name
    return f"{dicom_file.modality} · {dicom_file.sha256[:12]}"


# A deleted row's reason is the one typed for the deletion, except a plan replaced by a new import or entry.
_DELETION_SYSTEM_REASONS = (_SYSTEM_REASONS[1],)


def reason_parts(reason: str, history_type: str = "~") -> tuple[str, str]:
    """(what the system wrote, what a user typed). A reason of no known form counts as typed (deletions)."""
    for pattern, typed_group in _DELETION_SYSTEM_REASONS if history_type == "-" else _SYSTEM_REASONS:
        match = pattern.match(reason)
        if match:
            if typed_group is None:
                return reason, ""
            typed = match.group(typed_group) or ""
            return reason[: match.start(typed_group)] if typed else reason, typed
    return "", reason


def visible_reason(user, history_row, reason: str | None = None) -> str:
    """A history row's change reason as ``user`` may see it."""
    reason = (history_row.history_change_reason if reason is None else reason) or ""
    if not reason or can_see_identifiers(user):
        return reason
    system, typed = reason_parts(reason, getattr(history_row, "history_type", "~"))
    if not typed:
        return reason
    if is_released(type(history_row), history_row.history_id, REASON_FIELD, reason):
        return reason
    return system + WITHHELD


def visible_history_value(user, model, object_id: int, field: str, value: str) -> str:
    """A before / after value of the history view: free-text fields withheld unless that exact text was released
    for that record (an earlier, released wording stays visible)."""
    if not value or value == "—" or can_see_identifiers(user) or not is_free_text(model, field):
        return value
    if label_of(model) == "dosimetry.dicomfile" and field == "original_name":
        return WITHHELD
    return value if is_released(model, object_id, field, value) else WITHHELD


# --- The release page -------------------------------------------------------------------------------------------

def release_sites(user):
    """The sites whose texts ``user`` may release: a data manager's own sites (superusers: all)."""

    if not user.is_authenticated or not is_data_manager(user):
        return Site.objects.none()
    if user.is_superuser:
        return Site.objects.all()
    return Site.objects.filter(memberships__user=user)


def may_release(user) -> bool:
    return user.is_authenticated and is_data_manager(user)


@dataclass
class Item:
    """One free text a data manager may release: where it is, the record, the exact text and whether released."""

    content_type_id: int
    object_id: int
    field: str
    text: str
    study_id: str
    patient_id: int
    record: str
    field_label: str
    released: bool = False
    released_by: str = ""
    released_at: object = None

    @property
    def digest(self) -> str:
        return sha256(self.text)

    @property
    def key(self) -> str:
        return f"{self.content_type_id}:{self.object_id}:{self.field}"


def _patients_of(sites) -> dict[int, str]:

    return dict(Patient.objects.filter(site__in=sites).values_list("pk", "study_id"))


def _field_items(patients: dict[int, str], only: tuple[type[models.Model], int, str] | None = None) -> Iterator[Item]:
    """The free texts of ``patients``' records (``only``: of one record's field)."""
    for label, (lookup, fields) in FIELDS.items():
        model = apps.get_model(label)
        if only is not None and model is not only[0]:
            continue
        ct = ContentType.objects.get_for_model(model)
        for field in fields:
            if (label, field) in NEVER_RELEASED or (only is not None and field != only[2]):
                continue
            verbose = str(model._meta.get_field(field).verbose_name)
            rows = model.objects.filter(**{f"{lookup}__in": list(patients)})
            if only is not None:
                rows = rows.filter(pk=only[1])
            rows = rows.exclude(**{field: ""}).values_list("pk", lookup, field).order_by(lookup, "pk")
            for pk, patient_id, text in rows:
                if not str(text).strip():
                    continue
                yield Item(ct.id, pk, field, str(text), patients[patient_id], patient_id,
                           f"{model._meta.verbose_name} #{pk}", verbose)


def _reason_items(patients: dict[int, str], only: tuple[type[models.Model], int, str] | None = None
                  ) -> Iterator[Item]:
    """The typed history change reasons of ``patients``' records (``only``: of one historical row)."""

    for model, lookup in _REGISTRY:
        historical = model.history.model
        if only is not None and historical is not only[0]:
            continue
        ct = ContentType.objects.get_for_model(historical)
        rows = historical.objects.filter(**{f"{lookup}__in": list(patients)})
        if only is not None:
            rows = rows.filter(history_id=only[1])
        rows = (rows.exclude(history_change_reason=None).exclude(history_change_reason="")
                .values_list("history_id", "id", lookup, "history_change_reason", "history_type")
                .order_by("history_id"))
        for history_id, record_id, patient_id, reason, history_type in rows:
            if not reason_parts(reason, history_type)[1]:
                continue
            action = {"+": "created", "~": "changed", "-": "deleted"}.get(history_type, history_type)
            yield Item(ct.id, history_id, REASON_FIELD, reason, patients[patient_id], patient_id,
                       f"{model._meta.verbose_name} #{record_id} ({action})", "history reason")


def items_for(user, *, state: str = "withheld") -> list[Item]:
    """The free texts of the patients of ``user``'s release sites; ``state``: withheld / released / all."""
    patients = _patients_of(release_sites(user))
    if not patients:
        return []
    items = [*_field_items(patients), *_reason_items(patients)]
    released = {
        (ct_id, pk, field, digest): (who or "a removed user", when)
        for ct_id, pk, field, digest, who, when in _release_model().objects.filter(
            content_type_id__in={i.content_type_id for i in items}
        ).values_list("content_type_id", "object_id", "field", "sha256", "released_by__username", "released_at")
    }
    for item in items:
        found = released.get((item.content_type_id, item.object_id, item.field, item.digest))
        if found is not None:
            item.released, (item.released_by, item.released_at) = True, found
    if state == "withheld":
        items = [i for i in items if not i.released]
    elif state == "released":
        items = [i for i in items if i.released]
    items.sort(key=lambda i: (i.study_id, i.record, i.field))
    return items


def find_item(user, content_type_id: int, object_id: int, field: str) -> Item | None:
    """The item the release page posted, if it is one of ``user``'s (scoped like the page)."""
    patients = _patients_of(release_sites(user))
    if not patients:
        return None
    try:
        ct = ContentType.objects.get_for_id(content_type_id)
    except ContentType.DoesNotExist:
        return None
    model = ct.model_class()
    if model is None:
        return None
    if field == REASON_FIELD:
        source: Iterable[Item] = _reason_items(patients, (model, object_id, field))
    elif is_free_text(model, field) and (label_of(model), field) not in NEVER_RELEASED:
        source = _field_items(patients, (model, object_id, field))
    else:
        return None
    return next((i for i in source if i.content_type_id == content_type_id and i.object_id == object_id
                 and i.field == field), None)


def protect_history(user, entries: list) -> list:
    """The patient's history (registry.audit.patient_history) as ``user`` may see it: change reasons and the
    before → after of free-text fields withheld from reviewers unless released."""
    if can_see_identifiers(user):
        return entries
    for entry in entries:
        if entry.row is not None:
            entry.reason = visible_reason(user, entry.row, entry.reason)
        for change in entry.changes:
            if entry.model is not None and change.name:
                object_id = getattr(entry.row, "id", None)
                change.before = visible_history_value(user, entry.model, object_id, change.name, change.before)
                change.after = visible_history_value(user, entry.model, object_id, change.name, change.after)
    return entries


# --- Release and revoke (the data manager's page) ---------------------------------------------------------------

def _item_for(user, permission: str, refusal: str, content_type_id: int, object_id: int, field: str):
    """The listed text a release / revoke names, after the data-manager checks (PermissionDenied, ValidationError)."""
    from django.core.exceptions import PermissionDenied, ValidationError

    if not may_release(user) or not user.has_perm(permission):
        raise PermissionDenied(refusal)
    item = find_item(user, content_type_id, object_id, field)
    if item is None:
        raise ValidationError({"item": f"Free text {content_type_id}:{object_id}:{field} is not a text of a patient "
                                       "of your sites; allowed: a text listed on this page."})
    return item


def release(*, user, content_type_id: int, object_id: int, field: str, digest: str, confirmed: bool):
    """Release one exact text to reviewers. Refused (ValidationError naming the problem) when the user may not,
    the text is not one of his sites', it changed since the page showed it, or the confirmation is missing."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    item = _item_for(user, "registry.add_freetextrelease", "Only data managers release free text to reviewers.",
                     content_type_id, object_id, field)
    if item.digest != digest:
        raise ValidationError({"item": f"The {item.field_label} of {item.study_id} {item.record} changed since the "
                                       "page was shown; check the new text and release it again."})
    if not confirmed:
        raise ValidationError({"confirm": f"Confirm that the {item.field_label} of {item.study_id} {item.record} "
                                          "contains no names, record numbers, dates or other identifiers before "
                                          "releasing it."})
    model = _release_model()
    with transaction.atomic():
        key = {"content_type_id": content_type_id, "object_id": object_id, "field": field, "sha256": digest}
        if not model.objects.filter(**key).exists():
            obj = model(**key, released_by=user)
            set_history(obj, user, "released: contains no identifiers (confirmed)")
            obj.save()
    return item


def revoke(*, user, content_type_id: int, object_id: int, field: str):
    """Withhold a released text again (every release of that record's field); the history keeps who and when."""
    from django.db import transaction

    item = _item_for(user, "registry.delete_freetextrelease", "Only data managers revoke released free text.",
                     content_type_id, object_id, field)
    with transaction.atomic():
        for obj in _release_model().objects.filter(content_type_id=content_type_id, object_id=object_id,
                                                   field=field):
            set_history(obj, user, "revoked")
            obj.delete()
    return item


def import_text(user, imp, text: str) -> str:
    """A DICOM import's error or message as ``user`` may see it: for reviewers the upload names replaced by the
    modality and hash, and the PatientName / PatientID read from the files withheld."""
    text = text or ""
    if can_see_identifiers(user) or not text:
        return text
    for f in imp.files.all():
        if f.original_name:
            text = text.replace(f.original_name, upload_label(user, f))
    for value in (imp.patient_name, imp.patient_id):
        if value and value.strip():
            text = text.replace(value, WITHHELD)
    return text

"""Deleting clinical records: what goes with a record, what blocks it, and its files.

The registry does not import the apps above it (assessment, dosimetry). They declare, in their
``AppConfig.ready()``, explicitly (no signals):

* ``register_before_delete(Model, fn)``: ``fn(instance)`` returns querysets of rows that belong to the record and
  must be deleted *before* it (a patient's visits go before the implant procedures they point to with PROTECT);
* ``register_blocker(Model, fn)``: ``fn(instance)`` returns sentences naming what keeps the record from being
  deleted on its own (a lesion measured at visits, an implant that is day 0 of visits).

:func:`delete_record` then deletes through Django's ``Collector`` in that order, puts the acting user and the
reason on every collected instance (cascaded rows included) so django-simple-history writes them on each history
row, and removes the stored files of the deleted rows (``FileField``) once the transaction commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db import models, router, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError

from common.writes import set_history
from registry.roles import CLINICAL_MODELS

BeforeDelete = Callable[[models.Model], Iterable[models.QuerySet]]
Blocker = Callable[[models.Model], Iterable[str]]

_BEFORE: dict[type[models.Model], list[BeforeDelete]] = {}
_BLOCKERS: dict[type[models.Model], list[Blocker]] = {}


def register_before_delete(model: type[models.Model], fn: BeforeDelete) -> None:
    _BEFORE.setdefault(model, [])
    if fn not in _BEFORE[model]:
        _BEFORE[model].append(fn)


def register_blocker(model: type[models.Model], fn: Blocker) -> None:
    _BLOCKERS.setdefault(model, [])
    if fn not in _BLOCKERS[model]:
        _BLOCKERS[model].append(fn)


def protected_sentence(exc: ProtectedError | RestrictedError) -> str:
    """A ProtectedError nobody declared a blocker for, as a sentence naming what still refers to the record."""
    found = Counter(obj._meta.verbose_name for obj in exc.protected_objects if hasattr(obj, "_meta"))
    named = ", ".join(f"{n} {name}{'s' if n != 1 else ''}" for name, n in sorted(found.items()))
    return f"{named or 'other records'} still refer to it"


def blockers(instance: models.Model) -> list[str]:
    """Sentences naming what keeps ``instance`` from being deleted on its own (empty: it may go)."""
    out: list[str] = []
    for fn in _BLOCKERS.get(type(instance), []):
        out.extend(fn(instance))
    return out


@dataclass(frozen=True)
class Deleted:
    """What a deletion removed: rows per model label ("assessment.Visit") and the stored files."""

    counts: dict[str, int]
    files: tuple[str, ...]
    blocked: tuple[str, ...] = ()  # a preview that met a protection nobody declared a blocker for

    def lines(self) -> list[str]:
        """One line per kind of clinical record, in the order of the record ("1 patient", "2 visits", …), then
        the derived results (recomputed from the facts, not kept) and the stored files."""

        order = [f"{app}.{name}" for app, names in CLINICAL_MODELS.items() for name in names]
        clinical, derived = [], 0
        for label, n in self.counts.items():
            model = apps.get_model(label)
            key = f"{model._meta.app_label}.{model._meta.model_name}"
            if not n or model._meta.auto_created:  # many-to-many link rows: not a record of their own
                continue
            if key in order:
                clinical.append((order.index(key), n, model))
            elif hasattr(model, "history"):  # historised, not clinical (site memberships, structure mappings): last
                clinical.append((len(order), n, model))
            else:
                derived += n
        out = [f"{n} {model._meta.verbose_name if n == 1 else model._meta.verbose_name_plural}"
               for _i, n, model in sorted(clinical, key=lambda t: t[0])]
        if derived:
            out.append(f"{derived} derived result{'s' if derived != 1 else ''} (computed from the facts above)")
        if self.files:
            out.append(f"{len(self.files)} stored file{'s' if len(self.files) != 1 else ''} (removed from storage)")
        return out


def _file_fields(model: type[models.Model]) -> list[models.FileField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def _collect_files(collector: Collector) -> list[tuple[object, str]]:
    """(storage, name) of every stored file of the rows the collector will delete (fast deletes included)."""
    found: list[tuple[object, str]] = []
    for model, instances in collector.data.items():
        for field in _file_fields(model):
            for obj in instances:
                name = getattr(obj, field.attname)
                if name:
                    found.append((field.storage, str(name)))
    for qs in collector.fast_deletes:
        model = qs.model
        for field in _file_fields(model):
            for name in qs.values_list(field.attname, flat=True):
                if name:
                    found.append((field.storage, str(name)))
    return found


def _delete_collected(objs: list[models.Model], user, reason: str) -> tuple[Counter, list[tuple[object, str]]]:
    if not objs:
        return Counter(), []
    using = router.db_for_write(type(objs[0]), instance=objs[0])
    collector = Collector(using=using, origin=objs[0])
    collector.collect(objs)
    for instances in collector.data.values():
        for obj in instances:
            set_history(obj, user, reason)
    files = _collect_files(collector)
    _total, per_model = collector.delete()
    return Counter(per_model), files


def _remove_files(files: list[tuple[object, str]]) -> None:
    for storage, name in files:
        storage.delete(name)


@transaction.atomic
def delete_record(instance: models.Model, *, user, reason: str) -> Deleted:
    """Delete ``instance`` with everything that belongs to it, in one transaction (see the module docstring).

    Raises ``ProtectedError`` if something still protects it; callers check :func:`blockers` first.
    """
    counts: Counter = Counter()
    files: list[tuple[object, str]] = []

    def delete_first(obj: models.Model) -> None:
        for fn in _BEFORE.get(type(obj), []):
            for qs in fn(obj):
                rows = list(qs)
                for row in rows:
                    delete_first(row)
                c, f = _delete_collected(rows, user, reason)
                counts.update(c)
                files.extend(f)

    delete_first(instance)
    c, f = _delete_collected([instance], user, reason)
    counts.update(c)
    files.extend(f)
    if files:
        transaction.on_commit(lambda: _remove_files(files))
    return Deleted(counts=dict(counts), files=tuple(name for _s, name in files))


def preview(instance: models.Model, *, user) -> Deleted:
    """What :func:`delete_record` would remove, found by running it and rolling back (the same code path, so
    the confirmation page lists exactly what the deletion takes). Nothing is kept and no file is touched."""
    pk = instance.pk
    try:
        with transaction.atomic():
            result = delete_record(instance, user=user, reason="(preview)")
            transaction.set_rollback(True)
    except (ProtectedError, RestrictedError) as exc:
        return Deleted(counts={}, files=(), blocked=(protected_sentence(exc),))
    finally:
        instance.pk = pk  # the collector clears the primary key of what it deleted
    return result

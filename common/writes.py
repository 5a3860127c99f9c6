"""Audited writes: the one way the services of every app set fields, validate and save a model instance.

Rules kept here:

- A service names the fields its caller may set (``fields=``, a whitelist). A key of ``data`` outside it is a
  programming error (a form or API that passes more than the service accepts), so :func:`update` raises
  ``TypeError`` before anything is set: the instance is left as it was.
- Every save validates first (``full_clean()``); a ``ValidationError`` leaves the database as it was.
- A save that would change no stored column is skipped: no write and no simple-history row, so the audit trail
  shows facts, not re-saves.
- The acting user, and the reason when one is given, go on the simple-history row of the save.
  django-simple-history reads them from private attributes of the instance; :func:`set_history` is the one place
  that sets them (and the "being replaced" mark a post-delete hook reads with :func:`is_replacing`), so no service
  spells those names; :func:`save_without_history` saves a derived value with no history row.
- After each real write, the functions registered with :func:`on_write` run in the same transaction (the
  registry registers the data-version bump that keys the shared dashboard cache). common imports no app, so the
  apps plug in here instead.

The shape follows HackSoft's ``model_update``; :func:`update` returns ``(instance, changed)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from django.db import models

__all__ = ["assign", "differs_from_db", "is_replacing", "on_write", "save_validated", "save_without_history",
           "set_history", "store", "update"]

M = TypeVar("M", bound=models.Model)

_AFTER_WRITE: list[Callable[[models.Model], None]] = []


def on_write(fn: Callable[[models.Model], None]) -> Callable[[models.Model], None]:
    """Run ``fn(instance)`` after every write :func:`store` makes, in the writing transaction (once; order kept)."""
    if fn not in _AFTER_WRITE:
        _AFTER_WRITE.append(fn)
    return fn


def differs_from_db(instance: models.Model) -> bool:
    """True when the instance is new or any stored column would change (a save that changes nothing is skipped)."""
    if instance.pk is None or instance._state.adding:
        return True
    current = type(instance)._base_manager.filter(pk=instance.pk).first()
    if current is None:
        return True
    return any(getattr(instance, f.attname) != getattr(current, f.attname) for f in instance._meta.concrete_fields)


def set_history(instance: models.Model, user: Any, reason: str | None = None, *,
                replacing: bool | None = None) -> None:
    """Name who acts, and why, on the history row of the instance's next save or delete (in memory only).

    ``user`` always replaces the acting user (None: nobody, e.g. a process). ``reason`` None leaves the change
    reason as it is (none, or one set before); any string, even empty, becomes the reason. ``replacing`` True marks
    a record deleted because the calling service puts a new one in its place, so a post-delete hook
    (:func:`is_replacing`) leaves the follow-up to that service; None leaves the mark as it is.
    """
    attributes: dict[str, object] = {"_history_user": user}
    if reason is not None:
        attributes["_change_reason"] = reason
    if replacing is not None:
        attributes["_replacing"] = replacing
    for name, value in attributes.items():
        setattr(instance, name, value)


def is_replacing(instance: models.Model) -> bool:
    """True when :func:`set_history` marked the instance as deleted to be replaced by its service."""
    return bool(getattr(instance, "_replacing", False))


def save_without_history(instance: models.Model) -> None:
    """Save ``instance`` with no simple-history row (a recomputed derived value: the audit trail shows facts).

    simple-history adds ``save_without_historical_record`` to every historised model class when it is prepared, so
    the model's declared type does not have it; the instance is an ``Any`` here for that one call.
    """
    historised: Any = instance
    historised.save_without_historical_record()


def assign(instance: M, data: Mapping[str, Any], *, fields: Collection[str]) -> M:
    """Set ``data`` on ``instance`` (in memory only). Every key must be in ``fields``; otherwise ``TypeError``
    names the keys refused and nothing is set."""
    refused = sorted(set(data) - set(fields))
    if refused:
        raise TypeError(f"{type(instance).__name__}: field(s) {', '.join(refused)} may not be set here; "
                        f"allowed: {', '.join(sorted(fields))}")
    for key, value in data.items():
        setattr(instance, key, value)
    return instance


def store(instance: M, user: Any, reason: str = "") -> bool:
    """Save an already validated instance with the acting user (and reason) on the history row, only if something
    differs from the database: an unchanged record gets no write and no history entry. Returns whether it was
    written."""
    if not differs_from_db(instance):
        return False
    set_history(instance, user, reason or None)
    instance.save()
    for fn in _AFTER_WRITE:
        fn(instance)
    return True


def save_validated(instance: M, *, user: Any, reason: str = "") -> M:
    """Validate (``full_clean()``), then :func:`store` (saved only if anything changed). Returns the instance."""
    instance.full_clean()
    store(instance, user, reason)
    return instance


def update(instance: M, data: Mapping[str, Any], *, fields: Collection[str], user: Any,
           reason: str = "") -> tuple[M, bool]:
    """Set the whitelisted ``data`` on ``instance`` (new or stored), validate and save it if anything differs from
    the database, with ``user`` and ``reason`` on the history row.

    Returns ``(instance, changed)``: ``changed`` is False when the save was skipped because nothing differed.
    Raises ``TypeError`` for a key outside ``fields`` (nothing set) and ``ValidationError`` from ``full_clean()``
    (nothing written).
    """
    assign(instance, data, fields=fields)
    instance.full_clean()
    return instance, store(instance, user, reason)

"""One number that changes with every write the dashboard shows: the key of the shared dashboard cache.

:func:`bump` runs inside the writing transaction, so the number moves exactly when a write commits and not at all
when it is rolled back. It is called where data is actually written: ``common.writes.store`` (the audited
write every service of every app goes through, registered in ``RegistryConfig.ready()``; an unchanged record is not written and bumps nothing), deletions,
and the derived values written beside it (registry derived values that changed, the plan-of-record marks, a
``manage.py recompute`` that changed a follow-up result). :func:`current` is the one
cheap read (a primary-key lookup) by which a request knows whether a cached dashboard is still fresh, in every web
process at once (the cache is shared, see config/settings.py ``CACHES``).

The counter is a single row updated in place: its row lock orders concurrent writers, so two commits never
publish the same number (an insert-and-max scheme could publish a number before an older transaction commits).
"""

from __future__ import annotations

from django.db import models

ROW_ID = 1


class DataVersion(models.Model):
    """The single counter row (id 1); created by the first bump."""

    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        app_label = "registry"

    def __str__(self) -> str:
        return f"data version {self.value}"


def bump() -> None:
    """Advance the data version in the caller's transaction (rolled back with it)."""
    if not DataVersion.objects.filter(pk=ROW_ID).update(value=models.F("value") + 1):
        # first write ever: create the row; a concurrent first writer may win, then update its row
        _, created = DataVersion.objects.get_or_create(pk=ROW_ID, defaults={"value": 1})
        if not created:
            DataVersion.objects.filter(pk=ROW_ID).update(value=models.F("value") + 1)


def bump_after_write(instance: models.Model) -> None:
    """The :func:`common.writes.on_write` hook: every audited write moves the version."""
    bump()


def current() -> int:
    """The committed data version (0 before the first write)."""
    return DataVersion.objects.filter(pk=ROW_ID).values_list("value", flat=True).first() or 0

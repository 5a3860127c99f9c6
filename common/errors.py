"""The one base class of every input error SeedTrack reports to a user.

A pure core (RECIST, TG-43, DVH, statistics …) refuses bad input by raising a subclass of :class:`InputError`
naming the field, the value it was given and what is allowed. Services catch ``InputError`` once and attach the
message to that field of the form, the API answer or the import report. It stays a ``ValueError`` so that code
written against ``ValueError`` keeps working.

Pure Python: no Django, no app import (the cores import this module).
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input: ``str(exc)`` is the full message a user reads; ``field``, ``value`` and ``allowed`` say which
    field was wrong, what it held and what it may hold (empty when a core cannot tell)."""

    def __init__(self, message: str, *, field: str = "", value: object = None, allowed: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.allowed = allowed

    def __str__(self) -> str:
        return self.message

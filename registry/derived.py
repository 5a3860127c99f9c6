""""Facts of this patient changed": the registry's explicit hook for the apps above it.

The registry is the lowest clinical floor and imports no app above it. When a registry write changes facts that
derived results of other apps depend on (lesions, the patient's dates, a deletion), the service calls
:func:`facts_changed` in the same transaction; each upper app has registered, in its ``AppConfig.ready()``,
the function that recomputes what it derives. Explicit calls in a known order, not Django signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Recompute = Callable[[Any], None]

_RECOMPUTE: list[Recompute] = []


def register(fn: Recompute) -> Recompute:
    """Add ``fn(patient)`` to the functions run on every change of a patient's facts (once; order kept)."""
    if fn not in _RECOMPUTE:
        _RECOMPUTE.append(fn)
    return fn


def facts_changed(patient: Any) -> None:
    """Run every registered recomputation for ``patient``, in registration order, in the caller's transaction."""
    for fn in list(_RECOMPUTE):
        fn(patient)

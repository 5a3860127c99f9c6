"""The reviewers' day 1: the date a patient's study days count from (registry/deidentify.py).

Day 1 is the patient's first implant procedure, a fact of the dosimetry app, which sits above the registry. So
the registry does not look it up itself: the app that knows it registers a provider ``fn(patient) -> date | None``
in its ``AppConfig.ready()`` (dosimetry/apps.py). Without a provider, or before any implant, a patient has no
anchor and reviewers see the year alone. The answer is cached on the patient instance for the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

AnchorProvider = Callable[[Any], dt.date | None]

_PROVIDER: list[AnchorProvider] = []
_CACHE_ATTRIBUTE = "_deid_anchor"


def register_anchor(fn: AnchorProvider) -> AnchorProvider:
    """Make ``fn(patient)`` the source of day 1. One provider only: registering the same one again changes
    nothing, a different one is a configuration error."""
    if _PROVIDER and _PROVIDER[0] is not fn:
        raise ImproperlyConfigured(f"the study-day anchor is already provided by {_PROVIDER[0].__qualname__}")
    if not _PROVIDER:
        _PROVIDER.append(fn)
    return fn


def anchor_for(patient: Any) -> dt.date | None:
    """The patient's day-1 date (cached on the instance), None without a patient, a provider or an implant."""
    if patient is None:
        return None
    if not hasattr(patient, _CACHE_ATTRIBUTE):
        setattr(patient, _CACHE_ATTRIBUTE, _PROVIDER[0](patient) if _PROVIDER else None)
    return getattr(patient, _CACHE_ATTRIBUTE)

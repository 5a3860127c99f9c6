"""Sections that the apps above the registry add to the patient page.

The registry's patient page (``registry.views.patient_detail``) shows the registry's own facts, then every
registered panel in ascending ``order``, then the history. The registry imports no app above it: each upper app
registers its section in ``AppConfig.ready()`` with :func:`register_panel`, giving a function
``context_fn(request, patient)`` that returns the section's template variables and the template that shows them.
The section's template sees the whole page context (``patient``, ``perms``, ``show_identifiers`` …) with its own
variables added on top (``{% patient_panel panel %}``, registry/templatetags/panels.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

PanelContext = Callable[[Any, Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Panel:
    """One registered section: ``key`` names it, ``order`` places it, ``template`` renders it."""

    key: str
    order: int
    context_fn: PanelContext
    template: str


@dataclass(frozen=True)
class RenderedPanel:
    """A panel ready for one request: the template and the variables its ``context_fn`` returned."""

    key: str
    template: str
    context: Mapping[str, Any]


_PANELS: dict[str, Panel] = {}


def register_panel(key: str, order: int, context_fn: PanelContext, template: str) -> Panel:
    """Add a section to the patient page. Registering the same panel again (``ready()`` run twice) changes
    nothing; a second, different panel under a key already taken is a configuration error."""
    panel = Panel(key, order, context_fn, template)
    existing = _PANELS.get(key)
    if existing is not None and existing != panel:
        raise ImproperlyConfigured(f"patient panel {key!r} is already registered ({existing.template})")
    _PANELS[key] = panel
    return panel


def registered_panels() -> list[Panel]:
    """The registered panels in page order (``order``, then ``key``)."""
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.key))


def patient_panels(request: Any, patient: Any) -> list[RenderedPanel]:
    """Every registered panel with its variables for this request and patient, in page order."""
    return [RenderedPanel(p.key, p.template, dict(p.context_fn(request, patient))) for p in registered_panels()]

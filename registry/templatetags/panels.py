"""``{% load panels %}`` then ``{% patient_panel panel %}``: one registered section of the patient page.

The section's template (registry/panels.py) is rendered with the page's context plus the variables its app
returned for this request, as an ``{% include %}`` would, so it sees ``patient``, ``perms`` and the rest.
"""

from __future__ import annotations

from django import template

from registry.panels import RenderedPanel

register = template.Library()


@register.simple_tag(takes_context=True)
def patient_panel(context: template.Context, panel: RenderedPanel) -> str:
    section = context.template.engine.get_template(panel.template)
    with context.push(**panel.context):
        return section.render(context)

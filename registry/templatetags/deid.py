"""Dates and ages as the user may see them: calendar dates for identified users, study days for reviewers.

``{% load deid %}`` then

* ``{% when value patient %}`` (or ``{% when value patient "Y-m-d H:i" %}``): the date for identified users, for
  reviewers ``day N`` (day 1 = the patient's first implant; the year alone before any implant) with the legend as
  its title;
* ``{% age patient %}``: the exact age today for identified users, the 5-year band at implant for reviewers;
* ``{{ offset|studyday }}``: a "days since the implant" offset (implant = 0) in the study-day convention;
* ``{% day_legend %}``: the legend, for table headers.

``patient`` may also be an anchor date (or None when there is no implant).
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html

from registry import anchor, deidentify
from registry.roles import can_see_identifiers

register = template.Library()


def implant_anchor(patient) -> dt.date | None:
    """The patient's first implant procedure date (cached on the instance), None before any implant; the
    provider is registered by the dosimetry app (registry/anchor.py)."""
    return anchor.anchor_for(patient)


def _anchor(patient_or_date) -> dt.date | None:
    if patient_or_date is None or patient_or_date == "":
        return None
    if isinstance(patient_or_date, dt.date):
        return patient_or_date
    return implant_anchor(patient_or_date)


def local_day(value):
    """A datetime on the local calendar (aware → local zone); a date unchanged."""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def _identified(context) -> bool:
    user = context.get("user")
    if user is None and context.get("request") is not None:
        user = context["request"].user
    return user is not None and user.is_authenticated and can_see_identifiers(user)


def study_day_for(value, patient_or_date) -> str:
    """The reviewer's text for a date or datetime: "day N", or the year before any implant."""
    return deidentify.study_day_text(local_day(value), _anchor(patient_or_date))


@register.simple_tag(takes_context=True)
def when(context, value, patient=None, fmt: str = "", plain: bool = False):
    """A date for identified users (``fmt``: a date-filter format; default the site's date format, and
    "Y-m-d H:i" for a timestamp), "day N" for reviewers; ``plain=True`` without markup (titles, attributes)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, dt.date):
        return value
    if _identified(context):
        if not fmt and isinstance(value, dt.datetime):
            fmt = "Y-m-d H:i"
        return date_filter(local_day(value), fmt or None)
    text = study_day_for(value, patient)
    if plain:
        return text
    return format_html('<span class="study-day" title="{}">{}</span>', deidentify.LEGEND, text)


@register.simple_tag(takes_context=True)
def deid_text(context, text, patient=None):
    """A computed text (a rule's reason, a record's label) with its ISO dates as study days for reviewers."""
    if text is None:
        return ""
    text = str(text)
    if _identified(context):
        return text
    return deidentify.scrub_ages(deidentify.scrub_dates(text, _anchor(patient)))


@register.simple_tag(takes_context=True)
def age(context, patient):
    if _identified(context):
        return f"{patient.age_on(timezone.localdate())} y"
    return deidentify.age_band_text(patient.birth_date, implant_anchor(patient), patient.diagnosis_date)


@register.filter
def studyday(offset):
    if offset is None or offset == "":
        return ""
    return deidentify.day_from_offset(int(offset))


@register.simple_tag
def day_legend():
    return deidentify.LEGEND

"""Reads with site scoping. Every page, API view and report gets patients through here."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.http import Http404

from registry.models import IodineCourse, Patient, Site
from registry.roles import can_see_identifiers, is_data_manager


def sites_for(user) -> QuerySet[Site]:
    if is_data_manager(user):
        return Site.objects.all()
    return Site.objects.filter(memberships__user=user)


def patients_for(user) -> QuerySet[Patient]:
    return Patient.objects.visible_to(user)


def get_patient_for(user, pk: int) -> Patient:
    """The patient if the user's sites include it; 404 otherwise, so existence is not disclosed."""
    try:
        return patients_for(user).select_related("site", "rair").get(pk=pk)
    except (Patient.DoesNotExist, ValueError):
        raise Http404("No such patient") from None


def get_child_for(user, model, pk: int):
    """A lesion / course / assessment whose patient the user may see; 404 otherwise."""
    try:
        return model.objects.select_related("patient", "patient__site").get(
            pk=pk, patient__in=patients_for(user)
        )
    except (model.DoesNotExist, ValueError):
        raise Http404("Not found") from None


def patient_list(user, *, q: str = "", site: str = "", rair: str = "", eligibility: str = "") -> QuerySet[Patient]:
    """Patients the user may see, with the cumulative ¹³¹I activity, filtered as the list page asks."""
    gbq = (
        IodineCourse.objects.filter(patient=OuterRef("pk"))
        .values("patient")
        .annotate(total=Sum("activity_gbq"))
        .values("total")
    )
    qs = patients_for(user).select_related("site", "rair").annotate(cumulative_gbq=Subquery(gbq)).order_by("study_id")
    if q:
        term = Q(study_id__icontains=q)
        if can_see_identifiers(user):
            term |= Q(family_name__icontains=q) | Q(given_name__icontains=q) | Q(record_number__icontains=q)
        qs = qs.filter(term)
    if site:
        qs = qs.filter(site__code=site)
    if rair:
        qs = qs.filter(rair__status=rair)
    if eligibility:
        qs = qs.filter(eligibility_status=eligibility)
    return qs

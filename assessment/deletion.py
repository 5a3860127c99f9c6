"""What deleting a registry or dosimetry record means for follow-up data (registered in ``AssessmentConfig``).

A patient's visits (with their measurements, labs and scores) are deleted before the patient's implant procedures,
which they point to with PROTECT. A lesion measured at visits, or an implant that is day 0 of visits, is not
deleted on its own: the measurements are the source of the response categories already reported, and removing
them would silently rewrite those visits. The refusal names the visits; deleting the whole patient takes all.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from assessment.models import LabResult, Toxicity, Visit

SHOWN = 4  # visits named in a refusal, then "…"


def _visits_text(visits) -> str:
    named = [f"{v.get_timepoint_display()} {v.visit_date.isoformat()}" for v in visits[:SHOWN]]
    more = ", …" if len(visits) > SHOWN else ""
    return f"{len(visits)} visit{'s' if len(visits) != 1 else ''} ({', '.join(named)}{more})"


def patient_visits_first(patient) -> Iterable[QuerySet]:
    """Labs and toxicity scores first (their history rows keep the visit they belonged to, instead of the
    visit link being set to null on the way), then the visits with their measurements and new lesions."""

    return [LabResult.objects.filter(patient=patient), Toxicity.objects.filter(patient=patient),
            Visit.objects.filter(patient=patient).order_by("-visit_date", "-pk")]


def lesion_blockers(lesion) -> list[str]:

    visits = list(Visit.objects.filter(measurements__lesion=lesion).distinct().order_by("visit_date", "pk"))
    if not visits:
        return []
    return [f"it is measured at {_visits_text(visits)}; a lesion that carries response data stays (correct its "
            "details instead, or delete the whole patient record)"]


def procedure_blockers(procedure) -> list[str]:

    out = []
    visits = list(Visit.objects.filter(procedure=procedure).order_by("visit_date", "pk"))
    if visits:
        out.append(f"it is day 0 of {_visits_text(visits)}")
    n_tox = Toxicity.objects.filter(procedure=procedure).count()
    if n_tox:
        out.append(f"{n_tox} toxicity score{'s' if n_tox != 1 else ''} refer{'' if n_tox != 1 else 's'} to it")
    return out

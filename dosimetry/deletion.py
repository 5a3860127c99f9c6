"""What deleting a registry record means for dosimetry data (registered in ``DosimetryConfig``).

A lesion treated by an implant is not deleted on its own: the implant's list of treated lesions (and its dose
plans) would silently change. Deleting the patient takes the implants, their plans and DICOM files (removed from
storage once the deletion commits).
"""

from __future__ import annotations

from dosimetry.models import ImplantProcedure


def lesion_blockers(lesion) -> list[str]:

    dates = [p.date.isoformat() for p in ImplantProcedure.objects.filter(lesions=lesion).order_by("date", "pk")]
    if not dates:
        return []
    return [f"it is treated by the implant{'s' if len(dates) != 1 else ''} of {', '.join(dates)}"]

"""Protocol deviations of an implant (pure core, no Django).

Clinical reference §8.2 (eligibility; its RAIR criterion refers to §2.2, ATA 2015 RAIR-DTC): the protocol
implants patients whose work-up found them eligible and whose disease is radioiodine-refractory. An implant is a protocol deviation when, at the
implant date,

- no eligibility assessment is dated on or before it (``no_eligibility``; an assessment dated only after the
  implant does not count), or
- the latest assessment on or before it is not "eligible" (``not_eligible``: not eligible, incomplete), or
- the RAIR status is undetermined (``rair_undetermined``, also when nothing is recorded) or not refractory
  (``rair_not_refractory``). The registry keeps one RAIR classification per patient (its current status).

Messages name the values and give day counts relative to the implant, never calendar dates, so that the
de-identified (reviewer) view can show them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

ELIGIBILITY_LABELS = {
    "eligible": "eligible", "not_eligible": "not eligible", "incomplete": "incomplete",
    "not_assessed": "not assessed",
}
RAIR_LABELS = {"refractory": "RAI-refractory", "not_refractory": "not refractory", "undetermined": "undetermined"}


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def deviation_reasons(
    implant_date: dt.date, assessments: Sequence[tuple[dt.date, str]], rair_status: str | None
) -> list[dict[str, str]]:
    """The reasons an implant deviates from the protocol, ``[{"code", "message"}]`` (empty: none).

    ``assessments`` are (assessment date, eligibility status) of the patient's eligibility assessments in any
    order; ``rair_status`` is the patient's RAIR status (None when no classification is recorded).
    """
    out: list[dict[str, str]] = []
    before = [a for a in assessments if a[0] <= implant_date]
    if not before:
        after = sorted(d for d, _ in assessments if d > implant_date)
        later = f" (the first one is {_days((after[0] - implant_date).days)} after it)" if after else ""
        out.append({"code": "no_eligibility",
                    "message": f"No eligibility assessment on or before the implant{later}."})
    else:
        day, status = max(before, key=lambda a: a[0])
        if status != "eligible":
            gap = (implant_date - day).days
            when = "on the implant day" if gap == 0 else f"{_days(gap)} before the implant"
            out.append({"code": "not_eligible",
                        "message": f"The latest eligibility assessment before the implant ({when}) is "
                                   f"{ELIGIBILITY_LABELS.get(status, status)!r}, not 'eligible'."})
    status = rair_status or "undetermined"
    if status == "undetermined":
        recorded = "" if rair_status else " (no RAIR classification recorded)"
        out.append({"code": "rair_undetermined",
                    "message": f"RAIR status is undetermined{recorded}; the protocol implants RAI-refractory "
                               "disease."})
    elif status != "refractory":
        out.append({"code": "rair_not_refractory",
                    "message": f"RAIR status is {RAIR_LABELS.get(status, status)!r}, not 'RAI-refractory'."})
    return out

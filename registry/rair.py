"""Radioiodine-refractory (RAIR) classification of differentiated thyroid cancer, ATA 2015 (pure core).

Reference: ``clinical-rules.md`` §2.2 (rule set ``ATA2015``). The four ATA 2015 categories are recorded per
patient as present / absent / not recorded (``None``), each with optional evidence. Supplementary literature
criteria (cumulative ¹³¹I > 600 mCi = 22.2 GBq, FDG avidity, progression within 12 months) are reported as
*flags* and never decide on their own, unless the protocol opts in to the cumulative-activity criterion
(:attr:`RairSettings.accept_cumulative_activity_as_rair`).

Decision procedure::

    had_therapeutic_rai is False -> undetermined  (RAIR cannot be labelled without a therapeutic/ablative
                                                   ¹³¹I course; ATA 2025 Rec 59A, §10 pitfall 22)
    had_therapeutic_rai is None  -> undetermined  ("prior therapeutic RAI not recorded")
    any of RAIR-1..4 present     -> refractory    (every present criterion listed)
    protocol accepts cumulative activity and cumulative > threshold -> refractory (supplementary criterion)
    all four recorded absent     -> not_refractory
                                    (undetermined if the protocol accepts cumulative activity and it is unknown)
    otherwise                    -> undetermined  (the unrecorded criteria listed)

Consistency with the recorded ¹³¹I history (:func:`rair_consistency_warnings`)
-------------------------------------------------------------------------------
RAIR-1 means the metastatic tissue *never* concentrated radioiodine (§2.2: no uptake outside the thyroid bed on
the first therapeutic whole-body scan). A recorded ¹³¹I course whose post-therapy scan shows uptake in a
metastatic lesion contradicts it: the warning names the course date and the lesion(s), and suggests RAIR-2
(uptake lost after earlier iodine-avid disease) or RAIR-3 (uptake in some lesions, not others). It is a warning,
not a refusal: a physician may confirm RAIR-1 with a reason (e.g. the "uptake" was thyroid-bed remnant).

Design decisions
----------------
* The cumulative-activity threshold is strict: 22.2 GBq itself is *not* above 22.2 GBq (decimal comparison).
* A criterion missing from ``RairFacts.criteria`` is treated as not recorded; a duplicated criterion is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from common.errors import InputError
from registry.units import format_number

__all__ = [
    "RAIR1_UPTAKE_CODE",
    "RULE_SET",
    "STATUSES",
    "CourseUptake",
    "RairCriterion",
    "RairCriterionFact",
    "RairFacts",
    "RairInputError",
    "RairResult",
    "RairSettings",
    "classify_rair",
    "rair_consistency_warnings",
]

RULE_SET = "ATA2015"
STATUSES: tuple[str, ...] = ("refractory", "not_refractory", "undetermined")


class RairInputError(InputError):
    """Invalid RAIR input. Attributes: ``field``, ``value``, ``allowed``."""

    def __init__(self, field: str, value: object, allowed: str, message: str | None = None) -> None:
        super().__init__(message or f"{field} {value!r} is not allowed; allowed: {allowed}", field=field, value=value,
                         allowed=allowed)


class RairCriterion(StrEnum):
    """The four ATA 2015 RAIR-DTC categories (value = registry code, :attr:`label` = plain words)."""

    RAIR_1 = "RAIR-1"
    RAIR_2 = "RAIR-2"
    RAIR_3 = "RAIR-3"
    RAIR_4 = "RAIR-4"

    @property
    def label(self) -> str:
        """Plain-words description (paraphrase of §2.2)."""
        return _LABELS[self]


_LABELS: dict[RairCriterion, str] = {
    RairCriterion.RAIR_1: "metastatic tissue never took up radioiodine (no uptake outside the thyroid bed on the "
    "first post-therapy scan)",
    RairCriterion.RAIR_2: "tumour lost the ability to take up radioiodine after earlier iodine-avid disease",
    RairCriterion.RAIR_3: "radioiodine taken up by some lesions but not by others",
    RairCriterion.RAIR_4: "metastatic disease progressed despite significant radioiodine uptake",
}


@dataclass(frozen=True)
class RairCriterionFact:
    """One ATA category as recorded: ``present`` True / False / None (not recorded), with evidence."""

    criterion: RairCriterion
    present: bool | None
    evidence_date: date | None = None
    evidence: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.criterion, RairCriterion):
            try:
                object.__setattr__(self, "criterion", RairCriterion(self.criterion))
            except ValueError:
                raise RairInputError(
                    "criterion", self.criterion, ", ".join(c.value for c in RairCriterion)
                ) from None
        if self.present is not None and not isinstance(self.present, bool):
            raise RairInputError(f"{self.criterion.value}.present", self.present, "True, False or None")
        if self.evidence_date is not None and not isinstance(self.evidence_date, date):
            raise RairInputError(f"{self.criterion.value}.evidence_date", self.evidence_date, "a date or None")


@dataclass(frozen=True)
class RairFacts:
    """Everything the classification needs.

    ``cumulative_activity_gbq``: total administered ¹³¹I in GBq (see ``registry.iodine``); ``None`` = unknown.
    """

    criteria: tuple[RairCriterionFact, ...]
    had_therapeutic_rai: bool | None
    cumulative_activity_gbq: float | None
    fdg_avid: bool | None
    progression_within_12_months: bool | None = None

    def __post_init__(self) -> None:
        seen: set[RairCriterion] = set()
        for fact in self.criteria:
            if not isinstance(fact, RairCriterionFact):
                raise RairInputError("criteria", fact, "RairCriterionFact items")
            if fact.criterion in seen:
                raise RairInputError(
                    "criteria", fact.criterion.value, "each of RAIR-1..RAIR-4 at most once",
                    f"criteria: {fact.criterion.value} is recorded more than once",
                )
            seen.add(fact.criterion)
        for name in ("had_therapeutic_rai", "fdg_avid", "progression_within_12_months"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise RairInputError(name, value, "True, False or None")
        activity = self.cumulative_activity_gbq
        if activity is not None and (
            isinstance(activity, bool) or not isinstance(activity, int | float)
            or not math.isfinite(activity) or activity < 0
        ):
            raise RairInputError("cumulative_activity_gbq", activity, "a finite number of GBq ≥ 0, or None")


@dataclass(frozen=True)
class RairSettings:
    """Protocol settings. ``high_cumulative_activity_gbq`` = 22.2 GBq (600 mCi), compared with strict ">"."""

    high_cumulative_activity_gbq: float = 22.2
    accept_cumulative_activity_as_rair: bool = False

    def __post_init__(self) -> None:
        value = self.high_cumulative_activity_gbq
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise RairInputError("high_cumulative_activity_gbq", value, "a finite number of GBq > 0")
        if not isinstance(self.accept_cumulative_activity_as_rair, bool):
            raise RairInputError("accept_cumulative_activity_as_rair", self.accept_cumulative_activity_as_rair,
                                 "True or False")

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> RairSettings:
        """Build from the protocol's ``rair`` section (missing keys keep their default; an unknown key is
        refused naming it)."""
        known = ("high_cumulative_activity_gbq", "accept_cumulative_activity_as_rair")
        for key in values:
            if key not in known:
                raise RairInputError(str(key), values[key], f"a setting: {', '.join(known)}",
                                     f"Unknown RAIR setting {key!r}; known settings: {', '.join(known)}")
        return cls(**dict(values))


@dataclass(frozen=True)
class RairResult:
    """Classification result.

    ``status``: "refractory" | "not_refractory" | "undetermined". ``deciding``: plain-words reasons that decided
    it. ``flags``: supporting observations that did not decide it (or did, for the opted-in cumulative activity).
    ``present``/``unrecorded``: the ATA categories recorded present / not recorded.
    """

    status: str
    deciding: tuple[str, ...]
    flags: tuple[str, ...]
    present: tuple[RairCriterion, ...] = field(default=())
    unrecorded: tuple[RairCriterion, ...] = field(default=())
    rule_set: str = RULE_SET


def _describe(fact: RairCriterionFact) -> str:
    text = f"{fact.criterion.value}: {fact.criterion.label}"
    details = []
    if fact.evidence_date is not None:
        details.append(fact.evidence_date.isoformat())
    if fact.evidence.strip():
        details.append(fact.evidence.strip())
    if details:
        text += f" ({'; '.join(details)})"
    return text


def classify_rair(facts: RairFacts, settings: RairSettings = RairSettings()) -> RairResult:  # noqa: B008
    """Classify RAIR status by ATA 2015 (see the module docstring for the rules)."""
    by_criterion = {fact.criterion: fact for fact in facts.criteria}
    present = tuple(c for c in RairCriterion if c in by_criterion and by_criterion[c].present is True)
    unrecorded = tuple(c for c in RairCriterion if c not in by_criterion or by_criterion[c].present is None)

    threshold = settings.high_cumulative_activity_gbq
    activity = facts.cumulative_activity_gbq
    high_activity = activity is not None and Decimal(repr(float(activity))) > Decimal(repr(float(threshold)))
    activity_text = (
        f"cumulative ¹³¹I {format_number(activity)} GBq > {format_number(threshold)} GBq"
        if activity is not None else ""
    )

    flags: list[str] = []
    if high_activity:
        flags.append(activity_text)
    if facts.fdg_avid is True:
        flags.append("FDG-avid disease")
    if facts.progression_within_12_months is True:
        flags.append("progression within 12 months after ¹³¹I despite uptake")

    def result(status: str, deciding: list[str], extra_flags: list[str] | None = None) -> RairResult:
        return RairResult(
            status=status, deciding=tuple(deciding), flags=tuple(flags + (extra_flags or [])),
            present=present, unrecorded=unrecorded,
        )

    if facts.had_therapeutic_rai is not True:
        blocked = [f"{c.value} recorded present but not usable" for c in present]
        if facts.had_therapeutic_rai is False:
            return result(
                "undetermined",
                ["no therapeutic or ablative ¹³¹I ever given — RAIR cannot be assigned (ATA 2025 Rec 59A)"],
                blocked,
            )
        return result("undetermined", ["prior therapeutic RAI not recorded"], blocked)

    deciding = [_describe(by_criterion[c]) for c in present]
    supplementary = f"protocol supplementary criterion: {activity_text}"
    if settings.accept_cumulative_activity_as_rair and high_activity:
        deciding.append(supplementary)
    if deciding:
        return result("refractory", deciding)

    if not unrecorded:
        if settings.accept_cumulative_activity_as_rair and activity is None:
            return result(
                "undetermined",
                ["RAIR-1..RAIR-4 absent, but cumulative ¹³¹I activity (protocol supplementary criterion) not recorded"],
            )
        reasons = ["RAIR-1..RAIR-4 all recorded absent"]
        if settings.accept_cumulative_activity_as_rair and activity is not None:
            reasons.append(f"cumulative ¹³¹I {format_number(activity)} GBq not > {format_number(threshold)} GBq")
        return result("not_refractory", reasons)

    missing = ", ".join(c.value for c in unrecorded)
    return result("undetermined", [f"not recorded: {missing}"])


RAIR1_UPTAKE_CODE = "rair1_uptake_recorded"


@dataclass(frozen=True)
class CourseUptake:
    """Post-therapy scan result of one lesion after one ¹³¹I course: ``uptake`` "yes" / "no" / "unknown"."""

    course_date: date
    lesion: str  # label and site, e.g. "L1 (left level III node)"
    uptake: str

    def __post_init__(self) -> None:
        if not isinstance(self.course_date, date):
            raise RairInputError("course_date", self.course_date, "a date")
        if self.uptake not in ("yes", "no", "unknown"):
            raise RairInputError("uptake", self.uptake, "yes, no, unknown")


def rair_consistency_warnings(
    criteria: tuple[RairCriterionFact, ...] | list[RairCriterionFact], uptakes: list[CourseUptake] | tuple[CourseUptake, ...]
) -> list[dict[str, str]]:
    """Warnings for RAIR criteria that contradict the recorded ¹³¹I courses (see the module docstring).

    RAIR-1 recorded present while any course's post-therapy scan shows uptake ("yes") in a lesion → one warning
    ``rair1_uptake_recorded`` naming every such course date (earliest first) and its lesions. Unknown uptake
    does not contradict. Returns ``[]`` otherwise.
    """
    rair1 = next((f for f in criteria if f.criterion is RairCriterion.RAIR_1), None)
    if rair1 is None or rair1.present is not True:
        return []
    by_course: dict[date, list[str]] = {}
    for u in uptakes:
        if not isinstance(u, CourseUptake):
            raise RairInputError("uptakes", u, "CourseUptake items")
        if u.uptake == "yes":
            by_course.setdefault(u.course_date, [])
            if u.lesion not in by_course[u.course_date]:
                by_course[u.course_date].append(u.lesion)
    if not by_course:
        return []
    scans = "; ".join(f"the ¹³¹I course of {d.isoformat()} shows uptake in {', '.join(lesions)}"
                      for d, lesions in sorted(by_course.items()))
    return [{
        "code": RAIR1_UPTAKE_CODE,
        "message": (
            f"RAIR-1 (metastatic tissue never took up radioiodine) is recorded present, but the post-therapy scan "
            f"of {scans}. Record RAIR-2 (uptake lost after earlier iodine-avid disease) or RAIR-3 (uptake in some "
            "lesions but not others) instead, correct the uptake, or have a physician confirm RAIR-1."
        ),
    }]

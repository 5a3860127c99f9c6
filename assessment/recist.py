"""RECIST 1.1 tumour-response engine (pure core, no Django).

Implements ``/work/shared/reference/clinical-rules.md`` §1 (RECIST 1.1) with the conventions of §0:

* every threshold is evaluated with exact arithmetic (``fractions.Fraction``), in the cross-multiplied forms
  ``100·S ≤ (100 − pr_pct)·B`` (PR) and ``100·S ≥ (100 + pd_pct)·N and S − N ≥ pd_abs_mm`` (PD); boundaries are
  inclusive;
* sizes are millimetres: **short axis (SA) for lymph nodes, longest diameter (LD) otherwise**;
* study day = assessment date − implant date (day 0 = implant; the baseline day is ≤ 0);
* every derived result carries the rule-set stamp (``RECIST1.1``, or ``RECIST1.1-MODIFIED-PER-LESION`` for the
  non-RECIST lesion-level mode), a one-line ``reason`` and a tuple of review ``flags``.

Public API (all pure; bad input raises :class:`RecistError`, a ``ValueError``):

* :func:`evaluate` — lesions + dated assessments → :class:`RecistResult` (time points, BOR unconfirmed/confirmed,
  per-lesion block in ``per_lesion`` mode).
* :func:`validate_target_selection` — strict-RECIST checks of the baseline target selection (list of errors).
* :func:`overall_response` — RECIST Tables 1 and 2 (target × non-target × new lesions → overall).
* :func:`best_overall_response` — BOR from dated time-point responses (§1.9), confirmed or not.
* :func:`orr`, :func:`dcr` — objective-response / disease-control rates with numerator and denominator.

The JSON contract of the ``recist_evaluate`` command (input parsing, output building, ``ContractError``) lives in
:mod:`assessment.recist_contract`; this module keeps the rules.

Reappearance after CR (clinical reference §1.7, §1.9 row "CR | PR", §10.6, §11.13; RECIST 1.1 Table 3 footnote,
EORTC RECIST FAQ), applied to the visit categories so that they and both BORs always agree:

* after a **confirmed** overall CR (a CR confirmed by a later CR ≥ ``confirmation_min_days`` later), anything
  present again — a non-nodal target > 0 mm, a nodal target ≥ ``node_normal_mm`` SA, any non-target lesion — is
  **PD at that visit**, with a reason naming what came back and the CR dates; no reviewer decision;
* after an **unconfirmed** CR, ``RecistSettings.cr_then_pr`` decides: ``relabel_pr`` (default) stores the earlier
  CR visit(s) as PR (Non-CR/Non-PD for non-target disease only) with the reason "CR relabelled PR — …";
  ``cr_real`` makes the visit with disease present again PD. Both are flagged (``FLAG_REAPPEARANCE``,
  ``FLAG_CR_THEN_PR``);
* a nodal target recorded as disappeared without a short axis counts 0 mm; while it comes back below
  ``node_normal_mm`` SA it keeps counting 0 mm (a normal-size node is not a reappearance and cannot make PD by the
  sum); at ≥ ``node_normal_mm`` it counts its real SA again. [DESIGN DECISION]

:data:`RULES_VERSION` is bumped whenever outputs change for the same input (``RULE_SET`` stays "RECIST1.1").

Reviewer decisions are never taken silently: a reappearance after an unconfirmed CR, an equivocal new lesion and
ultrasound measurements are reported as ``flags`` (see the ``FLAG_*`` constants; each flag string starts with one
of them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from common.errors import InputError

RULE_SET = "RECIST1.1"
RULE_SET_PER_LESION = "RECIST1.1-MODIFIED-PER-LESION"
# Version of these rules within the rule set; bumped when outputs change for the same input.
# 2: reappearance after a confirmed CR is PD; cr_then_pr decides visit categories and BORs alike (default
#    relabel_pr); a node counted 0 mm after disappearing keeps 0 mm while it stays below 10 mm SA.
RULES_VERSION = "2"

FLAG_REAPPEARANCE = "reappearance after CR — reviewer decision"
FLAG_CR_THEN_PR = "CR followed by PR — reviewer decision"
FLAG_EQUIVOCAL_NEW_LESION = "equivocal new lesion — re-image"
FLAG_NEW_LESION_AFTER_EQUIVOCAL = "unequivocal new lesion after an equivocal one — reviewer decision"
FLAG_ULTRASOUND = "ultrasound measurement ignored"
FLAG_NODE_DISAPPEARED_WITHOUT_SA = "nodal target marked disappeared without its short axis"
FLAG_AFTER_NEW_THERAPY = "after new anticancer therapy — excluded from BOR"
FLAG_BASELINE_TIMING = "baseline imaging more than the allowed interval before implant"
FLAG_OUTSIDE_STRICT_SELECTION = "target outside strict RECIST selection rules (allowed in per-lesion mode)"


class RecistError(InputError):
    """Invalid RECIST input. The message names the field, the value and what is allowed (one line)."""


class Role(StrEnum):
    TARGET = "target"
    NON_TARGET = "non-target"


class MeasurementKind(StrEnum):
    MEASURED = "measured"  # a number in mm (SA for nodes, LD otherwise)
    TOO_SMALL = "too_small"  # present but too small to measure → too_small_mm (5 mm) unless a number is given
    DISAPPEARED = "disappeared"  # non-nodal → 0 mm; nodal → record the real SA (< 10 mm)
    NOT_ASSESSED = "not_assessed"  # not imaged / unreadable → missing
    NOT_EVALUABLE_ARTEFACT = (
        "not_evaluable_artefact"  # seed streak artefact, radiologist cannot measure → missing
    )


class Modality(StrEnum):
    CT = "ct"
    MRI = "mri"
    CLINICAL = "clinical"  # caliper
    XRAY = "xray"
    ULTRASOUND = "ultrasound"  # never drives RECIST (§1.2, §1.11.8)


class NonTargetStatus(StrEnum):
    ABSENT = "absent"  # disappeared (a node: SA < 10 mm)
    PRESENT = "present"
    PROGRESSION = "progression"  # unequivocal progression
    NOT_EVALUATED = "not_evaluated"


class NewLesions(StrEnum):
    NO = "no"
    EQUIVOCAL = "equivocal"
    YES = "yes"  # unequivocal


class Response(StrEnum):
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"
    NON_CR_NON_PD = "NON_CR_NON_PD"
    NA = "NA"  # the patient has no lesions of that kind (target / non-target)


class Mode(StrEnum):
    STRICT = "strict"  # patient-level RECIST 1.1
    PER_LESION = "per_lesion"  # "modified RECIST": every target assessed on its own diameter (non-RECIST)


class CrThenPr(StrEnum):
    """Disease present again after an *unconfirmed* CR (§1.9 row "CR | PR", RECIST Table 3 footnote, §11.13).

    Decides the visit categories and both BORs alike; after a *confirmed* CR a reappearance is always PD.
    """

    CR_REAL = "cr_real"  # the CR was real → the visit with disease present again is PD
    RELABEL_PR = "relabel_pr"  # the CR was not complete → the earlier CR visits are relabelled PR (default)


# --------------------------------------------------------------------------------------------- exact numbers


def _exact(value: Any, name: str, *, allowed: str = "a finite number") -> Fraction:
    """Convert int / Fraction / Decimal / finite float to an exact Fraction (floats via their shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction | Decimal):
        raise RecistError(f"{name}: {value!r} is not a number (allowed: {allowed})")
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise RecistError(f"{name}: {value!r} is not finite (allowed: {allowed})")
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def _round_half_away(x: Fraction, decimals: int = 1) -> Fraction:
    scale = 10**decimals
    q = abs(x) * scale
    n = math.floor(q + Fraction(1, 2))
    return Fraction(n if x >= 0 else -n, scale)


def _fmt_mm(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    d = (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{d.normalize():f}"


def _fmt_signed_mm(x: Fraction) -> str:
    return ("+" if x >= 0 else "−") + _fmt_mm(abs(x))


def _fmt_pct(x: Fraction) -> str:
    r = _round_half_away(x, 1)
    d = (Decimal(abs(r.numerator)) / Decimal(r.denominator)).quantize(Decimal("0.1"))
    sign = "" if r == 0 else ("+" if r > 0 else "−")
    return f"{sign}{d}%"


def _pct_change(current: Fraction, reference: Fraction) -> Fraction | None:
    """Exact % change of ``current`` vs ``reference``; None when the reference is 0."""
    if reference == 0:
        return None
    return (current - reference) * 100 / reference


# ----------------------------------------------------------------------------------------------- settings

_EXACT_SETTINGS = (
    "pd_pct",
    "pd_abs_mm",
    "pr_pct",
    "too_small_mm",
    "node_normal_mm",
    "node_measurable_mm",
    "non_nodal_measurable_mm",
)
_INT_SETTINGS = (
    "max_targets",
    "max_targets_per_organ",
    "sd_min_days",
    "confirmation_min_days",
    "max_ne_between_confirmation",
    "baseline_max_days_before_implant",
)


@dataclass(frozen=True)
class RecistSettings:
    """Protocol thresholds (defaults = RECIST 1.1 / reference §1). Numeric thresholds are stored as Fraction.

    * ``pd_pct`` (%, vs nadir), ``pd_abs_mm`` (mm), ``pr_pct`` (%, vs baseline);
    * ``too_small_mm`` — value used for "too small to measure" when no number is given;
    * ``node_normal_mm`` — a node with SA below this is normal (CR); ``node_measurable_mm`` /
      ``non_nodal_measurable_mm`` — strict baseline measurability of targets (SA / LD);
    * ``max_targets`` / ``max_targets_per_organ`` — strict selection limits (all lymph nodes = one organ);
    * ``sd_min_days`` — [DESIGN DECISION] SD counts for BOR only at study day ≥ this (day 0 = implant);
    * ``confirmation_min_days`` — CR/PR confirmed by a CR/PR at least this many days later;
    * ``max_ne_between_confirmation`` — NE assessments allowed between a response and its confirmation;
    * ``mode`` — ``strict`` or ``per_lesion`` ("modified RECIST", §1.3 / §11.6);
    * ``cr_then_pr`` — disease present again after an *unconfirmed* CR, for the visit categories and both BORs
      alike: ``relabel_pr`` (default: the earlier CR visits become PR) or ``cr_real`` (that visit is PD); after a
      *confirmed* CR a reappearance is always PD (§1.7, §11.13);
    * ``require_tg_normalisation`` — [DESIGN DECISION] default False: Tg is not used for RECIST CR; when True
      and Tg was above normal at baseline (``Assessment.tg_normal is False`` at baseline), non-target CR also
      needs ``tg_normal is True`` (False → NON_CR_NON_PD, unknown → NE);
    * ``baseline_max_days_before_implant`` — older baselines get a flag (RECIST: ≤ 4 weeks).
    """

    pd_pct: Fraction | int = 20
    pd_abs_mm: Fraction | int = 5
    pr_pct: Fraction | int = 30
    too_small_mm: Fraction | int = 5
    node_normal_mm: Fraction | int = 10
    node_measurable_mm: Fraction | int = 15
    non_nodal_measurable_mm: Fraction | int = 10
    max_targets: int = 5
    max_targets_per_organ: int = 2
    sd_min_days: int = 42
    confirmation_min_days: int = 28
    max_ne_between_confirmation: int = 1
    mode: Mode = Mode.STRICT
    cr_then_pr: CrThenPr = CrThenPr.RELABEL_PR
    require_tg_normalisation: bool = False
    baseline_max_days_before_implant: int = 28

    def __post_init__(self) -> None:
        for name in _EXACT_SETTINGS:
            value = _exact(getattr(self, name), f"settings.{name}", allowed="a number ≥ 0")
            if value < 0:
                raise RecistError(
                    f"settings.{name}: {getattr(self, name)!r} is negative (allowed: a number ≥ 0)"
                )
            object.__setattr__(self, name, value)
        if not 0 < self.pr_pct < 100:
            raise RecistError(f"settings.pr_pct: {self.pr_pct} is not allowed (allowed: 0 < pr_pct < 100)")
        for name in _INT_SETTINGS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RecistError(f"settings.{name}: {value!r} is not allowed (allowed: an integer ≥ 0)")
        for name, enum in (("mode", Mode), ("cr_then_pr", CrThenPr)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                allowed = ", ".join(repr(m.value) for m in enum)
                raise RecistError(f"settings.{name}: {value!r} is not allowed (allowed: {allowed})") from None
        if not isinstance(self.require_tg_normalisation, bool):
            raise RecistError(
                f"settings.require_tg_normalisation: {self.require_tg_normalisation!r} is not allowed "
                "(allowed: true or false)"
            )

    @classmethod
    def from_protocol(cls, values: Mapping[str, Any]) -> RecistSettings:
        """Build from the protocol's ``recist`` section (keys = field names; missing keys keep the RECIST 1.1
        default). An unknown key is refused naming it, as a misspelt key must not fall back to the default."""
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise RecistError(f"settings.{key}: {values[key]!r} is not a setting (allowed: {', '.join(known)})")
        return cls(**dict(values))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy (Fractions → int/float, enums → their value)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Fraction):
                value = number_out(value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        return out


# ------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Lesion:
    """A lesion followed under RECIST. ``nodal`` lesions are measured in short axis; all nodes are one organ."""

    lesion_id: str
    organ: str
    nodal: bool
    role: Role
    previously_irradiated: bool = False
    progressed_after_irradiation: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.lesion_id, str) or not self.lesion_id.strip():
            raise RecistError(f"lesion.id: {self.lesion_id!r} is not allowed (allowed: a non-empty string)")
        if not isinstance(self.organ, str) or not self.organ.strip():
            raise RecistError(
                f"{self.lesion_id}.organ: {self.organ!r} is not allowed (allowed: a non-empty string)"
            )
        for name in ("nodal", "previously_irradiated", "progressed_after_irradiation"):
            if not isinstance(getattr(self, name), bool):
                raise RecistError(
                    f"{self.lesion_id}.{name}: {getattr(self, name)!r} is not allowed (allowed: true or false)"
                )
        try:
            object.__setattr__(self, "role", Role(self.role))
        except ValueError:
            raise RecistError(
                f"{self.lesion_id}.role: {self.role!r} is not allowed (allowed: 'target', 'non-target')"
            ) from None

    @property
    def organ_group(self) -> str:
        """Organ used for the per-organ limit: every lymph node counts as the single organ "lymph node"."""
        return "lymph node" if self.nodal else self.organ.strip().lower()


@dataclass(frozen=True)
class Measurement:
    """One target-lesion observation. ``value_mm`` is SA for nodes, LD otherwise (exact Fraction).

    Use the constructors: :meth:`mm`, :meth:`too_small`, :meth:`disappeared`, :meth:`not_assessed`,
    :meth:`artefact`. An ``ULTRASOUND`` modality makes the measurement unusable for RECIST (treated as missing).
    """

    kind: MeasurementKind
    value_mm: Fraction | None = None
    modality: Modality = Modality.CT

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", MeasurementKind(self.kind))
            object.__setattr__(self, "modality", Modality(self.modality))
        except ValueError as exc:
            raise RecistError(f"measurement: {exc}") from None
        if self.value_mm is not None:
            value = _exact(self.value_mm, "measurement.value_mm", allowed="a size ≥ 0 mm")
            if value < 0:
                raise RecistError(
                    f"measurement.value_mm: {_fmt_mm(value)} is negative (allowed: a size ≥ 0 mm)"
                )
            object.__setattr__(self, "value_mm", value)
        if self.kind is MeasurementKind.MEASURED and self.value_mm is None:
            raise RecistError(
                "measurement.value_mm: None is not allowed for a measured lesion (give the size in mm)"
            )
        if self.kind in (MeasurementKind.NOT_ASSESSED, MeasurementKind.NOT_EVALUABLE_ARTEFACT) and (
            self.value_mm is not None
        ):
            raise RecistError(
                f"measurement.value_mm: {self.kind.value} lesions carry no size, got {self.value_mm}"
            )

    @classmethod
    def mm(cls, value_mm: int | Fraction | Decimal | float, modality: Modality = Modality.CT) -> Measurement:
        return cls(MeasurementKind.MEASURED, _exact(value_mm, "measurement.value_mm"), modality)

    @classmethod
    def too_small(cls, value_mm: int | Fraction | Decimal | float | None = None) -> Measurement:
        return cls(
            MeasurementKind.TOO_SMALL, None if value_mm is None else _exact(value_mm, "measurement.value_mm")
        )

    @classmethod
    def disappeared(cls, short_axis_mm: int | Fraction | Decimal | float | None = None) -> Measurement:
        value = None if short_axis_mm is None else _exact(short_axis_mm, "measurement.short_axis_mm")
        return cls(MeasurementKind.DISAPPEARED, value)

    @classmethod
    def not_assessed(cls) -> Measurement:
        return cls(MeasurementKind.NOT_ASSESSED)

    @classmethod
    def artefact(cls) -> Measurement:
        return cls(MeasurementKind.NOT_EVALUABLE_ARTEFACT)


@dataclass(frozen=True)
class Assessment:
    """One imaging time point. The first assessment given to :func:`evaluate` is the baseline.

    ``target`` maps target-lesion id → :class:`Measurement` (missing id = not assessed); ``non_target`` maps
    non-target id → :class:`NonTargetStatus` (missing id = not evaluated); ``tg_normal`` is only used when
    ``RecistSettings.require_tg_normalisation`` is on.
    """

    assessment_date: date
    target: Mapping[str, Measurement] = field(default_factory=dict)
    non_target: Mapping[str, NonTargetStatus] = field(default_factory=dict)
    new_lesions: NewLesions = NewLesions.NO
    tg_normal: bool | None = None


@dataclass(frozen=True)
class BorPoint:
    """A dated time-point response, the input of :func:`best_overall_response`. ``day`` = date − implant."""

    assessment_date: date
    day: int
    response: Response


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class TimePoint:
    """Patient-level result at one assessment (baseline: categories None, nadir None).

    ``sum_mm`` is the full sum (None if a target was not assessed; ``assessed_sum_mm`` then holds the partial
    sum). Percentages are exact Fractions (rounded only in :func:`evaluate_contract`); ``change_from_nadir_pct``
    is None when the nadir is 0. ``nadir_mm`` is the nadir *used* at this visit.
    """

    assessment_date: date
    day: int
    is_baseline: bool
    sum_mm: Fraction | None
    assessed_sum_mm: Fraction | None
    change_from_baseline_pct: Fraction | None
    nadir_mm: Fraction | None
    change_from_nadir_pct: Fraction | None
    target: Response | None
    non_target: Response | None
    new_lesions: NewLesions | None
    overall: Response | None
    reason: str
    target_reason: str | None
    flags: tuple[str, ...]
    counts_for_bor: bool


@dataclass(frozen=True)
class BestResponse:
    """Best overall response with its reason; ``assessment_date`` is the time point that decided it."""

    response: Response
    reason: str
    assessment_date: date | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LesionTimePoint:
    """Per-lesion ("modified RECIST") result at one assessment; ``size_mm`` None = not assessed."""

    assessment_date: date
    day: int
    is_baseline: bool
    size_mm: Fraction | None
    change_from_baseline_pct: Fraction | None
    nadir_mm: Fraction | None
    change_from_nadir_pct: Fraction | None
    response: Response | None
    reason: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class LesionResult:
    lesion_id: str
    timepoints: tuple[LesionTimePoint, ...]
    bor_unconfirmed: BestResponse
    bor_confirmed: BestResponse


@dataclass(frozen=True)
class RecistResult:
    """Everything :func:`evaluate` derives. ``measurable_disease`` False = non-target disease only (Table 2);
    such patients are not evaluable for ORR when the protocol requires measurable disease (§1.3, §1.11.3)."""

    rule_set: str
    settings: RecistSettings
    implant_date: date
    new_therapy_date: date | None
    timepoints: tuple[TimePoint, ...]
    bor_unconfirmed: BestResponse
    bor_confirmed: BestResponse
    measurable_disease: bool
    per_lesion: tuple[LesionResult, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rate:
    """A proportion with its numerator and denominator (``proportion`` None when the denominator is 0)."""

    numerator: int
    denominator: int

    @property
    def proportion(self) -> Fraction | None:
        return None if self.denominator == 0 else Fraction(self.numerator, self.denominator)

    def percent(self, decimals: int = 2) -> float | None:
        """Percentage rounded half away from zero (e.g. 25/42 → 59.52)."""
        p = self.proportion
        return None if p is None else float(_round_half_away(p * 100, decimals))


# ------------------------------------------------------------------------------------ selection validation


def validate_target_selection(
    lesions: Sequence[Lesion], baseline: Assessment, settings: RecistSettings | None = None
) -> tuple[str, ...]:
    """Check the baseline target selection against strict RECIST 1.1 (§1.2, §1.3).

    Returns one message per violation (empty tuple = valid), each naming the lesion and the rule: ≤ ``max_targets``
    targets, ≤ ``max_targets_per_organ`` per organ (all lymph nodes are one organ), nodal targets SA ≥
    ``node_measurable_mm``, non-nodal targets LD ≥ ``non_nodal_measurable_mm``, no target in a previously
    irradiated area unless it progressed. Sizes come from ``baseline.target``.
    """
    s = settings or RecistSettings()
    errors: list[str] = []
    targets = [lesion for lesion in lesions if lesion.role is Role.TARGET]
    if len(targets) > s.max_targets:
        extra = ", ".join(t.lesion_id for t in targets[s.max_targets :])
        errors.append(
            f"{extra}: strict RECIST allows at most {s.max_targets} target lesions, got {len(targets)}"
        )
    by_organ: dict[str, list[str]] = {}
    for t in targets:
        by_organ.setdefault(t.organ_group, []).append(t.lesion_id)
    for organ, ids in by_organ.items():
        if len(ids) > s.max_targets_per_organ:
            extra = ", ".join(ids[s.max_targets_per_organ :])
            note = " (all lymph nodes count as one organ)" if organ == "lymph node" else ""
            errors.append(
                f"{extra}: strict RECIST allows at most {s.max_targets_per_organ} targets per organ{note}; "
                f"organ '{organ}' has {len(ids)} ({', '.join(ids)})"
            )
    for t in targets:
        m = baseline.target.get(t.lesion_id)
        value = m.value_mm if m is not None else None
        if value is not None:
            if t.nodal and value < s.node_measurable_mm:
                errors.append(
                    f"{t.lesion_id}: nodal target short axis {_fmt_mm(value)} mm is below "
                    f"{_fmt_mm(Fraction(s.node_measurable_mm))} mm (nodes 10–<15 mm SA are non-target only)"
                )
            if not t.nodal and value < s.non_nodal_measurable_mm:
                errors.append(
                    f"{t.lesion_id}: non-nodal target longest diameter {_fmt_mm(value)} mm is below "
                    f"{_fmt_mm(Fraction(s.non_nodal_measurable_mm))} mm (not measurable)"
                )
        if t.previously_irradiated and not t.progressed_after_irradiation:
            errors.append(
                f"{t.lesion_id}: a lesion in a previously irradiated area is not measurable unless it has "
                "progressed (set progressed_after_irradiation)"
            )
    return tuple(errors)


# --------------------------------------------------------------------------------- time-point components


def _target_values(
    targets: Sequence[Lesion],
    assessment: Assessment,
    settings: RecistSettings,
    where: str,
    zeroed: set[str] | None = None,
    notes: list[str] | None = None,
) -> tuple[dict[str, Fraction | None], dict[str, str], list[str]]:
    """Resolve each target's value in mm (None = missing) with a phrase for missing ones, plus flags.

    ``zeroed`` (updated in place) holds the nodal targets last counted 0 mm because they were recorded as
    disappeared without a short axis: while such a node stays below ``node_normal_mm`` SA it keeps counting 0 mm
    (its return at a normal size is not a reappearance and cannot make PD by the sum); at ≥ ``node_normal_mm`` it
    counts its real SA again. ``notes`` (appended in place) gets one phrase per node so counted.
    """
    values: dict[str, Fraction | None] = {}
    missing: dict[str, str] = {}
    flags: list[str] = []
    zeroed = set() if zeroed is None else zeroed
    for lesion in targets:
        lid = lesion.lesion_id
        m = assessment.target.get(lid)
        if m is None or m.kind is MeasurementKind.NOT_ASSESSED:
            values[lid] = None
            missing[lid] = f"{lid} not assessed"
            continue
        if m.kind is MeasurementKind.NOT_EVALUABLE_ARTEFACT:
            values[lid] = None
            missing[lid] = f"{lid} not evaluable (seed artefact)"
            continue
        if m.modality is Modality.ULTRASOUND:
            values[lid] = None
            missing[lid] = f"{lid} measured by ultrasound only"
            flags.append(f"{FLAG_ULTRASOUND}: {lid} (RECIST forbids ultrasound measurement)")
            continue
        if m.kind is MeasurementKind.MEASURED:
            values[lid] = m.value_mm
        elif m.kind is MeasurementKind.TOO_SMALL:
            values[lid] = m.value_mm if m.value_mm is not None else Fraction(settings.too_small_mm)
        else:  # DISAPPEARED
            if not lesion.nodal:
                if m.value_mm not in (None, 0):
                    raise RecistError(
                        f"{where}.target.{lid}: a disappeared non-nodal lesion is 0 mm, got {_fmt_mm(m.value_mm)} mm"
                    )
                values[lid] = Fraction(0)
            elif m.value_mm is None:
                values[lid] = Fraction(0)
                flags.append(
                    f"{FLAG_NODE_DISAPPEARED_WITHOUT_SA}: {lid} counted as 0 mm — record the real short axis "
                    f"(a later short axis below {_fmt_mm(Fraction(settings.node_normal_mm))} mm also counts 0 mm)"
                )
            else:
                if m.value_mm >= settings.node_normal_mm:
                    raise RecistError(
                        f"{where}.target.{lid}: a disappeared node must have SA < "
                        f"{_fmt_mm(Fraction(settings.node_normal_mm))} mm, got {_fmt_mm(m.value_mm)} mm"
                    )
                values[lid] = m.value_mm
        if not lesion.nodal:
            continue
        value = values[lid]
        if m.kind is MeasurementKind.DISAPPEARED and m.value_mm is None:
            zeroed.add(lid)
        elif value is not None and lid in zeroed:
            if value < settings.node_normal_mm:
                if notes is not None:
                    notes.append(
                        f"{lid} back at {_fmt_mm(value)} mm SA after disappearing counts 0 mm (a normal-size node "
                        f"< {_fmt_mm(Fraction(settings.node_normal_mm))} mm is not a reappearance)"
                    )
                values[lid] = Fraction(0)
            else:
                zeroed.discard(lid)
    return values, missing, flags


def _is_pd(current: Fraction, nadir: Fraction, s: RecistSettings) -> bool:
    return current * 100 >= nadir * (100 + s.pd_pct) and current - nadir >= s.pd_abs_mm


def _is_pr(current: Fraction, baseline: Fraction, s: RecistSettings) -> bool:
    return current * 100 <= baseline * (100 - s.pr_pct)


def _lesion_absent(lesion: Lesion, value: Fraction, s: RecistSettings) -> bool:
    return value < s.node_normal_mm if lesion.nodal else value == 0


def _target_response(
    targets: Sequence[Lesion],
    values: Mapping[str, Fraction | None],
    missing: Mapping[str, str],
    baseline_sum: Fraction,
    nadir: Fraction,
    s: RecistSettings,
    *,
    noun: str = "sum",
) -> tuple[Response, str, Fraction | None, Fraction]:
    """§1.5 ordered pseudo-spec. Returns (response, detail without category, full sum or None, assessed sum)."""
    assessed = sum((v for v in values.values() if v is not None), Fraction(0))
    pd_pct = _fmt_mm(Fraction(100 + s.pd_pct))
    single = len(targets) == 1
    if missing:
        what = ", ".join(missing.values())
        if _is_pd(assessed, nadir, s):
            detail = (
                f"assessed targets alone {noun} {_fmt_mm(assessed)} mm ≥ {pd_pct}% of nadir {_fmt_mm(nadir)} mm "
                f"and {_fmt_signed_mm(assessed - nadir)} mm ({what}; missing values can only add)"
            )
            return Response.PD, detail, None, assessed
        if single:
            return Response.NE, what, None, assessed
        return Response.NE, f"{what} and the assessed lesions do not prove PD", None, assessed
    total = assessed
    if _is_pd(total, nadir, s):
        detail = f"{noun} {_fmt_mm(total)} mm ≥ {pd_pct}% of nadir {_fmt_mm(nadir)} mm and {_fmt_signed_mm(total - nadir)} mm"
        return Response.PD, detail, total, assessed
    if all(_lesion_absent(t, values[t.lesion_id] or Fraction(0), s) for t in targets):
        normal = _fmt_mm(Fraction(s.node_normal_mm))
        if single:
            t = targets[0]
            if t.nodal:
                detail = f"{t.lesion_id} {_fmt_mm(total)} mm SA < {normal} mm (nodal CR does not need 0 mm)"
            else:
                detail = f"{t.lesion_id} disappeared (0 mm)"
        elif any(t.nodal for t in targets):
            parts = []
            if any(not t.nodal for t in targets):
                parts.append("every non-nodal target 0 mm")
            parts.append(f"every nodal target < {normal} mm SA")
            detail = " and ".join(parts) + f" ({noun} {_fmt_mm(total)} mm; nodal CR does not need 0 mm)"
        else:
            detail = f"every target disappeared ({noun} {_fmt_mm(total)} mm)"
        return Response.CR, detail, total, assessed
    change_bl = _pct_change(total, baseline_sum)
    change_bl_txt = _fmt_pct(change_bl) if change_bl is not None else "n/a"
    if _is_pr(total, baseline_sum, s):
        detail = (
            f"{noun} {_fmt_mm(total)} mm is {change_bl_txt} from baseline {_fmt_mm(baseline_sum)} mm "
            f"(≤ −{_fmt_mm(Fraction(s.pr_pct))}%)"
        )
        return Response.PR, detail, total, assessed
    change_n = _pct_change(total, nadir)
    vs_nadir = (
        f"{_fmt_pct(change_n)} / " if change_n is not None else ""
    ) + f"{_fmt_signed_mm(total - nadir)} mm"
    detail = (
        f"{noun} {_fmt_mm(total)} mm is {change_bl_txt} from baseline {_fmt_mm(baseline_sum)} mm "
        f"(PR needs ≤ −{_fmt_mm(Fraction(s.pr_pct))}%) and {vs_nadir} from nadir {_fmt_mm(nadir)} mm "
        f"(PD needs ≥ +{_fmt_mm(Fraction(s.pd_pct))}% and ≥ +{_fmt_mm(Fraction(s.pd_abs_mm))} mm)"
    )
    return Response.SD, detail, total, assessed


def _non_target_response(
    non_targets: Sequence[Lesion], assessment: Assessment, marker_required: bool
) -> tuple[Response, str]:
    """§1.6: PD > NE > CR / NON_CR_NON_PD; NA without non-target lesions. Optional Tg condition for CR."""
    statuses = {
        n.lesion_id: assessment.non_target.get(n.lesion_id, NonTargetStatus.NOT_EVALUATED)
        for n in non_targets
    }
    progressed = [lid for lid, st in statuses.items() if st is NonTargetStatus.PROGRESSION]
    not_evaluated = [lid for lid, st in statuses.items() if st is NonTargetStatus.NOT_EVALUATED]
    present = [lid for lid, st in statuses.items() if st is NonTargetStatus.PRESENT]
    if progressed:
        return Response.PD, f"unequivocal progression of non-target {', '.join(progressed)}"
    if not_evaluated:
        return Response.NE, f"non-target {', '.join(not_evaluated)} not evaluated"
    if present:
        return Response.NON_CR_NON_PD, f"non-target {', '.join(present)} present"
    response, detail = (
        (Response.CR, "all non-target lesions absent") if statuses else (Response.NA, "no non-target lesions")
    )
    if marker_required:
        if assessment.tg_normal is False:
            return Response.NON_CR_NON_PD, f"{detail} but Tg still above normal"
        if assessment.tg_normal is None:
            return Response.NE, f"{detail} but Tg normalisation not documented"
    return response, detail


def _combine(
    target: Response, t_detail: str, non_target: Response, nt_detail: str, new_lesions: NewLesions
) -> tuple[Response, str]:
    """RECIST Table 1 (target disease) / Table 2 (non-target only, ``target`` = NA)."""
    causes = []
    if target is Response.PD:
        causes.append(t_detail)
    if non_target is Response.PD:
        causes.append(nt_detail)
    if new_lesions is NewLesions.YES:
        causes.append("unequivocal new lesion")
    if causes:
        return Response.PD, "PD: " + "; ".join(causes)
    if target is Response.NA:
        if non_target is Response.NA:
            raise RecistError("lesions: no target and no non-target lesions (allowed: at least one lesion)")
        if non_target is Response.NE:
            return Response.NE, f"NE: {nt_detail}"
        return (
            non_target,
            f"{non_target.value}: {nt_detail}; no new lesion (non-target disease only, Table 2)",
        )
    if target is Response.NE:
        return Response.NE, f"NE: {t_detail}"
    if target is Response.CR:
        if non_target in (Response.CR, Response.NA):
            return Response.CR, f"CR: {t_detail}; {nt_detail}; no new lesion"
        if non_target is Response.NON_CR_NON_PD:
            return (
                Response.PR,
                f"PR: targets CR ({t_detail}) but {nt_detail} (Table 1: CR + non-CR/non-PD → PR)",
            )
        return Response.PR, f"PR: targets CR ({t_detail}) but {nt_detail} (Table 1: CR + not evaluated → PR)"
    if target in (Response.PR, Response.SD):
        return target, f"{target.value}: {t_detail}"
    raise RecistError(f"target: {target!r} is not a target response (allowed: CR, PR, SD, PD, NE, NA)")


def overall_response(
    target: Response | str, non_target: Response | str, new_lesions: NewLesions | str | bool
) -> tuple[Response, str]:
    """Overall time-point response from RECIST Table 1 / Table 2 (§1.8), with a one-line reason.

    ``target`` = ``NA`` selects Table 2 (non-target disease only); ``non_target`` = ``NA`` means no non-target
    lesions at baseline (treated as CR when combined with target CR). ``new_lesions``: NewLesions or bool.
    """
    t = Response(target)
    nt = Response(non_target)
    if isinstance(new_lesions, bool):
        new = NewLesions.YES if new_lesions else NewLesions.NO
    else:
        new = NewLesions(new_lesions)
    if t not in (Response.CR, Response.PR, Response.SD, Response.PD, Response.NE, Response.NA):
        raise RecistError(f"target: {t.value!r} is not allowed (allowed: CR, PR, SD, PD, NE, NA)")
    if nt not in (Response.CR, Response.NON_CR_NON_PD, Response.PD, Response.NE, Response.NA):
        raise RecistError(f"non_target: {nt.value!r} is not allowed (allowed: CR, NON_CR_NON_PD, PD, NE, NA)")
    nt_text = {
        Response.CR: "non-target CR",
        Response.NON_CR_NON_PD: "non-target non-CR/non-PD",
        Response.PD: "non-target unequivocal progression",
        Response.NE: "non-target not evaluated",
        Response.NA: "no non-target lesions",
    }[nt]
    return _combine(t, f"target {t.value}", nt, nt_text, new)


# ---------------------------------------------------------------------------------------------------- BOR


_RESPONSE_LIKE = (Response.CR, Response.PR, Response.SD, Response.NON_CR_NON_PD)


def _span(points: Sequence[BorPoint], i: int, j: int) -> int:
    return (points[j].assessment_date - points[i].assessment_date).days


def _confirmed_at(
    points: Sequence[BorPoint],
    i: int,
    confirm_with: tuple[Response, ...],
    between: tuple[Response, ...],
    s: RecistSettings,
) -> int | None:
    """Index of the first assessment confirming points[i] (≥ confirmation_min_days later), else None."""
    ne_count = 0
    for j in range(i + 1, len(points)):
        r = points[j].response
        if r in confirm_with and _span(points, i, j) >= s.confirmation_min_days:
            return j
        if r is Response.NE:
            ne_count += 1
            if ne_count > s.max_ne_between_confirmation:
                return None
        elif r not in between:
            return None
    return None


def best_overall_response(
    points: Sequence[BorPoint],
    settings: RecistSettings | None = None,
    *,
    confirmed: bool,
    new_therapy_date: date | None = None,
    non_target_only: bool = False,
    cr_rules_applied: bool = False,
) -> BestResponse:
    """Best overall response (§1.9) over post-baseline time points in date order.

    Window: assessments dated on or before ``new_therapy_date`` (a scan on the day therapy starts is taken
    before it), up to and including the first PD. SD / NON_CR_NON_PD (and an unconfirmed CR/PR used as SD)
    count only at day ≥ ``sd_min_days``. Confirmed mode: CR needs a CR, PR a CR or PR, at least
    ``confirmation_min_days`` later with only CR/PR/NE (≤ ``max_ne_between_confirmation`` NE) in between.
    ``non_target_only`` reports the SD level as NON_CR_NON_PD (Table 2 patients).

    A PR after a CR (categories only, so the PR is taken as disease present again): after a **confirmed** CR it
    is PD; after an unconfirmed CR ``settings.cr_then_pr`` decides (``cr_real`` → PD, ``relabel_pr`` → the
    earlier CRs become PR), flagged — the same rules :func:`evaluate` applies to the visit categories, which
    then passes ``cr_rules_applied=True`` so they are not applied twice.
    """
    s = settings or RecistSettings()
    for k in range(1, len(points)):
        if points[k].assessment_date <= points[k - 1].assessment_date:
            raise RecistError(
                f"points[{k}].assessment_date: {points[k].assessment_date} is not after "
                f"{points[k - 1].assessment_date} (allowed: strictly increasing dates)"
            )
    if not points:
        return BestResponse(Response.NE, "NE: no post-baseline assessment")
    window: list[BorPoint] = []
    excluded = 0
    p: BorPoint | None  # a time point; None below where no point of the window has the wanted response
    for p in points:
        if new_therapy_date is not None and p.assessment_date > new_therapy_date:
            excluded += 1
            continue
        if not window or window[-1].response is not Response.PD:
            window.append(p)
    note = (
        f" ({excluded} assessment(s) after new anticancer therapy on {new_therapy_date} excluded)"
        if excluded
        else ""
    )
    if not window:
        return BestResponse(
            Response.NE, f"NE: no assessment before new anticancer therapy on {new_therapy_date}"
        )

    flags: list[str] = []
    first_cr = next((k for k, p in enumerate(window) if p.response is Response.CR), None)
    pr_after_cr = None
    if first_cr is not None and not cr_rules_applied:
        pr_after_cr = next(
            (k for k in range(first_cr + 1, len(window)) if window[k].response is Response.PR), None
        )
    if pr_after_cr is not None:
        cr_p, pr_p = window[first_cr], window[pr_after_cr]  # type: ignore[index]
        before = window[:pr_after_cr]
        confirmed_cr = next(
            (
                (before[i], before[j])
                for i in range(len(before))
                if before[i].response is Response.CR
                and (j := _confirmed_at(before, i, (Response.CR,), (Response.CR,), s)) is not None
            ),
            None,
        )
        if confirmed_cr is not None:
            window = before + [BorPoint(pr_p.assessment_date, pr_p.day, Response.PD)]
            flags.append(
                f"{FLAG_CR_THEN_PR}: PR on {pr_p.assessment_date} after the CR of {confirmed_cr[0].assessment_date} "
                f"confirmed on {confirmed_cr[1].assessment_date} counted as PD (reappearance after a confirmed CR)"
            )
        elif s.cr_then_pr is CrThenPr.CR_REAL:
            window = window[:pr_after_cr] + [BorPoint(pr_p.assessment_date, pr_p.day, Response.PD)]
            flags.append(
                f"{FLAG_CR_THEN_PR}: PR on {pr_p.assessment_date} after CR on {cr_p.assessment_date} counted as PD "
                "(CR taken as real; if the CR was doubtful use cr_then_pr='relabel_pr')"
            )
        else:
            window = [
                BorPoint(p.assessment_date, p.day, Response.PR)
                if k < pr_after_cr and p.response is Response.CR
                else p
                for k, p in enumerate(window)
            ]
            flags.append(
                f"{FLAG_CR_THEN_PR}: CR before {pr_p.assessment_date} re-labelled PR (CR taken as doubtful; "
                "if it was real use cr_then_pr='cr_real')"
            )

    sd_level = Response.NON_CR_NON_PD if non_target_only else Response.SD

    def result(response: Response, reason: str, when: date | None) -> BestResponse:
        return BestResponse(response, reason + note, when, tuple(flags))

    if confirmed:
        for wanted, confirm_with, between in (
            (Response.CR, (Response.CR,), (Response.CR,)),
            (Response.PR, (Response.CR, Response.PR), (Response.CR, Response.PR)),
        ):
            for i, p in enumerate(window):
                if p.response is not wanted:
                    continue
                j = _confirmed_at(window, i, confirm_with, between, s)
                if j is not None:
                    q = window[j]
                    return result(
                        wanted,
                        f"{wanted.value}: {wanted.value} on {p.assessment_date} (day {p.day}) confirmed by "
                        f"{q.response.value} on {q.assessment_date} ({_span(window, i, j)} days later, "
                        f"≥ {s.confirmation_min_days})",
                        p.assessment_date,
                    )
    else:
        for wanted in (Response.CR, Response.PR):
            p = next((p for p in window if p.response is wanted), None)
            if p is not None:
                return result(
                    wanted,
                    f"{wanted.value}: best time-point response {wanted.value} on {p.assessment_date} (day {p.day})",
                    p.assessment_date,
                )

    sd_ok = next((p for p in window if p.response in _RESPONSE_LIKE and p.day >= s.sd_min_days), None)
    if sd_ok is not None:
        if confirmed and sd_ok.response in (Response.CR, Response.PR):
            text = (
                f"{sd_ok.response.value} on {sd_ok.assessment_date} (day {sd_ok.day}) not confirmed (needs CR/PR "
                f"≥ {s.confirmation_min_days} days later); day {sd_ok.day} ≥ {s.sd_min_days} meets the SD minimum"
            )
        else:
            text = (
                f"{sd_ok.response.value} on {sd_ok.assessment_date} (day {sd_ok.day} ≥ {s.sd_min_days}) "
                "meets the SD minimum"
            )
            if confirmed and any(p.response in (Response.CR, Response.PR) for p in window):
                text += "; no confirmed CR/PR"
        return result(sd_level, f"{sd_level.value}: {text}", sd_ok.assessment_date)
    early = next((p for p in window if p.response in _RESPONSE_LIKE), None)
    last = window[-1]
    if last.response is Response.PD:
        extra = (
            f" ({early.response.value} on day {early.day} is before the {s.sd_min_days}-day SD minimum)"
            if early
            else ""
        )
        return result(
            Response.PD, f"PD: PD on {last.assessment_date} (day {last.day}){extra}", last.assessment_date
        )
    if early is not None:
        return result(
            Response.NE,
            f"NE: {early.response.value} on {early.assessment_date} (day {early.day}) is before the "
            f"{s.sd_min_days}-day SD minimum and no later evaluable assessment",
            None,
        )
    return result(Response.NE, "NE: no evaluable post-baseline assessment (all NE)", None)


def _bor_input(value: Response | str, k: int) -> Response:
    try:
        r = Response(value)
    except ValueError:
        r = None
    if r is None or r is Response.NA:
        raise RecistError(f"bors[{k}]: {value!r} is not a BOR (allowed: CR, PR, SD, NON_CR_NON_PD, PD, NE)")
    return r


def orr(bors: Iterable[Response | str], *, exclude_ne: bool = False) -> Rate:
    """Objective response rate: BOR ∈ {CR, PR} / patients given (ITT). ``exclude_ne`` drops NE patients from
    the denominator. Pass only patients evaluable for ORR (e.g. with measurable disease) per the protocol."""
    rs = [_bor_input(b, k) for k, b in enumerate(bors)]
    denominator = [r for r in rs if not (exclude_ne and r is Response.NE)]
    return Rate(sum(r in (Response.CR, Response.PR) for r in denominator), len(denominator))


def dcr(
    bors: Iterable[Response | str], *, exclude_ne: bool = False, include_non_cr_non_pd: bool = True
) -> Rate:
    """Disease control rate: BOR ∈ {CR, PR, SD [, NON_CR_NON_PD]} / patients given (ITT unless ``exclude_ne``)."""
    rs = [_bor_input(b, k) for k, b in enumerate(bors)]
    denominator = [r for r in rs if not (exclude_ne and r is Response.NE)]
    ok = {Response.CR, Response.PR, Response.SD} | (
        {Response.NON_CR_NON_PD} if include_non_cr_non_pd else set()
    )
    return Rate(sum(r in ok for r in denominator), len(denominator))


# --------------------------------------------------------------------------------------------- evaluation


def _check_inputs(
    lesions: Sequence[Lesion], assessments: Sequence[Assessment], implant_date: date, s: RecistSettings
) -> tuple[list[Lesion], list[Lesion]]:
    if not lesions:
        raise RecistError("lesions: empty (allowed: at least one target or non-target lesion)")
    seen: set[str] = set()
    for k, lesion in enumerate(lesions):
        if not isinstance(lesion, Lesion):
            raise RecistError(f"lesions[{k}]: {lesion!r} is not a Lesion")
        if lesion.lesion_id in seen:
            raise RecistError(
                f"lesions[{k}].id: duplicate lesion id {lesion.lesion_id!r} (allowed: unique ids)"
            )
        seen.add(lesion.lesion_id)
    targets = [x for x in lesions if x.role is Role.TARGET]
    non_targets = [x for x in lesions if x.role is Role.NON_TARGET]
    target_ids = {x.lesion_id for x in targets}
    non_target_ids = {x.lesion_id for x in non_targets}
    if not assessments:
        raise RecistError("assessments: empty (allowed: the baseline assessment first, then follow-ups)")
    m: Measurement | None  # a lesion's measurement at the assessment; None where it was not recorded
    for k, a in enumerate(assessments):
        where = f"assessments[{k}]"
        if not isinstance(a, Assessment):
            raise RecistError(f"{where}: {a!r} is not an Assessment")
        if not isinstance(a.assessment_date, date):
            raise RecistError(f"{where}.date: {a.assessment_date!r} is not a date")
        if k and a.assessment_date <= assessments[k - 1].assessment_date:
            raise RecistError(
                f"{where}.date: {a.assessment_date} is not after the previous assessment "
                f"{assessments[k - 1].assessment_date} (allowed: strictly increasing dates, baseline first)"
            )
        for lid, m in a.target.items():
            if lid not in target_ids:
                kind = "a non-target lesion" if lid in non_target_ids else "an unknown lesion id"
                raise RecistError(
                    f"{where}.target.{lid}: {kind} (allowed: {', '.join(sorted(target_ids)) or 'none'})"
                )
            if not isinstance(m, Measurement):
                raise RecistError(f"{where}.target.{lid}: {m!r} is not a Measurement")
        for lid, st in a.non_target.items():
            if lid not in non_target_ids:
                kind = "a target lesion" if lid in target_ids else "an unknown lesion id"
                raise RecistError(
                    f"{where}.non_target.{lid}: {kind} (allowed: {', '.join(sorted(non_target_ids)) or 'none'})"
                )
            if not isinstance(st, NonTargetStatus):
                raise RecistError(f"{where}.non_target.{lid}: {st!r} is not a NonTargetStatus")
        if not isinstance(a.new_lesions, NewLesions):
            raise RecistError(f"{where}.new_lesions: {a.new_lesions!r} is not a NewLesions value")
        if k == 0:
            if a.assessment_date > implant_date:
                raise RecistError(
                    f"{where}.date: baseline {a.assessment_date} is after the implant date {implant_date} "
                    "(allowed: on or before the implant date)"
                )
            if a.new_lesions is not NewLesions.NO:
                raise RecistError(f"{where}.new_lesions: {a.new_lesions.value!r} at baseline (allowed: no)")
            for t in targets:
                m = a.target.get(t.lesion_id)
                if m is None or m.kind is not MeasurementKind.MEASURED or not m.value_mm:
                    got = (
                        "nothing"
                        if m is None
                        else f"{m.kind.value} {'' if m.value_mm is None else _fmt_mm(m.value_mm)}".strip()
                    )
                    raise RecistError(
                        f"{where}.target.{t.lesion_id}: baseline needs a measured size > 0 mm, got {got}"
                    )
                if m.modality is Modality.ULTRASOUND:
                    raise RecistError(
                        f"{where}.target.{t.lesion_id}: baseline measured by ultrasound (RECIST forbids it; use CT/MRI)"
                    )
            for lid, st in a.non_target.items():
                if st is not NonTargetStatus.PRESENT:
                    raise RecistError(
                        f"{where}.non_target.{lid}: {st.value!r} at baseline (allowed: present)"
                    )
        elif a.assessment_date <= implant_date:
            raise RecistError(
                f"{where}.date: follow-up {a.assessment_date} is not after the implant date {implant_date}"
            )
    if s.mode is Mode.STRICT:
        errors = validate_target_selection(lesions, assessments[0], s)
        if errors:
            raise RecistError("; ".join(errors) + " (use mode 'per_lesion' for a lesion-level analysis)")
    return targets, non_targets


@dataclass
class _Step:
    """A mutable time point for :func:`_apply_cr_rules` (the final categories are written back from it).

    ``back_targets`` / ``back_non_targets`` describe what is present again at this visit: a non-nodal target
    > 0 mm, a nodal target ≥ ``node_normal_mm`` SA, a non-target lesion present or progressing.
    """

    when: date
    day: int
    overall: Response
    reason: str
    flags: list[str]
    target: Response | None = None
    non_target: Response | None = None
    back_targets: list[str] = field(default_factory=list)
    back_non_targets: list[str] = field(default_factory=list)


def _first_confirmed_cr(steps: Sequence[_Step], s: RecistSettings) -> tuple[_Step, _Step] | None:
    """The first CR confirmed by a later CR (≥ ``confirmation_min_days``, only CR/NE in between) among ``steps``."""
    pts = [BorPoint(st.when, st.day, st.overall) for st in steps]
    for i, p in enumerate(pts):
        if p.response is Response.CR:
            j = _confirmed_at(pts, i, (Response.CR,), (Response.CR,), s)
            if j is not None:
                return steps[i], steps[j]
    return None


def _apply_cr_rules(steps: Sequence[_Step], s: RecistSettings, *, non_target_only: bool) -> list[str]:
    """Reappearance after an overall CR (§1.7, §1.9 row "CR | PR", §10.6, §11.13), applied in date order.

    * After a **confirmed** CR (a CR confirmed by a later CR, as for the confirmed BOR), anything present again
      (non-nodal target > 0 mm, node ≥ ``node_normal_mm`` SA, any non-target lesion) is **PD at that visit**
      (RECIST 1.1 Table 3 footnote; EORTC FAQ) — no reviewer decision.
    * After an **unconfirmed** CR, ``settings.cr_then_pr`` decides, for the visit categories and both BORs alike:
      ``cr_real`` — the CR was real, the reappearance is PD at that visit; ``relabel_pr`` (default) — the CR was
      not complete: the earlier CR visits are relabelled PR (Non-CR/Non-PD for non-target disease only) with a
      reason naming the relabelling, and this visit keeps its computed category. Both are flagged for review.

    Mutates ``steps``; returns patient-level flags.
    """
    out: list[str] = []
    setting = f"recist.cr_then_pr = '{s.cr_then_pr.value}'"
    for k, st in enumerate(steps):
        back = st.back_targets + st.back_non_targets
        if not back or st.overall not in (Response.PR, Response.SD, Response.NON_CR_NON_PD, Response.NE):
            continue
        earlier_cr = [p for p in steps[:k] if p.overall is Response.CR]
        if not earlier_cr:
            continue
        what = ", ".join(back) + " present again"
        st.flags = [f for f in st.flags if not f.startswith(FLAG_REAPPEARANCE)]
        confirmed = _first_confirmed_cr(steps[:k], s)
        if confirmed is not None or s.cr_then_pr is CrThenPr.CR_REAL:
            if confirmed is not None:
                why = (
                    f"{what} after the CR of {confirmed[0].when} confirmed on {confirmed[1].when} "
                    "(RECIST 1.1: any reappearance after a confirmed CR is PD)"
                )
            else:
                why = (
                    f"{what} after the unconfirmed CR of {earlier_cr[-1].when}, taken as real ({setting}): "
                    "reappearance after CR is PD"
                )
                st.flags.append(
                    f"{FLAG_REAPPEARANCE}: {what} on {st.when} after CR on {earlier_cr[-1].when} counted as PD "
                    f"({setting}; if the CR was doubtful use 'relabel_pr')"
                )
                out.append(f"{FLAG_CR_THEN_PR}: visit {st.when} counted as PD after CR on {earlier_cr[-1].when}")
            was = st.overall.value
            st.overall = Response.PD
            if st.back_targets and st.target is not None:
                st.target = Response.PD
            if st.back_non_targets and st.non_target is not None:
                st.non_target = Response.PD
            st.reason = f"PD: {why}; computed {was}: {st.reason.split(': ', 1)[-1]}"
            continue
        relabel_to = Response.NON_CR_NON_PD if non_target_only else Response.PR
        for p in earlier_cr:
            p.overall = relabel_to
            if p.target is Response.CR and st.back_targets:
                p.target = Response.PR
            if p.non_target is Response.CR and st.back_non_targets:
                p.non_target = Response.NON_CR_NON_PD
            p.reason = (
                f"{relabel_to.value}: CR relabelled {relabel_to.value} — {what} on {st.when} shows the CR was "
                f"not complete ({setting}); computed CR: {p.reason.split(': ', 1)[-1]}"
            )
            p.flags.append(f"{FLAG_CR_THEN_PR}: CR relabelled {relabel_to.value} because {what} on {st.when}")
        dates = ", ".join(str(p.when) for p in earlier_cr)
        st.flags.append(
            f"{FLAG_REAPPEARANCE}: {what} after the unconfirmed CR of {dates}, relabelled "
            f"{relabel_to.value} ({setting}; if the CR was real use 'cr_real')"
        )
        out.append(f"{FLAG_CR_THEN_PR}: CR on {dates} relabelled {relabel_to.value} ({what} on {st.when})")
    return out


def number_out(x: Fraction) -> int | float:
    """An exact size as the JSON contract writes it: an int when whole, else a float."""
    return x.numerator if x.denominator == 1 else float(x)


def percent_out(x: Fraction | None) -> float | None:
    """A percentage change as the JSON contract writes it: rounded half away from zero to 0.1, no "-0.0"."""
    if x is None:
        return None
    r = float(_round_half_away(x, 1))
    return 0.0 if r == 0 else r


def evaluate(
    lesions: Sequence[Lesion],
    assessments: Sequence[Assessment],
    implant_date: date,
    settings: RecistSettings | None = None,
    new_therapy_date: date | None = None,
) -> RecistResult:
    """Evaluate RECIST 1.1 for one patient.

    ``assessments[0]`` is the baseline (on or before ``implant_date``; every target measured > 0 mm); follow-ups
    must be after the implant, in strictly increasing date order. ``new_therapy_date`` (repeat implant, surgery,
    RAI, EBRT, TKI) ends the BOR window (§1.9); later time points are still computed and flagged.
    Strict mode raises :class:`RecistError` on an invalid target selection; per-lesion mode only flags it.
    """
    s = settings or RecistSettings()
    if not isinstance(implant_date, date):
        raise RecistError(f"implant_date: {implant_date!r} is not a date")
    if new_therapy_date is not None and not isinstance(new_therapy_date, date):
        raise RecistError(f"new_therapy_date: {new_therapy_date!r} is not a date (or None)")
    targets, non_targets = _check_inputs(lesions, assessments, implant_date, s)
    baseline = assessments[0]
    marker_required = s.require_tg_normalisation and baseline.tg_normal is False
    result_flags: list[str] = []

    baseline_values = {t.lesion_id: baseline.target[t.lesion_id].value_mm for t in targets}
    baseline_sum = sum((v for v in baseline_values.values() if v is not None), Fraction(0))
    baseline_flags: list[str] = []
    bl_day = (baseline.assessment_date - implant_date).days
    if -bl_day > s.baseline_max_days_before_implant:
        baseline_flags.append(
            f"{FLAG_BASELINE_TIMING}: baseline {-bl_day} days before implant (> {s.baseline_max_days_before_implant})"
        )
    if s.mode is Mode.PER_LESION:
        for err in validate_target_selection(lesions, baseline, s):
            baseline_flags.append(f"{FLAG_OUTSIDE_STRICT_SELECTION}: {err}")
    if targets:
        parts = ", ".join(
            f"{t.lesion_id} {_fmt_mm(baseline_values[t.lesion_id] or Fraction(0))} mm {'SA' if t.nodal else 'LD'}"
            for t in targets
        )
        bl_reason = (
            f"baseline: sum {_fmt_mm(baseline_sum)} mm ({parts}); {len(non_targets)} non-target lesion(s)"
        )
    else:
        bl_reason = f"baseline: no target lesions — non-target disease only (Table 2); {len(non_targets)} non-target lesion(s)"
    timepoints: list[TimePoint] = [
        TimePoint(
            baseline.assessment_date,
            bl_day,
            True,
            baseline_sum if targets else None,
            baseline_sum if targets else None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            bl_reason,
            None,
            tuple(baseline_flags),
            False,
        )
    ]

    nadir = baseline_sum
    equivocal_dates: list[date] = []
    zeroed: set[str] = set()
    steps: list[_Step] = []
    for k, a in enumerate(assessments[1:], start=1):
        where = f"assessments[{k}]"
        day = (a.assessment_date - implant_date).days
        flags: list[str] = []
        nadir_used = nadir
        values: dict[str, Fraction | None] = {}
        if targets:
            notes: list[str] = []
            values, missing, vflags = _target_values(targets, a, s, where, zeroed, notes)
            flags.extend(vflags)
            t_resp, t_detail, total, assessed = _target_response(
                targets, values, missing, baseline_sum, nadir, s
            )
            if notes:
                t_detail += "; " + "; ".join(notes)
        else:
            t_resp, t_detail, total, assessed = Response.NA, "no target lesions", None, None
        nt_resp, nt_detail = _non_target_response(non_targets, a, marker_required)
        overall, reason = _combine(t_resp, t_detail, nt_resp, nt_detail, a.new_lesions)

        if a.new_lesions is NewLesions.EQUIVOCAL:
            flags.append(
                f"{FLAG_EQUIVOCAL_NEW_LESION}: not PD now; if confirmed later, PD is dated to {a.assessment_date}"
            )
            equivocal_dates.append(a.assessment_date)
        elif a.new_lesions is NewLesions.YES and equivocal_dates:
            flags.append(
                f"{FLAG_NEW_LESION_AFTER_EQUIVOCAL}: equivocal new lesion first seen on {equivocal_dates[0]} — "
                f"if it is the same lesion, PD dates to {equivocal_dates[0]}"
            )
        counts = new_therapy_date is None or a.assessment_date <= new_therapy_date
        if not counts:
            flags.append(f"{FLAG_AFTER_NEW_THERAPY}: new anticancer therapy started {new_therapy_date}")

        change_bl = _pct_change(total, baseline_sum) if total is not None else None
        change_n = _pct_change(total, nadir_used) if total is not None else None
        back_t = [
            f"target {t.lesion_id} {_fmt_mm(v)} mm{' SA' if t.nodal else ''}"
            for t in targets
            if (v := values.get(t.lesion_id)) is not None and not _lesion_absent(t, v, s)
        ]
        back_nt = [
            f"non-target {n.lesion_id}"
            for n in non_targets
            if a.non_target.get(n.lesion_id) in (NonTargetStatus.PRESENT, NonTargetStatus.PROGRESSION)
        ]
        steps.append(_Step(a.assessment_date, day, overall, reason, flags, t_resp, nt_resp, back_t, back_nt))
        timepoints.append(
            TimePoint(
                a.assessment_date,
                day,
                False,
                total,
                assessed,
                change_bl,
                nadir_used if targets else None,
                change_n,
                t_resp,
                nt_resp,
                a.new_lesions,
                overall,
                reason,
                f"{t_resp.value}: {t_detail}" if targets else None,
                tuple(flags),
                counts,
            )
        )
        if targets and t_resp is not Response.NE and total is not None:
            nadir = min(nadir, total)

    non_target_only = not targets
    result_flags.extend(_apply_cr_rules(steps, s, non_target_only=non_target_only))
    timepoints[1:] = [
        replace(
            tp,
            overall=st.overall,
            target=st.target if targets else tp.target,
            target_reason=tp.target_reason if st.target is tp.target else st.reason,
            non_target=st.non_target,
            reason=st.reason,
            flags=tuple(st.flags),
        )
        for tp, st in zip(timepoints[1:], steps, strict=True)
    ]
    points = [
        BorPoint(tp.assessment_date, tp.day, tp.overall) for tp in timepoints[1:] if tp.overall is not None
    ]
    bor_u = best_overall_response(
        points,
        s,
        confirmed=False,
        new_therapy_date=new_therapy_date,
        non_target_only=non_target_only,
        cr_rules_applied=True,
    )
    bor_c = best_overall_response(
        points,
        s,
        confirmed=True,
        new_therapy_date=new_therapy_date,
        non_target_only=non_target_only,
        cr_rules_applied=True,
    )
    per_lesion: tuple[LesionResult, ...] = ()
    if s.mode is Mode.PER_LESION:
        per_lesion = tuple(_per_lesion(t, assessments, implant_date, s, new_therapy_date) for t in targets)
        result_flags.append("per-lesion mode: modified RECIST (non-RECIST), every target assessed on its own")
    return RecistResult(
        RULE_SET_PER_LESION if s.mode is Mode.PER_LESION else RULE_SET,
        s,
        implant_date,
        new_therapy_date,
        tuple(timepoints),
        bor_u,
        bor_c,
        bool(targets),
        per_lesion,
        tuple(result_flags),
    )


def _per_lesion(
    lesion: Lesion,
    assessments: Sequence[Assessment],
    implant_date: date,
    s: RecistSettings,
    therapy: date | None,
) -> LesionResult:
    """One target assessed on its own diameter with the RECIST thresholds (§1.3 LESION_LEVEL_MODIFIED)."""
    lid = lesion.lesion_id
    base = assessments[0].target[lid].value_mm or Fraction(0)
    axis = "SA" if lesion.nodal else "LD"
    tps = [
        LesionTimePoint(
            assessments[0].assessment_date,
            (assessments[0].assessment_date - implant_date).days,
            True,
            base,
            None,
            None,
            None,
            None,
            f"baseline: {lid} {_fmt_mm(base)} mm {axis}",
            (),
        )
    ]
    nadir = base
    zeroed: set[str] = set()
    steps: list[_Step] = []
    for k, a in enumerate(assessments[1:], start=1):
        notes: list[str] = []
        values, missing, flags = _target_values([lesion], a, s, f"assessments[{k}]", zeroed, notes)
        resp, detail, total, _ = _target_response([lesion], values, missing, base, nadir, s, noun="size")
        if notes:
            detail += "; " + "; ".join(notes)
        value = values[lid]
        back = [] if value is None or _lesion_absent(lesion, value, s) else [f"{lid} {_fmt_mm(value)} mm"]
        steps.append(
            _Step(a.assessment_date, (a.assessment_date - implant_date).days, resp, "", flags, back_targets=back)
        )
        if therapy is not None and a.assessment_date > therapy:
            flags.append(f"{FLAG_AFTER_NEW_THERAPY}: new anticancer therapy started {therapy}")
        tps.append(
            LesionTimePoint(
                a.assessment_date,
                (a.assessment_date - implant_date).days,
                False,
                total,
                _pct_change(total, base) if total is not None else None,
                nadir,
                _pct_change(total, nadir) if total is not None else None,
                resp,
                f"{resp.value}: {detail}",
                tuple(flags),
            )
        )
        if resp is not Response.NE and total is not None:
            nadir = min(nadir, total)
    for st, tp in zip(steps, tps[1:], strict=True):
        st.reason, st.flags = tp.reason, list(tp.flags)
    _apply_cr_rules(steps, s, non_target_only=False)
    tps[1:] = [
        replace(tp, response=st.overall, reason=st.reason, flags=tuple(st.flags))
        for tp, st in zip(tps[1:], steps, strict=True)
    ]
    points = [BorPoint(tp.assessment_date, tp.day, tp.response) for tp in tps[1:] if tp.response is not None]
    return LesionResult(
        lid,
        tuple(tps),
        best_overall_response(points, s, confirmed=False, new_therapy_date=therapy, cr_rules_applied=True),
        best_overall_response(points, s, confirmed=True, new_therapy_date=therapy, cr_rules_applied=True),
    )

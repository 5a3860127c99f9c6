"""Toxicity grading: RTOG/EORTC skin (acute vs late by days since implant) and CTCAE v5.0 procedure terms.

Pure core (no Django). Reference: ``shared/reference/clinical-rules.md`` §4 and §0.5 (time rules use actual
dates, day 0 = implant day). Every graded result is stamped with its rule set: ``RTOG-EORTC-1995`` or
``CTCAE5``.

* RTOG/EORTC acute morbidity covers day 0/1 to day 90 inclusive; later days use the late scale
  (``ToxicitySettings.acute_last_day`` = 90) [FROM MEMORY in the reference — confirm with the radiation
  oncologist]. The scale is computed from dates, never from the visit label (pitfall 21).
* Grades 0–5 are accepted on the RTOG/EORTC scales (the reference tables define grade 5, death).
* CTCAE v5.0 grades 1–5; a grade shown as "–" for a term is refused, and grade 0 is not a CTCAE grade.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from common.errors import InputError

__all__ = [
    "CTCAE_RULE_SET",
    "CTCAE_TERMS",
    "NOT_SCORED",
    "RTOG_RULE_SET",
    "RULE_SETS",
    "SEED_MIGRATION_TERM",
    "CtcaeTerm",
    "RtogScale",
    "ToxicityGrade",
    "ToxicityInputError",
    "ToxicitySettings",
    "WorstGradeSummary",
    "ctcae_grade",
    "days_since_implant",
    "patient_worst_text",
    "rtog_grade",
    "rtog_scale_for_day",
    "summarise_worst_grades",
    "worst_grade",
]

RTOG_RULE_SET = "RTOG-EORTC-1995"
CTCAE_RULE_SET = "CTCAE5"
#: The stamp of a patient's toxicity summary, which takes the worst grade of both scales.
RULE_SETS = f"{RTOG_RULE_SET}, {CTCAE_RULE_SET}"


class ToxicityInputError(InputError):
    """Bad toxicity input; the message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        super().__init__(f"{field_name}: got {value!r}; allowed: {allowed}", field=field_name, value=value,
                         allowed=allowed)


class RtogScale(StrEnum):
    """RTOG/EORTC scales used here."""

    ACUTE_SKIN = "rtog_acute_skin"
    LATE_SKIN = "rtog_late_skin"
    LATE_SUBCUTANEOUS = "rtog_late_subcutaneous"


@dataclass(frozen=True)
class ToxicitySettings:
    """``acute_last_day``: last day (days since implant, inclusive) scored on the acute RTOG scale (default 90)."""

    acute_last_day: int = 90

    def __post_init__(self) -> None:
        if (
            isinstance(self.acute_last_day, bool)
            or not isinstance(self.acute_last_day, int)
            or self.acute_last_day < 0
        ):
            raise ToxicityInputError("acute_last_day", self.acute_last_day, "an integer >= 0")


RTOG_DESCRIPTIONS: dict[RtogScale, tuple[str, ...]] = {
    RtogScale.ACUTE_SKIN: (
        "No change over baseline",
        "Follicular, faint or dull erythema; epilation; dry desquamation; decreased sweating",
        "Tender or bright erythema; patchy moist desquamation; moderate oedema",
        "Confluent moist desquamation other than skin folds; pitting oedema",
        "Ulceration, haemorrhage, necrosis",
        "Death directly related to radiation effect",
    ),
    RtogScale.LATE_SKIN: (
        "None",
        "Slight atrophy; pigmentation change; some hair loss",
        "Patchy atrophy; moderate telangiectasia; total hair loss",
        "Marked atrophy; gross telangiectasia",
        "Ulceration",
        "Death directly related to late effect",
    ),
    RtogScale.LATE_SUBCUTANEOUS: (  # [FROM MEMORY] in the reference
        "None",
        "Slight induration (fibrosis); loss of subcutaneous fat",
        "Moderate fibrosis, asymptomatic; slight field contracture (< 10 % linear reduction)",
        "Severe induration and loss of subcutaneous tissue; field contracture > 10 % linear",
        "Necrosis",
        "Death directly related to late effect",
    ),
}


@dataclass(frozen=True)
class ToxicityGrade:
    """One graded toxicity: ``scale`` (RTOG scale value or CTCAE term), ``grade``, its ``description`` and the
    ``rule_set`` stamp; ``days_since_implant`` for RTOG scores; ``specify`` for CTCAE "Other, specify"."""

    scale: str
    grade: int
    description: str
    rule_set: str
    days_since_implant: int | None = None
    specify: str | None = None


def days_since_implant(implant_date: date, assessment_date: date) -> int:
    """Study day = assessment date − implant date (day 0 = implant). Raises for an assessment before implant."""
    for name, d in (("implant_date", implant_date), ("assessment_date", assessment_date)):
        if not isinstance(d, date):
            raise ToxicityInputError(name, d, "a datetime.date")
    days = (assessment_date - implant_date).days
    if days < 0:
        raise ToxicityInputError(
            "assessment_date", assessment_date.isoformat(), f"a date on or after the implant ({implant_date})"
        )
    return days


def rtog_scale_for_day(
    days: int, *, subcutaneous: bool = False, settings: ToxicitySettings | None = None
) -> RtogScale:
    """Acute skin scale up to ``acute_last_day`` (90) inclusive, late skin (or late subcutaneous) after."""
    cfg = settings or ToxicitySettings()
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ToxicityInputError("days_since_implant", days, "an integer >= 0 (day 0 = implant)")
    if days <= cfg.acute_last_day:
        if subcutaneous:
            raise ToxicityInputError(
                "subcutaneous",
                True,
                f"only after day {cfg.acute_last_day} (late scale); acute scale is skin only",
            )
        return RtogScale.ACUTE_SKIN
    return RtogScale.LATE_SUBCUTANEOUS if subcutaneous else RtogScale.LATE_SKIN


def _check_grade(grade: object, low: int, high: int, field_name: str = "grade") -> int:
    if isinstance(grade, bool) or not isinstance(grade, int) or not low <= grade <= high:
        raise ToxicityInputError(field_name, grade, f"an integer {low}–{high}")
    return grade


def rtog_grade(
    grade: int,
    *,
    days: int,
    subcutaneous: bool = False,
    settings: ToxicitySettings | None = None,
) -> ToxicityGrade:
    """Validate an RTOG/EORTC grade 0–5 on the scale chosen by ``days`` since implant; returns its description.

    When findings of two grades coexist the caller passes the highest grade matched (§4.4 scoring rule).
    """
    scale = rtog_scale_for_day(days, subcutaneous=subcutaneous, settings=settings)
    g = _check_grade(grade, 0, 5)
    return ToxicityGrade(scale.value, g, RTOG_DESCRIPTIONS[scale][g], RTOG_RULE_SET, days_since_implant=days)


# ---------------------------------------------------------------------------------------------------------
# CTCAE v5.0
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CtcaeTerm:
    """A CTCAE v5.0 term: system organ class and the descriptions of grades 1–5 (None = "–", not defined)."""

    term: str
    soc: str
    grades: tuple[str | None, str | None, str | None, str | None, str | None]

    @property
    def allowed_grades(self) -> tuple[int, ...]:
        return tuple(i + 1 for i, text in enumerate(self.grades) if text is not None)


_INJURY = "Injury, poisoning and procedural complications"
_RESP = "Respiratory, thoracic and mediastinal disorders"
_LIFE = "Life-threatening; urgent intervention"
_MILD = "Mild symptoms; intervention not indicated"
_PAIN = ("Mild", "Moderate; limiting instrumental ADL", "Severe; limiting self-care ADL", None, None)
_AIRWAY_HEM = (
    _MILD,
    "Moderate symptoms; intervention indicated",
    "Transfusion; invasive intervention; hospitalization",
    "Life-threatening; intubation/urgent intervention",
    "Death",
)

SEED_MIGRATION_TERM = f"{_INJURY} - Other, specify"

# Grade texts as given in clinical-rules §4.5 (restated from a machine-readable CTCAE v5.0 copy, not the NCI PDF).
CTCAE_TERMS: dict[str, CtcaeTerm] = {
    t.term.lower(): t
    for t in (
        CtcaeTerm(
            "Hematoma",
            "Vascular disorders",
            (
                _MILD,
                "Minimally invasive evacuation or aspiration indicated",
                "Transfusion; invasive intervention indicated",
                _LIFE,
                "Death",
            ),
        ),
        CtcaeTerm(
            "Postoperative hemorrhage",
            _INJURY,
            (
                _MILD,
                "Moderate bleeding requiring transfusion of < 2 units pRBC (10 cc/kg paediatric)",
                "Transfusion of >= 2 units pRBC; invasive intervention; hospitalization",
                _LIFE,
                "Death",
            ),
        ),
        CtcaeTerm(
            "Intraoperative hemorrhage",
            _INJURY,
            (None, None, "Postoperative invasive intervention; hospitalization", _LIFE, "Death"),
        ),
        CtcaeTerm("Bruising", _INJURY, ("Localized or in a dependent area", "Generalized", None, None, None)),
        CtcaeTerm("Pharyngeal hemorrhage", _RESP, _AIRWAY_HEM),
        CtcaeTerm("Laryngeal hemorrhage", _RESP, ("Mild cough or trace hemoptysis", *_AIRWAY_HEM[1:])),
        CtcaeTerm("Tracheal hemorrhage", _RESP, _AIRWAY_HEM),
        CtcaeTerm(
            "Pneumothorax",
            _RESP,
            (
                "Asymptomatic; observation only",
                "Symptomatic; intervention indicated",
                "Sclerosis and/or operative intervention; hospitalization",
                _LIFE,
                "Death",
            ),
        ),
        CtcaeTerm(
            "Dermatitis radiation",
            _INJURY,
            (
                "Faint erythema or dry desquamation",
                "Moderate–brisk erythema; patchy moist desquamation mostly in skin folds; moderate oedema",
                "Moist desquamation outside skin folds; bleeding with minor trauma",
                "Life-threatening; skin necrosis or full-thickness ulceration; spontaneous bleeding; graft indicated",
                "Death",
            ),
        ),
        CtcaeTerm(
            "Skin ulceration",
            "Skin and subcutaneous tissue disorders",
            (
                "Combined ulcer area < 1 cm; non-blanchable erythema with warmth/oedema",
                "Combined ulcer area 1–2 cm; partial-thickness loss",
                "Combined ulcer area > 2 cm; full-thickness loss to subcutis/fascia",
                "Any size with extensive destruction/necrosis of muscle/bone/supporting structures",
                "Death",
            ),
        ),
        CtcaeTerm("Neck pain", "Musculoskeletal and connective tissue disorders", _PAIN),
        CtcaeTerm("Pain of skin", "Skin and subcutaneous tissue disorders", _PAIN),
        CtcaeTerm(
            SEED_MIGRATION_TERM,
            _INJURY,
            (
                "Asymptomatic/mild; observation only; no intervention",
                "Moderate; minimal, local or non-invasive intervention; limiting instrumental ADL",
                "Severe/medically significant, not immediately life-threatening; hospitalization; "
                "limiting self-care ADL",
                _LIFE,
                "Death",
            ),
        ),
    )
}
_ALIASES = {"seed migration": SEED_MIGRATION_TERM.lower()}


def ctcae_grade(term: str, grade: int, *, specify: str | None = None) -> ToxicityGrade:
    """Validate a CTCAE v5.0 grade for one of the procedure terms of §4.5; returns its description.

    ``term`` is matched case-insensitively; "seed migration" maps to "Injury, poisoning and procedural
    complications - Other, specify" with ``specify`` = "seed migration". The "Other, specify" term needs
    ``specify``. Grades marked "–" for the term, grade 0 and grades outside 1–5 raise
    :class:`ToxicityInputError`.
    """
    if not isinstance(term, str):
        raise ToxicityInputError("term", term, "a CTCAE v5.0 term name")
    key = term.strip().lower()
    if key in _ALIASES:
        key = _ALIASES[key]
        specify = specify or "seed migration"
    entry = CTCAE_TERMS.get(key)
    if entry is None:
        allowed = "; ".join(t.term for t in CTCAE_TERMS.values()) + "; or 'seed migration'"
        raise ToxicityInputError("term", term, allowed)
    if entry.term == SEED_MIGRATION_TERM and not (specify and specify.strip()):
        raise ToxicityInputError("specify", specify, "a non-empty text for an 'Other, specify' term")
    if entry.term != SEED_MIGRATION_TERM and specify and specify.strip():
        # Kept nowhere for a named term: refused rather than dropped.
        raise ToxicityInputError("specify", specify, f"no text: only an 'Other, specify' term takes one, not "
                                                     f"'{entry.term}'")
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        extra = " (grade 0 is not a CTCAE grade: record no adverse event instead)" if grade == 0 else ""
        raise ToxicityInputError("grade", grade, f"an integer 1–5 for CTCAE v5.0{extra}")
    text = entry.grades[grade - 1]
    if text is None:
        allowed = ", ".join(str(g) for g in entry.allowed_grades)
        raise ToxicityInputError(
            "grade",
            grade,
            f"grades defined for '{entry.term}' in CTCAE v5.0: {allowed} (grade {grade} is '–')",
        )
    return ToxicityGrade(
        entry.term,
        grade,
        text,
        CTCAE_RULE_SET,
        specify=specify if entry.term == SEED_MIGRATION_TERM else None,
    )


def worst_grade(grades: Iterable[ToxicityGrade]) -> ToxicityGrade | None:
    """Patient-level summary: the highest grade over follow-up (first one on ties); None for no scores.

    Scores of different rule sets are not compared: mixing RTOG and CTCAE raises.
    """
    items = list(grades)
    if not items:
        return None
    rule_sets = {g.rule_set for g in items}
    if len(rule_sets) > 1:
        raise ToxicityInputError("grades", sorted(rule_sets), "scores from one rule set only")
    best = items[0]
    for g in items[1:]:
        if g.grade > best.grade:
            best = g
    return best


# ---------------------------------------------------------------------------------------------------------
# Cohort and patient summaries of the worst grade
# ---------------------------------------------------------------------------------------------------------

NOT_SCORED = "not scored"


def patient_worst_text(grade: int | None, *, followed_up: bool, none_recorded_is_grade_0: bool) -> str:
    """What a patient page shows for a worst grade.

    ``grade`` None means no grade recorded. A patient without any post-implant follow-up visit was never asked,
    so that is "not scored", never grade 0. ``none_recorded_is_grade_0`` is for event scales (CTCAE complications
    are recorded only when they happen): a followed-up patient with none recorded is grade 0; on graded scales
    (RTOG/EORTC skin, scored at each visit) a missing grade stays "not scored".
    """
    if grade is not None:
        return f"grade {_check_grade(grade, 0, 5)}"
    if followed_up and none_recorded_is_grade_0:
        return "grade 0 (none recorded)"
    return NOT_SCORED


@dataclass(frozen=True)
class WorstGradeSummary:
    """Patients by worst grade on one scale. Percentages use the *scored* patients as denominator.

    ``counts[i]`` = scored patients whose worst grade is ``grades[i]``; ``n_not_scored`` = patients without any
    toxicity assessment on this scale (no follow-up visit, or no grade recorded) — never counted as grade 0.
    """

    scale: str
    grades: tuple[int, ...]
    counts: tuple[int, ...]
    n_scored: int
    n_not_scored: int

    @property
    def percents(self) -> tuple[float | None, ...]:
        """Percent of the scored patients, rounded half up to 1 decimal (None when nobody was scored)."""
        if not self.n_scored:
            return tuple(None for _ in self.counts)
        return tuple(math.floor(Fraction(1000 * n, self.n_scored) + Fraction(1, 2)) / 10 for n in self.counts)

    @property
    def cells(self) -> tuple[str, ...]:
        """``"n (p %)"`` per grade, ``"n"`` alone when nobody was scored."""
        return tuple(
            f"{n} ({p:.1f} %)" if p is not None else str(n) for n, p in zip(self.counts, self.percents, strict=True)
        )

    @property
    def denominator_text(self) -> str:
        return (
            f"% of the {self.n_scored} scored patients; {self.n_not_scored} not scored (no follow-up visit or no "
            "grade recorded) are not in the denominator"
        )


def summarise_worst_grades(scale: str, worst: Iterable[int | None], grades: Iterable[int]) -> WorstGradeSummary:
    """Count patients by worst grade; ``None`` in ``worst`` = not scored (kept apart from grade 0).

    A grade outside ``grades`` raises :class:`ToxicityInputError` naming it (never silently dropped).
    """
    columns = tuple(grades)
    counts = dict.fromkeys(columns, 0)
    not_scored = 0
    for k, g in enumerate(worst):
        if g is None:
            not_scored += 1
            continue
        if isinstance(g, bool) or not isinstance(g, int) or g not in counts:
            raise ToxicityInputError(f"worst[{k}]", g, f"one of the grades {', '.join(map(str, columns))} or None")
        counts[g] += 1
    return WorstGradeSummary(scale, columns, tuple(counts.values()), sum(counts.values()), not_scored)

"""Tests for assessment/toxicity.py: RTOG/EORTC acute vs late by days since implant, CTCAE v5.0 terms (§4)."""

from __future__ import annotations

from datetime import date

import pytest

from assessment.toxicity import (
    CTCAE_RULE_SET,
    CTCAE_TERMS,
    RTOG_RULE_SET,
    SEED_MIGRATION_TERM,
    RtogScale,
    ToxicityInputError,
    ToxicitySettings,
    ctcae_grade,
    days_since_implant,
    patient_worst_text,
    rtog_grade,
    rtog_scale_for_day,
    summarise_worst_grades,
    worst_grade,
)

IMPLANT = date(2018, 3, 1)


@pytest.mark.parametrize(
    ("days", "scale"),
    [
        (0, RtogScale.ACUTE_SKIN),  # implant day
        (1, RtogScale.ACUTE_SKIN),
        (60, RtogScale.ACUTE_SKIN),  # nominal 2-month visit
        (90, RtogScale.ACUTE_SKIN),  # boundary: acute covers up to day 90 inclusive
        (91, RtogScale.LATE_SKIN),  # first late day
        (182, RtogScale.LATE_SKIN),  # 6-month visit
        (365, RtogScale.LATE_SKIN),  # 12-month visit
    ],
)
def test_scale_by_days_since_implant(days: int, scale: RtogScale) -> None:
    assert rtog_scale_for_day(days) is scale


def test_scale_uses_dates_not_visit_label() -> None:
    # a "2-month" visit that actually happened on day 92 is scored on the late scale (pitfall 21)
    days = days_since_implant(IMPLANT, date(2018, 6, 1))
    assert days == 92
    assert rtog_scale_for_day(days) is RtogScale.LATE_SKIN
    assert (
        rtog_scale_for_day(days_since_implant(IMPLANT, date(2018, 5, 30))) is RtogScale.ACUTE_SKIN
    )  # day 90


def test_acute_boundary_is_a_setting() -> None:
    assert rtog_scale_for_day(100, settings=ToxicitySettings(acute_last_day=120)) is RtogScale.ACUTE_SKIN
    with pytest.raises(ToxicityInputError, match="acute_last_day"):
        ToxicitySettings(acute_last_day=-1)


def test_assessment_before_implant_refused() -> None:
    with pytest.raises(ToxicityInputError, match=r"^assessment_date: got '2018-02-28'.*2018-03-01"):
        days_since_implant(IMPLANT, date(2018, 2, 28))


@pytest.mark.parametrize("days", [-1, 1.5, True, "60"])
def test_bad_days_refused(days: object) -> None:
    with pytest.raises(ToxicityInputError, match="days_since_implant"):
        rtog_scale_for_day(days)  # type: ignore[arg-type]


def test_rtog_worked_examples() -> None:
    # §4.5: 2-month visit with bright, tender erythema -> RTOG acute G2
    acute = rtog_grade(2, days=61)
    assert acute.scale == RtogScale.ACUTE_SKIN.value and acute.grade == 2
    assert "bright erythema" in acute.description
    assert acute.rule_set == RTOG_RULE_SET == "RTOG-EORTC-1995"
    assert acute.days_since_implant == 61
    # §4.5: 12-month visit with patchy atrophy and moderate telangiectasia -> RTOG late G2
    late = rtog_grade(2, days=365)
    assert late.scale == RtogScale.LATE_SKIN.value
    assert late.description == "Patchy atrophy; moderate telangiectasia; total hair loss"


@pytest.mark.parametrize(
    ("grade", "days", "fragment"),
    [
        (0, 30, "No change over baseline"),
        (1, 30, "dry desquamation"),
        (3, 30, "Confluent moist desquamation"),
        (4, 30, "Ulceration, haemorrhage, necrosis"),
        (0, 200, "None"),
        (1, 200, "Slight atrophy"),
        (3, 200, "Marked atrophy"),
        (4, 200, "Ulceration"),
    ],
)
def test_rtog_grade_descriptions(grade: int, days: int, fragment: str) -> None:
    assert fragment in rtog_grade(grade, days=days).description


def test_late_subcutaneous_scale() -> None:
    res = rtog_grade(3, days=200, subcutaneous=True)
    assert res.scale == RtogScale.LATE_SUBCUTANEOUS.value and "Severe induration" in res.description
    with pytest.raises(ToxicityInputError, match="subcutaneous"):
        rtog_grade(1, days=30, subcutaneous=True)


@pytest.mark.parametrize("grade", [-1, 6, 2.0, True, None])
def test_rtog_grade_out_of_range(grade: object) -> None:
    with pytest.raises(ToxicityInputError, match=r"^grade: got .*0–5"):
        rtog_grade(grade, days=30)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("term", "grade", "expected_term", "fragment"),
    [
        ("Hematoma", 1, "Hematoma", "intervention not indicated"),  # compression only
        ("hematoma", 2, "Hematoma", "aspiration"),  # needle aspiration
        ("Postoperative hemorrhage", 3, "Postoperative hemorrhage", ">= 2 units pRBC"),
        ("Seed migration", 1, SEED_MIGRATION_TERM, "observation only"),
        ("Laryngeal hemorrhage", 1, "Laryngeal hemorrhage", "trace hemoptysis"),
        ("Pneumothorax", 2, "Pneumothorax", "Symptomatic"),
        ("Bruising", 2, "Bruising", "Generalized"),
        ("Intraoperative hemorrhage", 3, "Intraoperative hemorrhage", "Postoperative invasive intervention"),
    ],
)
def test_ctcae_worked_examples(term: str, grade: int, expected_term: str, fragment: str) -> None:
    res = ctcae_grade(term, grade)
    assert res.scale == expected_term and res.grade == grade
    assert fragment in res.description
    assert res.rule_set == CTCAE_RULE_SET == "CTCAE5"


def test_seed_migration_uses_other_specify() -> None:
    res = ctcae_grade("seed migration", 1)
    assert res.scale == "Injury, poisoning and procedural complications - Other, specify"
    assert res.specify == "seed migration"
    with pytest.raises(ToxicityInputError, match="specify"):
        ctcae_grade(SEED_MIGRATION_TERM, 1)
    assert (
        ctcae_grade(SEED_MIGRATION_TERM, 2, specify="seed migration to lung").specify
        == "seed migration to lung"
    )


@pytest.mark.parametrize(
    ("term", "grade", "allowed"),
    [
        ("Bruising", 3, "1, 2"),
        ("Bruising", 5, "1, 2"),
        ("Intraoperative hemorrhage", 1, "3, 4, 5"),
        ("Intraoperative hemorrhage", 2, "3, 4, 5"),
        ("Neck pain", 4, "1, 2, 3"),
        ("Pain of skin", 5, "1, 2, 3"),
    ],
)
def test_ctcae_dash_grades_refused(term: str, grade: int, allowed: str) -> None:
    with pytest.raises(ToxicityInputError) as exc:
        ctcae_grade(term, grade)
    msg = str(exc.value)
    assert msg.startswith(f"grade: got {grade}")
    assert f"'{term}'" in msg and allowed in msg and "'–'" in msg


def test_ctcae_grade_zero_explained() -> None:
    with pytest.raises(ToxicityInputError, match="grade 0 is not a CTCAE grade"):
        ctcae_grade("Hematoma", 0)


def test_ctcae_unknown_term_lists_allowed() -> None:
    with pytest.raises(ToxicityInputError) as exc:
        ctcae_grade("Nausea", 1)
    assert "term: got 'Nausea'" in str(exc.value) and "Hematoma" in str(exc.value)


def test_every_term_has_grade_texts_and_allowed_grades() -> None:
    for entry in CTCAE_TERMS.values():
        assert entry.allowed_grades, entry.term
        for g in entry.allowed_grades:
            kwargs = {"specify": "x"} if entry.term == SEED_MIGRATION_TERM else {}
            assert ctcae_grade(entry.term, g, **kwargs).description


def test_worst_grade_over_follow_up() -> None:
    scores = [rtog_grade(1, days=60), rtog_grade(2, days=182), rtog_grade(0, days=365)]
    worst = worst_grade(scores)
    assert worst is not None and worst.grade == 2 and worst.days_since_implant == 182
    assert worst_grade([]) is None
    with pytest.raises(ToxicityInputError, match="one rule set"):
        worst_grade([rtog_grade(1, days=60), ctcae_grade("Hematoma", 1)])


# --- worst-grade summaries: "not scored" is never grade 0 ------------------------------------------------------


def test_summary_keeps_not_scored_apart_and_uses_the_scored_denominator() -> None:
    # 8 patients: 2 never scored, scored worst grades 0, 0, 0, 1, 1, 2
    s = summarise_worst_grades("RTOG", [0, None, 0, 1, None, 0, 1, 2], range(5))
    assert s.counts == (3, 2, 1, 0, 0) and (s.n_scored, s.n_not_scored) == (6, 2)
    assert s.percents == (50.0, 33.3, 16.7, 0.0, 0.0)
    assert s.cells[0] == "3 (50.0 %)" and s.cells[2] == "1 (16.7 %)"
    assert s.denominator_text == (
        "% of the 6 scored patients; 2 not scored (no follow-up visit or no grade recorded) are not in the denominator"
    )


def test_summary_with_nobody_scored_has_no_percentages() -> None:
    s = summarise_worst_grades("CTCAE", [None, None], range(5))
    assert s.counts == (0, 0, 0, 0, 0) and s.n_not_scored == 2 and s.percents == (None,) * 5
    assert s.cells == ("0",) * 5


@pytest.mark.parametrize("bad", [7, "2", True, -1])
def test_summary_refuses_a_grade_outside_the_columns(bad) -> None:
    with pytest.raises(ToxicityInputError, match=r"^worst\[1\]: got .*; allowed: one of the grades 0, 1, 2, 3, 4 or None$"):
        summarise_worst_grades("RTOG", [0, bad], range(5))


def test_summary_property_counts_add_up_and_percent_sum_is_about_100() -> None:
    import itertools

    for worst in itertools.product([None, 0, 1, 3], repeat=4):
        s = summarise_worst_grades("x", worst, range(5))
        assert s.n_scored + s.n_not_scored == 4
        assert s.n_scored == sum(s.counts) == sum(g is not None for g in worst)
        assert s.counts[0] == sum(g == 0 for g in worst)  # None never lands in grade 0
        if s.n_scored:
            assert abs(sum(p for p in s.percents if p is not None) - 100) <= 0.3


@pytest.mark.parametrize(
    ("grade", "followed_up", "event_scale", "text"),
    [
        (None, False, True, "not scored"),  # no visit: never grade 0, even for CTCAE
        (None, False, False, "not scored"),
        (None, True, True, "grade 0 (none recorded)"),  # CTCAE: followed up, no complication recorded
        (None, True, False, "not scored"),  # RTOG: no skin grade recorded
        (0, True, False, "grade 0"),
        (3, False, True, "grade 3"),
    ],
)
def test_patient_worst_text(grade, followed_up, event_scale, text) -> None:
    assert patient_worst_text(grade, followed_up=followed_up, none_recorded_is_grade_0=event_scale) == text

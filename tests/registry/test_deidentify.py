"""The reviewer's dates and ages (registry/deidentify.py): SDTM study days and Safe Harbor age bands."""

from datetime import date, datetime

import pytest

from registry import deidentify as d

IMPLANT = date(2021, 3, 10)


@pytest.mark.parametrize(("when", "day"), [
    (date(2021, 3, 10), 1),       # implant day is day 1
    (date(2021, 3, 11), 2),
    (date(2021, 3, 9), -1),       # the day before is -1: there is no day 0
    (date(2021, 3, 8), -2),
    (date(2022, 3, 10), 366),
    (date(2020, 3, 10), -365),
    (datetime(2021, 3, 10, 23, 59), 1),
    (datetime(2021, 3, 9, 0, 1), -1),
])
def test_study_day(when, day):
    assert d.study_day(when, IMPLANT) == day


def test_study_day_is_never_zero():
    days = {d.study_day(date.fromordinal(IMPLANT.toordinal() + k), IMPLANT) for k in range(-400, 400)}
    assert 0 not in days
    assert len(days) == 800


@pytest.mark.parametrize(("offset", "day"), [(0, 1), (1, 2), (90, 91), (-1, -1), (-30, -30)])
def test_offset_since_implant_to_study_day(offset, day):
    assert d.day_from_offset(offset) == day
    assert d.day_from_offset(offset) == d.study_day(date.fromordinal(IMPLANT.toordinal() + offset), IMPLANT)


def test_study_day_text_without_implant_keeps_the_year_only():
    assert d.study_day_text(date(2021, 12, 31), None) == "2021"
    assert d.study_day_text(date(2021, 3, 9), IMPLANT) == "day -1"


@pytest.mark.parametrize(("age", "band"), [
    (0, "0–4"), (4, "0–4"), (5, "5–9"), (59, "55–59"), (60, "60–64"), (64, "60–64"), (65, "65–69"),
    (89, "85–89"), (90, "≥ 90"), (104, "≥ 90"),
])
def test_age_band_edges(age, band):
    assert d.age_band(age) == band


@pytest.mark.parametrize("bad", [-1, 61.5, "61", None, True])
def test_age_band_refuses_what_is_not_an_age(bad):
    with pytest.raises((TypeError, ValueError), match="age"):
        d.age_band(bad)


def test_age_band_text_at_implant_else_at_diagnosis():
    birth = date(1960, 3, 10)
    # 61st birthday on the implant day: 61 → 60–64; the day before the birthday still 60 → 60–64
    assert d.age_band_text(birth, IMPLANT, date(2019, 1, 1)) == "60–64 y at implant"
    assert d.age_band_text(date(1956, 3, 11), IMPLANT, None) == "60–64 y at implant"  # 64, birthday tomorrow
    assert d.age_band_text(date(1956, 3, 10), IMPLANT, None) == "65–69 y at implant"  # 65 today
    assert d.age_band_text(date(1931, 3, 11), IMPLANT, None) == "85–89 y at implant"  # 89
    assert d.age_band_text(date(1931, 3, 10), IMPLANT, None) == "≥ 90 y at implant"   # 90
    assert d.age_band_text(birth, None, date(2019, 1, 1)) == "55–59 y at diagnosis"
    assert d.age_band_text(birth, None, None) == "—"


def test_deidentify_value_changes_dates_only():
    assert d.deidentify_value(date(2021, 3, 12), IMPLANT) == "day 3"
    assert d.deidentify_value(date(2019, 5, 1), None) == "2019"
    assert d.deidentify_value("T2", IMPLANT) == "T2"
    assert d.deidentify_value(12, IMPLANT) == 12


@pytest.mark.parametrize(("text", "out"), [
    ("Baseline done 2021-03-01 (in window 2021-02-10 to 2021-03-10)", "Baseline done day -9 (in window day -28 to day 1)"),
    ("CR: best time-point response CR on 2021-06-07 (day 89)", "CR: best time-point response CR on day 90"),
    ("PD: PD on 2021-06-07 (day 89 ≥ 42) confirmed", "PD: PD on day 90 confirmed"),
    ("signed 2021-03-10 08:15:00.123+00:00 ok", "signed day 1 ok"),
    ("code 12021-03-10 and 2021-13-45 stay", "code 12021-03-10 and 2021-13-45 stay"),
    ("no date here: 120 Gy, 24 seeds", "no date here: 120 Gy, 24 seeds"),
])
def test_scrub_dates_in_computed_texts(text, out):
    assert d.scrub_dates(text, IMPLANT) == out


def test_scrub_dates_without_implant_keeps_years():
    assert d.scrub_dates("RAIR-2 (2016-06-01; lost uptake)", None) == "RAIR-2 (2016; lost uptake)"


@pytest.mark.parametrize(("text", "out"), [
    ("age 50 < 55, M0 → I (T and N not used)", "age < 55, M0 → I (T and N not used)"),
    ("age 71 ≥ 55, T3a N0 M0 → II", "age ≥ 55, T3a N0 M0 → II"),
    ("Stage II", "Stage II"),
    ("passage 12 < 20", "passage 12 < 20"),  # a word ending in "age" is not an age
])
def test_scrub_ages_keeps_only_the_side_of_the_cut_off(text, out):
    assert d.scrub_ages(text) == out

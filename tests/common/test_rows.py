"""common.rows: value_rows gives the ORM's values_list rows (same SQL, same order of fields, driver types) and
gc_paused restores the collector's state."""

import datetime as dt
import gc

import pytest
from django.db.models import Count, Max

from common.rows import DayNumber, gc_paused, value_rows
from registry.models import Patient, Site


@pytest.mark.django_db
def test_value_rows_equal_the_orms_rows_fields_in_the_order_asked(sites, make_patient):
    make_patient("A", birth_date=dt.date(1961, 3, 4))
    make_patient("B", birth_date=dt.date(1970, 12, 31))
    # an annotation asked first: the SELECT puts annotations last, value_rows puts it back where it was asked
    qs = (Patient.objects.annotate(n_sites=Count("site")).order_by("study_id")
          .values_list("n_sites", "study_id", "birth_date", "site__code"))
    rows = value_rows(qs)
    assert rows == list(qs)
    assert [type(v) for v in rows[0]] == [int, str, dt.date, str]  # a date column comes as a date
    assert sorted(r[3] for r in rows) == ["AAA", "BBB"]


@pytest.mark.django_db
def test_day_number_is_the_dates_ordinal_computed_by_the_database(sites, make_patient):
    # leap days, a century that is no leap year, the first and last dates Python knows; NULL stays None
    days = [dt.date(1, 1, 1), dt.date(1900, 2, 28), dt.date(1900, 3, 1), dt.date(2000, 2, 29), dt.date(2024, 12, 31),
            dt.date(9999, 12, 31)]
    for i, day in enumerate(days):  # written past the services' plausibility checks: the SQL is what is tested
        patient = make_patient("A", record_number=f"MRN-D{i}")
        Patient.objects.filter(pk=patient.pk).update(birth_date=day, surgery_date=day if i % 2 else None)
    rows = value_rows(Patient.objects.order_by("pk").values_list("birth_date", DayNumber("birth_date"),
                                                                    DayNumber("surgery_date")))
    assert [(birth.toordinal(), surgery) for birth, _, surgery in rows] == [
        (d.toordinal(), d.toordinal() if i % 2 else None) for i, d in enumerate(days)]
    assert [day for _, day, _ in rows] == [d.toordinal() for d in days]
    assert all(type(day) is int for _, day, _ in rows)


@pytest.mark.django_db
def test_value_rows_of_an_empty_filter_and_of_an_aggregate_annotation(sites):
    assert value_rows(Site.objects.filter(pk__in=[]).values_list("code")) == []
    rows = value_rows(Site.objects.annotate(last=Max("patients__id")).order_by("code").values_list("code", "last"))
    assert rows == [("AAA", None), ("BBB", None)]


@pytest.mark.django_db
@pytest.mark.parametrize("make", [lambda qs: qs.values_list("code", flat=True), lambda qs: qs.values("code"),
                                  lambda qs: qs.values_list("code", named=True), lambda qs: qs])
def test_value_rows_refuses_anything_but_a_plain_values_list(sites, make):
    with pytest.raises(TypeError, match="values_list"):
        value_rows(make(Site.objects.all()))


def test_gc_paused_restores_the_collector_and_a_nested_pause_keeps_the_outer_one():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off and leaves it off
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        raise ZeroDivisionError
    assert gc.isenabled()
    with gc_paused():
        kept = [[i] for i in range(1000)]  # allocated while paused: in the oldest generation afterwards
    assert gc.get_freeze_count() == 0 and all(gc.is_tracked(x) for x in kept[:3])

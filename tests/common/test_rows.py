"""common.rows: value_rows gives the ORM's values_list rows (same SQL, same order of fields, driver types) and
gc_paused restores the collector's state."""

import datetime as dt
import gc

import pytest
from django.db.models import Count, Max

from common.rows import gc_paused, value_rows
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

"""common.writes.update: the whitelist, the skipped unchanged save, the audited changed save, validation first; the
history helpers (who and why on the next history row, the replacing mark, a save without a history row)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from common.writes import (
    differs_from_db,
    is_replacing,
    save_validated,
    save_without_history,
    set_history,
    store,
    update,
)
from registry.models import IodineCourse

COURSE_FIELDS = ("date", "activity_value", "activity_unit", "notes")


@pytest.fixture
def course(make_patient, users):
    patient = make_patient()
    instance, changed = update(IodineCourse(patient=patient), {
        "date": dt.date(2014, 2, 10), "activity_value": Decimal("3.7"), "activity_unit": "GBq"},
        fields=COURSE_FIELDS, user=users["data_manager"], reason="first course")
    assert changed
    return instance


def test_a_key_outside_the_whitelist_is_refused_and_nothing_is_set(course, users):
    before = course.history.count()
    with pytest.raises(TypeError, match="activity_gbq may not be set here"):
        update(course, {"notes": "typed", "activity_gbq": Decimal("99")}, fields=COURSE_FIELDS, user=users["nurse"])
    assert course.notes == "" and float(course.activity_gbq) == 3.7  # not even the whitelisted key was set
    assert course.history.count() == before


def test_an_unchanged_save_writes_no_history_row(course, users):
    before = course.history.count()
    same, changed = update(course, {"activity_value": Decimal("3.7")}, fields=COURSE_FIELDS, user=users["nurse"])
    assert same is course and changed is False
    assert course.history.count() == before
    assert store(course, users["nurse"]) is False and not differs_from_db(course)


def test_a_changed_save_writes_one_history_row_with_user_and_reason(course, users):
    before = course.history.count()
    _, changed = update(course, {"notes": "scan at 5 days"}, fields=COURSE_FIELDS, user=users["nurse"],
                        reason="post-therapy scan")
    assert changed is True
    assert course.history.count() == before + 1
    row = course.history.latest("history_id")
    assert (row.history_user, row.history_change_reason, row.notes) == (users["nurse"], "post-therapy scan",
                                                                         "scan at 5 days")
    assert IodineCourse.objects.get(pk=course.pk).notes == "scan at 5 days"


def test_a_new_record_is_created_with_the_user_on_its_history(course, users):
    assert course.history.get().history_type == "+"
    assert course.history.get().history_user == users["data_manager"]


def test_a_validation_error_leaves_the_database_unchanged(course, users):
    before = course.history.count()
    with pytest.raises(ValidationError) as exc:
        update(course, {"activity_value": Decimal("-1"), "notes": "wrong"}, fields=COURSE_FIELDS,
               user=users["nurse"])
    assert "activity_value" in exc.value.message_dict
    stored = IodineCourse.objects.get(pk=course.pk)
    assert (stored.activity_value, stored.notes) == (Decimal("3.7"), "")
    assert course.history.count() == before


def test_save_validated_validates_before_it_saves(course, users):
    course.activity_unit = "furlongs"
    with pytest.raises(ValidationError):
        save_validated(course, user=users["nurse"])
    assert IodineCourse.objects.get(pk=course.pk).activity_unit == "GBq"


def test_a_service_refuses_a_derived_field_in_its_data(make_patient, users):
    """The registry's whitelist: the stage is derived from T/N/M, a caller cannot set it."""
    from registry import services

    patient = make_patient()
    with pytest.raises(TypeError, match="stage may not be set here"):
        services.patient_update(user=users["data_manager"], patient=patient, data={"stage": "IVB"})
    patient.refresh_from_db()
    assert patient.stage != "IVB"


def test_set_history_names_the_user_and_reason_of_the_next_history_row(course, users):
    course.notes = "saved outside update()"
    set_history(course, users["nurse"], "a direct save")
    course.save()
    row = course.history.latest("history_id")
    assert (row.history_user, row.history_change_reason) == (users["nurse"], "a direct save")


def test_set_history_without_a_reason_keeps_the_reason_set_before(course, users):
    set_history(course, users["nurse"], "the first reason")
    set_history(course, users["physician"])
    course.notes = "changed"
    course.save()
    row = course.history.latest("history_id")
    assert (row.history_user, row.history_change_reason) == (users["physician"], "the first reason")


def test_the_replacing_mark_is_set_only_when_asked_and_kept_by_later_calls(course, users):
    assert is_replacing(course) is False
    set_history(course, users["nurse"], "replaced", replacing=True)
    set_history(course, users["nurse"], "still replaced")
    assert is_replacing(course) is True


def test_save_without_history_writes_the_row_but_no_history_row(course):
    before = course.history.count()
    course.notes = "derived"
    save_without_history(course)
    assert course.history.count() == before
    assert IodineCourse.objects.get(pk=course.pk).notes == "derived"

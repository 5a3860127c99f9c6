"""Visit entry checked against the schedule: a date outside the chosen time point's window is a warning shown
before saving; only a physician saves past it, with a reason stored on the visit and in its history."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from assessment import services
from assessment.models import Visit
from assessment.schedule import ScheduleSettings, visit_window_warnings
from registry.overrides import Override, WarningsPending

IMPLANT = dt.date(2018, 2, 5)  # the `procedure` fixture's implant (day 0)


# --- pure core -----------------------------------------------------------------------------------------------


def test_two_month_visit_on_day_8_names_the_day_and_the_window():
    (w,) = visit_window_warnings(IMPLANT, IMPLANT + dt.timedelta(days=8), "m2")
    assert w["code"] == "visit_out_of_window"
    # m2 target 2018-04-05 = day 59, ± 14 days
    assert w["message"].startswith("2 months visit on day 8: the window is day 45 to day 73 (2 months ± 14 days);")
    assert "37 days before the window opens" in w["message"]


def test_six_month_visit_after_the_window_and_a_late_baseline_are_named():
    (w,) = visit_window_warnings(IMPLANT, dt.date(2018, 9, 10), "m6")  # day 217; window day 151..211
    assert "6 months visit on day 217: the window is day 151 to day 211 (6 months ± 30 days); 6 days after" in (
        w["message"])
    (b,) = visit_window_warnings(IMPLANT, IMPLANT - dt.timedelta(days=29), "baseline")
    assert "Baseline visit on day -29: the window is day -28 to day 0 (at most 28 days before the implant)" in (
        b["message"])


@pytest.mark.parametrize("implant", [dt.date(2023, 1, 31), dt.date(2024, 2, 29), dt.date(2018, 2, 5)])
def test_warning_exactly_when_the_date_is_outside_the_window_both_ends_inclusive(implant):
    """Property over every day from −60 to +420: a warning iff the date is outside the time point's window,
    computed independently from the calendar months and the protocol half-widths; unscheduled never warns."""
    from dateutil.relativedelta import relativedelta

    cfg = ScheduleSettings(windows_days={"m2": 10, "m6": 25, "m12": 30}, baseline_max_days_before=21)
    for offset in range(-60, 421):
        day = implant + dt.timedelta(days=offset)
        for tp, months in (("m2", 2), ("m6", 6), ("m12", 12)):
            target = implant + relativedelta(months=months)
            inside = abs((day - target).days) <= cfg.windows_days[tp]
            warnings = visit_window_warnings(implant, day, tp, cfg)
            assert (warnings == []) is inside, (tp, offset)
            if warnings:
                assert f"visit on day {offset}:" in warnings[0]["message"]
        assert (visit_window_warnings(implant, day, "baseline", cfg) == []) is (-21 <= offset <= 0)
        assert visit_window_warnings(implant, day, "unscheduled", cfg) == []


def test_bad_time_point_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="timepoint: got 'm3'; allowed: baseline, m2, m6, m12, unscheduled"):
        visit_window_warnings(IMPLANT, IMPLANT, "m3")


# --- service -------------------------------------------------------------------------------------------------


@pytest.fixture
def baseline(procedure, users):
    p = procedure.patient
    les = p.lesions.get(label="L1")
    services.visit_save(user=users["nurse"], patient=p, data=services.VisitInput(
        visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("28"), "short_mm": Decimal("20"),
                               "third_mm": Decimal("24")}}))
    return p


def _input(p, when, tp, short="13"):
    les = p.lesions.get(label="L1")
    return services.VisitInput(
        visit={"visit_date": when, "timepoint": tp, "modality": "ct"},
        measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal("20"), "short_mm": Decimal(short),
                               "third_mm": Decimal("15")}})


DAY_8 = IMPLANT + dt.timedelta(days=8)
WINDOW = "2 months visit on day 8: the window is day 45 to day 73 (2 months ± 14 days)"


def test_nurse_cannot_save_an_out_of_window_visit_even_with_a_reason(baseline, users):
    p = baseline
    for override in (None, Override("patient came early", (WINDOW,))):
        with pytest.raises(WarningsPending) as exc:
            services.visit_save(user=users["nurse"], patient=p, data=_input(p, DAY_8, "m2"), override=override)
        assert exc.value.text.startswith(f"A physician must confirm: {WINDOW}")
        assert [w["code"] for w in exc.value.warnings] == ["visit_out_of_window"]
        assert exc.value.message_dict == {"visit.__all__": [exc.value.text]}
    assert not Visit.objects.filter(patient=p, visit_date=DAY_8).exists()  # nothing half-saved
    assert not p.lab_results.exists() and p.visits.count() == 1


def test_nurse_may_record_it_as_unscheduled(baseline, users):
    v = services.visit_save(user=users["nurse"], patient=baseline, data=_input(baseline, DAY_8, "unscheduled"))
    assert (v.timepoint, v.warnings, v.override_reason, v.overridden_by) == ("unscheduled", [], "", None)


def test_physician_confirms_with_a_reason_stored_on_the_visit_and_in_history(baseline, users):
    p, doc = baseline, users["physician"]
    with pytest.raises(WarningsPending, match="Check before saving: 2 months visit on day 8"):
        services.visit_save(user=doc, patient=p, data=_input(p, DAY_8, "m2"))  # not yet shown
    with pytest.raises(WarningsPending, match="Check before saving"):  # a reason, but the warning was not shown
        services.visit_save(user=doc, patient=p, data=_input(p, DAY_8, "m2"), override=Override("early scan"))
    message = visit_window_warnings(IMPLANT, DAY_8, "m2")[0]["message"]
    with pytest.raises(WarningsPending, match="override reason 'ok' is too short; give at least 5 characters"):
        services.visit_save(user=doc, patient=p, data=_input(p, DAY_8, "m2"), override=Override(" ok ", (message,)))
    assert p.visits.count() == 1
    v = services.visit_save(user=doc, patient=p, data=_input(p, DAY_8, "m2"),
                            override=Override("CT brought forward for suspected bleeding", (message,)))
    v.refresh_from_db()
    assert v.warnings == [{"code": "visit_out_of_window", "message": message}]
    assert (v.override_reason, v.overridden_by) == ("CT brought forward for suspected bleeding", doc)
    assert v.overridden_at is not None
    h = v.history.latest()
    assert h.history_change_reason == "override (visit_out_of_window): CT brought forward for suspected bleeding"
    assert h.history_user == doc and h.warnings == v.warnings


def test_a_later_correction_keeps_the_accepted_override_and_a_new_date_needs_a_new_one(baseline, users):
    p, doc, nurse = baseline, users["physician"], users["nurse"]
    message = visit_window_warnings(IMPLANT, DAY_8, "m2")[0]["message"]
    v = services.visit_save(user=doc, patient=p, data=_input(p, DAY_8, "m2"),
                            override=Override("early scan, confirmed", (message,)))
    # the nurse corrects a measurement: same date, same warning, already accepted → saved, override kept
    v = services.visit_save(user=nurse, patient=p, data=_input(p, DAY_8, "m2", short="12"), visit=v)
    v.refresh_from_db()
    assert (v.override_reason, v.overridden_by, v.measurements.get().short_mm) == (
        "early scan, confirmed", doc, Decimal("12.0"))
    # another out-of-window date is a different warning: not accepted
    with pytest.raises(WarningsPending, match="A physician must confirm: 2 months visit on day 9"):
        services.visit_save(user=nurse, patient=p, data=_input(p, DAY_8 + dt.timedelta(days=1), "m2"), visit=v)
    # into the window: no warning, the override no longer applies
    v = services.visit_save(user=nurse, patient=p, data=_input(p, dt.date(2018, 4, 5), "m2"), visit=v)
    v.refresh_from_db()
    assert (v.warnings, v.override_reason, v.overridden_by, v.overridden_at) == ([], "", None, None)


# --- pages ---------------------------------------------------------------------------------------------------


def _post(p, when, tp, **extra):
    les = p.lesions.get(label="L1")
    data = {
        "visit-timepoint": tp, "visit-visit_date": when.isoformat(), "visit-modality": "ct",
        f"m{les.pk}-qualifier": "measured", f"m{les.pk}-long_mm": "20", f"m{les.pk}-short_mm": "13",
        f"m{les.pk}-third_mm": "15", "lab-tg-unit": "ng/mL", "lab-tg-tsh_state": "suppressed",
        "lab-tgab-unit": "IU/mL", "lab-tsh-unit": "mIU/L", "new0-modality": "ct", "new1-modality": "ct",
    }
    data.update(extra)
    return data


def test_nurse_sees_the_warning_above_the_form_and_nothing_is_saved(client, login, baseline, users):
    p = baseline
    login(users["nurse"])
    r = client.post(f"/patients/{p.pk}/visits/new/", _post(p, DAY_8, "m2"))
    html = r.content.decode()
    assert r.status_code == 200
    assert 'id="override-warnings"' in html and "A physician must confirm" in html
    assert WINDOW in html
    assert 'name="override-override_reason"' not in html  # she cannot use it: no reason field for a nurse
    assert not Visit.objects.filter(patient=p, visit_date=DAY_8).exists()


def test_physician_saves_through_the_form_and_the_visit_page_shows_the_override(client, login, baseline, users):
    p = baseline
    login(users["physician"])
    first = client.post(f"/patients/{p.pk}/visits/new/", _post(p, DAY_8, "m2",
                                                               **{"override-override_reason": "early on purpose"}))
    assert "Check before saving" in first.content.decode()  # a reason typed before seeing the warning
    shown = json.dumps([visit_window_warnings(IMPLANT, DAY_8, "m2")[0]["message"]])
    assert first.context["forms"].override["acknowledged"].value() == shown
    r = client.post(f"/patients/{p.pk}/visits/new/", _post(p, DAY_8, "m2", **{
        "override-override_reason": "Seed migration suspected: CT brought forward", "override-acknowledged": shown}),
        follow=True)
    v = Visit.objects.get(patient=p, visit_date=DAY_8)
    assert v.override_reason == "Seed migration suspected: CT brought forward"
    html = r.content.decode()
    assert 'id="visit-override"' in html and WINDOW in html
    assert "Seed migration suspected: CT brought forward" in html and "physician_a" in html

    login(users["reviewer"])
    html = client.get(f"/visits/{v.pk}/").content.decode()
    box = html[html.index('id="visit-override"'):]
    box = box[:box.index("</section>")]
    assert WINDOW in box  # the warning names study days only
    assert "Seed migration suspected" not in box and "physician_a" not in box  # no free text for reviewers


def test_live_preview_lists_the_warning(client, login, baseline, users):
    p = baseline
    login(users["nurse"])
    out = client.post(f"/patients/{p.pk}/visits/preview/", _post(p, DAY_8, "m2")).json()
    assert out["ok"] is True and out["overall"] == "PR"
    assert [w["code"] for w in out["warnings"]] == ["visit_out_of_window"]
    assert out["warnings"][0]["message"].startswith(WINDOW)
    out = client.post(f"/patients/{p.pk}/visits/preview/", _post(p, dt.date(2018, 4, 5), "m2")).json()
    assert out["warnings"] == []
    assert not Visit.objects.filter(patient=p, timepoint="m2").exists()  # the preview saves nothing

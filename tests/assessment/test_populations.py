"""Analysis populations, in-window counting, Table 2 pairs, the flow diagram, follow-up status, overall survival.

Patients are built through the real services. Windows (assessment.schedule): 2 months = target ± 14 days,
6 and 12 months = target ± 30 days, targets at implant + 2 / 6 / 12 calendar months.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessment import cohort_data, cohort_formats, cohort_tables, services
from assessment import dashboard as dash
from assessment.cohort import load_cohort
from assessment.cohort_data import CohortFilter
from assessment.models import FollowUpStatus
from assessment.survival import kaplan_meier
from common.protocol import ProtocolError
from dosimetry import services as dosimetry_services
from dosimetry.models import SeedModel
from registry import overrides
from registry import services as registry_services
from reports import plots

D = Decimal


@pytest.fixture
def followed(make_patient, users):
    """followed(implant, visits=[(timepoint, day, short axis mm | None = not assessed)], status=(state, day, cause))
    → Patient with one nodal lesion (long axis = SA + 8, third axis = SA)."""
    seed = SeedModel.objects.get(code="6711")
    counter = {"n": 0}

    def make(*, implant, visits, status=None, site="A"):
        counter["n"] += 1
        dm, nurse = users["data_manager"], users["nurse"] if site == "A" else users["nurse_b"]
        p = make_patient(site, record_number=f"MRN-P{counter['n']}")
        node = registry_services.lesion_save(user=dm, patient=p, data={
            "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True,
            "baseline_long_mm": D(28), "baseline_short_mm": D(20), "baseline_third_mm": D(20)})
        dosimetry_services.procedure_save(user=dm, patient=p, lesions=[node], data={
            "date": implant, "operator": "Dr Test", "seed_model": seed, "seeds_implanted": 10,
            "activity_per_seed_mbq": D("25.0"), "activity_calibration_date": implant, "prescription_gy": D("120")})
        for tp, day, sa in visits:
            m = ({"qualifier": "not_assessed"} if sa is None else
                 {"qualifier": "measured", "long_mm": D(sa + 8), "short_mm": D(sa), "third_mm": D(sa)})
            data = services.VisitInput(
                visit={"visit_date": implant + dt.timedelta(days=day), "timepoint": tp, "modality": "ct"},
                measurements={node.pk: m})
            try:
                services.visit_save(user=nurse, patient=p, data=data)
            except overrides.WarningsPending as exc:  # outside its window: a physician confirms it
                services.visit_save(user=users["physician"], patient=p, data=data, override=overrides.Override(
                    reason="late visit, recorded as done", acknowledged=tuple(w["message"] for w in exc.warnings)))
        if status is not None:
            state, day, cause = status
            services.followup_status_save(user=nurse, patient=p, data={
                "status": state, "status_date": implant + dt.timedelta(days=day), "death_cause": cause})
        p.refresh_from_db()
        return p

    return make


def _ellipsoid_cm3(sa: float) -> float:
    return math.pi / 6 * (sa + 8) * sa * sa / 1000


@pytest.fixture
def five(followed, eligible_patient):
    """A: PR at 2 / 6 / 12 months, completed on day 365. B: 2-month visit on day 80 (window days 45–73: outside),
    6 months in window, died on day 250. C: baseline only, lost to follow-up (last contact day 100). D: implanted 70
    days ago, baseline only (2-month window still open). E: NE at 2 months (lesion not assessed), nothing after.
    The eligible patient of the fixture is registered and eligible but not implanted; A–E are not assessed."""
    recent = timezone.localdate() - dt.timedelta(days=70)
    return {
        "A": followed(implant=dt.date(2018, 1, 10), visits=[("baseline", -10, 20), ("m2", 60, 13), ("m6", 182, 12),
                                                            ("m12", 365, 12)], status=("completed", 365, "")),
        "B": followed(implant=dt.date(2018, 2, 10), visits=[("baseline", -10, 24), ("m2", 80, 16), ("m6", 182, 15)],
                      status=("died", 250, "thyroid_cancer")),
        "C": followed(implant=dt.date(2018, 3, 10), visits=[("baseline", -10, 30)], status=("lost", 100, "")),
        "D": followed(implant=recent, visits=[("baseline", -6, 18)]),
        "E": followed(implant=dt.date(2018, 5, 10), visits=[("baseline", -10, 22), ("m2", 61, None)]),
        "eligible": eligible_patient,
    }


def _row(rows, tp):
    return next(r for r in rows if r.timepoint == tp)


def _ids(five, *keys):
    return tuple(five[k].study_id for k in keys)


def test_table1_counts_in_window_visits_only_and_lists_the_others(five):
    t1 = cohort_tables.table1(load_cohort(None, CohortFilter()))
    m2 = _row(t1.rows, "m2")
    assert (m2.n, m2.counts.pr, m2.counts.ne) == (2, 1, 1)  # A PR, E NE; B's visit on day 80 is not counted
    assert m2.outside_window == _ids(five, "B") and m2.not_assessed == _ids(five, "C", "D")
    [visit] = t1.outside_window
    # 2018-02-10 + 2 months = 2018-04-10, day 59; window ± 14 → days 45–73
    assert (visit.study_id, visit.timepoint, visit.day, visit.window_start_day, visit.window_end_day,
            visit.counted) == (five["B"].study_id, "m2", 80, 45, 73, False)
    assert visit.text == f"{five['B'].study_id} 2 months: day 80, window days 45–73 (not counted)"
    assert m2.population == "Evaluable at 2 months (n = 2) of 5 implanted"
    assert any("outside their protocol window are listed" in n and "not counted" in n for n in t1.notes)
    assert _row(t1.rows, "m6").n == 2  # A and B (in window)


def test_out_of_window_visits_count_when_the_protocol_says_so(five, settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "cohort": {"in_window_only": False}}
    t1 = cohort_tables.table1(load_cohort(None, CohortFilter()))
    m2 = _row(t1.rows, "m2")
    assert (m2.n, m2.counts.pr) == (3, 2)  # B's day-80 visit (SA 24 → 16: −33 %) is PR and counts now
    assert m2.outside_window == () and [v.counted for v in t1.outside_window] == [True]
    assert any("are counted (protocol cohort.in_window_only = false)" in n for n in t1.notes)


def test_bad_in_window_setting_is_named(five, settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "cohort": {"in_window_only": "yes"}}
    with pytest.raises(ProtocolError, match=r"^protocol cohort\.in_window_only = 'yes': got 'yes'; allowed: true or false$"):
        load_cohort(None, CohortFilter())


def test_populations_are_named_with_their_n(five):
    c = load_cohort(None, CohortFilter())
    assert cohort_data.implanted(c).n == 5
    assert cohort_data.evaluable(c, "m2").study_ids == _ids(five, "A", "E")  # NE is a computed category: evaluable
    assert cohort_data.evaluable(c, "m12").study_ids == _ids(five, "A")
    assert cohort_data.paired(c, "m6", "volume").study_ids == _ids(five, "A", "B")
    assert cohort_data.paired(c, "m2", "volume").text == "Paired total lesion volume, baseline and 2 months (n = 1)"


def test_table2_compares_each_time_point_with_the_baseline_of_the_same_patients(five):
    t2 = cohort_tables.table2(load_cohort(None, CohortFilter()))
    base, m6 = _row(t2.volume, "baseline"), _row(t2.volume, "m6")
    assert base.n == 5 and base.population == "All implanted with a baseline volume (n = 5 of 5)"
    assert base.mean_cm3 == pytest.approx(sum(_ellipsoid_cm3(sa) for sa in (20, 24, 30, 18, 22)) / 5, rel=1e-3)
    assert m6.n == 2 and m6.population == "Paired total lesion volume, baseline and 6 months (n = 2) of 5 implanted"
    # the paired baseline is A and B only (20 and 24 mm), not the five baselines
    assert m6.baseline_mean_cm3 == pytest.approx((_ellipsoid_cm3(20) + _ellipsoid_cm3(24)) / 2, rel=1e-3)
    assert m6.mean_cm3 == pytest.approx((_ellipsoid_cm3(12) + _ellipsoid_cm3(15)) / 2, rel=1e-3)
    assert m6.vs_baseline.n_pairs == 2 and m6.vs_baseline.n_dropped_incomplete == 3
    assert any("both sides of each comparison are the same patients" in n for n in t2.notes)


def test_flow_gives_every_missing_patient_a_reason(five):
    f = cohort_tables.flow(load_cohort(None, CohortFilter()))
    steps = {s.key: s for s in f.steps}
    assert [(s.key, s.n) for s in f.steps] == [("registered", 6), ("eligible", 1), ("implanted", 5), ("m2", 2),
                                                ("m6", 2), ("m12", 1)]
    assert {p.study_id for p in steps["eligible"].missing} == set(_ids(five, "A", "B", "C", "D", "E"))
    assert steps["eligible"].missing[0].detail == "latest eligibility: Not assessed (implanted nevertheless)"
    assert [(p.study_id, p.reason_label) for p in steps["implanted"].missing] == [
        (five["eligible"].study_id, "not implanted")]
    assert len(steps["implanted"].flagged) == 5

    def why(step):
        return {p.study_id: (p.reason_label, p.detail) for p in steps[step].patients}

    sid = {k: five[k].study_id for k in "ABCDE"}
    m2 = why("m2")
    assert m2[sid["B"]] == ("visit outside window", "visit on day 80, window days 45–73")
    # 2018-03-10 + 2 months = 2018-05-10, day 61 → window days 47–75; lost on day 100, after it
    assert m2[sid["C"]] == ("visit not done", "no visit recorded in the window days 47–75")
    assert m2[sid["D"]][0] == "not yet due" and "not closed yet (today is day 70)" in m2[sid["D"]][1]
    assert m2[sid["E"]] == ("NE", "visit on day 61: NE") and [p.study_id for p in steps["m2"].flagged] == [sid["E"]]
    m6 = why("m6")
    assert m6[sid["C"]][0] == "lost to follow-up" and m6[sid["C"]][1].startswith("lost to follow-up, last contact "
                                                                                  "on day 100, window days ")
    assert m6[sid["E"]][0] == "visit not done"
    m12 = why("m12")
    assert m12[sid["B"]][0] == "died" and m12[sid["B"]][1].startswith("died on day 250, window days ")
    assert sid["A"] not in m12
    rows = list(csv.DictReader(io.StringIO(cohort_formats.flow_csv(f))))
    assert {"step": "m2", "step_label": "Evaluable at 2 months", "n": "2", "of": "implanted",
            "study_id": sid["B"], "counted": "no", "reason": "visit outside window",
            "detail": "visit on day 80, window days 45–73"} in rows


def _record(base, *, days, status, status_day, overall):
    """A copy of ``base`` with one 2-month visit on ``days`` (or none), a status and its day."""
    visits = tuple(v for v in base.visits if v.is_baseline)
    if days is not None:
        start, end = base.window_days("m2")
        visits += (cohort_data.VisitRecord("m2", base.implant_date + dt.timedelta(days=days), days, overall, "", "", None,
                                      None, None, True, in_window=start <= days <= end),)
    import dataclasses

    return dataclasses.replace(base, visits=visits, followup_status=status, status_day=status_day,
                               status_recorded=status != "in_follow_up")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 200)),
                          st.sampled_from(["in_follow_up", "completed", "lost", "withdrawn", "died"]),
                          st.integers(1, 400), st.sampled_from(["PR", "SD", "PD", "NE", ""])), min_size=1, max_size=8))
def test_flow_accounts_for_every_implanted_patient_once(five, patients):
    """Property: at each time point, every implanted patient is either evaluable or listed missing with exactly one
    reason (n + missing = implanted), and the evaluable patients are Table 1's N."""
    import dataclasses

    c0 = load_cohort(None, CohortFilter())
    base = c0.patients[0]
    recs = tuple(dataclasses.replace(_record(base, days=d, status=s, status_day=None if s == "in_follow_up" else sd,
                                             overall=o), study_id=f"X{i}", patient_id=i)
                 for i, (d, s, sd, o) in enumerate(patients))
    c = dataclasses.replace(c0, patients=recs, registered=())
    step = next(s for s in cohort_tables.flow(c).steps if s.key == "m2")
    missing = [p.study_id for p in step.missing]
    assert len(missing) == len(set(missing))
    assert step.n + len(missing) == len(recs)
    assert step.n == _row(cohort_tables.table1(c).rows, "m2").n
    assert set(missing).isdisjoint(cohort_data.evaluable(c, "m2").study_ids)


# --- follow-up status: the service, the form, the worklist, the schedule ----------------------------------------


def test_status_dates_are_checked_against_the_implant_the_visits_and_today(five, users):
    p, nurse = five["A"], users["nurse"]  # implant 2018-01-10, last visit day 365 = 2019-01-10
    with pytest.raises(ValidationError, match=r"Date 2018-01-09 is before the implant \(2018-01-10\)"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "lost",
                                                                   "status_date": dt.date(2018, 1, 9)})
    with pytest.raises(ValidationError, match=r"before the latest recorded visit \(2019-01-10\); allowed: "
                                              r"2019-01-10 or later"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "died", "death_cause": "other",
                                                                   "status_date": dt.date(2018, 12, 1)})
    future = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ValidationError, match=rf"Date {future} is in the future; allowed: today or earlier"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "withdrawn", "status_date": future})
    with pytest.raises(ValidationError, match="the cause of death is required"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "died",
                                                                   "status_date": dt.date(2019, 6, 1)})
    with pytest.raises(ValidationError, match="Lost to follow-up: the last contact date is required"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "lost", "status_date": None})
    with pytest.raises(ValidationError, match="a cause of death is allowed only with 'Died'"):
        services.followup_status_save(user=nurse, patient=p, data={"status": "withdrawn", "death_cause": "other",
                                                                   "status_date": dt.date(2019, 6, 1)})
    assert FollowUpStatus.objects.get(patient=p).status == "completed"  # nothing half-saved


def test_status_changes_are_audited(five, users):
    p = five["A"]
    services.followup_status_save(user=users["nurse"], patient=p, data={
        "status": "died", "status_date": dt.date(2019, 6, 1), "death_cause": "thyroid_cancer"})
    latest = FollowUpStatus.history.filter(patient_id=p.pk).order_by("-history_date", "-history_id")
    assert latest[0].history_user == users["nurse"]
    assert latest[0].history_change_reason == ("follow-up status: Died (died 2019-06-01), cause: Thyroid cancer "
                                               "(disease progression)")
    assert latest[1].status == "completed" and latest[1].status_date == dt.date(2019, 1, 10)


def test_nurse_records_the_status_on_the_patient_page(client, login, five, users):
    p = five["E"]
    login(users["nurse"])
    url = f"/patients/{p.pk}/follow-up-status/"
    bad = client.post(url, {"status": "died", "status_date": "2018-08-01"})
    assert bad.status_code == 200 and "the cause of death is required" in bad.content.decode()
    ok = client.post(url, {"status": "lost", "status_date": "2018-08-01"})
    assert ok.status_code == 302
    page = client.get(f"/patients/{p.pk}/").content.decode()
    assert "Lost to follow-up</strong> — last contact 1 Aug 2018, day 84" in page  # 83 days after: study day 84


def test_reviewer_sees_the_status_day_not_its_date_and_cannot_record_it(client, login, five, users):
    p = five["B"]
    login(users["reviewer"])
    page = client.get(f"/patients/{p.pk}/").content.decode()
    line = re.search(r'<p id="followup-status">.*?</p>', page, re.S).group(0)
    assert "Died</strong> — died day 251; cause: Thyroid cancer" in line  # 250 days after: study day 251
    assert "Oct 2018" not in line and "2018" not in line  # died 2018-10-18: the day, not the date
    assert client.post(f"/patients/{p.pk}/follow-up-status/", {"status": "in_follow_up"}).status_code == 403


def test_worklist_stops_asking_for_patients_who_left(followed, users):
    from assessment import selectors

    today = timezone.localdate()
    p = followed(implant=today - dt.timedelta(days=81), visits=[("baseline", -5, 20)])  # 2-month visit overdue
    assert [r.visit.status for r in selectors.worklist_for(users["nurse"], today) if r.patient_id == p.pk] == [
        "overdue"]
    services.followup_status_save(user=users["nurse"], patient=p, data={"status": "withdrawn", "status_date": today})
    assert [r for r in selectors.worklist_for(users["nurse"], today) if r.patient_id == p.pk] == []
    services.followup_status_save(user=users["nurse"], patient=p, data={"status": "in_follow_up",
                                                                        "status_date": None})
    assert len([r for r in selectors.worklist_for(users["nurse"], today) if r.patient_id == p.pk]) == 1


def test_patient_schedule_ends_at_death(five):
    sched = {s.timepoint: s for s in services.patient_schedule(five["B"], today=dt.date(2020, 1, 1))}
    assert sched["m6"].status == "done"
    assert sched["m12"].status == "not_required" and "follow-up ended 2018-10-18" in sched["m12"].reason


# --- figures: swimmer, overall survival, flow on the dashboard ----------------------------------------------------


def test_swimmer_ends_bars_at_the_status_and_arrows_only_in_follow_up(five):
    board = dash.build(load_cohort(None, CohortFilter()))
    rows = list(csv.DictReader(io.StringIO(board.figure("swimmer").csv())))
    by = {}
    for r in rows:
        by.setdefault(r["patient"], []).append(r)
    b, c, e = (by[five[k].study_id] for k in "BCE")
    assert {(float(r["last_follow_up_day"]), r["ongoing"]) for r in b} == {(250, "no")}
    assert (250, "DIED") in {(float(r["event_day"]), r["event"]) for r in b}
    assert [(float(r["last_follow_up_day"]), r["ongoing"], r["event"]) for r in c] == [(100, "no", "LOST")]
    assert {r["ongoing"] for r in e} == {"yes"}  # no status recorded: in follow-up
    assert five["D"].study_id not in by  # nothing after the implant yet
    fig = board.figure("swimmer")
    svg = plots.svg_inline(fig.build(), fig.title, fig.caption)
    assert 'id="swim_marker-died"' in svg and 'id="swim_marker-lost"' in svg and 'id="swim_ongoing"' in svg


def test_overall_survival_counts_deaths_and_censors_at_the_last_known_alive_day(five):
    board = dash.build(load_cohort(None, CohortFilter()))
    os = board.figure("os")
    assert os.title == "Overall survival (Kaplan–Meier)"
    # A completed day 365 (censored), B died day 250, C lost, last contact day 100 (censored), E last visit day 61
    expected = kaplan_meier([365, 250, 100, 61], [False, True, False, False])
    rows = list(csv.DictReader(io.StringIO(os.csv())))
    at_250 = next(r for r in rows if float(r["time_days"]) == 250)
    assert (at_250["events"], at_250["at_risk"]) == ("1", "2")
    assert float(at_250["survival"]) == pytest.approx(expected.survival[list(expected.time_days).index(250)]) == 0.5
    assert "death from any cause (1 of 4 patients)" in os.caption
    assert f"nothing known after the implant): {five['D'].study_id}" in os.caption
    assert [f.key for f in board.figures].index("os") == [f.key for f in board.figures].index("km") + 1


def test_swimmer_refuses_an_arrow_after_the_follow_up_ended():
    with pytest.raises(plots.PlotInputError, match=r"SwimmerRow 'P1': ongoing = True with the follow-up ended "
                                                   r"\(DIED\); allowed: ongoing only for a patient still in"):
        plots.SwimmerRow("P1", 100, ((100, "DIED"),), ongoing=True)


def test_dashboard_shows_the_flow_and_its_csv(client, login, five, users):
    login(users["physician"])
    page = client.get("/dashboard/").content.decode()
    assert 'id="flow-m2"' in page and "Evaluable at 2 months</strong>: <span class=\"flow-n\">2</span>" in page
    assert f"{five['B'].study_id} — visit outside window: visit on day 80, window days 45–73" in page
    assert 'id="outside-window"' in page and "Evaluable at 2 months (n = 2) of 5 implanted" in page
    assert "seedtrack-os.csv" not in page and "/dashboard/os.csv" in page
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/flow.csv").content.decode())))
    assert {r["step"] for r in rows} == {"registered", "eligible", "implanted", "m2", "m6", "m12"}


def test_reviewer_flow_has_study_ids_and_days_only(client, login, five, users):
    login(users["reviewer"])
    text = client.get("/dashboard/flow.csv").content.decode()
    assert five["B"].study_id in text and "Doe" not in text and "MRN-" not in text
    assert "2018-" not in text  # days since the implant, no calendar dates


# --- the demo ------------------------------------------------------------------------------------------------------


def test_demo_statuses_keep_the_study_tables_and_end_the_arrows(demo_loaded, users):
    # demo_loaded: load_demo_cohort, add_demo_procedures, add_demo_followup and add_demo_in_follow_up (what the
    # command loads), built once per session (tests/conftest.py)
    states = sorted(FollowUpStatus.objects.values_list("status", flat=True))
    assert states == ["completed"] * 39 + ["died", "lost", "withdrawn"]
    c = load_cohort(None, CohortFilter(mode="strict"))
    t1 = cohort_tables.table1(c)
    assert [(r.remission.proportion.n, r.remission.proportion.N) for r in t1.rows] == [(41, 42), (37, 42), (36, 42)]
    assert t1.outside_window == ()
    t2 = cohort_tables.table2(c)
    assert _row(t2.volume, "baseline").n == 45 and _row(t2.volume, "m2").n == 42  # the three recent: baseline only
    assert _row(t2.volume, "m2").baseline_text == "6.88 ± 1.67"  # the demo baseline (study 6.87), over the 42 paired
    board = dash.build(c)
    swim = list(csv.DictReader(io.StringIO(board.figure("swimmer").csv())))
    assert {r["patient"] for r in swim if r["ongoing"] == "yes"} == set()  # the three recent have no follow-up yet
    assert sum(1 for r in swim if r["event"] == "DIED") == 1
    f = {s.key: s for s in board.flow.steps}
    assert (f["registered"].n, f["eligible"].n, f["implanted"].n) == (45, 45, 45)  # all worked up
    assert (f["m2"].n, f["m6"].n, f["m12"].n) == (42, 42, 42)
    assert {p.reason_label for p in f["m12"].missing} == {"not yet due"}


def test_a_recorded_status_shows_on_the_dashboard_at_once(client, login, five, users):
    """The dashboard cache is keyed by the data version, which a recorded follow-up status changes."""
    login(users["physician"])

    def e_rows():
        rows = csv.DictReader(io.StringIO(client.get("/dashboard/swimmer.csv").content.decode()))
        return [(r["ongoing"], r["event"]) for r in rows if r["patient"] == five["E"].study_id]

    assert ("yes", "NE") in e_rows()
    services.followup_status_save(user=users["nurse"], patient=five["E"], data={
        "status": "withdrawn", "status_date": dt.date(2018, 9, 1)})
    assert ("no", "WITHDRAWN") in e_rows()


# --- warnings with override ----------------------------------------------------------------------------------------


def test_completed_without_the_12_month_visit_needs_a_physician(five, users):
    p = five["E"]  # implant 2018-05-10; 2-month visit only
    data = {"status": "completed", "status_date": dt.date(2018, 9, 1)}
    with pytest.raises(services.FollowUpWarnings) as exc:
        services.followup_status_save(user=users["nurse"], patient=p, data=data)
    assert exc.value.warnings == [{"code": "completed_without_m12", "message": (
        "Follow-up marked completed on 2018-09-01 (day 114) but no 12-month visit is recorded (window 2019-04-10 "
        "to 2019-06-09).")}]
    with pytest.raises(ValidationError, match="A physician must confirm: Follow-up marked completed on 2018-09-01"):
        services.followup_status_save(user=users["nurse"], patient=p, data=data, override_reason="moved abroad")
    with pytest.raises(ValidationError, match=r"Override reason 'ok' is too short; allowed: at least 5 characters"):
        services.followup_status_save(user=users["physician"], patient=p, data=data, override_reason="ok")
    assert not FollowUpStatus.objects.filter(patient=p).exists()  # nothing saved so far
    saved = services.followup_status_save(user=users["physician"], patient=p, data=data,
                                          override_reason="moved abroad, follow-up there")
    assert [w["code"] for w in saved.warnings] == ["completed_without_m12"]
    assert (saved.override_reason, saved.overridden_by) == ("moved abroad, follow-up there", users["physician"])
    reason = FollowUpStatus.history.filter(patient_id=p.pk).latest("history_id").history_change_reason
    assert reason == ("follow-up status: Follow-up completed (on 2018-09-01); warnings accepted "
                      "(completed_without_m12): moved abroad, follow-up there")  # whole: a text column


def test_lost_with_a_recent_contact_warns(followed, users):
    today = timezone.localdate()
    p = followed(implant=today - dt.timedelta(days=81), visits=[("baseline", -5, 20)])
    with pytest.raises(services.FollowUpWarnings) as exc:
        services.followup_status_save(user=users["nurse"], patient=p, data={
            "status": "lost", "status_date": today - dt.timedelta(days=3)})
    [w] = exc.value.warnings
    assert w["code"] == "lost_recent_contact" and "only 3 days ago" in w["message"]


def test_status_form_reshows_warnings_then_a_physician_saves(client, login, five, users):
    p = five["E"]
    url = f"/patients/{p.pk}/follow-up-status/"
    post = {"status": "completed", "status_date": "2018-09-01"}
    login(users["nurse"])
    page = client.post(url, post).content.decode()
    assert 'id="status-warnings"' in page and "A physician must confirm: Follow-up marked completed" in page
    assert "Override reason" in page and not FollowUpStatus.objects.filter(patient=p).exists()
    client.logout()
    login(users["physician"])
    assert client.post(url, {**post, "override_reason": "moved abroad"}).status_code == 302
    detail = client.get(f"/patients/{p.pk}/").content.decode()
    assert 'id="followup-status-override"' in detail and "moved abroad" in detail

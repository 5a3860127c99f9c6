"""The dashboard's long lists (flow patients, visits outside their window, patients left out of the waterfall) are
written by the view, not looped over in the template: they must print exactly what the template loops printed."""

from __future__ import annotations

import re

from django.template import Context, Template

from assessment import views
from assessment.cohort_data import OutsideWindowVisit
from assessment.cohort_tables import FlowPatient, FlowStep
from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests

# the template loops of the page before the lists moved to the view
FLOW_LOOP = Template("{% for p in patients %}<li>{{ p.study_id }} — {{ p.reason_label }}: {{ p.detail }}</li>"
                     "{% endfor %}")
WINDOW_LOOP = Template("{% for o in visits %}<tr><td>{{ o.study_id }}</td><td>{{ o.timepoint }}</td><td>{{ o.day }}"
                       "</td><td>{{ o.window_start_day }}–{{ o.window_end_day }}</td></tr>{% endfor %}")
LEFT_OUT_LOOP = Template("{% for sid, why in left_out %}{{ sid }} — {{ why }}{% if not forloop.last %}; {% endif %}"
                         "{% endfor %}")

TRICKY = ["P-001", "<b>&amp;</b>", "O'Neil \"x\"", "é — ±", "", "a\x1fb", "\x1f"]


def test_flow_items_equal_the_template_loop() -> None:
    for detail in TRICKY:
        patients = [FlowPatient("P-001", "not_yet_due", "day 12"), FlowPatient("<P&2>", "died", detail),
                    FlowPatient(detail, "not_done", "x'y", counted=True)]
        assert views._patient_items(patients) == FLOW_LOOP.render(Context({"patients": patients}))
    assert views._patient_items([]) == ""


def test_flow_items_of_values_that_are_not_strings_go_item_by_item() -> None:
    patients = [FlowPatient("P-001", "not_yet_due", 1234), FlowPatient("P<2", "died", "day 3")]  # type: ignore[arg-type]
    assert views._patient_items(patients) == FLOW_LOOP.render(Context({"patients": patients}))
    assert "<li>P&lt;2 — " in views._patient_items(patients)


def test_flow_step_view_splits_missing_and_flagged() -> None:
    step = FlowStep("m2", "Evaluable at 2 months", 3, "implanted", (
        FlowPatient("P1", "not_yet_due", "day 10"), FlowPatient("P2", "not_yet_due", "day 20", counted=True),
        FlowPatient("P3", "not_done", "day 90")))
    view = views._FlowStepView.of(step)
    assert (view.n_missing, view.n_flagged) == (2, 1)
    assert re.findall(r"<li>(P\d)", view.missing_items) == ["P1", "P3"]
    assert re.findall(r"<li>(P\d)", view.flagged_items) == ["P2"]
    assert views._flow_steps(None) == []


def test_outside_window_rows_and_left_out_text_equal_the_template_loops() -> None:
    visits = [OutsideWindowVisit("P<1>", "m2", 1234, 45, 75, False), OutsideWindowVisit("P2", "m12", -3, 330, 400, True)]
    assert views._outside_window_rows(visits) == WINDOW_LOOP.render(Context({"visits": visits}))
    left_out = [("P1", "no baseline sum"), ("P&2", "<none>"), ("P3", "x")]
    assert views._left_out_text(left_out) == LEFT_OUT_LOOP.render(Context({"left_out": left_out}))
    assert views._left_out_text([]) == ""


def test_page_lists_every_patient_missing_from_a_step(client, login, users, six):  # noqa: F811
    """Who is left out and why stays on the page: P4 has no 12-month visit."""
    login(users["data_manager"])
    page = client.get("/dashboard/").content.decode()
    m12 = page[page.index('id="flow-m12"'):]
    m12 = m12[:m12.index("</li>\n</li>") if "</li>\n</li>" in m12 else len(m12)]
    assert '<details class="flow-missing"><summary>Missing 1: ' in m12
    assert f"<li>{six[4].study_id} — " in m12

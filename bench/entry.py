"""Keyboard cost of recording a 6-month visit: a nurse fills the visit form with the keyboard only.

Run: ``.venv/bin/python bench/entry.py [--keep]``

Set-up (not timed): a throw-away SQLite database ``/tmp/seedtrack-bench-entry.sqlite3`` (``DATABASE_URL`` set
before ``django.setup()``, then ``migrate``), one site, a nurse, and two identical patients built through the
services (``registry.services.patient_create`` / ``lesion_save``, ``dosimetry.services.procedure_save``,
``assessment.services.visit_save``): three registered lesions — two cervical nodes and a lung nodule, all three
RECIST targets by the automatic proposal — an implant six months ago (so today is in the m6 window), a
baseline visit and the 2-month visit. ``manage.py runserver 127.0.0.1:<free port> --noreload`` is started as a
subprocess on that database (stopped at the end, by its process id).

Measured: Playwright drives Debian's Chromium (``/usr/bin/chromium``, locale en-US, the browser tests' launch
arguments). After logging in (not counted) the nurse opens ``/patients/<pk>/visits/new/?timepoint=m6`` and,
using ``page.keyboard`` only, enters what the CT report and the lab sheet say:

* the visit date — scenario A: the visit is today, the pre-filled date is only checked; scenario B: the visit
  was 3 days ago, the date is typed as MMDDYYYY into Chromium's date field;
* long, short and third axis of the three lesions (9 numbers);
* Tg ``3.4`` and TgAb ``<1`` (units, assays and cut-off keep their defaults);
* RTOG/EORTC skin grade 1 (typed as the digit when the option's label starts with it, else ArrowDown);
* then saves with Enter.

How she moves, as a nurse who knows the form would: where the form chains the everyday fields (``data-main``
inputs, ``static/visit_form.js``) Enter moves to the next one and Enter in the last one saves; otherwise Tab
forward, or Shift+Tab back, until the browser's focus is on the field (so the count is the form's real tab
order: header links, optional fields and the date field's segment stops included; entering a date field
backwards costs Chromium's calendar button and 3 segment stops); without the Enter chain she tabs to "Save
visit" and presses Enter. Keystrokes = every character typed (one each, ``<`` included) + every Tab, Shift+Tab,
arrow and Enter. The result page must show the category (PR: the target sum falls from 60 mm to 40.5 mm) and
the saved rows are checked in the database (values as typed, date, skin grade, category).

Nurse-time model (stated, not measured): 1.5 s per field (finding the value on the report and the field on
the screen; the checked date counts) + 0.3 s per keystroke. Targets: < 2 minutes and < 60 keystrokes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DB = Path("/tmp/seedtrack-bench-entry.sqlite3")
SERVER_LOG = Path("/tmp/seedtrack-bench-entry-server.log")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SECONDS_PER_FIELD = 1.5
SECONDS_PER_KEY = 0.3
TARGET_SECONDS = 120.0
TARGET_KEYS = 60
MAX_TABS_PER_FIELD = 200

# registry baseline and the values of each visit: (long, short, third) mm per lesion
LESIONS = [
    {"region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True},
    {"region": "cervical_node", "cervical_level": "IV", "side": "right", "nodal": True},
    {"region": "lung", "lung_lobe": "RUL", "nodal": False},
]
BASELINE_AXES = [("30", "22", "25"), ("26", "18", "21"), ("20", "15", "16")]  # target sum 22 + 18 + 20 = 60 mm
M2_AXES = [("27", "19", "22"), ("23", "15.5", "18"), ("17", "13", "14")]
M6_TYPED = [("24.5", "14.5", "19"), ("20", "12", "16.5"), ("14", "11", "12")]  # 14.5 + 12 + 14 = 40.5 mm: PR
TG_TYPED, TGAB_TYPED = "3.4", "<1"
EXPECTED_CATEGORY = "PR"


# --- set-up through the services ------------------------------------------------------------------------------


def build_patient(today: dt.date, record_number: str) -> tuple[int, list[int], dt.date]:
    """A nurse's patient: 3 lesions, implant 6 months ago, baseline and m2 recorded. Returns pk, lesion pks,
    implant date. The site and the users are created on the first call."""
    from dateutil.relativedelta import relativedelta

    from assessment import services as followup
    from dosimetry import services as dosimetry
    from dosimetry.models import SeedModel
    from registry import services as registry

    sites = _synthetic.make_sites((("ENT", "Entry bench site"),))
    users = _synthetic.make_users(sites)
    nurse, dm = users["nurse"], users["datamanager"]
    implant = today - relativedelta(months=6)
    patient = registry.patient_create(user=dm, site=sites[0], data={
        "record_number": record_number, "family_name": "Doe", "given_name": "Jane", "sex": "F",
        "birth_date": dt.date(1965, 5, 17), "diagnosis_date": implant - dt.timedelta(days=6 * 365),
        "histology": "papillary", "surgery_extent": "total", "surgery_date": implant - dt.timedelta(days=6 * 365 - 20),
        "t_category": "T2", "n_category": "N1b", "m_category": "M1",
    })
    lesions = []
    for data, (long_mm, short_mm, third_mm) in zip(LESIONS, BASELINE_AXES, strict=True):
        lesions.append(registry.lesion_save(user=dm, patient=patient, data={
            **data, "baseline_long_mm": Decimal(long_mm), "baseline_short_mm": Decimal(short_mm),
            "baseline_third_mm": Decimal(third_mm)}))
    dosimetry.procedure_save(user=nurse, patient=patient, lesions=lesions, data={
        "date": implant, "operator": "Dr Bench", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 24, "activity_per_seed_mbq": Decimal("25.0"), "activity_calibration_date": implant,
        "prescription_gy": Decimal("120")})
    for when, timepoint, axes in ((implant - dt.timedelta(days=7), "baseline", BASELINE_AXES),
                                  (implant + relativedelta(months=2), "m2", M2_AXES)):
        followup.visit_save(user=nurse, patient=patient, data=followup.VisitInput(
            visit={"visit_date": when, "timepoint": timepoint, "modality": "ct"},
            measurements={les.pk: {"qualifier": "measured", "long_mm": Decimal(a), "short_mm": Decimal(b),
                                   "third_mm": Decimal(c)} for les, (a, b, c) in zip(lesions, axes, strict=True)},
            labs=[{"analyte": "tg", "qualifier": "=", "value": Decimal("12.5"), "unit": "ng/mL",
                   "tsh_state": "suppressed"},
                  {"analyte": "tgab", "qualifier": "<", "value": Decimal("1"), "unit": "IU/mL",
                   "tgab_cutoff_iu_ml": Decimal("4")}]))
    return patient.pk, [les.pk for les in lesions], implant


# --- the live server --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    log = SERVER_LOG.open("w")
    return subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
    )


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"runserver exited with {server.returncode}; see {SERVER_LOG}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"runserver did not answer {url} within {timeout_s:.0f} s; see {SERVER_LOG}")


# --- the keyboard -----------------------------------------------------------------------------------------------

_ACTIVE = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return {key: "(page)", desc: "(page)"};
  let text = "";
  if (e.id) { const l = document.querySelector(`label[for="${e.id}"]`); if (l) text = l.textContent; }
  if (!text) text = e.getAttribute("aria-label") || e.textContent || e.value || "";
  text = text.replace(/\\s+/g, " ").trim().slice(0, 60);
  const kind = e.tagName.toLowerCase() + (e.type && e.tagName !== "BUTTON" ? "[" + e.type + "]" : "");
  return {key: e.id || kind + " " + text, desc: kind + " " + text};
}"""


@dataclass
class Step:
    name: str
    is_field: bool = True  # a value the nurse reads and checks or enters (the submit is not)
    tab: int = 0
    shift_tab: int = 0
    enter_move: int = 0  # Enter that moves to the next everyday field (static/visit_form.js)
    chars: int = 0
    other: int = 0  # arrows, the Enter that saves
    seconds: float = 0.0
    passed: list[str] = field(default_factory=list)  # what Tab / Shift+Tab landed on before the target

    @property
    def keys(self) -> int:
        return self.tab + self.shift_tab + self.enter_move + self.chars + self.other


_IS_AFTER = """sel => {
  const t = document.querySelector(sel), a = document.activeElement;
  if (!a || a === document.body) return true;
  return !!(a.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING);
}"""
_ENTER_MOVES_TO = """sel => {
  const main = Array.from(document.querySelectorAll("#visit-form [data-main]"));
  const i = main.indexOf(document.activeElement);
  return i >= 0 && main[i + 1] === document.querySelector(sel);
}"""
_ENTER_SAVES = """() => {
  const main = Array.from(document.querySelectorAll("#visit-form [data-main]"));
  return main.length > 0 && document.activeElement === main[main.length - 1];
}"""
_SELECT_BY_DIGIT = """([sel, value]) => {
  const o = Array.from(document.querySelector(sel).options).find(o => o.value === value);
  return !!o && o.text.trim().startsWith(value);
}"""


class Keyboard:
    """page.keyboard with a count of every key, moving as a nurse would: Enter where the form chains the everyday
    fields (``data-main``), else Tab forward or Shift+Tab back until the browser's focus is on the field."""

    def __init__(self, page) -> None:
        self.page = page
        self.steps: list[Step] = []

    def _on(self, target: str) -> bool:
        return self.page.evaluate("sel => !!document.activeElement && document.activeElement.matches(sel)", target)

    def _go(self, s: Step, target: str) -> None:
        if self._on(target):
            return
        if self.page.evaluate(_ENTER_MOVES_TO, target):
            self.page.keyboard.press("Enter")
            s.enter_move += 1
            if not self._on(target):
                raise RuntimeError(f"{s.name}: Enter did not move the focus to {target}")
            return
        forward = self.page.evaluate(_IS_AFTER, target)
        key = "Tab" if forward else "Shift+Tab"
        presses = 0
        while not self._on(target):
            if presses >= MAX_TABS_PER_FIELD:
                raise RuntimeError(f"{s.name}: {target} not reached after {presses} × {key} (not in the tab order?)")
            self.page.keyboard.press(key)
            presses += 1
            if not self._on(target):
                s.passed.append(self.page.evaluate(_ACTIVE)["desc"])
        if not forward and self.page.evaluate("sel => document.querySelector(sel).type === 'date'", target):
            # Chromium enters a date field backwards on its calendar button: year, day, month are 3 more stops
            for _ in range(3):
                self.page.keyboard.press("Shift+Tab")
                presses += 1
                s.passed.append("visit date: segment stops when entered backwards")
        if forward:
            s.tab += presses
        else:
            s.shift_tab += presses

    def field(self, name: str, target: str, *, text: str = "", option: str = "") -> Step:
        """Reach ``target``; type ``text``, or pick ``option`` of a select (its digit when the label starts
        with it, else ArrowDown until it is selected)."""
        s = Step(name)
        t0 = time.perf_counter()
        self._go(s, target)
        if text:
            self.page.keyboard.type(text)
            s.chars += len(text)
        if option:
            if self.page.evaluate(_SELECT_BY_DIGIT, [target, option]):
                self.page.keyboard.type(option)
                s.chars += len(option)
            while self.page.evaluate("sel => document.querySelector(sel).value", target) != option:
                if s.other >= 10:
                    raise RuntimeError(f"{name}: option {option!r} not reached with ArrowDown")
                self.page.keyboard.press("ArrowDown")
                s.other += 1
        s.seconds = time.perf_counter() - t0
        self.steps.append(s)
        return s

    def checked(self, name: str) -> Step:
        """A field the nurse reads and leaves as pre-filled: no key, but it counts as a field in the time model."""
        s = Step(name)
        self.steps.append(s)
        return s

    def submit(self, name: str) -> Step:
        """Enter on the last everyday field saves (visit_form.js); otherwise reach "Save visit" and press Enter."""
        s = Step(name, is_field=False)
        t0 = time.perf_counter()
        if not self.page.evaluate(_ENTER_SAVES):
            self._go(s, "#visit-form button[type=submit]")
        self.page.keyboard.press("Enter")
        s.other += 1
        s.seconds = time.perf_counter() - t0
        self.steps.append(s)
        return s


def drive(base_url: str, password: str, patient_pk: int, lesion_pks: list[int], visit_date: dt.date,
          type_date: bool) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{base_url}/login/")
        page.get_by_label("User name").fill("nurse")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)  # nurses land on their worklist

        t0 = time.perf_counter()
        page.goto(f"{base_url}/patients/{patient_pk}/visits/new/?timepoint=m6")
        page.wait_for_load_state("load")  # deferred scripts (visit_form.js sets the first focus) have run
        t_loaded = time.perf_counter()
        start_focus = page.evaluate(_ACTIVE)["desc"]
        kb = Keyboard(page)
        if type_date:
            kb.field("visit date (typed)", "#id_visit-visit_date", text=visit_date.strftime("%m%d%Y"))
        else:
            kb.checked("visit date (pre-filled)")
        for k, (pk, axes) in enumerate(zip(lesion_pks, M6_TYPED, strict=True), start=1):
            for axis, value in zip(("long", "short", "third"), axes, strict=True):
                kb.field(f"L{k} {axis} axis", f"#id_m{pk}-{axis}_mm", text=value)
        kb.field("Tg result", "#id_lab-tg-result", text=TG_TYPED)
        kb.field("TgAb result", "#id_lab-tgab-result", text=TGAB_TYPED)
        kb.field("skin grade 1", "#id_skin-grade", option="1")
        kb.submit("save (Enter)")
        page.wait_for_url(f"{base_url}/visits/*/")
        overall = page.locator("#overall").inner_text()
        elapsed = time.perf_counter() - t0
        browser.close()
    return {"steps": kb.steps, "elapsed_s": elapsed, "load_s": t_loaded - t0, "overall": overall,
            "start_focus": start_focus}


def check_saved(patient_pk: int, lesion_pks: list[int], visit_date: dt.date) -> list[str]:
    """The typed values are what was stored (the keyboard reached the right inputs)."""
    from assessment.models import Visit

    problems = []
    visit = Visit.objects.filter(patient_id=patient_pk, timepoint="m6").select_related("result").first()
    if visit is None:
        return ["no m6 visit saved"]
    if visit.visit_date != visit_date:
        problems.append(f"visit date {visit.visit_date} != {visit_date}")
    meas = {m.lesion_id: m for m in visit.measurements.all()}
    for pk, axes in zip(lesion_pks, M6_TYPED, strict=True):
        m = meas.get(pk)
        got = tuple(None if m is None else getattr(m, f"{a}_mm") for a in ("long", "short", "third"))
        if got != tuple(Decimal(x) for x in axes):
            problems.append(f"lesion {pk}: saved {got}, typed {axes}")
    labs = {lab.analyte: lab.text for lab in visit.labs.all()}
    if labs.get("tg") != TG_TYPED or labs.get("tgab") != TGAB_TYPED:
        problems.append(f"labs saved {labs}, typed Tg {TG_TYPED} TgAb {TGAB_TYPED}")
    skin = [t.grade for t in visit.toxicities.filter(kind="rtog_skin")]
    if skin != [1]:
        problems.append(f"skin grades saved {skin}, chosen [1]")
    if getattr(visit, "result", None) is None or visit.result.overall != EXPECTED_CATEGORY:
        problems.append(f"stored category {getattr(getattr(visit, 'result', None), 'overall', None)} "
                        f"!= {EXPECTED_CATEGORY}")
    return problems


# --- report -----------------------------------------------------------------------------------------------------

_GROUPS = (  # (needle in the lower-cased description, group), first match wins
    ("a change the target", "designation link in the lesion section"),
    ("visit date", "visit date: calendar-button / segment stops"),
    ("input[date] complication", "complication dates (4 stops each: month, day, year, calendar)"),
    ("complication", "complication (CTCAE) term, grade, treatment"),
    ("specify", "complication (CTCAE) term, grade, treatment"),
    ("new lesion", "new-lesion rows (2 rows × site, certainty, modality)"),
    ("time point", "visit: time point (pre-filled from the link)"),
    ("finding]", "visit: modality, slice thickness, reader, non-specific, notes"),
    ("non-specific", "visit: modality, slice thickness, reader, non-specific, notes"),
    ("imaging modality", "visit: modality, slice thickness, reader, non-specific, notes"),
    ("slice thickness", "visit: modality, slice thickness, reader, non-specific, notes"),
    ("reader", "visit: modality, slice thickness, reader, non-specific, notes"),
    ("notes", "visit: modality, slice thickness, reader, non-specific, notes"),
    (" finding", "lesion 'finding' selects (default: measured)"),
    ("enhancement", "lesion 'enhancement' selects"),
    ("select-one] tsh", "TSH row (result, unit, assay)"),
    ("] tsh", "TSH row (result, unit, assay)"),
    (" unit", "Tg / TgAb unit"),
    (" assay", "Tg / TgAb assay"),
    ("limit of quantification", "Tg / TgAb limit of quantification"),
    ("drawn under", "Tg TSH state (default: suppressed)"),
    ("cut-off", "TgAb cut-off (default 4 IU/mL)"),
    ("subcutaneous", "late subcutaneous grade"),
)


def _group(desc: str) -> str:
    """Coarse groups of the elements Tab passed over (what the nurse did not fill)."""
    d = desc.lower()
    for needle, group in _GROUPS:
        if needle in d:
            return group
    if d.startswith("a ") or d.startswith("button "):
        return "header links and the patient crumb"
    return desc


def report(title: str, result: dict, problems: list[str]) -> tuple[bool, bool]:
    """Print one scenario; returns (time target met, keystroke target met)."""
    steps: list[Step] = result["steps"]
    tab, shift_tab = sum(s.tab for s in steps), sum(s.shift_tab for s in steps)
    enter_move, chars, other = (sum(s.enter_move for s in steps), sum(s.chars for s in steps),
                                sum(s.other for s in steps))
    keys = sum(s.keys for s in steps)
    n_fields = sum(1 for s in steps if s.is_field)
    print(f"== {title}")
    print(f"   focus when the form opens: {result['start_focus']}")
    print(f"   {'step':24s} {'Tab':>4s} {'⇧Tab':>5s} {'Enter→':>6s} {'chars':>5s} {'other':>5s} {'keys':>5s}  "
          "passed over on the way")
    for s in steps:
        passed = Counter(_group(p) for p in s.passed)
        text = ", ".join(f"{g} ×{n}" if n > 1 else g for g, n in passed.items()) or "—"
        print(f"   {s.name:24s} {s.tab:4d} {s.shift_tab:5d} {s.enter_move:6d} {s.chars:5d} {s.other:5d} {s.keys:5d}  "
              f"{text}")
    print(f"   {'total':24s} {tab:4d} {shift_tab:5d} {enter_move:6d} {chars:5d} {other:5d} {keys:5d}")
    print(f"   keystrokes {keys}: Tab {tab}, Shift+Tab {shift_tab}, Enter to the next field {enter_move}, "
          f"characters typed {chars}, other {other} (arrows, the Enter that saves); fields {n_fields}, "
          f"actions {len(steps)} (fields + save)")
    print(f"   scripted run: {result['elapsed_s']:.2f} s from opening the form to the result page "
          f"(form load {result['load_s']:.2f} s); result page: {result['overall']!r}; saved rows: "
          + ("as typed, category " + EXPECTED_CATEGORY if not problems else "PROBLEMS: " + "; ".join(problems)))
    nurse_s = n_fields * SECONDS_PER_FIELD + keys * SECONDS_PER_KEY
    print(f"   nurse time (model {SECONDS_PER_FIELD} s per field + {SECONDS_PER_KEY} s per keystroke): "
          f"{n_fields} × {SECONDS_PER_FIELD} + {keys} × {SECONDS_PER_KEY} = {nurse_s:.1f} s")
    time_ok, keys_ok = nurse_s < TARGET_SECONDS, keys < TARGET_KEYS
    print(f"   target < {TARGET_SECONDS:.0f} s: {'MET' if time_ok else 'NOT MET'} "
          f"({'under' if time_ok else 'over'} by {abs(TARGET_SECONDS - nurse_s):.0f} s); "
          f"target < {TARGET_KEYS} keystrokes: {'MET' if keys_ok else 'NOT MET'} "
          f"({keys}: {'under' if keys_ok else 'over'} by {abs(TARGET_KEYS - keys)}"
          f"{'' if keys_ok else f', {keys / TARGET_KEYS:.2f}× the target'})")
    groups = Counter(_group(p) for s in steps for p in s.passed)
    if groups:
        moves = len([s for s in steps if s.keys])  # one key to move to each field would be the floor
        print(f"   Tab / Shift+Tab presses that land on something not filled: {sum(groups.values())} "
              f"(data {chars} characters, field-to-field moves at best {moves - 1} keys):")
        for g, n in groups.most_common():
            print(f"     {n:3d}  {g}")
    return time_ok, keys_ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help=f"keep {DB} and the server log")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    _synthetic.use_database(DB)
    from django.db import connection
    from django.utils import timezone

    t0 = time.perf_counter()
    _synthetic.fresh_database(DB)
    today = timezone.localdate()
    scenarios = [  # (title, record number, visit date, typed?)
        ("A. visit today: the visit date is pre-filled and only checked", "E-1", today, False),
        ("B. visit 3 days ago: the visit date is typed (MMDDYYYY)", "E-2", today - dt.timedelta(days=3), True),
    ]
    patients = [build_patient(today, record) for _, record, _, _ in scenarios]
    connection.close()
    print(f"set-up: migrate + nurse + {len(patients)} patients (3 lesions each, implant {patients[0][2]}, baseline "
          f"and m2 recorded) in {time.perf_counter() - t0:.1f} s; Chromium {CHROMIUM}; "
          f"recording the 6-month visit (today {today})")

    port = free_port()
    server = start_server(port)
    results = []
    try:
        wait_until_up(f"http://127.0.0.1:{port}/login/", server)
        for (_, _, when, typed), (pk, lesion_pks, _) in zip(scenarios, patients, strict=True):
            results.append(drive(f"http://127.0.0.1:{port}", _synthetic.USER_PASSWORD, pk, lesion_pks, when, typed))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    failed = False
    for (title, _, when, _), (pk, lesion_pks, _), result in zip(scenarios, patients, results, strict=True):
        problems = check_saved(pk, lesion_pks, when)
        if EXPECTED_CATEGORY not in result["overall"]:
            problems.append(f"result page shows {result['overall']!r}, expected {EXPECTED_CATEGORY}")
        print()
        report(title, result, problems)
        failed = failed or bool(problems)
    if not args.keep:
        connection.close()
        DB.unlink(missing_ok=True)
        SERVER_LOG.unlink(missing_ok=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

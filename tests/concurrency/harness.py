"""A real server on a file SQLite database and N nurses saving visits at the same moment.

Used by tests/concurrency/test_concurrent_saves.py (asserts every save succeeds) and bench/concurrency.py
(prints successes, failures and time, with and without the SQLite server options of config/database.py).

``prepare`` migrates a fresh database file and builds, through the real services, one nurse and one patient
(a lesion, an implant on 2018-02-05 and a baseline visit) per concurrent save; it runs in a subprocess so the
settings (``DATABASE_URL``, ``SQLITE_SERVER_OPTIONS``) are those of the server. ``Server``
starts ``manage.py runserver --noreload`` (threaded) on a free port; ``run`` has every user open her form,
then releases all the POSTs at once from threads and reports what came back.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VISIT_DATE = dt.date(2018, 4, 5)  # day 59 after the implant: the 2-month visit


def _env(db_path: Path, server_options: bool) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}}
    return {**clean, "DATABASE_URL": f"sqlite:///{db_path}", "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",  # runserver with the development values (production is the default)
            "SQLITE_SERVER_OPTIONS": "1" if server_options else "0", "PYTHONPATH": str(ROOT)}


def _prepare_in_process(n: int) -> list[dict]:
    """(Runs in the subprocess.) Migrate, then one nurse + patient per save; returns what the clients need."""
    from decimal import Decimal

    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from assessment import services as assessment_services
    from dosimetry import services as dosimetry_services
    from dosimetry.models import SeedModel
    from registry import roles
    from registry import services as registry_services
    from registry.models import Site, SiteMembership

    roles.ensure_roles()
    admin = get_user_model().objects.create_user("setup")
    site = Site.objects.create(code="CON", name="Concurrency site")
    out = []
    for i in range(n):
        nurse = get_user_model().objects.create_user(f"nurse{i}")
        nurse.groups.add(Group.objects.get(name=roles.NURSE))
        SiteMembership.objects.create(user=nurse, site=site)
        patient = registry_services.patient_create(user=admin, site=site, data={
            "record_number": f"MRN-C{i}", "family_name": "Doe", "given_name": f"Pat{i}", "sex": "F",
            "birth_date": dt.date(1960, 5, 17), "diagnosis_date": dt.date(2012, 3, 1), "histology": "papillary",
            "surgery_extent": "total", "surgery_date": dt.date(2012, 3, 20),
            "t_category": "T2", "n_category": "N1b", "m_category": "M0"})
        lesion = registry_services.lesion_save(user=admin, patient=patient, data={
            "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True,
            "biopsy_date": dt.date(2018, 1, 5), "biopsy_result": "metastatic", "iodine_uptake": "no",
            "baseline_long_mm": Decimal("28"), "baseline_short_mm": Decimal("20"),
            "baseline_third_mm": Decimal("24")})
        dosimetry_services.procedure_save(user=admin, patient=patient, lesions=[lesion], data={
            "date": dt.date(2018, 2, 5), "operator": "Dr Test", "seed_model": SeedModel.objects.get(code="6711"),
            "seeds_implanted": 8, "activity_per_seed_mbq": Decimal("25.0"),
            "activity_calibration_date": dt.date(2018, 2, 5), "prescription_gy": Decimal("120")})
        baseline = assessment_services.visit_save(user=admin, patient=patient, data=assessment_services.VisitInput(
            visit={"visit_date": dt.date(2018, 1, 25), "timepoint": "baseline", "modality": "ct"},
            measurements={lesion.pk: {"qualifier": "measured", "long_mm": Decimal("28"),
                                      "short_mm": Decimal("20"), "third_mm": Decimal("24")}}))
        session = SessionStore()
        session[SESSION_KEY] = str(nurse.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = nurse.get_session_auth_hash()
        session.create()
        out.append({"patient": patient.pk, "lesion": lesion.pk, "baseline_visit": baseline.pk,
                    "session": session.session_key})
    return out


def prepare(db_path: Path, n: int, *, server_options: bool = True, template: Path | None = None) -> list[dict]:
    """The database for ``n`` concurrent saves; ``template``: an already migrated SQLite file to start from (the
    migration then finds nothing to do)."""
    if template is not None:
        shutil.copyfile(template, db_path)
    code = ("import json, sys; from tests.concurrency.harness import _prepare_in_process; "
            f"print('@@' + json.dumps(_prepare_in_process({n})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(db_path, server_options),
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"preparing the database failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.split("@@", 1)[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    db_path: Path
    server_options: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="seedtrack-server-", suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks"],
            cwd=ROOT, env=_env(self.db_path, self.server_options), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("runserver did not answer within 30 s")

    def __exit__(self, *exc) -> None:
        if self.process is not None:  # stop the one process this harness started, by its handle
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)


def visit_post_data(lesion_pk: int, reader: str = "Dr R", timepoint: str = "m2",
                    visit_date: dt.date = VISIT_DATE, skin_grade: str = "1") -> dict[str, str]:
    return {
        "visit-timepoint": timepoint, "visit-visit_date": visit_date.isoformat(), "visit-modality": "ct",
        "visit-reader": reader,
        f"m{lesion_pk}-qualifier": "measured", f"m{lesion_pk}-long_mm": "20", f"m{lesion_pk}-short_mm": "13",
        f"m{lesion_pk}-third_mm": "15",
        "lab-tg-result": "12.5", "lab-tg-unit": "ng/mL", "lab-tg-tsh_state": "suppressed", "lab-tg-assay": "Roche",
        "lab-tgab-result": "<1", "lab-tgab-unit": "IU/mL", "lab-tgab-tgab_cutoff_iu_ml": "4",
        "lab-tsh-result": "", "lab-tsh-unit": "mIU/L",
        "new0-modality": "ct", "new1-modality": "ct", "skin-grade": skin_grade,
    }


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Outcome:
    status: int
    location: str
    error: str  # the cause of a failure, or the page of a 200
    seconds: float


@dataclass
class Job:
    """One user's save: open ``form_url`` with her session, then post the page's hidden fields + ``data``."""

    session: str
    form_url: str
    post_url: str
    data: dict[str, str]


def new_visit_jobs(clients: list[dict]) -> list[Job]:
    """Every nurse records the 2-month visit of her own patient."""
    return [Job(c["session"], f"/patients/{c['patient']}/visits/new/?timepoint=m2",
                f"/patients/{c['patient']}/visits/new/", visit_post_data(c["lesion"], "")) for c in clients]


def run(server: Server, jobs: list[Job]) -> tuple[list[Outcome], float]:
    """Every user GETs her form (not timed), then all POST at once; (outcomes, wall time of the POSTs)."""
    prepared = []
    for job in jobs:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
        opener.addheaders = [("Cookie", f"sessionid={job.session}")]
        url = f"{server.url}{job.form_url}"
        with opener.open(url, timeout=30) as r:
            html = r.read().decode()
        hidden = dict(_HIDDEN.findall(html))  # the CSRF token and the version token of an edit form
        csrf_cookie = next(ck.value for ck in jar if ck.name == "csrftoken")
        opener.addheaders = [("Cookie", f"sessionid={job.session}; csrftoken={csrf_cookie}"),
                             ("Referer", url)]
        data = {**hidden, **job.data, "csrfmiddlewaretoken": hidden["csrfmiddlewaretoken"]}
        prepared.append((opener, f"{server.url}{job.post_url}", urllib.parse.urlencode(data).encode()))
    barrier = threading.Barrier(len(prepared))
    outcomes: list[Outcome | None] = [None] * len(prepared)

    def post(i: int) -> None:
        opener, url, body = prepared[i]
        barrier.wait()
        t0 = time.monotonic()
        try:
            with opener.open(url, body, timeout=60) as r:
                outcomes[i] = Outcome(r.status, r.headers.get("Location", ""), r.read().decode(errors="replace"),
                                      time.monotonic() - t0)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            found = re.search(r"database is locked", text) or re.search(r"[A-Za-z]+Error", text)
            outcomes[i] = Outcome(exc.code, exc.headers.get("Location", ""), found.group(0) if found else text[:200],
                                  time.monotonic() - t0)
        except OSError as exc:
            outcomes[i] = Outcome(0, "", repr(exc), time.monotonic() - t0)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(prepared))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [o for o in outcomes if o is not None], time.monotonic() - t0


def stored_visits(db_path: Path) -> dict[int, int]:
    """patient id → number of 2-month visits stored (read with the sqlite3 module: no Django needed)."""
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT patient_id, COUNT(*) FROM assessment_visit WHERE timepoint = 'm2' "
                            "GROUP BY patient_id").fetchall()
    return dict(rows)

"""Shared fixtures: two sites, one user per role, and patients built through the real services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from pydicom.uid import generate_uid


def pytest_configure(config):
    if config.pluginmanager.hasplugin("django"):
        from django.conf import settings

        # A fast hasher: the suite logs users in hundreds of times (healthchecks does the same).
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        # Uploaded DICOM files go to a throw-away folder. No broker is set, so tasks (imports) run in the test's
        # process and tests see their result (tests/multiprocess runs the real worker path).
        import tempfile

        settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="seedtrack-media-")
        settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = None, True  # even if the shell sets one


# --- the order of the modules under pytest-xdist --dist loadfile -----------------------------------------------------
# Each module runs whole on one worker, handed out in collection order: the most expensive start first, so that no
# worker is left running a long module alone at the end. Seconds per module (setup + call + teardown summed over its
# tests, one 2-core xdist run, without the first test's database migration); a module not listed costs 0 and keeps
# its place after the listed ones. The tests of a module keep their order. Refresh with --durations=0 when it drifts.
MODULE_COST_S = {
    "tests/assessment/test_cohort.py": 140,
    "tests/assessment/test_populations.py": 61,
    "tests/registry/test_query_parameters.py": 49,
    "tests/reports/test_cohort_plots.py": 48,
    "tests/integrity/test_typed_values.py": 45,
    "tests/test_deployment.py": 36,
    "tests/integrity/test_reviewer_dates.py": 35,
    "tests/multiprocess/test_worker.py": 32,
    "tests/assessment/test_dashboard.py": 28,
    "tests/registry/test_authorization_matrix.py": 27,
    "tests/dosimetry/test_commands.py": 27,
    "tests/registry/test_free_text.py": 25,
    "tests/reports/test_plots_threads.py": 23,
    "tests/dosimetry/test_plan_of_record.py": 22,
    "tests/test_settings.py": 22,
    "tests/assessment/test_followup_services.py": 22,
    "tests/browser/test_dashboard_browser.py": 21,
    "tests/concurrency/test_lost_updates.py": 18,
    "tests/assessment/test_cohort_report_command.py": 17,
    "tests/reports/test_plots.py": 17,
    "tests/concurrency/test_concurrent_saves.py": 16,
    "tests/browser/test_csp_browser.py": 15,
    "tests/integrity/test_reviewer_free_text.py": 14,
    "tests/multiprocess/test_web_processes.py": 13,
    "tests/integrity/test_resave.py": 12,
    "tests/assessment/test_dashboard_identity.py": 12,
    "tests/browser/test_registry_browser.py": 12,
    "tests/registry/test_views.py": 12,
}


def pytest_collection_modifyitems(config, items):
    """Put the modules in descending MODULE_COST_S order (stable: unlisted modules, and the tests inside any module,
    keep the order they were collected in)."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.nodeid.split("::", 1)[0], index)
    items.sort(key=lambda item: (-MODULE_COST_S.get(module := item.nodeid.split("::", 1)[0], 0), first[module]))


PASSWORD = "test-pass-123"


@pytest.fixture
def sites(db):
    from registry.models import Site

    return {
        "A": Site.objects.create(code="AAA", name="Site A"),
        "B": Site.objects.create(code="BBB", name="Site B"),
    }


@pytest.fixture
def make_user(db, sites):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry.models import SiteMembership
    from registry.roles import ensure_roles

    ensure_roles()

    def make(username: str, role: str, site_keys=("A",)):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        for key in site_keys:
            SiteMembership.objects.create(user=user, site=sites[key])
        return user

    return make


@pytest.fixture
def users(make_user):
    from registry import roles

    return {
        "nurse": make_user("nurse_a", roles.NURSE, ("A",)),
        "nurse_b": make_user("nurse_b", roles.NURSE, ("B",)),
        "physician": make_user("physician_a", roles.PHYSICIAN, ("A",)),
        "data_manager": make_user("dm", roles.DATA_MANAGER, ()),
        "reviewer": make_user("reviewer_a", roles.REVIEWER, ("A",)),
    }


PATIENT_DATA = {
    "record_number": "MRN-1",
    "family_name": "Doe",
    "given_name": "Jane",
    "sex": "F",
    "birth_date": dt.date(1960, 5, 17),
    "diagnosis_date": dt.date(2012, 3, 1),
    "histology": "papillary",
    "surgery_extent": "total",
    "surgery_date": dt.date(2012, 3, 20),
    "t_category": "T2",
    "n_category": "N1b",
    "m_category": "M0",
}


@pytest.fixture
def make_patient(users, sites):
    from registry import services

    def make(site_key: str = "A", **overrides):
        data = {**PATIENT_DATA, **overrides}
        return services.patient_create(user=users["data_manager"], site=sites[site_key], data=data)

    return make


@pytest.fixture
def eligible_patient(make_patient, users):
    """A patient whose facts satisfy every default eligibility criterion."""
    from registry import services

    user = users["data_manager"]
    patient = make_patient()
    lesion = services.lesion_save(user=user, patient=patient, data={
        "region": "cervical_node", "cervical_level": "III", "side": "left", "nodal": True,
        "biopsy_date": dt.date(2018, 1, 5), "biopsy_result": "metastatic", "iodine_uptake": "no",
        "baseline_long_mm": Decimal("28"), "baseline_short_mm": Decimal("20"), "baseline_third_mm": Decimal("24"),
    })
    for day in (dt.date(2013, 1, 10), dt.date(2014, 2, 10), dt.date(2015, 3, 10), dt.date(2016, 4, 10)):
        services.iodine_course_save(user=user, patient=patient, data={
            "date": day, "activity_value": Decimal("160"), "activity_unit": "mCi"}, uptakes={lesion.pk: "no"})
    services.rair_update(user=user, patient=patient, data={
        "rair2_present": True, "rair2_date": dt.date(2016, 6, 1), "rair2_evidence": "lost uptake"})
    services.eligibility_save(user=user, patient=patient, data=ELIGIBLE_LABS)
    patient.refresh_from_db()
    return patient


ELIGIBLE_LABS = {
    "assessment_date": dt.date(2018, 2, 1),
    "planned_implant_date": dt.date(2018, 2, 5),
    "labs_date": dt.date(2018, 2, 1),
    "wbc_value": Decimal("5.2"), "wbc_unit": "×10⁹/L",
    "hemoglobin_value": Decimal("13.1"), "hemoglobin_unit": "g/dL",
    "platelets_value": Decimal("210"), "platelets_unit": "×10⁹/L",
    "pta_pct": Decimal("92"),
    "alt_u_per_l": Decimal("30"), "alt_uln_u_per_l": Decimal("40"),
    "ast_u_per_l": Decimal("28"), "ast_uln_u_per_l": Decimal("40"),
    "ecg": "normal", "kps": 90,
    "tgab_iu_per_ml": Decimal("12"), "tgab_cutoff_iu_per_ml": Decimal("115"),
    "biopsy_proven_metastasis": True, "lesion_without_iodine_uptake": True,
    "severe_cardiopulmonary_insufficiency": False, "severe_hepatic_insufficiency": False,
    "severe_renal_insufficiency": False, "severe_coagulopathy": False, "cachexia": False,
    "concurrent_radio_or_chemotherapy": False, "immunotherapy": False,
}


@pytest.fixture
def login(client):
    def do(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return do



@pytest.fixture
def procedure(eligible_patient, users):
    from dosimetry import services
    from dosimetry.models import SeedModel

    proc, _ = services.procedure_save(user=users["nurse"], patient=eligible_patient,
                                      lesions=eligible_patient.lesions.all(), data={
        "date": dt.date(2018, 2, 5), "operator": "Dr Test", "seed_model": SeedModel.objects.get(code="6711"),
        "seeds_implanted": 8, "activity_per_seed_mbq": Decimal("25.0"),
        "activity_calibration_date": dt.date(2018, 2, 5), "prescription_gy": Decimal("120"),
    })
    return proc


@pytest.fixture
def export(tmp_path):
    """Write a pre-plan export (8 seeds of 0.858 U in a 1 cm GTV sphere) and return a function reading it.

    The files carry the ``procedure`` fixture's patient (PatientID MRN-1, PatientName DOE^JANE) unless
    ``patient=(id, name)`` says otherwise."""
    from demo.dosimetry_data import write_seed_export
    from dosimetry.sources import get_seed_model

    frame_uid, study_uid = generate_uid(), generate_uid()
    positions = np.array([[x, y, z] for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.35, 0.35)])
    when = dt.datetime(2018, 2, 5, 12, 0)

    def make(name="pre", frame=frame_uid, shift_cm=0.0, study=study_uid, patient=("MRN-1", "DOE^JANE"),
             seed_positions=positions, prescription_gy=120.0):
        from demo.dicom_synth import SyntheticPatient

        paths = write_seed_export(
            tmp_path / name, seed_positions + shift_cm, 0.858, when, when, get_seed_model("6711"),
            prescription_gy=prescription_gy, gtv_radius_cm=1.0, axis_cm=np.arange(-2.4, 2.4001, 0.2),
            frame_uid=frame, study_uid=study, with_ct=False, patient=SyntheticPatient(*patient))
        return [(p.name, p.read_bytes()) for p in paths]

    return make


# --- the demo cohort, built once per session ------------------------------------------------------------------------
# Building the 42-patient demo (registry, implants with a DICOM-imported plan, follow-up) through the real services
# takes about 10 s of CPU; a dozen tests read it. It is built once per session, in a transaction rolled back at once,
# and every row of every table is kept (about 5 000 rows). A test asking for it gets those rows put back in its own
# transaction (rolled back after it, as any test's writes) in a few milliseconds; a transactional (browser) test gets
# them committed, and the flush after it removes them. Files the build stored (the DICOM export) stay in MEDIA_ROOT.

# Tables no snapshot touches: the migration history of the test database.
_NOT_SNAPSHOT = {"django_migrations"}


@dataclass(frozen=True)
class DemoSnapshot:
    """Every row of every table (in column order) after the build, the tables the base left empty, and what the
    build reported (``followup_added``: the visits ``add_demo_followup`` wrote)."""

    tables: tuple[tuple[str, tuple[str, ...], tuple[tuple, ...]], ...]
    empty_before: frozenset[str]
    followup_added: int = 0


def _tables(connection) -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if t not in _NOT_SNAPSHOT)


def _take_snapshot(connection, empty_before: frozenset[str], **reported) -> DemoSnapshot:
    quote = connection.ops.quote_name
    tables = []
    with connection.cursor() as cursor:
        for table in _tables(connection):
            cursor.execute(f"SELECT * FROM {quote(table)}")
            rows = tuple(cursor.fetchall())
            tables.append((table, tuple(col[0] for col in cursor.description), rows))
    return DemoSnapshot(tuple(tables), empty_before, **reported)


def _empty_tables(connection) -> frozenset[str]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        empty = set()
        for table in _tables(connection):
            cursor.execute(f"SELECT 1 FROM {quote(table)} LIMIT 1")
            if cursor.fetchone() is None:
                empty.add(table)
    return frozenset(empty)


def restore_snapshot(snapshot: DemoSnapshot) -> None:
    """Make the database hold exactly the snapshot's rows, in the caller's transaction.

    Refuses (naming the tables) when a table that was empty before the build holds rows: a fixture that wrote before
    this one would be silently erased — ask for the demo fixture first."""
    from django.db import connection, transaction

    written = sorted(snapshot.empty_before - _empty_tables(connection))
    if written:
        raise RuntimeError(f"demo snapshot: tables {', '.join(written)} already hold rows written before the demo "
                           "was put back; allowed: the demo fixture set up before any fixture that writes")
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        # Foreign keys are deferred (checked at commit) on SQLite and PostgreSQL: the order of tables is free.
        for table, _, _ in snapshot.tables:
            cursor.execute(f"DELETE FROM {quote(table)}")
        for table, columns, rows in snapshot.tables:
            if not rows:
                continue
            per_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            head = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
            batch = max(1, 900 // len(columns))  # under SQLite's oldest limit of 999 parameters per statement
            for start in range(0, len(rows), batch):
                chunk = rows[start:start + batch]
                cursor.execute(head + ", ".join([per_row] * len(chunk)), [v for row in chunk for v in row])
    forget_cached_rows()


@pytest.fixture(autouse=True)
def _no_dashboard_built_by_another_test():
    """Each test starts with no built dashboard in this process. The dashboard's key holds the data version and the
    site ids, and both roll back with a test's transaction (SQLite reuses the ids too): the next test on the worker
    that makes as many writes reaches the same key and would be served the board built from the other test's rows
    (the likely cause of CI's failure of ``test_a_built_dashboard_is_not_served_the_next_day``, not reproduced
    locally)."""
    from assessment.views import clear_dashboard_cache

    clear_dashboard_cache()


def forget_cached_rows() -> None:
    """After the database's rows were replaced (snapshot put back, or its transaction rolled back): the cached
    content types may carry other ids. (Built dashboards are forgotten before every test:
    :func:`_no_dashboard_built_by_another_test`.)"""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def _build_demo_snapshots(connection, empty_before: frozenset[str]) -> dict[str, DemoSnapshot]:
    """Build the demo in a transaction rolled back at once; the two snapshots of :func:`demo_snapshots`."""
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from demo.assessment_data import add_demo_followup
    from demo.dosimetry_data import add_demo_procedures
    from demo.registry_data import load_demo_cohort

    with transaction.atomic():
        load_demo_cohort()
        author = get_user_model().objects.get(username="datamanager")
        add_demo_procedures(author)
        added = add_demo_followup(author)
        followup = _take_snapshot(connection, empty_before, followup_added=added)
        call_command("load_demo_cohort", stdout=io.StringIO())
        command = _take_snapshot(connection, empty_before, followup_added=added)
        transaction.set_rollback(True)
    return {"followup": followup, "command": command}


def _media_files(root) -> set[str]:
    from pathlib import Path

    root = Path(root)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _shared_demo_snapshots(shared, connection, empty_before: frozenset[str]) -> dict[str, DemoSnapshot]:
    """The snapshots built once for all the workers of an xdist run (SQLite), under a lock in their shared temporary
    folder: the first worker asking builds them and stores them there (a pickle, and a copy of the files the build
    wrote to its MEDIA_ROOT); the others wait for the lock, read them and copy those files to their own MEDIA_ROOT.
    A worker's database is migrated as the builder's was (same tables), and ``empty_before`` is its own."""
    import dataclasses
    import fcntl
    import pickle
    import shutil
    from pathlib import Path

    from django.conf import settings

    shared.mkdir(exist_ok=True)
    media = Path(settings.MEDIA_ROOT)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        stored = shared / "snapshots.pickle"
        if not stored.exists():
            before = _media_files(media)
            snapshots = _build_demo_snapshots(connection, empty_before)
            for name in sorted(_media_files(media) - before):
                (shared / "media" / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(media / name, shared / "media" / name)
            partial = stored.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(snapshots, protocol=pickle.HIGHEST_PROTOCOL))
            partial.rename(stored)
            return snapshots
        snapshots = pickle.loads(stored.read_bytes())
        for name in sorted(_media_files(shared / "media")):
            (media / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared / "media" / name, media / name)
    return {key: dataclasses.replace(snap, empty_before=empty_before) for key, snap in snapshots.items()}


@pytest.fixture(scope="session")
def demo_snapshots(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo built once: ``"followup"`` = registry, implants and follow-up (the functions of demo/, as
    tests/assessment/test_demo_followup.py always built it), ``"command"`` = that plus what ``manage.py
    load_demo_cohort`` adds to it (the three patients in follow-up now): the state the command leaves.

    Under pytest-xdist on SQLite, once for all the workers (:func:`_shared_demo_snapshots`). On PostgreSQL each
    worker builds its own: the build's rollback leaves its sequences past the snapshot's ids, which a worker that
    only put the rows back would not have."""
    import os

    from django.conf import settings
    from django.db import connection

    assert settings.DEMO_MODE, "the demo app is installed in demo mode only (tests/settings.py sets it)"
    with django_db_blocker.unblock():
        empty_before = _empty_tables(connection)
        if os.environ.get("PYTEST_XDIST_WORKER") and connection.vendor == "sqlite":
            shared = tmp_path_factory.getbasetemp().parent / "demo-snapshots"
            snapshots = _shared_demo_snapshots(shared, connection, empty_before)
        else:
            snapshots = _build_demo_snapshots(connection, empty_before)
        forget_cached_rows()
    return snapshots


@pytest.fixture
def demo_cohort(demo_snapshots, db):
    """The demo cohort (registry, implants, follow-up) in this test's transaction; returns its data manager."""
    from django.contrib.auth import get_user_model

    restore_snapshot(demo_snapshots["followup"])
    yield get_user_model().objects.get(username="datamanager")
    forget_cached_rows()


@pytest.fixture
def demo_loaded(demo_snapshots, db):
    """What ``manage.py load_demo_cohort`` leaves: the demo cohort and the three patients in follow-up now;
    returns its data manager."""
    from django.contrib.auth import get_user_model

    restore_snapshot(demo_snapshots["command"])
    yield get_user_model().objects.get(username="datamanager")
    forget_cached_rows()


# --- a migrated SQLite file, for the tests that start processes of their own ---------------------------------------


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, tmp_path_factory):
    """pytest-django's test database; on SQLite, also a file copy of it taken right after its migration (SQLite's
    backup API, a few milliseconds), before any test could write to it or a transactional test flush it: the
    template :func:`migrated_sqlite_file` hands out instead of running one more ``manage.py migrate``."""
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():  # a test database was set up (a session
        import sqlite3  # whose tests use none has none: the name is still the development file's)

        path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
        with django_db_blocker.unblock():
            connection.ensure_connection()
            with sqlite3.connect(path) as copy:
                connection.connection.backup(copy)
            copy.close()
        _MIGRATED_COPY.append(path)
    return django_db_setup


_MIGRATED_COPY: list = []  # the file django_db_setup wrote (SQLite runs)


@pytest.fixture(scope="session")
def migrated_sqlite_file(request, tmp_path_factory):
    """An empty SQLite database, migrated once per session: the tests that start servers or workers of their own on
    a SQLite file (tests/concurrency, tests/multiprocess) copy it (:func:`copy_sqlite_file`) instead of migrating a
    new one each. On a SQLite run it is the copy of the test database as its migration left it (the same
    migrations of the same settings: no process start, no second migration); on a PostgreSQL run a real
    ``manage.py migrate`` writes it (about 7 s of CPU)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    request.getfixturevalue("django_db_setup")
    if _MIGRATED_COPY:
        return _MIGRATED_COPY[0]
    path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
    keep = {k: v for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "REDIS_URL", "DATABASE_URL"}}
    env = {**keep, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "SEEDTRACK_DEMO": "1",
           "DATABASE_URL": f"sqlite:///{path}"}
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return path


def copy_sqlite_file(template, destination) -> None:
    """A copy of a SQLite database file no process has open (its write-ahead log was checkpointed at close)."""
    import shutil

    shutil.copyfile(template, destination)


"""Issue 10 § Deployment defaults: the production start (scripts/serve.sh, run by `make serve`) serves pages with
DEBUG off; static files are collected by it (without them every DEBUG=0 page was a 500); error pages are friendly,
keep the navigation and never show the URL list."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parent.parent
HOST = "seedtrack.example.org"
MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


# --- friendly error pages (pytest-django runs requests with DEBUG off, as production does) ---------------------

def _nav(html: str) -> bool:
    return '<a href="/patients/">Patients</a>' in html and "Log out" in html


@pytest.mark.django_db
def test_404_says_why_keeps_the_navigation_and_lists_no_urls(client, login, users, make_patient):
    login(users["nurse"])
    for url in ("/no-such-page/", f"/patients/{make_patient('B').pk}/"):  # no page; another site's patient
        response = client.get(url)
        assert response.status_code == 404
        html = response.content.decode()
        assert "Page not found" in html and "patients of sites you do not belong" in html
        assert _nav(html)
        assert "URLconf" not in html and "admin/" not in html and "Using the" not in html


@pytest.mark.django_db
def test_403_names_what_the_role_does_not_allow(client, login, users):
    login(users["reviewer"])
    response = client.get("/patients/new/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You are not allowed to do this" in html
    assert "Your role does not allow this (registry.add_patient)." in html
    assert "reviewer_a (Reviewer)" in html
    assert _nav(html)


@pytest.mark.django_db
def test_a_failed_csrf_check_is_a_plain_403_page():
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The form could not be sent" in html and "Nothing was saved" in html
    assert "CSRF_FAILURE_VIEW" not in html  # Django's help text for developers


@pytest.mark.django_db
def test_400_for_a_host_this_server_does_not_answer_to(client):
    response = client.get("/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert "The request could not be handled" in response.content.decode()


@pytest.mark.django_db
def test_500_page_keeps_the_navigation_and_renders_with_the_database_down(rf, users):
    from django.db import OperationalError
    from django.urls import get_resolver
    from django.utils.functional import SimpleLazyObject

    from config.errors import server_error

    assert get_resolver().resolve_error_handler(500) is server_error
    request = rf.get("/patients/")
    request.user = users["physician"]
    response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong on the server" in response.content.decode()
    assert _nav(response.content.decode())

    def database_down():
        raise OperationalError("connection refused")

    request = rf.get("/patients/")
    request.user = SimpleLazyObject(database_down)
    response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on the server" in html and "Log out" not in html


@pytest.mark.django_db
def test_an_unhandled_error_answers_the_friendly_500(client, login, users, monkeypatch):
    from registry import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "render", broken)
    login(users["nurse"])
    client.raise_request_exception = False
    response = client.get("/patients/")
    assert response.status_code == 500
    assert "Something went wrong on the server" in response.content.decode()
    assert "Traceback" not in response.content.decode() and "boom" not in response.content.decode()


# --- static files with DEBUG off ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_pages_render_with_debug_off_once_static_files_are_collected(tmp_path, client):
    """The finding: with DEBUG=0 (manifest storage) every page was a 500 until collectstatic had run."""
    from django.core.management import call_command

    client.raise_request_exception = False
    with override_settings(STORAGES=MANIFEST_STORAGES, STATIC_ROOT=str(tmp_path / "static")):
        before = client.get("/login/")
        assert before.status_code == 500  # no manifest yet: even the 500 page's stylesheet cannot be named
        assert "Something went wrong on the server" in before.content.decode()  # config.errors.PLAIN_500
        call_command("collectstatic", "--noinput", verbosity=0)
        response = client.get("/login/")
        assert response.status_code == 200
        assert re.search(r'href="/static/seedtrack\.[0-9a-f]{12}\.css"', response.content.decode())


# --- the production start in a subprocess ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _production_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    drop = {"DEBUG", "SEEDTRACK_DEMO", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "DATABASE_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_BROKER_URL", "REDIS_URL"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": HOST, "DATABASE_URL": database_url,
            # production runs a task queue (check --deploy refuses without one); these tests send no task
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
            "STATIC_ROOT": str(tmp_path / "static"), "MEDIA_ROOT": str(tmp_path / "media"),
            "PY": sys.executable, **extra}


@pytest.fixture
def production_database(tmp_path):
    """A fresh database for the subprocess: SQLite in tmp_path, or a new PostgreSQL database on the server of
    DATABASE_URL when the suite runs on PostgreSQL (dropped afterwards)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'production.sqlite3'}"
        return
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    name = f"seedtrack_serve_{secrets.token_hex(4)}"
    admin = {"host": cfg["HOST"] or None, "port": cfg["PORT"] or None, "user": cfg["USER"] or None,
             "password": cfg["PASSWORD"] or None, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _get(url: str, **headers: str):
    request = urllib.request.Request(url, headers={"Host": HOST, **headers})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        return exc


def test_production_start_migrates_collects_checks_and_serves(tmp_path, production_database):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = _production_env(tmp_path, production_database, BIND=f"127.0.0.1:{port}")
    with log.open("w") as out:
        server = subprocess.Popen(["sh", "scripts/serve.sh"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _attempt in range(400):  # migrations and collectstatic on a shared, busy machine: up to 400 polls
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the production start never listened:\n" + log.read_text()[-3000:])
        text = log.read_text()
        assert "System check identified no issues" in text  # check --deploy silent, or gunicorn never starts
        assert "static files copied" in text

        # Behind the TLS proxy (X-Forwarded-Proto: https) the login page is served, with the headers.
        page = _get(f"{base}/login/", **{"X-Forwarded-Proto": "https"})
        assert page.status == 200, page.read()[:500]
        html = page.read().decode()
        assert "Log in" in html and "Demo mode" not in html
        assert page.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert "Secure" in page.headers["Set-Cookie"]
        css = re.search(r'href="(/static/seedtrack\.[0-9a-f]{12}\.css)"', html).group(1)
        static = _get(f"{base}{css}", **{"X-Forwarded-Proto": "https"})
        assert static.status == 200 and "max-age" in static.headers["Cache-Control"]  # WhiteNoise's, long-lived

        # Plain HTTP is redirected to HTTPS; a host the server does not answer to is refused.
        plain = _get(f"{base}/login/")
        assert plain.status == 301 and plain.headers["Location"] == f"https://{HOST}/login/"
        assert _get(f"{base}/login/", Host="other.example", **{"X-Forwarded-Proto": "https"}).status == 400
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_production_start_without_secret_key_stops_before_anything_runs(tmp_path, production_database):
    env = _production_env(tmp_path, production_database)
    del env["SECRET_KEY"]
    result = subprocess.run(["sh", "scripts/serve.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "SeedTrack: SECRET_KEY is not set; production (DEBUG off) needs it — see README § Deployment"]
    assert result.stdout == ""  # no migration ran


def test_gunicorn_without_secret_key_stops_instead_of_restarting_workers(tmp_path, production_database):
    """A worker exiting 1 is restarted by gunicorn for ever; config/wsgi.py exits with gunicorn's boot error."""
    env = _production_env(tmp_path, production_database)
    del env["SECRET_KEY"]
    result = subprocess.run([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                             f"127.0.0.1:{_free_port()}", "--workers", "2"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SeedTrack: SECRET_KEY is not set; production (DEBUG off) needs it" in result.stderr
    assert "Worker failed to boot" in result.stderr

"""Playwright driving Debian's Chromium. Skipped (with the reason) where Chromium is missing, unless CI
sets SEEDTRACK_REQUIRE_BROWSER=1, in which case a missing browser is a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]



@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, one per session; on an in-memory SQLite database (whose one connection the
    server's threads share with the test) it answers one request at a time: a visit form's preview request still
    running while its save arrives broke the shared connection's transaction ("You can't execute queries until the
    end of the 'atomic' block", seen on a loaded machine). On PostgreSQL every request thread has its own connection
    and the server stays threaded. Django closes each connection of a server that is not threaded, so the browser's
    parallel requests queue instead of waiting on a kept-alive one."""
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread
    from pytest_django.live_server_helper import LiveServer

    class OneAtATimeServer(WSGIServer):
        def __init__(self, *args, connections_override=None, **kwargs):
            super().__init__(*args, **kwargs)  # the thread itself uses the shared connections (LiveServerThread.run)

    class OneRequestAtATime(LiveServerThread):
        server_class = OneAtATimeServer

    addr = request.config.getvalue("liveserver") or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    if server.thread.connections_override:
        server.thread.__class__ = OneRequestAtATime
    server.start()
    yield server
    server.stop()


def _chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


@pytest.fixture(scope="session")
def browser():
    if not _chromium_available():
        if os.environ.get("SEEDTRACK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} and SEEDTRACK_REQUIRE_BROWSER=1")
        pytest.skip(f"browser tests skipped: Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop running in this thread for the whole session; the ORM calls of
    # the tests (and the database flush between them) are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def shot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def browser_login(page, live_server):
    def do(username: str, password: str):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)  # nurses land on the worklist, others on the list
        return page

    return do


@pytest.fixture
def demo(demo_snapshots, db):
    """The demo cohort with its implants and follow-up (built once per session, tests/conftest.py), committed for
    the live server; the flush after the (transactional) test removes it. Returns the demo password."""
    from demo.registry_data import DEMO_PASSWORD
    from tests.conftest import forget_cached_rows, restore_snapshot

    restore_snapshot(demo_snapshots["followup"])
    yield DEMO_PASSWORD
    forget_cached_rows()

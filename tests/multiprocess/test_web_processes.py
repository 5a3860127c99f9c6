"""Two web processes (two gunicorn servers) on one database and the shared Redis cache: a save through one is
seen at once on the other's dashboard, whose built cohort is kept in Redis."""

from __future__ import annotations

import http.cookiejar
import socket
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest

from tests.multiprocess.conftest import POLL_S
from tests.multiprocess.stack import PASSWORD


class _Form(HTMLParser):
    """The fields of the page's POST form with their current values (what a browser would send)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One session cookie for both servers (the session lives in the shared database)."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, url: str) -> str:
        with self.opener.open(url, timeout=60) as response:
            return response.read().decode()

    def submit(self, url: str, **values: str) -> str:
        form = _Form()
        form.feed(self.get(url))
        data = urllib.parse.urlencode({**form.fields, **values}).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        with self.opener.open(request, timeout=60) as response:
            return response.read().decode()


def _serve(stack, name: str, redis_prefix: str) -> str:
    port = _free_port()
    server = stack.start(["-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                          "--workers", "1"], f"{name}.log", REDIS_URL=stack.redis, CACHE_KEY_PREFIX=redis_prefix)
    for _ in range(240):  # a bounded number of polls while it starts
        assert server.poll() is None, stack.log(f"{name}.log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(POLL_S)
    pytest.fail(f"{name} never listened:\n" + stack.log(f"{name}.log"))


def test_a_save_through_one_web_process_is_seen_at_once_on_the_others_dashboard(stack, queue):
    import redis

    prefix = f"seedtrack-test-{queue}"
    one, other = _serve(stack, "web1", prefix), _serve(stack, "web2", prefix)
    browser = Browser()
    browser.submit(f"{one}/login/", username="physician_a", password=PASSWORD)

    before = browser.get(f"{other}/dashboard/swimmer.csv")
    assert "WITHDRAWN" not in before
    cached = redis.Redis.from_url(stack.redis).keys(f"{prefix}:*dashboard*")
    assert cached, "the other process keeps its built dashboard in Redis"
    assert browser.get(f"{one}/dashboard/swimmer.csv") == before  # the same cohort, from the shared cache

    page = browser.submit(f"{one}/patients/{stack.patient_pk}/follow-up-status/", status="withdrawn",
                          status_date="2018-05-01")
    assert "follow-up status saved" in page
    after = browser.get(f"{other}/dashboard/swimmer.csv")
    assert "WITHDRAWN" in after  # at once: the save bumped the data version the other process keys by

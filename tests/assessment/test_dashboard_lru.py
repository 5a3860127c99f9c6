"""The per-process cache of built dashboards (assessment.views._BoardLRU): bounded, least recently used out,
expiring, and the live object itself (no pickled copy)."""

from __future__ import annotations

import datetime as dt
import time

from hypothesis import given
from hypothesis import strategies as st

from assessment.views import _BoardLRU
from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests


@given(st.lists(st.sampled_from("abcdefgh"), max_size=40), st.integers(1, 4))
def test_keeps_the_most_recently_used_keys(ops, items):
    lru = _BoardLRU(items, ttl_s=60)
    boards = {k: object() for k in "abcdefgh"}
    recent: list[str] = []  # model: keys by last use, most recent last
    for k in ops:
        if lru.get(k) is None:
            lru.set(k, boards[k])
        if k in recent:
            recent.remove(k)
        recent.append(k)
        del recent[:-items]
    for k in "abcdefgh":
        got = lru.get(k) if k in recent else lru.boards.get(k)
        assert (got is boards[k]) if k in recent else got is None


def test_an_expired_board_is_not_returned(monkeypatch):
    lru = _BoardLRU(2, ttl_s=120)
    board = object()
    lru.set("k", board)
    assert lru.get("k") is board
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 121)
    assert lru.get("k") is None
    assert "k" not in lru.boards


def test_a_built_dashboard_pickles_for_the_shared_cache_and_draws_the_same(six):  # noqa: F811
    # With REDIS_URL the built dashboard is pickled; its lazily made figure rows (dashboard.LazyRows) must survive
    # the round trip, before and after being made, and give the same CSVs.
    import pickle

    from assessment import dashboard
    from assessment.cohort import load_cohort
    from assessment.cohort_data import CohortFilter

    board = dashboard.build(load_cohort(None, CohortFilter()))
    before = pickle.loads(pickle.dumps(board))  # rows not made yet
    csvs = {k: board.figure(k).csv() for k in ("spider", "swimmer", "tg")}
    after = pickle.loads(pickle.dumps(board))  # rows made
    for k, text in csvs.items():
        assert text.count("\n") > 3  # the six patients' rows, not an empty CSV
        assert before.figure(k).csv() == text == after.figure(k).csv()


def test_a_built_dashboard_is_not_served_the_next_day(client, login, users, build, monkeypatch):  # noqa: F811
    # No write overnight leaves the data version where it was; the 2-month window of a patient implanted 30 days
    # ago is "not closed yet (today is day 30)" today and day 31 tomorrow, so tomorrow's page must be built anew.
    from django.utils import timezone

    today = timezone.localdate()
    build(implant=today - dt.timedelta(days=30), sizes={"baseline": {"L1": 20}})
    login(users["physician"])
    assert "(today is day 30)" in client.get("/dashboard/").content.decode()
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: today + dt.timedelta(days=1))
    page = client.get("/dashboard/").content.decode()
    assert "(today is day 31)" in page and "(today is day 30)" not in page


def test_a_changed_protocol_is_not_served_the_dashboard_built_under_the_old_one(client, login, users, six,  # noqa: F811
                                                                                settings):
    # Disease control (CR+PR+SD) counts 4 of the 5 patients evaluable at 2 months (P1 PR, P2 SD, P3 PR, P4 PR;
    # not P5, PD); objective response (CR+PR) counts 3. The data version does not move when the protocol changes.
    login(users["physician"])
    before = client.get("/dashboard/").content.decode()
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "followup": {
        **settings.SEEDTRACK_PROTOCOL["followup"], "remission_definition": "orr"}}
    after = client.get("/dashboard/").content.decode()
    assert "4/5 (80.00%, 95% CI 37.55–96.38)" in before and "4/5 (80.00%" not in after
    assert "3/5 (60.00%, 95% CI 23.07–88.24)" in after

"""The per-process cache of built dashboards (assessment.views._BoardLRU): bounded, least recently used out,
expiring, and the live object itself (no pickled copy)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from assessment.views import _BoardLRU


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

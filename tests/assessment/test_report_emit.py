"""The report emitters of ``assessment.cohort_formats``: ``json_text`` writes exactly what
``json.dumps(..., ensure_ascii=False, indent=2, allow_nan=False)`` writes, ``_plain`` keeps its rules when it
caches them per type, and the command prints the same JSON as before."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, IntEnum
from fractions import Fraction

import numpy as np
import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from assessment import cohort_formats
from assessment.cohort import load_cohort
from assessment.cohort_data import CohortFilter
from assessment.cohort_formats import _plain, json_text
from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests


def dumps(value):
    return json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)


def outcome(fn, value):
    """The text, or the type and message of the error."""
    try:
        return fn(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return (type(exc), str(exc))


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "P-0001", 'quote " and \\ backslash', "tab\tnew\nline", "é ± — ³ µ", "\x00\x1f\x7f", "\ud800"])
leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.floats(allow_nan=False, allow_infinity=False) | text)
json_ready = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5) | st.lists(text, max_size=6) | st.tuples(inner, inner)
    | st.dictionaries(text, inner, max_size=5),
    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(json_ready)
def test_json_text_equals_json_dumps_for_json_ready_values(value) -> None:
    assert json_text(value) == dumps(value)


odd_leaves = st.sampled_from([math.nan, math.inf, -math.inf, Decimal("1.5"), dt.date(2020, 1, 2), {1, 2}, b"x",
                              object])
odd_keys = st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from([(1, 2)])


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    leaves | odd_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text | odd_keys, inner, max_size=4),
    max_leaves=20))
def test_json_text_gives_the_same_text_or_the_same_error_outside_plain_json(value) -> None:
    """NaN, keys that are not strings, sets, bytes…: the same text as json.dumps, or its very error."""
    assert outcome(json_text, value) == outcome(dumps, value)


def test_json_text_details_that_are_easy_to_get_wrong() -> None:
    assert json_text({}) == "{}" and json_text([]) == "[]" and json_text({"a": {}, "b": []}) == dumps({"a": {}, "b": []})
    assert json_text({"a": ["x", "y"]}) == '{\n  "a": [\n    "x",\n    "y"\n  ]\n}'
    assert json_text([1.0, 1e16, -0.0, 2**64, True, None]) == dumps([1.0, 1e16, -0.0, 2**64, True, None])
    assert json_text({"ü": "—"}) == '{\n  "ü": "—"\n}'  # non-ASCII kept
    assert json_text(("a", ("b",))) == dumps(("a", ("b",)))

    class Score(IntEnum):
        ONE = 1
    assert json_text([Score.ONE, np.float64(0.1)]) == dumps([Score.ONE, np.float64(0.1)]) == "[\n  1,\n  0.1\n]"
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="Circular reference"):
        json_text(cyclic)
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_text({"a": [math.nan]})


# --- _plain: the rule found once per type ------------------------------------------------------------------------

class Colour(Enum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    day: dt.date
    ratio: Fraction


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    ids: tuple[str, ...]
    values: tuple[object, ...]
    by_key: dict


def test_plain_rules() -> None:
    x = Outer("a", Inner(dt.date(2020, 1, 2), Fraction(1, 4)), ("P1", "P2"),
              (Colour.RED, None, True, 3, 2.5, math.nan, -math.inf, Decimal("0.5"), np.int64(7), np.float32(0.5),
               dt.datetime(2020, 1, 2, 3, 4), ["x", 1]),
              OrderedDict([(1, "one"), (Colour.RED, Inner(dt.date(2021, 5, 6), Fraction(3)))]))
    expected = {"name": "a", "inner": {"day": "2020-01-02", "ratio": 0.25}, "ids": ["P1", "P2"],
                "values": ["red", None, True, 3, 2.5, None, None, 0.5, 7, 0.5, "2020-01-02T03:04:00", ["x", 1]],
                "by_key": {"1": "one", "Colour.RED": {"day": "2021-05-06", "ratio": 3.0}}}
    assert _plain(x) == expected
    assert _plain(x) == expected  # again, from the kept rules
    assert type(_plain(np.int64(7))) is int and type(_plain(("a",))) is list
    with pytest.raises(TypeError, match="cannot make set JSON-ready"):
        _plain({1})


# --- the command ---------------------------------------------------------------------------------------------------

def test_command_json_is_json_dumps_of_the_report(six, monkeypatch):  # noqa: F811
    fixed = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    monkeypatch.setattr(cohort_formats.timezone, "now", lambda: fixed)
    out = io.StringIO()
    call_command("cohort_report", "--format", "json", stdout=out)
    rep = cohort_formats.report(load_cohort(None, CohortFilter()))
    assert out.getvalue() == dumps(rep) + "\n"
    assert rep["table1"]["rows"][2]["not_assessed"]  # the listings of study IDs are in it (P4 at 12 months)
    assert set(rep) >= {"populations", "flow", "table4"}


def test_csv_report_leaves_out_the_listings_it_never_printed(six):  # noqa: F811
    c = load_cohort(None, CohortFilter())
    assert "populations" not in cohort_formats.report(c, listings=False)
    rows = cohort_formats.report_csv(c).splitlines()
    assert not any(r.startswith(("populations", "flow")) for r in rows)
    assert any(r.startswith("table4,") for r in rows)

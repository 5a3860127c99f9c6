"""Protocol section ``dashboard``: ``aggregate_above_items`` (default 300) is checked when read, reaches every
dashboard figure, and an aggregated figure's caption says how it is drawn; the CSVs keep every row."""

import csv
import io
import re

import pytest

from assessment import dashboard
from assessment.cohort import load_cohort
from assessment.cohort_data import CohortFilter
from assessment.protocol import DashboardSettings
from common.protocol import ProtocolError, section_settings
from config.protocol import DEFAULT_PROTOCOL
from reports.plots import DEFAULT_SETTINGS
from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests


def test_default_is_300_everywhere():
    assert DEFAULT_PROTOCOL["dashboard"]["aggregate_above_items"] == 300
    assert DashboardSettings().aggregate_above_items == DEFAULT_SETTINGS.aggregate_above == 300
    assert DashboardSettings.from_protocol({}).aggregate_above_items == 300
    assert DashboardSettings.from_protocol({"aggregate_above_items": 1000}).aggregate_above_items == 1000


@pytest.mark.parametrize(("value", "allowed"), [(0, "a whole number ≥ 1 (items)"), (2.5, "a whole number"),
                                                 ("300", "a whole number"), (True, "a whole number")])
def test_a_bad_threshold_is_refused_naming_the_key(settings, value, allowed):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "dashboard": {"aggregate_above_items": value}}
    with pytest.raises(ProtocolError) as exc:
        section_settings("dashboard", DashboardSettings)
    assert str(exc.value) == f"protocol dashboard.aggregate_above_items = {value!r}: got {value!r}; allowed: {allowed}"


def test_an_unknown_key_is_refused(settings):
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "dashboard": {"aggregate_above": 3}}
    with pytest.raises(ProtocolError, match=r"^protocol dashboard.aggregate_above = 3: .*allowed: keys aggregate_above_items"):
        section_settings("dashboard", DashboardSettings)


def test_the_protocol_threshold_reaches_the_figures_and_their_captions(settings, six):  # noqa: F811
    """Six patients with a threshold of 2: every figure with more items than that is aggregated and says so."""
    settings.SEEDTRACK_PROTOCOL = {**settings.SEEDTRACK_PROTOCOL, "dashboard": {"aggregate_above_items": 2}}
    board = dashboard.build(load_cohort(None, CohortFilter()))
    small = dashboard.build(load_cohort(None, CohortFilter()), DashboardSettings(aggregate_above_items=300))
    for key in ("waterfall", "spider", "swimmer", "km", "os", "tg", "volume", "dose"):
        f, g = board.figure(key), small.figure(key)
        assert f.caption.startswith(g.caption + " ") and re.search(
            r"patients, more than 2: (shown as|a censoring mark)|Boxes of more than 2 volumes", f.caption), key
        assert f.csv() == g.csv()  # the CSV lists every item at any size
        f.build()  # and the aggregated figure draws
    assert board.figure("remission").caption == small.figure("remission").caption
    rows = list(csv.DictReader(io.StringIO(board.figure("waterfall").csv())))
    assert len(rows) == 6 and "shown as 2 bins of 3 patients" in board.figure("waterfall").caption

"""Cohorts up to the aggregation threshold (``PlotSettings.aggregate_above``, default 300) draw exactly what main
drew before the large-cohort figures of issue 12: the SVG element and the CSV of every dashboard figure, for 12
and for 300 patients (the threshold itself), are identical to main's: the SVG byte for byte, the CSV with its floats
to 12 significant digits (:func:`_csv_digest`). Digests computed from main (a0ba5a8; the CSV digests again from
the unchanged code on a machine whose last float digits differ) with this environment's matplotlib; inputs from
:mod:`tests.reports.cohort_inputs`."""

import hashlib
import re

import pytest

from reports import plots
from tests.reports.cohort_inputs import figures

MAIN = {  # (patients, figure): (SVG digest, CSV digest)
    (12, "remission"): ("f60a2f93b0a7552f", "44b260cbc8166b70"),
    (12, "waterfall"): ("25c693c1923df3cf", "75f8b5712a482a3a"),
    (12, "spider"): ("89c41a39aa862571", "d07e6520297bcc4a"),
    (12, "swimmer"): ("38c078ca33d7c9d2", "44a2fa3b358878aa"),
    (12, "km"): ("a1ea2c03b6663c31", "9733d4e45d2564dd"),
    (12, "tg"): ("a8f0d5c2d59700bb", "a84db9f12cbb5863"),
    (12, "volume"): ("d5d433f68f88f94d", "22415e227e9ec89f"),
    (12, "dose"): ("218b26120f0aaf4e", "b6ce59c44f2792ac"),
    (300, "remission"): ("38b4d9280f382803", "33a0ecc564f03a1f"),
    (300, "waterfall"): ("ece00a6b3759ef07", "e489ab2c1aa055ed"),
    (300, "spider"): ("e2a45b19ec93c58b", "8a2f9fb87ed8abdf"),
    (300, "swimmer"): ("dec475c23d3075ff", "92ccab137036cc76"),
    (300, "km"): ("4de01717d82bed3c", "710de3e368dafacf"),
    (300, "tg"): ("f57f116abcd6fd83", "2f41a6c227b0f5e0"),
    (300, "volume"): ("a3d1ade42aeec6ce", "a200349c15dbe98e"),
    (300, "dose"): ("55cbb86efcfdf2a3", "f2591376079e54da"),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def _csv_digest(text: str) -> str:
    """The CSV's digest with every float written to 12 significant digits: the CSVs carry full-precision values
    (e.g. Kaplan–Meier confidence limits through log and exp) whose last digit differs between CPUs' vectorised
    maths (the pinned Kaplan–Meier CSVs failed on another machine, SVGs equal); 12 digits still catch a changed rule."""
    return _digest(_FLOAT.sub(lambda m: format(float(m.group()), ".12g"), text))


@pytest.mark.parametrize("n", [12, 300])
def test_cohorts_up_to_the_threshold_draw_exactly_what_main_drew(n):
    got = {(n, name): (_digest(plots.svg_inline(build(), "t", "d")), _csv_digest(csv()))
           for name, (build, csv) in figures(n).items()}
    assert got == {k: v for k, v in MAIN.items() if k[0] == n}

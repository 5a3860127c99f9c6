"""Cohorts up to the aggregation threshold (``PlotSettings.aggregate_above``, default 300) draw exactly what main
drew before the large-cohort figures of issue 12: the SVG element and the CSV of every dashboard figure, for 12
and for 300 patients (the threshold itself), are byte-identical to main's. Digests computed from main (a0ba5a8)
with this environment's matplotlib; inputs from :mod:`tests.reports.cohort_inputs`."""

import hashlib

import pytest

from reports import plots
from tests.reports.cohort_inputs import figures

MAIN = {  # (patients, figure): (SVG digest, CSV digest)
    (12, "remission"): ("f60a2f93b0a7552f", "e7966403cf2642ff"),
    (12, "waterfall"): ("25c693c1923df3cf", "e61136b1b2909e27"),
    (12, "spider"): ("89c41a39aa862571", "fa5839a3b0acf6f4"),
    (12, "swimmer"): ("38c078ca33d7c9d2", "57b64f2ad82fce79"),
    (12, "km"): ("a1ea2c03b6663c31", "33ab610b1b6c1c3e"),
    (12, "tg"): ("a8f0d5c2d59700bb", "f9b1aa2528f9549f"),
    (12, "volume"): ("d5d433f68f88f94d", "c74ee176230fc945"),
    (12, "dose"): ("218b26120f0aaf4e", "8b6aada7e44fa9f4"),
    (300, "remission"): ("38b4d9280f382803", "988a81c9590a2d12"),
    (300, "waterfall"): ("ece00a6b3759ef07", "53e6692e04ae0ae9"),
    (300, "spider"): ("e2a45b19ec93c58b", "cd28f42ee1f48cba"),
    (300, "swimmer"): ("dec475c23d3075ff", "b04aec4bb562d0d1"),
    (300, "km"): ("4de01717d82bed3c", "2f00e3c05e81270f"),
    (300, "tg"): ("f57f116abcd6fd83", "81eb2a32e13b1ed6"),
    (300, "volume"): ("a3d1ade42aeec6ce", "c2e4f0a96824df20"),
    (300, "dose"): ("55cbb86efcfdf2a3", "d6c1a85cecb4dc06"),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("n", [12, 300])
def test_cohorts_up_to_the_threshold_draw_exactly_what_main_drew(n):
    got = {(n, name): (_digest(plots.svg_inline(build(), "t", "d")), _digest(csv()))
           for name, (build, csv) in figures(n).items()}
    assert got == {k: v for k, v in MAIN.items() if k[0] == n}

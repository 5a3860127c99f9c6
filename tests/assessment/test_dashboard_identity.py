"""The six-patient test cohort's dashboard figures (SVG element and CSV, per patient and per lesion) are
byte-identical to main's before the large-cohort aggregation (issue 12): a small cohort never takes the
aggregated path. The digests were computed from main (a0ba5a8) with this environment's matplotlib."""

import hashlib

import pytest

from tests.assessment.test_cohort import build, six  # noqa: F401 - fixtures shared with the service tests

MAIN = {
    ("", "remission"): ("c0817fbaaf7c0a72", "a1bf4d4e8c4cd5f4"),
    ("", "waterfall"): ("5c46df0827a9b940", "0416bc9bbec25c65"),
    ("", "spider"): ("d3565599c01e3a4d", "97d423f1d413d51d"),
    ("", "swimmer"): ("674e012ee18cd735", "1928a247c8215f93"),
    ("", "km"): ("862848b5f22a25b8", "9b35e6dede61f091"),
    ("", "os"): ("e3272fa791eacd4c", "b2e31af670b48855"),
    ("", "tg"): ("6763f0c34f655989", "b530dfa6da25087b"),
    ("", "volume"): ("0adaa4aa97700472", "cbb72a231dc1a2de"),
    ("", "dose"): ("a9f6b07951a3b91b", "23bb61acf27754d5"),
    ("?mode=per_lesion", "remission"): ("182a60b90cc3f49c", "d4fc2f8fe6590a79"),
    ("?mode=per_lesion", "waterfall"): ("29531723700c5ad4", "03008477c46c26a4"),
    ("?mode=per_lesion", "spider"): ("9ddc06998c01b451", "9f615a938a2cb831"),
    ("?mode=per_lesion", "swimmer"): ("6e81ed4d59d39b85", "84156d3730d505a6"),
    ("?mode=per_lesion", "km"): ("542c2f9971ec113a", "63c055ad2accc295"),
    ("?mode=per_lesion", "volume"): ("5891f72f10899e2e", "0afde749487070c2"),
    ("?mode=per_lesion", "dose"): ("bf3e1812b1a636de", "ea0a6665da484c3e"),
}


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


@pytest.mark.parametrize("mode", ["", "?mode=per_lesion"])
def test_small_cohort_figures_are_byte_identical_to_main(client, login, users, six, mode):  # noqa: F811
    login(users["data_manager"])
    got, want = {}, {}
    for (m, key), digests in MAIN.items():
        if m != mode:
            continue
        svg = client.get(f"/dashboard/{key}.svg{mode}")
        csv = client.get(f"/dashboard/{key}.csv{mode}")
        assert svg.status_code == csv.status_code == 200, key
        got[key], want[key] = (_digest(svg.content), _digest(csv.content)), digests
    assert got == want

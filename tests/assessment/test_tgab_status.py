"""TgAb against the assay cut-off (clinical reference §6.3, §8.2, §2.4): censored values are judged by what they
prove; "<10" with cut-off 115 is negative and never counted as positive; "<200" is indeterminate."""

from fractions import Fraction

import pytest

from assessment.thyroglobulin import Analyte as A
from assessment.thyroglobulin import (
    AtaCategory,
    ImagingStatus,
    TgAbReading,
    TgAbStatus,
    classify_response_to_therapy,
    parse_lab_value,
)


def reading(text: str, cutoff: float = 115, assay: str | None = "Roche Elecsys anti-Tg") -> TgAbReading:
    return TgAbReading(parse_lab_value(text, unit="IU/mL", analyte=A.TGAB), cutoff, assay)


@pytest.mark.parametrize("text, status, reason", [
    ("<10", TgAbStatus.NEGATIVE, "TgAb < 10 IU/mL is below the assay cut-off 115 IU/mL (Roche Elecsys anti-Tg): "
                                 "negative"),
    ("<115", TgAbStatus.NEGATIVE, "TgAb < 115 IU/mL is below the assay cut-off 115 IU/mL"),
    ("<200", TgAbStatus.INDETERMINATE, "TgAb < 200 IU/mL: the reported limit is above the assay cut-off 115 IU/mL "
                                       "(Roche Elecsys anti-Tg), so the true value may lie on either side: "
                                       "indeterminate"),
    (">115", TgAbStatus.POSITIVE, "TgAb > 115 IU/mL is above the assay cut-off 115 IU/mL"),
    (">100", TgAbStatus.INDETERMINATE, "the reported limit is below the assay cut-off 115 IU/mL"),
    ("=120", TgAbStatus.POSITIVE, "TgAb 120 IU/mL is at or above the assay cut-off 115 IU/mL"),
    ("115", TgAbStatus.POSITIVE, "at or above"),  # §8.2 "negative = below the cut-off": equal is positive
    ("114.99", TgAbStatus.NEGATIVE, "below"),
    ("20", TgAbStatus.NEGATIVE, "TgAb 20 IU/mL is below the assay cut-off 115 IU/mL"),  # §8.3 example
])
def test_status_and_reason(text, status, reason):
    r = reading(text)
    assert r.status is status
    assert reason in r.reason
    assert r.positive is (status is TgAbStatus.POSITIVE)
    assert r.negative is (status is TgAbStatus.NEGATIVE)


def test_status_agrees_with_what_the_value_proves_for_every_limit_and_cut_off():
    """Property: negative iff every possible true value is below the cut-off, positive iff every possible true
    value is at or above it, indeterminate otherwise; over limits and cut-offs on a 0.5 IU/mL grid."""
    grid = [Fraction(k, 2) for k in range(1, 61)]
    for cut in grid[::3]:
        for x in grid:
            text = f"{float(x):g}"
            assert reading(text, float(cut)).status is (TgAbStatus.POSITIVE if x >= cut else TgAbStatus.NEGATIVE)
            # "<x": true value in [0, x)  → all below the cut-off iff x <= cut
            assert reading("<" + text, float(cut)).status is (
                TgAbStatus.NEGATIVE if x <= cut else TgAbStatus.INDETERMINATE)
            # ">x": true value in (x, ∞) → all at or above the cut-off iff x >= cut
            assert reading(">" + text, float(cut)).status is (
                TgAbStatus.POSITIVE if x >= cut else TgAbStatus.INDETERMINATE)


def test_ata_response_uses_the_tgab_status():
    tg = parse_lab_value("0.1")
    neg = classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=tg, tgab=reading("<10"))
    assert neg.category is AtaCategory.EXCELLENT and neg.tgab_positive is False
    ind = classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=tg, tgab=reading("<200"))
    assert ind.category is AtaCategory.INDETERMINATE
    assert ind.tgab_positive is None and ind.tgab_rising is None  # not counted as positive
    assert ind.reason.startswith("Tg not interpretable: TgAb < 200 IU/mL: the reported limit is above the assay "
                                 "cut-off 115 IU/mL")
    # an indeterminate TgAb never makes a "rising TgAb" biochemical incomplete, even after a low value
    later = classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=tg, tgab=reading(">100"),
                                         previous_tgab=reading("20"))
    assert later.category is AtaCategory.INDETERMINATE
    pos = classify_response_to_therapy(imaging=ImagingStatus.NEGATIVE, suppressed_tg=tg, tgab=reading(">115"),
                                       previous_tgab=reading("40"))
    assert pos.category is AtaCategory.BIOCHEMICAL_INCOMPLETE and pos.tgab_positive is True

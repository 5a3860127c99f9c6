"""Thyroglobulin (Tg): censored lab values, units, Tg doubling time and the ATA 2015 response to therapy.

Pure core (no Django). Reference: ``shared/reference/clinical-rules.md`` §2.4 (ATA 2015 response to therapy),
§6 (Tg kinetics, censored values, units) and §0 (exact arithmetic at thresholds, rule-set stamps).

Units: Tg is standardised to ng/mL (1 ng/mL = 1 µg/L; 1 ng/dL = 0.01 ng/mL); TgAb to IU/mL (= kIU/L);
TSH to mIU/L (= µIU/mL). Times are in years of 365.25 days unless a name says otherwise.

Censored values ("<0.2", ">1000") are kept as a qualifier plus a limit and are never turned into 0.
Threshold comparisons use :class:`fractions.Fraction` built from the decimal text of each number (§0.1), so
"1.0 >= 1" and "0.2 < 0.2" are decided exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from fractions import Fraction

from common.errors import InputError

__all__ = [
    "ATA_RULE_SET",
    "AtaCategory",
    "AtaResponse",
    "AtaSettings",
    "Analyte",
    "BirComparison",
    "DoublingTimeSettings",
    "ImagingStatus",
    "LabValue",
    "MiyauchiGroup",
    "Qualifier",
    "TgAbReading",
    "TgAbStatus",
    "TgCombineRule",
    "TgDoublingTime",
    "TgPoint",
    "TgTrend",
    "ThyroglobulinInputError",
    "assay_key",
    "classify_response_to_therapy",
    "tgab_cutoff_warnings",
    "imaging_status_from_recist",
    "parse_lab_value",
    "tg_doubling_time",
    "two_point_doubling_time_years",
]

ATA_RULE_SET = "ATA2015"
DAYS_PER_YEAR = 365.25
LN2 = math.log(2.0)


class ThyroglobulinInputError(InputError):
    """Bad input to the thyroglobulin core; the message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        super().__init__(f"{field_name}: got {value!r}; allowed: {allowed}", field=field_name, value=value,
                         allowed=allowed)


# ---------------------------------------------------------------------------------------------------------
# Censored lab values and units (§6.3, §6.4)
# ---------------------------------------------------------------------------------------------------------


class Qualifier(StrEnum):
    """How a lab number relates to the true value: exact, below a limit (left-censored) or above (right)."""

    EQ = "="
    LT = "<"
    GT = ">"


class Analyte(StrEnum):
    """Analytes whose units this module knows. Each has one standard unit (first in its unit table)."""

    TG = "tg"
    TGAB = "tgab"
    TSH = "tsh"


# unit text (lower-case, µ/μ/u folded to "u") -> factor to the analyte's standard unit
_UNIT_FACTORS: dict[Analyte, dict[str, Fraction]] = {
    Analyte.TG: {"ng/ml": Fraction(1), "ug/l": Fraction(1), "ng/dl": Fraction(1, 100)},
    Analyte.TGAB: {"iu/ml": Fraction(1), "kiu/l": Fraction(1)},
    Analyte.TSH: {"miu/l": Fraction(1), "uiu/ml": Fraction(1)},
}
_STANDARD_UNIT: dict[Analyte, str] = {Analyte.TG: "ng/mL", Analyte.TGAB: "IU/mL", Analyte.TSH: "mIU/L"}
_ALLOWED_UNITS_TEXT: dict[Analyte, str] = {
    Analyte.TG: "ng/mL, µg/L (identical numbers) or ng/dL (×0.01)",
    Analyte.TGAB: "IU/mL or kIU/L (identical numbers)",
    Analyte.TSH: "mIU/L or µIU/mL (identical numbers)",
}

_LAB_TEXT = re.compile(r"^\s*(?P<q>[<>=]?)\s*(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*$")


def _fold_unit(unit: str) -> str:
    return unit.strip().replace("µ", "u").replace("μ", "u").replace(" ", "").lower()


@dataclass(frozen=True)
class LabValue:
    """One lab result, standardised.

    ``value`` is in ``unit`` (the analyte's standard unit: ng/mL for Tg, IU/mL for TgAb, mIU/L for TSH).
    For ``qualifier`` "<" the value is the reported limit (the true value lies below it); for ">" the true
    value lies above it. ``raw`` and ``raw_unit`` keep what was entered; ``assay`` names the method;
    ``loq`` is the assay's limit of quantification in ``unit`` when known.
    """

    qualifier: Qualifier
    value: float
    unit: str = "ng/mL"
    raw: str | None = None
    raw_unit: str | None = None
    assay: str | None = None
    loq: float | None = None

    @property
    def is_censored(self) -> bool:
        """True for "<" and ">" values."""
        return self.qualifier is not Qualifier.EQ

    @property
    def exact(self) -> Fraction:
        """The number as an exact fraction of its shortest decimal text (for threshold comparisons)."""
        return _frac(self.value)

    def __str__(self) -> str:
        prefix = "" if self.qualifier is Qualifier.EQ else f"{self.qualifier.value} "
        return f"{prefix}{self.value:g} {self.unit}"


def _frac(x: float | int | Fraction) -> Fraction:
    if isinstance(x, Fraction):
        return x
    return Fraction(str(x))


def parse_lab_value(
    raw: str | float | int,
    *,
    unit: str = "ng/mL",
    analyte: Analyte = Analyte.TG,
    assay: str | None = None,
    loq: float | None = None,
    field_name: str = "value",
) -> LabValue:
    """Parse a lab result such as ``"<0.2"``, ``"< 0.2"``, ``">1000"``, ``"0.35"``, ``0.35`` into a LabValue.

    The number is converted from ``unit`` to the analyte's standard unit (Tg: ng/mL; 1 ng/dL = 0.01 ng/mL).
    ``loq`` is given in ``unit`` and converted too. A censored value is kept as qualifier + limit and is never
    turned into 0. Raises :class:`ThyroglobulinInputError` for an unknown unit, text that is not a
    (qualified) non-negative number, NaN/inf, or a negative number.
    """
    factors = _UNIT_FACTORS[analyte]
    factor = factors.get(_fold_unit(unit)) if isinstance(unit, str) else None
    if factor is None:
        raise ThyroglobulinInputError(f"{field_name}.unit", unit, _ALLOWED_UNITS_TEXT[analyte])

    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ThyroglobulinInputError(field_name, raw, 'a number or text like "0.35", "<0.2", ">1000"')
    if isinstance(raw, str):
        match = _LAB_TEXT.match(raw)
        if match is None:
            raise ThyroglobulinInputError(
                field_name, raw, 'a non-negative number optionally preceded by "<", ">" or "=" (e.g. "<0.2")'
            )
        qualifier = Qualifier(match.group("q") or "=")
        number = Fraction(match.group("num"))
        raw_text: str = raw
    else:
        if not math.isfinite(raw):
            raise ThyroglobulinInputError(field_name, raw, "a finite number")
        if raw < 0:
            raise ThyroglobulinInputError(field_name, raw, "a number >= 0")
        qualifier = Qualifier.EQ
        number = _frac(raw)
        raw_text = str(raw)

    loq_std: float | None = None
    if loq is not None:
        if isinstance(loq, bool) or not math.isfinite(loq) or loq <= 0:
            raise ThyroglobulinInputError(
                f"{field_name}.loq", loq, "a finite number > 0 (same unit as value)"
            )
        loq_std = float(_frac(loq) * factor)

    return LabValue(
        qualifier=qualifier,
        value=float(number * factor),
        unit=_STANDARD_UNIT[analyte],
        raw=raw_text,
        raw_unit=unit,
        assay=assay,
        loq=loq_std,
    )


def _bounds(v: LabValue) -> tuple[Fraction, Fraction | None]:
    """(lowest possible, highest possible) true value; None = unbounded above."""
    x = v.exact
    if v.qualifier is Qualifier.EQ:
        return x, x
    if v.qualifier is Qualifier.LT:
        return Fraction(0), x
    return x, None


# ---------------------------------------------------------------------------------------------------------
# Tg doubling time (§6.2)
# ---------------------------------------------------------------------------------------------------------


class TgTrend(StrEnum):
    """How the Tg series is reported (§6.2 reporting rules)."""

    RISING = "rising"  # k > 0 and |DR| >= stable threshold: positive doubling time
    DECLINING = "declining"  # k < 0 and |DR| >= stable threshold: "negative (declining)", halving time
    STABLE = "stable"  # |DR| < 0.1 /yr (or k == 0): report "stable", not a huge DT
    NOT_COMPUTABLE = "not_computable"


class MiyauchiGroup(StrEnum):
    """Prognostic Tg-DT groups of Miyauchi et al. Thyroid 2011 (boundaries verified; survival figures not)."""

    LT_1_YEAR = "<1 yr"
    FROM_1_TO_3_YEARS = "1-3 yr"
    GE_3_YEARS = ">=3 yr"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class DoublingTimeSettings:
    """Protocol settings for Tg-DT.

    ``min_points``: eligible (detectable, "=") values needed; default 4 (Miyauchi 2011, ATA calculator);
    may be lowered to the hard minimum 3, in which case a 3-point result is flagged ``low_reliability``.
    ``stable_dr_per_year``: |DR| below this is reported as "stable" (Kuma bins, default 0.1 /yr).
    ``require_same_assay``: refuse series that name more than one assay [DESIGN DECISION, default on].
    ``tsh_suppressed_below_miu_l``: TSH at or above this is counted in ``n_tsh_not_suppressed`` (Miyauchi: 0.1).
    """

    min_points: int = 4
    stable_dr_per_year: float = 0.1
    require_same_assay: bool = True
    tsh_suppressed_below_miu_l: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.min_points, bool) or not isinstance(self.min_points, int) or self.min_points < 3:
            raise ThyroglobulinInputError("min_points", self.min_points, "an integer >= 3 (hard minimum 3)")
        if not (self.stable_dr_per_year >= 0):
            raise ThyroglobulinInputError("stable_dr_per_year", self.stable_dr_per_year, "a number >= 0")


@dataclass(frozen=True)
class TgPoint:
    """One Tg measurement: sampling date, value (ng/mL), optional TSH at sampling (mIU/L)."""

    sample_date: date
    tg: LabValue
    tsh_miu_l: float | None = None


@dataclass(frozen=True)
class TgDoublingTime:
    """Result of :func:`tg_doubling_time`.

    ``slope_per_year`` k (ln Tg per year), ``doubling_time_years`` DT = ln2/k (sign kept; None if k == 0 or not
    computable), ``doubling_rate_per_year`` DR = k/ln2 (use DR, not DT, for statistics), ``r`` Pearson of
    ln Tg vs time, ``n`` points used, ``span_years`` first to last used date. ``halving_time_years`` = |DT|
    when k < 0. ``low_reliability`` when only 3 points were used. ``reason`` says why NOT_COMPUTABLE.
    """

    trend: TgTrend
    n: int
    n_excluded_censored: int
    slope_per_year: float | None
    doubling_time_years: float | None
    doubling_rate_per_year: float | None
    r: float | None
    span_years: float | None
    low_reliability: bool
    reason: str
    n_tsh_not_suppressed: int = 0
    n_right_censored: int = 0

    @property
    def doubling_time_days(self) -> float | None:
        """DT in days (365.25 days per year), sign kept."""
        return None if self.doubling_time_years is None else self.doubling_time_years * DAYS_PER_YEAR

    @property
    def halving_time_years(self) -> float | None:
        """|DT| for a declining series (k < 0), else None."""
        if self.slope_per_year is None or self.slope_per_year >= 0 or self.doubling_time_years is None:
            return None
        return abs(self.doubling_time_years)

    @property
    def miyauchi_group(self) -> MiyauchiGroup | None:
        """Miyauchi 2011 group by DT: negative, < 1 yr, 1–3 yr, >= 3 yr (k == 0 counts as >= 3 yr)."""
        k = self.slope_per_year
        if k is None:
            return None
        if k < 0:
            return MiyauchiGroup.NEGATIVE
        if k == 0:
            return MiyauchiGroup.GE_3_YEARS
        dt_years = LN2 / k
        if dt_years < 1:
            return MiyauchiGroup.LT_1_YEAR
        if dt_years < 3:
            return MiyauchiGroup.FROM_1_TO_3_YEARS
        return MiyauchiGroup.GE_3_YEARS

    def display(self) -> str:
        """Short text: "0.501 yr (183 d)", "negative (declining; halving time 0.530 yr)", "stable", …"""
        if self.trend is TgTrend.NOT_COMPUTABLE:
            return f"not computable ({self.reason})"
        if self.trend is TgTrend.STABLE:
            return "stable"
        assert self.doubling_time_years is not None and self.doubling_time_days is not None
        if self.trend is TgTrend.DECLINING:
            return f"negative (declining; halving time {abs(self.doubling_time_years):.3f} yr)"
        return f"{self.doubling_time_years:.3f} yr ({self.doubling_time_days:.0f} d)"


def tg_doubling_time(
    points: Sequence[TgPoint], settings: DoublingTimeSettings | None = None
) -> TgDoublingTime:
    """Tg doubling time by OLS of ln Tg on time in years (days / 365.25), per clinical-rules §6.2.

    Only detectable ("=") values are used; "<" and ">" values are excluded (and counted). The caller is
    responsible for giving a series from one assay with TgAb negative and TSH suppressed (TSH >= the
    settings threshold is counted in ``n_tsh_not_suppressed``). Returns NOT_COMPUTABLE (not an exception)
    when there are too few eligible points or they all share one date.
    """
    cfg = settings or DoublingTimeSettings()
    if isinstance(points, str | bytes) or not isinstance(points, Sequence):
        raise ThyroglobulinInputError("points", points, "a sequence of TgPoint")
    for i, p in enumerate(points):
        if not isinstance(p, TgPoint):
            raise ThyroglobulinInputError(f"points[{i}]", p, "a TgPoint(sample_date, tg, tsh_miu_l)")
        if p.tg.unit != "ng/mL":
            raise ThyroglobulinInputError(f"points[{i}].tg.unit", p.tg.unit, "ng/mL (use parse_lab_value)")
    if cfg.require_same_assay:
        assays = sorted({p.tg.assay for p in points if p.tg.assay is not None})
        if len(assays) > 1:
            raise ThyroglobulinInputError("points[].tg.assay", assays, "one assay for the whole series")

    eligible = sorted((p for p in points if p.tg.qualifier is Qualifier.EQ), key=lambda p: p.sample_date)
    for p in eligible:
        if p.tg.value <= 0:
            raise ThyroglobulinInputError(
                "points[].tg", str(p.tg), 'a detectable value > 0 (enter undetectable Tg as "<LoQ")'
            )
    n_excluded = len(points) - len(eligible)
    n_right = sum(1 for p in points if p.tg.qualifier is Qualifier.GT)
    n_tsh = sum(
        1 for p in eligible if p.tsh_miu_l is not None and p.tsh_miu_l >= cfg.tsh_suppressed_below_miu_l
    )
    n = len(eligible)

    def not_computable(reason: str) -> TgDoublingTime:
        return TgDoublingTime(
            trend=TgTrend.NOT_COMPUTABLE,
            n=n,
            n_excluded_censored=n_excluded,
            slope_per_year=None,
            doubling_time_years=None,
            doubling_rate_per_year=None,
            r=None,
            span_years=None,
            low_reliability=False,
            reason=reason,
            n_tsh_not_suppressed=n_tsh,
            n_right_censored=n_right,
        )

    if n < cfg.min_points:
        return not_computable(f"{n} detectable values < {cfg.min_points} required")
    t0 = eligible[0].sample_date
    t = [(p.sample_date - t0).days / DAYS_PER_YEAR for p in eligible]
    y = [math.log(p.tg.value) for p in eligible]
    t_mean = math.fsum(t) / n
    y_mean = math.fsum(y) / n
    sxx = math.fsum((ti - t_mean) ** 2 for ti in t)
    if sxx == 0:
        return not_computable("all detectable values share one date")
    sxy = math.fsum((ti - t_mean) * (yi - y_mean) for ti, yi in zip(t, y, strict=True))
    syy = math.fsum((yi - y_mean) ** 2 for yi in y)
    k = sxy / sxx
    r = 0.0 if syy == 0 else sxy / math.sqrt(sxx * syy)
    dr = k / LN2
    dt_years = None if k == 0 else LN2 / k
    if abs(dr) < cfg.stable_dr_per_year:
        trend = TgTrend.STABLE
    elif k > 0:
        trend = TgTrend.RISING
    else:
        trend = TgTrend.DECLINING
    low = n < 4
    return TgDoublingTime(
        trend=trend,
        n=n,
        n_excluded_censored=n_excluded,
        slope_per_year=k,
        doubling_time_years=dt_years,
        doubling_rate_per_year=dr,
        r=r,
        span_years=(eligible[-1].sample_date - t0).days / DAYS_PER_YEAR,
        low_reliability=low,
        reason="low reliability: only 3 detectable values" if low else "",
        n_tsh_not_suppressed=n_tsh,
        n_right_censored=n_right,
    )


def two_point_doubling_time_years(date_1: date, tg_1_ng_ml: float, date_2: date, tg_2_ng_ml: float) -> float:
    """Display-only two-point shortcut DT = Δt × ln2 / ln(Tg2/Tg1), in years (sign kept).

    Raises for non-positive Tg, equal dates or equal values (DT undefined).
    """
    for name, v in (("tg_1_ng_ml", tg_1_ng_ml), ("tg_2_ng_ml", tg_2_ng_ml)):
        if not (math.isfinite(v) and v > 0):
            raise ThyroglobulinInputError(name, v, "a finite number > 0")
    dt_years = (date_2 - date_1).days / DAYS_PER_YEAR
    if dt_years == 0:
        raise ThyroglobulinInputError("date_2", date_2, "a date different from date_1")
    if tg_1_ng_ml == tg_2_ng_ml:
        raise ThyroglobulinInputError(
            "tg_2_ng_ml", tg_2_ng_ml, "a value different from tg_1_ng_ml (DT undefined)"
        )
    return dt_years * LN2 / math.log(tg_2_ng_ml / tg_1_ng_ml)


# ---------------------------------------------------------------------------------------------------------
# ATA 2015 response to therapy (§2.4)
# ---------------------------------------------------------------------------------------------------------


class AtaCategory(StrEnum):
    """ATA 2015 response to therapy after total thyroidectomy + RAI remnant ablation."""

    EXCELLENT = "EXCELLENT"
    INDETERMINATE = "INDETERMINATE"
    BIOCHEMICAL_INCOMPLETE = "BIOCHEMICAL_INCOMPLETE"
    STRUCTURAL_INCOMPLETE = "STRUCTURAL_INCOMPLETE"

    @property
    def label(self) -> str:
        return {
            AtaCategory.EXCELLENT: "Excellent response",
            AtaCategory.INDETERMINATE: "Indeterminate response",
            AtaCategory.BIOCHEMICAL_INCOMPLETE: "Biochemical incomplete response",
            AtaCategory.STRUCTURAL_INCOMPLETE: "Structural incomplete response",
        }[self]


class ImagingStatus(StrEnum):
    """Imaging at the assessment: negative, non-specific findings, or structural/functional disease."""

    NEGATIVE = "negative"
    NON_SPECIFIC = "non_specific"
    STRUCTURAL = "structural"  # biopsy-proven or highly suspicious structural/functional disease


def imaging_status_from_recist(overall: str, nonspecific_findings: bool = False) -> ImagingStatus:
    """Imaging status for the ATA response from the visit's RECIST overall category [DESIGN DECISION, to be
    confirmed by a clinician]: only a complete response (CR) shows no disease — negative, or non-specific when the
    reader says so; any other category (PR, SD, PD, NE, Non-CR/Non-PD) means disease is still visible."""
    if overall != "CR":
        return ImagingStatus.STRUCTURAL
    return ImagingStatus.NON_SPECIFIC if nonspecific_findings else ImagingStatus.NEGATIVE


class BirComparison(StrEnum):
    """How the biochemical-incomplete Tg thresholds compare: ">=" (PMC7578621, default) or ">" (RMMJ 2016)."""

    GE = ">="
    GT = ">"


class TgCombineRule(StrEnum):
    """How several Tg values at one assessment combine [DESIGN DECISION].

    WORST_WINS (default): the worst category any value supports. STIMULATED_PREFERRED: when a stimulated Tg
    exists, only stimulated values are used (more sensitive test); otherwise suppressed values, worst-wins.
    """

    WORST_WINS = "worst_wins"
    STIMULATED_PREFERRED = "stimulated_preferred"


@dataclass(frozen=True)
class AtaSettings:
    """Thresholds for :func:`classify_response_to_therapy` (ng/mL; defaults ATA 2015 / clinical-rules §2.4).

    ``tgab_rise_fraction``: TgAb counts as rising when current > previous × (1 + fraction), strictly;
    default 1/2 (> 50 % relative increase) [DESIGN DECISION, no guideline number].
    """

    suppressed_excellent_below_ng_ml: Fraction = Fraction(1, 5)
    stimulated_excellent_below_ng_ml: Fraction = Fraction(1)
    suppressed_bir_ng_ml: Fraction = Fraction(1)
    stimulated_bir_ng_ml: Fraction = Fraction(10)
    bir_comparison: BirComparison = BirComparison.GE
    tgab_rise_fraction: Fraction = Fraction(1, 2)
    combine: TgCombineRule = TgCombineRule.WORST_WINS

    def __post_init__(self) -> None:
        for name in (
            "suppressed_excellent_below_ng_ml",
            "stimulated_excellent_below_ng_ml",
            "suppressed_bir_ng_ml",
            "stimulated_bir_ng_ml",
            "tgab_rise_fraction",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | Fraction) or not value > 0:
                raise ThyroglobulinInputError(name, value, "a number > 0 (Fraction preferred)")
            object.__setattr__(self, name, _frac(value))
        if self.suppressed_excellent_below_ng_ml > self.suppressed_bir_ng_ml:
            raise ThyroglobulinInputError(
                "suppressed_excellent_below_ng_ml",
                self.suppressed_excellent_below_ng_ml,
                "<= suppressed_bir_ng_ml",
            )
        if self.stimulated_excellent_below_ng_ml > self.stimulated_bir_ng_ml:
            raise ThyroglobulinInputError(
                "stimulated_excellent_below_ng_ml",
                self.stimulated_excellent_below_ng_ml,
                "<= stimulated_bir_ng_ml",
            )


class TgAbStatus(StrEnum):
    """TgAb against its assay's positivity cut-off (§8.2, §6.3, §2.4)."""

    NEGATIVE = "negative"
    POSITIVE = "positive"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class TgAbReading:
    """One TgAb result (value in IU/mL) with the positivity cut-off of its assay (IU/mL).

    Negative means below the cut-off (§8.2 "negative (below assay cut-off)"; a value equal to the cut-off is
    positive). Censored values are judged by what they prove (clinical reference §6.3, §2.4):

    * "=v": v < cut-off → negative; v ≥ cut-off → positive ("=120" with cut-off 115 is positive);
    * "<L": the true value is below L. L ≤ cut-off proves it below the cut-off → negative ("<10" and "<115" with
      cut-off 115); L > cut-off → **indeterminate** ("<200" with cut-off 115 may lie on either side): never
      counted as positive, nor as negative;
    * ">L": the true value is above L. L ≥ cut-off → positive (">115" with cut-off 115); L < cut-off →
      indeterminate.

    Wherever TgAb must be negative (Tg interpretable in the ATA response, Tg doubling time) an indeterminate
    result does not qualify; wherever positivity counts (rising TgAb) it does not count either.
    """

    value: LabValue
    cutoff_iu_ml: float
    assay: str | None = None

    def __post_init__(self) -> None:
        if self.value.unit != "IU/mL":
            raise ThyroglobulinInputError(
                "tgab.value.unit", self.value.unit, "IU/mL (parse with analyte=TGAB)"
            )
        c = self.cutoff_iu_ml
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c <= 0:
            raise ThyroglobulinInputError("tgab.cutoff_iu_ml", c, "a finite number > 0")

    @property
    def status(self) -> TgAbStatus:
        cutoff = _frac(self.cutoff_iu_ml)
        x = self.value.exact
        if self.value.qualifier is Qualifier.LT:
            return TgAbStatus.NEGATIVE if x <= cutoff else TgAbStatus.INDETERMINATE
        if self.value.qualifier is Qualifier.GT:
            return TgAbStatus.POSITIVE if x >= cutoff else TgAbStatus.INDETERMINATE
        return TgAbStatus.POSITIVE if x >= cutoff else TgAbStatus.NEGATIVE

    @property
    def positive(self) -> bool:
        """Proven at or above the cut-off (an indeterminate result is not positive)."""
        return self.status is TgAbStatus.POSITIVE

    @property
    def negative(self) -> bool:
        """Proven below the cut-off (an indeterminate result is not negative)."""
        return self.status is TgAbStatus.NEGATIVE

    @property
    def reason(self) -> str:
        """One line naming the value, the cut-off and the verdict."""
        cut = f"{self.cutoff_iu_ml:g} IU/mL"
        where = f" ({self.assay})" if self.assay else ""
        status = self.status
        v = f"TgAb {self.value}"
        if status is TgAbStatus.NEGATIVE:
            return f"{v} is below the assay cut-off {cut}{where}: negative"
        if status is TgAbStatus.POSITIVE:
            word = "above" if self.value.qualifier is Qualifier.GT else "at or above"
            return f"{v} is {word} the assay cut-off {cut}{where}: positive"
        side = "above" if self.value.qualifier is Qualifier.LT else "below"
        return (f"{v}: the reported limit is {side} the assay cut-off {cut}{where}, so the true value may lie on "
                "either side: indeterminate (counted neither positive nor negative)")


@dataclass(frozen=True)
class AtaResponse:
    """ATA 2015 response-to-therapy result: category, one-line reason, rule set stamp."""

    category: AtaCategory
    reason: str
    rule_set: str = ATA_RULE_SET
    tgab_positive: bool | None = None
    tgab_rising: bool | None = None
    details: tuple[str, ...] = field(default_factory=tuple)


class _TgClass(StrEnum):
    # ordered from best to worst for combining; INCONCLUSIVE = a "<L" value with L above the Excellent cut
    EXCELLENT = "excellent"
    INCONCLUSIVE = "inconclusive"
    INDETERMINATE = "indeterminate"
    BIR = "bir"


_TG_ORDER = [_TgClass.EXCELLENT, _TgClass.INCONCLUSIVE, _TgClass.INDETERMINATE, _TgClass.BIR]


def _classify_tg(
    v: LabValue, excellent_below: Fraction, bir: Fraction, comparison: BirComparison
) -> _TgClass:
    low, high = _bounds(v)
    if v.qualifier is Qualifier.GT:
        # true value > limit: proves >= bir (and > bir) whenever limit >= bir
        return _TgClass.BIR if low >= bir else _TgClass.INDETERMINATE
    if v.qualifier is Qualifier.EQ:
        if (comparison is BirComparison.GE and low >= bir) or (comparison is BirComparison.GT and low > bir):
            return _TgClass.BIR
        return _TgClass.EXCELLENT if low < excellent_below else _TgClass.INDETERMINATE
    assert high is not None
    # "<L": proves < excellent cut only if L <= cut (A2); otherwise cannot prove Excellent (A3, LoQ edge case)
    return _TgClass.EXCELLENT if high <= excellent_below else _TgClass.INCONCLUSIVE


def _as_tuple(values: LabValue | Sequence[LabValue] | None, name: str) -> tuple[LabValue, ...]:
    if values is None:
        return ()
    seq: tuple[object, ...] = (values,) if isinstance(values, LabValue) else tuple(values)
    out: list[LabValue] = []
    for i, v in enumerate(seq):
        if not isinstance(v, LabValue):
            raise ThyroglobulinInputError(f"{name}[{i}]", v, "a LabValue (use parse_lab_value)")
        if v.unit != "ng/mL":
            raise ThyroglobulinInputError(f"{name}[{i}].unit", v.unit, "ng/mL (parse with analyte=TG)")
        out.append(v)
    return tuple(out)


def _tgab_rising(current: TgAbReading, previous: TgAbReading | None, fraction: Fraction) -> tuple[bool, str]:
    if previous is None:
        return False, "first TgAb value (no trend)"
    if assay_key(current.assay) != assay_key(previous.assay):
        return False, f"TgAb assays differ ({previous.assay!r} vs {current.assay!r}); trend not judged"
    cur_low, _ = _bounds(current.value)
    _, prev_high = _bounds(previous.value)
    if prev_high is None:
        return False, "previous TgAb right-censored; trend not judged"
    rising = cur_low > prev_high * (1 + fraction)
    word = "rising" if rising else "stable/declining"
    return (
        rising,
        f"TgAb {word} ({previous.value} → {current.value}; rise threshold > {float(fraction) * 100:g} %)",
    )


def classify_response_to_therapy(
    *,
    imaging: ImagingStatus,
    suppressed_tg: LabValue | Sequence[LabValue] | None = None,
    stimulated_tg: LabValue | Sequence[LabValue] | None = None,
    tgab: TgAbReading | None = None,
    previous_tgab: TgAbReading | None = None,
    faint_bed_uptake: bool = False,
    settings: AtaSettings | None = None,
) -> AtaResponse:
    """ATA 2015 response to therapy (clinical-rules §2.4 decision procedure).

    1. structural/functional disease → STRUCTURAL_INCOMPLETE (any Tg, any TgAb).
    2. TgAb positive → BIOCHEMICAL_INCOMPLETE if rising vs ``previous_tgab`` (same assay), else INDETERMINATE.
       TgAb indeterminate (a censored value on the wrong side of the cut-off, :class:`TgAbReading`) →
       INDETERMINATE: Tg cannot be interpreted, and the TgAb is not counted as positive (nor as rising).
    3. TgAb negative: each Tg value (ng/mL) is classed; worst wins (settings.combine). Suppressed >= 1 or
       stimulated >= 10 → BIOCHEMICAL_INCOMPLETE; all values proving suppressed < 0.2 / stimulated < 1 with
       negative imaging and no faint bed uptake → EXCELLENT; otherwise INDETERMINATE.
    4. non-specific imaging or faint bed uptake without BIR criteria → INDETERMINATE.

    ``tgab`` is required unless imaging is structural; at least one Tg value is required when TgAb is negative.
    """
    cfg = settings or AtaSettings()
    if not isinstance(imaging, ImagingStatus):
        try:
            imaging = ImagingStatus(imaging)
        except ValueError:
            raise ThyroglobulinInputError(
                "imaging", imaging, ", ".join(s.value for s in ImagingStatus)
            ) from None
    if not isinstance(faint_bed_uptake, bool):
        raise ThyroglobulinInputError("faint_bed_uptake", faint_bed_uptake, "True or False")
    supp = _as_tuple(suppressed_tg, "suppressed_tg")
    stim = _as_tuple(stimulated_tg, "stimulated_tg")

    if imaging is ImagingStatus.STRUCTURAL:
        return AtaResponse(
            AtaCategory.STRUCTURAL_INCOMPLETE,
            "Structural or functional evidence of disease (any Tg, any TgAb)",
        )

    if tgab is None:
        raise ThyroglobulinInputError(
            "tgab", None, "a TgAbReading (Tg thresholds apply only when TgAb is known to be negative)"
        )
    if tgab.status is TgAbStatus.INDETERMINATE:
        return AtaResponse(
            AtaCategory.INDETERMINATE,
            f"Tg not interpretable: {tgab.reason}",
            tgab_positive=None,
            tgab_rising=None,
        )
    if tgab.positive:
        rising, trend_text = _tgab_rising(tgab, previous_tgab, cfg.tgab_rise_fraction)
        if rising:
            return AtaResponse(
                AtaCategory.BIOCHEMICAL_INCOMPLETE,
                f"TgAb positive and rising: {trend_text}",
                tgab_positive=True,
                tgab_rising=True,
            )
        return AtaResponse(
            AtaCategory.INDETERMINATE,
            f"TgAb positive, Tg not interpretable: {trend_text}",
            tgab_positive=True,
            tgab_rising=False,
        )

    if not supp and not stim:
        raise ThyroglobulinInputError(
            "suppressed_tg/stimulated_tg",
            None,
            "at least one Tg value when TgAb is negative and imaging is not structural",
        )
    if cfg.combine is TgCombineRule.STIMULATED_PREFERRED and stim:
        supp = ()
    classes: list[tuple[_TgClass, str]] = []
    for v in supp:
        c = _classify_tg(
            v, cfg.suppressed_excellent_below_ng_ml, cfg.suppressed_bir_ng_ml, cfg.bir_comparison
        )
        classes.append((c, f"suppressed Tg {v}"))
    for v in stim:
        c = _classify_tg(
            v, cfg.stimulated_excellent_below_ng_ml, cfg.stimulated_bir_ng_ml, cfg.bir_comparison
        )
        classes.append((c, f"stimulated Tg {v}"))
    worst, worst_text = max(classes, key=lambda ct: _TG_ORDER.index(ct[0]))
    details = tuple(f"{text}: {c.value}" for c, text in classes)
    op = cfg.bir_comparison.value
    if worst is _TgClass.BIR:
        return AtaResponse(
            AtaCategory.BIOCHEMICAL_INCOMPLETE,
            f"TgAb negative, {worst_text} meets biochemical-incomplete threshold "
            f"(suppressed {op} {float(cfg.suppressed_bir_ng_ml):g} / stimulated {op} "
            f"{float(cfg.stimulated_bir_ng_ml):g} ng/mL)",
            tgab_positive=False,
            details=details,
        )
    if imaging is ImagingStatus.NON_SPECIFIC or faint_bed_uptake:
        what = (
            "non-specific imaging findings"
            if imaging is ImagingStatus.NON_SPECIFIC
            else "faint thyroid-bed uptake"
        )
        return AtaResponse(
            AtaCategory.INDETERMINATE,
            f"{what.capitalize()}, no biochemical-incomplete Tg",
            tgab_positive=False,
            details=details,
        )
    if worst is _TgClass.INDETERMINATE:
        return AtaResponse(
            AtaCategory.INDETERMINATE,
            f"Negative imaging, TgAb negative, {worst_text} detectable below the biochemical-incomplete threshold",
            tgab_positive=False,
            details=details,
        )
    if any(c is _TgClass.EXCELLENT for c, _ in classes):
        best_text = next(text for c, text in classes if c is _TgClass.EXCELLENT)
        return AtaResponse(
            AtaCategory.EXCELLENT,
            f"Negative imaging, TgAb negative, {best_text} below the excellent-response cut-off",
            tgab_positive=False,
            details=details,
        )
    return AtaResponse(
        AtaCategory.INDETERMINATE,
        f"Negative imaging, TgAb negative, {worst_text}: assay limit above the excellent-response cut-off, "
        "cannot prove Excellent",
        tgab_positive=False,
        details=details,
    )


# ---------------------------------------------------------------------------------------------------------
# TgAb entry check: the cut-off against the patient's previous results with the same assay (§6.3, §6.4)
# ---------------------------------------------------------------------------------------------------------

TGAB_CUTOFF_WARNING_CODE = "tgab_cutoff_differs"


def assay_key(assay: str | None) -> str:
    """Assay names compared case- and space-insensitively ("Roche  elecsys anti-Tg" = "Roche Elecsys anti-Tg")."""
    return " ".join((assay or "").split()).casefold()


def tgab_cutoff_warnings(
    assay: str | None, cutoff_iu_ml: float, previous: Sequence[tuple[str, float, int]]
) -> list[dict[str, str]]:
    """Warn when a TgAb cut-off differs from the one recorded with the same assay for this patient.

    TgAb results of different assays are not comparable and an assay has one positivity cut-off (§6.3, §6.4):
    a different number for the same assay is most likely a typo or the default left in place (a "<10" judged
    against 4 instead of 115 would not prove negativity). ``previous``: (assay, cut-off IU/mL, study day) of the
    patient's earlier TgAb results, latest first; the latest of the same assay is compared. No assay → no check.
    """
    key = assay_key(assay)
    if not key:
        return []
    same = next(((a, c, d) for a, c, d in previous if assay_key(a) == key), None)
    if same is None or _frac(float(same[1])) == _frac(float(cutoff_iu_ml)):
        return []
    name, before, day = same
    return [{
        "code": TGAB_CUTOFF_WARNING_CODE,
        "message": (
            f"TgAb cut-off {float(cutoff_iu_ml):g} IU/mL differs from {float(before):g} IU/mL recorded with the "
            f"same assay ({name}) on day {day}; one assay has one positivity cut-off. Correct the cut-off, or "
            "have a physician confirm the assay's new cut-off."
        ),
    }]

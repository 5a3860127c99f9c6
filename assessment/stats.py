"""Clinical statistics as used in the index study's tables (pure core, scipy underneath; no Django).

Reference: ``shared/reference/clinical-rules.md`` §7 (paired comparison, 2×2 tables, proportion CIs),
§6.3 (censored values) and §10 items 14–19.

* Descriptives: mean ± SD (sample SD, ddof = 1); median (P25, P75) with a stated quantile method — default
  Hyndman–Fan type 6 ("weibull", (n+1)p, as SPSS prints) because the papers are SPSS-based [DESIGN DECISION,
  §7.2]; type 7 ("linear", numpy/Excel default) on request. Left-censored values ("<LoQ") are ties below every
  detected value; a quantile that depends on them is reported as "< bound".
* Paired comparison (§7.2): normality of the *paired differences*; default Kolmogorov–Smirnov with the
  Lilliefors correction (parameters estimated from the data; p from the Dallal–Wilkinson 1986 approximation,
  Stephens' modified statistic above p = 0.1 — the R ``nortest::lillie.test`` algorithm, as SPSS prints "with
  Lilliefors correction"); Shapiro–Wilk on request. Then paired t (t, df, P) or Wilcoxon signed-rank (Z as SPSS:
  zero differences dropped, average ranks, tie-corrected variance, no continuity correction, Z = (min(T+, T−) −
  mean)/sd ≤ 0, two-sided normal P).
* 2×2 tables (§7.3): Pearson χ² / Yates χ² / Fisher chosen by n and the smallest expected count (Chinese
  textbook rule by default, Cochran rule on request); McNemar exact binomial for paired proportions.
* Proportion CI (§7.4): Wilson (default), Wilson with continuity correction, Clopper–Pearson, Wald (contrast).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import stats as sps

from assessment.thyroglobulin import LabValue, Qualifier
from common.errors import InputError

__all__ = [
    "ChiSquareRule",
    "McNemarResult",
    "MedianIqr",
    "NormalityTest",
    "PairedComparison",
    "PairedData",
    "PairedSettings",
    "PairedTest",
    "Proportion",
    "ProportionMethod",
    "QuantileMethod",
    "StatsInputError",
    "Substitution",
    "TableTest",
    "TwoByTwoResult",
    "bonferroni",
    "compare_2x2",
    "format_mean_sd",
    "lilliefors_test",
    "mcnemar",
    "mean_sd",
    "median_iqr",
    "paired_compare",
    "proportion_ci",
    "quantile",
    "wilcoxon_signed_rank",
    "wilcoxon_z_bound",
]


class StatsInputError(InputError):
    """Bad input to the statistics core; the message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        super().__init__(f"{field_name}: got {value!r}; allowed: {allowed}", field=field_name, value=value,
                         allowed=allowed)


Number = float | int
Observation = float | int | LabValue


def _floats(values: Sequence[Number], name: str, min_n: int) -> np.ndarray:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise StatsInputError(name, values, "a sequence of numbers")
    plain = None if isinstance(values, np.ndarray) else _plain_array(values)
    if plain is not None and len(plain) >= min_n:  # finite floats and ints: no per-value check in Python
        return plain
    out = []
    for i, v in enumerate(values):
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float | np.integer | np.floating)
            or not math.isfinite(v)
        ):
            raise StatsInputError(f"{name}[{i}]", v, "a finite number (use LabValue for censored values)")
        out.append(float(v))
    if len(out) < min_n:
        raise StatsInputError(name, f"{len(out)} values", f"at least {min_n} values")
    return np.asarray(out, dtype=float)


# ---------------------------------------------------------------------------------------------------------
# Descriptives
# ---------------------------------------------------------------------------------------------------------


def mean_sd(values: Sequence[Number]) -> tuple[float, float]:
    """(mean, sample SD with ddof = 1) of at least 2 finite numbers, in the values' own unit."""
    x = _floats(values, "values", 2)
    return float(np.mean(x)), float(np.std(x, ddof=1))


def format_mean_sd(values: Sequence[Number], decimals: int = 2) -> str:
    """ "6.87 ± 1.67" (mean ± sample SD, ``decimals`` places)."""
    m, s = mean_sd(values)
    return f"{m:.{decimals}f} ± {s:.{decimals}f}"


class QuantileMethod(StrEnum):
    """Hyndman & Fan sample quantile definitions (§7.1, pitfall 16)."""

    WEIBULL = "weibull"  # type 6, h = (n+1)p — SPSS, Minitab; default
    LINEAR = "linear"  # type 7, h = (n-1)p + 1 — numpy, R, Excel PERCENTILE.INC


def _position(n: int, p: float, method: QuantileMethod) -> tuple[int, int, float]:
    """0-based (lower index, upper index, weight of upper) for quantile p of n sorted values."""
    h = (n + 1) * p if method is QuantileMethod.WEIBULL else (n - 1) * p + 1
    h = min(max(h, 1.0), float(n))  # type 6 clamps to min/max outside [1/(n+1), n/(n+1)]
    lo = math.floor(h)
    frac = h - lo
    hi = min(lo + 1, n)
    return lo - 1, hi - 1, frac


def quantile(values: Sequence[Number], p: float, method: QuantileMethod = QuantileMethod.WEIBULL) -> float:
    """Sample quantile p (0–1) of uncensored numbers with the stated method (matches numpy's method names)."""
    x = np.sort(_floats(values, "values", 1))
    if not 0 <= p <= 1:
        raise StatsInputError("p", p, "a probability between 0 and 1")
    return _sorted_quantile(x, p, QuantileMethod(method))


def _sorted_quantile(x: np.ndarray, p: float, method: QuantileMethod) -> float:
    """Quantile p of an already sorted float array: the method's position, linear between its two neighbours."""
    lo, hi, w = _position(len(x), p, method)
    return float(x[lo] + w * (x[hi] - x[lo])) if w else float(x[lo])


@dataclass(frozen=True)
class CensoredNumber:
    """A statistic that may be censored: ``qualifier`` "=" (exact), "<" (upper bound) or ">" (lower bound)."""

    qualifier: Qualifier
    value: float

    def format(self, decimals: int = 2) -> str:
        prefix = "" if self.qualifier is Qualifier.EQ else f"{self.qualifier.value} "
        return f"{prefix}{self.value:.{decimals}f}"


@dataclass(frozen=True)
class MedianIqr:
    """Median (P25, P75) with the quantile method used and the censoring counts."""

    median: CensoredNumber
    q1: CensoredNumber
    q3: CensoredNumber
    n: int
    n_left_censored: int
    n_right_censored: int
    method: QuantileMethod
    note: str = ""

    def format(self, decimals: int = 2) -> str:
        """ "15.95 (5.45, 73.93)" or "< 0.20 (< 0.20, 1.30)"."""
        return f"{self.median.format(decimals)} ({self.q1.format(decimals)}, {self.q3.format(decimals)})"


def _sort_key(v: LabValue) -> tuple[int, float]:
    # "<" values are ties below every detected value, ">" values ties above every detected value (§6.3)
    if v.qualifier is Qualifier.LT:
        return (0, 0.0)
    if v.qualifier is Qualifier.GT:
        return (2, 0.0)
    return (1, v.value)


def _as_lab(values: Sequence[Observation], name: str) -> list[LabValue]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise StatsInputError(name, values, "a sequence of numbers or LabValue")
    out: list[LabValue] = []
    for i, v in enumerate(values):
        if isinstance(v, LabValue):
            out.append(v)
        elif (
            not isinstance(v, bool)
            and isinstance(v, int | float | np.integer | np.floating)
            and math.isfinite(v)
        ):
            out.append(LabValue(Qualifier.EQ, float(v), unit=""))
        else:
            raise StatsInputError(f"{name}[{i}]", v, "a finite number or a LabValue")
    return out


def _plain_sorted(values: Sequence[Observation]) -> np.ndarray | None:
    """The values sorted as float64 when every one is a finite plain number (no LabValue); otherwise None.

    The fast path of :func:`median_iqr` for cohorts of plain numbers (volumes, doses, days): no per-value
    objects and no Python sort key. Anything else (a LabValue, a bool, a non-finite or non-number value) takes
    the general path, which also words the error.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        return None
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "iuf":
            return None
        x: np.ndarray | None = values.astype(np.float64)
        if not np.isfinite(x).all():
            return None
    else:
        x = _plain_array(values)
    if x is None:
        return None
    x.sort()
    return x


def _plain_array(values: Sequence[Observation]) -> np.ndarray | None:
    """The values as float64 in their order when every one is a finite ``float`` or ``int``; otherwise None."""
    if not {float, int}.issuperset(map(type, values)):  # the types in one C-level pass (bool is not int here)
        return None
    x = np.fromiter(values, dtype=np.float64, count=len(values))
    return x if np.isfinite(x).all() else None


def _median_iqr_plain(x: np.ndarray, method: QuantileMethod) -> MedianIqr:
    """median_iqr of sorted, finite, uncensored numbers: the same positions and interpolation as the general
    path (and :func:`quantile`), so the results are bit-identical to it."""
    med, q1, q3 = (CensoredNumber(Qualifier.EQ, _sorted_quantile(x, p, method)) for p in (0.5, 0.25, 0.75))
    return MedianIqr(med, q1, q3, len(x), 0, 0, method, "")


def median_iqr(values: Sequence[Observation], method: QuantileMethod = QuantileMethod.WEIBULL) -> MedianIqr:
    """Median and quartiles; numbers or LabValue (censored values as ties at the ends, §6.3).

    A quartile that interpolates only between detected values is exact. One that involves a "<" value is
    reported as "< bound", where bound = the same interpolation with each "<L" set to L (the largest the
    quartile can be); likewise "> bound" for ">" values. Quartiles touching both "<" and ">" values raise.
    """
    method = QuantileMethod(method)
    plain = _plain_sorted(values)
    if plain is not None:
        return _median_iqr_plain(plain, method)
    labs = _lab_arrays(values)
    if labs is not None:
        return _median_iqr_labs(*labs, method)
    return _median_iqr_general(values, method)


_RANK_OF = {Qualifier.LT: 0, Qualifier.EQ: 1, Qualifier.GT: 2}


def _lab_arrays(values: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray] | None:
    """(rank, value) arrays when every value is a LabValue with a Qualifier and a finite float (Tg of a cohort):
    rank 0 for "<", 1 for "=", 2 for ">"; otherwise None (the general path takes it, and words any error).
    One comprehension per field, types checked as sets, then numpy (no per-value Python branch)."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) == 0:
        return None
    if {LabValue} != set(map(type, values)):
        return None
    labs: Sequence[LabValue] = values  # type: ignore[assignment]  # checked just above
    quals = [v.qualifier for v in labs]
    vals = [v.value for v in labs]
    if {float} != set(map(type, vals)) or {Qualifier} != set(map(type, quals)):
        return None
    x = np.array(vals, dtype=np.float64)
    if not np.isfinite(x).all():
        return None
    return np.fromiter(map(_RANK_OF.__getitem__, quals), dtype=np.int8, count=len(quals)), x


_RANK_QUALIFIER = {0: Qualifier.LT, 2: Qualifier.GT}


def _median_iqr_labs(rank: np.ndarray, value: np.ndarray, method: QuantileMethod) -> MedianIqr:
    """median_iqr of LabValues given as arrays: the order of the general path (``_sort_key``, a stable sort:
    "<" values first in their given order, then detected values ascending, then ">" values) by a stable numpy
    lexsort, and the same positions and interpolation in Python floats, so the results are identical to it."""
    key = np.where(rank == 1, value, 0.0)
    order = np.lexsort((key, rank))
    r, x = rank[order], value[order]
    n = len(x)
    n_lt, n_gt = int((r == 0).sum()), int((r == 2).sum())
    detected = x[r == 1]
    note = ""
    if n_lt and detected.size and float(x[r == 0].max()) > float(detected.min()):
        note = "a censoring limit exceeds the smallest detected value; '<' values still ranked below all detected"

    def q(p: float) -> CensoredNumber:
        lo, hi, w = _position(n, p, method)
        quals = {int(r[lo])} | ({int(r[hi])} if w else set())
        quals.discard(1)
        if len(quals) > 1:
            raise StatsInputError(
                "values", f"quantile {p}", "a quartile not spanning both '<' and '>' values"
            )
        v0 = float(x[lo])
        v = v0 + (w * (float(x[hi]) - v0) if w else 0.0)
        return CensoredNumber(_RANK_QUALIFIER[quals.pop()] if quals else Qualifier.EQ, float(v))

    return MedianIqr(q(0.5), q(0.25), q(0.75), n, n_lt, n_gt, method, note)


def _median_iqr_general(values: Sequence[Observation], method: QuantileMethod) -> MedianIqr:
    """median_iqr of anything :func:`median_iqr` takes, sorting LabValue objects with :func:`_sort_key`."""
    obs = sorted(_as_lab(values, "values"), key=_sort_key)
    n = len(obs)
    if n == 0:
        raise StatsInputError("values", "0 values", "at least 1 value")
    n_lt = sum(1 for v in obs if v.qualifier is Qualifier.LT)
    n_gt = sum(1 for v in obs if v.qualifier is Qualifier.GT)
    note = ""
    detected = [v.value for v in obs if v.qualifier is Qualifier.EQ]
    if n_lt and detected and max(v.value for v in obs if v.qualifier is Qualifier.LT) > min(detected):
        note = "a censoring limit exceeds the smallest detected value; '<' values still ranked below all detected"

    def q(p: float) -> CensoredNumber:
        lo, hi, w = _position(n, p, method)
        used = [obs[lo]] + ([obs[hi]] if w else [])
        quals = {v.qualifier for v in used} - {Qualifier.EQ}
        if len(quals) > 1:
            raise StatsInputError(
                "values", f"quantile {p}", "a quartile not spanning both '<' and '>' values"
            )
        value = used[0].value + (w * (used[1].value - used[0].value) if w else 0.0)
        return CensoredNumber(quals.pop() if quals else Qualifier.EQ, float(value))

    return MedianIqr(q(0.5), q(0.25), q(0.75), n, n_lt, n_gt, method, note)


# ---------------------------------------------------------------------------------------------------------
# Normality and the Wilcoxon signed-rank test
# ---------------------------------------------------------------------------------------------------------


def lilliefors_test(values: Sequence[Number]) -> tuple[float, float]:
    """Kolmogorov–Smirnov normality test with the Lilliefors correction: (D, p).

    Mean and SD (ddof = 1) are estimated from the data, so the plain KS p-value would be wrong (far too
    large). p: Dallal & Wilkinson (1986) approximation; when that exceeds 0.1, Stephens' (1974) modified
    statistic polynomial (as R ``nortest::lillie.test``). Needs n >= 5.
    """
    x = np.sort(_floats(values, "values", 5))
    n = len(x)
    sd = float(np.std(x, ddof=1))
    if sd == 0:
        raise StatsInputError("values", "all equal", "values that are not all identical")
    cdf = sps.norm.cdf((x - x.mean()) / sd)
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
    if n <= 100:
        kd, nd = d, float(n)
    else:
        kd, nd = d * (n / 100) ** 0.49, 100.0
    p = math.exp(
        -7.01256 * kd**2 * (nd + 2.78019)
        + 2.99587 * kd * math.sqrt(nd + 2.78019)
        - 0.122119
        + 0.974598 / math.sqrt(nd)
        + 1.67997 / nd
    )
    if p > 0.1:
        kk = (math.sqrt(n) - 0.01 + 0.85 / math.sqrt(n)) * d
        if kk <= 0.302:
            p = 1.0
        elif kk <= 0.5:
            p = 2.76773 - 19.828315 * kk + 80.709644 * kk**2 - 138.55152 * kk**3 + 81.218052 * kk**4
        elif kk <= 0.9:
            p = -4.901232 + 40.662806 * kk - 97.490286 * kk**2 + 94.029866 * kk**3 - 32.355711 * kk**4
        elif kk <= 1.31:
            p = 6.198765 - 19.558097 * kk + 23.186922 * kk**2 - 12.234627 * kk**3 + 2.423045 * kk**4
        else:
            p = 0.0
    return d, min(max(p, 0.0), 1.0)


def wilcoxon_z_bound(n_nonzero: int) -> float:
    """Largest possible |Z| of the signed-rank test with n' non-zero differences (no ties).

    |Z|max = (n'(n'+1)/4) / sqrt(n'(n'+1)(2n'+1)/24) = sqrt(3n'(n'+1) / (2(2n'+1))): 3.62 for n' = 17, 5.65 for
    n' = 42. (clinical-rules §7.2 prints the formula without the factor 2 in the denominator; its numbers are
    those of this formula.)
    """
    if n_nonzero < 1:
        raise StatsInputError("n_nonzero", n_nonzero, "an integer >= 1")
    return math.sqrt(3 * n_nonzero * (n_nonzero + 1) / (2 * (2 * n_nonzero + 1)))


@dataclass(frozen=True)
class WilcoxonResult:
    """Signed-rank test on differences as SPSS reports it (see module docstring)."""

    z: float
    p_value: float
    t_plus: float
    t_minus: float
    n_nonzero: int
    n_zero: int
    tie_correction: float
    p_exact: float | None


def wilcoxon_signed_rank(differences: Sequence[Number]) -> WilcoxonResult:
    """Wilcoxon signed-rank on paired differences d = follow-up − baseline (§7.2, SPSS convention).

    Zeros dropped; |d| ranked with average ranks; Z = (min(T+, T−) − n'(n'+1)/4) /
    sqrt(n'(n'+1)(2n'+1)/24 − Σ(t³ − t)/48), no continuity correction; P = 2Φ(−|Z|). ``p_exact`` (scipy exact
    null distribution) is given when there are no ties and no zeros and n' <= 50, else None.
    """
    d = _floats(differences, "differences", 1)
    nz = d[d != 0]
    n1 = len(nz)
    if n1 == 0:
        raise StatsInputError("differences", "all zero", "at least one non-zero paired difference")
    ranks = sps.rankdata(np.abs(nz), method="average")
    t_plus = float(ranks[nz > 0].sum())
    t_minus = float(ranks[nz < 0].sum())
    _, counts = np.unique(np.abs(nz), return_counts=True)
    tie = float(np.sum(counts.astype(float) ** 3 - counts) / 48.0)
    var = n1 * (n1 + 1) * (2 * n1 + 1) / 24.0 - tie
    if var <= 0:
        raise StatsInputError(
            "differences", "all |d| tied with n' = 1", "a non-degenerate set of differences"
        )
    z = (min(t_plus, t_minus) - n1 * (n1 + 1) / 4.0) / math.sqrt(var)
    p = float(min(1.0, 2.0 * sps.norm.cdf(-abs(z))))
    p_exact: float | None = None
    if n1 == len(d) and len(counts) == n1 and n1 <= 50:
        p_exact = float(sps.wilcoxon(nz, method="exact").pvalue)
    return WilcoxonResult(z, p, t_plus, t_minus, n1, len(d) - n1, tie, p_exact)


# ---------------------------------------------------------------------------------------------------------
# Paired comparison
# ---------------------------------------------------------------------------------------------------------


class NormalityTest(StrEnum):
    KS_LILLIEFORS = "ks_lilliefors"  # default: "Kolmogorov–Smirnov" as the study/brief, Lilliefors-corrected
    SHAPIRO_WILK = "shapiro_wilk"  # the reference's preferred test for n < 50


class PairedTest(StrEnum):
    PAIRED_T = "paired_t"
    WILCOXON = "wilcoxon_signed_rank"


class Substitution(StrEnum):
    """Number put in place of a censored value for paired differences (§6.3; state it, run sensitivity)."""

    LIMIT = "limit"  # "<L" → L, ">U" → U  (default: all "<L" of one assay tie at L)
    HALF_LIMIT = "half_limit"  # "<L" → L/2 (">U" stays U)
    ZERO = "zero"  # "<L" → 0 (">U" stays U)


@dataclass(frozen=True)
class PairedSettings:
    """Settings of :func:`paired_compare`.

    ``normality_test`` default KS-Lilliefors [DESIGN DECISION per brief; the reference prefers Shapiro–Wilk for
    n < 50 — switch here]; ``alpha_normality`` 0.05 (t-test when p > alpha); ``force_test`` overrides the
    choice; ``substitution`` for censored values (censored data always use the Wilcoxon test).
    """

    normality_test: NormalityTest = NormalityTest.KS_LILLIEFORS
    alpha_normality: float = 0.05
    force_test: PairedTest | None = None
    substitution: Substitution = Substitution.LIMIT


@dataclass(frozen=True)
class PairedComparison:
    """Baseline vs follow-up on complete pairs. ``test`` chosen and ``reason`` why.

    ``t``/``df`` for the paired t-test; ``z``/``t_plus``/``t_minus``/``n_nonzero``/``p_exact`` for Wilcoxon;
    ``p_value`` two-sided for the chosen test. ``mean_diff``/``sd_diff`` of d = follow-up − baseline (only
    meaningful without censoring). Summaries of each time point: ``baseline_mean_sd``, ``follow_up_mean_sd``
    (None when censored values are present), ``baseline_median_iqr``, ``follow_up_median_iqr``.
    """

    test: PairedTest
    reason: str
    n_pairs: int
    n_dropped_incomplete: int
    normality_test: NormalityTest | None
    normality_statistic: float | None
    normality_p: float | None
    p_value: float
    t: float | None
    df: int | None
    z: float | None
    t_plus: float | None
    t_minus: float | None
    n_nonzero: int | None
    p_exact: float | None
    mean_diff: float
    sd_diff: float | None
    baseline_mean_sd: tuple[float, float] | None
    follow_up_mean_sd: tuple[float, float] | None
    baseline_median_iqr: MedianIqr
    follow_up_median_iqr: MedianIqr
    n_censored: int
    substitution: Substitution | None

    def format_statistic(self) -> str:
        """ "t = -3.267, df = 9, P = 0.010" or "Z = -2.429, P = 0.015"."""
        if self.test is PairedTest.PAIRED_T:
            return f"t = {self.t:.3f}, df = {self.df}, {_fmt_p(self.p_value)}"
        return f"Z = {self.z:.3f}, {_fmt_p(self.p_value)}"


def _fmt_p(p: float) -> str:
    """"P < 0.001" below one in a thousand, else "P = 0.015" (as papers print it)."""
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


def _substitute(v: LabValue, how: Substitution) -> float:
    if v.qualifier is Qualifier.LT:
        return {Substitution.LIMIT: v.value, Substitution.HALF_LIMIT: v.value / 2, Substitution.ZERO: 0.0}[
            how
        ]
    return v.value


def _substitute_array(rank: np.ndarray, value: np.ndarray, how: Substitution) -> np.ndarray:
    """:func:`_substitute` of each (rank, value) of :func:`_lab_arrays`: "<" values replaced, others kept."""
    lt = rank == 0
    if how is Substitution.LIMIT or not lt.any():
        return value.copy()
    return np.where(lt, value / 2 if how is Substitution.HALF_LIMIT else 0.0, value)


def paired_compare(
    baseline: Sequence[Observation | None],
    follow_up: Sequence[Observation | None],
    settings: PairedSettings | None = None,
) -> PairedComparison:
    """Paired baseline vs follow-up comparison per clinical-rules §7.2.

    Pairs with a missing (None) side are dropped (count reported). Normality is tested on the differences
    d = follow-up − baseline, never on each time point. p > alpha → paired t; else (or when n is too small for
    the normality test, or any value is censored) → Wilcoxon signed-rank with censored values substituted per
    ``settings.substitution`` (equal limits tie). Raises :class:`StatsInputError` on unequal lengths or fewer
    than 2 complete pairs.
    """
    return PairedData(baseline, follow_up).compare(settings)


class PairedData:
    """The complete pairs of a paired comparison, checked and prepared once (values as arrays, each side's
    median and IQR), so that several comparisons of the same data (the automatic choice and a forced test, as the
    cohort tables print them) do not prepare them again. :func:`paired_compare` is ``PairedData(b, f).compare(s)``;
    the constructor raises what it raises for bad data."""

    def __init__(self, baseline: Sequence[Observation | None], follow_up: Sequence[Observation | None]) -> None:
        if len(baseline) != len(follow_up):
            raise StatsInputError(
                "follow_up", f"{len(follow_up)} values", f"{len(baseline)} values (same as baseline)"
            )
        pairs = [(b, f) for b, f in zip(baseline, follow_up, strict=True) if b is not None and f is not None]
        self.n_dropped = len(baseline) - len(pairs)
        if len(pairs) < 2:
            raise StatsInputError(
                "baseline/follow_up", f"{len(pairs)} complete pairs", "at least 2 complete pairs"
            )
        self._plain: tuple[np.ndarray, np.ndarray] | None = None
        self._labs: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        self._values: tuple[list[LabValue], list[LabValue]] | None = None
        b_plain, f_plain = _plain_array([b for b, _ in pairs]), _plain_array([f for _, f in pairs])
        if b_plain is not None and f_plain is not None:
            # plain numbers (volumes, doses): no LabValue per value; the same numbers as the general path below
            self.n_censored, self._plain = 0, (b_plain, f_plain)
            self.median_iqr = tuple(_median_iqr_plain(np.sort(x), QuantileMethod.WEIBULL) for x in (b_plain, f_plain))
        elif (b_labs := _lab_arrays([b for b, _ in pairs])) is not None and (
                f_labs := _lab_arrays([f for _, f in pairs])) is not None:
            # LabValues of finite floats (Tg of a cohort): ranks and values as arrays, the same numbers as below
            self.n_censored, self._labs = int((b_labs[0] != 1).sum() + (f_labs[0] != 1).sum()), (b_labs, f_labs)
            self.median_iqr = tuple(_median_iqr_labs(*labs, QuantileMethod.WEIBULL) for labs in (b_labs, f_labs))
        else:
            base = _as_lab([b for b, _ in pairs], "baseline")
            foll = _as_lab([f for _, f in pairs], "follow_up")
            self.n_censored, self._values = sum(v.is_censored for v in base + foll), (base, foll)
            self.median_iqr = (median_iqr(base), median_iqr(foll))

    def _numbers(self, substitution: Substitution) -> tuple[np.ndarray, np.ndarray]:
        """Baseline and follow-up as numbers, censored values substituted."""
        if self._plain is not None:
            return self._plain
        if self._labs is not None:
            b_labs, f_labs = self._labs
            return _substitute_array(*b_labs, substitution), _substitute_array(*f_labs, substitution)
        assert self._values is not None
        base, foll = self._values
        return (np.array([_substitute(v, substitution) for v in base]),
                np.array([_substitute(v, substitution) for v in foll]))

    def compare(self, settings: PairedSettings | None = None) -> PairedComparison:
        """The comparison of these pairs under ``settings`` (:func:`paired_compare`)."""
        cfg = settings or PairedSettings()
        b_num, f_num = self._numbers(cfg.substitution)
        n_cens, n_dropped = self.n_censored, self.n_dropped
        mi_b, mi_f = self.median_iqr
        d = f_num - b_num
        n = len(d)
        ms_b = None if n_cens else mean_sd(b_num.tolist())
        ms_f = None if n_cens else mean_sd(f_num.tolist())

        norm_test: NormalityTest | None = None
        norm_stat: float | None = None
        norm_p: float | None = None
        if cfg.force_test is not None:
            chosen, reason = cfg.force_test, f"{cfg.force_test.value} forced by settings"
        elif n_cens:
            chosen = PairedTest.WILCOXON
            reason = (
                f"{n_cens} censored value(s): rank test with censored values as ties ({cfg.substitution.value})"
            )
        else:
            min_n = 5 if cfg.normality_test is NormalityTest.KS_LILLIEFORS else 3
            if n < min_n or float(np.std(d, ddof=1)) == 0:
                chosen = PairedTest.WILCOXON
                reason = f"normality of differences not testable (n = {n} or zero spread): Wilcoxon"
            else:
                norm_test = cfg.normality_test
                if norm_test is NormalityTest.KS_LILLIEFORS:
                    norm_stat, norm_p = lilliefors_test(d.tolist())
                    name = "Kolmogorov–Smirnov (Lilliefors)"
                else:
                    sw = sps.shapiro(d)
                    norm_stat, norm_p = float(sw.statistic), float(sw.pvalue)
                    name = "Shapiro–Wilk"
                if norm_p > cfg.alpha_normality:
                    chosen = PairedTest.PAIRED_T
                    reason = (
                        f"differences normal ({name} P = {norm_p:.3f} > {cfg.alpha_normality}): paired t-test"
                    )
                else:
                    chosen = PairedTest.WILCOXON
                    reason = (
                        f"differences not normal ({name} P = {norm_p:.3f} <= {cfg.alpha_normality}): Wilcoxon"
                    )

        sd_diff = float(np.std(d, ddof=1))
        t_stat: float | None = None
        df: int | None = None
        w: WilcoxonResult | None = None
        if chosen is PairedTest.PAIRED_T:
            if sd_diff == 0:
                raise StatsInputError(
                    "follow_up", "all differences equal", "differences with non-zero SD for a t-test"
                )
            res = sps.ttest_rel(f_num, b_num)
            t_stat, df, p_value = float(res.statistic), n - 1, float(res.pvalue)
        else:
            w = wilcoxon_signed_rank(d.tolist())
            p_value = w.p_value
        return PairedComparison(
            test=chosen,
            reason=reason,
            n_pairs=n,
            n_dropped_incomplete=n_dropped,
            normality_test=norm_test,
            normality_statistic=norm_stat,
            normality_p=norm_p,
            p_value=p_value,
            t=t_stat,
            df=df,
            z=None if w is None else w.z,
            t_plus=None if w is None else w.t_plus,
            t_minus=None if w is None else w.t_minus,
            n_nonzero=None if w is None else w.n_nonzero,
            p_exact=None if w is None else w.p_exact,
            mean_diff=float(np.mean(d)),
            sd_diff=sd_diff,
            baseline_mean_sd=ms_b,
            follow_up_mean_sd=ms_f,
            baseline_median_iqr=mi_b,
            follow_up_median_iqr=mi_f,
            n_censored=n_cens,
            substitution=cfg.substitution if n_cens else None,
        )


def bonferroni(p_values: Sequence[float]) -> tuple[float, ...]:
    """Bonferroni-adjusted P (min(1, m·p)) for m comparisons vs baseline; report next to the unadjusted P."""
    ps = _floats(p_values, "p_values", 1)
    if np.any((ps < 0) | (ps > 1)):
        raise StatsInputError("p_values", p_values, "probabilities between 0 and 1")
    m = len(ps)
    return tuple(float(min(1.0, p * m)) for p in ps)


# ---------------------------------------------------------------------------------------------------------
# 2×2 tables and McNemar
# ---------------------------------------------------------------------------------------------------------


class ChiSquareRule(StrEnum):
    """Which rule picks the 2×2 test.

    CHINESE (default, §7.3): n >= 40 and all T >= 5 → Pearson; n >= 40 and some 1 <= T < 5 → Yates;
    n < 40 or any T < 1 → Fisher. COCHRAN: Fisher if any T < 5, else Pearson.
    """

    CHINESE = "chinese"
    COCHRAN = "cochran"


class TableTest(StrEnum):
    PEARSON = "pearson_chi2"
    YATES = "yates_chi2"
    FISHER = "fisher_exact"


@dataclass(frozen=True)
class TwoByTwoResult:
    """2×2 result: the chosen ``test`` with its ``statistic`` (χ², None for Fisher) and two-sided ``p_value``,
    plus every candidate (Pearson/Yates None when an expected count is 0) so reports can show them."""

    test: TableTest
    reason: str
    statistic: float | None
    p_value: float
    n: int
    min_expected: float
    pearson_chi2: float | None
    pearson_p: float | None
    yates_chi2: float | None
    yates_p: float | None
    fisher_p: float
    odds_ratio: float
    df: int = 1


def _table(table: Sequence[Sequence[int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        rows = [list(r) for r in table]
    except TypeError:
        raise StatsInputError("table", table, "[[a, b], [c, d]] of non-negative integers") from None
    if len(rows) != 2 or any(len(r) != 2 for r in rows):
        raise StatsInputError("table", table, "[[a, b], [c, d]] (2 rows × 2 columns)")
    for r in rows:
        for v in r:
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise StatsInputError("table", table, "non-negative integer counts")
    (a, b), (c, d) = rows
    return (int(a), int(b)), (int(c), int(d))


def compare_2x2(
    table: Sequence[Sequence[int]], rule: ChiSquareRule = ChiSquareRule.CHINESE
) -> TwoByTwoResult:
    """Independent 2×2 table [[a, b], [c, d]]: χ² / Yates / Fisher chosen by ``rule`` (thresholds compared
    exactly: T >= 5 ⇔ row·col >= 5n). Same patients at two time points → use :func:`mcnemar` instead."""
    (a, b), (c, d) = _table(table)
    n = a + b + c + d
    if n == 0:
        raise StatsInputError("table", table, "at least one observation")
    rows, cols = (a + b, c + d), (a + c, b + d)
    products = [r * k for r in rows for k in cols]  # expected count T = r·k / n
    min_prod = min(products)
    min_expected = min_prod / n
    arr = np.array([[a, b], [c, d]])
    pearson = yates = None
    if min_prod > 0:
        pearson = sps.chi2_contingency(arr, correction=False)
        yates = sps.chi2_contingency(arr, correction=True)
    fisher = sps.fisher_exact(arr, alternative="two-sided")
    t_ge5 = Fraction(min_prod, n) >= 5
    t_ge1 = Fraction(min_prod, n) >= 1
    if rule is ChiSquareRule.CHINESE:
        if n < 40 or not t_ge1:
            test = TableTest.FISHER
            reason = f"n = {n} < 40" if n < 40 else f"smallest expected count {min_expected:.2f} < 1"
        elif t_ge5:
            test, reason = TableTest.PEARSON, f"n = {n} >= 40 and all expected counts >= 5"
        else:
            test = TableTest.YATES
            reason = f"n = {n} >= 40 and smallest expected count {min_expected:.2f} in [1, 5)"
    else:
        if t_ge5:
            test, reason = TableTest.PEARSON, "all expected counts >= 5 (Cochran)"
        else:
            test, reason = TableTest.FISHER, f"smallest expected count {min_expected:.2f} < 5 (Cochran)"
    stat: float | None
    if test is TableTest.PEARSON:
        assert pearson is not None
        stat, p = float(pearson.statistic), float(pearson.pvalue)
    elif test is TableTest.YATES:
        assert yates is not None
        stat, p = float(yates.statistic), float(yates.pvalue)
    else:
        stat, p = None, float(fisher.pvalue)
    return TwoByTwoResult(
        test=test,
        reason=reason,
        statistic=stat,
        p_value=p,
        n=n,
        min_expected=float(min_expected),
        pearson_chi2=None if pearson is None else float(pearson.statistic),
        pearson_p=None if pearson is None else float(pearson.pvalue),
        yates_chi2=None if yates is None else float(yates.statistic),
        yates_p=None if yates is None else float(yates.pvalue),
        fisher_p=float(fisher.pvalue),
        odds_ratio=float(fisher.statistic),
    )


@dataclass(frozen=True)
class McNemarResult:
    """McNemar test for paired binary outcomes: discordant counts b, c and the exact two-sided binomial P."""

    b: int
    c: int
    p_value: float
    method: str = "exact binomial (two-sided)"


def mcnemar(table: Sequence[Sequence[int]]) -> McNemarResult:
    """McNemar exact test on a paired table [[both yes, yes→no], [no→yes, both no]] (§7.3).

    P = min(1, 2·BinomCDF(min(b, c); b + c, 1/2)); b + c = 0 → P = 1. Always exact, as the reference says.
    """
    (_, b), (c, _) = _table(table)
    m = b + c
    p = 1.0 if m == 0 else float(min(1.0, 2.0 * sps.binom.cdf(min(b, c), m, 0.5)))
    return McNemarResult(b, c, p)


# ---------------------------------------------------------------------------------------------------------
# Proportions
# ---------------------------------------------------------------------------------------------------------


class ProportionMethod(StrEnum):
    WILSON = "wilson"  # default (§7.4)
    WILSON_CC = "wilson_cc"
    CLOPPER_PEARSON = "clopper_pearson"
    WALD = "wald"  # contrast only: can fall outside 0–100 % (pitfall 19); not clipped


@dataclass(frozen=True)
class Proportion:
    """x/N with percentage and CI in percent. ``n`` = events, ``N`` = denominator."""

    n: int
    N: int
    pct: float
    ci_low_pct: float
    ci_high_pct: float
    method: ProportionMethod
    confidence: float = 0.95

    def format(self, decimals: int = 2) -> str:
        """ "36/42 (85.71%, 95% CI 72.16–93.28)"."""
        level = f"{self.confidence * 100:g}%"
        return (
            f"{self.n}/{self.N} ({self.pct:.{decimals}f}%, {level} CI "
            f"{self.ci_low_pct:.{decimals}f}–{self.ci_high_pct:.{decimals}f})"
        )


def proportion_ci(
    x: int, n: int, method: ProportionMethod = ProportionMethod.WILSON, confidence: float = 0.95
) -> Proportion:
    """Proportion x/n with a two-sided CI (percent). Wilson (default), Wilson-cc, Clopper–Pearson, Wald."""
    for name, v in (("x", x), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise StatsInputError(name, v, "an integer")
    if n < 1:
        raise StatsInputError("n", n, "an integer >= 1")
    if not 0 <= x <= n:
        raise StatsInputError("x", x, f"an integer between 0 and n = {n}")
    if not 0 < confidence < 1:
        raise StatsInputError("confidence", confidence, "a number strictly between 0 and 1")
    method = ProportionMethod(method)
    if method is ProportionMethod.WALD:
        p = x / n
        half = sps.norm.ppf(0.5 + confidence / 2) * math.sqrt(p * (1 - p) / n)
        lo, hi = p - half, p + half
    else:
        scipy_names: dict[ProportionMethod, Literal["exact", "wilson", "wilsoncc"]] = {
            ProportionMethod.WILSON: "wilson",
            ProportionMethod.WILSON_CC: "wilsoncc",
            ProportionMethod.CLOPPER_PEARSON: "exact",
        }
        scipy_name = scipy_names[method]
        ci = sps.binomtest(int(x), int(n)).proportion_ci(confidence_level=confidence, method=scipy_name)
        lo, hi = float(ci.low), float(ci.high)
    return Proportion(int(x), int(n), 100.0 * x / n, 100.0 * lo, 100.0 * hi, method, confidence)

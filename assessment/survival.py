"""Kaplan–Meier product-limit estimator (pure core: numpy and scipy, no Django).

:func:`kaplan_meier` takes one time per subject (days from implant to the event or to the last follow-up) and
whether the event was observed (True) or the subject was censored (False), and returns a frozen
:class:`KaplanMeier` table with one row per distinct observed time (plus a row at day 0 when nobody has a
time of 0):

* survival S(t) = Π (1 − dᵢ / nᵢ) over the event times tᵢ ≤ t (nᵢ at risk just before tᵢ, dᵢ events at tᵢ);
  at a time with both events and censorings the events come first (the censored subjects count as at risk),
  the usual convention;
* Greenwood's variance Var S(t) = S(t)² · Σ dᵢ / (nᵢ (nᵢ − dᵢ)); a term with nᵢ = dᵢ (the last subject at
  risk has the event) is left out, as lifelines does — S is 0 from there on and so is its variance;
* the pointwise confidence interval on the log(−log) scale ("exponential Greenwood", lifelines' and R
  survfit's ``conf.type = "log-log"``): exp(−exp(log(−log S) ± z · se)), se = √Σ / |log S|; it is [1, 1] where
  S = 1 and [0, 0] where S = 0;
* the median survival time: the smallest time with S(t) ≤ 0.5 (lifelines' convention; R's survfit averages
  with the next event time when S equals 0.5 exactly over an interval), or None when the curve stays above
  0.5 ("not reached"). S values within 1e-12 of 0.5 count as 0.5, so rounding of the product cannot move the
  median;
* :meth:`KaplanMeier.at_risk` gives the "numbers at risk" under a plot: subjects whose time is ≥ t.

Checked against lifelines' ``KaplanMeierFitter`` (tests/assessment/test_survival.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy.stats import norm

from common.errors import InputError

__all__ = ["KaplanMeier", "SurvivalInputError", "kaplan_meier"]

_MEDIAN_TOLERANCE = 1e-12


class SurvivalInputError(InputError):
    """Bad input to the survival core; the one-line message names the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: object, allowed: str) -> None:
        text = repr(value)
        if len(text) > 80:
            text = text[:77] + "..."
        super().__init__(f"{field_name}: got {text}; allowed: {allowed}", field=field_name, value=value, allowed=allowed)


class _Said(str):
    """A value already worded for a message (``repr`` is the text itself, e.g. "2 values")."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier table. All tuples have one entry per row; rows are in increasing ``time_days``, the
    first row is day 0 (S = 1 unless events happen at day 0).

    n_subjects: number of subjects.
    time_days: the row times: 0 and every distinct observed time (event or censoring), days.
    n_at_risk: subjects with time ≥ the row time (at risk just before it).
    events: events observed at the row time. censored: subjects censored at the row time.
    survival: S(t) from the row time until the next row.
    variance: Greenwood's variance of S(t).
    ci_low, ci_high: pointwise ``confidence`` interval of S(t), log(−log) transform.
    median_days: median survival time (days), None when S never falls to 0.5 (median not reached).
    confidence: level of the interval, e.g. 0.95.
    """

    n_subjects: int
    time_days: tuple[float, ...]
    n_at_risk: tuple[int, ...]
    events: tuple[int, ...]
    censored: tuple[int, ...]
    survival: tuple[float, ...]
    variance: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    median_days: float | None
    confidence: float = 0.95

    @property
    def n_events(self) -> int:
        """Total number of observed events."""
        return sum(self.events)

    def at_risk(self, at_days: Sequence[float]) -> list[int]:
        """Numbers at risk at each of ``at_days`` (finite, ≥ 0): the subjects whose time is ≥ that day (still
        followed, without the event, just before it). 0 after the last observed time."""
        t = _times(at_days, "at_days", min_n=0)
        idx = np.searchsorted(np.asarray(self.time_days), t, side="left")
        counts = np.append(np.asarray(self.n_at_risk, dtype=np.int64), 0)
        return [int(c) for c in counts[idx]]

    def survival_at(self, at_days: Sequence[float]) -> list[float]:
        """S(t) at each of ``at_days`` (finite, ≥ 0): the value of the step function, right-continuous (an event
        at day t already counts at t); after the last observed time, the last value (unknown beyond it)."""
        t = _times(at_days, "at_days", min_n=0)
        idx = np.searchsorted(np.asarray(self.time_days), t, side="right") - 1
        s = np.asarray(self.survival)
        return [float(s[i]) for i in idx]  # idx ≥ 0: the first row is day 0 and t ≥ 0


def _times(values: Sequence[float], name: str, min_n: int) -> np.ndarray:
    if isinstance(values, str | bytes):
        raise SurvivalInputError(name, values, "a sequence of numbers of days")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SurvivalInputError(name, values, "a sequence of numbers of days") from None
    if arr.ndim != 1:
        raise SurvivalInputError(name, values, "a flat sequence of numbers of days")
    if arr.size < min_n:
        raise SurvivalInputError(name, _Said(f"{arr.size} values"), f"at least {min_n} subject{'s' if min_n > 1 else ''}")
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr >= 0)))
    if bad.size:
        i = int(bad[0])
        raise SurvivalInputError(f"{name}[{i}]", float(arr[i]), "a finite number of days ≥ 0")
    return arr


def _events(values: Sequence[bool], n: int) -> np.ndarray:
    allowed = "True (event observed) or False (censored), or 1 / 0"
    if isinstance(values, str | bytes):
        raise SurvivalInputError("events", values, f"a sequence of {allowed}")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # pragma: no cover - ragged input
        raise SurvivalInputError("events", values, f"a sequence of {allowed}") from None
    if arr.ndim != 1:
        raise SurvivalInputError("events", values, f"a flat sequence of {allowed}")
    if arr.size != n:
        raise SurvivalInputError(
            "events", _Said(f"{arr.size} values"), f"one per subject: times_days has {n}, so {n} values"
        )
    if arr.dtype == np.bool_:
        return arr
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, bool) or (isinstance(v, int | float) and v in (0, 1)):
            continue
        raise SurvivalInputError(f"events[{i}]", v, allowed)
    return cast(np.ndarray, arr.astype(np.float64) == 1.0)


def kaplan_meier(
    times_days: Sequence[float], events: Sequence[bool], confidence: float = 0.95
) -> KaplanMeier:
    """Kaplan–Meier estimate from one (time, event) pair per subject; see the module docstring.

    times_days: days from the origin (e.g. implant) to the event or the last follow-up; finite, ≥ 0.
    events: True where the event was observed at that time, False where the subject was censored.
    confidence: level of the pointwise interval, 0 < confidence < 1.

    Raises :class:`SurvivalInputError` for no subjects, unequal lengths, a negative / non-finite time or an
    event flag that is not a boolean (0/1)."""
    t = _times(times_days, "times_days", min_n=1)
    e = _events(events, t.size)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise SurvivalInputError("confidence", confidence, "a number strictly between 0 and 1, e.g. 0.95")

    n = t.size
    times, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e.astype(np.float64), minlength=times.size).astype(np.int64)
    removed = np.bincount(inverse, minlength=times.size).astype(np.int64)
    if times[0] > 0:  # the curve starts at day 0 with everyone at risk
        times = np.concatenate(([0.0], times))
        d = np.concatenate(([0], d))
        removed = np.concatenate(([0], removed))
    c = removed - d
    at_risk = n - np.concatenate(([0], np.cumsum(removed)[:-1]))

    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(1.0 - d / at_risk)
        terms = np.where(at_risk > d, d / (at_risk * (at_risk - d)), 0.0)
        g = np.cumsum(terms)
        var = np.where(s > 0, s * s * g, 0.0)
        z = float(norm.ppf(0.5 + confidence / 2.0))
        log_s = np.log(s)
        shift = z * np.sqrt(g) / log_s  # log_s < 0 on (0, 1); the sign follows lifelines' formula
        inner = np.log(-log_s)
        low = np.exp(-np.exp(inner - shift))
        high = np.exp(-np.exp(inner + shift))
    one = s >= 1.0
    zero = s <= 0.0
    low = np.where(one, 1.0, np.where(zero, 0.0, low))
    high = np.where(one, 1.0, np.where(zero, 0.0, high))

    below = np.flatnonzero(s <= 0.5 + _MEDIAN_TOLERANCE)
    median = float(times[below[0]]) if below.size else None

    return KaplanMeier(
        n_subjects=int(n),
        time_days=tuple(float(x) for x in times),
        n_at_risk=tuple(int(x) for x in at_risk),
        events=tuple(int(x) for x in d),
        censored=tuple(int(x) for x in c),
        survival=tuple(float(x) for x in s),
        variance=tuple(float(x) for x in var),
        ci_low=tuple(float(x) for x in low),
        ci_high=tuple(float(x) for x in high),
        median_days=median,
        confidence=float(confidence),
    )

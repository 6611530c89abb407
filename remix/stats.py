"""Statistics over seeds: a mean with its 95% interval, and Welch's t-test between two variants.

Seeds are few (often 2 to 5), so intervals use Student's t, not the normal quantile, and an effect is
only called real when Welch's test says so; everything else is "within noise" and is not ranked.
One seed gives a mean and no interval: that is stated, never papered over with a guessed spread.

Times are positive and their spread is multiplicative, so a time is summarised on the log scale: the
geometric mean, with the interval exp(mean log ± t·se) (never below zero, however few or spread the
seeds), and two times are compared by their ratio (Welch on log times). `time_effect` turns that ratio
back into seconds: Δ = GM(after) − GM(before) = GM(before)·(ratio − 1), its interval GM(before)·(ratio
interval − 1). Losses are summarised and compared as they are (arithmetic mean, Welch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE


@dataclass(frozen=True)
class Estimate:
    """A mean over `n` samples and the half-width of its interval (None when n < 2)."""
    mean: float
    half_width: float | None
    n: int

    @property
    def lo(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def hi(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def format(self, fmt: str = "{:.3g}", scale: float = 1.0) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        text = fmt.format(self.mean * scale)
        if self.half_width is not None and math.isfinite(self.half_width):
            text += " ± " + fmt.format(self.half_width * scale)
        return text


@dataclass(frozen=True)
class Comparison:
    """b − a with its Welch interval and p-value; `significant` is False when within noise or untestable."""
    diff: float
    half_width: float | None
    p_value: float | None
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.diff):
            return "n/a (no value on one side)"
        if self.p_value is None:
            return "untested (needs ≥2 seeds each)"
        return f"p={self.p_value:.2g}" if self.significant else f"within noise (p={self.p_value:.2g})"


def _clean(values: Iterable[float | None]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    return float(_st.t.ppf(0.5 + confidence / 2.0, df))


def mean_interval(values: Iterable[float | None], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and Student-t half-width over the finite values; NaN mean when there are none."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, None, 0)
    if n == 1:
        return Estimate(float(x[0]), None, 1)
    sem = float(np.std(x, ddof=1)) / math.sqrt(n)
    return Estimate(float(np.mean(x)), t_quantile(n - 1, confidence) * sem, n)


def welch(a: Iterable[float | None], b: Iterable[float | None], confidence: float = CONFIDENCE) -> Comparison:
    """Welch's unequal-variance comparison of mean(b) − mean(a).

    With fewer than two samples on either side there is no variance to test against: the difference
    is returned with no interval and no p-value (reported as untested, never as an effect).
    """
    xa, xb = _clean(a), _clean(b)
    if len(xa) == 0 or len(xb) == 0:
        return Comparison(math.nan, None, None, len(xa), len(xb))
    diff = float(np.mean(xb) - np.mean(xa))
    if len(xa) < 2 or len(xb) < 2:
        return Comparison(diff, None, None, len(xa), len(xb))
    va, vb = np.var(xa, ddof=1) / len(xa), np.var(xb, ddof=1) / len(xb)
    se2 = float(va + vb)
    if se2 == 0.0:
        # identical repeats on both sides: any difference is exact, none is noise
        return Comparison(diff, 0.0, 0.0 if diff != 0 else 1.0, len(xa), len(xb))
    df = se2 ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1))
    t = diff / math.sqrt(se2)
    p = float(2.0 * _st.t.sf(abs(t), df))
    return Comparison(diff, t_quantile(df, confidence) * math.sqrt(se2), p, len(xa), len(xb))


@dataclass(frozen=True)
class Interval:
    """A central value and its 95% interval (lo/hi None with fewer than two values)."""
    value: float
    lo: float | None
    hi: float | None
    n: int


def log_mean_interval(values: Iterable[float | None], confidence: float = CONFIDENCE) -> Interval:
    """Geometric mean of positive values with the Student-t interval of the mean log, exponentiated."""
    x = _clean(values)
    x = x[x > 0]
    n = len(x)
    if n == 0:
        return Interval(math.nan, None, None, 0)
    logs = np.log(x)
    centre = float(np.mean(logs))
    if n == 1:
        return Interval(float(x[0]), None, None, 1)
    hw = t_quantile(n - 1, confidence) * float(np.std(logs, ddof=1)) / math.sqrt(n)
    return Interval(math.exp(centre), math.exp(centre - hw), math.exp(centre + hw), n)


def mean_lo_hi(values: Iterable[float | None], confidence: float = CONFIDENCE) -> Interval:
    e = mean_interval(values, confidence)
    return Interval(e.mean, e.lo, e.hi, e.n)


@dataclass(frozen=True)
class Effect:
    """after − before, with its 95% interval (lo, hi), the ratio after/before for times, Welch's p."""
    diff: float
    lo: float | None
    hi: float | None
    p_value: float | None
    n_a: int
    n_b: int
    ratio: float | None = None
    ratio_lo: float | None = None
    ratio_hi: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def verdict(self) -> str:
        return Comparison(self.diff, None, self.p_value, self.n_a, self.n_b).verdict


def loss_effect(before: Iterable[float | None], after: Iterable[float | None]) -> Effect:
    c = welch(before, after)
    hw = c.half_width
    return Effect(c.diff, None if hw is None else c.diff - hw, None if hw is None else c.diff + hw, c.p_value,
                  c.n_a, c.n_b)


def time_effect(before: Iterable[float | None], after: Iterable[float | None]) -> Effect:
    """Δ time from the ratio of geometric means; interval and p from Welch's test on log times."""
    xa, xb = _clean(before), _clean(after)
    xa, xb = xa[xa > 0], xb[xb > 0]
    if len(xa) == 0 or len(xb) == 0:
        return Effect(math.nan, None, None, None, len(xa), len(xb))
    ga, gb = float(np.exp(np.mean(np.log(xa)))), float(np.exp(np.mean(np.log(xb))))
    c = welch(np.log(xa), np.log(xb))
    ratio = gb / ga
    if c.half_width is None:
        return Effect(gb - ga, None, None, c.p_value, len(xa), len(xb), ratio)
    r_lo, r_hi = math.exp(c.diff - c.half_width), math.exp(c.diff + c.half_width)
    return Effect(gb - ga, ga * (r_lo - 1), ga * (r_hi - 1), c.p_value, len(xa), len(xb), ratio, r_lo, r_hi)

"""Time-to-target: how many steps (and so how much training time) a variant needs to land on the target.

The speedrun tunes each configuration's step count so that its *final* val loss lands on the target.
Because every schedule ends in an LR cooldown, the first crossing of a longer run says nothing about
the step count that would have been tuned; so remix never reads times off a curve. Two modes:

- exact: runs at a few step counts (each with its schedule scaled to its length), a fit of final loss
  against log(steps) around the crossing, and the step count where the fit meets the target. The step
  counts come from a search (`next_steps`): bracket the crossing, then interpolate, until the bracket is
  within a tolerance. Its interval comes from the fit's residuals (or a given loss noise). Only a
  bracket at most EXACT_MAX_BRACKET wide is called exact: a 30-step and a 120-step run that happen to
  straddle the target are two experiments, not a converged search.
- cheap: one run at a fixed step count; its loss gap to the target is turned into steps by the local
  slope of final loss against steps, itself measured from two step counts at most ×LOCAL apart (never
  assumed: the speedrun quotes 0.0045 per 100 steps near 3.28 for its own setup only; and a slope
  measured at 120 steps says nothing about one at 30).

Time-to-target = steps × the run's measured ms/step. Every estimate carries the mode that produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import stats as _st

EXACT, CHEAP, NONE = "exact", "cheap", "none"
NEAR = 1.15      # how far (in step ratio) a neighbour of the bracket may lie and still join the fit
EXACT_MAX_BRACKET = 0.10   # (hi − lo) / hi of the straddling runs; wider is an unfinished search
LOCAL = 1.5      # two step counts at most this ratio apart measure a local slope (a slope run is ×1.25)
# A local slope says little about a loss far from where it was measured: a cheap estimate more than
# FAR (relative) away from its run is flagged, one beyond ×MAX_REACH either way is refused.
FAR, MAX_REACH = 0.25, 4.0


@dataclass(frozen=True)
class Point:
    """One finished run: its step count, final val loss and measured ms/step."""
    steps: int
    loss: float
    ms_per_step: float | None = None


@dataclass(frozen=True)
class TimeToTarget:
    mode: str                         # exact | cheap | none (no estimate possible; `note` says why)
    steps: float | None = None
    steps_lo: float | None = None     # the 95% interval on steps, when the mode can give one
    steps_hi: float | None = None
    ms_per_step: float | None = None
    n_points: int = 0                 # runs that went into the estimate
    slope: float | None = None        # d(final loss)/d(step) used or fitted at the crossing
    slope_from: str = ""              # where a cheap-mode slope was measured
    note: str = ""
    reach: float | None = None        # cheap: steps to target / steps run (how far the slope is stretched)

    @property
    def time_ms(self) -> float | None:
        return _times(self.steps, self.ms_per_step)

    @property
    def time_lo_ms(self) -> float | None:
        return _times(self.steps_lo, self.ms_per_step)

    @property
    def time_hi_ms(self) -> float | None:
        return _times(self.steps_hi, self.ms_per_step)


def _times(steps: float | None, ms: float | None) -> float | None:
    return None if steps is None or ms is None else steps * ms


# --- grouping ------------------------------------------------------------------------------------

def by_steps(points: Iterable[Point]) -> list[Point]:
    """One point per step count (losses and ms/step averaged over repeats), sorted by steps."""
    groups: dict[int, list[Point]] = {}
    for p in points:
        if p.loss is not None and math.isfinite(p.loss) and p.steps > 0:
            groups.setdefault(int(p.steps), []).append(p)
    out = []
    for s in sorted(groups):
        ps = groups[s]
        ms = [p.ms_per_step for p in ps if p.ms_per_step is not None and math.isfinite(p.ms_per_step)]
        # plain means: this runs per variant and seed, thousands of times in a large report
        out.append(Point(s, sum(p.loss for p in ps) / len(ps), sum(ms) / len(ms) if ms else None))
    return out


def bracket(points: Sequence[Point], target: float) -> tuple[Point, Point] | None:
    """The tightest adjacent pair (by steps) whose final losses straddle the target: above, then at/below."""
    pts = by_steps(points)
    pairs = [(a, b) for a, b in zip(pts, pts[1:]) if a.loss > target >= b.loss]
    return min(pairs, key=lambda ab: ab[1].steps - ab[0].steps) if pairs else None


def bracket_width(points: Sequence[Point], target: float) -> float | None:
    """(hi − lo) / hi of the tightest bracket, None when nothing straddles the target."""
    br = bracket(points, target)
    return None if br is None else (br[1].steps - br[0].steps) / br[1].steps


def exact(points: Sequence[Point], target: float, noise: float | None = None) -> TimeToTarget | None:
    """The exact-mode estimate when the runs hold a converged bracket (≤ EXACT_MAX_BRACKET), else None."""
    width = bracket_width(points, target)
    if width is None or width > EXACT_MAX_BRACKET:
        return None
    est = fit_crossing(points, target, noise)
    return est if est.mode == EXACT else None


def _mean_ms(points: Sequence[Point]) -> float | None:
    ms = [p.ms_per_step for p in points if p.ms_per_step is not None]
    return float(np.mean(ms)) if ms else None


# --- exact mode ----------------------------------------------------------------------------------

def fit_crossing(points: Sequence[Point], target: float, noise: float | None = None,
                 confidence: float = 0.95) -> TimeToTarget:
    """Exact mode: fit final loss = a + b·ln(steps) around the bracket and solve for the target.

    Log-steps because final loss falls roughly as a power of steps, which is close to linear in
    ln(steps) over the narrow range a converged search spans. Only the bracket and its nearest
    neighbour on each side, if within ×NEAR in steps, are fitted, so far-off points from the bracketing
    phase do not bend the fit.
    The interval uses the fit's residuals (Student t, n−2 df) when there are ≥3 step counts, else the
    given `noise` (the seed-to-seed sd of final loss), else there is none.
    """
    pts = by_steps(points)
    br = bracket(pts, target)
    if br is None:
        return TimeToTarget(NONE, n_points=len(pts), note="the runs do not bracket the target")
    i = pts.index(br[0])
    lo, hi = br
    # neighbours further than NEAR away would bend a straight fit with the curve's curvature
    window = [p for p in pts[max(0, i - 1): i + 3]
              if p in br or lo.steps / NEAR <= p.steps <= hi.steps * NEAR]
    x = np.log([p.steps for p in window])
    y = np.array([p.loss for p in window])
    A = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    ms = _mean_ms(window)
    if not b < 0:
        return TimeToTarget(NONE, n_points=len(window), ms_per_step=ms,
                            note="final loss does not fall with steps around the target (noise?)")
    xstar = (target - a) / b
    steps = float(math.exp(xstar))
    n = len(window)
    sigma, q = None, None
    if n >= 3:
        resid = y - A @ np.array([a, b])
        sigma, q = float(math.sqrt(resid @ resid / (n - 2))), float(_st.t.ppf(0.5 + confidence / 2, n - 2))
    elif noise is not None and noise > 0:
        sigma, q = float(noise), float(_st.norm.ppf(0.5 + confidence / 2))
    lo = hi = None
    if sigma is not None:
        cov = sigma ** 2 * np.linalg.inv(A.T @ A)
        grad = np.array([-1.0 / b, -(target - a) / b ** 2])   # d x*/d(a, b)
        sd = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
        lo, hi = math.exp(xstar - q * sd), math.exp(xstar + q * sd)
    note = ""
    if sum(1 for p, r in zip(pts, pts[1:]) if p.loss > target >= r.loss) > 1:
        note = "final loss is not monotone in steps: noise is larger than the step resolution"
    return TimeToTarget(EXACT, steps, lo, hi, ms, n, slope=float(b / steps), note=note)


# --- cheap mode ----------------------------------------------------------------------------------

def local_slope_at(points: Sequence[Point], at: int) -> float | None:
    """d(final loss)/d(step) at `at` steps: from the run at `at` and the nearest other step count at most
    ×LOCAL away (a sweep's slope run). None without such a pair. A slope that is not negative is returned
    as measured: `cheap` then says that loss did not fall there, rather than that nothing was measured."""
    pts = by_steps(points)
    here = [p for p in pts if p.steps == at]
    near = [p for p in pts if p.steps != at and max(p.steps, at) / min(p.steps, at) <= LOCAL]
    if not here or not near:
        return None
    other = min(near, key=lambda p: abs(math.log(p.steps / at)))
    return (other.loss - here[0].loss) / (other.steps - at)


def local_slope(points: Sequence[Point], near: float | None = None) -> float | None:
    """d(final loss)/d(step) from the two step counts whose losses lie closest to `near` (the target).

    A straight line through two measured step counts: the local slope the cheap mode needs. None when
    fewer than two step counts were run.
    """
    pts = by_steps(points)
    if len(pts) < 2:
        return None
    if near is not None:
        pts = sorted(sorted(pts, key=lambda p: abs(p.loss - near))[:2], key=lambda p: p.steps)
    else:
        pts = pts[-2:]
    (s1, l1), (s2, l2) = (pts[0].steps, pts[0].loss), (pts[1].steps, pts[1].loss)
    return (l2 - l1) / (s2 - s1)


def cheap(point: Point, target: float, slope: float | None, slope_from: str = "") -> TimeToTarget:
    """Cheap mode: steps = steps_run + (target − final loss) / slope, slope measured elsewhere."""
    if slope is None:
        return TimeToTarget(NONE, n_points=1, ms_per_step=point.ms_per_step,
                            note=f"no slope measured near {point.steps:,} steps (a sweep's slope run gives one: "
                                 f"the full recipe at ×1.25 its steps)")
    if not slope < 0:
        return TimeToTarget(NONE, n_points=1, ms_per_step=point.ms_per_step, slope=slope, slope_from=slope_from,
                            note="the measured slope is not negative: loss does not fall with steps there")
    steps = point.steps + (target - point.loss) / slope
    ratio = steps / point.steps
    if not 1 / MAX_REACH <= ratio <= MAX_REACH:
        return TimeToTarget(NONE, n_points=1, ms_per_step=point.ms_per_step, slope=slope, slope_from=slope_from,
                            note=f"the loss gap is too large for a local slope to bridge (it would say "
                                 f"{max(steps, 0):,.0f} steps from a run of {point.steps:,}); run near the target")
    note = f"extrapolated {ratio - 1:+.0%} from the run's steps: indicative only" if abs(ratio - 1) > FAR else ""
    return TimeToTarget(CHEAP, float(steps), None, None, point.ms_per_step, 1, slope, slope_from, note, ratio)


# --- the exact-mode search -----------------------------------------------------------------------

def next_steps(points: Sequence[Point], target: float, start: int, tol: float = 0.02,
               grow: float = 2.0, max_steps: int | None = None) -> list[int]:
    """The step counts to run next to pin the crossing within `tol` (relative); [] when done or stuck.

    1. No runs: the recipe's own step count.
    2. Not bracketed: extrapolate past the crossing (log-linear through the two nearest runs, with a 5%
       overshoot so the next run lands on the other side), at most ×`grow` away, at least 10%.
    3. Bracketed wider than tol: interpolate the crossing s*, then run s*·(1 ± 0.45·tol), so that when
       the interpolation is good the next bracket is already within tolerance; if it is not, the bracket
       still shrinks. Deterministic in its inputs, so a resumed search proposes the same runs again.
    """
    pts = by_steps(points)
    done = {p.steps for p in pts}
    if not pts:
        return [int(start)]
    br = bracket(pts, target)
    if br is not None:
        lo, hi = br
        if hi.steps - lo.steps <= max(tol * hi.steps, 1):
            return []
        f = (target - lo.loss) / (hi.loss - lo.loss)
        s = math.exp(math.log(lo.steps) + f * (math.log(hi.steps) - math.log(lo.steps)))
        d = 0.45 * tol * s
        cands = {int(round(s - d)), int(round(s + d))}
        cands = {min(max(c, lo.steps + 1), hi.steps - 1) for c in cands}
        return sorted(c for c in cands if c not in done and lo.steps < c < hi.steps)
    above = all(p.loss > target for p in pts)
    edge = pts[-1] if above else pts[0]
    est = None
    if len(pts) >= 2:
        a, b = (pts[-2], pts[-1]) if above else (pts[0], pts[1])
        slope = (b.loss - a.loss) / (math.log(b.steps) - math.log(a.steps))
        if slope < 0:
            est = math.exp(math.log(edge.steps) + (target - edge.loss) / slope)
    if above:
        s = (est * 1.05) if est else edge.steps * grow
        s = min(max(s, edge.steps * 1.1), edge.steps * grow)
        if max_steps is not None:
            s = min(s, max_steps)
    else:
        s = (est * 0.95) if est else edge.steps / grow
        s = max(min(s, edge.steps / 1.1), edge.steps / grow, 1)
    s = int(round(s))
    return [] if s in done else [s]

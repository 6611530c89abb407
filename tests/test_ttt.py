"""Time-to-target: the target search on synthetic loss-vs-steps functions with known crossings."""

import math

import numpy as np
import pytest

from remix import ttt
from remix.ttt import Point

TARGET = 3.28


def power_law(s: float) -> float:
    # final loss of a run tuned to s steps: 2.8 + 20/sqrt(s); crosses 3.28 at s = (20/0.48)^2
    return 2.8 + 20.0 / math.sqrt(s)


TRUE_CROSSING = (20.0 / (TARGET - 2.8)) ** 2   # 1736.1 steps


def search(loss_fn, start, tol=0.02, rounds=12, ms=100.0):
    points, proposals = [], []
    for _ in range(rounds):
        nxt = ttt.next_steps(points, TARGET, start, tol=tol)
        if not nxt:
            break
        proposals.append(nxt)
        points += [Point(s, loss_fn(s), ms) for s in nxt]
    return points, proposals


@pytest.mark.parametrize("start", [400, 1700, 2500, 9000])
def test_search_brackets_then_converges_on_the_known_crossing(start):
    points, proposals = search(power_law, start)
    assert ttt.next_steps(points, TARGET, start) == []          # it stopped on its own
    lo, hi = ttt.bracket(points, TARGET)
    assert lo.steps < TRUE_CROSSING < hi.steps
    assert hi.steps - lo.steps <= 0.02 * hi.steps
    assert len(points) <= 9                                     # a handful of runs, not a scan
    est = ttt.fit_crossing(points, TARGET)
    assert est.mode == ttt.EXACT
    assert est.steps == pytest.approx(TRUE_CROSSING, rel=0.002)
    assert est.time_ms == pytest.approx(est.steps * 100.0)


def test_search_is_deterministic_so_a_resumed_search_asks_for_the_same_runs():
    a, _ = search(power_law, 2500)
    b, _ = search(power_law, 2500)
    assert [p.steps for p in a] == [p.steps for p in b]


def test_first_proposal_is_the_recipe_step_count():
    assert ttt.next_steps([], TARGET, 2500) == [2500]


def test_fit_interval_from_residuals_covers_the_truth_under_noise():
    rng = np.random.default_rng(0)
    steps = [1500, 1650, 1800, 1950]
    pts = [Point(s, power_law(s) + rng.normal(0, 0.002), 50.0) for s in steps]
    est = ttt.fit_crossing(pts, TARGET)
    assert est.mode == ttt.EXACT and est.n_points >= 3
    assert est.steps_lo < TRUE_CROSSING < est.steps_hi
    assert est.steps_lo < est.steps < est.steps_hi
    assert est.time_lo_ms == pytest.approx(est.steps_lo * 50.0)


def test_two_point_fit_has_an_interval_only_when_the_loss_noise_is_given():
    pts = [Point(1700, power_law(1700)), Point(1780, power_law(1780))]
    assert ttt.fit_crossing(pts, TARGET).steps_lo is None
    noisy = ttt.fit_crossing(pts, TARGET, noise=0.003)
    assert noisy.steps_lo < noisy.steps < noisy.steps_hi


def test_unbracketed_runs_give_no_exact_estimate():
    pts = [Point(500, power_law(500)), Point(800, power_law(800))]   # both above target
    assert ttt.fit_crossing(pts, TARGET).mode == ttt.NONE


def test_cheap_mode_converts_the_loss_gap_with_the_measured_slope():
    # a locally straight final-loss curve: 0.0045 per 100 steps, on target at 2000 steps
    line = lambda s: TARGET + 4.5e-5 * (2000 - s)
    slope = ttt.local_slope([Point(1800, line(1800)), Point(2200, line(2200))], near=TARGET)
    assert slope == pytest.approx(-4.5e-5)
    est = ttt.cheap(Point(1800, line(1800), 150.0), TARGET, slope, "full recipe")
    assert est.mode == ttt.CHEAP and est.steps == pytest.approx(2000)
    assert est.time_ms == pytest.approx(300_000)
    assert est.slope_from == "full recipe"


def test_cheap_mode_refuses_without_a_measured_falling_slope():
    p = Point(1800, 3.3)
    assert ttt.cheap(p, TARGET, None).mode == ttt.NONE
    assert "no slope" in ttt.cheap(p, TARGET, None).note
    assert ttt.cheap(p, TARGET, 1e-5).mode == ttt.NONE


def test_exact_needs_a_converged_bracket():
    truth = (20 / 0.48) ** 2   # 1736
    near = [Point(s, power_law(s)) for s in (1700, 1750)]          # 2.9% apart
    e = ttt.exact(near, TARGET)
    assert e is not None and e.mode == ttt.EXACT and e.steps == pytest.approx(truth, rel=0.001)
    wide = [Point(s, power_law(s)) for s in (1000, 2400)]           # straddles, but 58% apart: two experiments
    assert ttt.bracket(wide, TARGET) is not None and ttt.exact(wide, TARGET) is None
    assert ttt.bracket_width(wide, TARGET) == pytest.approx(1400 / 2400)
    assert ttt.exact([Point(1000, power_law(1000))], TARGET) is None


def test_a_local_slope_comes_from_a_nearby_step_count_only():
    pts = [Point(s, power_law(s)) for s in (1000, 1250, 4000)]
    slope = ttt.local_slope_at(pts, 1000)                             # from 1000 and 1250, not 4000
    assert slope == pytest.approx((power_law(1250) - power_law(1000)) / 250)
    assert ttt.local_slope_at(pts, 4000) is None                     # nothing within ×1.5 of 4000
    flat = [Point(30, 2.4519), Point(38, 2.4529)]                     # loss did not fall: said so, not hidden
    assert ttt.local_slope_at(flat, 30) > 0
    assert "not negative" in ttt.cheap(Point(30, 2.4519), 2.4, ttt.local_slope_at(flat, 30)).note


def test_cheap_mode_flags_far_extrapolation_and_refuses_absurd_reach():
    near = ttt.cheap(Point(2000, TARGET + 0.0045), TARGET, -4.5e-5)
    assert near.steps == pytest.approx(2100) and near.note == ""
    far = ttt.cheap(Point(2000, TARGET + 0.045), TARGET, -4.5e-5)       # 3000 steps: +50%
    assert far.mode == ttt.CHEAP and "extrapolated +50% from the run" in far.note
    absurd = ttt.cheap(Point(120, 2.77), TARGET, -0.0046)                 # would need 9 steps
    assert absurd.mode == ttt.NONE and "too large" in absurd.note

"""Statistics over seeds: t intervals and Welch's test, checked against textbook values and scipy."""

import math

import pytest
from scipy import stats as st

from remix import stats


def test_mean_interval_uses_student_t():
    e = stats.mean_interval([1.0, 2.0, 3.0])
    assert e.mean == 2.0 and e.n == 3
    assert e.half_width == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)
    assert e.lo < 2.0 < e.hi


def test_one_seed_has_no_interval_and_missing_values_are_ignored():
    e = stats.mean_interval([5.0, None, float("nan")])
    assert e.mean == 5.0 and e.half_width is None and e.n == 1
    assert math.isnan(stats.mean_interval([]).mean)
    assert stats.mean_interval([]).format() == "n/a"


def test_welch_matches_scipy():
    a, b = [10.1, 10.4, 9.8, 10.0], [9.1, 9.6, 9.3]
    c = stats.welch(a, b)
    ref = st.ttest_ind(b, a, equal_var=False)
    assert c.diff == pytest.approx(sum(b) / 3 - sum(a) / 4)
    assert c.p_value == pytest.approx(ref.pvalue)
    assert c.significant and c.verdict.startswith("p=")


def test_overlapping_seeds_are_within_noise():
    c = stats.welch([10.0, 10.5, 9.6], [10.1, 9.9, 10.4])
    assert not c.significant
    assert "within noise" in c.verdict


def test_single_seeds_are_untested_not_significant():
    c = stats.welch([10.0], [8.0])
    assert c.diff == -2.0 and c.p_value is None and not c.significant
    assert "untested" in c.verdict


def test_a_missing_side_is_no_comparison():
    c = stats.welch([1.0, 2.0], [])
    assert math.isnan(c.diff) and not c.significant and c.verdict.startswith("n/a")


def test_time_intervals_are_on_the_log_scale_and_never_negative():
    # the issue's −rope: three seeds of very different cheap estimates; a t interval on seconds went to −56 s
    e = stats.log_mean_interval([26.9, 1.9, 2.1])
    assert e.lo > 0 and e.lo < e.value < e.hi
    assert e.value == pytest.approx(math.exp(sum(math.log(x) for x in (26.9, 1.9, 2.1)) / 3))
    one = stats.log_mean_interval([5.0, None, float("nan"), -1.0])   # a negative time is not a time
    assert one.value == pytest.approx(5.0) and one.lo is None and one.n == 1


def test_time_effect_is_the_ratio_of_geometric_means_in_seconds():
    before, after = [10.0, 11.0, 10.5], [8.0, 8.2, 8.1]
    c = stats.time_effect(before, after)
    ga = math.exp(sum(map(math.log, before)) / 3)
    gb = math.exp(sum(map(math.log, after)) / 3)
    assert c.diff == pytest.approx(gb - ga) and c.ratio == pytest.approx(gb / ga)
    ref = st.ttest_ind([math.log(x) for x in after], [math.log(x) for x in before], equal_var=False)
    assert c.p_value == pytest.approx(ref.pvalue) and c.significant
    assert c.lo == pytest.approx(ga * (c.ratio_lo - 1)) and c.lo < c.diff < c.hi < 0
    assert stats.time_effect([10.0], [8.0]).lo is None and "untested" in stats.time_effect([10.0], [8.0]).verdict

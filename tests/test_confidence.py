"""Paired bootstrap intervals."""

import numpy as np
import pytest

from reason4rec.training.confidence import metric_interval, paired_difference, paired_mean_difference, resample_indices


def test_interval_brackets_the_value_and_is_reproducible():
    rng = np.random.default_rng(0)
    true = rng.integers(1, 6, size=300).astype(float)
    predicted = true + rng.normal(0, 0.8, size=300)
    first = metric_interval(predicted, true, "mae")
    assert first.low < first.value < first.high
    assert first.value == pytest.approx(np.abs(predicted - true).mean())
    assert metric_interval(predicted, true, "mae") == first  # fixed seed: the same interval
    rmse = metric_interval(predicted, true, "rmse")
    assert rmse.value == pytest.approx(np.sqrt(((predicted - true) ** 2).mean()))


def test_pairing_detects_a_small_consistent_gain_that_separate_intervals_miss():
    rng = np.random.default_rng(1)
    true = rng.integers(1, 6, size=400).astype(float)
    base = true + rng.normal(0, 1.0, size=400)
    better = true + (base - true) * 0.97  # 3% smaller error on every target
    indices = resample_indices(400)
    a, b = metric_interval(better, true, "mae", indices), metric_interval(base, true, "mae", indices)
    assert a.high > b.low  # the two intervals overlap ...
    difference = paired_difference(better, base, true, "mae", indices)
    assert difference.high < 0 and difference.excludes_zero()  # ... yet the paired one excludes zero
    same = paired_difference(base, base, true, "mae", indices)
    assert same.as_list() == [0.0, 0.0, 0.0] and not same.excludes_zero()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="equal, non-empty"):
        metric_interval([1.0, 2.0], [1.0], "mae")
    with pytest.raises(ValueError, match="at least one target"):
        resample_indices(0)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_interval([1.0], [1.0], "mape")


def test_a_per_target_score_difference_has_a_paired_interval():
    rng = np.random.default_rng(1)
    greedy = rng.uniform(0.4, 1.0, size=200)
    better = np.minimum(greedy + rng.uniform(0.0, 0.2, size=200), 1.0)  # never worse on any target
    found = paired_mean_difference(better, greedy)
    assert found.value == pytest.approx(float((better - greedy).mean())) and found.low > 0
    same = paired_mean_difference(greedy, rng.permutation(greedy))  # same scores, shuffled: no real change
    assert same.low < 0 < same.high
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_mean_difference([0.5], [0.5, 0.6])

import numpy as np
import pytest

from reason4rec.training.blend import cross_fitted_blend


def _ratings(n: int = 60, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 6, size=n).astype(float)


def test_no_target_s_own_rating_chooses_how_it_is_predicted():
    true = _ratings()
    rng = np.random.default_rng(2)
    pipeline = np.clip(true + rng.normal(0, 0.8, true.size), 1, 5)
    baselines = {"bias": np.clip(true + rng.normal(0, 0.6, true.size), 1, 5), "mean": np.full(true.size, 4.0)}
    before = cross_fitted_blend(pipeline, baselines, true)
    for index in (0, 17, 59):
        changed = true.copy()
        changed[index] = 6 - changed[index]
        after = cross_fitted_blend(pipeline, baselines, changed)
        assert after.predicted[index] == pytest.approx(before.predicted[index])


def test_the_weight_follows_which_side_is_right():
    true = _ratings()
    noise = np.random.default_rng(3).normal(0, 1.5, true.size)
    right_pipeline = cross_fitted_blend(true.copy(), {"noisy": true + noise}, true)
    assert right_pipeline.weights == [1.0] * 5
    np.testing.assert_allclose(right_pipeline.predicted, true)
    right_baseline = cross_fitted_blend(true + noise, {"exact": true.copy()}, true)
    assert right_baseline.weights == [0.0] * 5 and right_baseline.baselines == ["exact"] * 5
    assert "5-fold cross-fitted" in right_baseline.describe()


def test_a_blend_of_nothing_or_of_different_targets_is_refused():
    true = _ratings(10)
    with pytest.raises(ValueError, match="at least one baseline"):
        cross_fitted_blend(true, {}, true)
    with pytest.raises(ValueError, match="same targets"):
        cross_fitted_blend(true, {"short": true[:5]}, true)
    with pytest.raises(ValueError, match="at least 2 targets"):
        cross_fitted_blend(true[:1], {"one": true[:1]}, true[:1])


def test_the_stack_of_baselines_is_cross_fitted_and_beats_its_parts_on_what_they_share():
    from reason4rec.training.blend import cross_fitted_stack

    rng = np.random.default_rng(3)
    true = rng.integers(1, 6, 400).astype(float)
    signal = true + rng.normal(0, 1.5, 400)
    baselines = {"a": 0.5 * signal + 2.0, "b": signal + rng.normal(0, 1.0, 400), "c": np.full(400, 4.0)}
    stacked = cross_fitted_stack(baselines, true)
    assert stacked.shape == true.shape and np.all((stacked >= 1) & (stacked <= 5))
    assert np.abs(stacked - true).mean() < min(np.abs(b - true).mean() for b in baselines.values())
    flipped = true.copy()
    flipped[0] = 6 - flipped[0]
    again = cross_fitted_stack(baselines, flipped)
    assert again[0] == stacked[0] and not np.allclose(again[1:], stacked[1:])  # its own rating never fits it

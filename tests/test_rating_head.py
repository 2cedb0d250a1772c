"""bench/rating_head.py's cross-fitting: no target's own rating reaches its own prediction."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


head = _load("rating_head")


def _synthetic(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 4))
    stars = np.clip(np.round(3 + features @ np.array([1.0, 0.6, -0.4, 0.0]) + rng.normal(0, 0.5, n)), 1, 5)
    return features, np.r_[stars[:-5], [1.0, 2.0, 3.0, 4.0, 5.0]]  # every star present


def _in_sample(make, features, true, folds=5, seed=2020):
    """What the bench must NOT do: fit on every target, itself included."""
    return np.clip(make().fit(features, true).predict(features), 1.0, 5.0)


def _own_prediction_moves(fit_predict, make, target: int) -> tuple[bool, bool]:
    """Flip one target's rating (1 <-> 5): does its own prediction move; do the others?"""
    features, true = _synthetic()
    changed = true.copy()
    changed[target] = 1.0 if true[target] >= 3 else 5.0
    before, after = fit_predict(make, features, true), fit_predict(make, features, changed)
    others = np.arange(len(true)) != target
    return (not np.isclose(before[target], after[target], atol=1e-9),
            not np.allclose(before[others], after[others], atol=1e-9))


@pytest.mark.parametrize("make", [head.ridge, head.ExpectedStar], ids=["ridge", "logistic"])
@pytest.mark.parametrize("target", [0, 37, 99])
def test_a_targets_own_rating_never_reaches_its_prediction(make, target):
    own, others = _own_prediction_moves(head.cross_fit, make, target)
    assert others, "the flipped rating must reach the heads of the other folds, or the check proves nothing"
    assert not own


@pytest.mark.parametrize("make", [head.ridge, head.ExpectedStar], ids=["ridge", "logistic"])
def test_the_check_catches_a_head_fitted_on_its_own_target(make):
    own, _ = _own_prediction_moves(_in_sample, make, 37)
    assert own


def test_folds_are_a_seeded_deal_of_equal_size():
    fold = head.fold_of(103, 5, 2020)
    assert np.array_equal(fold, head.fold_of(103, 5, 2020))
    assert not np.array_equal(fold, head.fold_of(103, 5, 2021))
    assert sorted(np.bincount(fold)) == [20, 20, 21, 21, 21]

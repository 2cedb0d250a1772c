"""Baselines: exact behaviour on small data and the reference figures on the shipped data."""

from __future__ import annotations

import numpy as np
import pytest

from reason4rec.data import Review
from reason4rec.data.splits import make_split
from reason4rec.training.baselines import BiasModel, GlobalMean, ItemMean, UserMean


def _reviews(rows):
    return [Review(u, i, r, n, "", position=n) for n, (u, i, r) in enumerate(rows)]


TRAIN = _reviews([("a", "x", 5), ("a", "y", 4), ("b", "x", 2), ("b", "z", 1), ("c", "y", 4)])


def test_mean_models_and_their_fallbacks():
    probe = _reviews([("a", "z", 3), ("new", "x", 3), ("c", "new", 3)])
    assert GlobalMean().fit(TRAIN).predict(probe).tolist() == [3.2] * 3
    assert UserMean().fit(TRAIN).predict(probe).tolist() == [4.5, 3.2, 4.0]
    assert ItemMean().fit(TRAIN).predict(probe).tolist() == [1.0, 3.5, 3.2]


def test_bias_model_matches_closed_form_and_clips():
    model = BiasModel(l2=0.0, iterations=200).fit(TRAIN)
    # with no penalty the fit of a user/item additive model reproduces each training rating's mean
    fitted = model.predict(TRAIN)
    assert np.abs(fitted - [r.rating for r in TRAIN]).max() < 0.35
    strong = BiasModel(l2=1e6).fit(TRAIN)
    assert strong.predict(TRAIN) == pytest.approx([3.2] * 5, abs=1e-3)
    unseen = model.predict(_reviews([("zz", "qq", 1)]))
    assert unseen.tolist() == pytest.approx([model.mu])
    assert ((model.predict(TRAIN) >= 1) & (model.predict(TRAIN) <= 5)).all()


def test_models_refuse_an_empty_training_set():
    for model in (GlobalMean(), UserMean(), BiasModel()):
        with pytest.raises(ValueError, match="empty training set"):
            model.fit([])


@pytest.mark.parametrize(
    ("split_name", "expected_mae", "expected_rmse"),
    [("leave-last-out", 0.677, 0.959), ("random", 0.604, 0.836)],
)
def test_bias_model_reference_figures(shipped, split_name, expected_mae, expected_rmse):
    """Fitted on all non-test reviews, as the data README's reference figures are (see README)."""
    split = make_split(shipped, split_name, seed=2020)
    model = BiasModel(l2=5.0).fit(split.train + split.valid)
    predicted = model.predict(split.test)
    true = np.array([r.rating for r in split.test])
    assert np.abs(predicted - true).mean() == pytest.approx(expected_mae, abs=1e-3)
    assert np.sqrt(((predicted - true) ** 2).mean()) == pytest.approx(expected_rmse, abs=1e-3)

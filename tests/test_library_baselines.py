"""Library baselines (surprise SVD / SVD++, cornac HFT): tuned on validation, refitted, fair."""

from __future__ import annotations

import numpy as np
import pytest

from reason4rec.data import Review
from reason4rec.data.splits import make_split
from reason4rec.training.baselines import GlobalMean
from reason4rec.training.evaluate import fit_model
from reason4rec.training.library_baselines import CornacHFT, SurpriseSVD, SurpriseSVDpp

QUICK_SVD = ({"n_factors": 8, "n_epochs": 10, "reg_all": 0.05}, {"n_factors": 8, "n_epochs": 10, "reg_all": 0.5})


def _true(reviews):
    return np.array([r.rating for r in reviews])


@pytest.mark.parametrize("model_class", [SurpriseSVD, SurpriseSVDpp])
def test_surprise_models_tune_on_validation_and_beat_the_global_mean(shipped, model_class):
    split = make_split(shipped, "random", seed=2020)
    reports = []
    model = model_class(grid=QUICK_SVD, progress=lambda done, total: reports.append((done, total)))
    model.fit(split.train, split.valid)
    assert model.chosen in QUICK_SVD and model.valid_mse is not None
    assert reports[0] == (0, 3) and reports[-1] == (3, 3)  # two grid fits and the refit, reported
    predicted = model.predict(split.test)
    assert ((predicted >= 1) & (predicted <= 5)).all()
    mean_mae = np.abs(GlobalMean().fit(split.train).predict(split.test) - _true(split.test)).mean()
    assert np.abs(predicted - _true(split.test)).mean() < mean_mae - 0.03
    again = model_class(grid=QUICK_SVD).fit(split.train, split.valid)
    assert again.predict(split.test[:20]) == pytest.approx(predicted[:20])  # seeded


def test_unseen_users_and_items_fall_back_to_known_parts():
    rows = [("a", "x", 5), ("a", "y", 4), ("b", "x", 2), ("b", "z", 1), ("c", "y", 4), ("c", "x", 5)]
    train = [Review(u, i, r, n, "good sound" if r > 3 else "broke fast", position=n)
             for n, (u, i, r) in enumerate(rows)]
    probe = [Review("new", "new", 3, 99, "", position=99)]
    svd = SurpriseSVD(grid=QUICK_SVD[:1]).fit(train, ())
    assert svd.predict(probe)[0] == pytest.approx(np.mean([r for *_, r in rows]))
    hft = CornacHFT(grid=({"k": 2, "max_iter": 2, "grad_iter": 2, "l2_reg": 0.1, "lambda_text": 0.1},))
    hft.fit(train, ())
    assert hft.predict(probe)[0] == pytest.approx(hft._model.alpha)
    assert hft.predict(train).min() >= 1 and hft.predict(train).max() <= 5


def test_hft_reads_only_training_text_and_is_a_real_review_model(shipped):
    """HFT's item documents come from the reviews it is fitted on: never a test review."""
    split = make_split(shipped, "leave-last-out")
    hft = CornacHFT(grid=({"k": 5, "max_iter": 3, "grad_iter": 3, "l2_reg": 0.1, "lambda_text": 0.1},))
    fit_model(hft, split)
    seen = set(hft._items)
    assert seen <= {r.item_id for r in split.train + split.valid}
    predicted = hft.predict(split.test)
    assert np.isfinite(predicted).all() and np.abs(predicted - _true(split.test)).mean() < 1.0


def test_an_empty_grid_or_training_set_is_refused():
    with pytest.raises(ValueError, match="grid is empty"):
        SurpriseSVD(grid=())
    with pytest.raises(ValueError, match="empty training set"):
        SurpriseSVD().fit([], [])


def test_hft_is_reproducible_and_leaves_numpy_global_state_alone():
    rows = [("a", "x", 5), ("a", "y", 4), ("b", "x", 2), ("b", "z", 1), ("c", "y", 4), ("c", "x", 5)]
    train = [Review(u, i, r, n, f"tone {i} clip {u} warm" if r > 3 else f"broke {i} noisy", position=n)
             for n, (u, i, r) in enumerate(rows)]
    grid = ({"k": 2, "max_iter": 3, "grad_iter": 2, "l2_reg": 0.1, "lambda_text": 0.5},)
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    first = CornacHFT(grid=grid).fit(train, ()).predict(train)
    assert np.random.random() == before  # the caller's global stream is untouched
    assert CornacHFT(grid=grid).fit(train, ()).predict(train) == pytest.approx(first, abs=0)

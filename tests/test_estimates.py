"""The collaborative estimates a Predictor reads: no target's own rating reaches its own estimate,
cold start says what it can, and training, evaluation and the memory give the same numbers."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from reason4rec.config import load_config
from reason4rec.data import Review, cross_fitted_estimates, estimate_ratings, load_shipped, make_split
from reason4rec.experts import Estimates, HistoryEntry, TargetContext, predictor_messages, reasoner_messages
from reason4rec.experts.model.adapters import ESTIMATES_KEY, AdapterCard, prompt_shape
from reason4rec.memory.collab import fit_models
from reason4rec.training import attach_estimates, held_out_estimates
from reason4rec.training.estimates import training_estimates


def _flipped(reviews: list[Review], review_id: str) -> list[Review]:
    return [replace(r, rating=1.0 if r.rating >= 3 else 5.0) if r.review_id == review_id else r for r in reviews]


@pytest.fixture(scope="module")
def split():
    return make_split(load_shipped(), "leave-last-out", 2020)


def test_a_training_targets_own_rating_cannot_reach_its_estimate(split):
    pool = list(split.train)[:3000]
    targets = pool[::10][:120]
    before = cross_fitted_estimates(pool, targets, folds=5)
    for row in (0, 37):
        after = cross_fitted_estimates(_flipped(pool, targets[row].review_id),
                                       [t if t.review_id != targets[row].review_id else _flipped([t], t.review_id)[0]
                                        for t in targets], folds=5)
        assert after.bias[row] == before.bias[row] and after.svdpp[row] == before.svdpp[row]
        moved = np.flatnonzero(np.abs(after.bias - before.bias) > 1e-9)
        assert moved.size and row not in moved  # the flip reached the other folds' estimates, not its own
    # without cross-fitting it would: the same models fitted on every review see the target's rating
    inside = estimate_ratings(pool, targets[:1])
    flipped = estimate_ratings(_flipped(pool, targets[0].review_id), targets[:1])
    assert abs(flipped.bias[0] - inside.bias[0]) > 1e-3


def test_held_out_estimates_are_fitted_on_the_parts_before_the_targets(split):
    config = load_config()
    tests = list(split.test)[:50]
    found = held_out_estimates(config, split, "test", tests)
    changed = replace(split, test=_flipped(list(split.test), tests[0].review_id))
    again = held_out_estimates(config, changed, "test", tests)
    assert np.array_equal(found.bias, again.bias) and np.array_equal(found.svdpp, again.svdpp)
    valid = list(split.valid)[:20]
    on_train = held_out_estimates(config, replace(split, valid=_flipped(list(split.valid), valid[0].review_id)),
                                  "valid", valid)
    assert np.array_equal(held_out_estimates(config, split, "valid", valid).bias, on_train.bias)
    with pytest.raises(ValueError, match="cross-fitted"):
        held_out_estimates(config, split, "train", tests)


def test_cold_start_falls_back_to_the_known_side_and_a_tiny_memory_fits():
    reviews = [Review("u1", "i1", 5, 1, "good"), Review("u2", "i1", 3, 2, "ok")]
    found = estimate_ratings(reviews, [Review("u9", "i1", 4, 3, "?"), Review("u1", "i9", 4, 3, "?"),
                                       Review("u9", "i9", 4, 3, "?"), Review("u1", "i1", 4, 3, "?")])
    assert found.cold == ("user", "item", "both", None)
    assert np.all((found.bias >= 1) & (found.bias <= 5)) and np.all(np.isfinite(found.svdpp))
    assert found.bias[2] == pytest.approx(4.0) and found.svdpp[2] == pytest.approx(4.0)  # the global mean
    single = cross_fitted_estimates(reviews, reviews, folds=5)  # two targets, two folds: each fitted on one review
    assert single.cold == ("user", "user")


def test_the_evaluation_and_the_memory_estimate_alike(split):
    """The agent's numbers at question time (the memory's models) are the training's and evaluation's."""
    pool = list(split.train)[:2500]
    stored = [SimpleNamespace(review_id=r.review_id, user_id=r.user_id, item_id=r.item_id, rating=r.rating,
                              timestamp=r.timestamp, revision=0) for r in pool]
    models = fit_models(stored)
    targets = list(split.test)[:40]
    found = estimate_ratings(pool, targets)
    for row, target in enumerate(targets):
        memory = models.estimate(target.user_id, [target.item_id])[target.item_id]
        assert memory["bias"] == pytest.approx(found.bias[row], abs=1e-3)
        assert memory["svdpp"] == pytest.approx(found.svdpp[row], abs=1e-3)
        assert memory["cold"] == found.cold[row]


CONTEXT = TargetContext("Musical Instruments", "Tuner", (HistoryEntry("Amp", 5, "Positive Aspects: tone"),),
                        (HistoryEntry("a buyer", 2, "Negative Aspects: clip"),), 5.0, 2.0, 1, 1)


def test_only_a_predictor_given_estimates_sees_them_and_cold_start_is_said():
    plain = predictor_messages(CONTEXT, "fits")[1]["content"]
    assert "Estimates" not in plain
    shown = replace(CONTEXT, estimates=Estimates(4.314, 3.9, None))
    text = predictor_messages(shown, "fits")[1]["content"]
    assert "Estimates from ratings alone: user+item bias 4.31, SVD++ 3.90\nAnalysis: fits" in text
    assert text.replace("Estimates from ratings alone: user+item bias 4.31, SVD++ 3.90\n", "") == plain
    assert reasoner_messages(shown) == reasoner_messages(CONTEXT)  # the Reasoner never sees numbers
    for cold, said in (("user", "a new user"), ("item", "a new item"), ("both", "the mean of all ratings")):
        assert said in predictor_messages(replace(CONTEXT, estimates=Estimates(4.0, 4.0, cold)), None)[1]["content"]


def test_attach_keeps_the_order_and_refuses_a_mismatch():
    found = estimate_ratings([Review("u1", "i1", 5, 1, "a"), Review("u2", "i2", 2, 1, "b")],
                             [Review("u1", "i1", 5, 2, "?"), Review("u2", "i2", 2, 2, "?")])
    first, second = attach_estimates([CONTEXT, CONTEXT], found)
    assert first.estimates.bias > second.estimates.bias
    with pytest.raises(ValueError, match="1 contexts but 2 estimates"):
        attach_estimates([CONTEXT], found)


def test_a_predictor_card_that_learnt_with_estimates_asks_for_them():
    def card(data):
        return AdapterCard(expert="predictor", base_model="b", base_fingerprint="f", recipe="r", lora={},
                           data={"history_k": 5, **data}, training={})

    assert not prompt_shape({"predictor": card({})}).estimates
    assert prompt_shape({"predictor": card({ESTIMATES_KEY: {"folds": 5}})}).estimates
    assert not prompt_shape({}).estimates


def test_a_reasoner_card_that_learnt_with_the_stars_asks_for_them():
    from reason4rec.experts import STARS_KEY

    def card(data):
        return AdapterCard(expert="reasoner", base_model="b", base_fingerprint="f", recipe="r", lora={},
                           data=data, training={})

    assert not prompt_shape({"reasoner": card({})}).reasoner_stars and not prompt_shape({}).reasoner_stars
    assert prompt_shape({"reasoner": card({STARS_KEY: True})}).reasoner_stars
    assert not prompt_shape({"predictor": card({STARS_KEY: True})}).reasoner_stars  # the Reasoner's card decides


def test_training_estimates_cross_fit_over_the_given_targets(split):
    config = load_config()
    targets = list(split.train)[:200:4]
    found = training_estimates(config, split, targets, folds=5, seed=7)
    again = cross_fitted_estimates(split.train, targets, folds=5, fold_seed=7, bias_l2=config.baselines.bias_l2,
                                   bias_iterations=config.baselines.bias_iterations, seed=config.baselines.seed)
    assert np.array_equal(found.bias, again.bias) and np.array_equal(found.svdpp, again.svdpp)

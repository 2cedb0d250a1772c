"""Rating models fitted on ratings alone: the user+item bias model and SVD++ (scikit-surprise).

They live here, below ``training`` and ``memory`` (which may not import each other), so the
evaluation's baselines and the memory's collaborative estimates are the very same models. All
predictions are clipped to [1, 5]; an unknown user or item falls back to the parts of the model
that are known (the global mean and the known side's bias), as a recommender must.

Example:
    >>> reviews = [Review("u1", "i1", 5, 0, "good"), Review("u2", "i1", 3, 0, "ok")]
    >>> round(float(BiasModel().fit(reviews).predict([Review("u1", "i9", 4, 0, "?")])[0]), 2)
    4.17
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .reviews import Review

SVDPP_SETTING: Mapping[str, Any] = {"n_factors": 20, "n_epochs": 20, "lr_all": 0.007, "reg_all": 0.4}
"""The SVD++ setting the memory fits without a validation split: the evaluation's grid
(``training.library_baselines.SVDPP_GRID``) picks its strongest regularisation on the shipped data."""

__all__ = ["SVDPP_SETTING", "BiasModel", "Indexer", "RatingEstimates", "clip_ratings", "cold_side",
           "cross_fitted_estimates", "deal_folds", "estimate_ratings", "fit_surprise", "ratings_of"]


def clip_ratings(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 1.0, 5.0)


def ratings_of(reviews: Sequence[Review]) -> np.ndarray:
    return np.fromiter((r.rating for r in reviews), dtype=np.float64, count=len(reviews))


def require_train(train: Sequence[Review]) -> None:
    if not train:
        raise ValueError("cannot fit a rating model on an empty training set")


class Indexer:
    """Dense integer ids for users and items seen in training, in order of first appearance (-1 for unseen)."""

    def __init__(self, train: Sequence[Review]) -> None:
        self.users = {u: i for i, u in enumerate(dict.fromkeys(r.user_id for r in train))}
        self.items = {t: i for i, t in enumerate(dict.fromkeys(r.item_id for r in train))}

    def encode(self, reviews: Sequence[Review]) -> tuple[np.ndarray, np.ndarray]:
        users = np.array([self.users.get(r.user_id, -1) for r in reviews], dtype=np.int64)
        items = np.array([self.items.get(r.item_id, -1) for r in reviews], dtype=np.int64)
        return users, items


class BiasModel:
    """``mu + b_u + b_i`` fitted by alternating least squares with an L2 penalty ``l2`` (closed
    forms, milliseconds; every indexed user and item has a review, so no division is by zero)."""

    name = "user+item bias"
    uses_validation = False

    def __init__(self, l2: float = 5.0, iterations: int = 20) -> None:
        self.l2, self.iterations = l2, iterations
        self.note = f"l2={l2:g}"

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> BiasModel:
        require_train(train)
        self.index = Indexer(train)
        users, items = self.index.encode(train)
        ratings = ratings_of(train)
        self.mu = float(ratings.mean())
        n_users, n_items = len(self.index.users), len(self.index.items)
        user_counts = np.bincount(users, minlength=n_users)
        item_counts = np.bincount(items, minlength=n_items)
        self.b_user, self.b_item = np.zeros(n_users), np.zeros(n_items)
        for _ in range(self.iterations):
            residual = ratings - self.mu - self.b_item[items]
            self.b_user = np.bincount(users, residual, n_users) / (self.l2 + user_counts)
            residual = ratings - self.mu - self.b_user[users]
            self.b_item = np.bincount(items, residual, n_items) / (self.l2 + item_counts)
        return self

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        users, items = self.index.encode(reviews)
        b_user = np.where(users >= 0, self.b_user[np.maximum(users, 0)], 0.0)
        b_item = np.where(items >= 0, self.b_item[np.maximum(items, 0)], 0.0)
        return clip_ratings(self.mu + b_user + b_item)


def fit_surprise(reviews: Sequence[Review], setting: Mapping[str, Any], seed: int, *, implicit: bool) -> Any:
    """A surprise SVD (or SVD++ when ``implicit``) fitted on ``reviews`` with ``setting``."""
    from surprise import SVD, Dataset, Reader, SVDpp

    require_train(reviews)
    algorithm = SVDpp if implicit else SVD
    raw = [(r.user_id, r.item_id, float(r.rating), None) for r in reviews]
    trainset = Dataset(Reader(rating_scale=(1, 5))).construct_trainset(raw)
    model = algorithm(random_state=seed, **setting)
    model.fit(trainset)
    return model


@dataclass(frozen=True, slots=True)
class RatingEstimates:
    """What the two collaborative models say of some targets from the ratings alone: one row per
    target, both clipped to 1..5, and which side of each target the models never saw."""

    bias: np.ndarray
    svdpp: np.ndarray
    cold: tuple[str | None, ...]


def estimate_ratings(fit_on: Sequence[Review], targets: Sequence[Review], *, bias_l2: float = 5.0,
                     bias_iterations: int = 20, svdpp: Mapping[str, Any] = SVDPP_SETTING,
                     seed: int = 42) -> RatingEstimates:
    """The user+item bias model's and SVD++'s estimates of ``targets``, both fitted on ``fit_on``
    in review-id order (as the memory fits them, so an evaluation's estimates are the ones the
    agent would give on the same reviews). An unseen user or item falls back to the known side."""
    fit_on = sorted(fit_on, key=lambda r: r.review_id)
    bias = BiasModel(l2=bias_l2, iterations=bias_iterations).fit(fit_on)
    model = fit_surprise(fit_on, svdpp, seed, implicit=True)
    svdpp_estimates = np.array([model.predict(r.user_id, r.item_id).est for r in targets], dtype=np.float64)
    users, items = bias.index.encode(targets)
    cold = tuple(cold_side(u < 0, i < 0) for u, i in zip(users, items))
    return RatingEstimates(bias.predict(targets), clip_ratings(svdpp_estimates), cold)


def cross_fitted_estimates(pool: Sequence[Review], targets: Sequence[Review], *, folds: int = 5,
                           fold_seed: int = 2020, **settings: Any) -> RatingEstimates:
    """Estimates of training ``targets`` (reviews of ``pool``) that never saw their own ratings:
    the targets are dealt into ``folds`` folds (seeded by ``fold_seed``), and each fold is estimated by models fitted
    on ``pool`` without that fold's targets (k-fold cross-fitting). A target's own rating can reach
    no estimate of its own; it does reach the other folds', as any training review does."""
    if not targets:
        return RatingEstimates(np.empty(0), np.empty(0), ())
    fold = deal_folds(len(targets), folds, fold_seed)
    bias, svdpp = np.empty(len(targets)), np.empty(len(targets))
    cold: list[str | None] = [None] * len(targets)
    for f in np.unique(fold):
        held = np.flatnonzero(fold == f)
        left_out = {targets[i].review_id for i in held}
        found = estimate_ratings([r for r in pool if r.review_id not in left_out], [targets[i] for i in held],
                                 **settings)
        bias[held], svdpp[held] = found.bias, found.svdpp
        for at, side in zip(held, found.cold):
            cold[at] = side
    return RatingEstimates(bias, svdpp, tuple(cold))


def cold_side(user_unknown: bool, item_unknown: bool) -> str | None:
    """Which side of a pair the models never saw: ``user``, ``item``, ``both`` or None."""
    return "both" if user_unknown and item_unknown else "user" if user_unknown else "item" if item_unknown else None


def deal_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """Each of ``n`` rows' fold, a seeded deal into ``folds`` (at least 2, at most ``n``): the one
    deal every cross-fitting here uses (estimates, the blend, the stack)."""
    return np.random.default_rng(seed).permutation(n) % max(2, min(folds, n))

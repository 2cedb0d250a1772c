"""Rating baselines: the bar the LLM pipeline must beat.

Global mean, user mean, item mean and the user+item bias model ``mu + b_u + b_i`` (alternating
least squares with L2): closed forms, fitted in milliseconds. The latent-factor and review-aware
models come from the libraries (``library_baselines``). All predictions are clipped to [1, 5];
unknown users or items fall back to the parts of the model that are known, as a recommender must.

Example:
    >>> from reason4rec.data import load_shipped
    >>> from reason4rec.data.splits import make_split
    >>> split = make_split(load_shipped(), "leave-last-out")
    >>> model = BiasModel().fit(split.train, split.valid)
    >>> round(float(model.predict(split.test[:1])[0]), 2) > 1
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..data import Review

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` by models that train for many epochs."""


class RatingModel(Protocol):
    name: str
    uses_validation: bool
    """True: ``fit(train, valid)`` tunes on validation and refits on both itself. False: the model
    has nothing to tune and is fitted once on train + validation."""
    note: str

    def fit(self, train: Sequence[Review], valid: Sequence[Review]) -> RatingModel: ...

    def predict(self, reviews: Sequence[Review]) -> np.ndarray: ...


def clip_ratings(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 1.0, 5.0)


def _ratings(reviews: Sequence[Review]) -> np.ndarray:
    return np.fromiter((r.rating for r in reviews), dtype=np.float64, count=len(reviews))


def _require_train(train: Sequence[Review]) -> None:
    if not train:
        raise ValueError("cannot fit a rating model on an empty training set")


class GlobalMean:
    name = "global mean"
    uses_validation = False
    note = ""

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> GlobalMean:
        _require_train(train)
        self.mu = float(_ratings(train).mean())
        return self

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        return np.full(len(reviews), self.mu)


class _GroupMean:
    """Mean rating of a user (or item) in training; the global mean when unseen."""

    name = ""
    uses_validation = False
    note = ""
    key: Callable[[Review], str]

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> _GroupMean:
        _require_train(train)
        sums: dict[str, list[float]] = {}
        for review in train:
            entry = sums.setdefault(type(self).key(review), [0.0, 0])
            entry[0] += review.rating
            entry[1] += 1
        self.means = {k: s / n for k, (s, n) in sums.items()}
        self.mu = float(_ratings(train).mean())
        return self

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        key = type(self).key
        return np.array([self.means.get(key(r), self.mu) for r in reviews])


class UserMean(_GroupMean):
    name = "user mean"

    @staticmethod
    def key(review: Review) -> str:
        return review.user_id


class ItemMean(_GroupMean):
    name = "item mean"

    @staticmethod
    def key(review: Review) -> str:
        return review.item_id


class _Indexer:
    """Dense integer ids for users and items seen in training (-1 for unseen)."""

    def __init__(self, train: Sequence[Review]) -> None:
        self.users = {u: i for i, u in enumerate(dict.fromkeys(r.user_id for r in train))}
        self.items = {t: i for i, t in enumerate(dict.fromkeys(r.item_id for r in train))}

    def encode(self, reviews: Sequence[Review]) -> tuple[np.ndarray, np.ndarray]:
        users = np.array([self.users.get(r.user_id, -1) for r in reviews], dtype=np.int64)
        items = np.array([self.items.get(r.item_id, -1) for r in reviews], dtype=np.int64)
        return users, items


class BiasModel:
    """``mu + b_u + b_i`` fitted by alternating least squares with an L2 penalty ``l2``."""

    name = "user+item bias"
    uses_validation = False

    def __init__(self, l2: float = 5.0, iterations: int = 20) -> None:
        self.l2, self.iterations = l2, iterations
        self.note = f"l2={l2:g}"

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> BiasModel:
        _require_train(train)
        self.index = _Indexer(train)
        users, items = self.index.encode(train)
        ratings = _ratings(train)
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

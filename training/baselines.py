"""Rating baselines: the bar the LLM pipeline must beat.

Global mean, user mean, item mean and the user+item bias model ``mu + b_u + b_i`` (alternating
least squares with L2; it lives in ``data`` so the memory's collaborative estimates use the very
same model): closed forms, fitted in milliseconds. The latent-factor and review-aware
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

from ..data import BiasModel, Review, clip_ratings, ratings_of, require_train

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` by models that train for many epochs."""

__all__ = ["BiasModel", "GlobalMean", "ItemMean", "ProgressCallback", "RatingModel", "UserMean", "clip_ratings"]


class RatingModel(Protocol):
    name: str
    uses_validation: bool
    """True: ``fit(train, valid)`` tunes on validation and refits on both itself. False: the model
    has nothing to tune and is fitted once on train + validation."""
    note: str

    def fit(self, train: Sequence[Review], valid: Sequence[Review]) -> RatingModel: ...

    def predict(self, reviews: Sequence[Review]) -> np.ndarray: ...


class GlobalMean:
    name = "global mean"
    uses_validation = False
    note = ""

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> GlobalMean:
        require_train(train)
        self.mu = float(ratings_of(train).mean())
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
        require_train(train)
        sums: dict[str, list[float]] = {}
        for review in train:
            entry = sums.setdefault(type(self).key(review), [0.0, 0])
            entry[0] += review.rating
            entry[1] += 1
        self.means = {k: s / n for k, (s, n) in sums.items()}
        self.mu = float(ratings_of(train).mean())
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

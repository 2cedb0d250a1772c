"""Rating baselines: the bar the LLM pipeline must beat.

Global mean, user mean, item mean, the user+item bias model ``mu + b_u + b_i`` (alternating
least squares with L2), and two latent-factor models in torch: biased matrix factorisation
(Funk "SVD") and SVD++ (Koren 2008: the user factor plus the normalised sum of implicit item
factors). The factor models train full-batch with Adam and stop early on the validation MSE,
restoring the best weights; all predictions are clipped to [1, 5]. Unknown users or items fall
back to the parts of the model that are known, as a recommender must.

Example:
    >>> from reason4rec.training.data import load_shipped
    >>> from reason4rec.training.splits import make_split
    >>> split = make_split(load_shipped(), "leave-last-out")
    >>> model = BiasModel().fit(split.train, split.valid)
    >>> round(float(model.predict(split.test[:1])[0]), 2) > 1
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .data import Review

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` by models that train for many epochs."""


class RatingModel(Protocol):
    name: str

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

    def fit(self, train: Sequence[Review], valid: Sequence[Review] = ()) -> GlobalMean:
        _require_train(train)
        self.mu = float(_ratings(train).mean())
        return self

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        return np.full(len(reviews), self.mu)


class _GroupMean:
    """Mean rating of a user (or item) in training; the global mean when unseen."""

    name = ""
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

    def __init__(self, l2: float = 5.0, iterations: int = 20) -> None:
        self.l2, self.iterations = l2, iterations

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


@dataclass
class FactorModelSettings:
    factors: int = 32
    l2_grid: tuple[float, ...] = (0.5, 1.0, 2.0)
    """L2 strengths tried on the validation part; the best one is refitted on train+valid."""
    lr: float = 0.01
    max_epochs: int = 400
    patience: int = 20
    seed: int = 42


class MatrixFactorization:
    """Biased MF (``mu + b_u + b_i + p_u . q_i``); with ``implicit=True``, SVD++.

    SVD++ adds ``|N(u)|^-1/2 * sum_{j in N(u)} y_j`` to the user factor, where N(u) is the set of
    items the user rated in training: it helps users with few explicit ratings.

    ``fit(train, valid)`` tries each L2 strength on ``train`` with early stopping on ``valid``,
    then refits the best one on ``train + valid`` for the number of epochs that was best, so the
    final model sees all non-test data, as the closed-form baselines do.
    """

    def __init__(
        self,
        settings: FactorModelSettings | None = None,
        implicit: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings or FactorModelSettings()
        self.implicit = implicit
        self.progress = progress
        self.name = "SVD++ (torch)" if implicit else "biased MF / SVD (torch)"
        self.chosen_l2 = 0.0
        self.best_epoch = 0

    def fit(self, train: Sequence[Review], valid: Sequence[Review]) -> MatrixFactorization:
        _require_train(train)
        if not valid:
            raise ValueError("matrix factorisation needs a validation part for early stopping")
        cfg = self.settings
        total = cfg.max_epochs * len(cfg.l2_grid) + cfg.max_epochs
        self._done, self._total = 0, total
        trials = [(self._train(train, l2, cfg.max_epochs, valid), l2) for l2 in cfg.l2_grid]
        (_, best_epoch, _), self.chosen_l2 = min(trials, key=lambda t: t[0][2])
        self.best_epoch = max(1, best_epoch)
        self._params, _, _ = self._train(list(train) + list(valid), self.chosen_l2, self.best_epoch)
        self._tick(total - self._done)
        return self

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        import torch

        users, items = (torch.from_numpy(a) for a in self.index.encode(reviews))
        with torch.no_grad():
            prediction = self._forward(self._params, users, items).double().numpy()
        return clip_ratings(prediction)

    def _tick(self, epochs: int) -> None:
        self._done += epochs
        if self.progress:
            self.progress(min(self._done, self._total), self._total)

    def _train(self, reviews: Sequence[Review], l2: float, epochs: int, valid=()):
        """Full-batch Adam; returns (params, best epoch, best validation MSE)."""
        import torch

        cfg = self.settings
        torch.manual_seed(cfg.seed)
        self.index = _Indexer(reviews)
        n_users, n_items = len(self.index.users), len(self.index.items)
        self.mu = float(_ratings(reviews).mean())
        shapes = {"b_user": (n_users,), "b_item": (n_items,)}
        shapes |= {"p": (n_users, cfg.factors), "q": (n_items, cfg.factors)}
        if self.implicit:
            shapes["y"] = (n_items, cfg.factors)
        params = {
            name: (torch.randn(shape) * 0.01 if len(shape) == 2 else torch.zeros(shape))
            for name, shape in shapes.items()
        }
        for tensor in params.values():
            tensor.requires_grad_(True)
        self._implicit_matrix = self._build_implicit(reviews, n_users, n_items)
        users, items = (torch.from_numpy(a) for a in self.index.encode(reviews))
        target = torch.from_numpy(_ratings(reviews)).float()
        optimizer = torch.optim.Adam(params.values(), lr=cfg.lr)
        snapshot = lambda: {k: v.detach().clone() for k, v in params.items()}  # noqa: E731
        best_mse, best_epoch, best_params, since_best = float("inf"), epochs, None, 0
        for epoch in range(1, epochs + 1):
            optimizer.zero_grad()
            error = self._forward(params, users, items) - target
            (torch.mean(error**2) + l2 * self._penalty(params, users, items)).backward()
            optimizer.step()
            self._tick(1)
            if not valid:
                continue
            self._params = params
            valid_mse = float(np.mean((self.predict(valid) - _ratings(valid)) ** 2))
            if valid_mse < best_mse - 1e-6:
                best_mse, best_epoch, best_params, since_best = valid_mse, epoch, snapshot(), 0
            else:
                since_best += 1
                if since_best >= cfg.patience:
                    self._tick(epochs - epoch)
                    break
        return (best_params or snapshot()), best_epoch, best_mse

    def _penalty(self, params, users, items):
        """L2 applied per rating, as in SGD-trained Funk SVD: busy users and items pay more."""
        terms = (
            params["b_user"][users] ** 2
            + params["b_item"][items] ** 2
            + (params["p"][users] ** 2).sum(-1)
            + (params["q"][items] ** 2).sum(-1)
        )
        if self.implicit:
            terms = terms + (params["y"][items] ** 2).sum(-1)
        return terms.mean()

    def _build_implicit(self, reviews: Sequence[Review], n_users: int, n_items: int):
        import torch

        if not self.implicit:
            return None
        users, items = self.index.encode(reviews)
        counts = np.bincount(users, minlength=n_users).astype(np.float32)
        weights = (1.0 / np.sqrt(counts[users])).astype(np.float32)
        indices = torch.from_numpy(np.stack([users, items]))
        matrix = torch.sparse_coo_tensor(
            indices, torch.from_numpy(weights), (n_users, n_items), check_invariants=True
        )
        return matrix.coalesce()

    def _forward(self, params, users, items):
        import torch

        known_user, known_item = users >= 0, items >= 0
        u, i = users.clamp(min=0), items.clamp(min=0)
        user_factor = params["p"]
        if self.implicit:
            user_factor = user_factor + torch.sparse.mm(self._implicit_matrix, params["y"])
        dot = (user_factor[u] * params["q"][i]).sum(-1) * (known_user & known_item)
        return self.mu + params["b_user"][u] * known_user + params["b_item"][i] * known_item + dot

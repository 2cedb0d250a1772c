"""A cross-fitted blend of the pipeline with a classic model: an *extra* row, never the pipeline's own.

Issue 15 allows reporting ``w * pipeline + (1 - w) * baseline`` next to the pipeline. Choosing ``w``
(and which baseline) on the very targets it is scored on would flatter it, and running the LLM
pipeline on validation targets as well costs hours here. So the weight is *cross-fitted*: the test
targets are dealt into folds; each fold's prediction uses the weight and baseline that do best on
the other folds, so no target's own rating ever chooses how it is predicted (the out-of-fold
estimate stacking uses). What is reported is that out-of-fold prediction, with the chosen weights.

Example:
    >>> import numpy as np
    >>> true = np.array([5, 4, 5, 3, 5, 4, 2, 5, 4, 5], dtype=float)
    >>> pipeline = true + np.array([.5, -.5] * 5)      # right on average, noisy
    >>> flat = np.full(10, 4.2)                         # a baseline that is always 4.2
    >>> blend = cross_fitted_blend(pipeline, {"flat": flat}, true, folds=5)
    >>> sorted(set(blend.baselines))
    ['flat']
    >>> bool(np.abs(blend.predicted - true).mean() <= np.abs(flat - true).mean())
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..data import deal_folds

WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)
"""The pipeline's weights tried: 0 (the baseline alone) to 1 (the pipeline alone) in steps of 0.05."""


@dataclass(frozen=True)
class Blend:
    """Out-of-fold blended predictions and, per fold, what the other folds chose."""

    predicted: np.ndarray
    weights: list[float]
    """The pipeline's weight used in each fold."""
    baselines: list[str]
    """The baseline blended in each fold."""
    folds: int

    def describe(self) -> str:
        chosen = sorted(set(self.baselines))
        return (f"{self.folds}-fold cross-fitted: pipeline weight {min(self.weights):.2f}-{max(self.weights):.2f} "
                f"with {', '.join(chosen)}")


def cross_fitted_blend(pipeline: np.ndarray, baselines: Mapping[str, np.ndarray], true: np.ndarray,
                       folds: int = 5, seed: int = 2020) -> Blend:
    """Blend ``pipeline`` with one of ``baselines``; each fold's weight and baseline are chosen
    by MAE on the other folds (ties: the lower weight, then the baseline's name)."""
    pipeline, true = np.asarray(pipeline, float), np.asarray(true, float)
    arrays = {name: np.asarray(values, float) for name, values in baselines.items()}
    if not arrays:
        raise ValueError("a blend needs at least one baseline")
    if pipeline.shape != true.shape or any(b.shape != true.shape for b in arrays.values()):
        raise ValueError("the pipeline, every baseline and the true ratings must cover the same targets")
    if true.size < 2:
        raise ValueError(f"a cross-fitted blend needs at least 2 targets, got {true.size}")
    folds = max(2, min(folds, true.size))
    fold_of = deal_folds(true.size, folds, seed)
    names = sorted(arrays)
    predicted = np.empty_like(true)
    weights: list[float] = []
    chosen: list[str] = []
    for fold in range(folds):
        held_out, fit = fold_of == fold, fold_of != fold
        name, weight = min(((n, w) for n in names for w in WEIGHTS),
                           key=lambda nw: (_blend_mae(pipeline[fit], arrays[nw[0]][fit], true[fit], nw[1]),
                                           nw[1], nw[0]))
        predicted[held_out] = weight * pipeline[held_out] + (1 - weight) * arrays[name][held_out]
        weights.append(float(weight))
        chosen.append(name)
    return Blend(predicted, weights, chosen, folds)


def _blend_mae(pipeline: np.ndarray, baseline: np.ndarray, true: np.ndarray, weight: float) -> float:
    return float(np.abs(weight * pipeline + (1 - weight) * baseline - true).mean())


STACK_ALPHAS = np.logspace(-2, 5, 15)
"""Ridge penalties on standardised estimates, up to where the stack is nearly the training mean."""


def cross_fitted_stack(baselines: Mapping[str, np.ndarray], true: np.ndarray, folds: int = 5,
                       seed: int = 2020) -> np.ndarray:
    """Every baseline's prediction combined by ridge regression, cross-fitted like the blend: each
    fold is predicted by a stack fitted on the other folds (its penalty chosen there, by efficient
    leave-one-out), clipped to the stars. The bar issue 35 sets beside the single baselines, so a
    gain from merely combining collaborative models is not credited to the experts."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    true = np.asarray(true, float)
    if not baselines or true.size < 2:
        raise ValueError("a cross-fitted stack needs at least one baseline and 2 targets")
    features = np.column_stack([np.asarray(baselines[name], float) for name in sorted(baselines)])
    fold_of = deal_folds(true.size, folds, seed)
    predicted = np.empty_like(true)
    for fold in np.unique(fold_of):
        held_out, fit = fold_of == fold, fold_of != fold
        stack = make_pipeline(StandardScaler(), RidgeCV(alphas=STACK_ALPHAS)).fit(features[fit], true[fit])
        predicted[held_out] = stack.predict(features[held_out])
    return np.clip(predicted, 1.0, 5.0)

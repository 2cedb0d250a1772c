"""The collaborative estimates a Predictor reads (issue 35), made without leaking a target's rating.

A Predictor trained with the estimates in its prompt must get them in training and at evaluation
the same way the agent gives them at question time: the user+item bias model and SVD++, fitted with
the memory's settings (``config.baselines``). What they are fitted on is what keeps a target's own
rating out of its own prompt:

- **training targets**: k-fold cross-fitting over the Predictor's targets; each fold's estimates
  come from models fitted on the training reviews without that fold's targets;
- **validation and test targets**: models fitted on the parts of the split before theirs (for
  test targets the training and validation reviews, exactly what the evaluation's baselines are
  fitted on).

Example:
    >>> found = training_estimates(config, split, [t.review for t in targets])   # doctest: +SKIP
    >>> contexts = attach_estimates(contexts, found)                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..config import Config
from ..data import RatingEstimates, Review, Split, SplitPart, cross_fitted_estimates, estimate_ratings
from ..experts import Estimates, TargetContext

__all__ = ["attach_estimates", "held_out_estimates", "model_settings", "training_estimates"]


def model_settings(config: Config) -> dict[str, Any]:
    """The memory's settings for both models (its :class:`~reason4rec.memory.CollabSettings`)."""
    found = config.baselines
    return {"bias_l2": found.bias_l2, "bias_iterations": found.bias_iterations, "seed": found.seed}


def training_estimates(config: Config, split: Split, targets: Sequence[Review], *, folds: int,
                       seed: int) -> RatingEstimates:
    """Cross-fitted estimates of training ``targets``: none saw its own rating."""
    return cross_fitted_estimates(split.train, targets, folds=folds, fold_seed=seed, **model_settings(config))


def held_out_estimates(config: Config, split: Split, part: SplitPart, targets: Sequence[Review]) -> RatingEstimates:
    """Estimates of ``part``'s targets from models fitted on the parts before it only: the
    training reviews for validation targets, training and validation reviews for test targets
    (what the evaluation's baselines are fitted on)."""
    if part == "train":
        raise ValueError("training targets take cross-fitted estimates (training_estimates)")
    fit_on = [*split.train, *split.valid] if part == "test" else list(split.train)
    return estimate_ratings(fit_on, targets, **model_settings(config))


def attach_estimates(contexts: Sequence[TargetContext], found: RatingEstimates) -> list[TargetContext]:
    """Each context with its target's estimates (same order), for a Predictor that reads them."""
    if len(contexts) != len(found.bias):
        raise ValueError(f"{len(contexts)} contexts but {len(found.bias)} estimates")
    return [replace(context, estimates=Estimates(round(float(b), 2), round(float(s), 2), cold))
            for context, b, s, cold in zip(contexts, found.bias, found.svdpp, found.cold)]

"""Rating metrics and the baseline table: every method scored on the same targets.

Closed-form baselines are fitted on all non-test reviews (train + validation); the factor models
use the validation part to pick their L2 strength and epoch count, then refit on train +
validation. This matches the reference bias-model figures in the data README for leave-last-out.

Example:
    >>> from reason4rec.training.data import load_shipped
    >>> rows = evaluate_baselines(load_shipped(), ["leave-last-out"])
    >>> [r.method for r in rows][:2]
    ['global mean', 'user mean']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..config import BaselineConfig
from .baselines import (
    BiasModel,
    FactorModelSettings,
    GlobalMean,
    ItemMean,
    MatrixFactorization,
    ProgressCallback,
    RatingModel,
    UserMean,
)
from .data import Review, ReviewDataset
from .splits import Split, make_split

ProgressFactory = Callable[[str], ProgressCallback]
"""Given a task label, returns a ``progress(done, total)`` callback (a Rich bar at the CLI)."""


def mae(predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    predicted, true = _paired(predicted, true)
    return float(np.mean(np.abs(predicted - true)))


def rmse(predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    predicted, true = _paired(predicted, true)
    return float(np.sqrt(np.mean((predicted - true) ** 2)))


def _paired(predicted, true) -> tuple[np.ndarray, np.ndarray]:
    predicted, true = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if predicted.shape != true.shape or predicted.size == 0:
        raise ValueError(
            f"need two equal, non-empty sets of ratings, got {predicted.shape} and {true.shape}"
        )
    return predicted, true


@dataclass(frozen=True)
class MetricRow:
    """One method's error on one split's test targets."""

    split: str
    method: str
    targets: int
    mae: float
    rmse: float
    seconds: float
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def baseline_models(
    config: BaselineConfig | None = None, progress: ProgressFactory | None = None
) -> list[RatingModel]:
    """The baseline suite, in the order the table shows it."""
    config = config or BaselineConfig()
    settings = FactorModelSettings(
        factors=config.mf_factors,
        l2_grid=tuple(config.mf_l2_grid),
        lr=config.mf_lr,
        max_epochs=config.mf_max_epochs,
        patience=config.mf_patience,
    )
    factor_models = [
        MatrixFactorization(settings, implicit=implicit, progress=None) for implicit in (False, True)
    ]
    if progress is not None:
        for model in factor_models:
            model.progress = progress(model.name)
    return [
        GlobalMean(),
        UserMean(),
        ItemMean(),
        BiasModel(l2=config.bias_l2, iterations=config.bias_iterations),
        *factor_models,
    ]


def score_model(model: RatingModel, split: Split, targets: Sequence[Review] | None = None) -> MetricRow:
    """Fit ``model`` on the split (all non-test data) and score it on ``targets`` (default: the
    whole test part)."""
    started = time.perf_counter()
    if isinstance(model, MatrixFactorization):
        model.fit(split.train, split.valid)
        note = f"l2={model.chosen_l2:g}, {model.best_epoch} epochs"
    else:
        model.fit(list(split.train) + list(split.valid), ())
        note = f"l2={model.l2:g}" if isinstance(model, BiasModel) else ""
    targets = list(split.test) if targets is None else list(targets)
    predicted = model.predict(targets)
    true = _true_ratings(targets)
    return MetricRow(
        split=split.name,
        method=model.name,
        targets=len(targets),
        mae=mae(predicted, true),
        rmse=rmse(predicted, true),
        seconds=time.perf_counter() - started,
        note=note,
    )


def evaluate_baselines(
    dataset: ReviewDataset,
    split_names: Sequence[str],
    config: BaselineConfig | None = None,
    seed: int = 2020,
    progress: ProgressFactory | None = None,
) -> list[MetricRow]:
    """Every baseline on every named split, fitted and scored on the same targets."""
    rows: list[MetricRow] = []
    for split_name in split_names:
        split = make_split(dataset, split_name, seed=seed)
        labelled = None
        if progress is not None:
            labelled = lambda task, name=split.name: progress(f"{name}: {task}")  # noqa: E731
        for model in baseline_models(config, labelled):
            rows.append(score_model(model, split))
    return rows


def _true_ratings(reviews: Sequence[Review]) -> np.ndarray:
    return np.fromiter((r.rating for r in reviews), dtype=float, count=len(reviews))

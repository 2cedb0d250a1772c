"""Rating metrics and the baseline table: every method scored on the same targets.

Closed-form baselines are fitted on all non-test reviews (train + validation); the library models
pick their setting on the validation part, then refit on train + validation. This matches the
reference bias-model figures in the data README for leave-last-out.

Example:
    >>> from reason4rec.data import load_shipped
    >>> rows = evaluate_baselines(load_shipped(), ["leave-last-out"], review_aware=False)  # HFT takes minutes
    >>> [r.method for r in rows][:2]
    ['global mean', 'user mean']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..config import BaselineConfig
from ..data import Review, ReviewDataset, Split, make_split
from .baselines import BiasModel, GlobalMean, ItemMean, ProgressCallback, RatingModel, UserMean
from .confidence import metric_interval, resample_indices
from .library_baselines import HFT_GRID, CornacHFT, GridSearched, SurpriseSVD, SurpriseSVDpp

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
    mae_ci: tuple[float, float] | None = None
    """95% paired-bootstrap interval of the MAE over the targets (``confidence``)."""
    rmse_ci: tuple[float, float] | None = None
    correlation: float | None = None
    """Pearson correlation of the predictions with the true ratings: how well the method orders
    targets, apart from its scale (an expected rating can be right on average and say nothing about
    who likes what). None when the predictions are constant (the global mean)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def baseline_models(
    config: BaselineConfig | None = None,
    progress: ProgressFactory | None = None,
    review_aware: bool | None = None,
) -> list[RatingModel]:
    """The baseline suite, in the order the table shows it.

    ``review_aware`` (default: ``config.hft``) adds HFT, which reads review text and takes minutes
    where the others take seconds.
    """
    config = config or BaselineConfig()
    review_aware = config.hft if review_aware is None else review_aware
    models: list[RatingModel] = [
        GlobalMean(),
        UserMean(),
        ItemMean(),
        BiasModel(l2=config.bias_l2, iterations=config.bias_iterations),
        SurpriseSVD(seed=config.seed),
        SurpriseSVDpp(seed=config.seed),
    ]
    if review_aware:
        grid = [{**setting, "max_iter": config.hft_max_iter} for setting in HFT_GRID]
        models.append(CornacHFT(grid=grid, seed=config.seed))
    if progress is not None:
        for model in models:
            if isinstance(model, GridSearched):
                model.progress = progress(model.name)
    return models


def fit_model(model: RatingModel, split: Split) -> RatingModel:
    """Fit on all non-test reviews: tuned models on train with validation, the others on both."""
    if model.uses_validation:
        return model.fit(split.train, split.valid)
    return model.fit(list(split.train) + list(split.valid), ())


def score_model(model: RatingModel, split: Split, targets: Sequence[Review] | None = None) -> MetricRow:
    """Fit ``model`` on the split (all non-test data) and score it on ``targets`` (default: the
    whole test part)."""
    started = time.perf_counter()
    fit_model(model, split)
    targets = list(split.test) if targets is None else list(targets)
    return metric_row(split.name, model.name, model.predict(targets), _true_ratings(targets),
                      time.perf_counter() - started, model.note)


def metric_row(split: str, method: str, predicted, true, seconds: float, note: str = "") -> MetricRow:
    """MAE and RMSE with their bootstrap intervals; rows of the same targets share the resamples,
    so their intervals are paired."""
    predicted, true = _paired(predicted, true)
    indices = resample_indices(true.size)
    mae_estimate = metric_interval(predicted, true, "mae", indices)
    rmse_estimate = metric_interval(predicted, true, "rmse", indices)
    return MetricRow(split=split, method=method, targets=int(true.size), mae=mae_estimate.value,
                     rmse=rmse_estimate.value, seconds=seconds, note=note,
                     mae_ci=mae_estimate.interval, rmse_ci=rmse_estimate.interval,
                     correlation=_correlation(predicted, true))


def _correlation(predicted: np.ndarray, true: np.ndarray) -> float | None:
    if true.size < 2 or np.ptp(predicted) == 0 or np.ptp(true) == 0:
        return None
    return round(float(np.corrcoef(predicted, true)[0, 1]), 4)


def evaluate_baselines(
    dataset: ReviewDataset,
    split_names: Sequence[str],
    config: BaselineConfig | None = None,
    seed: int = 2020,
    progress: ProgressFactory | None = None,
    review_aware: bool | None = None,
) -> list[MetricRow]:
    """Every baseline on every named split, fitted and scored on the same targets."""
    rows: list[MetricRow] = []
    for split_name in split_names:
        split = make_split(dataset, split_name, seed=seed)
        labelled = None
        if progress is not None:
            labelled = lambda task, name=split.name: progress(f"{name}: {task}")  # noqa: E731
        for model in baseline_models(config, labelled, review_aware):
            rows.append(score_model(model, split))
    return rows


def _true_ratings(reviews: Sequence[Review]) -> np.ndarray:
    return np.fromiter((r.rating for r in reviews), dtype=float, count=len(reviews))

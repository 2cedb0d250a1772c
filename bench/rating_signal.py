"""What the Predictor's ratings follow: the numbers in its prompt, or something the reason adds?

The Predictor is shown the user's and the item's mean past ratings and review counts beside the
histories and the reason. This bench reads a finished evaluation (no model runs) and reports:

- how the pipeline's predictions follow those numbers (correlation with the shown user and item
  means) and how spread out they are against the truth;
- each method's correlation with the true rating on the same targets;
- a **means reader**: least squares of the rating on exactly those four numbers, fitted on the
  split's training targets and scored on the evaluation's targets. It is what reading the prompt's
  numbers alone can reach; a Predictor below it is not using them fully, and beating the bias
  model needs more than them (the text);
- the same reader on damped means (the damping chosen on the training targets): better numbers
  than the prompt shows, still only numbers;
- what the classic baselines see that the prompt does not: the method shows an item's ratings
  from before the target only, while a baseline fits every training review, later ones too (on a
  leave-last-out split most items have some). Reported: the share of targets whose item has later
  training reviews, and how the item's mean over prior vs all training reviews correlates with the
  true rating.
- what MAE rewards on these skewed ratings (most are 5 stars): the constant 5 and the **median**
  star of the Predictor's own distribution, beside the expected value the method reports. The
  median minimises absolute error, the expected value squared error; a row here is an
  explanation of the metric, never the pipeline's number.

    python bench/rating_signal.py --eval artifacts/bench/eval-leave-last-out-full \\
        --out artifacts/bench/rating-signal-leave-last-out.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shown_numbers(targets: list[Any], fill: float, damping: float = 0.0) -> np.ndarray:
    """One row per target: the user's and item's mean rating (``fill`` where there is none) and
    the log of their review counts, as the Predictor's prompt shows them. ``damping`` k pulls each
    mean toward ``fill`` as k extra ratings would (a mean of few reviews says little)."""
    def mean(value: float | None, count: int) -> float:
        return fill if value is None else (value * count + damping * fill) / (count + damping)

    return np.array([[mean(t.user_mean, t.user_count), mean(t.item_mean, t.item_count),
                      np.log1p(t.user_count), np.log1p(t.item_count)] for t in targets], dtype=float)


def fit_reader(features: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """Least-squares weights (intercept first) of ``ratings`` on ``features``."""
    design = np.c_[np.ones(len(features)), features]
    return np.linalg.lstsq(design, ratings, rcond=None)[0]


def read(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The reader's ratings, clipped to the 1-5 stars."""
    return np.clip(np.c_[np.ones(len(features)), features] @ weights, 1.0, 5.0)


DAMPINGS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)


def _training_rmse(training: list[Any], ratings: np.ndarray, fill: float, damping: float) -> float:
    features = shown_numbers(training, fill, damping)
    return float(np.sqrt(np.mean((read(fit_reader(features, ratings), features) - ratings) ** 2)))


def median_star(probabilities: dict[str, float]) -> int:
    """The smallest star whose cumulative probability reaches one half: the rating that minimises
    the expected absolute error under this distribution (the expected value minimises squared)."""
    stars = sorted(probabilities, key=int)
    total = sum(probabilities.values())
    cumulative = 0.0
    for star in stars:
        cumulative += probabilities[star] / total
        if cumulative >= 0.5:
            return int(star)
    return int(stars[-1])


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r; None for a constant series."""
    if np.std(a) == 0 or np.std(b) == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=Path("artifacts/bench/eval-leave-last-out-full"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.data import dataset_of
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.training.confidence import metric_interval, paired_difference, resample_indices
    from reason4rec.training.eval_replay import EvalReplay

    config = load_config()
    replay = EvalReplay.open(args.eval, config)
    summed = json.loads((args.eval / "results.json").read_text())
    position = {row["review_id"]: i for i, row in enumerate(summed["targets"])}
    at = [position[t.review.review_id] for t in replay.targets]
    methods = {name: np.array([summed["targets"][i]["predictions"][name] for i in at])
               for name in summed["targets"][0]["predictions"]}
    methods.update({name: np.array(values)[at] for name, values in summed["baseline_predictions"].items()})

    split = make_split(dataset_of(config.data), replay.key["split"], replay.key["seed"])
    training = [t for t in build_targets(split, "train", replay.key["history_k"]) if t.has_histories]
    train_true = np.array([t.review.rating for t in training])
    fill = float(np.mean([r.rating for r in split.train]))
    weights = fit_reader(shown_numbers(training, fill), train_true)
    shown = shown_numbers(replay.targets, fill)
    methods["means reader (fitted on training targets)"] = read(weights, shown)
    damping = min(DAMPINGS, key=lambda k: _training_rmse(training, train_true, fill, k))
    damped = fit_reader(shown_numbers(training, fill, damping), train_true)
    methods[f"damped means reader (k={damping:g})"] = read(damped, shown_numbers(replay.targets, fill, damping))

    true = np.array([t.review.rating for t in replay.targets])
    mae_rewards = {"always 5 stars": np.full(len(true), 5.0)}
    if all(p is not None for p in replay.probabilities):
        mae_rewards["pipeline's median star (same distributions)"] = np.array(
            [median_star(p) for p in replay.probabilities], dtype=float)
    item_ratings: dict[str, list[float]] = {}
    for review in split.train:
        item_ratings.setdefault(review.item_id, []).append(review.rating)
    later = np.array([len(item_ratings.get(t.review.item_id, [])) > t.item_count for t in replay.targets])
    all_item_mean = np.array([np.mean(item_ratings[t.review.item_id]) if t.review.item_id in item_ratings
                              else fill for t in replay.targets])
    pipeline = np.array(replay.pipeline)
    indices = resample_indices(len(true))
    reader = methods["means reader (fitted on training targets)"]
    has_means = (shown[:, 0] != fill) & (shown[:, 1] != fill)
    report = {
        "eval": str(args.eval), "split": replay.key["split"], "targets": len(true),
        "training_targets_fitted": len(training),
        "reader_weights": dict(zip(["intercept", "user mean", "item mean", "ln(1+user count)", "ln(1+item count)"],
                                   [round(float(w), 4) for w in weights])),
        "pipeline_follows": {
            "user_mean": correlation(pipeline[has_means], shown[has_means, 0]),
            "item_mean": correlation(pipeline[has_means], shown[has_means, 1]),
            "means_reader": correlation(pipeline, reader),
            "note": "correlations over the targets with both means shown",
        },
        "what_baselines_see_beyond_the_prompt": {
            "targets_whose_item_has_later_training_reviews": round(float(later.mean()), 4),
            "truth_vs_item_mean_prior_reviews": correlation(true[has_means], shown[has_means, 1]),
            "truth_vs_item_mean_all_training_reviews": correlation(true[has_means], all_item_mean[has_means]),
        },
        "spread": {"pipeline_std": round(float(pipeline.std()), 4), "means_reader_std": round(float(reader.std()), 4),
                   "true_std": round(float(true.std()), 4)},
        "methods": {name: {"mae": round(metric_interval(values, true, "mae", indices).value, 4),
                           "rmse": round(metric_interval(values, true, "rmse", indices).value, 4),
                           "correlation": correlation(values, true)} for name, values in methods.items()},
        "what_mae_rewards": {
            "five_star_share": round(float((true == 5).mean()), 4),
            **{name: {"mae": round(metric_interval(values, true, "mae", indices).value, 4),
                      "rmse": round(metric_interval(values, true, "rmse", indices).value, 4)}
               for name, values in mae_rewards.items()},
            "note": "explains the metric; the method's rating is the expected value (the pipeline row)",
        },
        "pipeline_minus_means_reader": {m: paired_difference(pipeline, reader, true, m, indices).as_list()
                                        for m in ("mae", "rmse")},
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

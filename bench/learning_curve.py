"""Learning curve: the pipeline's error against the number of Predictor training targets.

Where is more data heading? Trains Predictors on nested seeded subsets of a finished run's predictor
stage (same settings, only the amount of data differs; ``TrainingPipeline.predictor_curve``), then
re-rates one finished evaluation's targets with each of them. The reasons are the evaluation's own
(the Reasoner is the same for every point), so the curve isolates the Predictor's data.

    python bench/learning_curve.py --run artifacts/runs/cpu-full --recipe cpu-full \\
        --eval artifacts/bench/eval-leave-last-out-full --sizes 250,1000,3000 \\
        --out artifacts/bench/learning-curve-cpu.json

Writes the JSON and a PNG beside it (MAE and RMSE with 95% bootstrap intervals per size, the
evaluation's baselines as horizontal lines). Each trained point is kept under
``<run>/predictor-curve/n<size>/`` with its ratings of the evaluation's targets (appended as
made), so an interrupted curve continues and a later call with more sizes rates only the new.

``--variant NAME`` trains the same subsets with another recipe's Predictor settings (e.g.
``cpu-full-l16``: 16 LoRA layers, full-vocabulary loss) under ``<run>/predictor-curve/NAME/``
and compares each point, paired on the same targets and reasons, with the run's own point of the
same size, with the evaluated pipeline and with the evaluation's baselines:

    python bench/learning_curve.py --run artifacts/runs/cpu-full --recipe cpu-full-l16 --variant l16-vocab \
        --eval artifacts/bench/eval-leave-last-out-full --sizes 1000 \
        --out artifacts/bench/learning-curve-l16-vocab-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _rate(adapter: Path, targets, contexts, reasons, saved: Path) -> list[float]:
    """The adapter's expected ratings, kept in ``saved`` 32 at a time (the project's append-only
    store, under the adapter's version): an interrupted curve continues where it stopped and a
    later call with more sizes reuses them."""
    from reason4rec.config import load_config
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import adapter_version
    from reason4rec.experts.prompts import predictor_messages
    from reason4rec.experts.summaries import SummaryCache

    cache, version = SummaryCache(saved), adapter_version(adapter)
    ids = [t.review.review_id for t in targets]
    todo = [i for i, rid in enumerate(ids) if cache.get(rid, version) is None]
    if todo:
        backend = local_backend(load_config(), {"predictor": adapter})
        for start in range(0, len(todo), 32):
            batch = todo[start:start + 32]
            rated = backend.rate("predictor", [predictor_messages(contexts[i], reasons[i]) for i in batch])
            cache.put_many((ids[i], version, repr(d.expected)) for i, d in zip(batch, rated, strict=True))
    return [float(cache.get(rid, version)) for rid in ids]  # type: ignore[arg-type]


def _plot(points: list[dict], baselines: dict[str, float], path: Path, heading: dict[str, Any] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sizes = [p["targets"] for p in points]
    for ax, metric in zip(axes, ("mae", "rmse")):
        values = [p[metric]["value"] for p in points]
        low = [p[metric]["value"] - p[metric]["low"] for p in points]
        high = [p[metric]["high"] - p[metric]["value"] for p in points]
        ax.errorbar(sizes, values, yerr=[low, high], marker="o", capsize=4, color="black",
                    label="Reason4Rec (Predictor on n)")
        for (name, value), color in zip(baselines.get(metric, {}).items(), _BASELINE_COLORS):
            ax.axhline(value, linestyle="--", linewidth=1, color=color, label=name)
        fit = (heading or {}).get(metric)
        if fit:  # the least-squares line through the points, drawn to all the training targets there are
            import numpy as np

            span = np.geomspace(min(sizes), max(max(sizes), heading["training_targets_available"]), 50)
            ax.plot(span, fit["intercept"] + fit["slope"] * np.log(span), linestyle=":", color="grey",
                    label=f"trend ({fit['per_doubling']:+.4f} per doubling)")
            ax.axvline(heading["training_targets_available"], linestyle=":", linewidth=1, color="black",
                       label=f"all {heading['training_targets_available']:,} training targets")
        ax.set_xscale("log")
        ticks = sorted({*sizes, *([heading["training_targets_available"]] if heading else [])})
        ax.xaxis.set_major_locator(FixedLocator(ticks))  # one plain label per trained size, no 10^k clutter
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("Predictor training targets")
        ax.set_ylabel(metric.upper())
        ax.legend(fontsize=7)
    fig.suptitle("Pipeline error vs Predictor training data (same reasons, 95% bootstrap intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_BASELINE_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _paired(predicted: dict[int, Any], true, indices) -> list[dict]:
    """Each size against the next larger one and the largest against the smallest: a paired
    bootstrap on the same targets (the intervals of the points overlap; these do not need to)."""
    from reason4rec.training.confidence import paired_difference

    sizes = sorted(predicted)
    pairs = list(pairwise(sizes)) + ([(sizes[0], sizes[-1])] if len(sizes) > 2 else [])
    return [{"larger": large, "smaller": small, "note": "larger minus smaller: [value, low, high]",
             **{m: paired_difference(predicted[large], predicted[small], true, m, indices).as_list()
                for m in ("mae", "rmse")}} for small, large in pairs]


def _variant_paired(pipeline, adapters: dict[int, Path], predictions: dict[int, Any], ratings, evaluated,
                    eval_dir: Path, true, indices) -> list[dict]:
    """Each variant point minus: the run's own Predictor trained on the same subset (when that
    point exists), the evaluated pipeline, and each baseline of the evaluation ([value, low, high])."""
    import numpy as np

    from reason4rec.config import Expert
    from reason4rec.training.confidence import paired_difference

    results = eval_dir / "results.json"
    baselines = json.loads(results.read_text()).get("baseline_predictions", {}) if results.is_file() else {}
    stage_rows = (pipeline.stage_dir(Expert.PREDICTOR) / "data.jsonl").read_text().splitlines()
    stage_count = sum(1 for line in stage_rows if line.strip())
    out = []
    for n in adapters:
        own = (pipeline.adapter_dir(Expert.PREDICTOR) if n == stage_count
               else pipeline.run_dir / "predictor-curve" / f"n{n}" / "adapter")
        others = {"the evaluated pipeline": evaluated,
                  **{name: np.array(values) for name, values in baselines.items()}}
        if (own / "card.json").is_file():
            others = {f"the run's own Predictor on the same {n:,}": ratings(n, own)[0], **others}
        out.append({"targets": n, "note": "variant minus other: [value, low, high]; negative = the variant is better",
                    **{name: {m: paired_difference(predictions[n], other, true, m, indices).as_list()
                              for m in ("mae", "rmse")} for name, other in others.items()}})
    return out


def _baselines(eval_dir: Path) -> dict[str, dict[str, float]]:
    """The evaluation's baseline rows (when it was summed up), by metric (correlation with the
    true rating too, where the row has one)."""
    results = eval_dir / "results.json"
    if not results.is_file():
        return {}
    rows = json.loads(results.read_text()).get("rows", [])
    out: dict[str, dict[str, float]] = {"mae": {}, "rmse": {}, "correlation": {}}
    for row in rows:
        if row.get("method") in ("user mean", "user+item bias", "SVD++ (surprise)", "HFT (cornac)"):
            for metric in out:
                if row.get(metric) is not None:
                    out[metric][row["method"]] = row[metric]
    return out


def _heading(points: list[dict], baselines: dict[str, dict[str, float]], available: int) -> dict[str, Any]:
    """Where the curve is heading: per measure a least-squares line through (ln targets, value),
    its change per doubling of the data, and the number of targets at which the line reaches the
    best baseline (None when it does not head there). Two or three points make a rough guide, not
    a forecast; ``available`` says how many training targets this split has at all."""
    import numpy as np

    if len(points) < 2:
        return {}
    log_n = np.log([p["targets"] for p in points])
    values = {"mae": [p["mae"]["value"] for p in points], "rmse": [p["rmse"]["value"] for p in points],
              "correlation": [p["correlation_with_true"] for p in points]}
    out: dict[str, Any] = {"training_targets_available": available,
                           "note": "least squares of value on ln(targets); targets_to_reach_best = where the line "
                                   "meets the best baseline"}
    for metric, series in values.items():
        lower_is_better = metric != "correlation"
        slope, intercept = np.polyfit(log_n, series, 1)
        named = baselines.get(metric, {})
        if not named:
            continue
        best_name = (min if lower_is_better else max)(named, key=named.__getitem__)
        best = named[best_name]
        heading = slope < 0 if lower_is_better else slope > 0
        reach = float(np.exp((best - intercept) / slope)) if heading else None
        largest = max(p["targets"] for p in points)
        why = ("the line does not head there" if reach is None
               else f"over 100x the largest point (~{reach:.0e} targets): no forecast" if reach > 100 * largest
               else None)
        out[metric] = {"per_doubling": round(float(slope * np.log(2)), 4), "intercept": round(float(intercept), 4),
                       "slope": round(float(slope), 5), "best_baseline": best_name, "best_value": round(best, 4),
                       "targets_to_reach_best": None if why else int(round(reach, -2)),  # type: ignore[arg-type]
                       **({"why_none": why} if why else {})}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a training run with a finished predictor stage")
    parser.add_argument("--recipe", required=True, help="the run's recipe")
    parser.add_argument("--eval", type=Path, required=True, help="a finished evaluation folder")
    parser.add_argument("--sizes", default="250,1000,3000")
    parser.add_argument("--variant", help="train the sizes with --recipe's Predictor settings under this name")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/learning-curve-cpu.json"))
    args = parser.parse_args()

    import numpy as np

    from reason4rec.config import load_config
    from reason4rec.training.confidence import metric_interval, resample_indices
    from reason4rec.training.pipeline import TrainingPipeline
    from reason4rec.training.recipes import load_recipe
    from reason4rec.training.teachers import OfflineTeacher

    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    pipeline = TrainingPipeline(load_config(), load_recipe(args.recipe), args.run, OfflineTeacher(), say=say)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    adapters = pipeline.predictor_curve(sizes, variant=args.variant)
    train_s = time.perf_counter() - started
    from reason4rec.experts.model.adapters import adapter_version
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.eval_run import run_id

    replay = EvalReplay.open(args.eval)
    targets, contexts, reasons, evaluated, key = (replay.targets, replay.contexts, replay.reasons,
                                                  replay.pipeline, replay.key)
    true = np.array([t.review.rating for t in targets])
    indices = resample_indices(len(true))

    def ratings(n: int, adapter: Path) -> tuple[np.ndarray, bool]:
        if adapter_version(adapter) == key["adapters"]["predictor"]:
            # the evaluated Predictor itself: its ratings are already in the evaluation (deterministic)
            say(f"the Predictor trained on {n:,} is the evaluated one: its {len(targets):,} ratings are reused")
            return np.array(evaluated), True
        say(f"rating {len(targets):,} targets with {adapter} (trained on {n:,})")
        saved = adapter.parent / f"ratings-{run_id(key)}.jsonl"
        return np.array(_rate(adapter, targets, contexts, reasons, saved)), False

    points, predictions = [], {}
    for n, adapter in adapters.items():
        predicted, reused = ratings(n, adapter)
        predictions[n] = predicted
        points.append({"targets": n, "adapter": str(adapter), "ratings": "the evaluation's" if reused else "re-rated",
                       **{m: asdict(metric_interval(predicted, true, m, indices)) for m in ("mae", "rmse")},
                       "mean_prediction": round(float(predicted.mean()), 4),
                       "correlation_with_true": round(float(np.corrcoef(predicted, true)[0, 1]), 4)})
    result = {"run": str(args.run), "recipe": args.recipe, "eval": str(args.eval), "eval_key": key,
              "scored_targets": len(targets), "points": points, "paired": _paired(predictions, true, indices),
              "baselines": _baselines(args.eval), "train_seconds_this_call": round(train_s, 1)}
    result["heading"] = _heading(points, result["baselines"], pipeline.training_targets_available())
    if args.variant:
        result["variant"] = args.variant
        result["variant_paired"] = _variant_paired(pipeline, adapters, predictions, ratings, np.array(evaluated),
                                                   args.eval, true, indices)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    _plot(points, result["baselines"], args.out.with_suffix(".png"), result["heading"])
    print(json.dumps({p["targets"]: p["mae"] for p in points}, indent=1))


if __name__ == "__main__":
    main()

"""Issue 35, the Predictor that reads the collaborative estimates, on a finished evaluation's targets.

Re-rates one evaluation's targets with a Predictor trained with the estimates in its prompt
(``training/recipes/cpu-collab.toml``), using the evaluation's own reasons (the Reasoner is the same
shipped one) and, for every target, the estimates of models fitted on the split's training and
validation reviews only (what the evaluation's baselines are fitted on; the agent's
``training.held_out_estimates``). Rows, all on the same targets:

- **pipeline, with estimates**: the new Predictor after the evaluation's reason (what ``why`` gives);
- **estimates, no reason**: the same adapter with ``Analysis: none`` (it learnt that too);
- **reason, no estimates**: the Predictor shipped before (``--without PATH``, cpu-full's) on the same
  prompts without the line, beside the evaluation's own ratings (made on the older, uncleaned summaries);
- the evaluation's one-step and no-reason rows, every baseline, and **(a) stacked CF**: ridge on
  every baseline's prediction, cross-fitted over 5 seeded folds (``bench/rating_head.py``), so a
  gain from merely combining baselines is not credited to the reasons.

The history summaries are the evaluation folder's, cleaned by today's rules (``stored_summary``,
as the memory keeps them and as the cpu-collab Predictor's training data was), so the Predictor
sees the prompts it learnt on. Ratings are appended to ``<out>.ratings.jsonl`` as made (resumable).

    .venv/bin/python bench/collab_predictor.py --eval artifacts/bench/eval-leave-last-out-full \\
        --predictor artifacts/runs/cpu-collab/predictor/adapter --without artifacts/runs/cpu-full/predictor/adapter \\
        --out artifacts/bench/collab-predictor-leave-last-out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PIPELINE, BARE, SHIPPED = ("pipeline, with estimates", "estimates, no reason",
                           "reason, no estimates (the Predictor before)")
EVALUATED = "evaluation's pipeline (shipped, older summaries)"


def _rating_head():
    """``bench/rating_head.py`` as a module: its cross-fitting, heads and paired differences."""
    path = Path(__file__).with_name("rating_head.py")
    spec = importlib.util.spec_from_file_location("rating_head", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rating_head"] = module
    spec.loader.exec_module(module)
    return module


def contexts_of(replay, config) -> list:
    """The replay's targets as the memory would show them today: its summaries cleaned by today's rules."""
    from reason4rec.data import dataset_of
    from reason4rec.experts import history_reviews, target_context
    from reason4rec.experts.summaries import stored_summary
    from reason4rec.training.eval_run import MANIFEST

    dataset = dataset_of(config.data)
    key = json.loads((replay.folder / MANIFEST).read_text())["key"]
    version = key.get("summaries") or key["adapters"]["summarizer"]
    rows = {}
    for line in (replay.folder / "summaries.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row["version"] == version:
                rows[row["review_id"]] = row["summary"]
    cleaned = {r.review_id: stored_summary(rows[r.review_id], r.text) for r in history_reviews(replay.targets)}
    return [target_context(t, cleaned, dataset.category, dataset.title) for t in replay.targets]


def rate(adapter: Path, contexts: list, reasons: list[str | None], saved: Path, label: str,
         none_label: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Expected ratings of ``adapter`` after each reason (kept in ``saved`` under ``label`` and the
    adapter's version), and with ``none_label`` also without one: both prompts of a target in one
    call, so the engine computes their shared prefix (all but the analysis) once."""
    from reason4rec.config import load_config
    from reason4rec.experts import SummaryCache, adapter_version, local_backend, predictor_messages

    cache, version = SummaryCache(saved), adapter_version(adapter)
    labels = [label] + ([none_label] if none_label else [])
    keys = [str(i) for i in range(len(contexts))]
    todo = [i for i, key in enumerate(keys) if any(cache.get(key, f"{x}:{version}") is None for x in labels)]
    if todo:
        backend = local_backend(load_config(), {"predictor": adapter})
        started = time.perf_counter()
        for done, i in enumerate(todo, 1):
            rated = backend.rate("predictor", [predictor_messages(contexts[i], reasons[i])]
                                 + ([predictor_messages(contexts[i], None)] if none_label else []))
            cache.put_many((keys[i], f"{x}:{version}", repr(d.expected)) for x, d in zip(labels, rated, strict=True))
            if done % 50 == 0 or done == len(todo):
                print(f"{' and '.join(labels)}: {done}/{len(todo)} targets, "
                      f"{(time.perf_counter() - started) / done:.2f} s each", file=sys.stderr, flush=True)
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    values = [np.array([float(cache.get(key, f"{x}:{version}")) for key in keys]) for x in labels]  # type: ignore[arg-type]
    return values[0], values[1] if none_label else None


def report(eval_dir: Path, predictor: Path, out: Path, without: Path | None, folds: int, seed: int) -> dict[str, Any]:
    from dataclasses import replace

    from reason4rec.config import load_config
    from reason4rec.data import dataset_of, make_split
    from reason4rec.training import attach_estimates, held_out_estimates
    from reason4rec.training.confidence import paired_difference, resample_indices
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.evaluate import metric_row

    head = _rating_head()
    config = load_config()
    replay = EvalReplay.open(eval_dir, config)
    data = head.load(eval_dir)
    if len(replay.targets) != len(data["true"]):
        raise SystemExit(f"{eval_dir}: {len(replay.targets)} scored targets but {len(data['true'])} in results.json")
    split = make_split(dataset_of(config.data), data["split"], replay.key["seed"])
    plain = contexts_of(replay, config)
    found = held_out_estimates(config, split, "test", [t.review for t in replay.targets])
    with_estimates = attach_estimates(plain, found)
    saved = out.with_suffix(".ratings.jsonl")
    full, bare = rate(predictor, with_estimates, replay.reasons, saved, "reason", "none")
    methods: dict[str, np.ndarray] = {PIPELINE: full, BARE: bare}
    if without is not None:
        methods[SHIPPED], _ = rate(without, [replace(c, estimates=None) for c in plain], replay.reasons, saved,
                                   "reason")
    true = data["true"]
    stacked = head.cross_fit(head.ridge, np.column_stack(list(data["baselines"].values())), true, folds, seed)
    methods |= {EVALUATED: data["pipeline"], "evaluation's Predictor, no reason": data["bare"],
                **data["baselines"], head.STACKED: stacked}
    low = true <= 2
    rows = []
    for name, predicted in methods.items():
        row = metric_row(data["split"], name, predicted, true, 0.0).as_dict()
        rows.append({"method": name, **{k: head._round(row[k]) for k in ("mae", "rmse", "mae_ci", "rmse_ci",
                                                                         "correlation")},
                     "mean": round(float(predicted.mean()), 4), "spread": round(float(predicted.std()), 4),
                     "low_ratings_below_3": round(float((predicted[low] < 3).mean()), 4)})
    indices = resample_indices(len(true))

    def difference(first: np.ndarray, second: np.ndarray) -> dict[str, Any]:
        return {**{m: paired_difference(first, second, true, m, indices).as_list() for m in ("mae", "rmse")},
                "correlation": head.correlation_difference(first, second, true, indices)}

    base = data["baselines"]
    every = {b: difference(methods[PIPELINE], v) for b, v in base.items()}
    against = {"minus " + head.STACKED: difference(methods[PIPELINE], stacked),
               "minus " + BARE: difference(methods[PIPELINE], methods[BARE]),
               "minus " + EVALUATED: difference(methods[PIPELINE], data["pipeline"]),
               **({"minus " + SHIPPED: difference(methods[PIPELINE], methods[SHIPPED])} if without is not None else {}),
               "minus every baseline": every}
    bare_against = {"minus " + head.STACKED: difference(methods[BARE], stacked)}
    goals = {
        "mae_below_every_baseline": all(d["mae"][2] < 0 for d in every.values()),
        "rmse_below_every_baseline": all(d["rmse"][2] < 0 for d in every.values()),
        "below_stacked_cf_mae_and_rmse": all(against["minus " + head.STACKED][m][2] < 0 for m in ("mae", "rmse")),
        "reason_adds_mae_and_rmse": all(against["minus " + BARE][m][2] < 0 for m in ("mae", "rmse")),
        "correlation_above_every_baseline": all(d["correlation"][1] > 0 for d in every.values()
                                                if d["correlation"] is not None),
    }
    cold = {side: int(sum(c == side for c in found.cold)) for side in ("user", "item", "both")}
    return {"eval": str(eval_dir), "predictor": str(predictor), "split": data["split"], "targets": len(true),
            "low_ratings": int(low.sum()), "cold_start_targets": cold,
            "estimates": "user+item bias and SVD++ (the memory's settings), fitted on train + validation",
            "summaries": "the evaluation folder's, cleaned by today's rules", "rows": rows,
            "differences": {"note": "first minus second: [value, low, high], paired bootstrap, 95%; negative "
                                    "MAE/RMSE and positive correlation = the first is better",
                            PIPELINE: against, BARE: bare_against},
            "goals": goals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=Path("artifacts/bench/eval-leave-last-out-full"))
    parser.add_argument("--predictor", type=Path, required=True, help="the Predictor adapter that reads estimates")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--without", type=Path, default=None,
                        help="a Predictor without estimates (the one shipped before) to rate on the same prompts")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = report(args.eval, args.predictor, args.out, args.without, args.folds, args.seed)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["rows"]:
        print(f"{row['method']:<48} MAE {row['mae']:.3f}  RMSE {row['rmse']:.3f}  r {row['correlation']}  "
              f"spread {row['spread']:.3f}")
    print(json.dumps(result["goals"], indent=1))


if __name__ == "__main__":
    main()

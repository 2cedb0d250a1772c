"""Two evaluations of the pipeline on the same test targets, side by side: is the new set of experts
at least as good as the shipped one (issue 36: "ship them as the default adapters if they are at
least as good on Musical Instruments as today's")?

Reads each folder's ``predictions.jsonl`` (as ``reason4rec eval --out`` writes it), keeps the targets
both scored (a ``--limit`` run against a whole-set one: the sample's targets), and prints per
evaluation the pipeline's MAE / RMSE / standard deviation of predictions, its reasons'
verdict agreement (overall and on 1-2 star targets), then the paired differences (second minus
first) with 95% bootstrap intervals. Grounding needs each prompt: each evaluation's own
``results.json`` reports it.

    .venv/bin/python bench/compare_evals.py artifacts/bench/eval-leave-last-out-full <multi eval folder> \\
        --first-ratings artifacts/bench/collab-predictor-leave-last-out.ratings.jsonl \\
        --out artifacts/bench/compare-multi-leave-last-out.json

``--first-ratings``: the first evaluation's targets re-rated by another Predictor with the same
reasons (``bench/collab_predictor.py``'s ratings file, rows ``reason:<version>`` by the target's
position in that evaluation): the whole-set evaluations were run before the shipped Predictor
learnt to read the collaborative estimates, so this is what the shipped experts predict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

PIPELINE = "Reason4Rec"


def read(folder: Path) -> dict[str, dict[str, Any]]:
    """The scored targets of an evaluation folder by review id (a torn last line is skipped)."""
    rows = {}
    for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if PIPELINE in (row.get("predictions") or {}):
            rows[row["review_id"]] = row
    if not rows:
        sys.exit(f"{folder}: no scored targets")
    return rows


def rerated(folder: Path, ratings: Path) -> dict[str, float]:
    """Target review id -> the re-rated pipeline prediction (see ``--first-ratings``)."""
    from reason4rec.config import load_config
    from reason4rec.training.eval_replay import EvalReplay

    by_position = {}
    for line in ratings.read_text(encoding="utf-8").splitlines():
        if line.strip() and (row := json.loads(line))["version"].startswith("reason:"):
            by_position[int(row["review_id"])] = float(row["summary"])
    targets = EvalReplay.open(folder, load_config()).targets
    return {t.review.review_id: by_position[i] for i, t in enumerate(targets) if i in by_position}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    true = np.array([r["true"] for r in rows])
    predicted = np.array([r["predictions"][PIPELINE] for r in rows])
    from reason4rec.experts import verdict_agrees

    agrees = [(r["true"], verdict_agrees(r.get("reason") or "", r["true"])) for r in rows]
    scored = [bool(a) for _, a in agrees if a is not None]
    low = [bool(a) for stars, a in agrees if a is not None and stars <= 2]
    mean = lambda values: round(float(np.mean(values)), 4) if len(values) else None  # noqa: E731
    return {"targets": len(rows), "mae": mean(np.abs(predicted - true)),
            "rmse": round(float(np.sqrt(np.mean((predicted - true) ** 2))), 4),
            "prediction_sd": round(float(np.std(predicted)), 4), "true_sd": round(float(np.std(true)), 4),
            "verdict_agreement": mean(scored), "agreement_on_1_2_stars": mean(low)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="the evaluation compared against (e.g. the shipped experts')")
    parser.add_argument("second", type=Path, help="the new experts' evaluation")
    parser.add_argument("--first-ratings", type=Path, help="the first's targets re-rated (see above)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from reason4rec.training.confidence import paired_difference, resample_indices

    first, second = read(args.first), read(args.second)
    if args.first_ratings:
        ratings = rerated(args.first, args.first_ratings)
        first = {k: {**row, "predictions": {**row["predictions"], PIPELINE: ratings[k]}}
                 for k, row in first.items() if k in ratings}
    common = sorted(set(first) & set(second))
    if not common:
        sys.exit("the two evaluations share no scored target (another split, data or sample?)")
    if any(first[k]["true"] != second[k]["true"] for k in common):
        sys.exit("the two evaluations disagree on true ratings: not the same data")
    a, b = [first[k] for k in common], [second[k] for k in common]
    true = np.array([r["true"] for r in a])
    indices = resample_indices(len(common))
    result: dict[str, Any] = {"first": str(args.first), "first_ratings": str(args.first_ratings or ""),
                              "second": str(args.second), "common_targets": len(common),
                              "first_summary": summary(a), "second_summary": summary(b), "second_minus_first": {}}
    for metric in ("mae", "rmse"):
        found = paired_difference(np.array([r["predictions"][PIPELINE] for r in b]),
                                  np.array([r["predictions"][PIPELINE] for r in a]), true, metric, indices)
        result["second_minus_first"][metric] = {"value": round(found.value, 4), "low": round(found.low, 4),
                                                "high": round(found.high, 4)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Issue 35's verdict goal against what the evidence can give: how well do the collaborative
estimates alone separate the unhappy buyers (1-2 stars) from the happy ones (4-5)?

A verdict that followed the rating evidence perfectly would say "not for them" whenever a model's
held-out estimate is below some threshold. For each split and each model (the user+item bias
model, SVD++; fitted on train + validation, as the evaluation's baselines are) this prints the
AUC and the best overall verdict agreement among thresholds that catch at least half of the 1-2
star targets: the goal asks for >= 50% on them and >= 80% overall.

    .venv/bin/python bench/verdict_ceiling.py --out artifacts/bench/verdict-ceiling.json
    .venv/bin/python bench/verdict_ceiling.py --reviews ../shared/data/extra/Magazine_Subscriptions_5.json.gz \
        --out artifacts/bench/verdict-ceiling-magazine-subscriptions.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def ceiling(estimate: np.ndarray, stars: np.ndarray) -> dict[str, float]:
    """AUC of ``-estimate`` for 1-2 vs 4-5 stars and the best overall agreement catching half."""
    from sklearn.metrics import roc_auc_score

    scored = stars != 3
    unhappy = (stars[scored] <= 2).astype(int)
    score = -estimate[scored]
    best = (0.0, 0.0)
    for cut in np.unique(score):
        said_no = score >= cut
        caught = float(said_no[unhappy == 1].mean())
        overall = float((said_no == unhappy.astype(bool)).mean())
        if caught >= 0.5 and overall > best[0]:
            best = (overall, caught)
    return {"auc": round(float(roc_auc_score(unhappy, score)), 4), "unhappy": int(unhappy.sum()),
            "scored": int(scored.sum()), "best_overall_catching_half": round(best[0], 4),
            "caught_there": round(best[1], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/verdict-ceiling.json"))
    parser.add_argument("--reviews", type=Path, help="another review file (default: the configured one)")
    args = parser.parse_args()
    from reason4rec.config import load_config
    from reason4rec.data import dataset_of, load_configured, make_split, require_category
    from reason4rec.training import held_out_estimates

    config = load_config()
    dataset = dataset_of(config.data) if args.reviews is None else load_configured(
        args.reviews, category=require_category(args.reviews), on_duplicate="keep-latest")
    result = {}
    for name in ("leave-last-out", "temporal"):
        split = make_split(dataset, name)
        targets = list(split.test)
        found = held_out_estimates(config, split, "test", targets)
        stars = np.array([r.rating for r in targets])
        result[name] = {model: ceiling(getattr(found, model), stars) for model in ("bias", "svdpp")}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""The verdict rule a memory's own ratings give, per review file: what the agent follows for a
category with no calibration (``experts.fit_ratings_verdict_rule``, fitted as ``memory/collab.py``
fits it, on every review of the file) and what ``eval`` fits on a split's training and validation
reviews. Per file: the threshold, whether it is used, and its out-of-fold measures.

    .venv/bin/python bench/ratings_verdict.py "Musical Instruments=data/datasets/musical_instruments_5.jsonl.gz" \\
        ../shared/data/extra/Magazine_Subscriptions_5.json.gz ../shared/data/extra/Gift_Cards_5.json.gz \\
        --out artifacts/bench/ratings-verdict-rules.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reviews", nargs="+", help="PATH (a McAuley name says the category) or CATEGORY=PATH")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/ratings-verdict-rules.json"))
    args = parser.parse_args()
    from reason4rec.config import load_config
    from reason4rec.data import load_configured, make_split, require_category
    from reason4rec.experts import fit_ratings_verdict_rule
    from reason4rec.training.estimates import model_settings

    config = load_config()
    settings = model_settings(config)
    fit = lambda reviews: fit_ratings_verdict_rule(  # noqa: E731
        reviews, bias_l2=settings["bias_l2"], bias_iterations=settings["bias_iterations"])
    found = {}
    for given in args.reviews:
        category, _, named = given.rpartition("=")
        path = Path(named)
        dataset = load_configured(path, category=category or require_category(path), on_duplicate="keep-latest")
        split = make_split(dataset, "leave-last-out", seed=config.data.seed)
        whole, seen = fit(list(dataset.reviews)), fit([*split.train, *split.valid])
        found[dataset.category] = {"reviews": len(dataset.reviews), "memory_of_the_file": whole.as_dict(),
                                   "leave_last_out_train_and_valid": seen.as_dict()}
        print(f"{dataset.category}: {whole.summary()}")
    args.out.write_text(json.dumps(found, indent=1) + "\n")


if __name__ == "__main__":
    main()

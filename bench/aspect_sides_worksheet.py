"""Labelling worksheets for aspect sides on any review file (issue 37: aspects on the right side).

What ``bench/aspect_side_train/`` was labelled against (the training data of the side model tried
in commit 750c7af and not shipped, ``docs/aspects.md``).

Each line: a review (id, stars, text) and the candidate aspects the rules find in it
(:func:`reason4rec.experts.product_aspects.review_aspects`), without the rules' sides, so a labeller
decides each candidate from the review alone (``bench/aspect_labelling.md``). Reviews are a seeded
sample of any review file; for the shipped instruments use ``bench/aspect_quality.py --dev
--worksheet`` instead (its development sample never overlaps the held-out reviews the test labels
are on).

    .venv/bin/python bench/aspect_sides_worksheet.py --reviews ../shared/data/extra/Magazine_Subscriptions_5.json.gz \\
        --n 40 --seed 11 > /tmp/magazines.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reviews", type=Path, required=True)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--from", dest="start", type=int, default=0, help="skip this many of the seeded order")
    args = parser.parse_args()

    from reason4rec.data import load_reviews
    from reason4rec.experts.product_aspects import review_aspects

    dataset = load_reviews(args.reviews, category="any", on_duplicate="keep-latest", allow_truncated=True)
    reviews = sorted((r for r in dataset.reviews if len(r.text.split()) >= 8), key=lambda r: r.review_id)
    random.Random(args.seed).shuffle(reviews)
    for review in reviews[args.start:args.start + args.n]:
        candidates = sorted({m.aspect for m in review_aspects(review.text)})
        if candidates:
            print(json.dumps({"review_id": review.review_id, "rating": review.rating, "text": review.text,
                              "candidates": candidates}))


if __name__ == "__main__":
    main()

"""Train and check the aspect-side model (issue 37: aspects on the right side).

Training labels: ``bench/aspect_side_train/*.jsonl`` (reviews of all three categories, none of them
among the held-out reviews the test labels are on; labelled blind by the rules in
``bench/aspect_labelling.md``). Model choice: ``--dev`` scores candidates on the first test-label
file (reviews 1-50 of the held-out sample, already read while the rules were written); the blind
files (reviews 51-150) are scored once, by ``bench/aspect_quality.py --sides model``, after the
model is chosen.

Per mention, against its label: the share decided right, and the praised/criticised mentions put
on the opposite side, by the rules and by the model.

    .venv/bin/python bench/aspect_sides.py --folds 5                  # cross-validated on the training labels
    .venv/bin/python bench/aspect_sides.py --dev --save experts/adapters/aspect_sides   # the shipped model,
                                                                      # scored on reviews 1-50
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = sorted((ROOT / "bench" / "aspect_side_train").glob("*.jsonl"))
DEV = [ROOT / "bench" / "aspect_polarity_labels.jsonl"]
EXTRA = ROOT.parent / "shared" / "data" / "extra"


def texts() -> dict[str, str]:
    from reason4rec.data import load_reviews, load_shipped

    found = {r.review_id: r.text for r in load_shipped().reviews}
    for name in ("Magazine_Subscriptions_5.json.gz", "Gift_Cards_5.json.gz"):
        if (EXTRA / name).is_file():
            dataset = load_reviews(EXTRA / name, category="any", on_duplicate="keep-latest", allow_truncated=True)
            found.update({r.review_id: r.text for r in dataset.reviews})
    return found


def score(examples, polarities) -> dict:
    """Right share, and sided labels on the opposite side (what the wrong-side measure counts)."""
    from reason4rec.experts.aspect_sides import SIDE_LABELS

    right = wrong_side = sided = 0
    for example, polarity in zip(examples, polarities):
        truth = example.label - 1
        right += polarity == truth
        if truth and polarity:
            sided += 1
            wrong_side += polarity != truth
    return {"mentions": len(examples), "right": round(right / max(len(examples), 1), 4),
            "sided_both": sided, "opposite_side": wrong_side,
            "labels": {name: sum(1 for e in examples if e.label == i) for i, name in enumerate(SIDE_LABELS)}}


POLICIES = {
    "argmax": lambda rule, p: max(range(3), key=p.__getitem__) - 1,
    "agree": lambda rule, p: rule if rule and max(range(3), key=p.__getitem__) - 1 == rule else 0,
    "veto": lambda rule, p: 0 if rule and p[1 - rule] > 0.5 else rule,
    "veto-or-add": lambda rule, p: (0 if p[1 - rule] > 0.5 else rule) if rule else
    (1 if p[2] > 0.8 else -1 if p[0] > 0.8 else 0),
    "confident": lambda rule, p: 1 if p[2] > 0.7 else -1 if p[0] > 0.7 else 0,
    "agree-or-confident": lambda rule, p: 1 if p[2] > 0.9 else -1 if p[0] > 0.9 else (
        rule if rule and max(range(3), key=p.__getitem__) - 1 == rule else 0),
}
"""Ways to combine the rules' polarity with the model's probabilities (criticised, neither, praised)."""


def policy_scores(examples, probabilities) -> dict:
    return {name: score(examples, [rule(e.question.rule, p) for e, p in zip(examples, probabilities)])
            for name, rule in POLICIES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, nargs="+", default=TRAIN, help="training label files")
    parser.add_argument("--folds", type=int, default=0, help="cross-validate on the training labels (by review)")
    parser.add_argument("--dev", action="store_true", help="train on the training labels, score on reviews 1-50")
    parser.add_argument("--save", type=Path, help="train on the training labels and save the model here")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the scores as JSON here")
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.experts import ensure_sentence_model
    from reason4rec.training.aspect_sides import fit_side_model, read_side_labels, side_examples

    base = ensure_sentence_model(load_config().home)
    by_id = texts()
    train = side_examples(read_side_labels(args.train), by_id)
    settings = {"epochs": args.epochs, "learning_rate": args.lr, "rank": args.rank, "seed": args.seed}
    print(f"training: {len(train)} mentions from {len(args.train)} files", file=sys.stderr)
    report: dict = {"settings": settings, "train_files": [p.name for p in args.train]}
    if args.folds:
        reviews = sorted({e.review_id for e in train})
        random.Random(args.seed).shuffle(reviews)
        fold_of = {r: i % args.folds for i, r in enumerate(reviews)}
        held, predicted = [], []  # predicted: probabilities
        for fold in range(args.folds):
            fitted = fit_side_model([e for e in train if fold_of[e.review_id] != fold], base, **settings)
            test = [e for e in train if fold_of[e.review_id] == fold]
            held += test
            predicted += fitted.probabilities([e.question for e in test])
            print(f"fold {fold + 1}/{args.folds} done", file=sys.stderr)
        report["cross_validated"] = {"rules": score(held, [e.question.rule for e in held]),
                                     **policy_scores(held, predicted)}
        report["cross_validated_rows"] = [{"review_id": e.review_id, "written": e.question.written,
                                           "rule": e.question.rule, "label": e.label,
                                           "probabilities": [round(x, 4) for x in p]}
                                          for e, p in zip(held, predicted)]
    if args.dev or args.save:
        counts = {p.name: sum(1 for _ in p.open(encoding="utf-8")) for p in args.train}
        fitted = fit_side_model(train, base, args.save, trained_on={"label_files": counts}, **settings,
                                progress=lambda line: print(line, file=sys.stderr))
        report["saved"] = str(args.save) if args.save else None
    if args.dev:
        dev = side_examples(read_side_labels(DEV), by_id)
        report["dev"] = {"rules": score(dev, [e.question.rule for e in dev]),
                         **policy_scores(dev, fitted.probabilities([e.question for e in dev]))}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

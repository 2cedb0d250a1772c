"""Reasons about a side with no reviews: how often, and what dropping those sentences does to ratings.

The Reasoner opens nearly every reason with "In past reviews the user valued ..." and goes on
with "Other buyers of this item praise ...", also for a user who has written no review yet and an
item no one else has reviewed: those sentences can only be invented or taken from the other side.
The deliberation now drops them (``experts.quality.attribution.without_sides``, applied in
``finished_reason``). This bench reads a finished evaluation, counts its targets with a side that
has no reviews and the reasons that spoke of it anyway, and rates each changed reason again with
the same Predictor (collaborative estimates attached as the evaluation attached them), before and
after, on the same prompts: paired MAE/RMSE differences (after minus before; negative is better) on
the changed targets and on the whole test set (unchanged targets keep their rating), and how far
the "before" ratings are from the evaluation's own (the same prompt should give the same rating).

    python bench/absent_sides.py artifacts/bench/eval-shipped-temporal-full \
        --out artifacts/bench/absent-sides-temporal.json

Each side's phrases are also measured against that side's own reviews, before and after, as the
evaluation measures them (``attributed``: the share of a reason's aspect phrases found on the side
it says them of; ``with_misattributed``: reasons giving one side the other's). ``--measures-only``
recomputes those into an existing --out file without rating anything (the leave-last-out split
has no new users: there it is a quick count).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _measures(replay, reasons: list[str]) -> dict[str, float | None]:
    """The evaluation's reason measures of ``reasons`` on the replayed targets: grounding, attribution."""
    from reason4rec.experts import attributed_share, grounding_in, mean_of, misattributed_in
    from reason4rec.training.evaluate_experts import side_vocabularies

    grounded, attributed, wrong, phrases = [], [], [], 0
    for context, target, reason in zip(replay.contexts, replay.targets, reasons):
        user, item = side_vocabularies(context, target)
        found, given = grounding_in(reason, user | item), misattributed_in(reason, user, item)
        grounded.append(found.share)
        attributed.append(attributed_share(found, given))
        wrong.append(bool(given))
        phrases += len(given)
    return {"grounding": mean_of(grounded), "attributed": mean_of(attributed), "with_misattributed": mean_of(wrong),
            "misattributed_per_reason": round(phrases / len(reasons), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval", type=Path, help="a finished evaluation folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--measures-only", action="store_true",
                        help="recompute the reason measures into an existing --out, rating nothing")
    args = parser.parse_args()

    from reason4rec.config import Expert, load_config
    from reason4rec.data import RatingEstimates, dataset_of, make_split
    from reason4rec.experts.deliberation import absent_sides
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.prompts import predictor_messages
    from reason4rec.experts.quality.attribution import without_sides
    from reason4rec.experts.shipping import adapter_dirs
    from reason4rec.training.confidence import paired_difference, resample_indices
    from reason4rec.training.estimates import attach_estimates, held_out_estimates
    from reason4rec.training.eval_replay import EvalReplay

    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    config = load_config()
    replay = EvalReplay.open(args.eval, config)
    split = make_split(dataset_of(config.data), replay.key["split"], replay.key["seed"])
    found = held_out_estimates(config, split, "test", [t.review for t in replay.targets])
    contexts = attach_estimates(list(replay.contexts), RatingEstimates(found.bias, found.svdpp, tuple(found.cold)))
    absent = [absent_sides(c) for c in contexts]
    after = [without_sides(reason, gone) for reason, gone in zip(replay.reasons, absent)]
    changed = [i for i, (a, b) in enumerate(zip(replay.reasons, after)) if a != b]
    say(f"{sum(bool(a) for a in absent)} of {len(contexts)} targets have a side with no reviews; "
        f"{len(changed)} reasons spoke of it")
    measures = {"before": _measures(replay, replay.reasons), "after": _measures(replay, after)}
    if args.measures_only:
        report = json.loads(args.out.read_text()) if args.out.exists() else {"evaluation": str(args.eval)}
        report.pop("misattributed_phrases_per_reason", None)  # what an earlier version counted instead
        report["reason_measures"] = measures
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(measures, indent=1))
        return

    backend = open_llamacpp_backend(config, adapter_dirs(with_one_step=False), batch_size=8)
    version = backend.version(Expert.PREDICTOR)
    if version != replay.key["adapters"][Expert.PREDICTOR]:
        raise SystemExit(f"the shipped Predictor {version} is not the one {args.eval} evaluated")
    before_rated, after_rated = [], []
    for start in range(0, len(changed), 8):
        batch = changed[start:start + 8]
        rated = backend.rate(Expert.PREDICTOR, [predictor_messages(contexts[i], replay.reasons[i]) for i in batch]
                             + [predictor_messages(contexts[i], after[i]) for i in batch])
        before_rated += [d.expected for d in rated[:len(batch)]]
        after_rated += [d.expected for d in rated[len(batch):]]
        say(f"{start + len(batch)}/{len(changed)} rated")

    true = np.array([t.review.rating for t in replay.targets])
    stored = np.array(replay.pipeline)
    sub = np.array(changed, dtype=int)
    before_all, after_all = stored.copy(), stored.copy()  # unchanged reasons: the evaluation's ratings
    before_all[sub], after_all[sub] = before_rated, after_rated
    report = {
        "evaluation": str(args.eval),
        "targets": len(contexts),
        "no_user_reviews": sum("user" in a for a in absent),
        "no_item_reviews": sum("item" in a for a in absent),
        "reasons_changed": len(changed),
        "rerated_before_minus_evaluation_max_abs": round(float(np.max(np.abs(np.array(before_rated) - stored[sub]))), 4)
        if changed else None,
        "reason_measures": measures,
        "changed_targets": {m: paired_difference(after_rated, before_rated, true[sub], m,
                                                 resample_indices(len(sub))).as_list() for m in ("mae", "rmse")}
        if changed else None,
        "whole_test_set": {m: paired_difference(after_all, before_all, true, m).as_list() for m in ("mae", "rmse")},
        "mean_rating_changed_targets": {"before": round(float(np.mean(before_rated)), 4),
                                        "after": round(float(np.mean(after_rated)), 4)} if changed else None,
        "examples": [{"before": replay.reasons[i], "after": after[i]} for i in changed[:5]],
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=1))


if __name__ == "__main__":
    main()

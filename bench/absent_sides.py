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

Each side's phrases are also measured against that side's own reviews (``misattributed``): how
many phrases of a reason give one side what only the other side's reviews say.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _sides(context, target) -> tuple[list[str], list[str]]:
    """What the Reasoner was shown of each side, with the raw reviews behind the summaries."""
    from reason4rec.experts.prompts import clean_text, summary_line

    def lines(entries):
        return [f"{clean_text(e.title, 80)}: {summary_line(e.summary)}" for e in entries]

    user = lines(context.user_history) + [f"{r.title} {r.text}" for r in target.user_history]
    item = [clean_text(context.item_title, 120), *lines(context.item_history),
            *[f"{r.title} {r.text}" for r in target.item_history]]
    return user, item


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval", type=Path, help="a finished evaluation folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from reason4rec.config import Expert, load_config
    from reason4rec.data import RatingEstimates, dataset_of, make_split
    from reason4rec.experts.deliberation import absent_sides
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.prompts import predictor_messages
    from reason4rec.experts.quality.attribution import misattributed, without_sides
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
    wrong_before = wrong_after = 0
    for i in range(len(contexts)):
        user, item = _sides(contexts[i], replay.targets[i])
        wrong_before += len(misattributed(replay.reasons[i], user=user, item=item))
        wrong_after += len(misattributed(after[i], user=user, item=item))
    report = {
        "evaluation": str(args.eval),
        "targets": len(contexts),
        "no_user_reviews": sum("user" in a for a in absent),
        "no_item_reviews": sum("item" in a for a in absent),
        "reasons_changed": len(changed),
        "rerated_before_minus_evaluation_max_abs": round(float(np.max(np.abs(np.array(before_rated) - stored[sub]))), 4)
        if changed else None,
        "misattributed_phrases_per_reason": {"before": round(wrong_before / len(contexts), 3),
                                             "after": round(wrong_after / len(contexts), 3)},
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

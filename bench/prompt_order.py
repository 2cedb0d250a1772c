"""Does the shipped Reasoner reason as well when the user's history comes before the item?

It does (the run below), so prompt version p2 puts it there and the p1 Reasoner reads it
(``experts.prompts.COMPATIBLE_PROMPTS``).

Issue 40 asks to keep the KV state of the user's part of the Reasoner's prompt and reuse it for
every candidate of a `recommend` and every question of a chat. Today's prompt names the item
first ("Category: C. Item: T." then the user's reviews), so no two candidates share more than the
first line. This bench asks the shipped Reasoner, greedy, as the agent does, on the same seeded
targets of a finished evaluation, with the prompt as trained and with the user's history moved
before the item's line, then lets the Predictor rate each reason: grounding, verdict agreement,
completeness and MAE/RMSE, with paired intervals (user-first minus as-trained).

    python bench/prompt_order.py --eval artifacts/bench/eval-leave-last-out-full --n 96 \\
        --out artifacts/bench/prompt-order-leave-last-out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def item_first(ctx) -> list[dict[str, str]]:
    """The Reasoner's prompt as the shipped Reasoner was trained on it (prompt version p1): the
    same lines as today's (p2), the item's line first ("Category: C. Item: T.")."""
    from reason4rec.experts import prompts

    today = prompts.reasoner_messages(ctx)
    category, rest = today[-1]["content"].split("\n", 1)  # "Category: C." / the user's reviews and on
    users, rest = rest.split("\nItem: ", 1)
    item, others = rest.split("\n", 1)
    body = f"{category} Item: {item}\n{users}\n{others}"
    return [*today[:-1], {"role": "user", "content": body}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from reason4rec.config import Expert, load_config
    from reason4rec.experts import (
        grounding,
        is_complete,
        open_backend,
        predictor_messages,
        reasoner_messages,
        verdict_agrees,
    )
    from reason4rec.experts.quality.reason_quality import mean_of
    from reason4rec.training.confidence import paired_difference, paired_mean_difference, resample_indices
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.eval_run import write_atomically

    config = load_config()
    replay = EvalReplay.open(args.eval)
    ids = list(range(len(replay.targets)))
    random.Random(2020).shuffle(ids)
    ids = ids[: args.n]
    contexts = [replay.contexts[i] for i in ids]
    true = np.array([replay.targets[i].review.rating for i in ids])
    backend, _ = open_backend(config)
    sides = {}
    for name, build in (("as trained", item_first), ("user first", reasoner_messages)):
        began = time.perf_counter()
        reasons = [r.strip() for r in backend.generate(Expert.REASONER, [build(c) for c in contexts])]
        ratings = np.array([d.expected for d in backend.rate(
            Expert.PREDICTOR, [predictor_messages(c, r) for c, r in zip(contexts, reasons)])])
        shown = [replay.shown_to_reasoner(i) for i in ids]
        sides[name] = {"reasons": reasons, "ratings": ratings,
                       "grounding": [grounding(r, s).share for r, s in zip(reasons, shown)],
                       "verdict": [verdict_agrees(r, t) for r, t in zip(reasons, true)],
                       "complete": [is_complete(r) for r in reasons],
                       "seconds": time.perf_counter() - began}
        print(name, f"{sides[name]['seconds']:.0f} s", flush=True)
    backend.close()
    indices = resample_indices(len(true))
    low = true <= 2

    def measures(side: dict) -> dict:
        return {"mae": round(float(np.mean(np.abs(side["ratings"] - true))), 4),
                "rmse": round(float(np.sqrt(np.mean((side["ratings"] - true) ** 2))), 4),
                "grounding": mean_of(side["grounding"]), "verdict_agrees": mean_of(side["verdict"]),
                "verdict_agrees_1_2_stars": mean_of(v for v, is_low in zip(side["verdict"], low) if is_low),
                "complete": mean_of(side["complete"])}

    a, b = sides["as trained"], sides["user first"]
    both = [(x, y) for x, y in zip(a["grounding"], b["grounding"]) if x is not None and y is not None]
    report = {
        "eval": str(args.eval), "targets": len(ids), "seed": 2020,
        "measures": {name: measures(side) for name, side in sides.items()},
        "user_first_minus_as_trained": {
            "mae": paired_difference(b["ratings"], a["ratings"], true, "mae", indices).as_list(),
            "rmse": paired_difference(b["ratings"], a["ratings"], true, "rmse", indices).as_list(),
            "grounding": paired_mean_difference(np.array([y for _, y in both]),
                                                np.array([x for x, _ in both])).as_list(),
        },
        "same_reason": mean_of(x == y for x, y in zip(a["reasons"], b["reasons"])),
        "examples": [{"as_trained": x, "user_first": y} for x, y in zip(a["reasons"][:12], b["reasons"][:12])],
    }
    write_atomically(args.out, json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=1))


if __name__ == "__main__":
    main()

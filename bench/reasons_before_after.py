"""Reasons a person reads, before and after: the agent's answers now against what it showed before.

Before: the reason the agent showed for the same (user, item) at the start of this work (best of up to
8 drafts, old decoding, summaries as the Summarizer wrote them), from ``bench/grounded_reasons.py``'s
whole-test-set run. After: ``Agent.why`` on today's memory (cleaned summaries, the Reasoner's guards
over its own answer only, the item named). Both with the evaluation's grounding against what that
Reasoner was shown, and :func:`~reason4rec.experts.quality.reason_quality.repeated_aspects`.

    python bench/reasons_before_after.py --n 30 --out artifacts/bench/reasons-before-after.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--drafts-run", type=Path,
                        default=Path("artifacts/bench/grounded-reasons-all-2rounds-cpu.json"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/reasons-before-after.json"))
    args = parser.parse_args()

    from reason4rec.agent import Agent
    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.quality.reason_quality import mean_of, repeated_aspects

    before = json.loads(args.drafts_run.read_text())["rows"]
    split = make_split(load_shipped(), "leave-last-out")
    targets = [t for t in build_targets(split, "test", 3) if t.has_histories and t.review.review_id in before]
    chosen = random.Random(37).sample(targets, args.n)
    agent = Agent.open(load_config(), checkpoint=False)
    rows = []
    for target in chosen:
        old = before[target.review.review_id]
        old_reason = old["candidates"][old["pick"]]
        state = agent.why(target.review.user_id, target.review.item_id)
        rows.append({"user": target.review.user_id, "item": target.review.item_id, "item_name": state.get("item_name"),
                     "stars": target.review.rating, "before": old_reason, "after": state["reason"],
                     "after_grounding": (state.get("reason_check") or {}).get("grounding"),
                     "before_repeats": repeated_aspects(old_reason),
                     "after_repeats": repeated_aspects(state["reason"] or "")})
        print(json.dumps(rows[-1]), flush=True)
    agent.close()
    summary = {"n": len(rows),
               "repeated_aspect_before": mean_of(bool(r["before_repeats"]) for r in rows),
               "repeated_aspect_after": mean_of(bool(r["after_repeats"]) for r in rows),
               "after_grounding": mean_of(r["after_grounding"] for r in rows),
               "mean_words_before": mean_of(len(r["before"].split()) for r in rows),
               "mean_words_after": mean_of(len(r["after"].split()) for r in rows)}
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

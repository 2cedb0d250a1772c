"""Finished evaluations re-scored with today's grounding measure, beside the number they stored.

Grounding counts a reason's aspect phrases found in what its writer was shown. Until 2026-12-06
"shown" included the prompt's own words ("Category: Magazine Subscriptions", "The user's past
reviews"), so a reason repeating them ("In past reviews ...", "mention no other musical
instruments") was credited for words no review gave it. Now only the prompt's data counts
(:func:`reason4rec.experts.prompts.shown_data`: the item, the history summaries) plus the raw
reviews behind them, and the teacher's frame words ("past", "wrote", "looked") are not aspects.
Nothing is generated: the stored reasons are measured again.

    .venv/bin/python bench/grounding_rescore.py artifacts/bench/eval-leave-last-out-full
    .venv/bin/python bench/grounding_rescore.py --reviews ../shared/data/extra/Magazine_Subscriptions_5.json.gz \\
        --meta ../shared/data/extra/meta_Magazine_Subscriptions.json.gz --on-duplicate keep-latest \\
        artifacts/bench/eval-shipped-magazine-200 artifacts/bench/eval-loco-magazine-200
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+", help="evaluation folders (reason4rec eval --out)")
    parser.add_argument("--reviews", type=Path, help="the reviews they were evaluated on (default: the shipped)")
    parser.add_argument("--meta", type=Path)
    parser.add_argument("--on-duplicate", default=None)
    parser.add_argument("--out", type=Path, help="also write the rows here as JSON")
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.experts import grounding, mean_of
    from reason4rec.training.eval_replay import EvalReplay

    data = {key: str(value) for key, value in (("reviews_path", args.reviews), ("meta_path", args.meta),
                                               ("on_duplicate", args.on_duplicate)) if value is not None}
    config = load_config(overrides={"data": data} if data else None)
    rows = []
    for folder in args.folders:
        replay = EvalReplay.open(folder, config)
        found = [grounding(reason, replay.shown_to_reasoner(i)) for i, reason in enumerate(replay.reasons)]
        stored = json.loads((folder / "results.json").read_text())["quality"]["reasons"]
        rows.append({
            "folder": str(folder), "targets": len(found),
            "stored": stored.get("grounding"),
            "now": round(mean_of(f.share for f in found if f.share is not None), 4),
            "at_least_80": round(mean_of(f.share >= 0.8 for f in found if f.share is not None), 4),
            "most_invented": [word for word, _ in Counter(w for f in found for w in f.invented).most_common(10)],
        })
        row = rows[-1]
        print(f"{folder}: {row['targets']} reasons, grounding stored {row['stored']:.1%} -> now {row['now']:.1%} "
              f"(at least 80% grounded: {row['at_least_80']:.1%}); most invented: {', '.join(row['most_invented'])}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

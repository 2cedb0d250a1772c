"""How often the Summarizer writes exactly its three lines, on held-out reviews.

Summarises N reviews from the test split (never trained on) with the given adapters on the
configured engine and reports the well-formed rate by the evaluation's measure
(``experts.prompts.summary_problems``) of what the model wrote and of what is stored and shown
(``experts.summaries.stored_summary``: the strict parser and the repeat/punctuation guard), with
the commonest problems of what was written and a few examples.

    python bench/summary_format.py --n 200 --out bench/results/summary-format-shipped.json
    python bench/summary_format.py --summarizer runs/cpu-full/summarizer/adapter --out ...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--summarizer", type=Path, default=None, help="adapter folder (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/summary-format.json"))
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import make_split
    from reason4rec.experts.adapters import shipped_adapter_dirs
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.prompts import summarizer_messages, summary_problems
    from reason4rec.experts.summaries import stored_summary

    config = load_config()
    dataset = load_shipped()
    reviews = [r for r in make_split(dataset, "leave-last-out", config.data.seed).test if r.text.strip()]
    reviews = random.Random(2020).sample(reviews, min(args.n, len(reviews)))
    adapter = args.summarizer or shipped_adapter_dirs(names=("summarizer",))["summarizer"]
    backend = local_backend(config, {"summarizer": adapter}, batch_size=16)
    started = time.perf_counter()
    written = backend.generate("summarizer", [
        summarizer_messages(dataset.category, dataset.title(r.item_id), r.rating, r.text, 400) for r in reviews])
    seconds = time.perf_counter() - started
    raw = [summary_problems(text) for text in written]
    stored = [summary_problems(stored_summary(text)) for text in written]
    problems = Counter(p.split(":")[0] if "expected the lines" not in p else "not the three lines"
                       for found in raw for p in found)
    report = {
        "adapter": backend.version("summarizer"), "engine": getattr(backend, "kind", "?"), "reviews": len(reviews),
        "well_formed_written": round(sum(not p for p in raw) / len(raw), 4),
        "well_formed_stored": round(sum(not p for p in stored) / len(stored), 4),
        "problems": dict(problems.most_common()),
        "seconds_per_review": round(seconds / len(reviews), 3),
        "examples": [{"review": r.text[:160], "summary": text} for r, text in list(zip(reviews, written))[:8]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()

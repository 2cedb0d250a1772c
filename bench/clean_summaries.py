"""Clean a shipped summary cache by today's rules, so a memory built from it needs no NLP pass.

The Summarizer's cached answers (``experts/adapters/summaries.jsonl.gz``, version V) were written
before :func:`~reason4rec.experts.summaries.stored_summary` kept an answer to the aspects its
review names. This adds, for each of them, the cleaned summary under
``summary_version(V)`` (V + the cleaning rules' version), next to the rows as they were (an
evaluation made before keeps reading those). Where the cache holds no answer as written, only
summaries cleaned by earlier rules (``V+aspects-1``), those are cleaned again: cleaning keeps the
phrases that name an aspect of the review, so a second pass changes only what the new rules change
(the sides, since ``aspects-2``). Reviews come from the shipped data set and, where
``../shared/data/extra`` is there, the two other categories the shipped experts learnt.

    python bench/clean_summaries.py                      # about 3 minutes for 7,062 summaries
    python bench/clean_summaries.py --cache <run>/summaries.jsonl   # a training run's (plain JSON lines)

A run folder's cache (``summaries.jsonl``, kept by the training pipeline and by evaluations) takes
the same treatment, so a stage trained after the cleaning rules changed reads the Summarizer's
answers it already has, cleaned, instead of summarising every history review again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extra"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=None, help="default: the shipped adapters' summaries")
    args = parser.parse_args()

    from reason4rec.config import Expert
    from reason4rec.data import load_reviews, load_shipped
    from reason4rec.experts import SHIPPED_SUMMARIES, adapter_version, shipped_adapters_root, summary_version
    from reason4rec.experts.summaries import stored_summary

    path = args.cache or shipped_adapters_root() / SHIPPED_SUMMARIES
    old = adapter_version(shipped_adapters_root() / Expert.SUMMARIZER)
    new = summary_version(old)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    texts = {r.review_id: r.text for r in load_shipped().reviews}
    for name in ("Magazine_Subscriptions_5.json.gz", "Gift_Cards_5.json.gz"):
        if (EXTRA / name).is_file():
            extra = load_reviews(EXTRA / name, category="any", on_duplicate="keep-latest", allow_truncated=True)
            texts.update({r.review_id: r.text for r in extra.reviews})
    done = {row["review_id"] for row in rows if row["version"] == new}
    kept = list({(row["review_id"], row["version"]): row for row in rows}.values())
    if not any(row["version"] == old for row in kept):
        old = max((row["version"] for row in kept if row["version"].startswith(old + "+") and row["version"] != new), default=old)
    started = time.perf_counter()
    cleaned = [{"review_id": row["review_id"], "version": new, "summary": stored_summary(row["summary"],
                                                                                       texts[row["review_id"]])}
               for row in kept if row["version"] == old and row["review_id"] in texts and row["review_id"] not in done]
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in [*kept, *cleaned]:
            handle.write(json.dumps(row) + "\n")
    print(f"{len(cleaned)} summaries of {old} cleaned as {new} in {time.perf_counter() - started:.0f} s -> {path}")


if __name__ == "__main__":
    main()

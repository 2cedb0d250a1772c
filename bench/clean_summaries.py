"""Clean a shipped summary cache by today's rules, so a memory built from it needs no NLP pass.

The Summarizer's cached answers (``experts/adapters/summaries.jsonl.gz``, version V) were written
before :func:`~reason4rec.experts.summaries.stored_summary` kept an answer to the aspects its
review names. This adds, for each of them, the cleaned summary under
``summary_version(V)`` (V + the cleaning rules' version), next to the rows as they were (an
evaluation made before keeps reading those). Reviews come from the shipped data set.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=None, help="default: the shipped adapters' summaries")
    args = parser.parse_args()

    from reason4rec.config import Expert
    from reason4rec.data import load_shipped
    from reason4rec.experts import SHIPPED_SUMMARIES, adapter_version, shipped_adapters_root, summary_version
    from reason4rec.experts.summaries import stored_summary

    path = args.cache or shipped_adapters_root() / SHIPPED_SUMMARIES
    old = adapter_version(shipped_adapters_root() / Expert.SUMMARIZER)
    new = summary_version(old)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    texts = {r.review_id: r.text for r in load_shipped().reviews}
    done = {row["review_id"] for row in rows if row["version"] == new}
    kept = list({(row["review_id"], row["version"]): row for row in rows}.values())
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

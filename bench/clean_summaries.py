"""Clean a shipped summary cache by today's rules, so a memory built from it needs no NLP pass.

The Summarizer's cached answers (``experts/adapters/summaries.jsonl.gz``, version V) were written
before :func:`~reason4rec.experts.summaries.stored_summary` kept an answer to the aspects its
review names (and its sides to those the review's stars allow). This adds, for each of them, the cleaned summary under
``summary_version(V)`` (V + the cleaning rules' version), next to the rows as they were (an
evaluation made before keeps reading those). Reviews come from the shipped data set.

    python bench/clean_summaries.py                      # about 3 minutes for 7,062 summaries
    python bench/clean_summaries.py --cache <run>/summaries.jsonl   # a training run's (plain JSON lines)
    python bench/clean_summaries.py --reviews ../shared/data/extra/*_5.json.gz   # their summaries too

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
    parser.add_argument("--reviews", type=Path, nargs="*", default=[],
                        help="review files whose summaries the cache also holds (the shipped data is always read)")
    args = parser.parse_args()

    from reason4rec.config import Expert
    from reason4rec.data import load_reviews, load_shipped
    from reason4rec.experts import SHIPPED_SUMMARIES, adapter_version, shipped_adapters_root, summary_version

    path = args.cache or shipped_adapters_root() / SHIPPED_SUMMARIES
    old = adapter_version(shipped_adapters_root() / Expert.SUMMARIZER)
    new = summary_version(old)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    datasets = [load_shipped(), *(load_reviews(path, on_duplicate="keep-latest") for path in args.reviews)]
    reviews = {r.review_id: r for dataset in datasets for r in dataset.reviews}
    done = {row["review_id"] for row in rows if row["version"] == new}
    # the answers as written where the cache has them, else their latest cleaning by earlier rules
    # (the shipped cache keeps only cleaned rows since the experts trained on three categories), in file order
    earlier = [row["version"] for row in rows if row["version"].startswith(old + "+") and row["version"] != new]
    source = old if any(row["version"] == old for row in rows) else (earlier[-1] if earlier else old)
    kept = list({(row["review_id"], row["version"]): row for row in rows}.values())
    started = time.perf_counter()
    todo = [row for row in kept if row["version"] == source and row["review_id"] in reviews
            and row["review_id"] not in done]
    cleaned = [{"review_id": row["review_id"], "version": new,
                "summary": _cleaned(row["summary"], reviews[row["review_id"]], again=source != old)} for row in todo]
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in [*kept, *cleaned]:
            handle.write(json.dumps(row) + "\n")
    print(f"{len(cleaned)} summaries of {source} cleaned as {new} in {time.perf_counter() - started:.0f} s -> {path}")


def _cleaned(summary: str, review, *, again: bool) -> str:
    """``summary`` cleaned by today's rules. ``again``: it was cleaned by earlier ones; its preference
    elements that today's rules still find in the review are kept in their order, ahead of the rest
    (cleaning a cleaned summary would reorder them: its praised and criticised aspects would come
    first). A summary that named nothing takes today's cleaning whole (the lexicon's aspects)."""
    from reason4rec.experts.prompts import Summary, parse_summary
    from reason4rec.experts.summaries import names_no_aspect, stored_summary

    cleaned = stored_summary(summary, review.text, review.rating)
    if not again or names_no_aspect(summary):
        return cleaned
    today = parse_summary(cleaned)
    found = [p.strip() for p in today.preferences.split(",") if p.strip() and p.strip() != "none"]
    earlier = [p.strip() for p in parse_summary(summary).preferences.split(",") if p.strip() in found]
    kept = list(dict.fromkeys([*earlier, *found]))[:3]
    return Summary(today.positive, today.negative, ", ".join(kept)).render()


if __name__ == "__main__":
    main()

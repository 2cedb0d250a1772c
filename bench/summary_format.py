"""How often the Summarizer writes exactly its three lines, and says what the review says, on held-out reviews.

Summarises N reviews from the test split (never trained on) with the given adapters on the
configured engine and reports the well-formed rate by the evaluation's measure
(``experts.prompts.summary_problems``) of what the model wrote and of what is stored and shown
(``experts.summaries.stored_summary``: the strict parser and the repeat/punctuation guard), with
the commonest problems of what was written and a few examples.

Format is not content: "bright tone but the clip broke" summarised as ``Positive Aspects: clip
broke`` is well-formed. So the stored summaries are also compared with the offline teacher's
reading of the same review (``training.review_aspects.read_review``, what the Summarizer learnt
from): of the aspects the teacher files as liked or disliked, how many the Summarizer files the
same way, how many under the opposite polarity (``flipped``) and how many it drops; and of the
aspects the Summarizer names, how many the review never mentions (``invented``).

    python bench/summary_format.py --n 200 --out artifacts/bench/summary-format-shipped.json
    python bench/summary_format.py --summarizer artifacts/runs/cpu-full/summarizer/adapter --out ...
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


def fidelity(review: str, summary: str, teacher: str) -> dict[str, int]:
    """Counts for one review: the teacher's liked/disliked aspects the summary files the same way
    (``kept``), under the other polarity only (``flipped``) or not at all (``dropped``); the
    summary's own liked/disliked aspects (``named``) and those the review never mentions (``invented``)."""
    from reason4rec.experts.prompts import parse_summary
    from reason4rec.experts.quality.reason_quality import aspect_phrases, phrase_found, stop_words, vocabulary_of

    def targets(text: str) -> list[str]:
        return aspect_phrases(text, stop_words())

    ours, theirs = parse_summary(summary), parse_summary(teacher)
    field_stems = {+1: vocabulary_of([ours.positive]), -1: vocabulary_of([ours.negative])}
    counts = dict.fromkeys(("kept", "flipped", "dropped", "named", "invented"), 0)
    for polarity, field in ((+1, theirs.positive), (-1, theirs.negative)):
        for target in targets(field):
            same, other = phrase_found(target, field_stems[polarity]), phrase_found(target, field_stems[-polarity])
            counts["kept" if same else "flipped" if other else "dropped"] += 1
    review_stems = vocabulary_of([review])
    for target in targets(ours.positive) + targets(ours.negative):
        counts["named"] += 1
        counts["invented"] += not phrase_found(target, review_stems)
    return counts


def _fidelity_report(rows: list[dict[str, int]]) -> dict[str, float]:
    total = {key: sum(row[key] for row in rows) for key in rows[0]} if rows else {}
    polar = total.get("kept", 0) + total.get("flipped", 0) + total.get("dropped", 0)
    return {"teacher_aspects": polar,
            "kept": round(total["kept"] / polar, 4) if polar else None,
            "flipped": round(total["flipped"] / polar, 4) if polar else None,
            "dropped": round(total["dropped"] / polar, 4) if polar else None,
            "summary_aspects": total.get("named", 0),
            "invented": round(total["invented"] / total["named"], 4) if total.get("named") else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--summarizer", type=Path, default=None, help="adapter folder (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/summary-format.json"))
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import make_split
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import shipped_adapter_dirs
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
    from reason4rec.training.review_aspects import read_review

    raw = [summary_problems(text) for text in written]
    shown = [stored_summary(text) for text in written]  # what the memory and the prompts read
    teacher = [read_review(r.text).render() for r in reviews]
    counts = [fidelity(r.text, summary, reading) for r, summary, reading in zip(reviews, shown, teacher)]
    stored = [summary_problems(summary) for summary in shown]
    problems = Counter(p.split(":")[0] if "expected the lines" not in p else "not the three lines"
                       for found in raw for p in found)
    report = {
        "adapter": backend.version("summarizer"), "engine": getattr(backend, "kind", "?"), "reviews": len(reviews),
        "well_formed_written": round(sum(not p for p in raw) / len(raw), 4),
        "well_formed_stored": round(sum(not p for p in stored) / len(stored), 4),
        "problems": dict(problems.most_common()),
        "versus_teacher": _fidelity_report(counts),
        "seconds_per_review": round(seconds / len(reviews), 3),
        "examples": [{"review": r.text[:160], "summary": text} for r, text in list(zip(reviews, written))[:8]],
        "flipped_examples": [{"review": r.text[:160], "summary": summary, "teacher": reading}
                             for r, summary, reading, c in zip(reviews, shown, teacher, counts) if c["flipped"]][:8],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()

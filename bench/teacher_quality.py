"""The offline teacher's reasons, measured the way the evaluation measures the Reasoner's.

For N training targets (history K=5, history summaries written by the teacher itself, as the
pipeline's first stage does), the teacher writes its first, unhinted reason; each is scored for
grounding in what the Reasoner is shown (its prompt and the raw history reviews), VADER verdict
agreement with the true rating, completeness and length. What the Reasoner learns to write is
what these reasons are, so invention here becomes invention there.

    python bench/teacher_quality.py --n 300 --out artifacts/bench/teacher-quality.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def measure(n: int, history_k: int = 5) -> dict:
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts import shown_texts
    from reason4rec.experts.quality.reason_quality import grounding, is_complete, mean_of, verdict_agrees
    from reason4rec.experts.summaries import history_reviews, target_context
    from reason4rec.training.evaluate_experts import history_texts
    from reason4rec.training.teachers import OfflineTeacher

    dataset, teacher = load_shipped(), OfflineTeacher()
    split = make_split(dataset, "leave-last-out", 2020)
    targets = [t for t in build_targets(split, "train", history_k) if t.has_histories][:n]
    summaries = {r.review_id: teacher.summarize(dataset.category, dataset.title(r.item_id), r.rating, r.text)
                 for r in history_reviews(targets)}
    rows = []
    for target in targets:
        context = target_context(target, summaries, dataset.category, dataset.title)
        reason = teacher.reason(context, target.review.text, 0)
        found = grounding(reason, shown_texts(context, history_texts(target)))
        rows.append({"grounding": found.share, "invented": list(found.invented),
                     "verdict_agrees": verdict_agrees(reason, target.review.rating),
                     "complete": is_complete(reason), "words": len(reason.split()), "reason": reason})
    low = [r for r, t in zip(rows, targets) if t.review.rating <= 2]
    return {
        "targets": len(rows),
        "grounding": round(mean_of(r["grounding"] for r in rows), 4),
        "verdict_agreement": round(mean_of(r["verdict_agrees"] for r in rows), 4),
        "verdict_agreement_low_ratings": round(mean_of(r["verdict_agrees"] for r in low) or 0.0, 4),
        "complete": round(mean_of(r["complete"] for r in rows), 4),
        "mean_words": round(sum(r["words"] for r in rows) / len(rows), 1),
        "examples": rows[:6],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--label", default="offline teacher")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/teacher-quality.json"))
    args = parser.parse_args()
    report = {"label": args.label, **measure(args.n)}
    previous = json.loads(args.out.read_text()) if args.out.is_file() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([*[p for p in previous if p["label"] != args.label], report], indent=2,
                                   ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()

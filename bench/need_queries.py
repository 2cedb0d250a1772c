"""Items for a need, before and after issue 37: the top 3 per need, to be judged by reading reviews.

For each need of ``bench/need_queries.json`` (a need and a fixed user of the shipped data), the
top 3 of :func:`reason4rec.memory.items_for_need` (``new``) and of the old path,
``Memory.items_for_user(user, query=need)`` (``old``: the query blended with the user's profile
over item profile vectors), each item with its label (or title), review count and two short
snippets of its reviews (those that name its label's head word first), so a person can say
whether it is what the need asks for. The verdicts live in docs/need-queries.md. No timing.

    .venv/bin/python bench/need_queries.py --out artifacts/bench/need-queries.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SNIPPET_CHARS = 160


def _snippets(memory, item_id: str, name: str, count: int = 2) -> list[str]:
    """Two short review snippets, those naming the item's head word first (what it is shows)."""
    head = name.split()[-1].lower().rstrip("s") if name else ""
    texts = [" ".join(r.review.text.split()) for r in memory.item_history(item_id)]
    texts.sort(key=lambda text: (head not in text.lower()) if head else False)
    return [text[:SNIPPET_CHARS] for text in texts[:count]]


def _shown(memory, matches) -> list[dict]:
    from reason4rec.memory import display_name, item_labels

    labels = item_labels(memory, [m.profile.entity_id for m in matches])
    rows = []
    for match in matches:
        item = match.profile.entity_id
        name = display_name(item, memory.item_title(item), labels.get(item))
        rows.append({"item_id": item, "label": name or None, "reviews": match.profile.review_count,
                     "score": match.similarity, "snippets": _snippets(memory, item, name)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=Path(__file__).with_name("need_queries.json"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/need-queries.json"))
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.memory import Memory, items_for_need

    queries = json.loads(args.queries.read_text())["queries"]
    results = []
    with Memory.open(load_config()) as memory:
        for row in queries:
            need, user = row["query"], row["user"]
            new = items_for_need(memory, user, need, k=args.k)
            old = memory.items_for_user(user, k=args.k, query=need)
            results.append({"query": need, "user": user, "new": _shown(memory, new), "old": _shown(memory, old)})
            print(f"{need!r}\n  new: {[r['label'] for r in results[-1]['new']]}"
                  f"\n  old: {[r['label'] for r in results[-1]['old']]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": args.k, "results": results}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Are the aspects a person is shown product aspects, on the right side? Before/after issue 37.

The reviews: the shipped data's leave-last-out train split, the reviews the `cpu-full` Summarizer
summarised (its cache as shipped until 2026-12-06, kept as ``bench/data/cpu-full-summaries.jsonl.gz``,
so its answers are known without running the model) minus the 2,000 it was trained on (the
pipeline's seeded pick), shuffled with seed 37: the first 200 are the held-out sample (``--n``).
The rules were written on other reviews: the issue's examples and a development sample drawn the
same way with seed 7 (``--dev``).

Four ways of writing a review's aspects are measured:

* ``lexicon-before``: today's lexicon (``bench/aspects_before.py``, lexicon-1);
* ``lexicon-after``: :func:`reason4rec.experts.lexicon_summary` (spaCy aspect phrases);
* ``summarizer-before``: the shipped Summarizer's summary as stored (``stored_summary`` without the
  review: the repeat/punctuation guard only);
* ``summarizer-after``: the same answer cleaned against its review (``stored_summary`` with it);
* ``lexicon-stars``, ``summarizer-stars``: the two "after" rows with the review's stars weighing
  its sides (``weighed_by_rating``, 2026-12-07: what memories and evaluations use from then on;
  chosen on other labels, ``bench/aspect_stars.py``).

Measures, over the positive and negative aspects of each summary (the preference elements too
for ``noun_phrase``):

* ``noun_phrase``: share of aspects that are a noun phrase of the review: the whole phrase (as
  written or lemmatised) is the head noun of a spaCy noun chunk of the review with some of the
  words just before it in that chunk ("tone", "bright tone", "battery life"), or a run of nouns
  inside a chunk ("cable" of "this cable pair"), with the chunk's "no" where it has one ("no hum"). "clip broke",
  "good", "great dad" (from "great for my dad") are not.
* ``filler``: share of aspects that are, or end in, a filler word (``_FILLER`` below: the issue's
  "good", "mostly", "really", "not", "last" and their like).
* ``wrong_side``: with the hand labels (``bench/aspect_polarity_labels.jsonl``: review id, aspect,
  praised / criticised / neither), the share of a method's positive/negative aspects that name a
  labelled aspect of that review and sit on the opposite side; ``on_side_neither`` counts those
  the labels call neither. An aspect maps onto a label when the label's head word (or its plural)
  is among its words. ``found_right``: of the labelled praised/criticised aspects, how many the
  summary names on their side (the other direction: what it misses).

    .venv/bin/python bench/aspect_quality.py                       # writes artifacts/bench/aspect-quality.json
    .venv/bin/python bench/aspect_quality.py --worksheet 50        # the labelling worksheet (review + candidates)
    .venv/bin/python bench/aspect_quality.py --worksheet 50 --worksheet-from 50   # the second labeller's
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = [ROOT / "bench" / f"aspect_polarity_labels{part}.jsonl" for part in ("", "_51_100", "_101_150")]
"""Hand labels: the first 50 held-out reviews (written by the rules' author before the first run);
reviews 51-100 and 101-150 (2026-12-06, a second labeller who saw each review's candidate aspects
but no method's sides, each set written before any method was scored against it)."""
sys.path.insert(0, str(Path(__file__).resolve().parent))

_FILLER = frozenset(["good", "great", "bad", "nice", "fine", "well", "mostly", "really", "very", "just", "not", "no",
                     "last", "first", "new", "old", "other", "same", "little", "much", "many", "more", "most",
                     "less", "lot", "lots", "bit", "thing", "things", "stuff", "way", "time", "times", "one", "ones",
                     "overall", "pretty", "quite", "excellent", "awesome", "perfect", "happy", "love", "like",
                     "easy"])
_WORD = re.compile(r"[a-z][a-z'-]*")


def sample(seed: int, n: int) -> list:
    """Held-out reviews (see the module's docstring), in the seeded order."""
    from reason4rec.data import load_shipped, make_split

    dataset = load_shipped()
    split = make_split(dataset, "leave-last-out")
    pool = list(split.train)
    random.Random(2020).shuffle(pool)  # the pipeline's pick of the Summarizer's training reviews
    trained = {r.review_id for r in [r for r in pool if r.text.strip()][:2000]}
    shipped = summarizer_answers()
    chosen = [r for r in split.train if r.review_id in shipped and r.review_id not in trained and r.text.strip()]
    chosen.sort(key=lambda r: r.review_id)
    random.Random(seed).shuffle(chosen)
    return chosen[:n]


SUMMARIZER_ANSWERS = ROOT / "bench" / "data" / "cpu-full-summaries.jsonl.gz"
"""The `cpu-full` Summarizer's cache as shipped until 2026-12-06 (its answers, then the same cleaned):
the sample and the labels are defined on it, so shipping other experts does not move them."""


def summarizer_answers() -> dict[str, str]:
    """Review id -> the answer measured (a cleaned row, later in the file, replaces its raw one)."""
    with gzip.open(SUMMARIZER_ANSWERS, "rt", encoding="utf-8") as handle:
        return {row["review_id"]: row["summary"] for row in map(json.loads, handle)}


def phrases(summary: str, fields=("positive", "negative")) -> list[tuple[str, str]]:
    from reason4rec.experts.prompts import parse_summary

    parsed = parse_summary(summary)
    out = []
    for name in fields:
        for p in getattr(parsed, name).split(","):
            p = p.strip(" .;:").lower()
            if p and p != "none":
                out.append((name, p))
    return out


def noun_phrases(text: str) -> set[str]:
    """Every head-final part of every noun chunk of ``text``, as written and lemmatised."""
    from reason4rec.experts.product_aspects import nlp
    from reason4rec.experts.prompts import clean_text

    doc = nlp()(clean_text(text, 4000))
    found: set[str] = set()
    for chunk in doc.noun_chunks:
        root = chunk.root
        if root.pos_ not in ("NOUN", "PROPN"):
            continue
        words = [t for t in chunk if t.i <= root.i and t.pos_ not in ("DET", "PRON", "PUNCT")]
        for start in range(len(words)):
            for end in range(start + 1, len(words) + 1):
                part = words[start:end]
                last = part[-1]
                if last.i != root.i and not (last.pos_ in ("NOUN", "PROPN") and all(
                        t.pos_ in ("NOUN", "PROPN") for t in part)):
                    continue  # ends at the chunk's head, or is a run of nouns inside it ("cable" of "cable pair")
                forms = {" ".join(t.lower_ for t in part), " ".join(t.lemma_.lower() for t in part),
                         " ".join([*(t.lower_ for t in part[:-1]), last.lemma_.lower()])}
                if chunk[0].lower_ == "no" and last.i == root.i:  # "no hum" is a noun phrase too
                    forms |= {"no " + f for f in forms}
                found |= forms
    return found


def methods(review, answer: str) -> dict[str, str]:
    import aspects_before

    from reason4rec.experts import lexicon_summary
    from reason4rec.experts.summaries import stored_summary

    return {"lexicon-before": aspects_before.lexicon_summary(review.text).render(),
            "lexicon-after": lexicon_summary(review.text).render(),
            "lexicon-stars": lexicon_summary(review.text, review.rating).render(),
            "summarizer-before": stored_summary(answer),
            "summarizer-after": stored_summary(answer, review.text),
            "summarizer-stars": stored_summary(answer, review.text, review.rating)}


def load_labels(*paths: Path) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                labels.setdefault(row["review_id"], {})[row["aspect"]] = row["label"]
    return labels


def labelled(phrase: str, labels: dict[str, str]) -> str | None:
    """The label of the aspect ``phrase`` names, by head word (or its plural): None if unlabelled."""
    words = set(_WORD.findall(phrase))
    best = None
    for aspect, label in labels.items():
        head = aspect.split()[-1]
        named = {head, head + "s", head + "es", head[:-1] + "ies"} & words and all(
            w in words or w + "s" in words for w in aspect.split()[:-1])
        if named and (best is None or len(aspect) > len(best[0])):
            best = (aspect, label)
    return best[1] if best else None


def measure(reviews, made_by_review: dict[str, dict[str, str]], labels) -> dict:
    """The measures over ``reviews``, given each review's summaries by every method (:func:`methods`,
    made once however many label sets are scored)."""
    results: dict[str, dict] = {}
    examples: list[dict] = []
    for review in reviews:
        made = made_by_review[review.review_id]
        present = noun_phrases(review.text)
        if len(examples) < 12:
            examples.append({"review_id": review.review_id, "rating": review.rating, "text": review.text[:300],
                             **{k: _compact(v) for k, v in made.items()}})
        for name, summary in made.items():
            row = results.setdefault(name, {"aspects": 0, "noun_phrase": 0, "filler": 0, "sided": 0,
                                            "sided_labelled": 0, "wrong_side": 0, "on_side_neither": 0,
                                            "empty_summaries": 0, "labelled_opinions": 0, "found_right": 0,
                                            "wrong_cases": []})
            every = phrases(summary, ("positive", "negative", "preferences"))
            if not phrases(summary):
                row["empty_summaries"] += 1
            for _, p in every:
                row["aspects"] += 1
                row["noun_phrase"] += p in present
                row["filler"] += p.split()[-1] in _FILLER
            review_labels = labels.get(review.review_id)
            if review_labels is None:
                continue
            opinions = {a: lab for a, lab in review_labels.items() if lab != "neither"}
            row["labelled_opinions"] += len(opinions)
            on_sides = phrases(summary)
            for aspect, label in opinions.items():
                want = "positive" if label == "praised" else "negative"
                row["found_right"] += any(side == want and labelled(p, {aspect: label}) for side, p in on_sides)
            for side, p in on_sides:
                row["sided"] += 1
                label = labelled(p, review_labels)
                if label is None:
                    continue
                row["sided_labelled"] += 1
                if label == "neither":
                    row["on_side_neither"] += 1
                elif (label == "praised") != (side == "positive"):
                    row["wrong_side"] += 1
                    row["wrong_cases"].append({"review_id": review.review_id, "aspect": p, "side": side,
                                               "label": label})
    for row in results.values():
        row["noun_phrase_share"] = round(row["noun_phrase"] / max(1, row["aspects"]), 4)
        row["filler_share"] = round(row["filler"] / max(1, row["aspects"]), 4)
        row["wrong_side_share"] = round(row["wrong_side"] / max(1, row["sided_labelled"]), 4)
        row["found_right_share"] = round(row["found_right"] / max(1, row["labelled_opinions"]), 4)
    return {"results": results, "examples": examples}


def _compact(summary: str) -> str:
    from reason4rec.experts.prompts import parse_summary

    return parse_summary(summary).compact()


def worksheet(reviews, answers) -> None:
    """Each review with every aspect any method names: what the labels are written against."""
    from reason4rec.experts.product_aspects import review_aspects

    for review in reviews:
        made = methods(review, answers[review.review_id])
        candidates = sorted({p for s in made.values() for _, p in phrases(s)}
                            | {m.aspect for m in review_aspects(review.text)})
        print(json.dumps({"review_id": review.review_id, "rating": review.rating, "text": review.text,
                          "candidates": candidates}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=37)
    parser.add_argument("--dev", action="store_true", help="the development sample (seed 7) instead")
    parser.add_argument("--labels", type=Path, nargs="+", default=LABELS,
                        help="hand-label files; each is measured alone, then all together")
    parser.add_argument("--worksheet", type=int, default=0, help="print a labelling worksheet of this many reviews")
    parser.add_argument("--worksheet-from", type=int, default=0, help="... starting at this one (0-based)")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench" / "aspect-quality.json")
    args = parser.parse_args()
    seed = 7 if args.dev else args.seed
    reviews = sample(seed, args.n)
    if args.dev:  # never overlapping the held-out sample
        held_out = {r.review_id for r in sample(args.seed, args.n)}
        reviews = [r for r in sample(seed, 3 * args.n) if r.review_id not in held_out][:args.n]
    answers = summarizer_answers()
    if args.worksheet:
        worksheet(reviews[args.worksheet_from:args.worksheet_from + args.worksheet], answers)
        return
    made = {r.review_id: methods(r, answers[r.review_id]) for r in reviews}
    report = {"sample": {"seed": seed, "n": len(reviews), "review_ids": [r.review_id for r in reviews]},
              **measure(reviews, made, load_labels(*args.labels))}
    report["by_labels"] = {path.name: measure(reviews, made, load_labels(path))["results"] for path in args.labels} \
        if len(args.labels) > 1 else {}
    for labels_name, results in [("all labels", report["results"]), *report["by_labels"].items()]:
        print(f"-- {labels_name}")
        _print(results)
    if not args.dev:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _print(results: dict) -> None:
    for name, row in results.items():
        print(f"{name:18} aspects {row['aspects']:4}  noun phrase {row['noun_phrase_share']:.1%}  "
              f"filler {row['filler_share']:.1%}  wrong side {row['wrong_side']}/{row['sided_labelled']} "
              f"({row['wrong_side_share']:.1%}), on a side but neither {row['on_side_neither']}, "
              f"labelled opinions on the right side {row['found_right']}/{row['labelled_opinions']}  "
              f"empty {row['empty_summaries']}")


if __name__ == "__main__":
    main()

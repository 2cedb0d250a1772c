"""Should a review's stars weigh the side the rules give each aspect? Measured on the training labels.

The rules (``reason4rec.experts.product_aspects``) read one sentence at a time; the reviewer's
stars are a verdict on the whole review. This scores ways of combining the two on the 2,749 hand
labels of 286 reviews in ``bench/aspect_side_train/`` (160 instrument reviews of the development
sample, 66 magazine and 60 gift-card reviews, each labelled blind), none of which is among the
held-out reviews ``bench/aspect_quality.py`` reports, so the choice is made before those are scored.

Ways (each leaves a side the stars contradict unsided; the rules' side is kept otherwise):

* ``rules``: the stars ignored (the rules until 2026-12-07);
* ``stars 5/1``: criticism in a 5-star review, praise in a 1-star one (shipped: ``weighed_by_rating``);
* ``stars 4-5/1-2``: the same for 4 and 2 stars too;
* for the Summarizer path, each of these also with the answer's own sides weighed the same way
  (``..., answer too``; shipped: ``stars 5/1, answer too``, what ``clean_summary`` does with a rating).

Measured at the aspect level, as ``bench/aspect_quality.py`` measures (its ``measure``): for the
lexicon path on all three categories, and for the cleaned Summarizer path on the instrument reviews
(whose Summarizer answers are cached in ``bench/data/cpu-full-summaries.jsonl.gz``).

    .venv/bin/python bench/aspect_stars.py        # about a minute; artifacts/bench/aspect-stars.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
LABELS = sorted((ROOT / "bench" / "aspect_side_train").glob("*.jsonl"))
EXTRA = ROOT.parent / "shared" / "data" / "extra"
FILES = ("Magazine_Subscriptions_5.json.gz", "Gift_Cards_5.json.gz")


def weighed(mentions, rating: float, top: float, bottom: float):
    """``mentions`` weighed by the stars with one way's cut (the shipped rule, cut elsewhere)."""
    from reason4rec.experts.product_aspects import weighed_by_rating

    return weighed_by_rating(mentions, rating, top=top, bottom=bottom)


WAYS = {"rules": (6, 0), "stars 5/1": (5, 1), "stars 4-5/1-2": (4, 2)}
"""Way -> (stars at or above which criticism is unsided, stars at or below which praise is)."""


def main() -> None:
    import aspect_quality as aq

    from reason4rec.data import load_reviews, load_shipped
    from reason4rec.experts.product_aspects import clean_summary, review_aspects, summary_of_mentions, weighed_by_rating
    from reason4rec.experts.prompts import tidy_summary

    labels = aq.load_labels(*LABELS)
    reviews = [r for r in load_shipped().reviews if r.review_id in labels]
    for name in FILES:
        reviews += [r for r in load_reviews(EXTRA / name, on_duplicate="keep-latest").reviews if r.review_id in labels]
    answers = aq.summarizer_answers()
    assert {r.review_id for r in reviews} == set(labels), "a labelled review is missing from the data"
    lexicon = {r.review_id: {way: summary_of_mentions(weighed(review_aspects(r.text), r.rating, *cut)).render()
                             for way, cut in WAYS.items()} for r in reviews}
    for r in reviews:  # the shipped function is the "stars 5/1" way
        assert summary_of_mentions(weighed_by_rating(review_aspects(r.text), r.rating)).render() \
            == lexicon[r.review_id]["stars 5/1"]
    with_answers = [r for r in reviews if r.review_id in answers]
    summarizer = {r.review_id: {way: _cleaned(answers[r.review_id], r, cut, clean_summary, tidy_summary)
                                for way, cut in WAYS.items()} for r in with_answers}
    for r in with_answers:
        for way, cut in WAYS.items():
            summarizer[r.review_id][way + ", answer too"] = _answer_too(summarizer[r.review_id][way], r.rating, *cut)
        assert tidy_summary(clean_summary(tidy_summary(answers[r.review_id]), r.text, rating=r.rating)) \
            == summarizer[r.review_id]["stars 5/1, answer too"]  # the shipped function is that way
    report = {"labels": [p.name for p in LABELS], "reviews": len(reviews), "summarizer_reviews": len(with_answers),
              "lexicon": aq.measure(reviews, lexicon, labels)["results"],
              "summarizer": aq.measure(with_answers, summarizer, labels)["results"]}
    for path in ("lexicon", "summarizer"):
        print(f"-- {path} ({report['reviews'] if path == 'lexicon' else report['summarizer_reviews']} reviews)")
        for way, row in report[path].items():
            print(f"{way:14} wrong side {row['wrong_side']}/{row['sided_labelled']} ({row['wrong_side_share']:.1%}), "
                  f"on a side but neither {row['on_side_neither']}, labelled opinions on their side "
                  f"{row['found_right']}/{row['labelled_opinions']}, empty {row['empty_summaries']}")
    out = ROOT / "artifacts" / "bench" / "aspect-stars.json"
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _answer_too(summary: str, rating: float, top: float, bottom: float) -> str:
    """The cleaned summary with the Summarizer's own sides weighed too: its criticism of a review
    rated ``top`` or more, its praise of one rated ``bottom`` or less, dropped."""
    from reason4rec.experts.prompts import Summary, parse_summary

    parsed = parse_summary(summary)
    return Summary("" if rating <= bottom else parsed.positive, "" if rating >= top else parsed.negative,
                   parsed.preferences).render()


def _cleaned(answer: str, review, cut, clean_summary, tidy_summary) -> str:
    """``stored_summary``'s clean-up of the Summarizer's answer with the review's sides weighed one way."""
    from reason4rec.experts import product_aspects

    original = product_aspects.review_aspects
    product_aspects.review_aspects = lambda text: tuple(weighed(original(text), review.rating, *cut))
    try:
        return tidy_summary(clean_summary(tidy_summary(answer), review.text))
    finally:
        product_aspects.review_aspects = original


if __name__ == "__main__":
    main()

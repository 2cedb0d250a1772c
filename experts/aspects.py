"""Aspects of a review without the Summarizer: spaCy noun phrases with the side their sentence takes.

Two users: the offline teacher (training) writes its summaries with it, and the memory uses it to
summarize a whole dataset at CPU speed when the trained Summarizer would take hours (those
summaries are labelled :data:`LEXICON_VERSION`, never passed off as the Summarizer's).
:func:`merge_summaries` folds many summaries into ranked aspect lists (teacher reasons, profiles):
each phrase is read as the product aspect it names (opinion and filler words dropped, "peddar"
merged into "pedal" where "pedal" is there too), on the side its words take.

The phrases come from :mod:`.product_aspects` (spaCy's parser, VADER's lexicon); the rules before
them (lexicon-1, kept in ``bench/aspects_before.py``) paired an opinion word with the nearest
content word, which gave aspects such as "good", "mostly" and "broke clip" (issue 37).

Example:
    >>> lexicon_summary("Great sturdy stand. The clip broke.").render()
    'Positive Aspects: stand\\nNegative Aspects: clip\\nUser Preference Elements: stand, clip'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .product_aspects import (
    ASPECTS_VERSION,
    FILLER,
    aspects_of_phrases,
    review_aspects,
    summary_of_mentions,
    variant_map,
    weighed_by_rating,
)
from .prompts import Summary

LEXICON_VERSION = f"lexicon-2+{ASPECTS_VERSION}"
"""Version label of lexicon summaries (bump when the rules change; lexicon-1 was the word lexicon)."""

_POSITIVE = set(["great", "good", "excellent", "love", "loved", "loves", "nice", "perfect", "solid", "sturdy", "easy",
                 "well", "quality", "awesome", "best", "happy", "recommend", "works", "worth", "clear", "warm",
                 "bright", "fine", "quiet", "durable", "comfortable", "accurate", "affordable", "value", "sweet",
                 "smooth", "rich", "crisp", "reliable", "beautiful", "fantastic", "amazing", "helpful", "handy",
                 "strong", "fast", "simple", "compact", "light", "lightweight", "pleased", "glad", "excellent",
                 "superb", "impressive", "decent", "fun", "versatile", "responsive", "stable", "secure", "cool",
                 "exactly", "sturdier", "better"])
_NEGATIVE = set(["bad", "poor", "cheaply", "broke", "broken", "break", "breaks", "noisy", "hum", "buzz", "buzzing",
                 "flimsy", "loose", "weak", "difficult", "problem", "problems", "issue", "issues", "return", "returned",
                 "disappointed", "disappointing", "useless", "waste", "worse", "worst", "fail", "failed", "fails",
                 "died", "dead", "defective", "terrible", "awful", "horrible", "annoying", "tinny", "muddy", "harsh",
                 "expensive", "stiff", "slips", "cracked", "crack", "junk", "unfortunately", "hate", "hated", "wobbly",
                 "fragile", "uncomfortable", "inaccurate", "flaky", "slow"])
_NEGATORS = {"not", "no", "never", "hardly", "without", "isn't", "wasn't", "doesn't", "don't", "didn't",
             "won't", "can't", "cannot", "nothing"}
_STOP = set(["a", "an", "the", "and", "or", "but", "if", "then", "than", "so", "to", "of", "in", "on", "at", "by",
             "for", "with", "from", "into", "about", "as", "is", "are", "was", "were", "be", "been", "being", "it",
             "its", "it's", "this", "that", "these", "those", "i", "i'm", "i've", "me", "my", "mine", "we", "our",
             "you", "your", "he", "she", "they", "them", "their", "there", "here", "what", "which", "who", "whom",
             "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some",
             "such", "only", "own", "same", "too", "very", "can", "will", "just", "should", "now", "also", "get", "got",
             "gets", "use", "used", "using", "one", "would", "could", "much", "many", "even", "still", "really", "well",
             "back", "over", "up", "out", "off", "down", "again", "after", "before", "because", "while", "since",
             "just", "like", "make", "made", "thing", "things", "lot", "bit", "way", "time", "times", "go", "going",
             "buy", "bought", "product", "item", "amazon", "price", "little", "review", "reviews", "bought", "came",
             "come", "comes", "need", "needed", "want", "wanted", "do", "does", "did", "have", "has", "had", "not",
             "no", "yes", "something", "anything", "everything", "enough", "quite", "pretty", "first", "two", "new",
             "old", "day", "days", "year", "years", "am", "know", "think", "sure", "ever", "every"])
_WORD = re.compile(r"[a-z][a-z'-]+")


@dataclass(frozen=True)
class Aspects:
    positive: list[str]
    negative: list[str]
    elements: list[str]
    polarity: float


def extract_aspects(text: str, limit: int = 4, *, rating: float | None = None) -> Aspects:
    """Aspects of a review: praised, criticised, the most named, and the balance of the two sides
    (a side the review's own ``rating`` contradicts is left out: :func:`weighed_by_rating`)."""
    mentions = weighed_by_rating(review_aspects(text), rating)
    summary = summary_of_mentions(mentions, limit)
    split = lambda value: [p for p in value.split(", ") if p]  # noqa: E731
    return Aspects(split(summary.positive), split(summary.negative), split(summary.preferences),
                   float(sum(m.polarity for m in mentions)))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that name things (no stop, opinion, negation or filler words): item keywords."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP and w not in _POSITIVE
            and w not in _NEGATIVE and w not in _NEGATORS and not w.endswith("n't") and w != "none"
            and w not in FILLER]


def lexicon_summary(text: str, rating: float | None = None) -> Summary:
    """The three-field summary of one review, from :func:`extract_aspects` (its stars, where
    known, weigh the sides)."""
    found = extract_aspects(text, rating=rating)
    return Summary(", ".join(found.positive), ", ".join(found.negative), ", ".join(found.elements[:3]))


def merge_summaries(summaries: list[Summary], top: int = 6, *, context: list[Summary] | None = None,
                    as_aspects: bool = True) -> dict[str, list[str]]:
    """Ranked aspects of many summaries: ``positive``, ``negative``, ``likes`` and the content
    ``keywords`` of every phrase (most frequent first).

    Each phrase counts as the product aspect it names ("great tone" -> "tone"); a phrase naming
    none ("good", "mostly", "really") is dropped; a praised or criticised phrase whose own words
    take the other side ("clip broke" under praise) counts on that side; spelling variants are
    merged into the commonest form ("peddar", "peddler" -> "pedal" when "pedal" is there too),
    counted over ``context`` (e.g. all of an item's summaries; default ``summaries``).

    ``as_aspects=False``: the phrases as written, counted (the rule before issue 37, which the
    offline teacher's reasons keep so the shipped training data stays reproducible)."""
    if not as_aspects:
        return _merged_as_written(summaries, top)
    fields = (("positive", 1), ("negative", -1), ("likes", 0))
    raw = [(key, side, p.strip()) for summary in summaries
           for (key, side), value in zip(fields, (summary.positive, summary.negative, summary.preferences))
           for p in value.split(",") if p.strip() and p.strip() != "none"]
    everything = raw if context is None else [
        (None, 0, p.strip()) for summary in context for value in (summary.positive, summary.negative,
                                                                    summary.preferences)
        for p in value.split(",") if p.strip() and p.strip() != "none"]
    read = aspects_of_phrases([p for _, _, p in raw + everything])
    named = Counter(aspect for _, _, p in everything for aspect, _ in read.get(p, ()))
    variants = variant_map(named)
    words = Counter(w for _, _, p in everything for w in content_words(p))
    word_variants = variant_map(words)
    keywords = Counter()
    for word, count in words.items():
        keywords[word_variants.get(word, word)] += count
    merged: dict[str, Counter[str]] = {"positive": Counter(), "negative": Counter(), "likes": Counter()}
    for key, side, phrase in raw:
        for aspect, own in read.get(phrase, ()):
            aspect = variants.get(aspect, aspect)
            shown = ("positive" if own > 0 else "negative") if side and own and own != side else key
            merged[shown][aspect] += 1
    for aspect in list(merged["negative"]):  # an aspect praised more often than criticised is praised
        if merged["positive"][aspect] > merged["negative"][aspect]:
            del merged["negative"][aspect]
        elif merged["positive"][aspect] and merged["positive"][aspect] < merged["negative"][aspect]:
            del merged["positive"][aspect]
    return {**{key: [w for w, _ in counter.most_common(top)] for key, counter in merged.items()},
            "keywords": [w for w, _ in keywords.most_common(top)]}


def _merged_as_written(summaries: list[Summary], top: int) -> dict[str, list[str]]:
    merged: dict[str, Counter[str]] = {"positive": Counter(), "negative": Counter(), "likes": Counter()}
    for summary in summaries:
        for key, value in (("positive", summary.positive), ("negative", summary.negative),
                           ("likes", summary.preferences)):
            merged[key].update(p.strip() for p in value.split(",") if p.strip() and p.strip() != "none")
    return {key: [w for w, _ in counter.most_common(top)] for key, counter in merged.items()}

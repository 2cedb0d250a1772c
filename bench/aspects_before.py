"""Today's keyword aspects before issue 37 (``experts/aspects.py`` as of lexicon-1), frozen here so
``bench/aspect_quality.py`` can measure "before" against "after" with the same data.

Not used by the package.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from reason4rec.experts.prompts import Summary, clean_text

LEXICON_VERSION = "lexicon-1"
"""Version label of lexicon summaries (bump when the lexicon or the rules change)."""

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
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Aspects:
    positive: list[str]
    negative: list[str]
    elements: list[str]
    polarity: float


_DETERMINERS = {"the", "this", "my", "a", "an", "its", "their", "your", "these", "his", "her", "our"}


def extract_aspects(text: str, limit: int = 4) -> Aspects:
    """Keyword aspects of a review by sentence sentiment (lexicon + a three-word negation window).

    An opinion word is paired with the nearest content word after it (or before it), so "a sturdy
    stand" and "the stand is sturdy" both give "sturdy stand"; a negated one becomes "not noisy".
    Content words after a determiner count double: they are usually the nouns (the aspects).
    """
    positive: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    elements: Counter[str] = Counter()
    score = 0.0
    for sentence in re.split(r"[.!?;]+", clean_text(text, 4000).lower()):
        words = _WORD.findall(sentence)
        is_content = [w not in _STOP and w not in _POSITIVE and w not in _NEGATIVE and w not in _NEGATORS
                      and len(w) > 2 and not w.endswith("n't") for w in words]
        for index, word in enumerate(words):
            if is_content[index]:
                elements[word] += 2 if index and words[index - 1] in _DETERMINERS else 1
        polarity, negate = 0, 0
        pos_phrases: list[str] = []
        neg_phrases: list[str] = []
        for index, word in enumerate(words):
            if word in _NEGATORS or word.endswith("n't"):
                negate = 3
                continue
            sign = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
            if sign:
                sign = -sign if negate else sign
                polarity += sign
                noun = _nearest_content(words, is_content, index)
                phrase = ("not " if negate else "") + word + (f" {noun}" if noun else "")
                (pos_phrases if sign > 0 else neg_phrases).append(phrase)
            negate = max(0, negate - 1)
        positive.update(pos_phrases)
        negative.update(neg_phrases)
        score += polarity
    return Aspects(
        positive=[w for w, _ in positive.most_common(limit)],
        negative=[w for w, _ in negative.most_common(limit)],
        elements=[w for w, _ in elements.most_common(limit)],
        polarity=score,
    )


def _nearest_content(words: list[str], is_content: list[bool], index: int) -> str:
    for offset in (1, 2, -1, -2, 3, -3):
        at = index + offset
        if 0 <= at < len(words) and is_content[at]:
            return words[at]
    return ""


def content_words(text: str) -> list[str]:
    """The words of ``text`` that name things (no stop, opinion or negation words): item keywords."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP and w not in _POSITIVE
            and w not in _NEGATIVE and w not in _NEGATORS and not w.endswith("n't") and w != "none"]


def lexicon_summary(text: str) -> Summary:
    """The three-field summary of one review, from :func:`extract_aspects`."""
    found = extract_aspects(text)
    return Summary(", ".join(found.positive), ", ".join(found.negative), ", ".join(found.elements[:3]))


def merge_summaries(summaries: list[Summary], top: int = 6) -> dict[str, list[str]]:
    """Ranked aspects of many summaries: ``positive``, ``negative``, ``likes`` (most frequent first)."""
    merged: dict[str, Counter[str]] = {"positive": Counter(), "negative": Counter(), "likes": Counter()}
    for summary in summaries:
        for key, value in (("positive", summary.positive), ("negative", summary.negative),
                           ("likes", summary.preferences)):
            merged[key].update(p.strip() for p in value.split(",") if p.strip() and p.strip() != "none")
    return {key: [w for w, _ in counter.most_common(top)] for key, counter in merged.items()}

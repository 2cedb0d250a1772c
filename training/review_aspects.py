"""What a review says, as opinion-target pairs: the offline teacher's reading of a review.

A sentence's polarity is VADER's compound score (negation, "but", intensifiers and emoticons
handled by a well-kept lexicon, not ours). Targets are the aspect phrases the evaluation's
grounding measure extracts (runs of content words, RAKE-style); an opinion word from VADER's
lexicon is paired with the nearest target after it, else before it, and a negator in the three
words before it flips it: "The stand is not sturdy" gives ("not sturdy", "stand"), negative.

Example:
    >>> read_review("Great sound quality. The clip broke after a week.").render()
    'Positive Aspects: great sound quality\\nNegative Aspects: clip broke\\nUser Preference Elements: \
sound quality, clip, week'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..experts import Summary, aspect_phrases, clean_text, sentiment_analyzer, stop_words, verdict

_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'+\-]*")
_NEGATORS = frozenset({"not", "no", "never", "hardly", "without", "nothing", "isn't", "wasn't", "doesn't",
                       "don't", "didn't", "won't", "can't", "cannot", "aren't", "couldn't", "wouldn't"})
_AMBIGUOUS = frozenset({"like", "likes", "pretty", "well", "kind", "sort", "fine", "free", "yes", "please"})
"""VADER opinion words that are mostly something else in reviews ("looks like", "pretty loud")."""
_REVIEW_VERBS = frozenset(["buy", "buys", "bought", "buying", "order", "ordered", "ordering", "got", "get", "gets",
                           "received", "arrived", "returned", "return", "guess", "think", "thought", "write", "wrote",
                           "recommend", "recommended", "figured", "tried", "try"])
"""Words about the act of reviewing or buying, never an aspect."""
_STRONG = 1.0
"""Smallest |valence| of a VADER word that counts as an opinion (its scale runs -4..4)."""
_NEAR = 3


@dataclass(frozen=True, slots=True)
class Opinion:
    """One opinion about one target: ``phrase`` is how a summary writes it."""

    phrase: str
    target: str
    polarity: int


def sentence_polarity(sentence: str) -> int:
    """+1, -1 or 0 by VADER's compound score: the evaluation's verdict, applied to one sentence."""
    return verdict(sentence)


def opinions(sentence: str) -> list[Opinion]:
    """Opinion-target pairs of one sentence, in order."""
    words = _TOKEN.findall(sentence.lower())
    lexicon, stop = sentiment_analyzer().lexicon, stop_words()
    spans = _target_spans(words, lexicon, stop | _REVIEW_VERBS)
    found: list[Opinion] = []
    for index, word in enumerate(words):
        valence = lexicon.get(word, 0.0)
        if abs(valence) < _STRONG or word in _AMBIGUOUS:
            continue
        negated = any(w in _NEGATORS or w.endswith("n't") for w in words[max(0, index - _NEAR):index])
        target = _nearest(spans, index)
        if target is None:
            continue
        polarity = (1 if valence > 0 else -1) * (-1 if negated else 1)
        phrase = f"{'not ' if negated else ''}{word} {target}" if spans[target][0] > index else \
            f"{target} {'not ' if negated else ''}{word}"
        found.append(Opinion(phrase, target, polarity))
    return found


def read_review(text: str, limit: int = 4) -> Summary:
    """The three-field summary of one review: liked and disliked aspects, and what it is about."""
    positive: list[str] = []
    negative: list[str] = []
    targets: Counter[str] = Counter()
    for sentence in _SENTENCES.split(clean_text(text, 4000)):
        pairs = opinions(sentence)
        polarity = sentence_polarity(sentence)
        for pair in pairs:
            (positive if pair.polarity > 0 else negative).append(pair.phrase)
            targets[pair.target] += 2
        phrases = [p for p in aspect_phrases(sentence, stop_words()) if not _REVIEW_VERBS.intersection(p.split())]
        targets.update(phrases)
        if not pairs and phrases and polarity:  # an opinion with no opinion word: the sentence says it
            (positive if polarity > 0 else negative).append(phrases[0])
    return Summary(_first(positive, limit), _first(negative, limit),
                   ", ".join(t for t, _ in targets.most_common(3)))


def _target_spans(words: list[str], lexicon: dict, stop: frozenset[str]) -> dict[str, tuple[int, int]]:
    """Aspect phrases of the sentence -> (first, last) word index, runs of up to three content words."""
    spans: dict[str, tuple[int, int]] = {}
    run: list[int] = []
    for index, word in enumerate([*words, ""]):
        if word and word not in stop and word not in lexicon and word not in _NEGATORS and not word.isdigit() \
                and "'" not in word and len(word) > 2:
            run.append(index)
            continue
        while run:
            part, run = run[:3], run[3:]
            spans.setdefault(" ".join(words[i] for i in part), (part[0], part[-1]))
    return spans


def _nearest(spans: dict[str, tuple[int, int]], index: int) -> str | None:
    """The closest target within three words ("great sound", "the clip broke"); after wins a tie."""
    near = [(start - index, 0, t) for t, (start, _) in spans.items() if 0 < start - index <= _NEAR]
    near += [(index - end, 1, t) for t, (_, end) in spans.items() if 0 < index - end <= _NEAR]
    return min(near)[2] if near else None


def _first(phrases: list[str], limit: int) -> str:
    return ", ".join(list(dict.fromkeys(phrases))[:limit])

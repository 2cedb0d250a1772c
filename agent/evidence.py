"""The evidence under a reason: the reviews it rests on, short enough to check at a glance.

A reason ("the user valued a warm tone, but buyers say the clip breaks") is only as good as the
reviews behind it, so every answer carries them:

* **own**: the user's past reviews the Reasoner was shown (the latest K, the ones the reason can
  draw on), each with the item's name, the stars, the date and a quote: the sentence of the review
  that carries most of the reason's aspects;
* **buyers**: what this item's other buyers praise and criticise, counted over every review the
  memory holds ("clip broke: 3 of 13 buyers"), one short quote each;
* **aspects**: every aspect phrase the reason names, numbered, tied to the reviews it is found in
  (a footnote a person can follow); a phrase found in none is marked as such, and so is one the
  reason says of one side ("Other buyers of this item praise ...") that only the other side's
  reviews mention (``misattributed``: the Reasoner mixes the two sides up in about one reason in
  two, :mod:`~reason4rec.experts.quality.attribution`).

Everything comes from the memory (a look-up, no decoding). Quotes are review text, which is
untrusted: they are cleaned as prompt text is (no escapes, no markup, one line, cut short).

Example:
    >>> found = evidence_for("They valued a warm tone.", mine, theirs, shown=2, title_of=str)  # doctest: +SKIP
    >>> found["aspects"][0]["phrase"], found["aspects"][0]["sources"][0]["quote"]           # doctest: +SKIP
    ('warm tone', 'A warm tone, and it stays in tune.')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ..experts import aspect_phrases, clean_text, parse_summary, phrase_found, sided_phrases, stems, vocabulary_of
from ..memory import HistoryRecord

QUOTE_CHARS = 140
"""A quote's length at most: one line of a terminal."""
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_QUOTED_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+\-]*")
_NOT_ASPECTS = frozenset({"", "none", "no", "n/a", "nothing"})

__all__ = ["evidence_for"]


def evidence_for(reason: str, mine: Sequence[HistoryRecord], theirs: Sequence[HistoryRecord], *, shown: int,
                 title_of: Callable[[str], str], own: int = 3, per_side: int = 3) -> dict[str, Any]:
    """The evidence for ``reason`` (see the module's docstring), as plain JSON values.

    Args:
        mine: The user's reviews of other items, oldest first; the latest ``shown`` were shown.
        theirs: The item's reviews by other users, oldest first; the latest ``shown`` were shown.
        title_of: An item id -> how a person names it (title or label with the id).
        own: How many of the user's shown reviews to quote (the latest first).
        per_side: How many praised and criticised aspects of the buyers to list.
    """
    shown_mine, shown_theirs = list(mine[-shown:]) if shown else [], list(theirs[-shown:]) if shown else []
    phrases = aspect_phrases(reason)
    aspects = _tie(phrases, shown_mine, shown_theirs, title_of)
    said_of: dict[str, set[str]] = {}
    for phrase, side in sided_phrases(reason):
        said_of.setdefault(phrase, set()).add(side)
    for aspect in aspects:
        aspect["misattributed"] = _misattributed(said_of.get(aspect["phrase"], set()), aspect["sources"])
    return {
        "aspects": aspects,
        "own": [_own(record, phrases, title_of) for record in reversed(shown_mine[-own:])],
        "buyers": _buyers(theirs, per_side),
    }


def _tie(phrases: Sequence[str], mine: Sequence[HistoryRecord], theirs: Sequence[HistoryRecord],
         title_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """Each phrase with the shown reviews it is found in (text, summary or the name of the item
    reviewed, which the prompt shows beside it: by the grounding rule), numbered in order, each
    source quoted at the sentence naming the phrase; a phrase found in none gets no mark."""
    records = [("you", r) for r in mine] + [("buyer", r) for r in theirs]
    vocabularies = [vocabulary_of([r.review.text, r.summary or "", title_of(r.review.item_id)]) for _, r in records]
    tied, mark = [], 0
    for phrase in phrases:
        sources = [{"review_id": r.review.review_id, "by": by, "item": title_of(r.review.item_id),
                    "stars": r.review.rating, "date": _date(r.review.timestamp),
                    "quote": _quote(r.review.text, [phrase])}
                   for (by, r), vocabulary in zip(records, vocabularies) if phrase_found(phrase, vocabulary)]
        mark += bool(sources)
        tied.append({"phrase": phrase, "mark": mark if sources else None, "sources": sources})
    return tied


_SOURCE_OF_SIDE = {"user": "you", "item": "buyer"}


def _misattributed(said_of: set[str], sources: Sequence[dict[str, Any]]) -> str | None:
    """The side a phrase is said of ("user", "item") when only the other side's reviews mention it;
    else None (said of both or neither, found on its own side, or found nowhere)."""
    if len(said_of) != 1 or not sources:
        return None
    [side] = said_of
    return side if all(source["by"] != _SOURCE_OF_SIDE[side] for source in sources) else None


def _own(record: HistoryRecord, phrases: Sequence[str], title_of: Callable[[str], str]) -> dict[str, Any]:
    review = record.review
    return {"review_id": review.review_id, "item_id": review.item_id, "item": title_of(review.item_id),
            "stars": review.rating, "date": _date(review.timestamp),
            "quote": _quote(review.text, phrases, also=_summary_aspects(record.summary))}


def _buyers(theirs: Sequence[HistoryRecord], per_side: int) -> dict[str, Any]:
    """The aspects the item's buyers name most, by side, counted once per buyer."""
    sides: dict[str, Counter[str]] = {"praised": Counter(), "criticised": Counter()}
    spelled: dict[str, str] = {}
    quoted: dict[str, HistoryRecord] = {}
    summarized = [r for r in theirs if r.summary]
    for record in summarized:
        parsed = parse_summary(record.summary or "")
        for side, field in (("praised", parsed.positive), ("criticised", parsed.negative)):
            keys = set()
            for aspect in _items(field):
                key = " ".join(stems(aspect.split()))
                spelled.setdefault(key, aspect)
                quoted.setdefault(f"{side}:{key}", record)
                keys.add(key)
            sides[side].update(keys)

    def listed(side: str) -> list[dict[str, Any]]:
        return [{"aspect": spelled[key], "buyers": count, "review_id": quoted[f"{side}:{key}"].review.review_id,
                 "quote": _quote(quoted[f"{side}:{key}"].review.text, [spelled[key]])}
                for key, count in sides[side].most_common(per_side)]

    return {"reviews": len(summarized), "praised": listed("praised"), "criticised": listed("criticised")}


def _items(field: str) -> list[str]:
    """The aspects of one summary field ("bright tone, clip broke"), lower-cased, fillers dropped."""
    return [item for item in (part.strip(" .;:").lower() for part in field.split(","))
            if item not in _NOT_ASPECTS and any(c.isalpha() for c in item)]


def _summary_aspects(summary: str | None) -> list[str]:
    parsed = parse_summary(summary or "")
    return [*_items(parsed.positive), *_items(parsed.negative)]


def _quote(text: str, phrases: Sequence[str], also: Sequence[str] = ()) -> str:
    """The sentence of ``text`` naming most of ``phrases`` (then of ``also``, the review's own
    summary aspects; the first sentence when none does), cleaned and cut to :data:`QUOTE_CHARS`
    around the first word it names, so a long sentence still shows what it is quoted for."""
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    vocabularies = [vocabulary_of([s]) for s in sentences]
    scores = [(sum(phrase_found(p, v) for p in phrases), sum(phrase_found(a, v) for a in also)) for v in vocabularies]
    best = max(range(len(sentences)), key=lambda i: (*scores[i], -i))
    named = [p for p in phrases if phrase_found(p, vocabularies[best])] \
        or [a for a in also if phrase_found(a, vocabularies[best])]
    return _around(clean_text(sentences[best], len(sentences[best]) + 1), named)


def _around(sentence: str, named: Sequence[str]) -> str:
    """``sentence`` cut to :data:`QUOTE_CHARS` on word boundaries, starting a little before the
    first word whose stem one of ``named`` holds (" ..." marks each cut)."""
    if len(sentence) <= QUOTE_CHARS:
        return sentence
    wanted = set(stems(" ".join(named).lower().split()))
    first = next((w.start() for w in _QUOTED_WORD.finditer(sentence) if stems([w.group().lower()])[0] in wanted), 0)
    start = 0
    if first >= QUOTE_CHARS // 2:  # the named word would be cut off: begin shortly before it
        start = min(first - QUOTE_CHARS // 4, len(sentence) - (QUOTE_CHARS - 8))
        start = sentence.find(" ", start - 1) + 1
    window = sentence[start:]
    room = QUOTE_CHARS - 4 - (4 if start else 0)
    if len(window) > room:
        window = (window[:room].rsplit(" ", 1)[0] or window[:room]).rstrip(" ,.;:") + " ..."
    return ("... " + window) if start else window


def _date(timestamp: int) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).date().isoformat() if timestamp > 0 else None

"""Which side a reason gives each aspect to, and whether that side's reviews say it.

The teacher's reasons, and so the Reasoner's, speak of the two sides in sentences of their own:
"In past reviews the user valued X. They were disappointed by Y." (the user's own reviews) and
"Other buyers of this item praise Z but mention W." (this item's reviews). An aspect given to one
side that only the other side's reviews mention is **misattributed**: grounding counts it (it was
shown), yet a person who follows its evidence finds it in the wrong reviews: "Other buyers of this
tin praise egg design", taken from the user's own review of an egg-shaped card.

On the shipped experts' greedy reasons over the whole leave-last-out test set, 22% of the phrases
given to the item's buyers were found only in the user's reviews, and 15% of those given to the
user only in the item's (`bench/attribution.py`). A sentence that names neither side (the
verdict, "What buyers say about X matches ...") gives nothing to either.

Example:
    >>> misattributed("In past reviews the user valued egg design. Other buyers of this item praise the tin.",
    ...               user=["Easter Egg card: + egg design"], item=["Snowflake tin: + tin"])
    ()
    >>> misattributed("In past reviews the user valued the tin. Other buyers of this item praise egg design.",
    ...               user=["Easter Egg card: + egg design"], item=["Snowflake tin: + tin"])
    (('tin', 'user'), ('egg', 'item'))
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from typing import Literal

from .reason_quality import Grounding, aspect_phrases, phrase_found, vocabulary_of

Side = Literal["user", "item"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_FRAMES: tuple[tuple[Side, re.Pattern[str]], ...] = (
    ("user", re.compile(r"(?:in (?:their )?past reviews\b|they were disappointed\b|the user\b)", re.IGNORECASE)),
    ("item", re.compile(r"(?:(?:other|a few|some|many|most)\s+)?buyers\b(?! say about)", re.IGNORECASE)),
)
"""How a sentence about one side opens: the teacher's frames ("In past reviews the user ...",
"They were disappointed by ...", "Other buyers of this item ...", "A few buyers of this item
mention ..."). "What buyers say about X matches what this user looks for" joins both sides."""


def sentence_side(sentence: str) -> Side | None:
    """The side a sentence of a reason speaks of, by how it opens; None for neither or both."""
    return next((side for side, frame in _FRAMES if frame.match(sentence.lstrip())), None)


def sided_phrases(reason: str) -> Iterator[tuple[str, Side]]:
    """Each aspect phrase of ``reason`` that a sentence gives to one side, with that side."""
    for sentence in _SENTENCE.split(reason.strip()):
        side = sentence_side(sentence)
        if side is not None:
            for phrase in aspect_phrases(sentence):
                yield phrase, side


def without_sides(reason: str, absent: Collection[Side]) -> str:
    """``reason`` less its sentences about a side that has no reviews at all: "In past reviews the
    user valued ..." of a user who has written none can only be invented or taken from the item's
    buyers, and a person who knows they never wrote a review reads it as false.

    Example:
        >>> without_sides("In past reviews the user valued tone. Other buyers praise the clip. Overall it suits.",
        ...               {"user"})
        'Other buyers praise the clip. Overall it suits.'
    """
    if not absent:
        return reason
    return " ".join(s for s in _SENTENCE.split(reason.strip()) if sentence_side(s) not in absent)


def misattributed(reason: str, *, user: Sequence[str], item: Sequence[str]) -> tuple[tuple[str, Side], ...]:
    """The phrases ``reason`` gives to one side that only the other side's texts mention.

    ``user``: what the Reasoner was shown of the user (their history lines, and the raw reviews
    behind them where the caller has them); ``item``: of the item (its title, its history lines,
    their reviews). A phrase neither side mentions is invented, not misattributed
    (:func:`~reason4rec.experts.quality.reason_quality.grounding` counts those)."""
    return misattributed_in(reason, vocabulary_of(user), vocabulary_of(item))


def misattributed_in(reason: str, user: set[str], item: set[str]) -> tuple[tuple[str, Side], ...]:
    """:func:`misattributed` against vocabularies made once (the drafts of one question share them)."""
    vocabularies = {"user": user, "item": item}
    wrong = []
    for phrase, side in sided_phrases(reason):
        other = "item" if side == "user" else "user"
        if not phrase_found(phrase, vocabularies[side]) and phrase_found(phrase, vocabularies[other]):
            wrong.append((phrase, side))
    return tuple(dict.fromkeys(wrong))


def attributed_share(found: Grounding, wrong: Sequence[tuple[str, Side]]) -> float | None:
    """Share of a reason's aspect phrases found on the side it says them of: its grounded phrases
    less the misattributed ones (``wrong``), over all it names; None when it names none."""
    named = len(found.grounded) + len(found.invented)
    return (len(found.grounded) - len(wrong)) / named if named else None

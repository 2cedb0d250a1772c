"""One deliberation: the Reasoner's why, then the Predictor's rating, for a batch of targets.

The method in one place (Reason4Rec's multi-step inference): each target arrives summarized (a
:class:`~reason4rec.experts.prompts.TargetContext`: the user's and the item's history as aspect
summaries, made by :mod:`.summaries` for an evaluation or read from the memory by the agent's
``recall``), the Reasoner writes why the item would or would not suit the user, and the Predictor
reads that reason and gives a distribution over "1".."5" whose expected value is the rating.

The agent's nodes (one target streamed, or a recommendation's candidates) and the evaluation (a
chunk of test targets) both call these functions, so what is measured is what a person is shown.

Example:
    >>> done = deliberate(backend, contexts, batch_size=8)               # doctest: +SKIP
    >>> done[0].reason, done[0].rating.expected                          # doctest: +SKIP
    ('In past reviews the user valued ...', 4.31)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import Expert
from .backend import Backend, SamplingBackend
from .prompts import TargetContext, predictor_messages, reasoner_messages, shown_data
from .quality.attribution import Side, without_sides
from .quality.reason_drafts import DEFAULT_TEMPERATURE, ChosenReason, choose_reasons
from .rating import RatingDistribution
from .verdict_rule import before_own_closing, closed_as_poor_match

TextCallback = Callable[[int, str], None]
"""``on_text(row, piece)``: a generated piece of the reason of target ``row`` (for streaming)."""

__all__ = [
    "Deliberation",
    "DraftSettings",
    "ReasonStream",
    "absent_sides",
    "better_drafts",
    "deliberate",
    "finished_reason",
    "ratings_for",
    "reasons_for",
    "shown_texts",
]


@dataclass(frozen=True, slots=True)
class DraftSettings:
    """Sampled drafts that replace a reason inventing aspects (see :mod:`.reason_drafts`)."""

    drafts: int = 1
    """Drafts per reason, the greedy one included (1: the greedy reason as it is)."""
    rounds: int = 1
    temperature: float = DEFAULT_TEMPERATURE


@dataclass(frozen=True, slots=True)
class Deliberation:
    """One target's reason (the chosen draft) and the rating the Predictor gives after it."""

    reason: ChosenReason
    rating: RatingDistribution


def reasons_for(backend: Backend, targets: Sequence[TargetContext], *, batch_size: int,
           on_text: TextCallback | None = None, before_batch: Callable[[int], None] | None = None) -> list[str]:
    """The Reasoner's greedy why for each target, ``batch_size`` targets per backend call.

    ``before_batch(start)`` runs before each batch (progress); ``on_text`` receives each piece
    with the target's row in ``targets``.
    """
    reasons: list[str] = []
    size = max(1, batch_size)
    for start in range(0, len(targets), size):
        if before_batch is not None:
            before_batch(start)
        batch = targets[start:start + size]

        def shifted(row: int, piece: str, offset: int = start) -> None:
            if on_text is not None:
                on_text(offset + row, piece)

        shown = ReasonStream(shifted, batch)
        written = backend.generate(Expert.REASONER, [reasoner_messages(t) for t in batch],
                                   on_text=shown.on_text if on_text else None)
        if on_text is not None:
            shown.finish()
        reasons += [finished_reason(t, text) for t, text in zip(batch, written)]
    return reasons


def finished_reason(target: TargetContext, text: str) -> str:
    """The reason as a person gets it: without its sentences about a side that has no reviews
    (:func:`absent_sides`: "In past reviews the user valued ..." of a user who has written none),
    and where the ratings gave the verdict (the category's verdict rule, :mod:`.verdict_rule`),
    ending with the negative closing in place of the Reasoner's own."""
    text = without_sides(text.strip(), absent_sides(target))
    return closed_as_poor_match(text) if target.verdict_from_ratings else text


def absent_sides(target: TargetContext) -> frozenset[Side]:
    """The sides of a question with no reviews to speak of: a user who has written none yet, an
    item no one else has reviewed."""
    return frozenset(side for side, history in (("user", target.user_history), ("item", target.item_history))
                     if not history)


_WHOLE_SENTENCE_END = re.compile(r"[.!?](?=\s)")
"""A sentence is whole once a space follows its end ("4.5" is not an end)."""


class ReasonStream:
    """Streams a batch's reasons exactly as :func:`finished_reason` will return them, so what a
    person watched is the reason they get. A row that finishing changes (the ratings' verdict, a
    side with no reviews) is passed on a whole sentence at a time: an unfinished sentence cut at
    the token budget, a dropped one, the Reasoner's own closing where the ratings give another,
    are never shown; :meth:`finish` sends the rest. Other rows pass straight through.

    Example:
        >>> seen = []
        >>> stream = ReasonStream(lambda row, piece: seen.append(piece), [new_user_context])  # doctest: +SKIP
        >>> for piece in ["In past reviews the user valued tone. Other buy", "ers praise the clip."]:
        ...     stream.on_text(0, piece)                                                    # doctest: +SKIP
        >>> stream.finish(); "".join(seen)                                                  # doctest: +SKIP
        'Other buyers praise the clip.'
    """

    def __init__(self, forward: TextCallback, targets: Sequence[TargetContext]) -> None:
        self.forward = forward
        self.targets = list(targets)
        self._absent = [absent_sides(t) for t in self.targets]
        self._held = [t.verdict_from_ratings or bool(absent) for t, absent in zip(self.targets, self._absent)]
        self._text: dict[int, str] = {}
        self._sent: dict[int, str] = {}

    def on_text(self, row: int, piece: str) -> None:
        if not self._held[row]:
            self.forward(row, piece)
            return
        target, text = self.targets[row], self._text.get(row, "") + piece
        self._text[row] = text
        if target.verdict_from_ratings:
            text = before_own_closing(text)
        ends = [m.end() for m in _WHOLE_SENTENCE_END.finditer(text)]
        self._send(row, without_sides(text[:ends[-1]], self._absent[row]) if ends else "")

    def finish(self) -> None:
        """Send the rest of every held row's reason as :func:`finished_reason` returns it."""
        for row, held in enumerate(self._held):
            if held:
                self._send(row, finished_reason(self.targets[row], self._text.get(row, "")))

    def _send(self, row: int, shown: str) -> None:
        sent = self._sent.get(row, "")
        if len(shown) > len(sent) and shown.startswith(sent):
            self.forward(row, shown[len(sent):])
            self._sent[row] = shown


def ratings_for(backend: Backend, targets: Sequence[TargetContext],
         reasons: Sequence[str | None]) -> list[RatingDistribution]:
    """The Predictor's distribution for each target after its reason (None: no reason, the
    ablation), in one backend call."""
    if not targets:
        return []
    return backend.rate(Expert.PREDICTOR, [predictor_messages(t, r) for t, r in zip(targets, reasons)])


def shown_texts(target: TargetContext, reviews: Sequence[str] = ()) -> list[str]:
    """The texts a reason's aspects are looked for in: what the Reasoner's prompt shows of this
    user and item (:func:`.prompts.shown_data`: the histories as summaries, the item; never the
    prompt's own words or its category), and ``reviews``, the raw reviews behind those summaries
    where the caller has them (the evaluation does)."""
    return [*shown_data(target), *reviews]


def better_drafts(backend: Backend, targets: Sequence[TargetContext], greedy: Sequence[str],
                  settings: DraftSettings, *, on_text: TextCallback | None = None,
                  on_round: Callable[[int], None] | None = None) -> list[ChosenReason]:
    """Each greedy reason, replaced by a sampled draft that invents fewer aspects where one does;
    as they are where drafts are off or the backend cannot sample."""
    if settings.drafts <= 1 or not isinstance(backend, SamplingBackend) or not targets:
        return [ChosenReason(finished_reason(t, text), 0, 1) for t, text in zip(targets, greedy)]
    return choose_reasons(backend, [reasoner_messages(t) for t in targets],
                          [finished_reason(t, text) for t, text in zip(targets, greedy)],
                          [shown_texts(t) for t in targets], drafts=settings.drafts, rounds=settings.rounds,
                          temperature=settings.temperature, on_text=on_text, on_round=on_round,
                          finish=lambda i, text: finished_reason(targets[i], text))


def deliberate(backend: Backend, targets: Sequence[TargetContext], *, batch_size: int,
               drafts: DraftSettings = DraftSettings(), on_text: TextCallback | None = None) -> list[Deliberation]:
    """Reason, choose among drafts, rate: the whole deliberation for a batch of targets."""
    greedy = reasons_for(backend, targets, batch_size=batch_size, on_text=on_text)
    chosen = better_drafts(backend, targets, greedy, drafts)
    ratings = ratings_for(backend, targets, [c.text for c in chosen])
    return [Deliberation(c, r) for c, r in zip(chosen, ratings)]

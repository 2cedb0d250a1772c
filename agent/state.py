"""The typed state of one conversation turn, as the checkpointer stores it (plain JSON values).

A turn names an ``intent`` and what it is about; nodes fill in the rest. Per-turn fields are reset
by :func:`turn_input` so a resumed thread keeps who the user is but never an old answer.

Example:
    >>> turn_input("explain", user_id="A1", item_id="B01")["reason"] is None
    True
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

Intent = Literal["explain", "predict", "recommend", "add_review", "profile"]
INTENTS: tuple[str, ...] = ("explain", "predict", "recommend", "add_review", "profile")


def _merge(left: dict | None, right: dict | None) -> dict:
    """Steps add their timings; ``None`` (a new turn's input) starts afresh, so a thread's turn
    never reports the steps of the turn before."""
    return {} if right is None else {**(left or {}), **right}


class HistoryView(TypedDict):
    """One past review as the experts see it: never its raw text, only its summary."""

    review_id: str
    user_id: str
    item_id: str
    title: str
    rating: float
    summary: str


class CollabView(TypedDict, total=False):
    """The memory's collaborative estimates of the user's rating of the item (never the Predictor's
    rating): ``bias`` (``mu + b_u + b_i``) and ``svdpp`` on 1..5, or None when the memory holds no
    rating; ``cold``: the side the models never saw (``user``, ``item``, ``both``; None: both known),
    whose part is left out; ``fitted_on``: how many stored ratings they were fitted on; ``refit``:
    why they were refitted before this answer (None: they were current); ``with_own_rating``: the
    user rated this item already, and the models were fitted on that rating too (unlike the
    Predictor's, which never sees it); ``read_by_predictor``: the Predictor's prompt carried these
    estimates (a Predictor that learnt with them, and never when they were fitted on the user's own
    rating of this item); ``mean``, ``user_offset``, ``item_offset``: the bias estimate's parts (the
    ratings' mean, how far this user's and this item's ratings sit from it; None for a side never
    seen), which the answer says in words; ``error`` when they could not be had (the answer goes on
    without them)."""

    bias: float | None
    svdpp: float | None
    cold: str | None
    fitted_on: int | None
    refit: str | None
    with_own_rating: bool
    read_by_predictor: bool
    mean: float
    user_offset: float | None
    item_offset: float | None
    error: str


class VerdictView(TypedDict):
    """Where a reason's verdict came from: ``source`` ``ratings`` (the collaborative ``estimate``
    of the rating is below the category's verdict ``threshold``, so the reason says it is a poor
    match and the Reasoner writes why) or ``reasoner`` (its own; ``threshold`` None where the
    category has no verdict rule in use)."""

    source: Literal["ratings", "reasoner"]
    threshold: float | None
    estimate: float | None


class NewReview(TypedDict, total=False):
    rating: float
    text: str
    title: str
    item_title: str | None


class DeliberationState(TypedDict, total=False):
    """Everything one turn knows; every value is JSON so any checkpointer can store it."""

    intent: Intent
    user_id: str | None
    item_id: str | None
    item_query: str | None
    """An item described in words ("the Snark tuner"), resolved through the memory."""
    query: str | None
    """Free text that steers a recommendation ("for home recording")."""
    like_item: str | None
    """An item the need names ("something like X"): candidates are steered by its profile."""
    like_title: str | None
    k: int
    review: NewReview | None
    item_title: str | None
    item_name: str | None
    """How the item is shown to a person (title or a label made from its reviews, with the id);
    the experts' prompts keep ``item_title``."""
    candidates: list[dict[str, Any]]
    """Items the description matched when it was ambiguous (the answer asks which)."""
    user_history: list[HistoryView]
    item_history: list[HistoryView]
    user_mean: float | None
    item_mean: float | None
    user_count: int
    item_count: int
    already_rated: dict[str, Any] | None
    """The user's own review of the item, when there is one: ``rating``, ``date`` (or None), ``timestamp``."""
    reason: str | None
    reason_check: dict[str, Any] | None
    """How grounded the reason is in what the Reasoner was shown: ``grounding`` (the share of its
    aspect phrases found there, None if it names none) and ``invented`` (the phrases that are not)."""
    rating: dict[str, Any] | None
    """``RatingDistribution.as_dict()``: expected, confidence, probabilities of 1..5."""
    collab: CollabView | None
    """What the ratings alone say beside the Predictor (the memory's bias model and SVD++)."""
    verdict: VerdictView | None
    """Where the reason's verdict came from (the category's verdict rule, or the Reasoner)."""
    evidence: dict[str, Any] | None
    """The reviews the reason rests on (:func:`~reason4rec.agent.evidence.evidence_for`): the
    user's own (quoted), what the item's buyers praise and criticise (counted), and every aspect
    phrase of the reason tied to the reviews it is found in."""
    recommendations: list[dict[str, Any]]
    profile: dict[str, Any] | None
    update: dict[str, Any] | None
    answer: str | None
    error: str | None
    timings: Annotated[dict[str, float], _merge]
    turns: Annotated[int, operator.add]


_PER_TURN: dict[str, Any] = {
    "item_id": None, "item_query": None, "query": None, "like_item": None, "like_title": None, "review": None,
    "item_title": None, "item_name": None, "candidates": [], "user_history": [], "item_history": [], "user_mean": None,
    "item_mean": None, "user_count": 0, "item_count": 0, "already_rated": None, "reason": None,
    "reason_check": None, "evidence": None, "rating": None, "collab": None, "verdict": None, "recommendations": [],
    "profile": None,
    "update": None, "answer": None, "error": None, "k": None,
}


def turn_input(intent: Intent, **fields: Any) -> DeliberationState:
    """The input of a new turn: the per-turn fields cleared, then ``fields`` (``user_id`` kept
    from the thread when not given)."""
    if intent not in INTENTS:
        raise ValueError(f"intent must be one of {', '.join(INTENTS)}, not {intent!r}")
    k = fields.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k (how many recommendations) must be a whole number of at least 1, got {k!r}")
    return {**_PER_TURN, "intent": intent, "timings": None, "turns": 1,  # type: ignore[typeddict-item]
            **{key: value for key, value in fields.items() if value is not None or key != "user_id"}}

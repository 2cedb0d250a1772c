"""The events a deliberation streams, through LangGraph's ``custom`` stream mode.

Every event is a plain dict with a ``type``; renderers (the chat, ``reason4rec why``, scripts)
switch on it. The types, in the order a turn emits them:

=================  ===========================================================================
``step_started``   ``step``: resolve, recall, summarize, reason, predict, recommend, update,
                   profile or respond.
``retrieved``      ``step``, ``kind`` (``user_history``, ``item_history``, ``candidates``,
                   ``items``), ``records``: what the memory returned.
``token``          ``step`` (reason), ``text``: a piece of the reason as it is generated
                   (``candidate`` set when reasoning for a recommendation).
``rating``         ``expected``, ``confidence``, ``probabilities`` (1..5).
``step_finished``  ``step``, ``seconds``, and ``error`` when the step failed.
``progress``       ``step``, ``done``, ``total``, ``unit`` (``history reviews``, ``candidates`` or
                   ``drafts``): how far a long step is (the Summarizer's history reviews, the
                   candidates reasoned so far, the extra drafts of a reason); ``items`` (``id``,
                   ``title``) names the candidates now being reasoned. The last one of each unit
                   has ``done == total``.
``already_rated``  ``rating``, ``date`` (``YYYY-MM-DD``, or None when unknown): the user reviewed
                   this item already; what follows is what the model would have predicted.
``reason_revised`` ``text``, ``drafts``, ``invented`` (what the first draft named that no review
                   it was shown mentions), ``candidate`` for a recommendation: a sampled draft
                   invents less than the reason streamed so far and replaces it.
``candidate_rated`` ``candidate`` (item id), ``expected``, ``confidence``, ``probabilities``: a
                   recommendation's candidate has its reason and its rating (ranked at the end).
=================  ===========================================================================

Renderers skip types they do not know, so new types never break them.

The final state (answer, reason, rating, recommendations, error) arrives in the ``values`` or
``updates`` stream as usual.

Example:
    >>> step_started("reason")
    {'type': 'step_started', 'step': 'reason'}
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES = ("step_started", "retrieved", "token", "rating", "step_finished", "progress", "already_rated",
               "reason_revised", "candidate_rated")


def step_started(step: str) -> dict[str, Any]:
    return {"type": "step_started", "step": step}


def step_finished(step: str, seconds: float, error: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "step_finished", "step": step, "seconds": round(seconds, 4)}
    if error:
        event["error"] = error
    return event


def retrieved(step: str, kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "retrieved", "step": step, "kind": kind, "records": records}


def token(step: str, text: str, candidate: str | None = None) -> dict[str, Any]:
    event = {"type": "token", "step": step, "text": text}
    if candidate is not None:
        event["candidate"] = candidate
    return event


def rating(distribution: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rating", **distribution}


def progress(step: str, done: int, total: int, unit: str,
             items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "progress", "step": step, "done": done, "total": total, "unit": unit}
    if items:
        event["items"] = items
    return event


def already_rated(rating: float, date: str | None) -> dict[str, Any]:
    return {"type": "already_rated", "rating": rating, "date": date}


def reason_revised(text: str, drafts: int, invented: list[str], candidate: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "reason_revised", "text": text, "drafts": drafts, "invented": invented}
    if candidate is not None:
        event["candidate"] = candidate
    return event


def candidate_rated(candidate: str, distribution: dict[str, Any]) -> dict[str, Any]:
    return {"type": "candidate_rated", "candidate": candidate, **distribution}

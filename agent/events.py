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
=================  ===========================================================================

The final state (answer, reason, rating, recommendations, error) arrives in the ``values`` or
``updates`` stream as usual.

Example:
    >>> step_started("reason")
    {'type': 'step_started', 'step': 'reason'}
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES = ("step_started", "retrieved", "token", "rating", "step_finished")


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

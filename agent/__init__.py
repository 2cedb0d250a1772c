"""The LangGraph deliberation graph: typed state, one node per step, streamed events.

Public API: :class:`Agent` (open everything from a config and run turns), :func:`build_graph`
(the compiled default graph), the nodes in :mod:`.nodes` to compose your own graph, the
state (:class:`DeliberationState`, :func:`turn_input`) and the context (:class:`AgentContext`).
"""

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes
from .context import AgentContext, open_context
from .graph import build_graph, route_intent
from .session import Agent, open_checkpointer
from .state import INTENTS, DeliberationState, turn_input

__all__ = [
    "INTENTS",
    "STEP_LABELS",
    "Agent",
    "AgentContext",
    "DeliberationState",
    "EventHandler",
    "Intent",
    "Turn",
    "already_rated_text",
    "build_graph",
    "check_request",
    "full_evidence",
    "open_checkpointer",
    "open_context",
    "progress_text",
    "rating_headline",
    "record_label",
    "revised_text",
    "route_intent",
    "shown_rating",
    "turn_input",
]


_LAZY = {
    "EventHandler": ".session",
    "Intent": ".state",
    "STEP_LABELS": ".event_text",
    "Turn": ".session",
    "already_rated_text": ".event_text",
    "check_request": ".nodes",
    "full_evidence": ".answers",
    "progress_text": ".event_text",
    "rating_headline": ".answers",
    "shown_rating": ".answers",
    "record_label": ".event_text",
    "revised_text": ".event_text",
}
"""Names loaded on first use (their modules are not needed to import the package)."""

if TYPE_CHECKING:
    from .answers import full_evidence, rating_headline, shown_rating
    from .event_text import STEP_LABELS, already_rated_text, progress_text, record_label, revised_text
    from .nodes import check_request
    from .session import EventHandler, Turn
    from .state import Intent


__getattr__ = lazy_attributes(__name__, _LAZY)

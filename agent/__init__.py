"""The LangGraph deliberation graph: typed state, one node per step, streamed events.

Public API: :class:`Agent` (open everything from a config and run turns), :func:`build_graph`
(the compiled default graph), the nodes in :mod:`.nodes` to compose your own graph, the
state (:class:`DeliberationState`, :func:`turn_input`) and the context (:class:`AgentContext`).
"""

from .context import AgentContext, open_context
from .graph import build_graph, route_intent
from .session import Agent, open_checkpointer
from .state import INTENTS, DeliberationState, turn_input

__all__ = [
           "INTENTS",
           "Agent",
           "AgentContext",
           "DeliberationState",
           "build_graph",
           "open_checkpointer",
           "open_context",
           "route_intent",
           "turn_input",
]

"""The deliberation graph: resolve -> (by intent) -> ... -> respond.

::

    START -> resolve -+- explain/predict -> recall -> reason -> predict -+
                      +- recommend ----------------------------------------+-> respond -> END
                      +- add_review -> update -----------------------------+
                      +- profile -> profile -------------------------------+
    (any step that fails goes straight to respond, which explains the error)

Example:
    >>> graph = build_graph()
    >>> sorted(graph.get_graph().nodes)[:3]
    ['__end__', '__start__', 'predict']
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from . import nodes
from .context import AgentContext
from .state import DeliberationState


def route_intent(state: DeliberationState) -> Literal["recall", "recommend", "update", "profile", "respond"]:
    """After ``resolve``: the intent's path, or straight to the answer on an error."""
    if state.get("error"):
        return "respond"
    return {"explain": "recall", "predict": "recall", "recommend": "recommend", "add_review": "update",
            "profile": "profile"}[state["intent"]]


def _unless_error(next_step: str):
    def route(state: DeliberationState) -> str:
        return "respond" if state.get("error") else next_step

    route.__name__ = f"to_{next_step}"
    return route


def build_graph(checkpointer: Any = None, *, name: str = "reason4rec") -> Any:
    """The compiled default graph; pass a LangGraph checkpointer to keep threads.

    Args:
        checkpointer: e.g. ``SqliteSaver`` (see :func:`~reason4rec.agent.session.open_checkpointer`),
            ``InMemorySaver``, or ``PostgresSaver`` for many users.
        name: The graph's name in traces and ``langgraph dev``.
    """
    builder = StateGraph(DeliberationState, context_schema=AgentContext)
    for node in (nodes.resolve, nodes.recall, nodes.reason, nodes.predict, nodes.recommend, nodes.update,
                 nodes.profile, nodes.respond):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "resolve")
    builder.add_conditional_edges("resolve", route_intent)
    builder.add_conditional_edges("recall", _unless_error("reason"), ["reason", "respond"])
    builder.add_conditional_edges("reason", _unless_error("predict"), ["predict", "respond"])
    for step in ("predict", "recommend", "update", "profile"):
        builder.add_edge(step, "respond")
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer, name=name)

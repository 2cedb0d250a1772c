"""The default graph for ``langgraph dev`` (see ``langgraph.json``).

Studio shows the graph's shape and state; running it there needs an :class:`AgentContext`
(open memory and backend), which scripts pass with ``graph.invoke(..., context=...)``.
"""

from .graph import build_graph

graph = build_graph()

"""A graph that moderates a review before it reaches the memory.

The default graph's ``update`` node writes any valid review. Here a ``moderate`` step runs first
and refuses reviews that look like spam (links, shouting, repeated words); only clean ones go on
to ``update``. The answer node is reason4rec's own.

    python examples/moderated_reviews.py --user U --item I --rating 4 --text "..." [--config r4r.toml]
"""

from __future__ import annotations

import argparse
import re

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from reason4rec.agent import AgentContext, DeliberationState, nodes, open_context, turn_input

_LINK = re.compile(r"https?://|www\.", re.I)


def moderate(state: DeliberationState, runtime: Runtime[AgentContext]) -> dict:
    """Refuse links, shouting and word spam; everything else passes unchanged."""
    text = (state.get("review") or {}).get("text", "")
    words = text.split()
    if _LINK.search(text):
        return {"error": "refused by moderation: reviews may not contain links"}
    letters = [c for c in text if c.isalpha()]
    if len(letters) > 20 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        return {"error": "refused by moderation: please do not shout"}
    if len(words) >= 8 and len(set(w.lower() for w in words)) / len(words) < 0.3:
        return {"error": "refused by moderation: the review repeats itself"}
    return {}


def build_moderated_graph(checkpointer=None):
    builder = StateGraph(DeliberationState, context_schema=AgentContext)
    builder.add_node("moderate", moderate)
    builder.add_node("update", nodes.update)
    builder.add_node("respond", nodes.respond)
    builder.add_edge(START, "moderate")
    builder.add_conditional_edges("moderate", lambda s: "respond" if s.get("error") else "update",
                                  ["update", "respond"])
    builder.add_edge("update", "respond")
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer)


def main() -> None:
    from reason4rec.config import load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", required=True)
    parser.add_argument("--item", required=True)
    parser.add_argument("--rating", type=float, required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    context = open_context(load_config(args.config))
    try:
        state = build_moderated_graph().invoke(
            turn_input("add_review", user_id=args.user, item_id=args.item,
                       review={"rating": args.rating, "text": args.text}), context=context)
    finally:
        context.close()
    print(state["answer"])
    raise SystemExit(2 if state.get("error") else 0)


if __name__ == "__main__":
    main()

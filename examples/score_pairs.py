"""Score a list of (user, item) pairs with your own small graph built from reason4rec's nodes.

A batch job needs no answer text and no intent routing: resolve -> recall -> reason -> predict,
then one CSV line per pair. The nodes are the same ones the default graph uses.

    python examples/score_pairs.py pairs.csv [--config r4r.toml] > scores.csv

``pairs.csv`` holds ``user_id,item_id`` lines (a header line is allowed).
"""

from __future__ import annotations

import argparse
import csv
import sys

from langgraph.graph import END, START, StateGraph

from reason4rec.agent import AgentContext, DeliberationState, nodes, open_context, turn_input
from reason4rec.config import load_config


def build_scoring_graph():
    """resolve -> recall -> reason -> predict, stopping at the first error."""
    builder = StateGraph(DeliberationState, context_schema=AgentContext)
    for node in (nodes.resolve, nodes.recall, nodes.reason, nodes.predict):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "resolve")
    for step, following in (("resolve", "recall"), ("recall", "reason"), ("reason", "predict")):
        builder.add_conditional_edges(step, lambda state, nxt=following: END if state.get("error") else nxt,
                                      [following, END])
    builder.add_edge("predict", END)
    return builder.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=argparse.FileType("r"))
    parser.add_argument("--config", default=None, help="reason4rec TOML config")
    args = parser.parse_args()
    rows = [row for row in csv.reader(args.pairs) if row and row[0] != "user_id"]
    context = open_context(load_config(args.config))
    graph = build_scoring_graph()
    out = csv.writer(sys.stdout)
    out.writerow(["user_id", "item_id", "expected_rating", "confidence", "reason", "error"])
    try:
        for user, item in rows:
            state = graph.invoke(turn_input("predict", user_id=user.strip(), item_id=item.strip()), context=context)
            rating = state.get("rating") or {}
            out.writerow([user, item, rating.get("expected", ""), rating.get("confidence", ""),
                          state.get("reason") or "", state.get("error") or ""])
    finally:
        context.close()


if __name__ == "__main__":
    main()

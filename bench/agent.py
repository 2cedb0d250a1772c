"""The agent on this machine: `why` latency (first token, whole answer, as a fresh process), `recommend -k 5`
(whole and first recommendation on screen), graph overhead.

Uses the configured memory (built by `./run.sh demo` or `reason4rec memory build`) and the shipped
adapters on the bundled base. Each (user, item) pair runs once to make its history summaries
(cached in the memory), then is timed; the same prompts are then run as bare expert calls
(Reasoner stream + Predictor) to measure what the graph adds.

    python bench/agent.py --pairs 8 --out artifacts/bench/agent-cpu.json
    REASON4REC_AGENT__REASON_ROUNDS=1 python bench/agent.py ...   # the configuration's settings apply
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/agent.json"))
    parser.add_argument("--fresh", type=int, default=3, help="`reason4rec why` as a new process, for this many pairs")
    args = parser.parse_args()

    from rich.console import Console
    from transformers.utils import logging as hf_logging

    from reason4rec.agent import Agent
    from reason4rec.agent.nodes import _target
    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    console = Console()
    config = load_config()
    agent = Agent.open(config, checkpoint=False)
    split = make_split(load_shipped(), "leave-last-out")
    pairs = [(t.review.user_id, t.review.item_id) for t in build_targets(split, "test", 3) if t.has_histories]
    pairs = pairs[: args.pairs]
    for user, item in pairs:  # warm: history summaries made once and kept in the memory
        agent.why(user, item)

    forget = getattr(agent.context.backend, "forget_kept", None) or (lambda: None)
    rows = []
    for user, item in pairs:
        forget()  # each question cold: nothing kept from the one before (a chat's follow-up is timed below)
        started, first_token = time.perf_counter(), None
        for event in agent.stream("explain", user_id=user, item_id=item):
            if event["type"] == "token" and first_token is None:
                first_token = time.perf_counter() - started
            if event["type"] == "done":
                state = event["state"]
        whole = time.perf_counter() - started
        context = _target(state, agent.context.category)
        forget()  # the bare calls start cold, as the question did (its prompt is kept now)
        bare_started = time.perf_counter()
        reason = "".join(agent.context.backend.stream("reasoner", reasoner_messages(context))).strip()
        agent.context.backend.rate("predictor", [predictor_messages(context, reason)])
        bare = time.perf_counter() - bare_started
        nodes = sum(state["timings"].values())
        rows.append({"user": user, "item": item, "first_token_s": round(first_token or whole, 3),
                     "grounding": (state.get("reason_check") or {}).get("grounding"),
                     "whole_s": round(whole, 3), "node_sum_s": round(nodes, 3), "bare_experts_s": round(bare, 3),
                     "reason_chars": len(state["reason"] or ""),
                     "node_s": {node: round(seconds, 3) for node, seconds in state["timings"].items()},
                     "drafts": (state.get("reason_check") or {}).get("drafts", 1)})
        console.print(rows[-1])

    repeat = _first_token(agent, *pairs[-1])  # the same question again: its prompt is kept (a chat's follow-up)
    same_user = _first_token(agent, pairs[-1][0], pairs[0][1])  # another item for that user: their part is kept

    started, first_candidate, recommended = time.perf_counter(), None, {}
    for event in agent.stream("recommend", user_id=pairs[0][0], k=args.k):
        if event["type"] == "candidate_rated" and first_candidate is None:  # on screen from here
            first_candidate = time.perf_counter() - started
        if event["type"] == "done":
            recommended = event["state"]
    recommend_s = time.perf_counter() - started
    agent_backend = type(agent.context.backend).__name__
    agent.close()  # the memory is one process's at a time: the fresh ones below open it
    fresh = []
    for user, item in pairs[: args.fresh]:  # a new process each: model, engine and memory load included
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "reason4rec", "why", "--user", user, "--item", item],
                       check=True, capture_output=True)
        fresh.append(round(time.perf_counter() - began, 3))
    median = lambda key: round(statistics.median(r[key] for r in rows), 3)  # noqa: E731
    whole, nodes, bare = median("whole_s"), median("node_sum_s"), median("bare_experts_s")
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "backend": agent_backend,
        "reason_drafts": config.agent.reason_drafts, "reason_rounds": config.agent.reason_rounds, "pairs": rows,
        "why_first_token_p50_s": median("first_token_s"), "why_whole_p50_s": whole,
        "graph_overhead_vs_nodes_pct": round(100 * (whole - nodes) / nodes, 2),
        "graph_vs_bare_experts_pct": round(100 * (whole - bare) / bare, 2),
        "recommend_k": args.k, "recommend_candidates": config.agent.candidates,
        "recommend_s": round(recommend_s, 1), "recommend_error": recommended.get("error"),
        "recommend_first_on_screen_s": round(first_candidate or recommend_s, 1),
        "fresh_process_why_s": fresh, "fresh_process_why_p50_s": statistics.median(fresh) if fresh else None,
        "grounding_of_reasons_shown": [r["grounding"] for r in rows],
        "why_again_first_token_s": repeat, "why_same_user_other_item_first_token_s": same_user,
    }
    console.print(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


def _first_token(agent, user: str, item: str) -> float:
    started, first = time.perf_counter(), None
    for event in agent.stream("explain", user_id=user, item_id=item):
        if event["type"] == "token" and first is None:
            first = time.perf_counter() - started
    return round(first if first is not None else time.perf_counter() - started, 3)


if __name__ == "__main__":
    main()

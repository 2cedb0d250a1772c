"""transformers vs the compiled engine (llama.cpp, each quantization), side by side in one run.

Each backend runs in its own process (so peak RSS is its own) on the shipped adapters, the bundled
base and the same real leave-last-out test targets, and reports: load time, prefill tokens/s,
end-to-end decode tokens/s at batch 1 and 8 (generated tokens / wall time, prompt included, as
the older latency table measured) and the decode steps alone (the time of a 1-token answer, i.e.
the prefill, taken off), Summarizer / Reasoner / Predictor per target at batch 1,
evaluation deliberations per minute (Reasoner + Predictor, batches of 8), the agent's `why`
(first token, whole answer, summaries already in the memory) and `recommend -k 5`, peak RSS.
The agent rows need the memory (`reason4rec memory build`, or a first `./run.sh demo`).

    python bench/engine.py --out artifacts/bench/engine-cpu.json
    python bench/engine.py --backends transformers,llamacpp-f16 --targets 4   # a quicker look

A backend spec is ``transformers`` or ``llamacpp-<quant>[-merged]`` (quant: f32, f16, bf16, q8_0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_BACKENDS = "transformers,llamacpp-f16,llamacpp-bf16,llamacpp-f16-merged,llamacpp-bf16-merged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=DEFAULT_BACKENDS)
    parser.add_argument("--targets", type=int, default=8, help="targets timed one by one (batch 1)")
    parser.add_argument("--eval-targets", type=int, default=32, help="targets of the deliberations/min run")
    parser.add_argument("--pairs", type=int, default=3, help="(user, item) pairs timed through the agent")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens of the decode test")
    parser.add_argument("--no-agent", action="store_true", help="skip why/recommend (no memory needed)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/engine.json"))
    parser.add_argument("--markdown", type=Path, help="print a results file as a Markdown table and stop")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.markdown:
        print(_markdown(json.loads(args.markdown.read_text())))
        return
    if args.one:
        print(json.dumps(_measure(args.one, args)), flush=True)
        return

    from rich.console import Console

    console = Console()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, load before start "
                          f"{os.getloadavg()[0]:.2f}", "backends": {}}
    for spec in args.backends.split(","):
        console.print(f"[bold]{spec}[/] ...")
        command = [sys.executable, __file__, "--one", spec, "--targets", str(args.targets),
                   "--eval-targets", str(args.eval_targets), "--pairs", str(args.pairs),
                   "--tokens", str(args.tokens)] + (["--no-agent"] if args.no_agent else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            console.print(f"[red]{spec} failed[/]: {done.stderr.strip().splitlines()[-3:]}")
            results["backends"][spec] = {"error": done.stderr.strip().splitlines()[-1:]}
            continue
        results["backends"][spec] = json.loads(done.stdout.strip().splitlines()[-1])
        console.print(results["backends"][spec])
    _table(console, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"written {args.out}")


def _config(spec: str):
    from reason4rec.config import load_config
    from reason4rec.experts.engines.gguf_export import QUANTS

    if spec == "transformers":
        return load_config(overrides={"agent": {"backend": "transformers"}})
    parts = spec.split("-")
    if parts[0] != "llamacpp" or len(parts) not in (2, 3) or parts[1] not in QUANTS:
        raise SystemExit(f"unknown backend spec {spec!r}")
    mode = "merged" if len(parts) == 3 and parts[2] == "merged" else "lora"
    return load_config(overrides={"agent": {"backend": "llamacpp"},
                                  "engine": {"quant": parts[1], "mode": mode}})


def _measure(spec: str, args: argparse.Namespace) -> dict:
    from transformers.utils import logging as hf_logging

    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import prompt_shape
    from reason4rec.experts.prompts import (
        predictor_messages,
        reasoner_messages,
        summarizer_messages,
    )
    from reason4rec.experts.shipping import adapter_dirs, summary_cache
    from reason4rec.experts.summaries import target_contexts

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    config = _config(spec)
    started = time.perf_counter()
    backend = local_backend(config, adapter_dirs(None, with_one_step=False), batch_size=8,
                            engine=config.agent.backend, status=lambda line: print(line, file=sys.stderr))
    load_s = time.perf_counter() - started
    if spec != "transformers" and type(backend).__name__ != "LlamaCppBackend":
        raise SystemExit(f"{spec}: the engine did not load")
    shape = prompt_shape(backend.experts.cards)
    dataset = load_shipped()
    split = make_split(dataset, "leave-last-out")
    count = max(args.eval_targets, args.targets, 8)
    targets = [t for t in build_targets(split, "test", shape.history_k) if t.has_histories][:count]
    contexts = target_contexts(backend, targets, summary_cache(config.home), dataset.category, dataset.title,
                               max_review_chars=shape.max_review_chars)
    tokenizer = backend.experts.tokenizer
    count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731

    # prefill: the Predictor's rating pass is one forward over the prompt. The engine keeps the prompt
    # prefix of its last call and would compute none of a repeated prompt: forget it before each timing.
    cold = getattr(backend, "forget_kept", None) or (lambda: None)
    prompt = predictor_messages(contexts[0], "none")
    backend.rate("predictor", [prompt])  # warm
    prefill = []
    for _ in range(3):
        cold()
        t0 = time.perf_counter()
        backend.rate("predictor", [prompt])
        prefill.append(time.perf_counter() - t0)
    from reason4rec.experts.backend import rating_prompt

    prompt_tokens = count_tokens(rating_prompt(tokenizer, prompt))

    decode, steps = {}, {}
    for batch in (1, 8):
        prompts = [reasoner_messages(c) for c in contexts[:batch]]
        cold()
        t0 = time.perf_counter()
        backend.generate("reasoner", prompts, max_new_tokens=1)
        first = time.perf_counter() - t0
        cold()
        t0 = time.perf_counter()
        outs = backend.generate("reasoner", prompts, max_new_tokens=args.tokens)
        elapsed = time.perf_counter() - t0
        made = sum(count_tokens(o) for o in outs)
        decode[f"batch_{batch}"] = round(made / elapsed, 1)
        steps[f"batch_{batch}"] = round((made - batch) / max(elapsed - first, 1e-9), 1)

    stages: dict[str, list[float]] = {"summarizer": [], "reasoner": [], "predictor": []}
    for target, ctx in list(zip(targets, contexts))[: args.targets]:
        review = target.user_history[-1]
        t0 = time.perf_counter()
        backend.generate("summarizer", [summarizer_messages(dataset.category, dataset.title(review.item_id),
                                                            review.rating, review.text, shape.max_review_chars)])
        t1 = time.perf_counter()
        [reason] = backend.generate("reasoner", [reasoner_messages(ctx)])
        t2 = time.perf_counter()
        backend.rate("predictor", [predictor_messages(ctx, reason)])
        t3 = time.perf_counter()
        stages["summarizer"].append(t1 - t0)
        stages["reasoner"].append(t2 - t1)
        stages["predictor"].append(t3 - t2)

    batch = contexts[: args.eval_targets]
    t0 = time.perf_counter()
    reasons = backend.generate("reasoner", [reasoner_messages(c) for c in batch])
    backend.rate("predictor", [predictor_messages(c, r) for c, r in zip(batch, reasons)])
    per_min = len(batch) * 60 / (time.perf_counter() - t0)

    result = {
        "describe": backend.experts.base.describe(), "load_s": round(load_s, 1),
        "prefill_tokens_per_s": round(prompt_tokens / statistics.median(prefill)), "prompt_tokens": prompt_tokens,
        "decode_tokens_per_s": decode,
        "decode_step_tokens_per_s": steps,
        "per_target_p50_s": {name: round(statistics.median(v), 2) for name, v in stages.items()},
        "deliberations_per_min": round(per_min, 1),
    }
    if not args.no_agent:
        result.update(_agent_rows(config, backend, args.pairs))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def _agent_rows(config, backend, pairs_wanted: int) -> dict:
    """`why` (after one warm-up per pair, so summaries are cached) and `recommend -k 5`."""
    from reason4rec.agent import Agent
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split

    agent = Agent.open(config, backend=backend, checkpoint=False)
    try:
        split = make_split(load_shipped(), "leave-last-out")
        pairs = [(t.review.user_id, t.review.item_id) for t in build_targets(split, "test", 3)
                 if t.has_histories][:pairs_wanted]
        first, whole = [], []
        for user, item in pairs:
            agent.why(user, item)
            started, first_token = time.perf_counter(), None
            for event in agent.stream("explain", user_id=user, item_id=item):
                if event["type"] == "token" and first_token is None:
                    first_token = time.perf_counter() - started
            whole.append(time.perf_counter() - started)
            first.append(first_token or whole[-1])
        agent.recommend(pairs[0][0], k=5)  # warm: candidate summaries
        started = time.perf_counter()
        answer = agent.recommend(pairs[0][0], k=5)
        recommend_s = time.perf_counter() - started
    finally:
        agent.close()
    return {"why_first_token_p50_s": round(statistics.median(first), 2),
            "why_whole_p50_s": round(statistics.median(whole), 2),
            "recommend_k5_s": round(recommend_s, 1), "recommend_error": answer.get("error")}


ROWS = [("load (s)", lambda r: r["load_s"]),
            ("prefill tok/s", lambda r: r["prefill_tokens_per_s"]),
            ("decode tok/s, batch 1", lambda r: r["decode_tokens_per_s"]["batch_1"]),
            ("decode tok/s, batch 8", lambda r: r["decode_tokens_per_s"]["batch_8"]),
            ("decode steps alone, tok/s, batch 1", lambda r: r.get("decode_step_tokens_per_s", {}).get("batch_1", "-")),
            ("decode steps alone, tok/s, batch 8", lambda r: r.get("decode_step_tokens_per_s", {}).get("batch_8", "-")),
            ("Summarizer per target (s)", lambda r: r["per_target_p50_s"]["summarizer"]),
            ("Reasoner per target (s)", lambda r: r["per_target_p50_s"]["reasoner"]),
            ("Predictor per target (s)", lambda r: r["per_target_p50_s"]["predictor"]),
            ("deliberations / min (batch 8)", lambda r: r["deliberations_per_min"]),
            ("why: first token (s)", lambda r: r.get("why_first_token_p50_s", "-")),
            ("why: whole answer (s)", lambda r: r.get("why_whole_p50_s", "-")),
            ("recommend -k 5 (s)", lambda r: r.get("recommend_k5_s", "-")),
            ("peak RSS (MB)", lambda r: r["peak_rss_mb"])]


def _table(console, results: dict) -> None:
    from rich.table import Table

    table = Table(title=f"experts on {results['machine']}")
    table.add_column("measure")
    specs = [s for s, r in results["backends"].items() if "error" not in r]
    for spec in specs:
        table.add_column(spec, justify="right")
    for label, read in ROWS:
        table.add_row(label, *[str(read(results["backends"][s])) for s in specs])
    console.print(table)


def _markdown(results: dict) -> str:
    specs = [s for s, r in results["backends"].items() if "error" not in r]
    lines = ["| measure | " + " | ".join(specs) + " |", "|---" * (len(specs) + 1) + "|"]
    for label, read in ROWS:
        cells = [str(read(results["backends"][s])) for s in specs]
        if any(cell != "-" for cell in cells):  # rows an older results file lacks are left out
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

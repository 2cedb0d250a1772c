"""Per-stage latency and throughput of the experts on transformers (bench/engine.py compares engines).

Reports p50/p95 latency of each stage at batch 1 (Summarizer on one review, Reasoner on one
target, Predictor on one target), deliberations per minute (Reasoner + Predictor, history
summaries cached, batch 1 and batch 8), and decode tokens/s at batch 1 and 8.

    python bench/latency.py --targets 8 --out artifacts/bench/latency-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=8, help="test targets timed one by one")
    parser.add_argument("--adapters", type=Path, default=None, help="adapters or run folder")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens for the decode test")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/latency.json"))
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table
    from transformers.utils import logging as hf_logging

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import prompt_shape
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages, render_chat, summarizer_messages
    from reason4rec.experts.shipping import adapter_dirs, summary_cache
    from reason4rec.experts.summaries import target_contexts
    from reason4rec.training.reports import progress_bars

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    console = Console()
    config = load_config()
    backend = local_backend(config, adapter_dirs(args.adapters, with_one_step=False), batch_size=8,
                            engine="transformers")  # it times the torch model directly; see bench/engine.py
    shape = prompt_shape(backend.experts.cards)
    k = shape.history_k
    dataset = load_shipped()
    split = make_split(dataset, "leave-last-out")
    targets = [t for t in build_targets(split, "test", k) if t.has_histories][: max(8, args.targets)]
    contexts = target_contexts(backend, targets, summary_cache(config.home, args.adapters), dataset.category,
                               dataset.title, max_review_chars=shape.max_review_chars)
    timed = list(zip(targets, contexts))[: args.targets]

    stages: dict[str, list[float]] = {"summarizer": [], "reasoner": [], "predictor": [], "deliberation": []}
    tokens = {"reasoner": 0}
    with progress_bars(console) as bars:
        bar = bars("batch-1 stages")
        for done, (target, ctx) in enumerate(timed, 1):
            review = target.user_history[-1]
            t0 = time.perf_counter()
            backend.generate("summarizer", [summarizer_messages(dataset.category, dataset.title(review.item_id),
                                                                review.rating, review.text,
                                                                shape.max_review_chars)])
            t1 = time.perf_counter()
            [reason] = backend.generate("reasoner", [reasoner_messages(ctx)])
            t2 = time.perf_counter()
            backend.rate("predictor", [predictor_messages(ctx, reason)])
            t3 = time.perf_counter()
            tokens["reasoner"] += len(backend.experts.tokenizer(reason)["input_ids"])
            stages["summarizer"].append(t1 - t0)
            stages["reasoner"].append(t2 - t1)
            stages["predictor"].append(t3 - t2)
            stages["deliberation"].append(t3 - t1)
            bar(done, len(timed))

        batch8 = contexts[:8]
        t0 = time.perf_counter()
        reasons = backend.generate("reasoner", [reasoner_messages(c) for c in batch8])
        backend.rate("predictor", [predictor_messages(c, r) for c, r in zip(batch8, reasons)])
        batch8_s = time.perf_counter() - t0

        decode = {}
        for batch in (1, 8):
            prompts = [reasoner_messages(c) for c in contexts[:batch]]
            tok = backend.experts.tokenizer
            ids = tok(render_chat(tok, prompts[0]), add_special_tokens=False)["input_ids"]
            t0 = time.perf_counter()
            with torch.inference_mode(), backend.experts.use("reasoner") as model:
                model(input_ids=torch.tensor([ids]))
            prefill_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            outs = backend.generate("reasoner", prompts, max_new_tokens=args.tokens)
            elapsed = time.perf_counter() - t0
            generated = sum(len(tok(o)["input_ids"]) for o in outs)
            decode[batch] = {"tokens_per_s": generated / elapsed, "prompt_tokens": len(ids),
                             "prefill_tokens_per_s": len(ids) / prefill_s}

    rows = {name: {"p50_s": statistics.median(v), "p95_s": _pct(v, 0.95), "n": len(v)} for name, v in stages.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
                   f"{torch.get_num_threads()}, {backend.experts.base.describe()}",
        "history_k": k, "stages": rows,
        "deliberations_per_min": {"batch_1": 60 / statistics.mean(stages["deliberation"]),
                                  "batch_8": 8 * 60 / batch8_s},
        "decode": decode, "reasoner_tokens_mean": tokens["reasoner"] / len(timed),
    }
    table = Table(title=f"reason4rec latency ({result['machine']})")
    for col in ("measure", "p50", "p95", "n"):
        table.add_column(col)
    for name, row in rows.items():
        table.add_row(f"{name} (batch 1)", f"{row['p50_s']:.2f} s", f"{row['p95_s']:.2f} s", str(row["n"]))
    for name, value in result["deliberations_per_min"].items():
        table.add_row(f"deliberations/min, {name}", f"{value:.1f}", "", "")
    for batch, row in decode.items():
        table.add_row(f"decode tok/s, batch {batch}", f"{row['tokens_per_s']:.1f}", "", "")
    table.add_row("prefill tok/s", f"{decode[1]['prefill_tokens_per_s']:.0f}", "", f"{decode[1]['prompt_tokens']} tok")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()

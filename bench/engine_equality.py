"""Do the compiled engine's answers equal transformers'? Fixed real prompts per expert, greedy.

For N real leave-last-out test targets (the first N with histories) and their users' latest
history reviews: the Summarizer's summaries and the Reasoner's reasons from transformers fp32
(the reference) and from llama.cpp at each quantization, all in batches of 8; the share of
exactly equal texts and the tokens they share before the first difference; and the Predictor's
expected rating on the same prompts (analysis = the reference reason), largest and mean
absolute difference.

    python bench/engine_equality.py --n 50 --quants f16,bf16,bf16-merged,q8_0 \\
        --out artifacts/bench/engine-equality-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--quants", default="f16,bf16,q8_0",
                        help="engine weights to compare, each <quant>[-merged] (merged: adapters merged in)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/engine-equality.json"))
    args = parser.parse_args()

    from rich.console import Console
    from transformers.utils import logging as hf_logging

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import prompt_shape
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages, summarizer_messages
    from reason4rec.experts.shipping import adapter_dirs, summary_cache
    from reason4rec.experts.summaries import target_contexts

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    console = Console()
    dirs = adapter_dirs(None, with_one_step=False)
    config = load_config()
    reference = local_backend(config, dirs, engine="transformers")
    shape = prompt_shape(reference.experts.cards)
    dataset = load_shipped()
    split = make_split(dataset, "leave-last-out")
    targets = [t for t in build_targets(split, "test", shape.history_k) if t.has_histories][: args.n]
    contexts = target_contexts(reference, targets, summary_cache(config.home), dataset.category, dataset.title,
                               max_review_chars=shape.max_review_chars)
    reviews = [t.user_history[-1] for t in targets]
    prompts = {
        "summarizer": [summarizer_messages(dataset.category, dataset.title(r.item_id), r.rating, r.text,
                                           shape.max_review_chars) for r in reviews],
        "reasoner": [reasoner_messages(c) for c in contexts],
    }

    def answers(backend) -> dict:
        started = time.perf_counter()
        texts = {expert: backend.generate(expert, batch) for expert, batch in prompts.items()}
        return {"texts": texts, "seconds": round(time.perf_counter() - started, 1)}

    console.print(f"transformers fp32 on {len(targets)} targets ...")
    truth = answers(reference)
    rated = [predictor_messages(c, r) for c, r in zip(contexts, truth["texts"]["reasoner"])]
    truth_ratings = [d.expected for d in reference.rate("predictor", rated)]
    tokenizer = reference.experts.tokenizer
    del reference

    report: dict = {"targets": len(targets), "reference": "transformers fp32, batches of 8",
                    "reference_seconds": truth["seconds"], "engines": {}}
    for quant in args.quants.split(","):
        console.print(f"llama.cpp {quant} ...")
        weights, _, merged = quant.partition("-")
        engine_config = load_config(overrides={"engine": {"quant": weights, "mode": merged or "lora"}})
        engine = local_backend(engine_config, dirs, engine="llamacpp")
        if type(engine).__name__ != "LlamaCppBackend":
            raise SystemExit("the engine did not load")
        got = answers(engine)
        ratings = [d.expected for d in engine.rate("predictor", rated)]
        engine.close()
        row: dict = {"seconds": got["seconds"]}
        for expert, texts in got["texts"].items():
            ref = truth["texts"][expert]
            same = [a == b for a, b in zip(texts, ref)]
            shared = [_shared_prefix(tokenizer, a, b) for a, b in zip(texts, ref)]
            row[expert] = {"exact_match": round(sum(same) / len(same), 3),
                           "shared_prefix_tokens_mean": round(statistics.mean(shared), 1),
                           "example_differs": next(({"engine": a, "transformers": b}
                                                    for a, b, s in zip(texts, ref, same) if not s), None)}
        gaps = [abs(a - b) for a, b in zip(ratings, truth_ratings)]
        row["predictor"] = {"max_abs_diff": round(max(gaps), 4), "mean_abs_diff": round(statistics.mean(gaps), 4)}
        report["engines"][quant] = row
        console.print({quant: {k: v for k, v in row.items()}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.print(f"written {args.out}")


def _shared_prefix(tokenizer, a: str, b: str) -> int:
    from reason4rec.experts.engines.llamacpp import common_length

    return common_length(*(tokenizer(text, add_special_tokens=False)["input_ids"] for text in (a, b)))


if __name__ == "__main__":
    main()

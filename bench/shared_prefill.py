"""Drafts of one prompt with and without a shared prefill (llama.cpp).

The agent drafts 3 more reasons for each question in one sampled batch; the rows of one prompt
can prefill it once and share its KV cells (``LlamaCppBackend.share_prompts``). This times
``sample`` on the same targets both ways, alternating, on the shipped adapters.

    python bench/shared_prefill.py --targets 8 --runs 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=Path("artifacts/bench/eval-leave-last-out-full"))
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--drafts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from reason4rec.config import Expert, load_config
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.prompts import reasoner_messages
    from reason4rec.experts.shipping import adapter_dirs
    from reason4rec.training.eval_replay import EvalReplay

    replay = EvalReplay.open(args.eval)
    backend = open_llamacpp_backend(load_config(), adapter_dirs(with_one_step=False), batch_size=8)
    asks = [reasoner_messages(context) for context in replay.contexts[:args.targets]]
    backend.sample(Expert.REASONER, asks[:1], count=1, temperature=0.7, seed=1, max_new_tokens=4)  # warm up
    seconds: dict[str, list[float]] = {"shared": [], "separate": []}
    tokens: dict[str, int] = {}
    tokenizer = backend.experts.tokenizer
    for _ in range(args.runs):
        for name in seconds:
            backend.share_prompts = name == "shared"
            started = time.perf_counter()
            drafts = backend.sample(Expert.REASONER, asks, count=args.drafts, temperature=0.7, seed=5)
            seconds[name].append(round(time.perf_counter() - started, 2))
            tokens[name] = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"])
                               for row in drafts for text in row)
    report = {"targets": len(asks), "drafts": args.drafts, "seconds": seconds, "tokens_written": tokens,
              "tokens_per_second": {name: round(tokens[name] * len(times) / sum(times), 1)
                                    for name, times in seconds.items()}}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Training examples per hour, per expert, for today's setup and the top-layers engine.

"Today" is what trained the shipped adapters: the transformers Trainer, LoRA on every layer,
full-vocabulary logits at every position, gradient checkpointing. "top-layers" is
``training/top_layers.py``: LoRA on the top N layers (the frozen rest computed once per example
and reused across epochs), logits only where the loss is, no checkpointing, length-grouped batches.

The examples are real prompts of each expert, built from the shipped training split with the
offline teacher (history K=5, as in the cpu-full recipe), so lengths are what training sees.
Every (setup, expert) runs in its own process; the time includes loading the model and, for
top-layers, the cached pass. Run it on an idle machine and say what else was running.

    python bench/train_speed.py --out artifacts/bench/train-speed-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXPERTS = ("summarizer", "reasoner", "predictor")
"""The reward model has the Predictor's prompt and loss, so the predictor row stands for both."""


def build_examples(expert: str, count: int, history_k: int = 5):
    """``count`` real training examples of ``expert`` (offline teacher targets)."""
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.prompts import predictor_messages, rating_response, reasoner_messages, summarizer_messages
    from reason4rec.experts.summaries import history_reviews, target_context
    from reason4rec.training.sft_types import SFTExample
    from reason4rec.training.teachers import OfflineTeacher

    dataset, teacher = load_shipped(), OfflineTeacher()
    split = make_split(dataset, "leave-last-out", 2020)
    if expert == "summarizer":
        reviews = [r for r in split.train if r.text.strip()][:count]
        return [SFTExample(summarizer_messages(dataset.category, dataset.title(r.item_id), r.rating, r.text, 400),
                           teacher.summarize(dataset.category, "", r.rating, r.text)) for r in reviews]
    targets = [t for t in build_targets(split, "train", history_k) if t.has_histories][:count]
    summaries = {r.review_id: teacher.summarize(dataset.category, "", r.rating, r.text)
                 for r in history_reviews(targets)}
    contexts = [target_context(t, summaries, dataset.category, dataset.title) for t in targets]
    if expert == "reasoner":
        return [SFTExample(reasoner_messages(c), teacher.reason(c, t.review.text, 0))
                for t, c in zip(targets, contexts)]
    return [SFTExample(predictor_messages(c, teacher.reason(c, t.review.text, 0)), rating_response(t.review.rating))
            for t, c in zip(targets, contexts)]


def run_one(setup: str, expert: str, count: int, epochs: float, layers: int, batch: int) -> dict:
    from transformers.utils import logging as hf_logging

    from reason4rec.config import load_config
    from reason4rec.experts.loading import fresh_base
    from reason4rec.training.sft import train_adapter
    from reason4rec.training.sft_types import LoraSettings, TrainSettings

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    config = load_config()
    examples = build_examples(expert, count)
    max_length = 320 if expert == "summarizer" else 768
    if setup == "today":
        lora = LoraSettings()
        settings = TrainSettings(epochs=epochs, batch_size=batch, max_length=max_length, save_every=100_000)
    else:
        lora = LoraSettings(layers=layers)
        loss = "response" if expert != "predictor" else "rating-stars"
        settings = TrainSettings(epochs=epochs, batch_size=batch, max_length=max_length, save_every=100_000,
                                 engine="top-layers", loss=loss, gradient_checkpointing=False)
    out = Path(tempfile.mkdtemp(prefix=f"speed-{setup}-{expert}-"))
    started = time.perf_counter()
    result = train_adapter(lambda q: fresh_base(config, load_in_4bit=q), examples, lora, settings, out)
    seconds = time.perf_counter() - started
    seen = len(examples) * epochs
    return {"setup": setup, "expert": expert, "examples": len(examples), "epochs": epochs,
            "lora_layers": layers if setup != "today" else "all", "loss": settings.loss,
            "tokens_per_example": round(result.tokens / len(examples)), "seconds": round(seconds, 1),
            "examples_per_hour": round(seen / seconds * 3600),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--today-examples", type=int, default=16, help="examples per expert, today's setup")
    parser.add_argument("--fast-examples", type=int, default=64, help="examples per expert, top-layers")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--experts", nargs="+", default=list(EXPERTS), choices=EXPERTS)
    parser.add_argument("--note", default="idle machine", help="what else was running")
    parser.add_argument("--one", nargs=2, metavar=("SETUP", "EXPERT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/train-speed-cpu.json"))
    args = parser.parse_args()
    if args.one:
        setup, expert = args.one
        count = args.today_examples if setup == "today" else args.fast_examples
        print(json.dumps(run_one(setup, expert, count, args.epochs, args.layers, args.batch)))
        return
    rows = []
    for expert in args.experts:
        for setup in ("today", "top-layers"):
            done = subprocess.run([sys.executable, __file__, "--one", setup, expert, *_passed(args)],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{setup} / {expert} failed:\n{done.stderr[-2000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    report = {"machine": f"{os.cpu_count()} CPU cores", "note": args.note, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| expert | today (ex/h) | top-layers (ex/h) | speed-up |")
    print("|---|---|---|---|")
    for expert in args.experts:
        today, fast = (next(r for r in rows if r["expert"] == expert and r["setup"] == s)
                       for s in ("today", "top-layers"))
        print(f"| {expert} | {today['examples_per_hour']:,} | {fast['examples_per_hour']:,} | "
              f"{fast['examples_per_hour'] / today['examples_per_hour']:.1f}x |")


def _passed(args: argparse.Namespace) -> list[str]:
    return ["--today-examples", str(args.today_examples), "--fast-examples", str(args.fast_examples),
            "--epochs", str(args.epochs), "--layers", str(args.layers), "--batch", str(args.batch)]


if __name__ == "__main__":
    main()

"""Which loss and how many LoRA layers for the rating experts: chosen on validation, not by taste.

Trains the reward model (the Predictor's prompt and answer, the user's real review as analysis,
history summaries from the offline teacher, history K=5) on the same training targets with each
variant, then scores the same validation targets with the transformers backend (the exact code
path inference uses) and reports MAE and RMSE, with the real review and with no analysis.

Variants: full-vocabulary cross-entropy at the star, cross-entropy over the five star tokens,
and that plus the squared expected-rating error; LoRA on the top 4 / 8 / 16 layers and on all
30 (nothing cached: about 3x slower).

    python bench/rating_objectives.py --train 600 --valid 300 --out bench/results/rating-objectives-cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = {
    "vocab-L8": ("rating-vocab", 8),
    "stars-L8": ("rating-stars", 8),
    "stars+expected-L8": ("rating-stars-expected", 8),
    "stars-L4": ("rating-stars", 4),
    "stars-L16": ("rating-stars", 16),
    "stars-all": ("rating-stars", None),  # all-layer LoRA: the reference the layer count is chosen against
}


def _targets(part: str, count: int, history_k: int = 5):
    from reason4rec.data import load_shipped
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.summaries import history_reviews, target_context
    from reason4rec.training.teachers import OfflineTeacher

    dataset, teacher = load_shipped(), OfflineTeacher()
    split = make_split(dataset, "leave-last-out", 2020)
    targets = [t for t in build_targets(split, part, history_k) if t.has_histories][:count]
    summaries = {r.review_id: teacher.summarize(dataset.category, "", r.rating, r.text)
                 for r in history_reviews(targets)}
    return [(t, target_context(t, summaries, dataset.category, dataset.title)) for t in targets]


def run_variant(name: str, train: int, valid: int, epochs: float) -> dict:
    from transformers.utils import logging as hf_logging

    from reason4rec.config import load_config
    from reason4rec.experts.adapters import AdapterCard, base_fingerprint
    from reason4rec.experts.loading import fresh_base, transformers_backend
    from reason4rec.experts.prompts import predictor_messages, rating_response
    from reason4rec.training.sft import LoraSettings, SFTExample, TrainSettings, train_adapter

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    loss, layers = VARIANTS[name]
    config = load_config()
    examples = [SFTExample(predictor_messages(c, t.review.text or None), rating_response(t.review.rating))
                for t, c in _targets("train", train)]
    out = Path(tempfile.mkdtemp(prefix=f"objective-{name}-"))
    settings = TrainSettings(engine="top-layers", loss=loss, epochs=epochs, batch_size=8, max_length=768,
                             learning_rate=3e-4, gradient_checkpointing=False, save_every=100_000)
    result = train_adapter(lambda q: fresh_base(config), examples, LoraSettings(layers=layers), settings, out)
    base = fresh_base(config)
    AdapterCard("reward", config.base_model.name_or_path, base_fingerprint(base.model)).save(out / "adapter")
    backend = transformers_backend(config, {"reward": out / "adapter"}, batch_size=8)
    held_out = _targets("valid", valid)
    truth = [t.review.rating for t, _ in held_out]
    scores = {}
    for label, analysis in (("real review", lambda t: t.review.text or None), ("no analysis", lambda t: None)):
        predicted = [d.expected for d in backend.rate("reward", [predictor_messages(c, analysis(t))
                                                                 for t, c in held_out])]
        errors = [p - y for p, y in zip(predicted, truth)]
        scores[label] = {"mae": round(sum(map(abs, errors)) / len(errors), 4),
                         "rmse": round(math.sqrt(sum(e * e for e in errors) / len(errors)), 4),
                         "mean_prediction": round(sum(predicted) / len(predicted), 3)}
    return {"variant": name, "loss": loss, "lora_layers": layers, "train_targets": len(examples),
            "valid_targets": len(held_out), "epochs": epochs, "train_seconds": result.seconds,
            "final_loss": round(result.final_loss or 0.0, 4), **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--valid", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--note", default="idle machine", help="what else was running")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results/rating-objectives-cpu.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.one, args.train, args.valid, args.epochs)))
        return
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--one", name, "--train", str(args.train),
                               "--valid", str(args.valid), "--epochs", str(args.epochs)],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-2000:]}")
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]),
                     "wall_seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
        args.out.write_text(json.dumps({"note": args.note, "rows": rows}, indent=2) + "\n")  # kept as it goes
    print("| variant | MAE (real review) | RMSE | MAE (no analysis) | RMSE |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['real review']['mae']:.3f} | {r['real review']['rmse']:.3f} | "
              f"{r['no analysis']['mae']:.3f} | {r['no analysis']['rmse']:.3f} |")


if __name__ == "__main__":
    main()

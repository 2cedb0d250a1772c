"""Which loss and how many LoRA layers for the rating experts: chosen on validation, not by taste.

Trains the reward model (the Predictor's prompt and answer, the user's real review as analysis,
history summaries from the offline teacher, history K=5) on the same training targets with each
variant, then scores the same validation targets with the transformers backend (the exact code
path inference uses) and reports MAE and RMSE, with the real review and with no analysis.

Variants: full-vocabulary cross-entropy at the star, cross-entropy over the five star tokens,
and that plus the squared expected-rating error; LoRA on the top 4 / 8 / 16 layers and on all
30 (nothing cached: about 3x slower). Each variant's validation predictions are kept, and every
variant is compared with the recipe's current choice (``stars-L8``) by a paired bootstrap on the
same targets, so a difference is called only when its interval excludes zero. Variants already in
``--out`` with the same sizes are not trained again: an interrupted run continues.

    python bench/rating_objectives.py --train 600 --valid 300 --out artifacts/bench/rating-objectives-cpu.json
    python bench/rating_objectives.py --variants stars-L8 vocab-L8 stars+expected-L8 --train 300 --valid 200
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
    from reason4rec.experts.loading import fresh_base, transformers_backend
    from reason4rec.experts.model.adapters import AdapterCard, base_fingerprint
    from reason4rec.experts.prompts import predictor_messages, rating_response
    from reason4rec.training.sft import train_adapter
    from reason4rec.training.sft_types import LoraSettings, SFTExample, TrainSettings

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
                         "mean_prediction": round(sum(predicted) / len(predicted), 3),
                         "predictions": [round(p, 4) for p in predicted]}
    return {"variant": name, "loss": loss, "lora_layers": layers, "train_targets": len(examples),
            "valid_targets": len(held_out), "epochs": epochs, "train_seconds": result.seconds,
            "final_loss": round(result.final_loss or 0.0, 4), "true": truth, **scores}


REFERENCE = "stars-L8"
"""The recipe's current choice (``cpu-full``): what every other variant must beat."""
SETTINGS = ("real review", "no analysis")


def compare(rows: list[dict]) -> dict:
    """Each variant minus the reference, per setting: [value, low, high] of a paired bootstrap."""
    from reason4rec.training.confidence import paired_difference

    by_name = {r["variant"]: r for r in rows}
    reference = by_name.get(REFERENCE)
    if reference is None:
        return {}
    out = {}
    for name, row in by_name.items():
        if name == REFERENCE or row["true"] != reference["true"]:
            continue
        out[name] = {setting: {metric: paired_difference(row[setting]["predictions"],
                                                         reference[setting]["predictions"], row["true"],
                                                         metric).as_list() for metric in ("mae", "rmse")}
                     for setting in SETTINGS}
    return out


def _word(estimate: list[float]) -> str:
    value, low, high = estimate
    verdict = "better" if high < 0 else "worse" if low > 0 else "within noise"
    return f"{value:+.3f} ({low:+.3f}, {high:+.3f}) {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--valid", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--note", default="not stated",
                        help="what else was running (say 'idle machine' only when it was)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/rating-objectives-cpu.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.one, args.train, args.valid, args.epochs)))
        return
    sizes = {"train_targets": args.train, "valid_targets": args.valid, "epochs": args.epochs}
    rows = _kept_rows(args.out, sizes)
    order = sorted(args.variants, key=lambda name: name != REFERENCE)  # the reference first
    for name in order:
        if any(r["variant"] == name for r in rows):
            print(f"{name}: kept from {args.out}", flush=True)
            continue
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--one", name, "--train", str(args.train),
                               "--valid", str(args.valid), "--epochs", str(args.epochs)],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-2000:]}")
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]),
                     "wall_seconds": round(time.perf_counter() - started, 1), "note": args.note})
        print({k: v for k, v in rows[-1].items() if k != "true"} | {s: {k: v for k, v in rows[-1][s].items()
                                                                          if k != "predictions"} for s in SETTINGS},
              flush=True)
        _save(args.out, sizes, rows)  # kept as it goes
    print("| variant | MAE (real review) | RMSE | MAE (no analysis) | RMSE |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['real review']['mae']:.3f} | {r['real review']['rmse']:.3f} | "
              f"{r['no analysis']['mae']:.3f} | {r['no analysis']['rmse']:.3f} |")
    for name, settings in compare(rows).items():
        for setting, metrics in settings.items():
            print(f"{name} minus {REFERENCE}, {setting}: MAE {_word(metrics['mae'])}, RMSE {_word(metrics['rmse'])}")


def _kept_rows(path: Path, sizes: dict) -> list[dict]:
    """The variants a previous run of the same sizes finished (none if the file is another run's)."""
    if not path.is_file():
        return []
    try:
        kept = json.loads(path.read_text())
    except json.JSONDecodeError:
        sys.exit(f"{path} is not valid JSON (a torn write?): move it away or pass another --out")
    if kept.get("sizes") != sizes:
        sys.exit(f"{path} holds a run with other sizes ({kept.get('sizes')}): pass another --out")
    return list(kept.get("rows", []))


def _save(path: Path, sizes: dict, rows: list[dict]) -> None:
    from reason4rec.training.eval_run import write_atomically

    write_atomically(path, json.dumps({"sizes": sizes, "reference": REFERENCE, "comparison": compare(rows),
                                       "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

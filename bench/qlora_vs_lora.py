"""LoRA (fp32 base) against QLoRA (NF4 base via bitsandbytes) on this machine, same data and steps.

Each mode runs in its own process (so peak memory is its own): a few optimizer steps on real
Summarizer training examples, then greedy decode speed at batch 1 and 8.

    python bench/qlora_vs_lora.py --steps 6 --out artifacts/bench/qlora-vs-lora-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _one(mode: str, steps: int, batch: int) -> dict:
    import tempfile

    from transformers.utils import logging as hf_logging

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.experts.backend import LocalBackend
    from reason4rec.experts.loading import fresh_base
    from reason4rec.experts.model.adapters import AdapterCard, ExpertModel, base_fingerprint
    from reason4rec.experts.prompts import summarizer_messages
    from reason4rec.training.sft import train_adapter
    from reason4rec.training.sft_types import LoraSettings, SFTExample, TrainSettings
    from reason4rec.training.teachers import OfflineTeacher

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    config = load_config()
    qlora = mode == "qlora"
    reviews = [r for r in load_shipped().reviews if r.text.strip()][: steps * batch]
    teacher = OfflineTeacher()
    examples = [SFTExample(summarizer_messages("Musical Instruments", r.item_id, r.rating, r.text, 400),
                           teacher.summarize("Musical Instruments", r.item_id, r.rating, r.text)) for r in reviews]
    out = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
    settings = TrainSettings(epochs=1, batch_size=batch, max_length=320, qlora=qlora, learning_rate=3e-4,
                             save_every=10_000)
    result = train_adapter(lambda q: fresh_base(config, load_in_4bit=q), examples, LoraSettings(), settings, out)
    base = fresh_base(config, load_in_4bit=qlora)
    AdapterCard("summarizer", config.base_model.name_or_path, base_fingerprint(base.model)).save(out / "adapter")
    backend = LocalBackend(ExpertModel.load(base, {"summarizer": out / "adapter"}), batch_size=8)
    decode = {}
    for size in (1, 8):
        prompts = [e.messages for e in examples[:size]]
        started = time.perf_counter()
        texts = backend.generate("summarizer", prompts, max_new_tokens=32)
        elapsed = time.perf_counter() - started
        decode[f"batch_{size}_tok_s"] = sum(len(base.tokenizer(t)["input_ids"]) for t in texts) / elapsed
    return {"mode": mode, "steps": result.steps, "batch": batch, "s_per_step": result.seconds / result.steps,
            "first_loss": result.first_loss, "final_loss": result.losses[-1] if result.losses else None,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, **decode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--mode", choices=["lora", "qlora"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/qlora-vs-lora.json"))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(_one(args.mode, args.steps, args.batch)))
        return
    rows = []
    for mode in ("lora", "qlora"):
        done = subprocess.run([sys.executable, __file__, "--mode", mode, "--steps", str(args.steps),
                               "--batch", str(args.batch)], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"| mode | s/step (batch {args.batch:d}) | loss first -> last | peak RSS | decode tok/s b1 / b8 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['s_per_step']:.1f} | {r['first_loss']:.2f} -> {r['final_loss']:.2f} | "
              f"{r['peak_rss_gb']:.1f} GB | {r['batch_1_tok_s']:.1f} / {r['batch_8_tok_s']:.1f} |")


if __name__ == "__main__":
    main()

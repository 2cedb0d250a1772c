"""Issue 35, item 3: does the Reasoner's verdict read the evidence it is shown, or only its prior?

Every reason the shipped Reasoner writes opens "In past reviews the user ..." and its next word
carries the verdict it learnt from the teacher's template: "valued" (it should suit them), "wrote"
(a mixed match), "looked" (for something it lacks: a poor match). So one forward pass per target
gives the Reasoner's own odds of a negative verdict before it has written anything else:
``log P(" looked") - log P(" valued")`` at that position, on the prompt the agent builds (history
lines with their stars, as the shipped card asks).

If the verdict followed the stars it is shown, those odds would separate the targets the user
then rated 1-2 stars from those rated 4-5 (AUC well above 0.5), and a threshold fitted per
category could set the verdict without retraining. This prints that AUC beside the held-out bias
model's on the same targets (what the ratings alone can separate), for every 1-2 star target of
an evaluation folder plus a seeded sample of the others.

    .venv/bin/python bench/verdict_word.py --eval artifacts/bench/eval-leave-last-out-full \\
        --others 150 --out artifacts/bench/verdict-word-instruments.json
    REASON4REC_DATA__REVIEWS_PATH=../shared/data/extra/Magazine_Subscriptions_5.json.gz \\
    REASON4REC_DATA__META_PATH=../shared/data/extra/meta_Magazine_Subscriptions.json.gz \\
    REASON4REC_DATA__ON_DUPLICATE=keep-latest .venv/bin/python bench/verdict_word.py \\
        --eval artifacts/bench/eval-multi-magazine-200 --others 400 --out artifacts/bench/verdict-word-magazines.json

Each target's log-probabilities are kept beside the result (``.rows.jsonl``, by target and
adapter version), so a rerun scores only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OPENING = "In past reviews the user"
"""What every shipped reason begins with; the next word is the verdict's first."""
VERDICT_WORDS = {"valued": 1, "wrote": 0, "looked": -1}
"""The teacher template's first verdict word (``training/teachers.py``) and the verdict it opens."""


def auc(unhappy: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(unhappy, score)), 4)


def word_logprobs(adapter: Path, prompts: list[list[dict[str, str]]], config) -> list[dict[str, float]]:
    """Each prompt's log-probability of every verdict word right after :data:`OPENING`."""
    import torch

    from reason4rec.config import Expert
    from reason4rec.experts.loading import transformers_backend
    from reason4rec.experts.prompts import render_chat

    backend = transformers_backend(config, {Expert.REASONER: adapter})
    tokenizer = backend.experts.tokenizer
    ids = {word: tokenizer(" " + word, add_special_tokens=False)["input_ids"][0] for word in VERDICT_WORDS}
    rows = []
    for done, messages in enumerate(prompts, 1):
        text = render_chat(tokenizer, messages) + OPENING
        tokens = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode(), backend.experts.use(Expert.REASONER) as model:
            logprobs = torch.log_softmax(model(input_ids=tokens, logits_to_keep=1).logits[0, -1].float(), -1)
        rows.append({word: round(float(logprobs[token]), 5) for word, token in ids.items()})
        if done % 20 == 0 or done == len(prompts):
            print(f"{done} / {len(prompts)} targets", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, required=True, help="an evaluation folder (its targets and summaries)")
    parser.add_argument("--adapters", type=Path, default=None, help="experts (default: the shipped ones)")
    parser.add_argument("--others", type=int, default=150, help="targets rated 3-5 stars, a seeded sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from collab_predictor import contexts_of
    from reasoner_stars import held_out_bias

    from reason4rec.config import load_config
    from reason4rec.experts import adapter_dirs, adapter_version, reasoner_messages
    from reason4rec.experts.model.adapters import AdapterCard
    from reason4rec.training.eval_replay import EvalReplay

    config = load_config()
    adapter = adapter_dirs(args.adapters, with_one_step=False)["reasoner"]
    version = adapter_version(adapter)
    stars_shown = bool(AdapterCard.load(adapter).data.get("history_stars"))
    replay = EvalReplay.open(args.eval, config)
    contexts = contexts_of(replay, config)
    low = [i for i, t in enumerate(replay.targets) if t.review.rating <= 2]
    rest = [i for i, t in enumerate(replay.targets) if t.review.rating > 2]
    chosen = sorted(low + random.Random(args.seed).sample(rest, min(args.others, len(rest))))
    saved_path = args.out.with_suffix(".rows.jsonl")
    saved = {}
    if saved_path.is_file():
        for line in saved_path.read_text().splitlines():
            row = json.loads(line)
            if row["version"] == version:
                saved[row["target"]] = row
    todo = [i for i in chosen if i not in saved]
    if todo:
        prompts = [reasoner_messages(replace(contexts[i], reasoner_stars=stars_shown)) for i in todo]
        for i, found in zip(todo, word_logprobs(adapter, prompts, config)):
            saved[i] = {"target": i, "version": version, "true": replay.targets[i].review.rating, **found}
        saved_path.write_text("".join(json.dumps(saved[i]) + "\n" for i in sorted(saved)))
    rows = [saved[i] for i in chosen]
    stars = np.array([r["true"] for r in rows])
    scored = stars != 3
    unhappy = (stars[scored] <= 2).astype(int)
    negative_odds = np.array([r["looked"] - r["valued"] for r in rows])[scored]
    not_valued = np.array([np.logaddexp(r["looked"], r["wrote"]) - r["valued"] for r in rows])[scored]
    estimate, _ = held_out_bias(replay, config)
    bias = -estimate[chosen][scored]
    probability = np.exp(np.array([r["valued"] for r in rows]))
    result = {
        "eval": str(args.eval), "reasoner": version, "history_stars_shown": stars_shown,
        "targets": len(chosen), "unhappy": int(unhappy.sum()), "happy": int((1 - unhappy).sum()),
        "auc_negative_odds": auc(unhappy, negative_odds), "auc_not_valued": auc(unhappy, not_valued),
        "auc_bias_model_same_targets": auc(unhappy, bias),
        "p_valued_mean_unhappy": round(float(probability[scored][unhappy == 1].mean()), 4),
        "p_valued_mean_happy": round(float(probability[scored][unhappy == 0].mean()), 4),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Issue 35, item 3, the cheapest test: does a Reasoner that sees the stars say "not for them" to unhappy buyers?

Today's Reasoner sees both histories without ratings (the method's view) and says "it should suit
them well" to nearly every buyer who then rated 1-2 stars, so its reasons cannot carry a rating
signal. This trains a variant on exactly the shipped Reasoner's data (cpu-full's 971 accepted
teacher reasons: the verdict chosen from the real review, as the paper's teacher does) with one
change, the prompt: each history line shows its stars, as the Predictor's does, so the verdict can
follow how this user rated before and how buyers rated this item. Same recipe settings (LoRA r=8
on the top 8 layers, 2 epochs), same targets.

Then both Reasoners write reasons (greedy) for the same test targets of a finished evaluation,
every 1-2 star target plus a seeded sample of the others, on the same prompts but for the stars,
and the verdict (VADER, the evaluation's measure) is compared with the true rating. Overall
agreement is re-weighted to the test set's own share of each group.

    .venv/bin/python bench/reasoner_stars.py --run <a copy of artifacts/runs/cpu-full with cleaned summaries> \\
        --eval artifacts/bench/eval-leave-last-out-full --others 150 --out artifacts/bench/reasoner-stars.json

Nothing here ships: if the verdicts follow the evidence, the prompt becomes a card flag (as the
Predictor's estimates are) and the whole chain is retrained on it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def stars_messages(ctx) -> list[dict[str, str]]:
    """The Reasoner's prompt with each history line's stars: the shipped form (``reasoner_stars``)."""
    from dataclasses import replace

    from reason4rec.experts import reasoner_messages

    return reasoner_messages(replace(ctx, reasoner_stars=True))


def prompt_of(kind: str):
    """The variant's prompt: history lines with stars, or the shipped Reasoner's (``plain``)."""
    if kind == "plain":
        from reason4rec.experts import reasoner_messages

        return reasoner_messages
    return stars_messages


def balanced_examples(pipeline, seed: int, prompt=stars_messages) -> list:
    """Issue 35 item 3's data: unhappy buyers kept, the verdict the true rating's.

    The targets whose prompt views the run already holds (the Reasoner's and the first 1,500 of
    the reward model's), every 1-2 star target twice, every 3-star one, and up to 400 each of 4
    and 5 stars (seeded): the accepted set had 63 unhappy buyers in 971, and 802 of its reasons
    were for 5-star targets. The offline teacher writes each reason with the verdict of the true
    rating (its hinted form, as the paper's teacher sees the rating) and only the aspects of the
    prompt; a reason that leaks the rating is dropped."""
    from reason4rec.data import leaks_rating
    from reason4rec.training.sft_types import SFTExample
    from reason4rec.training.teachers import OfflineTeacher

    targets = list(pipeline._reasoner_targets) + list(pipeline._reward_targets[:1500])
    contexts = pipeline._contexts(targets)
    rng = random.Random(seed)
    by_stars: dict[int, list[int]] = {}
    for i, target in enumerate(targets):
        by_stars.setdefault(round(target.review.rating), []).append(i)
    chosen = [*by_stars.get(1, []), *by_stars.get(2, [])] * 2 + by_stars.get(3, [])
    for stars in (4, 5):
        found = by_stars.get(stars, [])
        chosen += rng.sample(found, min(400, len(found)))
    teacher, examples = OfflineTeacher(), []
    for i in chosen:
        target, ctx = targets[i], contexts[i]
        reason = teacher.reason(ctx, target.review.text, 0, hint_rating=target.review.rating)
        if len(reason.split()) >= 5 and not leaks_rating(reason):
            examples.append(SFTExample(prompt(ctx), reason))
    rng.shuffle(examples)
    return examples


def train(run: Path, out: Path, data: str = "shipped", seed: int = 7, prompt: str = "stars") -> Path:
    """The variant Reasoner with the stars prompt (resumes): on cpu-full's accepted reasons
    (``shipped``) or on :func:`balanced_examples` (``balanced``)."""
    from reason4rec.config import load_config
    from reason4rec.experts import fresh_base
    from reason4rec.training.pipeline import TrainingPipeline
    from reason4rec.training.recipes import load_recipe
    from reason4rec.training.sft import train_adapter
    from reason4rec.training.sft_types import SFTExample
    from reason4rec.training.teachers import OfflineTeacher

    folder = out.parent / (out.stem + "-reasoner")
    if (folder / "adapter" / "adapter_model.safetensors").is_file():
        if not (folder / "adapter" / "card.json").is_file():
            _card(run, folder / "adapter", json.loads((folder / "training.json").read_text()), data, prompt)
        return folder / "adapter"
    config, recipe = load_config(), load_recipe("cpu-full")
    pipeline = TrainingPipeline(config, recipe, run, OfflineTeacher())
    if data == "balanced":
        examples = balanced_examples(pipeline, seed, prompt_of(prompt))
    else:
        accepted, by_key = pipeline._accepted()
        examples = [SFTExample(prompt_of(prompt)(by_key[a["key"]][1]), a["reason"]) for a in accepted]
    settings = recipe.expert("reasoner")
    started = time.perf_counter()
    result = train_adapter(lambda q: fresh_base(config), examples, settings.lora, settings.train, folder,
                           progress=lambda d, t: print(f"reasoner with stars: step {d}/{t}", file=sys.stderr,
                                                       flush=True))
    (folder / "training.json").write_text(json.dumps({**result.as_dict(), "wall_seconds": round(
        time.perf_counter() - started, 1), "examples": len(examples)}, indent=1))
    _card(run, folder / "adapter", result.as_dict(), data, prompt)
    return folder / "adapter"


def _card(run: Path, adapter: Path, training: dict, data: str, prompt: str) -> None:
    """The shipped Reasoner's card with this variant's training: backends load only carded adapters."""
    from dataclasses import replace

    from reason4rec.experts import AdapterCard

    card = AdapterCard.load(run / "reasoner" / "adapter")
    shown = "history lines with stars" if prompt == "stars" else "the shipped prompt"
    recipe = f"cpu-full, {shown}, {data} data (bench/reasoner_stars.py)"
    replace(card, recipe=recipe, training=training).save(adapter)


def held_out_bias(replay, config):
    """The user+item bias model's held-out estimate of every test target and their stars."""
    import numpy as np

    from reason4rec.data import dataset_of, make_split
    from reason4rec.training import held_out_estimates

    split = make_split(dataset_of(config.data), replay.key["split"])
    targets = [t.review for t in replay.targets]
    return held_out_estimates(config, split, "test", targets).bias, np.array([t.rating for t in targets])


def yardstick(estimate, stars, false_alarms: float) -> dict[str, float]:
    """What the collaborative evidence alone does on the whole test set at a Reasoner's
    ``false_alarms`` (the share of 4-5 star targets it told "not for them"): a verdict "not for
    them" whenever the bias model's estimate is below the threshold with that false-alarm rate,
    and the share of 1-2 star targets it catches. (The best such verdict for the issue's goal
    pair is ``verdict_ceiling.ceiling``.)"""
    import numpy as np

    low, high = estimate[stars <= 2], estimate[stars >= 4]
    cut = float(np.quantile(high, false_alarms)) if false_alarms > 0 else -np.inf
    return {"false_alarms": round(false_alarms, 4), "unhappy_caught": round(float(np.mean(low <= cut)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a run folder holding cpu-full's reasoner stage")
    parser.add_argument("--eval", type=Path, default=Path("artifacts/bench/eval-leave-last-out-full"))
    parser.add_argument("--others", type=int, default=150, help="targets rated 3-5 stars, a seeded sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", choices=("shipped", "balanced"), default="shipped",
                        help="the variant's training data: cpu-full's accepted reasons, or balanced_examples")
    parser.add_argument("--prompt", choices=("stars", "plain"), default="stars",
                        help="the variant's prompt: history lines with stars, or the shipped Reasoner's")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from collab_predictor import contexts_of
    from verdict_ceiling import ceiling

    from reason4rec.config import load_config
    from reason4rec.experts import (
        SummaryCache,
        adapter_version,
        grounding,
        is_complete,
        local_backend,
        reasoner_messages,
        shown_texts,
        verdict,
        verdict_agrees,
    )
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.evaluate_experts import history_texts

    adapter = train(args.run, args.out, args.data, args.seed, args.prompt)
    config = load_config()
    replay = EvalReplay.open(args.eval, config)
    contexts = contexts_of(replay, config)
    low = [i for i, t in enumerate(replay.targets) if t.review.rating <= 2]
    rest = [i for i, t in enumerate(replay.targets) if t.review.rating > 2]
    chosen = sorted(low + random.Random(args.seed).sample(rest, min(args.others, len(rest))))
    shipped = args.run / "reasoner" / "adapter"
    saved = SummaryCache(args.out.with_suffix(".reasons.jsonl"))
    written: dict[str, list[str]] = {}
    for name, folder, make in (("shipped", shipped, reasoner_messages), (args.prompt, adapter, prompt_of(args.prompt))):
        version = f"{name}:{adapter_version(folder)}"
        todo = [i for i in chosen if saved.get(str(i), version) is None]
        if todo:
            backend = local_backend(config, {"reasoner": folder})
            for start in range(0, len(todo), 8):
                batch = todo[start:start + 8]
                texts = backend.generate("reasoner", [make(contexts[i]) for i in batch])
                saved.put_many((str(i), version, text.strip()) for i, text in zip(batch, texts))
                print(f"{name}: {start + len(batch)}/{len(todo)} reasons", file=sys.stderr, flush=True)
            close = getattr(backend, "close", None)
            if callable(close):
                close()
        written[name] = [saved.get(str(i), version) or "" for i in chosen]
    estimate, stars = held_out_bias(replay, config)
    share_low = len(low) / len(replay.targets)
    result: dict[str, Any] = {"eval": str(args.eval), "targets": len(chosen), "low_star_targets": len(low),
                              "others_sampled": len(chosen) - len(low), "test_share_low": round(share_low, 4),
                              "reasoners": {}}
    for name, reasons in written.items():
        rows = []
        for i, reason in zip(chosen, reasons):
            target = replay.targets[i]
            found = grounding(reason, shown_texts(contexts[i], history_texts(target)))
            rows.append({"true": target.review.rating, "verdict": verdict(reason),
                         "agrees": verdict_agrees(reason, target.review.rating), "grounding": found.share,
                         "complete": is_complete(reason)})

        def share(selected: list[dict], key: str) -> float | None:
            values = [float(r[key]) for r in selected if r[key] is not None]
            return round(sum(values) / len(values), 4) if values else None

        on_low = share([r for r in rows if r["true"] <= 2], "agrees")
        on_high = share([r for r in rows if r["true"] >= 4], "agrees")
        high_share = sum(t.review.rating >= 4 for t in replay.targets) / len(replay.targets)
        overall = (on_low * share_low + on_high * high_share) / (share_low + high_share) if None not in (
            on_low, on_high) else None
        result["reasoners"][name] = {
            "agreement_on_1_2_stars": on_low, "agreement_on_4_5_stars": on_high,
            "agreement_overall_reweighted": None if overall is None else round(overall, 4),
            "negative_verdicts": sum(r["verdict"] < 0 for r in rows), "grounding": share(rows, "grounding"),
            "complete": share(rows, "complete"),
            "examples_on_1_2_stars": [reason for i, reason in zip(chosen, written[name])
                                      if replay.targets[i].review.rating <= 2][:5]}
        told_high = share([{"no": r["verdict"] < 0} for r in rows if r["true"] >= 4], "no") or 0.0
        result["reasoners"][name]["said_no_to_4_5_stars"] = told_high
        result["reasoners"][name]["bias_model_at_that_rate"] = yardstick(estimate, stars, told_high)
    best = ceiling(estimate, stars)
    result["bias_model_best_overall_at_half_the_unhappy"] = {"overall": best["best_overall_catching_half"],
                                                             "unhappy_caught": best["caught_there"]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {m: v for m, v in r.items() if m != "examples_on_1_2_stars"}
                      for k, r in result["reasoners"].items()}, indent=1))


if __name__ == "__main__":
    main()

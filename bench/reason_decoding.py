"""The agent's reasons under today's decoding, on a whole evaluation's targets: grounding without drafts.

The loop guards (repetition penalty, no-repeat n-grams) used to count the Reasoner's prompt too
(Hugging Face's rule), which pushed a reason away from the very aspects its prompt shows. The
Reasoner now guards its own answer only (``experts.backend.EXPERT_DECODING``), and sampled drafts
are drawn only for a greedy reason under 80% grounded (``experts.quality.reason_drafts``). This
bench runs that deliberation (``experts.deliberate``, as the agent does: greedy reason, drafts
where they pay, the Predictor) on every target of a finished evaluation, and compares with the
evaluation's own greedy reasons (the old decoding) and the best-of-drafts run of
``bench/grounded_reasons.py`` (``--drafts-run``) on the same targets: grounding, invented phrases,
repeated aspects, verdict agreement, completeness, MAE/RMSE with paired intervals.

    python bench/reason_decoding.py --eval artifacts/bench/eval-leave-last-out-full \\
        --drafts-run artifacts/bench/grounded-reasons-all-2rounds-cpu.json \\
        --out artifacts/bench/reason-decoding-leave-last-out.json

Targets run in a seeded random order and rows are saved after every chunk, so the targets done
so far are a random sample of the evaluation's; the same command continues an interrupted run.
``--sum-done`` reports the targets done so far without generating.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


_BEFORE_ENGINES = "llama.cpp f16 (lora), cpu, 2 threads"
"""The engine of the runs made before runs recorded theirs (2026-12-05 and earlier)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--drafts-run", type=Path, help="a bench/grounded_reasons.py run on the same evaluation")
    parser.add_argument("--before-run", type=Path,
                        help="an earlier run of this bench (another engine, say) compared on the same targets")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0, help="only the first N targets (0: all)")
    parser.add_argument("--sum-done", action="store_true")
    args = parser.parse_args()

    from reason4rec.config import load_config
    from reason4rec.experts import DraftSettings, open_backend
    from reason4rec.experts.deliberation import deliberate
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.eval_run import write_atomically

    config = load_config()
    replay = EvalReplay.open(args.eval)
    ids = list(range(len(replay.targets)))
    random.Random(2020).shuffle(ids)  # a seeded order: the targets done so far are a random sample
    ids = ids[: args.limit or None]
    from reason4rec.experts import PROMPT_VERSION

    saved = json.loads(args.out.read_text()) if args.out.is_file() else {"rows": {}, "seconds": 0.0}
    rows: dict[str, Any] = saved["rows"]
    made_with = saved.setdefault("prompts", PROMPT_VERSION if not rows else "p1")  # runs before p2 said nothing
    if made_with != PROMPT_VERSION and not args.sum_done:
        raise SystemExit(f"{args.out} holds reasons made with prompts {made_with}; this code writes "
                         f"{PROMPT_VERSION}: continue it in a new --out file")
    settings = DraftSettings(config.agent.reason_drafts, config.agent.reason_rounds, config.agent.reason_temperature)
    if not args.sum_done:
        backend, _ = open_backend(config)
        base = getattr(backend.experts, "base", None)
        engine = base.describe().split(": ", 1)[-1] if hasattr(base, "describe") else type(backend).__name__
        if saved.setdefault("engine", engine if not rows else _BEFORE_ENGINES) != engine:
            raise SystemExit(f"{args.out} was made on {saved['engine']}; this engine is {engine}: use a new --out")
        todo = [i for i in ids if replay.targets[i].review.review_id not in rows]
        print(f"{len(ids) - len(todo)} of {len(ids)} targets already done", flush=True)
        for start in range(0, len(todo), args.chunk):
            batch = todo[start:start + args.chunk]
            began = time.perf_counter()
            done = deliberate(backend, [replay.contexts[i] for i in batch], batch_size=args.chunk, drafts=settings)
            saved["seconds"] += time.perf_counter() - began
            for i, one in zip(batch, done):
                rows[replay.targets[i].review.review_id] = {
                    "index": i, "reason": one.reason.text, "drafts": one.reason.drafts,
                    "replaced": one.reason.replaced, "rating": one.rating.expected}
            write_atomically(args.out, json.dumps(saved))
            print(f"{len(ids) - len(todo) + start + len(batch)}/{len(ids)} targets "
                  f"({saved['seconds'] / len(rows):.2f} s a target)", flush=True)
        backend.close()
    _report(args, replay, [i for i in ids if replay.targets[i].review.review_id in rows], saved, config)


def _report(args: argparse.Namespace, replay, ids: list[int], saved: dict[str, Any], config) -> None:
    from grounded_reasons import _measures, _paired_grounding

    from reason4rec.experts.model.sentence_model import load_sentence_model
    from reason4rec.experts.quality.reason_quality import grounding_in, mean_of, repeated_aspects, vocabulary_of
    from reason4rec.training.confidence import paired_difference, resample_indices
    from reason4rec.training.eval_run import write_atomically
    from reason4rec.training.evaluate_experts import RealReviews

    rows = [saved["rows"][replay.targets[i].review.review_id] for i in ids]
    true = np.array([replay.targets[i].review.rating for i in ids])
    reasons = {"old greedy": [replay.reasons[i] for i in ids], "now": [row["reason"] for row in rows]}
    ratings = {"old greedy": np.array([replay.pipeline[i] for i in ids]), "now": np.array([r["rating"] for r in rows])}
    if args.drafts_run and args.drafts_run.is_file():
        drafted = json.loads(args.drafts_run.read_text())["rows"]
        if all(replay.targets[i].review.review_id in drafted for i in ids):
            picked = [drafted[replay.targets[i].review.review_id] for i in ids]
            reasons["old best of drafts"] = [row["candidates"][row["pick"]] for row in picked]
            ratings["old best of drafts"] = np.array([row["rating"] for row in picked])
    if args.before_run and args.before_run.is_file():
        before = json.loads(args.before_run.read_text())
        if all(replay.targets[i].review.review_id in before["rows"] for i in ids):
            name = f"before ({before.get('engine', args.before_run.stem)})"
            reasons[name] = [before["rows"][replay.targets[i].review.review_id]["reason"] for i in ids]
            ratings[name] = np.array([before["rows"][replay.targets[i].review.review_id]["rating"] for i in ids])
    embedded = RealReviews.embed(load_sentence_model(config.home), [replay.targets[i].review.text for i in ids])
    vocabularies = [vocabulary_of(replay.shown_to_reasoner(i)) for i in ids]
    found = {name: [grounding_in(r, v) for r, v in zip(texts, vocabularies)] for name, texts in reasons.items()}
    measures = {name: {**_measures(texts, found[name], ratings[name], true, embedded.similarity(texts)),
                       "repeated_aspect": mean_of(bool(repeated_aspects(r)) for r in texts)}
                for name, texts in reasons.items()}
    indices = resample_indices(len(true))
    report = {
        "eval": str(args.eval), "targets": len(ids), "targets_in_eval": len(replay.targets),
        "engine": saved.get("engine", _BEFORE_ENGINES),
        "draft_settings": {"drafts": config.agent.reason_drafts, "rounds": config.agent.reason_rounds},
        "drafted_share": round(float(np.mean([row["drafts"] > 1 for row in rows])), 4),
        "mean_drafts": round(float(np.mean([row["drafts"] for row in rows])), 2),
        "seconds_per_target": round(saved["seconds"] / max(1, len(saved["rows"])), 2),
        "measures": measures,
        "paired_now_minus": {name: {**{m: paired_difference(ratings["now"], ratings[name], true, m, indices).as_list()
                                       for m in ("mae", "rmse")},
                                    "grounding": _paired_grounding(found["now"], found[name])}
                             for name in reasons if name != "now"},
        "examples": [{"review_id": replay.targets[i].review.review_id, "old": replay.reasons[i], "now": row["reason"]}
                     for i, row in list(zip(ids, rows))[:30]],
    }
    out = args.out.with_name(args.out.stem + "-report.json")
    write_atomically(out, json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=1))


if __name__ == "__main__":
    main()

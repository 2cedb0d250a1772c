"""Best of N reasons by grounding: do sampled candidates make the reason a person reads less invented?

The Reasoner's greedy reason invents aspects (a quarter of its aspect phrases appear nowhere in
what it was shown). This bench takes a finished evaluation's targets (a seeded sample of them),
keeps the evaluation's greedy reason as candidate 0, samples N-1 more from the same Reasoner
(temperature T, seeded), keeps the candidate that invents fewest aspect phrases and names most
shown ones (``experts.quality.reason_quality.least_invented``: a finished sentence first, ties to the
greedy one) and rates it with the same Predictor. Reported for greedy and chosen reasons on the
same targets: grounding and the grounded/invented phrases per reason (what chose; the grounded
count says whether the choice got vaguer), and the measures that did not choose:
verdict agreement (overall and on 1-2 star targets), completeness, length, the embedding
similarity to the user's real review, and the pipeline's MAE/RMSE with paired bootstrap
differences (chosen minus greedy; negative is better).

    python bench/grounded_reasons.py --eval artifacts/bench/eval-leave-last-out-full --targets 200 \\
        --candidates 4 --temperature 0.7 --out artifacts/bench/grounded-reasons-cpu.json

``--rounds 2`` adds the agent's second round (``agent.reason_rounds``): a target whose kept reason
is under 80% grounded against its prompt (the agent's test) gets --candidates more drafts, and the
least invented of all is kept (chosen as round 1 chose, against the prompt and the raw reviews); a
finished one-round run (copy it to the new --out first to keep it) is continued, and the report
adds the first round's measures and the paired difference to them.

Candidates are saved after every batch of targets; the same command continues an interrupted run.
``--sum-done`` sums up the targets done so far without generating (run it only while no other
call is writing the file; the report says how many of the targets it covers, and the same command
without it continues).
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

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RULE = "least_invented-1"
"""The selection rule's name in saved runs: picks saved under another rule are not continued."""
ROUND_SEED_STEP = 1_000_003
"""Round r's sampling seed is seed + r * this + the batch's first target index (apart from round 1's)."""


def _settings(args: argparse.Namespace, evaluation: str) -> dict[str, Any]:
    """What a saved run must share to be continued (the evaluation by its key's id, not its path;
    the chunk size too: it decides each batch's sampling seed)."""
    settings = {"evaluation": evaluation, "targets": args.targets, "candidates": args.candidates,
                "temperature": args.temperature, "seed": args.seed, "chunk": args.chunk, "rule": RULE}
    if args.rounds > 1:  # a one-round run's settings stay as they were saved before rounds existed
        from reason4rec.experts.quality.reason_drafts import REDRAFT_BELOW

        settings |= {"rounds": args.rounds, "redraft_below": REDRAFT_BELOW}
    return settings


def _first_round(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in ("rounds", "redraft_below")}


def _load(out: Path, settings: dict[str, Any], *, upgrade: bool = True) -> dict[str, Any]:
    """The saved run of these settings (to continue), or a fresh one; another run's file is refused.
    ``upgrade``: a finished run with fewer rounds is taken up (its rows kept, its old report dropped)."""
    if not out.is_file():
        return {"settings": settings, "rows": {}}
    try:
        saved = json.loads(out.read_text())
    except ValueError as error:
        raise SystemExit(f"{out} is not valid JSON ({error}); move it away to start again") from None
    before = saved.get("settings") or {}
    if upgrade and before != settings and _first_round(before) == _first_round(settings) and \
            before.get("rounds", 1) < settings.get("rounds", 1):  # more rounds over a finished run
        return {"settings": settings, "rows": saved["rows"], "seconds_generating": saved.get("seconds_generating", 0.0)}
    elif before != settings:
        raise SystemExit(f"{out} holds a run with other settings ({saved.get('settings')}); "
                         "use another --out or move it away")
    return saved


def _measures(reasons: list[str], found: list[Any], predicted: np.ndarray, true: np.ndarray,
              similarity: np.ndarray) -> dict[str, Any]:
    """``found``: each reason's grounding against what its target's Reasoner was shown."""
    from reason4rec.experts.quality.reason_quality import is_complete, mean_of, verdict_agrees

    shares = [f.share for f in found]
    agrees = [verdict_agrees(r, t) for r, t in zip(reasons, true)]
    low = [a for a, t in zip(agrees, true) if t <= 2]
    return {
        "grounding": round(mean_of(shares), 4),
        "grounded_80": round(mean_of(s >= 0.8 for s in shares if s is not None), 4),
        "grounded_phrases": round(float(np.mean([len(f.grounded) for f in found])), 2),
        "invented_phrases": round(float(np.mean([len(f.invented) for f in found])), 2),
        "verdict_agreement": round(mean_of(agrees), 4),
        "verdict_agreement_low_ratings": round(mean_of(low) or 0.0, 4), "low_ratings": len(low),
        "complete": round(mean_of(is_complete(r) for r in reasons), 4),
        "mean_words": round(float(np.mean([len(r.split()) for r in reasons])), 1),
        "review_similarity": round(float(similarity.mean()), 4),
        "mae": round(float(np.abs(predicted - true).mean()), 4),
        "rmse": round(float(np.sqrt(((predicted - true) ** 2).mean())), 4),
        "mean_prediction": round(float(predicted.mean()), 4),
    }


def _paired_grounding(picked: list[Any], greedy: list[Any]) -> list[float]:
    """Chosen minus greedy grounding (each a list of groundings, target by target) and its paired
    interval, over the targets where both reasons name an aspect (a share is undefined without one)."""
    from reason4rec.training.confidence import paired_mean_difference

    pairs = [(p.share, g.share) for p, g in zip(picked, greedy, strict=True)]
    kept = [(p, g) for p, g in pairs if p is not None and g is not None]
    return paired_mean_difference([p for p, _ in kept], [g for _, g in kept]).as_list()


def _first_round_report(replay, chosen_ids: list[int], ordered: list[dict[str, Any]], first_drafts: int,
                        true: np.ndarray, picked_rating: np.ndarray, picked_found: list[Any], reviews,
                        indices: np.ndarray) -> dict[str, Any]:
    """With more than one round: the first round's kept reasons measured the same way, the share of
    targets drawn more drafts, and the final reasons minus the first round's (paired)."""
    from reason4rec.experts.quality.reason_quality import grounding
    from reason4rec.training.confidence import paired_difference

    if not any("first" in row for row in ordered):
        return {}
    firsts = [row.get("first", row) for row in ordered]
    reasons = [row["candidates"][first["pick"]] for row, first in zip(ordered, firsts)]
    rating = np.array([first["rating"] for first in firsts])
    found = [grounding(reason, replay.shown_to_reasoner(i)) for i, reason in zip(chosen_ids, reasons)]
    return {
        "first_round": _measures(reasons, found, rating, true, reviews.similarity(reasons)),
        "redrafted": round(float(np.mean([len(row["candidates"]) > first_drafts for row in ordered])), 4),
        "mean_drafts": round(float(np.mean([len(row["candidates"]) for row in ordered])), 2),
        "paired_best_minus_first_round": {
            **{m: paired_difference(picked_rating, rating, true, m, indices).as_list() for m in ("mae", "rmse")},
            "grounding": _paired_grounding(picked_found, found)},
    }


def _versus_baselines(eval_dir: Path, review_ids: list[str], predicted: np.ndarray, true: np.ndarray,
                      indices: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """The pipeline with the chosen reasons minus each of the evaluation's baselines, paired on
    the same targets ([value, low, high]; negative = the pipeline is better)."""
    from reason4rec.training.confidence import paired_difference

    results = eval_dir / "results.json"
    if not results.is_file():
        return {}
    summed = json.loads(results.read_text())
    position = {row["review_id"]: i for i, row in enumerate(summed.get("targets", []))}
    if not all(review_id in position for review_id in review_ids):
        return {}
    at = [position[review_id] for review_id in review_ids]
    return {name: {m: paired_difference(predicted, np.array(values)[at], true, m, indices).as_list()
                   for m in ("mae", "rmse")}
            for name, values in summed.get("baseline_predictions", {}).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=Path("artifacts/bench/eval-leave-last-out-full"))
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=4, help="greedy + N-1 samples")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--chunk", type=int, default=8, help="targets per saved batch")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of drafts: a target whose kept reason is under 80%% grounded gets "
                             "--candidates more per round (the agent's reason_rounds); a finished run with "
                             "fewer rounds is continued")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/grounded-reasons-cpu.json"))
    parser.add_argument("--sum-done", action="store_true", help="report the targets done so far; generate nothing")
    args = parser.parse_args()
    if args.candidates < 2:
        parser.error("--candidates must be at least 2 (the greedy reason and one sample)")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    from reason4rec.config import Expert, load_config
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages
    from reason4rec.experts.quality.reason_quality import least_invented
    from reason4rec.experts.shipping import adapter_dirs
    from reason4rec.training.eval_replay import EvalReplay
    from reason4rec.training.eval_run import run_id, write_atomically

    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    replay = EvalReplay.open(args.eval)
    if replay.key["backend"] != "llamacpp":  # kept ratings and new ones must come from one engine
        raise SystemExit(f"{args.eval} was evaluated on {replay.key['backend']}; this bench rates on llama.cpp")
    if args.targets > len(replay.targets):
        raise SystemExit(f"--targets {args.targets} is more than the {len(replay.targets)} the evaluation scored")
    chosen_ids = sorted(random.Random(args.seed).sample(range(len(replay.targets)), args.targets))
    settings = _settings(args, run_id(replay.key))
    saved = _load(args.out, settings, upgrade=not args.sum_done)
    rows: dict[str, Any] = saved["rows"]
    config = load_config()
    if args.sum_done:
        _report(args, replay, [i for i in chosen_ids if replay.targets[i].review.review_id in rows], saved,
                len(chosen_ids), config, say)
        return
    backend = open_llamacpp_backend(config, adapter_dirs(with_one_step=False), batch_size=8)
    versions = {name: backend.version(name) for name in (Expert.REASONER, Expert.PREDICTOR)}
    if versions != {name: replay.key["adapters"][name] for name in versions}:
        raise SystemExit(f"the shipped adapters {versions} are not the ones {args.eval} evaluated")
    started, generated_before = time.perf_counter(), saved.get("seconds_generating", 0.0)
    todo = [i for i in chosen_ids if replay.targets[i].review.review_id not in rows]
    say(f"{len(chosen_ids) - len(todo)} of {len(chosen_ids)} targets already done in {args.out}")
    for start in range(0, len(todo), args.chunk):
        batch = todo[start:start + args.chunk]
        # one seeded sample call per saved batch, decoded as the agent's drafts are
        samples = backend.sample(Expert.REASONER, [reasoner_messages(replay.contexts[i]) for i in batch],
                                 count=args.candidates - 1, temperature=args.temperature, seed=args.seed + batch[0])
        new_rows = {}
        for i, sampled in zip(batch, samples):
            candidates = [replay.reasons[i], *sampled]
            pick = least_invented(candidates, replay.shown_to_reasoner(i))
            new_rows[replay.targets[i].review.review_id] = {"index": i, "candidates": candidates, "pick": pick}
        changed = [row for row in new_rows.values() if row["pick"] != 0]
        rated = backend.rate(Expert.PREDICTOR, [predictor_messages(replay.contexts[row["index"]],
                                                                   row["candidates"][row["pick"]])
                                                for row in changed]) if changed else []
        for row, distribution in zip(changed, rated):
            row["rating"] = round(distribution.expected, 4)
        for row in new_rows.values():
            row.setdefault("rating", replay.pipeline[row["index"]])  # greedy kept: the evaluation's own rating
        rows.update(new_rows)
        saved["seconds_generating"] = round(generated_before + time.perf_counter() - started, 1)  # over every call
        write_atomically(args.out, json.dumps(saved, indent=1))
        say(f"{len(chosen_ids) - len(todo) + start + len(batch)}/{len(chosen_ids)} targets "
            f"({time.perf_counter() - started:.0f} s)")
    for round_ in range(2, args.rounds + 1):
        _more_drafts(args, round_, replay, backend, chosen_ids, saved, say)
    _report(args, replay, chosen_ids, saved, len(chosen_ids), config, say)


def _more_drafts(args: argparse.Namespace, round_: int, replay, backend, chosen_ids: list[int],
                 saved: dict[str, Any], say) -> None:
    """Round ``round_`` as the agent draws it: --candidates more drafts for each target whose kept
    reason is under REDRAFT_BELOW grounded (against what its Reasoner was shown), the least
    invented of all drafts kept and rated again where it changed. Saved after every batch."""
    from reason4rec.config import Expert
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages
    from reason4rec.experts.quality.reason_drafts import REDRAFT_BELOW, needs_redraft
    from reason4rec.experts.quality.reason_quality import grounding, least_invented
    from reason4rec.training.eval_run import write_atomically

    rows, started = saved["rows"], time.perf_counter()
    generated_before = saved.get("seconds_generating", 0.0)
    todo = []
    for i in chosen_ids:
        row = rows[replay.targets[i].review.review_id]
        if row.get("rounds", 1) >= round_:
            continue
        row.setdefault("first", {"pick": row["pick"], "rating": row["rating"]})
        prompt = [m["content"] for m in reasoner_messages(replay.contexts[i])]  # what the agent decides on
        if needs_redraft(grounding(row["candidates"][row["pick"]], prompt)):
            todo.append(i)
        else:
            row["rounds"] = round_  # grounded enough: nothing drawn, as in the agent
    say(f"round {round_}: {len(todo)} targets still under {REDRAFT_BELOW:.0%} grounded get more drafts")
    for start in range(0, len(todo), args.chunk):
        batch = todo[start:start + args.chunk]
        samples = backend.sample(Expert.REASONER, [reasoner_messages(replay.contexts[i]) for i in batch],
                                 count=args.candidates, temperature=args.temperature,
                                 seed=args.seed + round_ * ROUND_SEED_STEP + batch[0])
        changed = []
        for i, sampled in zip(batch, samples):
            row = rows[replay.targets[i].review.review_id]
            row["candidates"] = [*row["candidates"], *sampled]
            pick = least_invented(row["candidates"], replay.shown_to_reasoner(i))
            if pick != row["pick"]:
                row["pick"] = pick
                changed.append(row)
            row["rounds"] = round_
        rated = backend.rate(Expert.PREDICTOR, [predictor_messages(replay.contexts[row["index"]],
                                                                   row["candidates"][row["pick"]])
                                                for row in changed]) if changed else []
        for row, distribution in zip(changed, rated):
            row["rating"] = round(distribution.expected, 4)
        saved["seconds_generating"] = round(generated_before + time.perf_counter() - started, 1)
        write_atomically(args.out, json.dumps(saved, indent=1))
        say(f"round {round_}: {start + len(batch)}/{len(todo)} targets ({time.perf_counter() - started:.0f} s)")
    write_atomically(args.out, json.dumps(saved, indent=1))


def _report(args: argparse.Namespace, replay, chosen_ids: list[int], saved: dict[str, Any], wanted: int, config,
            say) -> None:
    """Sum up ``chosen_ids`` (every target asked for, or those done so far) into ``args.out``."""
    from reason4rec.experts.model.sentence_model import load_sentence_model
    from reason4rec.experts.quality.reason_quality import grounding_in, vocabulary_of
    from reason4rec.training.confidence import paired_difference, resample_indices
    from reason4rec.training.eval_run import write_atomically
    from reason4rec.training.evaluate_experts import RealReviews

    if not chosen_ids:
        raise SystemExit(f"no target is done yet in {args.out}")
    rows, settings = saved["rows"], saved["settings"]
    ordered = [rows[replay.targets[i].review.review_id] for i in chosen_ids]
    true = np.array([replay.targets[i].review.rating for i in chosen_ids])
    greedy = [row["candidates"][0] for row in ordered]
    picked = [row["candidates"][row["pick"]] for row in ordered]
    greedy_rating = np.array([replay.pipeline[i] for i in chosen_ids])
    picked_rating = np.array([row["rating"] for row in ordered])
    reviews = RealReviews.embed(load_sentence_model(config.home, status=say),
                                [replay.targets[i].review.text for i in chosen_ids])
    similarity = {"greedy": reviews.similarity(greedy), "picked": reviews.similarity(picked)}
    found: dict[str, list[Any]] = {"greedy": [], "picked": []}
    for i, first, kept in zip(chosen_ids, greedy, picked, strict=True):
        vocabulary = vocabulary_of(replay.shown_to_reasoner(i))
        found["greedy"].append(grounding_in(first, vocabulary))
        found["picked"].append(grounding_in(kept, vocabulary))
    indices = resample_indices(len(true))
    report = {
        "settings": settings, "rows": rows, "targets_summed": len(chosen_ids), "targets_asked": wanted,
        "targets_through_every_round": sum(row.get("rounds", 1) >= settings.get("rounds", 1) for row in ordered),
        "eval_adapters": replay.key["adapters"], "backend": "llama.cpp f16 (lora), 2 threads",
        "greedy": _measures(greedy, found["greedy"], greedy_rating, true, similarity["greedy"]),
        "best_of_n": _measures(picked, found["picked"], picked_rating, true, similarity["picked"]),
        **_first_round_report(replay, chosen_ids, ordered, settings["candidates"], true, picked_rating,
                               found["picked"], reviews, indices),
        "sample_chosen": round(float(np.mean([row["pick"] != 0 for row in ordered])), 4),
        "paired_best_minus_baselines": _versus_baselines(
            args.eval, [replay.targets[i].review.review_id for i in chosen_ids], picked_rating, true, indices),
        "paired_best_minus_greedy": {
            **{m: paired_difference(picked_rating, greedy_rating, true, m, indices).as_list() for m in ("mae", "rmse")},
            "grounding": _paired_grounding(found["picked"], found["greedy"])},
        "seconds_generating": saved.get("seconds_generating", 0.0),
        "seconds_per_target": round(saved.get("seconds_generating", 0.0) / len(rows), 2),
    }
    write_atomically(args.out, json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()

"""``reason4rec eval``: the expert pipeline, its ablations and the baselines on the SAME targets.

Rows (the whole test part of a split by default, or a seeded sample of ``limit`` targets):

* **Reason4Rec**: Summarizer summaries -> Reasoner reason -> Predictor expected rating.
* **Predictor without reason**: the same Predictor with ``Analysis: none`` (is the reason used?).
* **One-step**: one adapter writes a reason and then the rating (the paper's ablation).
* every baseline (closed forms, surprise SVD / SVD++, cornac HFT), fitted on train + validation,
  and a **stacked CF** row: every baseline combined by ridge, cross-fitted over the test targets'
  folds (issue 35's bar: a gain from merely combining them is not the experts').
* an **extra** row, the pipeline blended with a baseline by a cross-fitted weight (``blend``):
  reported beside the pipeline, never in its place, and not part of ``beats_all_baselines``.

Each row carries a paired-bootstrap 95% interval; the pipeline's difference from every baseline
has one too, and ``beats_all_baselines`` holds only when each of those intervals lies below zero.
Reasons are scored for grounding, verdict and completeness (``reason_quality``), for similarity
to the real review (all-MiniLM-L6-v2, next to mismatched pairs for scale) and, with a judge model
on an OpenAI-compatible endpoint, by that judge. Targets are scored in chunks and appended to the
run folder (``eval_run``), so an interrupted evaluation continues where it stopped.

Example:
    >>> result = evaluate_experts(config, dataset, backend, ExpertEvalSettings(limit=50), cache)  # doctest: +SKIP
    >>> result.write(Path("eval-out"))                                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, Expert
from ..data import RatingEstimates, ReviewDataset, Split, Target, build_targets, make_split
from ..errors import Reason4RecError
from ..experts import (
    HISTORY_FORMAT,
    PROMPT_VERSION,
    RATING_PREFIX,
    Backend,
    Calibration,
    Messages,
    Side,
    SummaryCache,
    TargetContext,
    VerdictRule,
    attributed_share,
    fit_ratings_verdict_rule,
    grounding_in,
    history_reviews,
    is_complete,
    mean_of,
    misattributed_in,
    one_step_messages,
    ratings_for,
    reasons_for,
    rule_in_use,
    sentiment,
    shown_texts,
    summary_problems_of,
    summary_version,
    target_contexts,
    verdict_agrees,
    vocabulary_of,
)
from .blend import cross_fitted_blend, cross_fitted_stack
from .confidence import paired_difference, resample_indices
from .estimates import attach_estimates, held_out_estimates, model_settings
from .eval_plot import plot_evaluation
from .eval_results import BLEND, CALIBRATED, FULL, LLM_METHODS, NO_REASON, ONE_STEP, STACKED, TargetResult
from .eval_run import EvalRun, run_id, write_atomically
from .evaluate import MetricRow, baseline_models, fit_model, metric_row

BarFactory = Callable[[str], Callable[[int, int], None]]


class EvalSettingsError(Reason4RecError):
    """Settings that cannot describe an evaluation (e.g. a limit beyond the test set)."""


@dataclass
class ExpertEvalSettings:
    split: str = "leave-last-out"
    limit: int | None = None
    """Score a seeded random sample of this many test targets (None: all of them)."""
    seed: int = 2020
    history_k: int = 3
    batch_size: int = 8
    summary_batch: int = 16
    max_review_chars: int = 400
    one_step: bool = True
    judge_model: str | None = None
    """A model on the OpenAI-compatible endpoint ($OPENAI_BASE_URL) that scores reasons 1-10."""
    chunk_size: int = 32
    """Targets scored between two saves: the most an interruption can lose."""
    review_aware: bool = True
    """Fit HFT, the review-aware baseline (minutes on a CPU)."""
    estimates: bool = False
    """The Predictor reads the collaborative estimates (its card says so): each test target's come
    from models fitted on the training and validation reviews, as the baselines are."""
    reasoner_stars: bool = False
    """The Reasoner's prompt shows each history line's stars (its card says so)."""
    calibration: Calibration | None = None
    """The category's calibration for these experts, fitted on this split's validation targets: its
    row is what a person is shown (the predictions kept are the Predictor's own)."""


@dataclass
class ExpertEvaluation:
    rows: list[MetricRow]
    targets: list[TargetResult]
    quality: dict[str, Any]
    timings: dict[str, float]
    settings: dict[str, Any]
    baseline_predictions: dict[str, list[float]] = field(default_factory=dict)
    comparison: dict[str, Any] = field(default_factory=dict)

    def row(self, method: str) -> MetricRow:
        return next(r for r in self.rows if r.method == method)

    def beats_all_baselines(self) -> bool:
        """True only when the pipeline's MAE is below every baseline's with the paired 95%
        interval of the difference excluding zero."""
        against = self.comparison.get("baselines", {})
        return bool(against) and all(d["mae"][2] < 0 for d in against.values())

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """``results.json`` and ``ratings.png`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        results = out_dir / "results.json"
        write_atomically(results, json.dumps({
            "settings": self.settings, "rows": [r.as_dict() for r in self.rows],
            "comparison": self.comparison, "beats_all_baselines": self.beats_all_baselines(),
            "quality": self.quality, "timings": self.timings,
            "baseline_predictions": self.baseline_predictions,
            "targets": [asdict(t) for t in self.targets],
        }, indent=2))
        plot = out_dir / "ratings.png"
        plot_evaluation(self, plot)
        return results, plot


def select_targets(dataset: ReviewDataset, settings: ExpertEvalSettings) -> tuple[Split, list[Target]]:
    """The split and its test targets in time order (a seeded sample of ``limit`` of them)."""
    split = make_split(dataset, settings.split, settings.seed)
    targets = build_targets(split, "test", settings.history_k)
    if settings.limit is not None:
        if settings.limit < 1:
            raise EvalSettingsError(f"--limit must be at least 1, got {settings.limit}")
        if settings.limit > len(targets):
            raise EvalSettingsError(f"--limit {settings.limit} is larger than the {split.name} test set "
                                    f"({len(targets):,} targets); leave it out to score them all")
        if settings.limit < len(targets):
            targets = sorted(random.Random(settings.seed).sample(targets, settings.limit),
                             key=lambda t: t.review.order_key)
    return split, targets


def run_key(dataset: ReviewDataset, targets: Sequence[Target], settings: ExpertEvalSettings,
            backend: Backend, rule: VerdictRule | None = None) -> dict[str, Any]:
    """What must match for a run folder to be continued: same targets, data, adapters, backend and
    the same cleaning of history summaries."""
    experts = [Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR] + ([Expert.ONE_STEP] if settings.one_step else [])
    return {
        "split": settings.split, "limit": settings.limit, "seed": settings.seed,
        "history_k": settings.history_k, "max_review_chars": settings.max_review_chars,
        "one_step": settings.one_step, "targets": len(targets),
        **content_key(dataset, targets),
        "adapters": {name: backend.version(name) for name in experts},
        "summaries": summary_version(backend.version(Expert.SUMMARIZER)),
        "backend": getattr(backend, "kind", type(backend).__name__),
        **({"estimates": "held-out bias + SVD++"} if settings.estimates else {}),
        **({"reasoner_stars": True} if settings.reasoner_stars else {}),
        **({"verdict_rule": rule.threshold} if rule is not None else {}),
    }


def content_key(dataset: ReviewDataset, targets: Sequence[Target]) -> dict[str, str]:
    """The part of a run's key that says what its prompts were made of: the targets, the data
    (the text too: it reaches every prompt) and the way history summaries are cleaned."""
    digest = lambda rows: hashlib.sha256("\n".join(rows).encode()).hexdigest()[:12]  # noqa: E731
    return {
        "target_ids": digest([t.review.review_id for t in targets]),
        "data": digest([f"{r.review_id}:{r.rating}:{r.order_key}:{hashlib.sha256(r.text.encode()).hexdigest()[:8]}"
                        for r in dataset.reviews]),
        "history_format": HISTORY_FORMAT,
        "prompts": PROMPT_VERSION,
    }


def default_run_folder(home: Path, key: dict[str, Any]) -> Path:
    """``<home>/eval/<split>-<all|N>-<id>``: running the same command again continues it."""
    return Path(home) / "eval" / f"{key['split']}-{key['limit'] or 'all'}-{run_id(key)}"


def evaluate_experts(
    config: Config,
    dataset: ReviewDataset,
    backend: Backend,
    settings: ExpertEvalSettings,
    cache: SummaryCache,
    run_dir: Path | None = None,
    *,
    restart: bool = False,
    bars: BarFactory | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> ExpertEvaluation:
    bars = bars or (lambda label: (lambda done, total: None))
    split, targets = select_targets(dataset, settings)
    rule = verdict_rule_for(config, split, settings)
    key = run_key(dataset, targets, settings, backend, rule)
    run = EvalRun.open(run_dir or default_run_folder(config.home, key), key, restart=restart, say=say,
                      check=TargetResult.problem)
    cache.add_seed(run.summaries)  # a run copied from another machine brings its summaries
    todo = [t for t in targets if t.review.review_id not in run.done]
    say(f"{len(targets):,} {split.name} test targets (history K={settings.history_k}); "
        f"{len(targets) - len(todo):,} already scored in {run.folder}")

    timings: dict[str, float] = {}
    estimates = _estimates(config, split, targets, settings, rule)
    if todo:
        _score_all(backend, dataset, todo, len(targets), cache, run, settings, bars, timings, estimates)
    results = [TargetResult.from_record(run.done[t.review.review_id]) for t in targets]
    all_contexts = estimates(targets, target_contexts(backend, targets, cache, dataset.category, dataset.title,
                                                      batch_size=settings.summary_batch,
                                                      max_review_chars=settings.max_review_chars,
                                                      reasoner_stars=settings.reasoner_stars))  # cached by now
    _measure_reasons(targets, all_contexts, results)

    true = np.array([r.true for r in results])
    predictions = {method: np.array([r.predictions[method] for r in results])
                   for method in LLM_METHODS if method in results[0].predictions}
    notes = {FULL: "3 experts", NO_REASON: "Analysis: none", ONE_STEP: "reason+rate"}
    stage = {FULL: (Expert.REASONER, Expert.PREDICTOR), NO_REASON: (Expert.PREDICTOR,), ONE_STEP: (Expert.ONE_STEP,)}
    rows = [metric_row(split.name, method, predicted, true,
                       sum(r.seconds.get(s, 0.0) for r in results for s in stage[method]), notes[method])
            for method, predicted in predictions.items()]
    baseline_predictions = _baselines(config, split, targets, settings, bars, rows, true)
    if len(targets) >= 2:
        started = time.perf_counter()
        baseline_predictions[STACKED] = cross_fitted_stack(baseline_predictions, true)
        rows.append(metric_row(split.name, STACKED, baseline_predictions[STACKED], true,
                               time.perf_counter() - started, "ridge on every baseline, 5-fold cross-fitted"))

    comparison = _comparison(predictions, baseline_predictions, true, rows)
    comparison["blend"] = _blend(predictions[FULL], baseline_predictions, true, split.name, rows, comparison)
    if settings.calibration is not None and settings.calibration.line.applied:
        comparison["calibrated"] = _calibrated(settings.calibration, predictions[FULL], baseline_predictions, true,
                                               split.name, rows, comparison)
    quality = _quality(config, targets, results, cache, backend, settings, timings, say)
    if rule is not None:
        fitted = "calibration" if rule is _calibrated_rule(settings) else "ratings"
        quality["reasons"]["verdict_rule"] = {"threshold": rule.threshold, "fitted": fitted,
                                              "from_ratings": sum(c.verdict_from_ratings for c in all_contexts)}
    timings |= {f"{s}_s": sum(r.seconds.get(s, 0.0) for r in results)
                for s in (Expert.REASONER, Expert.PREDICTOR, Expert.ONE_STEP)}
    return ExpertEvaluation(rows, results, quality, {k: round(v, 1) for k, v in timings.items()},
                            {**asdict(settings), "targets": len(targets), "key": key,
                             "run_folder": str(run.folder)},
                            {name: [round(float(x), 4) for x in values]
                             for name, values in baseline_predictions.items()},
                            comparison)


def _score_all(backend: Backend, dataset: ReviewDataset, todo: list[Target], total: int,
               cache: SummaryCache, run: EvalRun, settings: ExpertEvalSettings, bars: BarFactory,
               timings: dict[str, float], estimates: Attach) -> None:
    """Chunk by chunk: summarize the chunk's history reviews (cached), score it, save both.

    Summaries are made per chunk, not all first, so an evaluation stopped at any point has saved
    predictions for what it summarized, and the run folder keeps those summaries with them.
    """
    version = summary_version(backend.version(Expert.SUMMARIZER))
    needed = history_reviews(todo)
    missing = sum(cache.get(r.review_id, version) is None for r in needed)
    summary_bar = bars(f"Summarizer: {missing:,} of {len(needed):,} history reviews to summarize "
                       "(the rest cached)")
    target_bar = bars(f"{FULL}: targets")
    done_before, summarized = total - len(todo), 0
    summary_bar(0, missing)
    target_bar(done_before, total)
    timings["summaries_s"] = 0.0
    for start in range(0, len(todo), settings.chunk_size):
        chunk = todo[start:start + settings.chunk_size]
        started = time.perf_counter()
        chunk_reviews = history_reviews(chunk)
        cached = len(chunk_reviews) - sum(cache.get(r.review_id, version) is None for r in chunk_reviews)

        def progress(done: int, of: int, base: int = summarized, cached: int = cached) -> None:
            summary_bar(base + done - cached, missing)  # ``done`` counts the cached ones too

        contexts = estimates(chunk, target_contexts(backend, chunk, cache, dataset.category, dataset.title,
                                                    batch_size=settings.summary_batch,
                                                    max_review_chars=settings.max_review_chars, progress=progress,
                                                    reasoner_stars=settings.reasoner_stars))
        run.keep_summaries((r.review_id, version, cache.get(r.review_id, version)) for r in chunk_reviews)
        summarized += len(chunk_reviews) - cached
        timings["summaries_s"] += time.perf_counter() - started
        run.append(asdict(r) for r in _score_chunk(backend, list(zip(chunk, contexts)), settings))
        target_bar(done_before + start + len(chunk), total)
    summary_bar(missing, missing)


Attach = Callable[[Sequence[Target], list[TargetContext]], list[TargetContext]]
"""``attach(targets, contexts)``: the contexts as the Predictor is to see them."""


def _estimates(config: Config, split: Split, targets: Sequence[Target], settings: ExpertEvalSettings,
               rule: VerdictRule | None) -> Attach:
    """Attaches each test target's held-out collaborative estimates, for a Predictor that reads them
    (fitted once, on training and validation reviews only), and the verdict ``rule`` gives; for any
    other, the contexts as they are."""
    if not settings.estimates and rule is None:
        return lambda chunk, contexts: contexts
    found = held_out_estimates(config, split, "test", [t.review for t in targets])
    at = {t.review.review_id: row for row, t in enumerate(targets)}

    def attach(chunk: Sequence[Target], contexts: list[TargetContext]) -> list[TargetContext]:
        rows = [at[t.review.review_id] for t in chunk]
        if settings.estimates:
            contexts = attach_estimates(contexts, RatingEstimates(found.bias[rows], found.svdpp[rows],
                                                                  tuple(found.cold[r] for r in rows)))
        if rule is not None:  # the verdict as the agent gives it (from the same held-out estimates)
            contexts = [replace(c, verdict_from_ratings=rule.says_no(float(found.bias[r])))
                        for c, r in zip(contexts, rows)]
        return contexts

    return attach


def verdict_rule_for(config: Config, split: Split, settings: ExpertEvalSettings) -> VerdictRule | None:
    """The verdict rule the agent would use for these experts: their calibration's where it placed
    a threshold, else the one the ratings of a memory holding the split's training and validation
    reviews give (what the test targets' estimates are fitted on): no test rating reaches it."""

    def from_ratings() -> VerdictRule:
        found = model_settings(config)
        return fit_ratings_verdict_rule([*split.train, *split.valid], bias_l2=found["bias_l2"],
                                        bias_iterations=found["bias_iterations"])

    return rule_in_use(_calibrated_rule(settings), from_ratings)


def _calibrated_rule(settings: ExpertEvalSettings) -> VerdictRule | None:
    """The calibration's verdict rule, used or not (None without a calibration or a rule)."""
    return settings.calibration.verdict if settings.calibration is not None else None


def _score_chunk(backend: Backend, chunk: list[tuple[Target, TargetContext]],
                 settings: ExpertEvalSettings) -> list[TargetResult]:
    """The deliberation (:mod:`~reason4rec.experts.deliberation`, as the agent runs it, greedy),
    the rating without a reason and the one-step ablation; reasons are measured later."""
    targets = [t for t, _ in chunk]
    contexts = [c for _, c in chunk]
    seconds: dict[str, float] = {}
    reasons = _timed(seconds, Expert.REASONER,
                     lambda: reasons_for(backend, contexts, batch_size=settings.batch_size))
    full, bare = _timed(seconds, Expert.PREDICTOR, lambda: (
        ratings_for(backend, contexts, reasons), ratings_for(backend, contexts, [None] * len(contexts))))
    one_step_reasons: list[str] = [""] * len(chunk)
    one_step = None
    if settings.one_step:
        one_step_prompts = [one_step_messages(c) for c in contexts]

        def run_one_step():
            texts = [_cut_rating(t) for t in _generate(backend, Expert.ONE_STEP, one_step_prompts,
                                                       settings.batch_size)]
            return texts, backend.rate(Expert.ONE_STEP, one_step_prompts,
                                       response_prefixes=[t or "(no reason)" for t in texts])

        one_step_reasons, one_step = _timed(seconds, Expert.ONE_STEP, run_one_step)

    results = []
    for i, target in enumerate(targets):
        predictions = {FULL: round(full[i].expected, 4), NO_REASON: round(bare[i].expected, 4)}
        if one_step is not None:
            predictions[ONE_STEP] = round(one_step[i].expected, 4)
        results.append(TargetResult(
            review_id=target.review.review_id, user_id=target.review.user_id,
            item_id=target.review.item_id, true=target.review.rating, predictions=predictions,
            reason=reasons[i], distribution=full[i].as_dict(), one_step_reason=one_step_reasons[i],
            seconds={stage: round(total / len(chunk), 4) for stage, total in seconds.items()},
        ))
    return results


def _measure_reasons(targets: Sequence[Target], contexts: Sequence[TargetContext],
                     results: list[TargetResult]) -> None:
    """Grounding, verdict and completeness of every reason, from what its model was shown.

    Measured when the evaluation is summed up, not when a reason is saved, so a refined measure
    applies to a finished run without generating anything again.
    """
    for target, context, result in zip(targets, contexts, results):
        user, item = side_vocabularies(context, target)
        shown = user | item  # what grounding counts as shown; the one-step prompt shows the same data
        found = grounding_in(result.reason, shown)
        wrong = misattributed_in(result.reason, user, item)
        result.grounding = _round(found.share)
        result.invented = list(found.invented)
        result.misattributed = [phrase for phrase, _ in wrong]
        result.attributed = _round(attributed_share(found, wrong))
        result.verdict_agrees = verdict_agrees(result.reason, result.true)
        result.complete = is_complete(result.reason)
        if ONE_STEP in result.predictions:
            result.one_step_grounding = _round(grounding_in(result.one_step_reason, shown).share)
            result.one_step_complete = is_complete(result.one_step_reason)


def side_vocabularies(context: TargetContext, target: Target) -> tuple[set[str], set[str]]:
    """The user's and the item's :func:`side_texts` as vocabularies, made once per target: the two
    together are what grounding counts as shown (:func:`shown_texts` with :func:`history_texts`)."""
    return vocabulary_of(side_texts(context, target, "user")), vocabulary_of(side_texts(context, target, "item"))


def side_texts(context: TargetContext, target: Target, side: Side) -> list[str]:
    """What the Reasoner was shown of one side (:func:`shown_texts`, split): the user's history
    lines and reviews, or the item's title, history lines and reviews."""
    if side == "user":
        return shown_texts(replace(context, item_title="", item_history=()), [r.text for r in target.user_history])
    return shown_texts(replace(context, user_history=()), [r.text for r in target.item_history])


def history_texts(target: Target) -> list[str]:
    """The raw history reviews behind the summaries a target's prompts show: with
    :func:`reason4rec.experts.shown_texts`, what grounding counts as shown to a reason's writer."""
    return [r.text for r in (*target.user_history, *target.item_history)]


def _timed(seconds: dict[str, float], stage: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = work()
    seconds[stage] = time.perf_counter() - started
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _generate(backend: Backend, expert: Expert, prompts: list[Messages], batch: int) -> list[str]:
    out: list[str] = []
    for start in range(0, len(prompts), batch):
        out.extend(backend.generate(expert, prompts[start:start + batch]))
    return out


def _cut_rating(text: str) -> str:
    """The one-step answer's reason part (everything before its own rating line)."""
    return re.split(re.escape(RATING_PREFIX.strip()), text, maxsplit=1)[0].strip()


def _baselines(config: Config, split: Split, targets: Sequence[Target], settings: ExpertEvalSettings,
               bars: BarFactory, rows: list[MetricRow], true: np.ndarray) -> dict[str, np.ndarray]:
    """Fit every baseline on the split, predict the same targets, append their rows."""
    reviews = [t.review for t in targets]
    predictions: dict[str, np.ndarray] = {}
    models = baseline_models(config.baselines, lambda name: bars(f"baseline: {name}"),
                             review_aware=settings.review_aware)
    for model in models:
        started = time.perf_counter()
        fit_model(model, split)
        predictions[model.name] = model.predict(reviews)
        rows.append(metric_row(split.name, model.name, predictions[model.name], true,
                               time.perf_counter() - started, model.note))
    return predictions


def _comparison(predictions: dict[str, np.ndarray], baselines: dict[str, np.ndarray],
                true: np.ndarray, rows: list[MetricRow]) -> dict[str, Any]:
    """Paired differences (pipeline minus other; negative = the pipeline is better), 95% CIs."""
    indices = resample_indices(true.size)
    full = predictions[FULL]

    def difference(other: np.ndarray) -> dict[str, list[float]]:
        return _paired_errors(full, other, true, indices)

    by_mae = {r.method: r.mae for r in rows}
    best = min(baselines, key=lambda name: by_mae[name])
    return {
        "note": "pipeline minus other: [value, low, high] of a paired bootstrap, 1,000 resamples, 95%",
        "best_baseline": best,
        "against_best": difference(baselines[best]),
        "baselines": {name: difference(values) for name, values in baselines.items()},
        "ablations": {name: difference(values) for name, values in predictions.items() if name != FULL},
    }


def _calibrated(calibration: Calibration, pipeline: np.ndarray, baselines: dict[str, np.ndarray],
                true: np.ndarray, split: str, rows: list[MetricRow], comparison: dict[str, Any]) -> dict[str, Any]:
    """The calibrated pipeline's row and its paired differences (calibrated minus other)."""
    calibrated = np.array([calibration.rating(float(x)) for x in pipeline])
    rows.append(metric_row(split, CALIBRATED, calibrated, true, 0.0,
                           f"line fitted on {calibration.targets} validation targets"))
    indices = resample_indices(true.size)

    def difference(other: np.ndarray) -> dict[str, list[float]]:
        return _paired_errors(calibrated, other, true, indices)

    return {"calibration": calibration.view(), "spread": round(float(np.std(calibrated)), 4),
            "against_pipeline": difference(pipeline),
            "against_best": difference(baselines[comparison["best_baseline"]]),
            "baselines": {name: difference(values) for name, values in baselines.items()}}


def _blend(pipeline: np.ndarray, baselines: dict[str, np.ndarray], true: np.ndarray, split: str,
           rows: list[MetricRow], comparison: dict[str, Any]) -> dict[str, Any]:
    """The extra blend row and its paired difference from the best baseline (what it adds)."""
    blend = cross_fitted_blend(pipeline, baselines, true)
    rows.append(metric_row(split, BLEND, blend.predicted, true, 0.0, blend.describe()))
    best = comparison["best_baseline"]
    return {
        "method": BLEND, "folds": blend.folds, "pipeline_weights": blend.weights, "baselines": blend.baselines,
        "predictions": [round(float(x), 4) for x in blend.predicted],
        "against_best": _paired_errors(blend.predicted, baselines[best], true),
    }


def _paired_errors(mine: np.ndarray, other: np.ndarray, true: np.ndarray,
                   indices: np.ndarray | None = None) -> dict[str, list[float]]:
    """MAE and RMSE of ``mine`` minus ``other`` on the same targets, each with its paired interval
    (``indices``: the resamples shared by a table's differences; None draws the same seeded ones)."""
    return {metric: paired_difference(mine, other, true, metric, indices).as_list() for metric in ("mae", "rmse")}


def _quality(config: Config, targets: Sequence[Target], results: list[TargetResult],
             cache: SummaryCache, backend: Backend, settings: ExpertEvalSettings, timings: dict,
             say) -> dict[str, Any]:
    started = time.perf_counter()
    true = [r.true for r in results]
    quality: dict[str, Any] = {"reasons": _reason_summary(
        [r.grounding for r in results], [r.invented for r in results],
        [r.verdict_agrees for r in results], [r.complete for r in results], true, [r.reason for r in results])
        | _attribution_summary(results)}
    if any(r.one_step_reason for r in results):
        quality["one_step_reasons"] = _reason_summary(
            [r.one_step_grounding for r in results], None,
            [verdict_agrees(r.one_step_reason, r.true) for r in results],
            [bool(r.one_step_complete) for r in results], true, [r.one_step_reason or "" for r in results])
    quality["reasons"] |= _similarity(config, targets, results, quality, say)
    quality["summaries"] = _summary_quality(targets, cache, summary_version(backend.version(Expert.SUMMARIZER)))
    if settings.judge_model:
        quality["judge"] = _judge(settings.judge_model, [t.review.text for t in targets],
                                  [r.reason for r in results])
    timings["quality_s"] = time.perf_counter() - started
    return quality


def _reason_summary(shares: list[float | None], invented: list[list[str]] | None,
                    agrees: list[bool | None], complete: list[bool], true: list[float],
                    reasons: list[str]) -> dict[str, Any]:
    tones = np.array([sentiment(text) for text in reasons])
    stars = np.array(true, dtype=float)
    summary = {
        "grounding": mean_of(shares),
        "with_aspects": sum(s is not None for s in shares),
        "verdict_agreement": mean_of(agrees),
        "verdict_scored": sum(a is not None for a in agrees),
        # most targets are 4-5 stars, so an always-positive reasoner agrees often: the low ratings tell
        "verdict_agreement_low_ratings": mean_of(a for a, t in zip(agrees, true) if t <= 2),
        "low_ratings": sum(t <= 2 for t in true),
        # does the verdict carry the rating at all: its sentiment's correlation with the stars given
        "verdict_correlation": (round(float(np.corrcoef(tones, stars)[0, 1]), 4)
                                if len(stars) > 1 and np.ptp(tones) > 0 and np.ptp(stars) > 0 else None),
        "complete": mean_of(complete),
    }
    if invented is not None:
        common = Counter(p for phrases in invented for p in phrases).most_common(10)
        summary["most_invented"] = [phrase for phrase, _ in common]
    return summary


def _attribution_summary(results: Sequence[TargetResult]) -> dict[str, Any]:
    """How often reasons give an aspect to the side whose reviews do not say it."""
    common = Counter(p for r in results for p in r.misattributed).most_common(10)
    return {"attributed": mean_of(r.attributed for r in results),
            "with_misattributed": mean_of(bool(r.misattributed) for r in results),
            "most_misattributed": [phrase for phrase, _ in common]}


def _similarity(config: Config, targets, results: list[TargetResult], quality: dict, say) -> dict[str, Any]:
    """Embedding similarity of reasons to the real reviews (and to mismatched reviews, for scale)."""
    from ..experts import load_sentence_model

    reviews = RealReviews.embed(load_sentence_model(config.home, status=say), [t.review.text for t in targets])
    reasons = reviews.encode([r.reason for r in results])
    matched = reviews.cosine(reasons)
    # each reason against another target's review: what similarity means by chance
    mismatched = reviews.cosine(reasons, shift=1) if len(targets) > 1 else matched
    for result, value in zip(results, matched):
        result.similarity = round(float(value), 4)
    out = {"review_similarity": round(float(matched.mean()), 4),
           "mismatched_review_similarity": round(float(mismatched.mean()), 4),
           "embedding_model": "all-MiniLM-L6-v2"}
    if "one_step_reasons" in quality:
        one = reviews.similarity([r.one_step_reason for r in results])
        quality["one_step_reasons"]["review_similarity"] = round(float(one.mean()), 4)
    return out


@dataclass(frozen=True)
class RealReviews:
    """The targets' real reviews, embedded once, to score reasons against: a reason that
    anticipates what the user went on to write is closer to it (cosine of normalised
    all-MiniLM-L6-v2 vectors)."""

    model: Any
    vectors: np.ndarray

    @classmethod
    def embed(cls, model: Any, reviews: Sequence[str]) -> RealReviews:
        return cls(model, cls._encode(model, [text or "(empty review)" for text in reviews]))

    def similarity(self, texts: Sequence[str | None]) -> np.ndarray:
        """Each text's cosine to its own review."""
        return self.cosine(self.encode(texts))

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        if len(texts) != len(self.vectors):
            raise ValueError(f"{len(texts)} texts for {len(self.vectors)} reviews")
        return self._encode(self.model, [text or "(no reason)" for text in texts])

    def cosine(self, vectors: np.ndarray, shift: int = 0) -> np.ndarray:
        """Cosine of each encoded text to its own review, or to the review ``shift`` places earlier."""
        reviews = np.roll(self.vectors, shift, axis=0) if shift else self.vectors
        return np.sum(reviews * vectors, axis=1)

    @staticmethod
    def _encode(model: Any, texts: list[str]) -> np.ndarray:
        return model.encode(texts, normalize_embeddings=True, batch_size=64)


def _summary_quality(targets: Sequence[Target], cache: SummaryCache, version: str) -> dict[str, Any]:
    """Well-formed rate of the summaries of every history review these targets showed."""
    problems: Counter[str] = Counter()
    checked = well_formed = 0
    for review in history_reviews(targets):
        summary = cache.get(review.review_id, version)
        if summary is None:
            continue
        checked += 1
        found = summary_problems_of(summary, review.text)
        well_formed += not found
        problems.update({p.split(": ", 1)[-1] for p in found})
    return {"well_formed": round(well_formed / checked, 4) if checked else None, "checked": checked,
            "problems": dict(problems.most_common()), "version": version}


def _judge(model: str, reviews: list[str], reasons: list[str]) -> dict[str, Any]:
    """Mean 1-10 score from a judge LLM: how well does the reason anticipate the real review?"""
    import os

    from openai import OpenAI, OpenAIError

    client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "not-needed", max_retries=3)
    scores, failures = [], 0
    for review, reason in zip(reviews, reasons):
        prompt = ("Score from 1 to 10 how well the RATIONALE anticipates what the user said in the "
                  f"REVIEW (aspects, likes, dislikes). Answer with the number only.\n"
                  f"RATIONALE: {reason[:1500]}\nREVIEW: {review[:1500]}")
        try:
            answer = client.chat.completions.create(model=model, temperature=0.0, max_tokens=4,
                                                    messages=[{"role": "user", "content": prompt}])
            match = re.search(r"\b(10|[1-9])\b", answer.choices[0].message.content or "")
        except OpenAIError:
            match = None
        if match:
            scores.append(int(match.group(1)))
        else:
            failures += 1
    return {"model": model, "mean_score": round(float(np.mean(scores)), 3) if scores else None,
            "scored": len(scores), "failed": failures}

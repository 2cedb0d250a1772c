"""``reason4rec eval``: the expert pipeline, its ablations and the baselines on the SAME targets.

Rows (leave-last-out test targets, or a seeded sample of ``limit`` of them):

* **Reason4Rec**: Summarizer summaries -> Reasoner reason -> Predictor expected rating.
* **Predictor without reason**: the same Predictor with ``Analysis: none`` (is the reason used?).
* **One-step**: one adapter writes a reason and then the rating (the paper's ablation).
* every baseline of the foundation issue, fitted on train + validation.

Reasoning quality is the cosine similarity (all-MiniLM-L6-v2) between each reason and the user's
real review of the item, next to the same score for mismatched pairs (a shuffled review) so the
number can be read; with a judge model on an OpenAI-compatible endpoint, also a 1-10 judge score.

Example:
    >>> result = evaluate_experts(config, dataset, backend, ExpertEvalSettings(limit=50))  # doctest: +SKIP
    >>> result.write(Path("eval-out"))                                                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..experts.backend import Backend
from ..experts.prompts import RATING_PREFIX, one_step_messages, predictor_messages, reasoner_messages
from ..experts.summaries import SummaryCache, target_contexts
from .data import ReviewDataset
from .evaluate import MetricRow, baseline_models, mae, rmse, score_model
from .splits import build_targets, make_split

FULL = "Reason4Rec"
"""Summarizer -> Reasoner -> Predictor, the full pipeline."""
NO_REASON = "Predictor, no reason"
ONE_STEP = "One-step"
"""One adapter writes a reason and then the rating."""
BarFactory = Callable[[str], Callable[[int, int], None]]


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


@dataclass
class TargetResult:
    review_id: str
    user_id: str
    item_id: str
    true: float
    predictions: dict[str, float]
    reason: str
    distribution: dict[str, Any]
    one_step_reason: str = ""
    similarity: float | None = None


@dataclass
class ExpertEvaluation:
    rows: list[MetricRow]
    targets: list[TargetResult]
    quality: dict[str, Any]
    timings: dict[str, float]
    settings: dict[str, Any]
    baseline_predictions: dict[str, list[float]] = field(default_factory=dict)

    def row(self, method: str) -> MetricRow:
        return next(r for r in self.rows if r.method == method)

    def beats_all_baselines(self) -> bool:
        full = self.row(FULL).mae
        return all(full < r.mae for r in self.rows if r.method not in (FULL, NO_REASON, ONE_STEP))

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """``results.json`` and ``ratings.png`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        results = out_dir / "results.json"
        results.write_text(json.dumps({
            "settings": self.settings, "rows": [r.as_dict() for r in self.rows],
            "quality": self.quality, "timings": self.timings,
            "beats_all_baselines": self.beats_all_baselines(),
            "targets": [asdict(t) for t in self.targets],
        }, indent=2))
        plot = out_dir / "ratings.png"
        _plot(self, plot)
        return results, plot


def evaluate_experts(
    config: Config,
    dataset: ReviewDataset,
    backend: Backend,
    settings: ExpertEvalSettings,
    cache: SummaryCache,
    bars: BarFactory | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> ExpertEvaluation:
    bars = bars or (lambda label: (lambda done, total: None))
    timings: dict[str, float] = {}
    split = make_split(dataset, settings.split, settings.seed)
    targets = build_targets(split, "test", settings.history_k)
    if settings.limit is not None and settings.limit < len(targets):
        targets = sorted(random.Random(settings.seed).sample(targets, settings.limit),
                         key=lambda t: t.review.order_key)
    say(f"{len(targets)} {settings.split} test targets (history K={settings.history_k})")

    started = time.perf_counter()
    contexts = target_contexts(backend, targets, cache, dataset.category, dataset.title,
                               batch_size=settings.summary_batch, max_review_chars=settings.max_review_chars,
                               progress=bars("Summarizer: history reviews (cached)"))
    timings["summaries_s"] = time.perf_counter() - started

    reasons = _generate(backend, "reasoner", [reasoner_messages(c) for c in contexts],
                        settings.batch_size, bars("Reasoner: reasons"), timings, "reasoner_s")
    started = time.perf_counter()
    full = backend.rate("predictor", [predictor_messages(c, r) for c, r in zip(contexts, reasons)])
    bare = backend.rate("predictor", [predictor_messages(c, None) for c in contexts])
    timings["predictor_s"] = time.perf_counter() - started

    one_step_reasons: list[str] = []
    one_step = []
    if settings.one_step:
        one_step_prompts = [one_step_messages(c) for c in contexts]
        one_step_reasons = [_cut_rating(t) for t in _generate(
            backend, "one_step", one_step_prompts, settings.batch_size,
            bars("One-step: reason + rating"), timings, "one_step_s")]
        one_step = backend.rate("one_step", one_step_prompts,
                                response_prefixes=[r or "(no reason)" for r in one_step_reasons])

    true = [t.review.rating for t in targets]
    rows = [_row(split.name, FULL, [d.expected for d in full], true, timings.get("reasoner_s", 0)
                 + timings["predictor_s"] / 2, "3 experts"),
            _row(split.name, NO_REASON, [d.expected for d in bare], true, timings["predictor_s"] / 2,
                 "Analysis: none")]
    if one_step:
        rows.append(_row(split.name, ONE_STEP, [d.expected for d in one_step], true,
                         timings.get("one_step_s", 0), "reason+rate"))
    baseline_predictions: dict[str, list[float]] = {}
    for model in baseline_models(config.baselines):
        row = score_model(model, split, [t.review for t in targets])
        rows.append(row)
        baseline_predictions[model.name] = [float(x) for x in model.predict([t.review for t in targets])]

    results = [
        TargetResult(
            review_id=t.review.review_id, user_id=t.review.user_id, item_id=t.review.item_id,
            true=t.review.rating,
            predictions={FULL: round(f.expected, 4), NO_REASON: round(b.expected, 4),
                         **({ONE_STEP: round(one_step[i].expected, 4)} if one_step else {})},
            reason=reasons[i], distribution=f.as_dict(),
            one_step_reason=one_step_reasons[i] if one_step_reasons else "",
        )
        for i, (t, f, b) in enumerate(zip(targets, full, bare))
    ]
    quality = _reason_quality(config, targets, results, settings, timings, say)
    return ExpertEvaluation(rows, results, quality, {k: round(v, 1) for k, v in timings.items()},
                            {**asdict(settings), "targets": len(targets), "adapters": {
                                name: backend.version(name) for name in ("summarizer", "reasoner", "predictor")}},
                            baseline_predictions)


def _generate(backend: Backend, expert: str, prompts: list, batch: int, bar, timings: dict, key: str) -> list[str]:
    started = time.perf_counter()
    out: list[str] = []
    for start in range(0, len(prompts), batch):
        out.extend(backend.generate(expert, prompts[start:start + batch]))
        bar(len(out), len(prompts))
    timings[key] = time.perf_counter() - started
    return out


def _cut_rating(text: str) -> str:
    """The one-step answer's reason part (everything before its own rating line)."""
    return re.split(re.escape(RATING_PREFIX.strip()), text, maxsplit=1)[0].strip()


def _row(split: str, method: str, predicted: Sequence[float], true: Sequence[float], seconds: float,
         note: str) -> MetricRow:
    return MetricRow(split=split, method=method, targets=len(true), mae=mae(predicted, true),
                     rmse=rmse(predicted, true), seconds=seconds, note=note)


def _reason_quality(config: Config, targets, results: list[TargetResult], settings: ExpertEvalSettings,
                    timings: dict, say) -> dict[str, Any]:
    """Embedding similarity of reasons to the real reviews (and to mismatched reviews, for scale)."""
    from ..experts.sentence_model import load_sentence_model

    started = time.perf_counter()
    model = load_sentence_model(config.home, status=say)
    real = [t.review.text or "(empty review)" for t in targets]
    reasons = [r.reason or "(no reason)" for r in results]
    embed = lambda texts: model.encode(texts, normalize_embeddings=True, batch_size=64)  # noqa: E731
    real_vectors, reason_vectors = embed(real), embed(reasons)
    matched = np.sum(real_vectors * reason_vectors, axis=1)
    shift = np.roll(np.arange(len(real)), 1)  # each reason against another target's review
    mismatched = np.sum(real_vectors[shift] * reason_vectors, axis=1) if len(real) > 1 else matched
    for result, value in zip(results, matched):
        result.similarity = round(float(value), 4)
    quality: dict[str, Any] = {
        "reason_review_similarity": round(float(matched.mean()), 4),
        "mismatched_review_similarity": round(float(mismatched.mean()), 4),
        "embedding_model": "all-MiniLM-L6-v2",
    }
    if any(r.one_step_reason for r in results):
        one = embed([r.one_step_reason or "(no reason)" for r in results])
        quality["one_step_reason_review_similarity"] = round(float(np.sum(real_vectors * one, axis=1).mean()), 4)
    if settings.judge_model:
        quality["judge"] = _judge(settings.judge_model, real, reasons)
    timings["quality_s"] = time.perf_counter() - started
    return quality


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


def _plot(result: ExpertEvaluation, path: Path) -> None:
    """Predicted vs true (jittered) for the pipeline, and MAE per true rating for each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = np.array([t.true for t in result.targets])
    full = np.array([t.predictions[FULL] for t in result.targets])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=len(true))
    left.scatter(true + jitter, full, s=10, alpha=0.5)
    left.plot([1, 5], [1, 5], color="grey", lw=1, ls="--")
    left.set(xlabel="true rating", ylabel="predicted (expected) rating", xlim=(0.5, 5.5), ylim=(0.8, 5.2),
             title="Reason4Rec: predicted vs true")
    stars = [1, 2, 3, 4, 5]
    methods: dict[str, np.ndarray] = {"Reason4Rec": full}
    if result.targets and ONE_STEP in result.targets[0].predictions:
        methods["one-step"] = np.array([t.predictions[ONE_STEP] for t in result.targets])
    baseline_rows = [r for r in result.rows if r.method in result.baseline_predictions]
    if baseline_rows:
        best = min(baseline_rows, key=lambda r: r.mae)
        methods[f"{best.method} (best baseline)"] = np.array(result.baseline_predictions[best.method])
    width = 0.8 / len(methods)
    for offset, (name, predicted) in enumerate(methods.items()):
        errors = [float(np.abs(predicted[true == s] - s).mean()) if np.any(true == s) else 0.0 for s in stars]
        right.bar(np.array(stars) + (offset - (len(methods) - 1) / 2) * width, errors, width, label=name)
    counts = [int(np.sum(true == s)) for s in stars]
    right.set_xticks(stars, [f"{s}\n(n={c})" for s, c in zip(stars, counts)])
    right.set(xlabel="true rating", ylabel="mean absolute error", title="Error per true rating")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Before and after: the experts measured on the person's own validation targets.

Fine-tuning on a person's file is worth its hour only if it helps on that file, so the ``adapt``
recipe measures the serving experts (Summarizer -> Reasoner -> Predictor, greedy, as the evaluation
runs them) on one seeded sample of the file's validation targets, first with the adapters it
starts from and then with the adapted ones: MAE and RMSE of the rating (with the reason and
without), and the reasons' grounding, verdict agreement and completeness (the evaluation's own
measures). The differences carry paired bootstrap intervals; a small sample says so by their width.

Each side is kept in ``<run>/report/<side>.json`` (keyed by the adapters' versions and the
targets), its summaries in ``<run>/report/summaries.jsonl``: a stopped run measures nothing twice.

Example:
    >>> report = AdaptReport(config, dataset, split, 40, 2020, run / "report")  # doctest: +SKIP
    >>> report.measure("before", shipped); report.measure("after", adapted)    # doctest: +SKIP
    >>> print("\\n".join(report.lines()))                                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, Expert
from ..data import ReviewDataset, Split, Target, build_targets
from ..experts import (
    SummaryCache,
    grounding,
    is_complete,
    mean_of,
    open_experts,
    ratings_for,
    reasons_for,
    shown_texts,
    target_contexts,
    verdict_agrees,
)
from .confidence import paired_difference, paired_mean_difference, resample_indices
from .estimates import attach_estimates, held_out_estimates
from .eval_run import write_atomically
from .evaluate_experts import history_texts

REPORT_EXPERTS = (Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR)
SIDES = ("before", "after")
BarFactory = Callable[[str], Callable[[int, int], None]]


def validation_targets(split: Split, count: int, seed: int) -> list[Target]:
    """A seeded sample of ``count`` validation targets with user and item histories, in time order
    (which reviews they are does not depend on the history length)."""
    pool = [t for t in build_targets(split, "valid", 1) if t.has_histories]
    chosen = random.Random(seed).sample(pool, min(count, len(pool)))
    return sorted(chosen, key=lambda t: t.review.order_key)


class AdaptReport:
    """Measures adapter sets on one sample of validation targets and compares them."""

    experts = REPORT_EXPERTS

    def __init__(self, config: Config, dataset: ReviewDataset, split: Split, count: int, seed: int, folder: Path,
                 *, say: Callable[[str], None] = lambda message: None, bars: BarFactory | None = None,
                 batch_size: int = 8, summary_batch: int = 16, summaries: SummaryCache | None = None) -> None:
        self.config, self.dataset, self.split, self.folder = config, dataset, split, Path(folder)
        self.summaries = summaries  # None: the report's own cache, <folder>/summaries.jsonl
        self.ids = [t.review.review_id for t in validation_targets(split, count, seed)]
        self.say = say
        self.bars = bars or (lambda label: (lambda done, total: None))
        self.batch_size, self.summary_batch = batch_size, summary_batch

    def measure(self, side: str, adapters: Mapping[Expert, Path], *, without_reason: bool = True) -> dict[str, Any]:
        """Score ``adapters`` (their Summarizer, Reasoner and Predictor) on the sample, once;
        ``without_reason``: also the Predictor with no reason (the ablation; one more pass)."""
        from ..experts import adapter_version

        dirs = {expert: Path(adapters[expert]) for expert in self.experts}
        key = {"versions": {e.value: adapter_version(d) for e, d in dirs.items()},  # as JSON reads them back
               "targets": hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:12]}
        path = self.folder / f"{side}.json"
        kept = _read(path)
        if kept.get("key") == key:
            return kept
        self.say(f"[report] measuring the experts ({side}) on {len(self.ids)} validation targets of this file")
        loaded = open_experts(self.config, dirs, batch_size=self.batch_size)
        try:
            rows = self._score(side, loaded.backend, loaded.shape.history_k, loaded.shape.max_review_chars,
                               loaded.shape.estimates, loaded.shape.reasoner_stars, without_reason)
        finally:
            close = getattr(loaded.backend, "close", None)
            if callable(close):
                close()
        result = {"key": key, "adapters": {e: str(d) for e, d in dirs.items()},
                  "history_k": loaded.shape.history_k, "targets": rows}
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(result, indent=1))
        return result

    def _score(self, side: str, backend: Any, history_k: int, review_chars: int,
               estimates: bool = False, reasoner_stars: bool = False,
               without_reason: bool = True) -> list[dict[str, Any]]:
        wanted = set(self.ids)
        targets = [t for t in build_targets(self.split, "valid", history_k) if t.review.review_id in wanted]
        cache = self.summaries if self.summaries is not None else SummaryCache(self.folder / "summaries.jsonl")
        contexts = target_contexts(backend, targets, cache,
                                   self.dataset.category, self.dataset.title, batch_size=self.summary_batch,
                                   max_review_chars=review_chars, reasoner_stars=reasoner_stars,
                                   progress=self.bars(f"report {side}: history summaries"))
        if estimates:  # the Predictor learnt with them: held out, fitted on the training reviews only
            contexts = attach_estimates(contexts, held_out_estimates(self.config, self.split, "valid",
                                                                     [t.review for t in targets]))
        bar = self.bars(f"report {side}: reasons")
        reasons = reasons_for(backend, contexts, batch_size=self.batch_size,
                              before_batch=lambda start: bar(start, len(contexts)))
        bar(len(contexts), len(contexts))
        rated = self._rated(side, backend, contexts, reasons)
        bare = self._rated(f"{side}, no reason", backend, contexts, [None] * len(contexts)) if without_reason \
            else [None] * len(contexts)
        rows = []
        for target, context, reason, full, none in zip(targets, contexts, reasons, rated, bare, strict=True):
            found = grounding(reason, shown_texts(context, history_texts(target)))
            rows.append({"review_id": target.review.review_id, "true": target.review.rating,
                         "predicted": round(full.expected, 4),
                         "no_reason": None if none is None else round(none.expected, 4),
                         "grounding": found.share, "invented": list(found.invented),
                         "verdict_agrees": verdict_agrees(reason, target.review.rating),
                         "complete": is_complete(reason), "reason": reason})
        return rows

    def _rated(self, label: str, backend: Any, contexts: list, reasons: list[str | None]) -> list:
        """The Predictor's distributions, a batch at a time with a progress line (a pass over a few
        hundred targets takes minutes on a CPU)."""
        bar, rated = self.bars(f"report {label}: ratings"), []
        size = max(1, self.batch_size)
        for start in range(0, len(contexts), size):
            bar(start, len(contexts))
            rated += ratings_for(backend, contexts[start:start + size], reasons[start:start + size])
        bar(len(contexts), len(contexts))
        return rated

    def summary(self) -> dict[str, Any]:
        """Both sides' measures and the paired differences (after minus before), as written to
        ``report.json``; a side not measured yet is absent."""
        sides = {side: _read(self.folder / f"{side}.json") for side in SIDES}
        sides = {side: data for side, data in sides.items() if data.get("targets")}
        out: dict[str, Any] = {side: _measures(data["targets"]) for side, data in sides.items()}
        if len(sides) == 2:
            out["difference"] = _differences(sides["before"]["targets"], sides["after"]["targets"])
        if sides:
            out["bias_model"] = self._against_bias_model(sides)
        return out

    def _against_bias_model(self, sides: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """The category's own yardstick: the user+item bias model fitted on the file's training
        reviews, on the same targets, and each side minus it (paired intervals)."""
        from ..data import BiasModel

        by_id = {review.review_id: review for review in self.split.valid}
        rows = next(iter(sides.values()))["targets"]
        reviews = [by_id[row["review_id"]] for row in rows]
        true = np.array([review.rating for review in reviews])
        bias = BiasModel().fit(self.split.train).predict(reviews)
        indices = resample_indices(len(true))
        out: dict[str, Any] = {"mae": round(float(np.mean(np.abs(bias - true))), 4),
                               "rmse": round(float(np.sqrt(np.mean((bias - true) ** 2))), 4)}
        for side, data in sides.items():
            predicted = {row["review_id"]: row["predicted"] for row in data["targets"]}
            mine = np.array([predicted[review.review_id] for review in reviews])
            out[f"{side}_minus_bias"] = {metric: paired_difference(mine, bias, true, metric, indices).as_list()
                                         for metric in ("mae", "rmse")}
        return out

    def lines(self) -> list[str]:
        """The report in a few plain lines (and ``report.json`` beside the sides)."""
        summary = self.summary()
        write_atomically(self.folder / "report.json", json.dumps(summary, indent=2))
        if "before" not in summary or "after" not in summary:
            return [f"[report] {', '.join(summary) or 'nothing'} measured; written to {self.folder / 'report.json'}"]
        before, after, change = summary["before"], summary["after"], summary["difference"]
        lines = [f"[report] {before['targets']} validation targets of this file, before -> after adapting "
                 "(difference, 95% paired interval):"]
        for name, label, better in (("mae", "MAE", "lower"), ("rmse", "RMSE", "lower"),
                                    ("mae_no_reason", "MAE without the reason", "lower"),
                                    ("grounding", "reason grounding", "higher"),
                                    ("verdict_agrees", "verdict agrees with the rating", "higher"),
                                    ("complete", "reasons complete", "higher")):
            shift = _shift(change.get(name))
            lines.append(f"  {label:<32} {_fmt(before[name])} -> {_fmt(after[name])}   {shift}, {better} is better")
        bias = summary["bias_model"]
        lines.append(f"  the bias model (user+item, fitted on this file's training reviews): MAE {bias['mae']:.3f}, "
                     f"RMSE {bias['rmse']:.3f}; after minus it: MAE {_shift(bias['after_minus_bias']['mae'])}, "
                     f"RMSE {_shift(bias['after_minus_bias']['rmse'])}")
        for side in SIDES:
            lines.append(f"  {side}: predictions spread {summary[side]['spread']:.2f} (true ratings "
                         f"{summary[side]['true_spread']:.2f}); most invented: "
                         + (", ".join(f"{p} ({n})" for p, n in summary[side]["most_invented"]) or "none"))
        lines.append(f"[report] written to {self.folder / 'report.json'}")
        return lines


def _measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    true = np.array([r["true"] for r in rows])
    predicted, bare = np.array([r["predicted"] for r in rows]), np.array([r["no_reason"] for r in rows])
    return {"targets": len(rows), "mae": round(float(np.mean(np.abs(predicted - true))), 4),
            "rmse": round(float(np.sqrt(np.mean((predicted - true) ** 2))), 4),
            "mae_no_reason": round(float(np.mean(np.abs(bare - true))), 4),
            "grounding": mean_of(r["grounding"] for r in rows),
            "verdict_agrees": mean_of(r["verdict_agrees"] for r in rows),
            "complete": mean_of(r["complete"] for r in rows),
            "spread": round(float(np.std(predicted)), 4), "true_spread": round(float(np.std(true)), 4),
            "most_invented": [[phrase, n] for phrase, n in
                              Counter(p for r in rows for p in r.get("invented", ())).most_common(10)]}


def _differences(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[float] | None]:
    """After minus before on the same targets, with paired bootstrap intervals."""
    by_id = {r["review_id"]: r for r in before}
    pairs = [(by_id[r["review_id"]], r) for r in after if r["review_id"] in by_id]
    if not pairs:
        return {}
    true = np.array([b["true"] for b, _ in pairs])
    indices = resample_indices(len(pairs))
    column = lambda side, name: np.array([p[side][name] for p in pairs], dtype=float)  # noqa: E731
    out: dict[str, list[float] | None] = {
        "mae": paired_difference(column(1, "predicted"), column(0, "predicted"), true, "mae", indices).as_list(),
        "rmse": paired_difference(column(1, "predicted"), column(0, "predicted"), true, "rmse", indices).as_list(),
        "mae_no_reason": paired_difference(column(1, "no_reason"), column(0, "no_reason"), true, "mae",
                                           indices).as_list(),
    }
    for name in ("grounding", "verdict_agrees", "complete"):
        both = [(float(b[name]), float(a[name])) for b, a in pairs if b[name] is not None and a[name] is not None]
        out[name] = (paired_mean_difference(np.array([a for _, a in both]), np.array([b for b, _ in both]))
                     .as_list() if both else None)
    return out


def _shift(estimate: list[float] | None) -> str:
    """A difference and its interval: ``-0.070 (-0.094..-0.048)``."""
    if not estimate:
        return "n/a"
    value, low, high = estimate
    return f"{value:+.3f} ({low:+.3f}..{high:+.3f})"


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

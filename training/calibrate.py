"""Fitting a category's calibration: the experts run on the file's own validation targets.

The Predictor's expected rating on a seeded sample of the file's validation targets (never its
test targets, so an evaluation stays clean), run as the evaluation runs the experts (greedy
reason, then the rating; :class:`~.adapt_report.AdaptReport`, so a stopped run measures nothing
twice), and a line fitted on them (:func:`~reason4rec.experts.calibration.fit_line`); the verdict
rule from held-out bias estimates (fitted on the training reviews only) of every validation target,
checked on the sample's reasons (:func:`~reason4rec.experts.verdict_rule.fit_verdict_rule`).

Example:
    >>> found = fit_calibration(config, dataset, split, dirs, 200, 2020, work)  # doctest: +SKIP
    >>> print(found.summary())                                                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config, Expert
from ..data import ReviewDataset, Split
from ..experts import Calibration, SummaryCache, fit_line, fit_verdict_rule
from .adapt_report import AdaptReport, BarFactory, validation_targets
from .estimates import held_out_estimates

SIDE = "calibration"


def fit_calibration(config: Config, dataset: ReviewDataset, split: Split, adapters: Mapping[Expert, Path],
                    count: int, seed: int, work: Path, *, say: Callable[[str], None] = lambda message: None,
                    bars: BarFactory | None = None, batch_size: int = 8,
                    summaries: SummaryCache | None = None) -> Calibration:
    """``dataset``'s calibration for ``adapters`` from ``count`` of its validation targets; the
    experts' answers are kept in ``work`` (rerunning the same command reuses them), history
    summaries in ``summaries`` (default: ``work``'s own cache)."""
    measured = AdaptReport(config, dataset, split, count, seed, work, say=say, bars=bars,
                           batch_size=batch_size, summaries=summaries).measure(SIDE, adapters, without_reason=False)
    rows = measured["targets"]
    true = [row["true"] for row in rows]
    line = fit_line([row["predicted"] for row in rows], true, seed=seed)
    every = [t.review for t in validation_targets(split, len(split.valid), seed)]  # the threshold reads them all
    estimate = dict(zip((r.review_id for r in every), held_out_estimates(config, split, "valid", every).bias))
    sampled = {row["review_id"] for row in rows}
    verdict = fit_verdict_rule([float(estimate[row["review_id"]]) for row in rows], true,
                               [row["reason"] for row in rows], seed=seed,
                               unreasoned=[(float(estimate[r.review_id]), r.rating) for r in every
                                           if r.review_id not in sampled])
    return Calibration(category=dataset.category, experts=dict(measured["key"]["versions"]), line=line,
                       targets=len(rows), fitted_on={"reviews": dataset.source or None,
                                  "split": split.name, "seed": seed, "validation_targets": len(rows),
                                  "verdict_targets": len(every)},
                       verdict=verdict)

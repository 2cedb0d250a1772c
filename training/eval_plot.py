"""One PNG per evaluation: where the pipeline errs, next to the best baseline, and how grounded
its reasons are.

Panels: predicted vs true (pipeline and best baseline), error per true rating (every LLM row and
the best baseline), MAE with its 95% interval per method, and the distribution of the reasons'
grounding (multi-step and one-step).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .eval_results import BLEND, FULL, LLM_METHODS, TargetResult
from .evaluate import MetricRow


class Plotted(Protocol):
    """What the plot reads of an evaluation (:class:`.evaluate_experts.ExpertEvaluation`)."""

    rows: Sequence[MetricRow]
    targets: Sequence[TargetResult]
    baseline_predictions: dict[str, list[float]]
    comparison: dict[str, Any]


def plot_evaluation(result: Plotted, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = np.array([t.true for t in result.targets])
    methods = {m: np.array([t.predictions[m] for t in result.targets])
               for m in LLM_METHODS if m in result.targets[0].predictions}
    best = result.comparison.get("best_baseline")
    if best in result.baseline_predictions:
        methods[f"{best} (best baseline)"] = np.array(result.baseline_predictions[best])
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    scatter, per_star, intervals, grounded = axes.ravel()

    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=len(true))
    shown = [FULL] + [name for name in methods if name.endswith("(best baseline)")]
    for offset, name in enumerate(shown):
        scatter.scatter(true + jitter + 0.3 * offset, methods[name], s=8, alpha=0.4, label=name)
    scatter.plot([1, 5], [1, 5], color="grey", lw=1, ls="--")
    scatter.set(xlabel="true rating (jittered)", ylabel="predicted rating", xlim=(0.5, 5.7),
                ylim=(0.8, 5.2), title="Predicted vs true")
    scatter.legend(fontsize=8)

    stars = [1, 2, 3, 4, 5]
    width = 0.8 / len(methods)
    for offset, (name, predicted) in enumerate(methods.items()):
        errors = [float(np.abs(predicted[true == s] - s).mean()) if np.any(true == s) else 0.0 for s in stars]
        per_star.bar(np.array(stars) + (offset - (len(methods) - 1) / 2) * width, errors, width, label=name)
    counts = [int(np.sum(true == s)) for s in stars]
    per_star.set_xticks(stars, [f"{s}\n(n={c})" for s, c in zip(stars, counts)])
    per_star.set(xlabel="true rating", ylabel="mean absolute error", title="Error per true rating")
    per_star.legend(fontsize=8)

    rows = sorted(result.rows, key=lambda r: r.mae)
    low = [r.mae - r.mae_ci[0] if r.mae_ci else 0 for r in rows]
    high = [r.mae_ci[1] - r.mae if r.mae_ci else 0 for r in rows]
    colors = ["tab:red" if r.method in LLM_METHODS else "tab:purple" if r.method == BLEND else "tab:blue"
              for r in rows]
    intervals.barh(range(len(rows)), [r.mae for r in rows], xerr=[low, high], color=colors, capsize=3)
    intervals.set_yticks(range(len(rows)), [r.method for r in rows], fontsize=8)
    intervals.invert_yaxis()
    intervals.set(xlabel="MAE (95% paired-bootstrap interval)", title=f"{len(true):,} targets, same for every row")

    shares = {"Reason4Rec reasons": [t.grounding for t in result.targets],
              "one-step reasons": [t.one_step_grounding for t in result.targets]}
    bins = np.linspace(0, 1, 11)
    for name, values in shares.items():
        kept = [v for v in values if v is not None]
        if kept:
            grounded.hist(kept, bins=bins, alpha=0.6, label=f"{name} (mean {np.mean(kept):.2f}, n={len(kept)})")
    grounded.set(xlabel="share of aspect phrases found in what the model was shown", ylabel="reasons",
                 title="Grounding of reasons")
    grounded.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

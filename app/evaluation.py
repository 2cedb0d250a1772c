"""The evaluations: the rating baselines, and the experts against them on the same test targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ..config import Config, Expert
from ..errors import Reason4RecError
from . import resources
from .resources import load_dataset, quiet_transformers

if TYPE_CHECKING:
    from ..data import ReviewDataset
    from ..experts import Calibration, Calibrations


def baselines(config: Config, console: Console, splits: list[str], json_path: Path | None = None,
              dataset: ReviewDataset | None = None, review_aware: bool | None = None) -> None:
    """Score every rating baseline on ``splits``' test targets; rows also as JSON to ``json_path``."""
    from ..training import evaluate_baselines, metrics_table, progress_bars

    dataset = dataset if dataset is not None else load_dataset(config)
    with progress_bars(console) as bars:
        rows = evaluate_baselines(dataset, splits, config.baselines, config.data.seed, progress=bars,
                                  review_aware=review_aware)
    console.print(metrics_table(rows, title="Rating baselines (test targets; lower is better)"))
    if not any(row.method.startswith("HFT") for row in rows):
        console.print("[dim]HFT, the review-aware baseline, takes minutes per split: "
                      "reason4rec eval --baselines --hft adds it (the expert evaluation includes it)[/]")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps([row.as_dict() for row in rows], indent=2))
        console.print(f"[dim]rows written to {json_path}[/]")


@dataclass(frozen=True)
class ExpertRun:
    """What ``reason4rec eval`` was asked to score (the experts' part)."""

    split: str
    limit: int | None
    adapters: Path | None
    out: Path | None
    restart: bool
    one_step: bool
    review_aware: bool
    judge_model: str | None


def experts(config: Config, console: Console, run: ExpertRun) -> None:
    """Score the expert pipeline, its ablations and every baseline; results.json and a plot."""
    from ..experts import adapter_dirs, calibrations_for, open_experts, summary_cache
    from ..training import (
        ExpertEvalSettings,
        evaluate_pipeline,
        evaluation_summary,
        metrics_table,
        progress_bars,
        select_targets,
    )

    if run.split == "all":
        raise Reason4RecError("the expert evaluation scores one split at a time: --split leave-last-out, "
                              "random or temporal")
    quiet_transformers()
    dirs = adapter_dirs(run.adapters, with_one_step=run.one_step)
    dataset = load_dataset(config)
    settings = ExpertEvalSettings(
        split=run.split, limit=run.limit, seed=config.data.seed, one_step=Expert.ONE_STEP in dirs,
        judge_model=run.judge_model, review_aware=run.review_aware,
    )
    select_targets(dataset, settings)  # a bad --limit is refused before the model loads
    resources.say_category(config, dataset.category, run.adapters, console)
    settings.calibration = _calibration(calibrations_for(config, run.adapters), dataset.category, run.split, console)
    with console.status("loading the base model and adapters ..."):
        loaded = open_experts(config, dirs)
    settings.history_k, settings.max_review_chars = loaded.shape.history_k, loaded.shape.max_review_chars
    settings.estimates, settings.reasoner_stars = loaded.shape.estimates, loaded.shape.reasoner_stars
    console.print(f"[bold]experts[/] {', '.join(loaded.names)} on {loaded.base}")
    with progress_bars(console) as bars:
        result = evaluate_pipeline(config, dataset, loaded.backend, settings, summary_cache(config.home, run.adapters),
                                  run.out, restart=run.restart, bars=bars,
                                  say=lambda m: console.print(f"[dim]{escape(m)}[/]"))
    console.print(metrics_table(result.rows, title=f"{run.split} test, {result.settings['targets']:,} targets "
                                                   "(same targets for every row; lower is better)"))
    console.print(evaluation_summary(result))
    results, plot = result.write(Path(result.settings["run_folder"]))
    console.print(f"[dim]written: {results} and {plot}[/]")


def _calibration(calibrations: Calibrations, category: str, split: str, console: Console) -> Calibration | None:
    """The category's calibration for these experts when it was fitted on this split's validation
    targets (another split's may hold this one's test targets); what keeps one out is said."""
    found = calibrations.find(category)
    for note in calibrations.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if found is not None and found.fitted_on.get("split") != split:
        console.print(f"[yellow]note:[/] the {escape(category)} calibration was fitted on the "
                      f"{escape(str(found.fitted_on.get('split')))} split's validation targets; it is not scored on "
                      f"the {split} test set (reason4rec calibrate --split {split} fits one for it)")
        return None
    return found

"""Training and evaluating the experts: rating baselines, teachers, the reward filter, the SFT
stages (two engines: the transformers Trainer and the top-layers engine), the paper's evaluation
protocol with intervals, and the reports that show them.

The front door: the application layer imports what it needs from here, never from a module.
No name here is also a module's name (a submodule, once imported, would shadow it). Names load
on first use (the modules pull in numpy, scikit-learn and friends), so importing
this package stays cheap for ``reason4rec --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes

if TYPE_CHECKING:
    from .adapt_report import validation_targets
    from .calibrate import fit_calibration
    from .estimates import attach_estimates, held_out_estimates
    from .evaluate import evaluate_baselines
    from .evaluate_experts import ExpertEvalSettings, select_targets
    from .evaluate_experts import evaluate_experts as evaluate_pipeline
    from .pipeline import TrainingPipeline
    from .recipes import load_recipe, with_extra_reviews
    from .reports import dataset_table, evaluation_summary, metrics_table, progress_bars, splits_table
    from .teachers import OfflineTeacher, OpenAITeacher, OpenAITeacherSettings

_EXPORTS = {
    "fit_calibration": ".calibrate",
    "validation_targets": ".adapt_report",
    "attach_estimates": ".estimates", "held_out_estimates": ".estimates",
    "evaluate_baselines": ".evaluate",
    "ExpertEvalSettings": ".evaluate_experts", "evaluate_pipeline": ".evaluate_experts:evaluate_experts",
    "select_targets": ".evaluate_experts",
    "TrainingPipeline": ".pipeline",
    "load_recipe": ".recipes", "with_extra_reviews": ".recipes",
    "dataset_table": ".reports", "evaluation_summary": ".reports", "metrics_table": ".reports",
    "progress_bars": ".reports", "splits_table": ".reports",
    "OfflineTeacher": ".teachers", "OpenAITeacher": ".teachers", "OpenAITeacherSettings": ".teachers",
}

__all__ = [
    "ExpertEvalSettings", "OfflineTeacher", "OpenAITeacher", "OpenAITeacherSettings", "TrainingPipeline",
    "attach_estimates", "dataset_table", "evaluate_baselines", "evaluate_pipeline", "evaluation_summary",
    "fit_calibration",
    "held_out_estimates", "load_recipe", "metrics_table", "progress_bars", "select_targets", "splits_table",
    "validation_targets", "with_extra_reviews",
]


__getattr__ = lazy_attributes(__name__, _EXPORTS)

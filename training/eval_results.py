"""What an expert evaluation scores and keeps: the methods' names and one target's result.

Shared by the evaluation (:mod:`.evaluate_experts`), its plot (:mod:`.eval_plot`), its replay and
the reports, so none of them imports another's internals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

FULL = "Reason4Rec"
"""Summarizer -> Reasoner -> Predictor, the full pipeline."""
NO_REASON = "Predictor, no reason"
ONE_STEP = "One-step"
"""One adapter writes a reason and then the rating."""
LLM_METHODS = (FULL, NO_REASON, ONE_STEP)
BLEND = "Reason4Rec + baseline (blend, extra)"
"""The pipeline blended with a baseline, weight cross-fitted on the other targets' folds."""
CALIBRATED = "Reason4Rec, calibrated"
"""The pipeline's rating through the category's calibration, as a person is shown it (a line fitted
on the split's validation targets, never on a test target)."""
STACKED = "stacked CF (every baseline, ridge)"
"""Every baseline combined by a cross-fitted ridge: the bar a gain must clear to be the experts'."""


@dataclass
class TargetResult:
    """One scored target: what the run folder keeps per line."""

    review_id: str
    user_id: str
    item_id: str
    true: float
    predictions: dict[str, float]
    reason: str
    distribution: dict[str, Any]
    one_step_reason: str = ""
    similarity: float | None = None
    grounding: float | None = None
    """Share of the reason's aspect phrases found in what the Reasoner was shown."""
    invented: list[str] = field(default_factory=list)
    attributed: float | None = None
    """Share of the reason's aspect phrases found on the side it says them of (a phrase said of the
    item's buyers that only the user's reviews mention is not; see ``experts.quality.attribution``)."""
    misattributed: list[str] = field(default_factory=list)
    verdict_agrees: bool | None = None
    complete: bool | None = None
    """None until the run is summed up: reason measures are not saved with the predictions."""
    one_step_grounding: float | None = None
    one_step_complete: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """This target's share of each stage's time (Reasoner, Predictor, one-step)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TargetResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})

    @staticmethod
    def problem(record: dict[str, Any]) -> str | None:
        """What makes a saved line unfit to be a result (for :meth:`EvalRun.open`'s check), or None."""
        for name, (kind, described) in _RECORD_FIELDS.items():
            if name not in record:
                return f"no {name!r}"
            if not isinstance(record[name], kind) or isinstance(record[name], bool):
                return f"{name!r} is {json.dumps(record[name])[:40]}, not {described}"
        if not 1 <= record["true"] <= 5:
            return f"'true' is {record['true']}, not a rating 1-5"
        bad = [k for k, v in record["predictions"].items()
               if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)]
        return f"prediction {bad[0]!r} is not a number" if bad else None


_RECORD_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "review_id": (str, "an id"), "user_id": (str, "an id"), "item_id": (str, "an id"),
    "true": ((int, float), "a rating"), "predictions": (dict, "an object"), "reason": (str, "a text"),
    "distribution": (dict, "an object")}
"""The fields every saved result has, and their types."""

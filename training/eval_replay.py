"""A finished evaluation, read back for a bench that re-runs one stage on exactly its targets.

The learning curve re-rates an evaluation's reasons with other Predictors; the grounded-reasons
bench asks the Reasoner for more candidates on the same targets. Both need the same things: the
targets in the evaluation's order, what the experts were shown (from the folder's own summaries,
so nothing is summarized again), the reasons and the pipeline's ratings.

Example:
    >>> replay = EvalReplay.open(Path("artifacts/bench/eval-leave-last-out-full"))  # doctest: +SKIP
    >>> len(replay.targets), replay.reasons[0][:40]                                  # doctest: +SKIP
    (1429, 'In past reviews the user valued strings,')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..data import Target
from ..errors import Reason4RecError
from ..experts import TargetContext

PIPELINE = "Reason4Rec"
"""The evaluation's name for the full pipeline's prediction."""


@dataclass(frozen=True)
class EvalReplay:
    """The scored targets of one evaluation folder, in its order, with what each was shown."""

    folder: Path
    key: dict[str, Any]
    targets: list[Target]
    contexts: list[TargetContext]
    reasons: list[str]
    pipeline: list[float]
    """The full pipeline's expected rating of each target."""
    probabilities: list[dict[str, float] | None]
    """The Predictor's probability of each star ("1".."5") behind that rating (None in an
    evaluation that did not keep it)."""

    @classmethod
    def open(cls, folder: Path, config: Config | None = None) -> EvalReplay:
        """Read ``folder`` (its data set from ``config``, the user's configuration by default)."""
        from ..config import load_config
        from ..data import dataset_of
        from ..experts import SummaryCache, history_reviews, target_context
        from .eval_results import TargetResult
        from .eval_run import MANIFEST, EvalRun
        from .evaluate_experts import ExpertEvalSettings, content_key, select_targets

        folder = Path(folder)
        try:
            key = json.loads((folder / MANIFEST).read_text())["key"]
        except (OSError, ValueError, KeyError) as error:
            raise Reason4RecError(f"{folder} is not an evaluation folder ({MANIFEST}: {error})") from None
        settings = ExpertEvalSettings(split=key["split"], limit=key["limit"], seed=key["seed"],
                                      history_k=key["history_k"], max_review_chars=key["max_review_chars"])
        dataset = dataset_of((config or load_config()).data)
        _, targets = select_targets(dataset, settings)
        now = content_key(dataset, targets)
        # the contexts are rebuilt from today's data and code; the templates they are rendered into
        # ("prompts") do not change what a context holds, the targets, data and summaries do
        changed = [name for name, value in now.items() if name != "prompts" and key.get(name) != value]
        if changed:  # rebuilt from today's data and code, the prompts would not be the evaluated ones
            raise Reason4RecError(f"{folder} was evaluated on other {' and '.join(changed)} than this checkout has "
                                  f"({', '.join(f'{n} {key.get(n)} vs {now[n]}' for n in changed)})")
        # the evaluation's own reader: checks the folder and each line's shape, skips a torn line
        run = EvalRun.open(folder, key, check=TargetResult.problem)
        records = run.done
        # the version its summaries were kept under (before cleaning rules were versioned: the adapter's)
        cache, version = SummaryCache(run.summaries), key.get("summaries") or key["adapters"]["summarizer"]
        summaries = {r.review_id: summary for r in history_reviews(targets)
                     if (summary := cache.get(r.review_id, version)) is not None}
        scored = [t for t in targets if t.review.review_id in records]
        if not scored:
            raise Reason4RecError(f"{folder} has no scored targets")
        try:
            contexts = [target_context(t, summaries, dataset.category, dataset.title,
                                       reasoner_stars=bool(key.get("reasoner_stars"))) for t in scored]
        except KeyError as missing:
            raise Reason4RecError(f"{folder} lacks the history summary of review {missing} (an evaluation made "
                                  "before run folders kept their summaries); use a current evaluation folder") from None
        return cls(folder, key, scored, contexts,
                   [records[t.review.review_id]["reason"] for t in scored],
                   [records[t.review.review_id]["predictions"][PIPELINE] for t in scored],
                   [(records[t.review.review_id].get("distribution") or {}).get("probabilities") for t in scored])

    def shown_to_reasoner(self, index: int) -> list[str]:
        """What the evaluation's grounding counts as shown for this target's reason."""
        from ..experts import shown_texts
        from .evaluate_experts import history_texts

        return shown_texts(self.contexts[index], history_texts(self.targets[index]))

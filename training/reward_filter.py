"""Keep a teacher's reason only if it makes the reward model MORE right about the true rating.

For a target with true rating r, let b be the reward model's expected rating with no analysis and
s its expected rating with the candidate reason as analysis. The reason is kept when
``|r - s| - |r - b| < tau``. Rejected targets get up to ``max_retries`` hinted retries (the teacher
is told r and asked not to mention it). Every candidate, the first included, is rejected if it
leaks the rating. Targets with nothing kept are dropped; all counts are reported.

Example:
    >>> accepted, report = filter_reasons(items, teacher, score, tau=0.1, max_retries=3)  # doctest: +SKIP
    >>> report.kept, report.dropped                                                      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from ..data import leaks_rating
from ..experts import SummaryCache, TargetContext, rating_verdict
from .teachers import Teacher

Scorer = Callable[[Sequence[TargetContext], Sequence[str | None]], list[float]]
"""Reward-model expected ratings for (context, analysis) pairs; analysis None = no reason."""
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class FilterItem:
    """One target offered to the teacher: its prompt view, true rating and real review."""

    key: str
    ctx: TargetContext
    rating: float
    review_text: str


@dataclass(frozen=True, slots=True)
class AcceptedReason:
    key: str
    reason: str
    attempt: int
    """0 = the first, unhinted candidate; 1.. = hinted retries."""
    baseline: float
    score: float


@dataclass
class FilterReport:
    targets: int = 0
    kept_first: int = 0
    kept_hinted: int = 0
    dropped: int = 0
    leaks_rejected: int = 0
    empty_rejected: int = 0
    reward_rejected: int = 0
    tau: float = 0.0
    tau_source: str = ""
    taus: dict[str, float] = field(default_factory=dict)
    """The threshold each star group was held to (all equal unless ``auto-per-stars``)."""
    candidates: int = 0
    margins: list[float] = field(default_factory=list, repr=False)

    @property
    def kept(self) -> int:
        return self.kept_first + self.kept_hinted

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("margins")
        data["kept"] = self.kept
        return data


def resumable_scorer(score: Scorer, cache: SummaryCache, version: str, chunk: int = 64,
                     progress: ProgressCallback | None = None) -> Scorer:
    """``score`` with every (context, analysis) pair's result kept in ``cache`` under ``version``
    (the reward adapter's), written after each ``chunk`` of pairs.

    The filter scores thousands of prompts (about an hour on this CPU for the cpu-full recipe);
    a run stopped part-way scores only what it had not yet when it is started again. The teacher
    is deterministic, so a restarted run asks for the same pairs. ``progress``: (scored, asked)
    per call, cached pairs included.
    """

    def scored(contexts: Sequence[TargetContext], analyses: Sequence[str | None]) -> list[float]:
        keys = [_pair_key(ctx, analysis) for ctx, analysis in zip(contexts, analyses, strict=True)]
        todo = [i for i, key in enumerate(keys) if cache.get(key, version) is None]
        done = len(keys) - len(todo)
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            values = score([contexts[i] for i in part], [analyses[i] for i in part])
            cache.put_many((keys[i], version, repr(float(v))) for i, v in zip(part, values, strict=True))
            done += len(part)
            if progress:
                progress(done, len(keys))
        return [float(cache.get(key, version)) for key in keys]  # type: ignore[arg-type]

    return scored


def _pair_key(ctx: TargetContext, analysis: str | None) -> str:
    text = json.dumps([asdict(ctx), analysis], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def auto_tau(margins: Sequence[float]) -> float:
    """The median first-round margin: a tau that keeps about half of the first candidates."""
    return float(statistics.median(margins)) if margins else 0.1


def _star_group(rating: float) -> int:
    """1-2, 3 and 4-5 stars (-1, 0, 1: the verdict each rating asks for): the groups
    ``auto-per-stars`` keeps about half of each of."""
    return rating_verdict(rating) or 0


def filter_reasons(
    items: Sequence[FilterItem],
    teacher: Teacher,
    score: Scorer,
    tau: float | str = "auto",
    max_retries: int = 3,
    progress: ProgressCallback | None = None,
    *,
    hint_first: bool = False,
) -> tuple[list[AcceptedReason], FilterReport]:
    """Ask, score, keep or retry, round by round (each round is one batched reward pass).

    ``tau``: a number, ``auto`` (the median first-round margin) or ``auto-per-stars`` (the median
    within 1-2, 3 and 4-5 star targets apiece: one threshold for all keeps mostly the 5-star
    targets, whose margins are easiest, and starves the Reasoner of unhappy buyers).
    ``hint_first``: the teacher is told the true rating from the first candidate on (the paper's
    teacher sees it), so every verdict is the rating's; the first round still counts as unhinted.
    """
    report = FilterReport(targets=len(items))
    if not items:
        return [], report
    baselines = score([i.ctx for i in items], [None] * len(items))
    accepted: dict[str, AcceptedReason] = {}
    pending = list(range(len(items)))
    per_stars = tau == "auto-per-stars"
    thresholds: dict[int, float] | None = None if tau in ("auto", "auto-per-stars") else {
        group: float(tau) for group in (-1, 0, 1)}
    report.tau_source = ("recipe" if thresholds is not None else "auto per star group (median first-round margin "
                         "of 1-2, 3 and 4-5 star targets)" if per_stars else "auto (median first-round margin)")
    for attempt in range(max_retries + 1):
        if not pending:
            break
        hint = attempt > 0
        told = hint or hint_first
        candidates: list[tuple[int, str]] = []
        for index in pending:
            item = items[index]
            text = teacher.reason(item.ctx, item.review_text, attempt,
                                  hint_rating=item.rating if told else None).strip()
            report.candidates += 1
            if len(text.split()) < 5:
                report.empty_rejected += 1
            elif leaks_rating(text):
                report.leaks_rejected += 1
            else:
                candidates.append((index, text))
        scores = score([items[i].ctx for i, _ in candidates], [t for _, t in candidates]) if candidates else []
        margins = [abs(items[i].rating - s) - abs(items[i].rating - baselines[i])
                   for (i, _), s in zip(candidates, scores)]
        if thresholds is None:
            thresholds = dict.fromkeys((-1, 0, 1), auto_tau(margins))
            if per_stars:
                groups = [_star_group(items[i].rating) for i, _ in candidates]
                thresholds.update({g: auto_tau([m for m, h in zip(margins, groups) if h == g]) for g in set(groups)})
        report.margins.extend(margins)
        for (index, text), value, margin in zip(candidates, scores, margins):
            if margin < thresholds[_star_group(items[index].rating)]:
                accepted[items[index].key] = AcceptedReason(items[index].key, text, attempt,
                                                            baselines[index], value)
                if hint:
                    report.kept_hinted += 1
                else:
                    report.kept_first += 1
            else:
                report.reward_rejected += 1
        pending = [i for i in pending if items[i].key not in accepted]
        if progress:
            progress(attempt + 1, max_retries + 1)
    if thresholds:
        report.tau = float(statistics.median(thresholds.values()))
        report.taus = {name: round(thresholds[g], 4) for name, g in (("1-2", -1), ("3", 0), ("4-5", 1))}
    report.dropped = len(pending)
    return [accepted[i.key] for i in items if i.key in accepted], report

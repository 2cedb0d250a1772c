"""A category's verdict rule: when the ratings say "no", the reason says it too.

The shipped Reasoner's verdict is a prior, not a judgement: its odds of opening a negative reason
are the same for unhappy and happy buyers (AUC 0.49-0.50, ``bench/verdict_word.py``), so it tells
nearly every unhappy buyer "it should suit them well". The collaborative estimate of the rating
(the user+item bias model, fitted on ratings that never include this one) does separate them where
a category's ratings do (AUC 0.90 on magazines, 0.67 on instruments). So the verdict is taken from
it: where the estimate is at or below the category's threshold, the Reasoner's answer is opened as the
teacher opens a poor match (:data:`~reason4rec.experts.prompts.NEGATIVE_OPENING`), it writes the
why, and its closing sentence is the teacher's negative one
(:data:`~reason4rec.experts.prompts.NEGATIVE_CLOSING`: forced reasons otherwise drift back to
"a mixed match").

The threshold is fitted on the category's validation targets (``reason4rec calibrate``): the median
estimate of those rated 1-2 stars, so it would have caught half of them (the bar the ratings issue
sets). It needs only ratings and estimates, so it is placed on *every* validation target, not only
the sample the experts ran on: a file's 200-target sample holds ten or twenty unhappy buyers, too
few for a steady median. It is *used* only where it holds out of fold: cross-fitted in folds over
the sample (each fold's threshold from every other target), the verdicts it gives (negative below
it, the Reasoner's own above) must agree with 4-5 and 1-2 star ratings on at least
:data:`MIN_AGREEMENT` of the sample and with more unhappy buyers than the Reasoner alone.
Otherwise it is kept, unused, with the numbers that said so. A forced reason is counted as
negative in that check: measured on 148 forced reasons of the shipped experts
(``bench/forced_verdict.py``), 147 read negative to the evaluation's sentiment measure.

Example:
    >>> import numpy as np
    >>> true = np.array([1, 2, 5, 5, 4, 5] * 20, dtype=float)
    >>> estimates = true * 0.3 + 2.8                      # the ratings separate the unhappy ones
    >>> rule = fit_verdict_rule(estimates, true, ["Overall it should suit them well."] * 120)
    >>> rule.applied, rule.says_no(3.2), rule.says_no(4.3)
    (True, True, False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .prompts import NEGATIVE_CLOSING, POSITIVE_CLOSING

if TYPE_CHECKING:
    from ..data import Review

MIN_AGREEMENT = 0.8
"""The share of 1-2 and 4-5 star targets whose verdict must still agree with the rating, out of
fold, for the rule to be used: the bar the project holds the verdict to."""
MIN_UNHAPPY = 10
"""Fewer validation targets rated 1-2 stars than this cannot place a threshold."""
FOLDS = 5

__all__ = ["MIN_AGREEMENT", "MIN_UNHAPPY", "VerdictRule", "before_own_closing", "closed_as_poor_match",
           "fit_ratings_verdict_rule", "fit_verdict_rule", "rule_in_use"]


_SUMMARISED = ("agreement", "unhappy_agreement", "ruled_agreement", "ruled_unhappy_agreement")
"""The measures a rule with a threshold is summarised by (and must carry)."""


@dataclass(frozen=True, slots=True)
class VerdictRule:
    """At or below ``threshold`` (the bias model's estimate, in stars) the verdict is "a poor match";
    ``applied``: the rule held out of fold, with the ``measures`` that decided."""

    threshold: float | None
    """None: too few targets rated 1-2 stars to place one."""
    applied: bool
    measures: dict[str, float] = field(default_factory=dict)
    """Out of fold on the fitting targets: ``agreement`` and ``unhappy_agreement`` (verdicts that
    agree with 1-2 and 4-5 star ratings; with 1-2 star ones) of the Reasoner alone and, prefixed
    ``ruled_``, with the rule; ``told_no_happy``: 4-5 star targets the rule tells "no"; ``unhappy``:
    how many targets placing the threshold are rated 1-2 stars (``checked_unhappy``: of them, in
    the sample the experts ran on, which the check is made on)."""

    def says_no(self, estimate: float | None) -> bool:
        """Does the rule give this (user, item) the negative verdict? Never without an estimate."""
        return (self.applied and self.threshold is not None and estimate is not None and math.isfinite(estimate)
                and estimate <= self.threshold)

    def summary(self) -> str:
        """One line: what the rule does and why."""
        m = self.measures
        if self.threshold is None:
            unhappy = int(m.get("unhappy", 0))
            return (f"verdicts are the Reasoner's: {unhappy} rating{'' if unhappy == 1 else 's'} of 1-2 stars, "
                    f"a threshold needs {MIN_UNHAPPY}")
        tried = (f"out of fold, verdicts agree with {m['agreement']:.0%} -> {m['ruled_agreement']:.0%} of ratings and "
                 f"{m['unhappy_agreement']:.0%} -> {m['ruled_unhappy_agreement']:.0%} of 1-2 star ones")
        placed = f"placed on {int(m['unhappy'])} ratings of 1-2 stars; " if "unhappy" in m else ""
        tried = placed + tried
        if self.applied:
            return f"a poor match where the ratings estimate {self.threshold:.2f} stars or less ({tried})"
        return f"verdicts are the Reasoner's (a threshold at {self.threshold:.2f} stars did not hold: {tried})"

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "applied": self.applied, "measures": dict(self.measures)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerdictRule:
        """The rule as :meth:`as_dict` wrote it; anything else raises ``ValueError``."""
        threshold, applied = data.get("threshold"), data.get("applied")
        value = None if threshold is None else float(threshold)
        if value is not None and not math.isfinite(value):
            raise ValueError("its verdict threshold is not finite")
        if not isinstance(applied, bool):
            raise ValueError(f"its verdict rule's 'applied' is not true or false: {applied!r}")
        measures = {str(k): float(v) for k, v in dict(data.get("measures") or {}).items()}
        missing = sorted(set(_SUMMARISED) - set(measures)) if value is not None else []
        if missing:
            raise ValueError(f"its verdict rule lacks the measures {', '.join(missing)}")
        return cls(value, applied and value is not None, measures)


def fit_verdict_rule(estimates: Sequence[float | None], true: Sequence[float], reasons: Sequence[str] | None, *,
                     unreasoned: Sequence[tuple[float | None, float]] = (), folds: int = FOLDS,
                     seed: int = 2020) -> VerdictRule:
    """The threshold from the targets rated 1-2 stars, used only if it holds out of fold (see the
    module's docstring). ``estimates``: each target's held-out bias estimate (None: none);
    ``reasons``: the Reasoner's own reason for each, whose verdict stands above the threshold
    (None: no reasons were written, and the Reasoner's verdict is taken as the one it nearly always
    gives, "it should suit them": :func:`fit_ratings_verdict_rule`); ``unreasoned``: (estimate,
    rating) of further targets the experts did not run on, which help place the threshold but
    cannot check it."""
    import numpy as np

    from .quality.reason_quality import rating_verdict, verdict

    if reasons is None:
        reasons = [POSITIVE_CLOSING] * len(true)
    if not len(estimates) == len(true) == len(reasons):
        raise ValueError(f"{len(estimates)} estimates, {len(true)} ratings and {len(reasons)} reasons: one each")
    x = np.array([math.nan if e is None else float(e) for e in estimates])
    y = np.asarray(true, dtype=float)
    unhappy = (y <= 2) & np.isfinite(x)
    more = np.array([math.nan if e is None else float(e) for e, rating in unreasoned if rating <= 2], dtype=float)
    more = more[np.isfinite(more)]
    if int(unhappy.sum()) + more.size < MIN_UNHAPPY:
        return VerdictRule(None, False, {"unhappy": float(unhappy.sum() + more.size)})
    said = {reason: verdict(reason) for reason in set(reasons)}  # read once: a reason repeats (the ratings-only rule)
    own = np.array([said[reason] for reason in reasons])
    expected = [rating_verdict(rating) for rating in y]
    ruled = own.copy()
    order = np.random.default_rng(seed).permutation(len(y))
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part)
        placing = np.concatenate([x[rest][unhappy[rest]], more])
        cut = float(np.median(placing)) if placing.size else -math.inf
        ruled[part] = np.where(x[part] <= cut, -1, own[part])

    def agreement(verdicts: Any, only: int | None = None) -> float:
        pairs = [v == e for v, e in zip(verdicts, expected) if e is not None and (only is None or e == only)]
        return round(float(sum(pairs)) / len(pairs), 4) if pairs else 0.0

    happy = [i for i, e in enumerate(expected) if e == 1]
    measures = {"agreement": agreement(own), "unhappy_agreement": agreement(own, -1),
                "ruled_agreement": agreement(ruled), "ruled_unhappy_agreement": agreement(ruled, -1),
                "told_no_happy": round(float(np.mean(ruled[happy] == -1)), 4) if happy else 0.0,
                "unhappy": float(unhappy.sum() + more.size), "checked_unhappy": float(unhappy.sum())}
    applied = (measures["ruled_agreement"] >= MIN_AGREEMENT
               and measures["ruled_unhappy_agreement"] > measures["unhappy_agreement"])
    return VerdictRule(float(np.median(np.concatenate([x[unhappy], more]))), bool(applied), measures)


def fit_ratings_verdict_rule(reviews: Sequence[Review], *, bias_l2: float = 5.0, bias_iterations: int = 20,
                             folds: int = FOLDS, seed: int = 2020) -> VerdictRule:
    """The verdict rule from ratings alone, for a category no calibration has placed one for.

    Every review's rating is estimated by a user+item bias model that never saw it (``folds``-fold
    cross-fitting over ``reviews``), and the rule is fitted on those estimates as on a calibration's
    targets, with the Reasoner's verdict taken as "it should suit them" above the threshold: what
    the shipped Reasoner says to 94-99% of every category's targets, unhappy buyers or not
    (``bench/verdict_word.py``). So the rule is used only where the ratings themselves separate the
    unhappy buyers well enough that saying "no" at or below it keeps :data:`MIN_AGREEMENT` of the
    verdicts right out of fold: a memory needs no ``calibrate`` run for its verdicts to follow its
    ratings, and one whose ratings do not tell (Musical Instruments) keeps the Reasoner's."""
    import numpy as np

    from ..data import BiasModel, deal_folds

    reviews = sorted(reviews, key=lambda review: review.review_id)  # any store, any order: the same rule
    if not reviews:
        return VerdictRule(None, False, {"unhappy": 0.0})
    estimates = np.full(len(reviews), math.nan)
    fold = deal_folds(len(reviews), folds, seed)
    for f in np.unique(fold):
        held = np.flatnonzero(fold == f)
        rest = [review for review, at in zip(reviews, fold) if at != f]
        if rest:
            model = BiasModel(l2=bias_l2, iterations=bias_iterations).fit(rest)
            estimates[held] = model.predict([reviews[i] for i in held])
    return fit_verdict_rule(estimates.tolist(), [review.rating for review in reviews], None, folds=folds, seed=seed)


def rule_in_use(calibrated: VerdictRule | None, from_ratings: Callable[[], VerdictRule | None]) -> VerdictRule | None:
    """The rule a category's verdicts follow: its calibration's wherever the calibration placed a
    threshold (checked on the Reasoner's own reasons, so used or not, it decides), else the one
    ``from_ratings()`` gives (:func:`fit_ratings_verdict_rule` on the memory's ratings); None where
    the deciding rule is not used. The agent and the evaluation both choose here."""
    rule = calibrated if calibrated is not None and calibrated.threshold is not None else from_ratings()
    return rule if rule is not None and rule.applied else None


_CLOSING = re.compile(r"(?:^|(?<=\s))Overall,?\s+it\b")
"""Where the Reasoner's own closing sentence starts ("Overall it ...", "Overall, it ...")."""
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_DANGLING = re.compile(r"(?:[\s,;:]+|\b(?:and|or|but|with|of|for|to|the|a|an|such as)\b)+$", re.IGNORECASE)


def before_own_closing(reason: str) -> str:
    """``reason`` up to the Reasoner's own closing sentence ("Overall it ..."), which the ratings'
    verdict replaces: what may be shown of a forced reason while it is still being written."""
    found = _CLOSING.search(reason)
    return reason[:found.start()] if found else reason


def closed_as_poor_match(reason: str) -> str:
    """``reason``'s whole sentences before its own closing sentence, then :data:`NEGATIVE_CLOSING`.

    A reason cut at the token budget loses its unfinished sentence; one with no whole sentence
    keeps its words, less a dangling joiner, ended with a full stop.

    Example:
        >>> closed_as_poor_match("In past reviews the user looked for tone. Buyers mention hum and")
        'In past reviews the user looked for tone. Overall it is a poor match, and they would likely be disappointed.'
    """
    head = before_own_closing(reason).strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends:
        head = head[:ends[-1]]
    elif head:
        head = _DANGLING.sub("", head) + "."
    return f"{head} {NEGATIVE_CLOSING}".strip()

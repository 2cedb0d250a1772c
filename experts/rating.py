"""The Predictor's answer as numbers: a distribution over the stars 1..5 and its expectation.

The rating is never parsed from generated text. After ``Predicted Rating: `` the model's next-token
logits for "1".."5" are softmaxed; the prediction is ``sum k * p_k`` clipped to [1, 5] and the
distribution itself says how sure the model is.

Example:
    >>> d = RatingDistribution.from_logits([0.0, 0.0, 0.0, 1.0, 2.0])
    >>> round(d.expected, 3), d.most_likely
    (4.106, 5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import Reason4RecError

STARS = (1, 2, 3, 4, 5)


class RatingMap(Protocol):
    """What maps the Predictor's expected rating onto the rating shown (a category's
    :class:`~reason4rec.experts.calibration.Calibration`)."""

    def rating(self, expected: float) -> float: ...

    def view(self) -> dict[str, object]: ...


class RatingError(Reason4RecError, ValueError):
    """A rating distribution could not be formed (no usable logits or log-probabilities)."""


@dataclass(frozen=True, slots=True)
class RatingDistribution:
    """Probabilities of 1..5 stars (they sum to 1)."""

    probabilities: tuple[float, float, float, float, float]

    @classmethod
    def from_logits(cls, logits: Sequence[float]) -> RatingDistribution:
        """Softmax over exactly five logits, numerically stable; -inf entries get probability 0."""
        if len(logits) != 5:
            raise RatingError(f"need 5 logits (stars 1..5), got {len(logits)}")
        values = [float(x) for x in logits]
        if any(math.isnan(x) or x == math.inf for x in values) or all(x == -math.inf for x in values):
            raise RatingError(f"logits hold no usable value: {values}")  # NaN or +inf: a broken model, not a vote
        top = max(values)
        weights = [math.exp(x - top) for x in values]
        total = sum(weights)
        return cls(tuple(w / total for w in weights))  # type: ignore[arg-type]

    @classmethod
    def from_logprobs(cls, top_logprobs: Mapping[str, float]) -> RatingDistribution:
        """From an OpenAI-style ``top_logprobs`` map (token -> logprob); stars missing from it
        get probability 0 and the rest are renormalised."""
        logits = [-math.inf] * 5
        for token, logprob in top_logprobs.items():
            star = token.strip()
            if star in {"1", "2", "3", "4", "5"}:
                try:
                    value = float(logprob)
                except (TypeError, ValueError):
                    raise RatingError(f"the log-probability of star {star} is not a number: {logprob!r}") from None
                if math.isnan(value) or value == math.inf:  # max() would drop a NaN silently
                    raise RatingError(f"the log-probability of star {star} is not usable: {value}")
                logits[int(star) - 1] = max(logits[int(star) - 1], value)
        return cls.from_logits(logits)

    @property
    def expected(self) -> float:
        """The method's prediction: ``sum k * p_k``, clipped to [1, 5]."""
        value = sum(k * p for k, p in zip(STARS, self.probabilities))
        return min(5.0, max(1.0, value))

    @property
    def most_likely(self) -> int:
        return STARS[max(range(5), key=lambda i: self.probabilities[i])]

    @property
    def confidence(self) -> float:
        """1 minus the normalised entropy: 1 = all mass on one star, 0 = uniform."""
        entropy = -sum(p * math.log(p) for p in self.probabilities if p > 0)
        return 1.0 - entropy / math.log(5)

    def as_dict(self, calibration: RatingMap | None = None) -> dict[str, object]:
        """``expected`` (the Predictor's), ``rating`` (what a person is shown: ``expected`` through the
        category's calibration where one is given, else the same), confidence and probabilities."""
        shown = {"expected": round(self.expected, 4),
                 "rating": round(calibration.rating(self.expected) if calibration else self.expected, 4),
                 "confidence": round(self.confidence, 4),
                 "probabilities": {str(k): round(p, 4) for k, p in zip(STARS, self.probabilities)}}
        if calibration is not None:
            shown["calibration"] = calibration.view()
        return shown

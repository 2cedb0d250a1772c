import math

import pytest

from reason4rec.experts.rating import RatingDistribution, RatingError


def test_uniform_logits_give_three_and_zero_confidence():
    d = RatingDistribution.from_logits([0.0] * 5)
    assert d.expected == pytest.approx(3.0)
    assert d.confidence == pytest.approx(0.0, abs=1e-9)
    assert sum(d.probabilities) == pytest.approx(1.0)


def test_expected_value_is_the_probability_weighted_mean():
    logits = [math.log(p) for p in (0.1, 0.1, 0.2, 0.3, 0.3)]
    d = RatingDistribution.from_logits(logits)
    assert d.expected == pytest.approx(0.1 + 0.2 + 0.6 + 1.2 + 1.5)
    assert d.most_likely in (4, 5)


def test_peaked_distribution_is_confident_and_stable_for_huge_logits():
    d = RatingDistribution.from_logits([1000.0, -1000.0, -1000.0, -1000.0, -1000.0])
    assert d.expected == pytest.approx(1.0) and d.confidence == pytest.approx(1.0)


def test_logprobs_renormalise_and_ignore_other_tokens():
    d = RatingDistribution.from_logprobs({" 4": math.log(0.3), "5": math.log(0.1), "hello": 0.0})
    assert d.probabilities[3] == pytest.approx(0.75) and d.probabilities[4] == pytest.approx(0.25)
    assert d.probabilities[0] == 0.0


@pytest.mark.parametrize("logits", [[0.0] * 4, [float("nan")] * 5, [-math.inf] * 5,
                                    [0.0, 0.0, 0.0, 0.0, math.inf],  # would read as NaNs and a confident 1 star
                                    [0.0, float("nan"), 0.0, 0.0, 0.0]])
def test_unusable_logits_raise(logits):
    with pytest.raises(RatingError):
        RatingDistribution.from_logits(logits)


@pytest.mark.parametrize("logprob", [float("nan"), math.inf, None, "high"])
def test_a_broken_star_logprob_raises_instead_of_being_dropped(logprob):
    with pytest.raises(RatingError, match="star 5"):  # max(-inf, nan) would have dropped star 5 silently
        RatingDistribution.from_logprobs({" 4": math.log(0.1), " 5": logprob})


def test_no_star_in_logprobs_raises():
    with pytest.raises(RatingError):
        RatingDistribution.from_logprobs({"hello": -0.1})

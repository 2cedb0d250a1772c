import pytest

from reason4rec.data.leakage import leaks_rating


@pytest.mark.parametrize("text", [
    "I would give it 4 stars.", "A solid 4.0 for this one", "easily 5/5", "Four-star pedal",
    "rated highly by them", "a five star tuner", "9 out of 10", "The rating would be high", "stars align",
])
def test_leaks_are_caught(text):
    assert leaks_rating(text) is not None


@pytest.mark.parametrize("text", [
    "The user values a warm tone and a sturdy build.", "It comes with 2 picks and a 10 ft cable.",
    "They may be bothered by the hum.",
])
def test_clean_reasons_pass(text):
    assert leaks_rating(text) is None

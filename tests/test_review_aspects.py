"""Opinion-target pairs from VADER: what the offline teacher reads in a review."""

from reason4rec.training.review_aspects import opinions, read_review, sentence_polarity


def test_an_opinion_pairs_with_the_nearest_target_and_keeps_its_polarity():
    assert [(o.phrase, o.polarity) for o in opinions("Great sound quality")] == [("great sound quality", 1)]
    assert [(o.phrase, o.polarity) for o in opinions("The clip broke after a week")] == [("clip broke", -1)]


def test_a_negator_flips_the_opinion():
    [found] = opinions("The sound is not good")
    assert found.phrase == "sound not good" and found.polarity == -1 and found.target == "sound"


def test_words_that_are_rarely_opinions_are_skipped():
    assert opinions("It looks like a studio filter") == []


def test_a_review_becomes_three_clean_fields():
    from reason4rec.experts.prompts import summary_problems

    summary = read_review("Bright tone but the clip broke. I bought it for my ukulele.")
    assert summary.positive == "bright tone" and summary.negative == "clip broke"
    assert "bought" not in summary.preferences  # buying is not an aspect
    assert summary_problems(summary.render()) == []
    assert read_review("").render() == "Positive Aspects: none\nNegative Aspects: none\nUser Preference Elements: none"


def test_sentence_polarity_is_vaders():
    assert sentence_polarity("I love it") == 1
    assert sentence_polarity("It broke, terrible") == -1
    assert sentence_polarity("It is a cable") == 0

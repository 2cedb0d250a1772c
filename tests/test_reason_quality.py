"""Grounding, verdict and completeness of reasons; well-formed summaries."""

import pytest

from reason4rec.experts.prompts import parse_summary, summary_problems
from reason4rec.experts.quality.reason_quality import (
    aspect_phrases,
    grounding,
    is_complete,
    mean_of,
    verdict,
    verdict_agrees,
)

SHOWN = ["Item: Blue Yeti USB condenser microphone.",
         "1. + clear sound, easy setup; - none; likes podcast recording",
         "The stand is sturdy and the sound quality is great for vocals."]


def test_aspect_phrases_drop_stop_opinion_and_task_words():
    phrases = aspect_phrases("The user would love the great sound quality, but the stand feels cheap!")
    assert phrases == ["sound quality", "stand", "cheap"]
    assert aspect_phrases("It is good and they like it.") == []
    assert aspect_phrases("a b c d e f g h i j") == []  # no word of three letters


def test_a_verdicts_frame_and_degree_words_are_not_aspects():
    """"needs are met", "some issues such as", "really", "little": what the Reasoner says about
    aspects, not aspects it could have invented."""
    reason = ("Other buyers really praise the stand but mention some issues such as the clip and little "
              "about hum. Overall it is a mixed match: some of their needs are met, others are not.")
    assert aspect_phrases(reason) == ["stand", "clip", "hum"]
    assert grounding(reason, ["The stand is fine, the clip broke."]).invented == ("hum",)


def test_grounded_and_invented_reasons_are_told_apart():
    grounded = grounding("This USB condenser microphone gives clear sound for podcast recording "
                         "and its sturdy stand suits vocals.", SHOWN)
    assert grounded.share == 1.0 and grounded.invented == ()
    invented = grounding("A piece made of wood, crafted by skilled craftsmen from bamboo, plays "
                         "AAC, MP4 and FLAC.", SHOWN)
    assert invented.share == 0.0 and "bamboo" in invented.invented
    mixed = grounding("The microphones sound clear, and the USBBHAYA bass heater is great.", SHOWN)
    assert 0 < mixed.share < 1 and mixed.invented == ("usbbhaya bass heater",)
    assert grounding("They will like it.", SHOWN).share is None  # no aspects: not scored


def test_verdicts_follow_the_true_rating_and_skip_three_stars():
    assert verdict("They would enjoy the warm, clear tone.") == 1
    assert verdict("The clip broke and the sound is terrible.") == -1
    assert verdict("It is a microphone.") == 0
    assert verdict_agrees("They would enjoy the warm, clear tone.", 5.0) is True
    assert verdict_agrees("They would enjoy the warm, clear tone.", 1.0) is False
    assert verdict_agrees("anything", 3.0) is None


def test_completeness_sees_a_cut_sentence():
    assert is_complete("It suits them well.") and is_complete('They said "works fine!"')
    assert not is_complete("It suits them well because the") and not is_complete("")


def test_mean_skips_unscored_values():
    assert mean_of([1.0, None, 0.0, True]) == pytest.approx(2 / 3, abs=1e-4)
    assert mean_of([None, None]) is None


@pytest.mark.parametrize(("raw", "problem"), [
    ("Positive Aspects: bright note none none none\nNegative Aspects: clip\nUser Preference Elements: tone",
     "word repeated"),
    ("Positive Aspects: good quality, great sound,,,,,\nNegative Aspects: none\nUser Preference Elements: x",
     "run of punctuation"),
    ("Positive Aspects: bright\nNegative Aspects: none", "expected the lines"),
    ("Positive Aspects: bright\nNegative Aspects:\nUser Preference Elements: tone", "empty"),
    ("Negative Aspects: clip\nPositive Aspects: bright\nUser Preference Elements: tone", "expected the lines"),
])
def test_malformed_summaries_are_named(raw, problem):
    assert any(problem in p for p in summary_problems(raw))


def test_a_clean_summary_and_its_rendering_are_well_formed():
    clean = "Positive Aspects: bright tone\nNegative Aspects: clip broke\nUser Preference Elements: bright sound"
    assert summary_problems(clean) == [] and summary_problems(parse_summary(clean).render()) == []
    assert summary_problems(parse_summary("Positive Aspects: " + "warm sound " * 30).render()) != []


def test_the_candidate_inventing_least_and_naming_most_is_chosen_ties_keep_the_first():
    from reason4rec.experts.quality.reason_quality import least_invented

    invented = "The user loves clear sound, and the bamboo body suits vocals."
    grounded = "The user loves clear sound, and the sturdy stand suits vocals."
    assert least_invented([invented, grounded], SHOWN) == 1
    assert least_invented([grounded, grounded], SHOWN) == 0
    vaguer = "The user loves clear sound."  # invents nothing either, but names less
    assert least_invented([vaguer, grounded], SHOWN) == 1
    cut = "The user loves clear sound and the sturdy stand for"
    assert least_invented([cut, invented], SHOWN) == 1  # a finished sentence first
    assert least_invented(["They will like it.", invented], SHOWN) == 1  # naming no shown aspect ranks last
    with pytest.raises(ValueError):
        least_invented([], SHOWN)


def test_the_offline_teacher_reads_reviews_as_before_the_frame_words():
    """The measure's extra non-aspect words must not change the teacher's training data."""
    from reason4rec.experts.quality.reason_quality import reason_stop_words, stop_words

    assert {"met", "issues", "really", "little"} <= reason_stop_words()
    assert not {"met", "issues", "really", "little"} & stop_words()
    text = "Really solid stand, but some issues with the clip."
    assert "issues" in " ".join(aspect_phrases(text, stop_words()))
    assert "issues" not in " ".join(aspect_phrases(text))


def test_the_stop_word_copy_equals_scikit_learns_list():
    """The copy a fresh process reads (no scikit-learn import) is the library's list, word for word."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from reason4rec.experts.quality.reason_quality import english_stop_words

    assert english_stop_words() == frozenset(ENGLISH_STOP_WORDS)

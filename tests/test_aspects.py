from reason4rec.experts.aspects import LEXICON_VERSION, content_words, extract_aspects, lexicon_summary, merge_summaries
from reason4rec.experts.prompts import parse_summary


def test_lexicon_summary_pairs_opinions_with_nouns_and_handles_negation():
    summary = lexicon_summary("The tuner is accurate. The clip is not sturdy and it broke. Great tuner!")
    assert "accurate tuner" in summary.positive and "great tuner" in summary.positive
    assert "not sturdy" in summary.negative and "broke" in summary.negative
    assert "tuner" in summary.preferences
    assert parse_summary(summary.render()) == summary  # the rendered form reads back as the same summary


def test_content_words_drop_opinion_stop_and_negation_words():
    assert content_words("Not a great pedal, but the Snark tuner clip works none") == [
        "pedal", "snark", "tuner", "clip"]


def test_merge_summaries_ranks_by_frequency_and_ignores_none():
    first = parse_summary("Positive Aspects: warm tone, low hum\nNegative Aspects: none\n"
                          "User Preference Elements: tubes")
    second = parse_summary("Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes, tone")
    merged = merge_summaries([first, second], top=2)
    assert merged == {"positive": ["warm tone", "low hum"], "negative": ["hum"], "likes": ["tubes", "tone"]}


def test_polarity_and_version_label():
    assert extract_aspects("Terrible, it broke.").polarity < 0 < extract_aspects("Great and sturdy.").polarity
    assert LEXICON_VERSION == "lexicon-1"

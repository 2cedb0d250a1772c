from reason4rec.experts.aspects import LEXICON_VERSION, content_words, extract_aspects, lexicon_summary, merge_summaries
from reason4rec.experts.prompts import parse_summary


def test_lexicon_summary_names_product_aspects_on_their_side_with_negation():
    summary = lexicon_summary("The tuner is accurate. The clip is not sturdy and it broke. Great tuner!")
    assert summary.positive == "tuner" and summary.negative == "clip"
    assert "tuner" in summary.preferences
    assert parse_summary(summary.render()) == summary  # the rendered form reads back as the same summary


def test_content_words_drop_opinion_stop_negation_and_filler_words():
    assert content_words("Not a great pedal, but the Snark tuner clip works none, really mostly good stuff") == [
        "pedal", "snark", "tuner", "clip"]


def test_merge_summaries_ranks_aspects_by_frequency_and_ignores_none():
    first = parse_summary("Positive Aspects: warm tone, low hum\nNegative Aspects: none\n"
                          "User Preference Elements: tubes")
    second = parse_summary("Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes, tone")
    merged = merge_summaries([first, second], top=2)
    assert merged["positive"][0] == "tone" and merged["negative"] == ["hum"]
    assert merged["likes"] == ["tube", "tone"] and merged["keywords"][:2] == ["tone", "tubes"]


def test_merge_summaries_moves_a_phrase_to_the_side_its_words_take():
    garbled = parse_summary("Positive Aspects: bright tone, clip broke, mostly, good\nNegative Aspects: really")
    merged = merge_summaries([garbled])
    assert merged["positive"] == ["tone"] and merged["negative"] == ["clip"] and merged["likes"] == []


def test_polarity_and_version_label():
    terrible, great = extract_aspects("Terrible, the stand broke."), extract_aspects("Great and sturdy stand.")
    assert terrible.polarity < 0 < great.polarity
    assert LEXICON_VERSION == "lexicon-2+aspects-3"

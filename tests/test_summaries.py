import gzip
import json

from fakes import FakeBackend, SpyBackend

from reason4rec.data.splits import build_targets, make_split
from reason4rec.experts.summaries import (
    SummaryCache,
    history_reviews,
    summarize_reviews,
    summary_version,
    target_context,
)


def test_cache_is_durable_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "s.jsonl"
    SummaryCache(path).put_many([("r1", "v1", "sum one"), ("r2", "v1", "sum two")])
    with path.open("a") as handle:
        handle.write('{"review_id": "r3", "vers')  # a process killed mid-write
    cache = SummaryCache(path)
    assert cache.get("r1", "v1") == "sum one" and cache.get("r3", "v1") is None
    assert cache.get("r1", "other-version") is None
    assert cache.export(tmp_path / "out.jsonl.gz", "v1") == 2
    seeded = SummaryCache(tmp_path / "new.jsonl", seeds=[tmp_path / "out.jsonl.gz"])
    assert seeded.get("r2", "v1") == "sum two" and not (tmp_path / "new.jsonl").exists()
    with gzip.open(tmp_path / "out.jsonl.gz", "rt") as handle:
        assert json.loads(handle.readline())["version"] == "v1"


def test_history_summaries_are_computed_once(shipped, tiny_backend, tmp_path):
    split = make_split(shipped, "leave-last-out")
    targets = [t for t in build_targets(split, "test", 2) if t.has_histories][:3]
    reviews = history_reviews(targets)
    counting = SpyBackend(tiny_backend)  # counts the prompts the real backend had to generate for
    cache = SummaryCache(tmp_path / "s.jsonl")
    first = summarize_reviews(counting, reviews, cache, shipped.category, batch_size=4)
    assert counting.prompts == len(reviews) == len(first)
    again = summarize_reviews(counting, reviews + reviews, SummaryCache(tmp_path / "s.jsonl"), shipped.category)
    assert counting.prompts == len(reviews) and again == first  # nothing regenerated, across processes too
    ctx = target_context(targets[0], first, shipped.category)
    assert len(ctx.user_history) == len(targets[0].user_history)
    assert all(entry.title == "a buyer" for entry in ctx.item_history)


GARBLED = ("Positive Aspects: bright tone tone none none,,,, bright tone\nNegative Aspects: clip broke..."
           "\nUser Preference Elements: Positive Aspects: none\nand then more")
"""The garbled text a small Summarizer can write."""


def test_what_is_stored_is_the_guarded_summary(shipped, tmp_path):
    from dataclasses import replace

    from reason4rec.experts.prompts import summary_problems

    reviews = [replace(r, text="bright tone but the clip broke", rating=4.0) for r in shipped.reviews[:3]]
    cache = SummaryCache(tmp_path / "s.jsonl")
    stored = summarize_reviews(FakeBackend(GARBLED, versions="scripted-1"), reviews, cache, shipped.category)
    # repeats and punctuation tidied, then each aspect kept on the side its review takes (issue 37)
    assert set(stored.values()) == {"Positive Aspects: tone\nNegative Aspects: clip\n"
                                    "User Preference Elements: tone, clip"}
    assert not summary_problems(next(iter(stored.values())))
    cached = SummaryCache(tmp_path / "s.jsonl").get(reviews[0].review_id, summary_version("scripted-1"))
    assert cached == stored[reviews[0].review_id]


def test_a_summary_naming_no_aspect_of_a_complaint_keeps_the_complaint(shipped, tmp_path):
    """ "none / none / no" for a 1-star review of broken strings would keep the complaint out of the
    memory: the lexicon's aspects are kept instead, and the well-formed measure counts such a
    summary as a problem (issue 38)."""
    from dataclasses import replace

    from reason4rec.experts.summaries import names_no_aspect, summary_problems_of

    empty = "Positive Aspects: none\nNegative Aspects: none\nUser Preference Elements: no"
    complaint = replace(shipped.reviews[0], rating=1.0, text="The strings broke within a day and the sound is dull.")
    stored = summarize_reviews(FakeBackend(empty, versions="scripted-1"), [complaint], SummaryCache(tmp_path / "s"),
                               shipped.category)[complaint.review_id]
    assert not names_no_aspect(stored) and "string" in stored.split("\n")[1]  # a complaint, on the negative side
    assert summary_problems_of(empty, complaint.text) == ["no aspect, though the review names some"]
    assert summary_problems_of(stored, complaint.text) == []
    assert summary_problems_of(empty, "Arrived.") == []  # a review with nothing to say may say nothing


def test_an_answer_the_review_does_not_support_keeps_what_the_review_is_about():
    """Phrases the review does not name ("good", "value for money") leave nothing after cleaning;
    the review's own noun phrases are kept, so its history line is not "(no summary)"."""
    from reason4rec.experts.prompts import summary_line
    from reason4rec.experts.summaries import names_no_aspect, stored_summary

    text = "I had no reference point to judge the size of these picks."
    stored = stored_summary("Positive Aspects: good\nNegative Aspects: none\nUser Preference Elements: value", text, 3)
    assert not names_no_aspect(stored) and "pick" in stored and summary_line(stored) != "(no summary)"
    assert names_no_aspect(stored_summary("Positive Aspects: good", "PERFECT!", 5))  # nothing to keep: says nothing


def test_malformed_cached_summaries_are_written_again_and_the_rest_left(shipped, tmp_path):
    from fakes import SUMMARY

    from reason4rec.experts.summaries import redo_malformed, stored_summary

    old, clean, other = shipped.reviews[:3]
    V1 = summary_version("v1")
    cache = SummaryCache(tmp_path / "s.jsonl")
    cache.put_many([(old.review_id, V1, "Positive Aspects: ebony ebony, ebonic ebony\nNegative Aspects: none\n"
                                         "User Preference Elements: ebonies e"),  # a word repeated: malformed
                    (clean.review_id, V1, "Positive Aspects: warm\nNegative Aspects: hum\nUser Preference "
                                            "Elements: tubes"),
                    (other.review_id, "v0", "Positive Aspects: x x x")])  # another Summarizer's: not ours
    backend = FakeBackend(versions="v1")
    reviews = {r.review_id: r for r in shipped.reviews[:3]}
    assert redo_malformed(backend, cache, reviews, shipped.category) == (1, 0)
    assert [call.conversations for call in backend.asked("generate")] == [1]  # only the malformed one again
    reread = SummaryCache(tmp_path / "s.jsonl")  # appended: durable, and the last row wins
    # kept to what the review says
    assert reread.get(old.review_id, V1) == stored_summary(SUMMARY, old.text, old.rating)
    assert reread.get(clean.review_id, V1).startswith("Positive Aspects: warm")
    assert reread.get(other.review_id, "v0") == "Positive Aspects: x x x"
    assert redo_malformed(backend, reread, reviews, shipped.category) == (0, 0)  # nothing left to redo
    # named ids are summarised again too (a rule change the cleaned cache cannot replay); others' ids are not ours
    named = {clean.review_id, other.review_id}
    assert redo_malformed(backend, reread, reviews, shipped.category, also=named) == (1, 0)
    redone = SummaryCache(tmp_path / "s.jsonl").get(clean.review_id, V1)
    assert redone == stored_summary(SUMMARY, clean.text, clean.rating)

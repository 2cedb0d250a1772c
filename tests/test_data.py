"""The loaders: the shipped file, McAuley files, and every way a bad file is rejected."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from reason4rec.training.data import (
    DataError,
    load_item_titles,
    load_reviews,
    review_id,
    shipped_path,
)


def test_shipped_file_is_inside_the_package_with_its_notice():
    path = shipped_path()
    assert path.is_file()
    notice = (path.parent / "README.md").read_text()
    assert "non-commercial" in notice and "McAuley" in notice


def test_shipped_data_matches_its_readme(shipped):
    stats = shipped.stats()
    assert (stats.reviews, stats.users, stats.items) == (10261, 1429, 900)
    assert stats.mean_rating == pytest.approx(4.489, abs=5e-4)
    assert stats.rating_shares[5] == pytest.approx(0.676, abs=5e-4)
    assert stats.rating_shares[1] == pytest.approx(0.021, abs=5e-4)
    assert stats.empty_texts == 7
    assert stats.max_words == 2043
    assert stats.titled_items == 0
    assert shipped.category == "Musical Instruments"
    # file order is kept: it is the tie-break for same-day reviews
    assert [r.position for r in shipped.reviews[:3]] == [0, 1, 2]
    assert shipped.reviews[0].user_id == "A2IBPI20UZIR0U"
    assert all(isinstance(r.timestamp, int) for r in shipped.reviews)


def test_items_without_metadata_are_named_by_id(shipped):
    assert shipped.title("B0002E1G5C") == "B0002E1G5C"


def test_review_ids_are_stable_and_distinct():
    assert review_id("u", "i") == review_id("u", "i")
    assert review_id("u", "i") != review_id("i", "u")
    # a separator inside an id cannot forge another pair
    assert review_id("a|b", "c") != review_id("a", "b|c")
    assert review_id("ü ser/../", "i\u200b").isalnum()


def test_gzipped_and_plain_files_load_the_same(write_lines, record):
    rows = [record("u1", "i1", 4.0, 10, "warm tone"), record("u2", "i1", 2.0, 11, "")]
    plain = load_reviews(write_lines(rows, "a.jsonl"))
    gz = load_reviews(write_lines(rows, "b.jsonl.gz", gz=True))
    assert [(r.user_id, r.rating, r.text) for r in plain.reviews] == [
        (r.user_id, r.rating, r.text) for r in gz.reviews
    ]
    assert gz.reviews[1].text == ""  # explicitly empty text is kept


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_id": ""}, "'user_id' must be a non-empty string"),
        ({"item_id": "   "}, "'item_id' must be a non-empty string"),
        ({"item_id": 42}, "'item_id' must be a non-empty string"),
        ({"rating": 0}, "between 1 and 5"),
        ({"rating": 5.5}, "between 1 and 5"),
        ({"rating": "5"}, "'rating' must be a number"),
        ({"rating": True}, "'rating' must be a number"),
        ({"timestamp": 1.5}, "must be an integer"),
        ({"timestamp": "1393545600"}, "must be an integer"),
        ({"timestamp": -3}, "must not be negative"),
        ({"review_text": None}, "must be a string"),
        ({"user_id": "a\nb"}, "control character"),
        ({"user_id": "x" * 300}, "longer than 256"),
    ],
)
def test_bad_records_are_rejected_naming_the_line(write_lines, record, change, message):
    good = record("u1", "i1")
    bad = {**record("u2", "i2"), **change}
    path = write_lines([good, good | {"item_id": "i9"}, bad])
    with pytest.raises(DataError) as caught:
        load_reviews(path)
    text = str(caught.value)
    assert f"{path}:3:" in text and message in text
    assert "was not loaded" in text


def test_missing_text_field_must_be_explicit(write_lines, record):
    row = record("u1", "i1")
    del row["review_text"]
    with pytest.raises(DataError, match=r':1: missing field .*explicitly empty'):
        load_reviews(write_lines([row]))


def test_every_bad_line_is_reported_not_just_the_first(write_lines, record):
    lines = [record("u1", "i1"), "{broken", record("u2", "i2", rating=9), "[1, 2]"]
    with pytest.raises(DataError) as caught:
        load_reviews(write_lines(lines))
    text = str(caught.value)
    assert "3 invalid review line(s)" in text
    assert ":2: not valid JSON" in text and ":3:" in text and ":4: expected a JSON object" in text


def test_blank_lines_are_skipped_but_an_empty_file_is_an_error(write_lines, record):
    assert len(load_reviews(write_lines([record("u", "i"), "", "   "]))) == 1
    with pytest.raises(DataError, match="no reviews found"):
        load_reviews(write_lines(["", ""]))


def test_unreadable_files_give_clear_errors(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        load_reviews(tmp_path / "nope.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"user_id": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_reviews(latin)
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"user_id": "u"}\n' * 1000)[:60])
    with pytest.raises(DataError, match="cannot read"):
        load_reviews(truncated)


def test_duplicate_pairs_are_an_error_unless_keeping_the_latest(write_lines, record):
    rows = [record("u", "i", 2.0, 5, "first"), record("v", "i"), record("u", "i", 4.0, 9, "second")]
    path = write_lines(rows)
    with pytest.raises(DataError, match="duplicate .* lines 1 and 3"):
        load_reviews(path)
    kept = load_reviews(path, on_duplicate="keep-latest")
    assert kept.dropped_duplicates == 1
    assert [(r.user_id, r.text) for r in kept.reviews] == [("v", "ok"), ("u", "second")]


MCAULEY_REVIEW = (
    '{"reviewerID": "A1", "asin": "B01", "reviewerName": "Ann", "helpful": [0, 0], '
    '"reviewText": "Crisp highs.", "overall": 4.0, "summary": "Nice", '
    '"unixReviewTime": 1400000000, "reviewTime": "05 13, 2014"}'
)


def test_mcauley_reviews_and_python_literal_metadata(write_lines):
    reviews = write_lines([MCAULEY_REVIEW], "reviews_Digital_Music_5.json.gz", gz=True)
    meta = write_lines(
        [
            "{'asin': 'B01', 'title': 'Blue  Album', 'price': 9.99, 'related': {'also_bought': ['B02']}}",
            "{'asin': 'B02', 'salesRank': {'Music': 3}}",
            '{"asin": "B03", "title": "Json Line"}',
        ],
        "meta_Digital_Music.json.gz",
        gz=True,
    )
    dataset = load_reviews(reviews, meta)
    assert dataset.category == "Digital Music"
    review = dataset.reviews[0]
    assert (review.user_id, review.item_id, review.rating, review.timestamp) == ("A1", "B01", 4.0, 1400000000)
    assert review.title == "Nice" and review.text == "Crisp highs."
    assert dataset.title("B01") == "Blue Album"
    assert dataset.title("B02") == "B02"  # no title in metadata: named by id
    assert load_item_titles(meta)["B03"] == "Json Line"


def test_metadata_is_never_evaluated(write_lines, tmp_path: Path):
    canary = tmp_path / "pwned"
    meta = write_lines(
        [
            "{'asin': 'B01', 'title': 'fine'}",
            f"__import__('pathlib').Path({str(canary)!r}).touch()",
            "{'asin': 'B02', 'title': (lambda: 1)()}",
        ],
        "meta_x.json",
    )
    with pytest.raises(DataError) as caught:
        load_item_titles(meta)
    assert not canary.exists()
    assert ":2: not a Python literal" in str(caught.value) or ":2:" in str(caught.value)
    assert ":3:" in str(caught.value)


def test_metadata_without_asin_is_rejected(write_lines):
    with pytest.raises(DataError, match=r":1: missing field 'asin'"):
        load_item_titles(write_lines(["{'title': 'orphan'}"], "meta.json"))

"""The loaders: the shipped file, McAuley files, and every way a bad file is rejected."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from reason4rec.data import (
    DataError,
    clean_text,
    load_configured,
    load_item_titles,
    load_reviews,
    load_shipped,
    merge_datasets,
    meta_beside,
    record_format,
    require_category,
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
        ({"user_id": "a\x1fb"}, "control character"),  # the review id's own separator
        ({"item_id": "\x1b[2Jevil"}, "control character"),  # a terminal escape
        ({"timestamp": 10**20}, "past the largest storable time"),
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
    with pytest.raises(DataError, match=r"duplicate .* lines 1 and 3"):
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


# --------------------------------------------------------------------------- real-world files (issue 17)

# Lines shaped like McAuley's 2018 5-core dump (``<Category>_5.json.gz``): ``vote`` is a string,
# ``style``/``image`` appear on some lines, and image- or summary-only reviews have no ``reviewText``.
REVIEWS_2018 = [
    '{"overall": 5.0, "verified": true, "reviewTime": "09 1, 2016", "reviewerID": "A3CIUOJXQ5VDQ2", '
    '"asin": "B0000530HU", "style": {"Size:": " 7.0 oz", "Flavor:": " Classic Ice Blue"}, '
    '"reviewerName": "Shelly F", "reviewText": "Ch&acirc;teau scent,<br />lasts &quot;all day&quot;", '
    '"summary": "Stone &amp; Light", "unixReviewTime": 1472688000}',
    '{"overall": 4.0, "vote": "2", "verified": true, "reviewTime": "11 14, 2013", '
    '"reviewerID": "A1AHW6I678O6F2", "asin": "B0000530HU", "reviewerName": "Kenny", '
    '"summary": "Four Stars", "unixReviewTime": 1384387200}',
    '{"overall": 1.0, "verified": false, "reviewTime": "08 18, 2015", "reviewerID": "A8R48NKTGCJDQ", '
    '"asin": "B00006L9LC", "reviewerName": "Peter", "image": ["https://images-na.ssl-images-amazon.com/'
    'images/I/71ZQjIM7kQL._SY88.jpg"], "unixReviewTime": 1439856000}',
    '{"overall": 3.0, "verified": true, "reviewTime": "03 2, 2017", "reviewerID": "A1DJ8ZSGVK2XAA", '
    '"asin": "B00006L9LC", "reviewerName": "Jo", "reviewText": "It is fine for <$20.", '
    '"summary": "Three Stars", "unixReviewTime": 1488412800}',
]
# 2018 metadata is JSON; the title may be missing or carry HTML.
META_2018 = [
    '{"category": [], "tech1": "", "description": ["Loud &amp; clear."], "fit": "", '
    '"title": "Sol &amp; Luna <span class=\\"a-size-large\\">Body Wash</span>", "also_buy": [], '
    '"tech2": "", "brand": "Sol", "feature": [], "rank": "2,938,573 in Beauty & Personal Care (", '
    '"also_view": [], "main_cat": "All Beauty", "similar_item": "", "date": "", "price": "", '
    '"asin": "B0000530HU", "imageURL": [], "imageURLHighRes": []}',
    '{"category": [], "tech1": "", "description": [], "fit": "", "also_buy": ["B0000530HU"], '
    '"brand": "", "feature": [], "rank": [], "also_view": [], "main_cat": "All Beauty", '
    '"asin": "B00006L9LC", "imageURL": [], "imageURLHighRes": []}',
]
# 2014 metadata lines are Python literals (single quotes), titles with entities.
META_2014 = [
    "{'asin': '0006428320', 'title': 'Six Sonatas For Two Flutes Or Violins, Volume 2 (#4-6)', "
    "'price': 17.95, 'imUrl': 'http://ecx.images-amazon.com/images/I/41EpRmh8MEL._SY300_.jpg', "
    "'salesRank': {'Musical Instruments': 292}, 'categories': [['Musical Instruments']]}",
    "{'asin': '0014072149', 'title': 'Double Concerto &quot;In D Minor&quot;<br />By Bach', "
    "'related': {'also_viewed': ['B0058DK7RA']}, 'price': 18.77, 'categories': [['Musical Instruments']]}",
    "{'asin': '0041291905', 'salesRank': {'Musical Instruments': 69858}, "
    "'categories': [['Musical Instruments']]}",
]


def test_mcauley_2018_reviews_without_text_use_their_summary_and_are_counted(write_lines):
    dataset = load_reviews(write_lines(REVIEWS_2018, "All_Beauty_5.json.gz", gz=True))
    assert dataset.category == "All Beauty"
    texts = [(r.user_id, r.text, r.title) for r in dataset.reviews]
    assert texts[1] == ("A1AHW6I678O6F2", "Four Stars", "Four Stars")  # summary-only review
    assert texts[2] == ("A8R48NKTGCJDQ", "", "")  # image-only review: empty, never fatal
    assert (dataset.report.missing_text, dataset.report.from_summary) == (2, 1)
    assert dataset.report.notes()[0] == "2 reviews had no text (1 used their summary)"
    assert dataset.stats().empty_texts == 1


def test_a_complete_file_has_nothing_to_report(write_lines):
    again = MCAULEY_REVIEW.replace('"B01"', '"B02"')
    dataset = load_reviews(write_lines([MCAULEY_REVIEW, again], "reviews_Digital_Music_5.json"))
    assert dataset.report.notes() == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ch&acirc;teau", "Château"),
        ("Stone &amp; Light", "Stone & Light"),
        ("a &quot;quote&quot; and &#34;another&#34;", 'a "quote" and "another"'),
        ("line one<br />line two", "line one line two"),
        ("line one <br/><br /> line two", "line one line two"),
        ("<p>Great <b>tone</b>, <a href=\"http://x\">link</a></p>", "Great tone, link"),
        ("<span class=\"a-size-large\">Body Wash</span>", "Body Wash"),
        ("it&#8217;s &lt;$20 &amp; worth it", "it\u2019s <$20 & worth it"),
        ("I <3 it <grin> a < b > c", "I <3 it <grin> a < b > c"),  # prose, not tags
        ("plain text stays", "plain text stays"),
    ],
)
def test_text_is_cleaned_of_html_once(raw, clean):
    assert clean_text(raw) == clean


def test_review_text_summary_and_titles_are_cleaned_at_the_loader(write_lines):
    reviews = write_lines(REVIEWS_2018, "All_Beauty_5.json.gz", gz=True)
    meta = write_lines(META_2018, "meta_All_Beauty.json.gz", gz=True)
    dataset = load_reviews(reviews, meta)
    first = dataset.reviews[0]
    assert first.text == 'Château scent, lasts "all day"'
    assert first.title == "Stone & Light"
    assert dataset.reviews[3].text == "It is fine for <$20."
    assert dataset.title("B0000530HU") == "Sol & Luna Body Wash"
    assert dataset.title("B00006L9LC") == "B00006L9LC"  # 2018 line without a title: named by id


def test_2014_python_literal_metadata_loads_with_clean_titles(write_lines):
    titles = load_item_titles(write_lines(META_2014, "meta_Musical_Instruments.json.gz", gz=True))
    assert titles == {
        "0006428320": "Six Sonatas For Two Flutes Or Violins, Volume 2 (#4-6)",
        "0014072149": 'Double Concerto "In D Minor" By Bach',
    }


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("reviews_Musical_Instruments_5.json.gz", "Musical Instruments"),  # 2014
        ("reviews_Digital_Music.json.gz", "Digital Music"),  # 2014, not a 5-core
        ("All_Beauty_5.json.gz", "All Beauty"),  # 2018
        ("Musical_Instruments_5.json", "Musical Instruments"),
        ("Clothing_Shoes_and_Jewelry_5.json.gz", "Clothing Shoes and Jewelry"),
        ("mine.jsonl", "Products"),  # not a McAuley name: nothing guessed
        ("musical_instruments_5.jsonl.gz", "Products"),
    ],
)
def test_category_is_guessed_from_2014_and_2018_names(write_lines, name, category):
    assert load_reviews(write_lines([MCAULEY_REVIEW], name)).category == category


def test_an_explicit_category_wins_over_the_file_name(write_lines):
    path = write_lines(REVIEWS_2018, "All_Beauty_5.json.gz", gz=True)
    assert load_reviews(path, category="Luxury Beauty").category == "Luxury Beauty"
    assert load_configured(path, category="Luxury Beauty").category == "Luxury Beauty"
    assert load_configured(path).category == "All Beauty"


def test_duplicate_error_names_the_cli_option_and_the_config_key(write_lines, record):
    path = write_lines([record("u", "i"), record("u", "i", timestamp=2)])
    with pytest.raises(DataError) as caught:
        load_configured(path)
    assert "--on-duplicate keep-latest" in str(caught.value) and "data.on_duplicate" in str(caught.value)
    assert load_configured(path, on_duplicate="keep-latest").dropped_duplicates == 1


def _truncated_gzip(path: Path, lines: list[str], keep: float = 0.6) -> Path:
    """A gzip cut short like an interrupted download (no end-of-stream marker, last line torn)."""
    data = gzip.compress("".join(line + "\n" for line in lines).encode())
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _many_reviews(count: int = 300) -> list[str]:
    return [
        json.dumps({"reviewerID": f"A{n % 37}", "asin": f"B{n // 37:08d}", "overall": 1.0 + n % 5,
                    "unixReviewTime": 1400000000 + n, "reviewText": f"review {n} " + "warm tone " * 12,
                    "summary": f"s{n}"})
        for n in range(count)
    ]


def test_a_truncated_gzip_is_refused_saying_so_and_how_many_lines_were_complete(tmp_path: Path):
    path = _truncated_gzip(tmp_path / "Musical_Instruments_5.json.gz", _many_reviews())
    with pytest.raises(DataError) as caught:
        load_reviews(path)
    message = str(caught.value)
    complete = int(re.search(r"(\d+) complete line\(s\) were read", message)[1])
    assert "truncated" in message and "--allow-truncated" in message and "data.allow_truncated" in message
    assert 0 < complete < 300
    kept = load_reviews(path, allow_truncated=True)
    assert len(kept) == complete  # every complete line, and no torn one
    assert kept.reviews[-1].text.startswith(f"review {complete - 1} ")
    assert kept.report.truncated == {str(path): complete}
    assert kept.report.notes() == [
        f"{path}: truncated gzip; kept the {complete:,} complete line(s) before the cut"
    ]


def test_truncated_metadata_is_refused_or_kept_like_reviews(write_lines, tmp_path: Path):
    reviews = write_lines([MCAULEY_REVIEW], "reviews_Digital_Music_5.json")
    meta_lines = [f"{{'asin': 'B{n:05d}', 'title': 'Item {n}', 'price': 9.99}}" for n in range(400)]
    meta = _truncated_gzip(tmp_path / "meta_Digital_Music.json.gz", meta_lines)
    with pytest.raises(DataError, match=r"meta_Digital_Music.json.gz: cannot read to the end: .* truncated"):
        load_reviews(reviews, meta)
    kept = load_reviews(reviews, meta, allow_truncated=True)
    assert 0 < len(kept.item_titles) == kept.report.truncated[str(meta)] < 400


def test_a_damaged_gzip_stream_is_refused_naming_the_file(tmp_path: Path):
    path = tmp_path / "reviews_x_5.json.gz"
    data = bytearray(gzip.compress("\n".join(json.dumps(r) for r in _many_reviews()).encode()))
    data[40] ^= 0x55  # a flipped byte inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"reviews_x_5.json.gz: (the gzip data is damaged|cannot read)"):
        load_reviews(path)


@pytest.mark.parametrize(("line", "message"), [("[" * 100_000, "nested too deeply"),
                                               ("{[1]: 2}", "not a usable record")])
def test_pathological_lines_are_bad_lines_not_crashes(write_lines, line, message):
    reviews = write_lines([MCAULEY_REVIEW], "reviews_Digital_Music_5.json")
    meta = write_lines([line], "meta_Digital_Music.json")
    with pytest.raises(DataError, match=message):
        load_reviews(reviews, meta)
    with pytest.raises(DataError, match=f"{message}|not valid JSON"):
        load_reviews(write_lines([MCAULEY_REVIEW, line], "reviews_x_5.json"))


def test_a_gzip_cut_inside_its_header_reads_zero_lines(tmp_path: Path):
    path = tmp_path / "reviews_x_5.json.gz"
    path.write_bytes(gzip.compress(b"{}\n")[:5])
    with pytest.raises(DataError, match=r"truncated .* 0 complete line\(s\)"):
        load_reviews(path)


def test_bad_metadata_is_reported_before_the_reviews_are_read(write_lines, tmp_path: Path):
    bad_reviews = write_lines(["{broken", *REVIEWS_2018], "All_Beauty_5.json")
    bad_meta = write_lines(["{'asin': 'B01', 'title': 'ok'}", "{'title': 'no asin'}"], "meta_All_Beauty.json")
    with pytest.raises(DataError) as caught:
        load_reviews(bad_reviews, bad_meta)
    message = str(caught.value)
    assert message.startswith(f"{bad_meta}: invalid metadata") and f"{bad_meta}:2:" in message
    with pytest.raises(DataError, match="metadata file not found"):
        load_reviews(bad_reviews, tmp_path / "meta_missing.json.gz")
    with pytest.raises(DataError, match="review file not found"):  # checked before the metadata is read
        load_reviews(tmp_path / "nope.json", bad_meta)


# --------------------------------------------------------------------------- Amazon Reviews 2023

# Lines shaped like the 2023 release (``<Category>.jsonl.gz``): milliseconds, a review ``title``,
# ``text`` with HTML, and an item's variant (``asin``) beside its product (``parent_asin``).
REVIEWS_2023 = [
    '{"rating": 5.0, "title": "Great &amp; cheap", "text": "Works well.<br />Lasts all day.", "images": [], '
    '"asin": "B07PNNCSP9", "parent_asin": "B07PNNCSP9", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", '
    '"timestamp": 1588687728923, "helpful_vote": 2, "verified_purchase": true}',
    '{"rating": 2.0, "title": "Too small", "text": "", "images": [{"small_image_url": "https://m.media-amazon.com/'
    'images/I/71.jpg"}], "asin": "B08RED0001", "parent_asin": "B08PARENT1", '
    '"user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1600000000000, "helpful_vote": 0, '
    '"verified_purchase": false}',
    '{"rating": 4.0, "title": "", "text": "Fine for the price.", "images": [], "asin": "B08BLUE002", '
    '"parent_asin": "B08PARENT1", "user_id": "AE2VBR7CL4JGPR5NWBMPUYBTNLPA", "timestamp": 1609459200000, '
    '"helpful_vote": 0, "verified_purchase": true}',
]
META_2023 = [
    '{"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner, 8-Ounce", "average_rating": 4.8, '
    '"rating_number": 10, "features": [], "description": [], "price": null, "images": [], "videos": [], '
    '"store": "Howard Products", "categories": [], "details": {"Package Dimensions": "7.1 x 5.5 x 3 inches"}, '
    '"parent_asin": "B07PNNCSP9", "bought_together": null}',
    '{"main_category": "All Beauty", "title": "<span class=\\"a-size-medium a-color-secondary\\"", "features": [], '
    '"description": ["Moon Mist is a gentle body wash for every day."], "store": "Moon Mist", '
    '"parent_asin": "B08PARENT1", "categories": [], "details": {}}',
]


def test_amazon_2023_reviews_and_metadata_load(write_lines):
    reviews = write_lines(REVIEWS_2023, "All_Beauty.jsonl.gz", gz=True)
    meta = write_lines(META_2023, "meta_All_Beauty.jsonl.gz", gz=True)
    assert meta_beside(reviews) == meta  # found beside the review file, as the release names them
    dataset = load_reviews(reviews, meta)
    assert dataset.category == "All Beauty"  # from the release's file name
    first, second, third = dataset.reviews
    assert (first.user_id, first.item_id, first.rating) == ("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B07PNNCSP9", 5.0)
    assert first.timestamp == 1588687728  # milliseconds read as seconds
    assert (first.title, first.text) == ("Great & cheap", "Works well. Lasts all day.")
    assert second.item_id == third.item_id == "B08PARENT1"  # two variants, one product: the parent
    assert (second.text, dataset.report.missing_text, dataset.report.from_summary) == ("Too small", 1, 1)
    assert dataset.title("B07PNNCSP9") == "Howard LC0008 Leather Conditioner, 8-Ounce"
    assert dataset.title("B08PARENT1") == "Moon Mist"  # a markup title: the name the description opens with
    assert [record_format(json.loads(line)) for line in REVIEWS_2023] == ["amazon-2023"] * 3


def test_a_2023_user_reviewing_two_variants_of_one_product_is_a_duplicate_pair(write_lines):
    line = json.loads(REVIEWS_2023[1]) | {"asin": "B08BLUE002", "timestamp": 1700000000000, "text": "later"}
    path = write_lines([*REVIEWS_2023, json.dumps(line)], "Gift_Cards.jsonl")
    with pytest.raises(DataError, match=r"duplicate .* lines 2 and 4.*--on-duplicate keep-latest"):
        load_reviews(path)
    kept = load_reviews(path, on_duplicate="keep-latest")
    assert kept.dropped_duplicates == 1 and [r.text for r in kept.reviews][-1] == "later"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rating": 6.0}, "'rating' must be between 1 and 5"),
        ({"timestamp": "2020-05-05"}, "'timestamp' must be an integer"),
        ({"parent_asin": ""}, "'parent_asin' must be a non-empty string"),
        ({"user_id": None}, "'user_id' must be a non-empty string"),
        ({"text": 3}, "'text' must be a string"),
    ],
)
def test_bad_2023_lines_are_rejected_naming_the_2023_field(write_lines, change, message):
    bad = json.dumps(json.loads(REVIEWS_2023[0]) | change)
    with pytest.raises(DataError) as caught:
        load_reviews(write_lines([REVIEWS_2023[2], bad], "Software.jsonl"))
    assert ":2:" in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Gift_Cards.jsonl.gz", "Gift Cards"),  # 2023, a whole category
        ("CDs_and_Vinyl.jsonl", "CDs and Vinyl"),
        ("AMAZON_FASHION.json.gz", "Amazon Fashion"),  # 2018, a whole category
        ("Unknown.jsonl.gz", "Products"),  # the 2023 release's uncategorised file names none
        ("Reviews.jsonl", "Products"),  # a person's own name: nothing guessed
        ("Gift_Cards_export.jsonl", "Products"),
    ],
)
def test_category_is_guessed_from_the_whole_category_files_only(write_lines, name, category):
    assert load_reviews(write_lines(REVIEWS_2023[:1], name)).category == category


def _graph(pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"user_id": u, "item_id": i, "rating": 4.0, "timestamp": n, "review_text": "ok"}
            for n, (u, i) in enumerate(pairs)]


def test_the_k_core_is_kept_on_request_and_repeated_until_it_holds(write_lines):
    # a, b and c rated x and y (the 2-core); d rated x and z, but z has no other review, and once
    # d's z review goes, d has one review left: the cut must repeat to drop d's x review too.
    pairs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "y"), ("d", "x"), ("d", "z"),
             ("e", "y")]
    path = write_lines(_graph(pairs))
    dataset = load_reviews(path, core=2)
    assert sorted((r.user_id, r.item_id) for r in dataset.reviews) == sorted(pairs[:6])
    assert (dataset.report.core, dataset.report.outside_core) == (2, 3)
    assert dataset.report.notes() == ["kept the 2-core: left out 3 reviews of users or items with fewer than 2 "
                                      "reviews"]
    with pytest.raises(DataError, match="no review is in the 4-core"):
        load_reviews(path, core=4)
    with pytest.raises(DataError, match="at least 1"):
        load_reviews(path, core=0)


def test_a_file_of_mostly_one_review_users_says_so_and_names_the_core_flag(write_lines):
    sparse = load_reviews(write_lines(_graph([("a", "x"), ("a", "y"), ("b", "x"), ("c", "y")])))
    assert sparse.report.lone_users == (2, 3)
    [note] = sparse.report.notes()
    assert note.startswith("2 of 3 users have a single review") and "--core 5" in note
    assert load_reviews(write_lines(_graph([("a", "x"), ("a", "y"), ("b", "x")]))).report.notes() == []
    assert load_shipped().report.notes() == []  # a 5-core file: nothing to say


def test_merged_files_keep_every_position_distinct_after_dropped_rows(write_lines):
    first = load_reviews(write_lines(_graph([("a", "x"), ("b", "x"), ("a", "y"), ("b", "y"), ("c", "z")]), "a.jsonl"),
                         core=2)
    second = load_reviews(write_lines(_graph([("p", "q")]), "b.jsonl"), category="Other")
    merged = merge_datasets([first, second])
    assert len({r.position for r in merged.reviews}) == len(merged.reviews) == 5


# --------------------------------------------------------------------------- SNAP 2013, Kaggle's CSV, Amazon's TSV

SNAP_BLOCKS = """product/productId: B00006HAXW
product/title: Rock Rhythm &amp; Doo Wop: Greatest Early Rock
product/price: unknown
review/userId: AUM3YMZ0YRJE0
review/profileName: T. Fisher
review/helpfulness: 1/1
review/score: 5.0
review/time: 1288396800
review/summary: Lots of fun
review/text: Lots of fun: a great price.

product/productId: B00006HAXW
product/title: Rock Rhythm &amp; Doo Wop: Greatest Early Rock
review/userId: unknown
review/profileName: unknown
review/score: 4.0
review/time: 1288396900
review/summary: ok
review/text: fine

product/productId: B000063W1R
review/userId: AUM3YMZ0YRJE0
review/score: 2.0
review/time: 1300000000
review/summary: Too quiet
review/text:
"""

KAGGLE_CSV = '''Id,ProductId,UserId,ProfileName,HelpfulnessNumerator,HelpfulnessDenominator,Score,Time,Summary,Text
1,B001E4KFG0,A3SGXH7AUHU8GW,delmartian,1,1,5,1303862400,Good Quality Dog Food,"I have bought several, and
found them all to be of ""good"" quality.<br />My Labrador is finicky."
2,B00813GRG4,A3SGXH7AUHU8GW,dll pa,0,0,1,1346976000,Not as Advertised,Product arrived labeled as Jumbo.
'''

AWS_TSV = (
    "marketplace\tcustomer_id\treview_id\tproduct_id\tproduct_parent\tproduct_title\tproduct_category\tstar_rating"
    "\thelpful_votes\ttotal_votes\tvine\tverified_purchase\treview_headline\treview_body\treview_date\n"
    "US\t45610553\tRMDCHWD0Y5OZ9\tB00HH62VB6\t618218723\tAGPtek\u00ae 10 Isolated Output 9V Pedal Board Power Supply"
    "\tMusical Instruments\t3\t0\t1\tN\tN\tThree Stars\tWorks very good, but induces \"ALOT\" of noise.\t2015-08-31\n"
    "US\t45610553\tRZSL0BALIYUNU\tB003LRN53I\t986692292\tSennheiser HD203 Headphones\tMusical Instruments\t5\t0\t0"
    "\tN\tY\tFive Stars\tNice headphones at a reasonable price.\t2015-08-30\n"
)


def _gzipped(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_snap_2013_text_blocks_load_leaving_anonymous_reviews_out(tmp_path: Path):
    dataset = load_reviews(_gzipped(tmp_path / "Musical_Instruments.txt.gz", SNAP_BLOCKS))
    assert dataset.category == "Musical Instruments"
    first, second = dataset.reviews
    assert (first.user_id, first.item_id, first.rating, first.timestamp) == ("AUM3YMZ0YRJE0", "B00006HAXW", 5.0,
                                                                            1288396800)
    assert first.text == "Lots of fun: a great price."  # a colon inside a value stays
    assert (second.text, second.rating) == ("Too quiet", 2.0)  # no text: its summary, counted
    assert dataset.title("B00006HAXW") == "Rock Rhythm & Doo Wop: Greatest Early Rock"  # the review carries it
    assert dataset.report.anonymous == 1
    assert "left out 1 anonymous reviews (reviewer 'unknown')" in dataset.report.notes()[1]


def test_a_bad_snap_block_is_named_by_the_line_it_starts_on(tmp_path: Path):
    path = tmp_path / "foods.txt"
    path.write_text(SNAP_BLOCKS.replace("review/score: 2.0", "review/score: two").replace(
        "product/price: unknown", "a stray line"))
    with pytest.raises(DataError) as caught:
        load_reviews(path)
    text = str(caught.value)
    assert "2 invalid review line(s)" in text
    assert ":1: line 3 is not a 'product/...: value'" in text and ":21: 'review/score' must be a number" in text


def test_kaggles_fine_food_table_loads_with_quoted_multi_line_text(tmp_path: Path):
    path = tmp_path / "Reviews.csv"
    path.write_text(KAGGLE_CSV)
    dataset = load_reviews(path)
    assert dataset.category == "Products"  # "Reviews" names no category: asked for where it matters
    with pytest.raises(DataError, match="--category"):
        require_category(path)
    first, second = dataset.reviews
    assert (first.item_id, first.rating, first.timestamp, first.title) == ("B001E4KFG0", 5.0, 1303862400,
                                                                           "Good Quality Dog Food")
    assert first.text == 'I have bought several, and\nfound them all to be of "good" quality. My Labrador is finicky.'
    assert (second.user_id, second.rating) == ("A3SGXH7AUHU8GW", 1.0)
    path.write_text(KAGGLE_CSV + "3,B00813GRG4,A1D87F6ZCVE5NK,dll pa,0,0,6,1219017600,Bad,too high\n4,B0,U\n")
    with pytest.raises(DataError) as caught:
        load_reviews(path)
    assert ":5: 'Score' must be between 1 and 5" in str(caught.value)
    assert ":6: 3 fields where the header row has 10" in str(caught.value)


def test_amazons_customer_reviews_tsv_loads_with_days_titles_and_its_category(tmp_path: Path):
    path = _gzipped(tmp_path / "amazon_reviews_us_Musical_Instruments_v1_00.tsv.gz", AWS_TSV)
    dataset = load_reviews(path)
    assert dataset.category == "Musical Instruments"
    first, second = dataset.reviews
    assert (first.user_id, first.item_id, first.rating) == ("45610553", "B00HH62VB6", 3.0)
    assert (second.rating, second.timestamp - first.timestamp) == (5.0, -86_400)  # the day before
    assert first.timestamp == 1440979200  # 2015-08-31, midnight UTC
    assert (first.title, first.text) == ("Three Stars", 'Works very good, but induces "ALOT" of noise.')
    assert dataset.title("B003LRN53I") == "Sennheiser HD203 Headphones"
    _gzipped(path, AWS_TSV.replace("2015-08-30", "30/08/2015"))
    with pytest.raises(DataError, match=r":3: 'review_date' must be a day as YYYY-MM-DD"):
        load_reviews(path)



def test_a_table_of_our_own_fields_loads_and_a_json_array_is_refused_saying_how_to_convert(tmp_path: Path, record):
    table = tmp_path / "export.csv"
    table.write_text(",user_id,item_id,rating,timestamp,summary,review_text\n0,u1,i1,4.0,1400000000,Fine,Warm tone\n")
    [review] = load_reviews(table).reviews  # pandas' to_csv, index column and all
    assert (review.user_id, review.rating, review.timestamp, review.text) == ("u1", 4.0, 1400000000, "Warm tone")
    array = tmp_path / "export.json"
    array.write_text(json.dumps([record("u1", "i1"), record("u2", "i1")]))
    converted = r"one JSON array, not JSON lines .*jq -c '\.\[\]' export\.json > export\.jsonl"
    with pytest.raises(DataError, match=converted):
        load_reviews(array)

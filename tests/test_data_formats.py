"""One real file, written in every format the loaders read, loads to the same reviews.

The shared Magazine Subscriptions file (2018 release: HTML in its text, summary-only reviews,
repeated pairs, markup titles) is rewritten as each other release would have published it; every
format must give back the same users, items, ratings, days and texts.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reason4rec.data import load_reviews

EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extra"
MAGAZINES = EXTRA / "Magazine_Subscriptions_5.json.gz"
pytestmark = pytest.mark.skipif(not MAGAZINES.is_file(), reason="shared data not here")


def _rows() -> list[dict]:
    with gzip.open(MAGAZINES, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())  # text blocks and the TSV hold one line per field


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).date().isoformat()


def _amazon_2023(rows: list[dict], folder: Path) -> Path:
    path = folder / "Magazine_Subscriptions.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({"rating": row["overall"], "title": row.get("summary", ""),
                                  "text": row.get("reviewText", ""), "images": [], "asin": row["asin"] + "-V",
                                  "parent_asin": row["asin"], "user_id": row["reviewerID"],
                                  "timestamp": row["unixReviewTime"] * 1000 + 999, "helpful_vote": 0,
                                  "verified_purchase": row.get("verified", True)}) + "\n")
    return path


def _snap_blocks(rows: list[dict], folder: Path) -> Path:
    path = folder / "Magazine_Subscriptions.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(f"product/productId: {row['asin']}\nproduct/title: unknown\nreview/userId: {row['reviewerID']}\n"
                      f"review/profileName: x\nreview/helpfulness: 0/0\nreview/score: {row['overall']}\n"
                      f"review/time: {row['unixReviewTime']}\nreview/summary: {_one_line(row.get('summary'))}\n"
                      f"review/text: {_one_line(row.get('reviewText'))}\n\n")
    return path


def _kaggle_table(rows: list[dict], folder: Path) -> Path:
    path = folder / "Reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Id", "ProductId", "UserId", "ProfileName", "HelpfulnessNumerator",
                         "HelpfulnessDenominator", "Score", "Time", "Summary", "Text"])
        for n, row in enumerate(rows, start=1):
            writer.writerow([n, row["asin"], row["reviewerID"], "x", 0, 0, int(row["overall"]), row["unixReviewTime"],
                             row.get("summary", ""), row.get("reviewText", "")])
    return path


def _customer_reviews_tsv(rows: list[dict], folder: Path) -> Path:
    path = folder / "amazon_reviews_us_Magazine_Subscriptions_v1_00.tsv.gz"
    header = ["marketplace", "customer_id", "review_id", "product_id", "product_parent", "product_title",
              "product_category", "star_rating", "helpful_votes", "total_votes", "vine", "verified_purchase",
              "review_headline", "review_body", "review_date"]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\t".join(header) + "\n")
        for n, row in enumerate(rows):
            fields = ["US", row["reviewerID"], f"R{n}", row["asin"], "1", "", "Books", str(int(row["overall"])), "0",
                      "0", "N", "Y", _one_line(row.get("summary")), _one_line(row.get("reviewText")),
                      _day(row["unixReviewTime"])]
            out.write("\t".join(fields) + "\n")
    return path


@pytest.mark.parametrize("write", [_amazon_2023, _snap_blocks, _kaggle_table, _customer_reviews_tsv])
def test_every_format_of_one_file_loads_to_the_same_reviews(write, tmp_path: Path):
    rows = _rows()
    original = load_reviews(MAGAZINES, on_duplicate="keep-latest")
    other = load_reviews(write(rows, tmp_path), on_duplicate="keep-latest", category="Magazine Subscriptions")
    assert len(other) == len(original) == 2302 and other.dropped_duplicates == original.dropped_duplicates == 73

    def seen(review, *, one_line: bool) -> tuple:
        text = " ".join(review.text.split()) if one_line else review.text
        return (review.user_id, review.item_id, review.rating, _day(review.timestamp), text)

    one_line = write in (_snap_blocks, _customer_reviews_tsv)
    assert [seen(r, one_line=one_line) for r in other.reviews] == [seen(r, one_line=one_line) for r in original.reviews]
    assert other.report.missing_text == original.report.missing_text == 1
    assert other.report.notes() == original.report.notes()
    assert other.item_titles == {}  # none given (SNAP's "unknown" is no title)

"""The review formats, record by record: which field holds what, and in which unit.

Each record's own fields say which format it is in, so no file-wide guess can misread one:

========================================  ==================================  ==========================
format                                    user, item / rating, time           title, text
========================================  ==================================  ==========================
``reason4rec`` (the shipped file)         user_id, item_id / rating,          summary, review_text
                                          timestamp (seconds)
``mcauley`` (2014, 2018 dumps)            reviewerID, asin / overall,         summary, reviewText
                                          unixReviewTime
``amazon-2023`` (Hou et al.)              user_id, parent_asin / rating,      title, text
                                          timestamp (**milliseconds**)
``snap-2013`` (SNAP's text blocks)        review/userId, product/productId    review/summary, review/text
                                          / review/score, review/time
``snap-2013-table`` (Kaggle's Fine Food)  UserId, ProductId / Score, Time     Summary, Text
``amazon-tsv`` (Customer Reviews          customer_id, product_id /           review_headline, review_body
Dataset)                                  star_rating, review_date (a day)
========================================  ==================================  ==========================

* In the 2023 release an item is the ``parent_asin``: the product whose colours and sizes share one
  page and one metadata line (the release's own advice), not the variant bought (``asin``).
* Tables and text blocks hold strings (:class:`TextRecord`): there ``"5.0"`` is a rating and
  ``"1303862400"`` a time, whatever the format (a CSV of our own fields loads too); JSON must give
  numbers.
* SNAP names anonymous reviewers ``unknown``: one id for thousands of strangers, so their reviews
  are left out and counted (:class:`AnonymousReview`), never merged into one "user".
* SNAP and the TSV carry the product's title in each review (:func:`item_title`); SNAP's
  ``unknown`` is no title.

Example:
    >>> record_format({"user_id": "AG", "parent_asin": "B0", "rating": 5.0, "timestamp": 1588687728923})
    'amazon-2023'
    >>> review = read_review({"user_id": "AG", "parent_asin": "B0", "asin": "B1", "rating": 5.0,
    ...                       "timestamp": 1588687728923, "title": "Fine", "text": "Works."}, 0, LoadReport())
    >>> review.item_id, review.timestamp, review.title
    ('B0', 1588687728, 'Fine')
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Literal

from .html_text import clean_text
from .reviews import MAX_ID_LENGTH, LoadReport, Review

RecordFormat = Literal["reason4rec", "mcauley", "amazon-2023", "snap-2013", "snap-2013-table", "amazon-tsv"]
TimeUnit = Literal["seconds", "milliseconds", "day"]


@dataclass(frozen=True, slots=True)
class _Fields:
    """Where one format keeps each part of a review (of ``item``, the first name present is read)."""

    user: str
    item: tuple[str, ...]
    rating: str
    time: str
    time_unit: TimeUnit
    text: str
    title: str
    text_may_be_missing: bool
    """Image- and summary-only reviews have no text: read as their title and counted. Our own
    format must say ``""`` explicitly (a missing field there is a broken export)."""
    item_title: str | None = None
    unknown: str | None = None
    """The word the format writes for a value it does not have (SNAP: ``unknown``, for reviewers,
    titles and prices alike)."""


_FORMATS: dict[RecordFormat, _Fields] = {
    "reason4rec": _Fields("user_id", ("item_id",), "rating", "timestamp", "seconds", "review_text", "summary", False),
    "mcauley": _Fields("reviewerID", ("asin",), "overall", "unixReviewTime", "seconds", "reviewText", "summary", True),
    "amazon-2023": _Fields("user_id", ("parent_asin", "asin"), "rating", "timestamp", "milliseconds", "text", "title",
                           True),
    "snap-2013": _Fields("review/userId", ("product/productId",), "review/score", "review/time", "seconds",
                         "review/text", "review/summary", True, item_title="product/title",
                         unknown="unknown"),
    "snap-2013-table": _Fields("UserId", ("ProductId",), "Score", "Time", "seconds", "Text", "Summary", True,
                               unknown="unknown"),
    "amazon-tsv": _Fields("customer_id", ("product_id",), "star_rating", "review_date", "day", "review_body",
                          "review_headline", True, item_title="product_title"),
}

MAX_TIMESTAMP = 2**63 - 1
"""The memory's SQLite store keeps times as 64-bit integers."""


class TextRecord(dict):
    """A record whose every value is text (a table row, a text block): its numbers are read from
    their digits (``"5.0"``), in any format; a JSON record must give numbers."""


class RecordError(ValueError):
    """One record is not a usable review or metadata line (the loader names its line)."""


class AnonymousReview(RecordError):
    """A review whose reviewer the file does not name (SNAP's ``unknown``): left out, counted."""


def record_format(record: dict[str, Any]) -> RecordFormat:
    """Which format ``record`` is in, by the fields only that format has; else our own (whose
    errors then name its fields)."""
    if "reviewerID" in record:
        return "mcauley"
    if "product/productId" in record or "review/userId" in record:
        return "snap-2013"
    if "ProductId" in record or "UserId" in record:
        return "snap-2013-table"
    if "customer_id" in record or "star_rating" in record:
        return "amazon-tsv"
    if "item_id" not in record and ("parent_asin" in record or "asin" in record):
        return "amazon-2023"
    return "reason4rec"


def read_review(record: Any, position: int, report: LoadReport) -> Review:
    """One validated :class:`Review` from a parsed record, whatever its format; a :class:`RecordError`
    saying what is wrong otherwise."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    fields = _FORMATS[record_format(record)]
    user_id, item_id = required_id(record, (fields.user,)), required_id(record, fields.item)
    if fields.unknown is not None and user_id == fields.unknown:
        raise AnonymousReview(f"{fields.user!r} is {user_id!r}: an anonymous review")
    textual = isinstance(record, TextRecord)
    rating = _rating(record, fields.rating, textual=textual)
    timestamp = _timestamp(record, fields.time, fields.time_unit, textual=textual)
    title = _text(record, fields.title, null_is_missing=True) or ""
    text = _text(record, fields.text, null_is_missing=fields.text_may_be_missing)
    if fields.text_may_be_missing and not text:
        report.missing_text += 1
        report.from_summary += bool(title)
        text = title
    elif text is None:
        raise RecordError(f"missing field {fields.text!r} (write \"\" for an explicitly empty review)")
    return Review(user_id, item_id, rating, timestamp, text, title, position)


def item_title(record: dict[str, Any]) -> str:
    """The product's title a review record carries (SNAP, the TSV), cleaned; ``""`` if none."""
    fields = _FORMATS[record_format(record)]
    value = record.get(fields.item_title) if fields.item_title else None
    title = " ".join(clean_text(value).split()) if isinstance(value, str) else ""
    return "" if title == fields.unknown else title


def required_id(record: dict[str, Any], names: tuple[str, ...]) -> str:
    """The first present of ``names``, a non-empty id without control characters."""
    name, value = _first_present(record, names)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{name!r} must be a non-empty string, got {value!r}")
    value = value.strip()
    if len(value) > MAX_ID_LENGTH:
        raise RecordError(f"{name!r} is longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):  # as the memory's store: ids are kept exact,
        raise RecordError(f"{name!r} contains a control character")  # and review ids join them with \x1f
    return value


def _first_present(record: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in record:
            return name, record[name]
    raise RecordError(f"missing field {' / '.join(repr(n) for n in names)}")


def _rating(record: dict[str, Any], name: str, *, textual: bool) -> float:
    value = _first_present(record, (name,))[1]
    if textual and isinstance(value, str):
        value = _number(value.strip(), float)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{name!r} must be a number, got {value!r}")
    if not 1 <= value <= 5:
        raise RecordError(f"{name!r} must be between 1 and 5, got {value!r}")
    return float(value)


def _timestamp(record: dict[str, Any], name: str, unit: TimeUnit, *, textual: bool) -> int:
    """Unix seconds from a time in ``unit`` (a day is its midnight, UTC)."""
    value = _first_present(record, (name,))[1]
    if unit == "day":
        return _day(name, value)
    if textual and isinstance(value, str):
        value = _number(value.strip(), int)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name!r} must be an integer (unix time), got {value!r}")
    if value < 0:
        raise RecordError(f"{name!r} must not be negative, got {value}")
    if value > MAX_TIMESTAMP:
        raise RecordError(f"{name!r} is past the largest storable time ({MAX_TIMESTAMP:,}), got {value}")
    return value // 1000 if unit == "milliseconds" else value


def _day(name: str, value: Any) -> int:
    try:
        day = date.fromisoformat(value.strip()) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        raise RecordError(f"{name!r} must be a day as YYYY-MM-DD, got {value!r}")
    return max(0, int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()))


def _number(text: str, kind: type[int] | type[float]) -> Any:
    """``text`` as a number of ``kind``, or ``text`` itself (then refused, quoted, by the caller)."""
    try:
        return kind(text)
    except ValueError:
        return text


def _text(record: dict[str, Any], name: str, *, null_is_missing: bool) -> str | None:
    """The cleaned text of ``name``; None when the field is missing (or null, if that means missing)."""
    if name not in record or (record[name] is None and null_is_missing):
        return None
    value = record[name]
    if not isinstance(value, str):
        raise RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    return clean_text(value)

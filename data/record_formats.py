"""The review file formats, line by line: which field holds what, and in which unit.

Three formats are read, told apart by each line's own fields, so no file-wide guess can misread
a line:

* ``reason4rec``: the shipped JSON Lines (``user_id, item_id, rating, timestamp, summary,
  review_text``; seconds);
* ``mcauley``: McAuley's Amazon dumps of 2014 and 2018 (``reviewerID, asin, overall,
  unixReviewTime, summary, reviewText``; seconds);
* ``amazon-2023``: Hou et al.'s Amazon Reviews 2023 (``user_id, parent_asin, asin, rating,
  timestamp, title, text``). Its timestamps are **milliseconds**, and an item is the
  ``parent_asin``: the product whose colours and sizes share one page and one metadata line (the
  release's own advice: what older dumps called ``asin`` is the parent), not the variant bought.

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
from typing import Any, Literal

from .html_text import clean_text
from .reviews import MAX_ID_LENGTH, LoadReport, Review

RecordFormat = Literal["reason4rec", "mcauley", "amazon-2023"]


@dataclass(frozen=True, slots=True)
class _Fields:
    """Where one format keeps each part of a review (the first name present is read)."""

    name: str
    user: tuple[str, ...]
    item: tuple[str, ...]
    rating: str
    timestamp: str
    text: str
    title: str
    ticks_per_second: int
    text_may_be_missing: bool
    """McAuley's image- and summary-only reviews have no text: read as their title and counted.
    Our own format must say ``""`` explicitly (a missing field there is a broken export)."""


_FORMATS: dict[RecordFormat, _Fields] = {
    "reason4rec": _Fields("a reason4rec review", ("user_id",), ("item_id",), "rating", "timestamp",
                          "review_text", "summary", 1, False),
    "mcauley": _Fields("a McAuley 2014/2018 review", ("reviewerID",), ("asin",), "overall", "unixReviewTime",
                       "reviewText", "summary", 1, True),
    "amazon-2023": _Fields("an Amazon Reviews 2023 review", ("user_id",), ("parent_asin", "asin"), "rating",
                           "timestamp", "text", "title", 1000, True),
}

MAX_TIMESTAMP = 2**63 - 1
"""The memory's SQLite store keeps times as 64-bit integers."""


class RecordError(ValueError):
    """One line is not a usable review or metadata record (the loader names its line)."""


def record_format(record: dict[str, Any]) -> RecordFormat:
    """Which format ``record`` is in: McAuley's by ``reviewerID``; Amazon 2023 by an ``asin`` or
    ``parent_asin`` where our own format has ``item_id``; else our own (whose errors then name
    its fields)."""
    if "reviewerID" in record:
        return "mcauley"
    if "item_id" not in record and ("parent_asin" in record or "asin" in record):
        return "amazon-2023"
    return "reason4rec"


def read_review(record: Any, position: int, report: LoadReport) -> Review:
    """One validated :class:`Review` from a parsed line, whatever its format; a :class:`RecordError`
    saying what is wrong otherwise."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    fields = _FORMATS[record_format(record)]
    user_id, item_id = required_id(record, fields.user), required_id(record, fields.item)
    rating = _rating(record, fields.rating)
    timestamp = _timestamp(record, fields.timestamp) // fields.ticks_per_second
    title = _text(record, fields.title, null_is_missing=True) or ""
    text = _text(record, fields.text, null_is_missing=fields.text_may_be_missing)
    if fields.text_may_be_missing and not text:
        report.missing_text += 1
        report.from_summary += bool(title)
        text = title
    elif text is None:
        raise RecordError(f"missing field {fields.text!r} (write \"\" for an explicitly empty review)")
    return Review(user_id, item_id, rating, timestamp, text, title, position)


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


def _rating(record: dict[str, Any], name: str) -> float:
    value = _first_present(record, (name,))[1]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{name!r} must be a number, got {value!r}")
    if not 1 <= value <= 5:
        raise RecordError(f"{name!r} must be between 1 and 5, got {value!r}")
    return float(value)


def _timestamp(record: dict[str, Any], name: str) -> int:
    value = _first_present(record, (name,))[1]
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name!r} must be an integer (unix time), got {value!r}")
    if value < 0:
        raise RecordError(f"{name!r} must not be negative, got {value}")
    if value > MAX_TIMESTAMP:
        raise RecordError(f"{name!r} is past the largest storable time ({MAX_TIMESTAMP:,}), got {value}")
    return value


def _text(record: dict[str, Any], name: str, *, null_is_missing: bool) -> str | None:
    """The cleaned text of ``name``; None when the field is missing (or null, if that means missing)."""
    if name not in record or (record[name] is None and null_is_missing):
        return None
    value = record[name]
    if not isinstance(value, str):
        raise RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    return clean_text(value)

"""Review data: one validated record type and the loaders that produce it.

Two on-disk formats are read:

* the shipped JSON Lines file (``user_id, item_id, rating, timestamp, summary, review_text``), and
* McAuley's Amazon files: ``reviews_<Category>_5.json(.gz)`` (JSON lines with ``reviewerID, asin,
  overall, unixReviewTime, reviewText, summary``) and ``meta_<Category>.json.gz`` whose lines are
  Python literals (parsed with :func:`ast.literal_eval`, never ``eval``).

Every record is validated; a bad file is rejected with the path and line of each problem. Rows are
never dropped silently: duplicates of a (user, item) pair are an error unless the caller asks to
keep the latest, and then the count is reported in :attr:`ReviewDataset.dropped_duplicates`.

Example:
    >>> from reason4rec.training.data import load_shipped
    >>> dataset = load_shipped()
    >>> len(dataset), dataset.title("B0002E1G5C")
    (10261, 'B0002E1G5C')
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import Reason4RecError

SHIPPED_FILE = "musical_instruments_5.jsonl.gz"
SHIPPED_CATEGORY = "Musical Instruments"
MAX_ID_LENGTH = 256
MAX_REPORTED_PROBLEMS = 10

OnDuplicate = Literal["error", "keep-latest"]


class DataError(Reason4RecError, ValueError):
    """A data file cannot be used; the message names the file and the offending lines."""


@dataclass(frozen=True, slots=True)
class Review:
    """One review. ``position`` is its index in file order: the tie-break for equal timestamps."""

    user_id: str
    item_id: str
    rating: float
    timestamp: int
    text: str
    title: str = ""
    position: int = 0

    @property
    def review_id(self) -> str:
        """A stable id that survives odd characters in user or item ids."""
        return review_id(self.user_id, self.item_id)

    @property
    def order_key(self) -> tuple[int, int]:
        """Time order with file order breaking ties (many users post several reviews a day)."""
        return (self.timestamp, self.position)


def review_id(user_id: str, item_id: str) -> str:
    """Deterministic id of the review a user wrote for an item (one per pair)."""
    digest = hashlib.sha1(f"{user_id}\x1f{item_id}".encode()).hexdigest()
    return f"r{digest[:20]}"


@dataclass(slots=True)
class ReviewDataset:
    """Reviews in file order plus the item titles known from metadata."""

    reviews: list[Review]
    item_titles: dict[str, str] = field(default_factory=dict)
    source: str = ""
    category: str = SHIPPED_CATEGORY
    dropped_duplicates: int = 0

    def __len__(self) -> int:
        return len(self.reviews)

    def title(self, item_id: str) -> str:
        """The item's title when metadata gave one, else its id."""
        return self.item_titles.get(item_id) or item_id

    @property
    def user_ids(self) -> set[str]:
        return {r.user_id for r in self.reviews}

    @property
    def item_ids(self) -> set[str]:
        return {r.item_id for r in self.reviews}

    def stats(self) -> DatasetStats:
        return DatasetStats.of(self)


@dataclass(frozen=True, slots=True)
class DatasetStats:
    """Summary figures printed by the main job and checked by the tests."""

    reviews: int
    users: int
    items: int
    mean_rating: float
    rating_shares: dict[int, float]
    empty_texts: int
    mean_words: float
    median_words: float
    max_words: int
    first_timestamp: int
    last_timestamp: int
    titled_items: int

    @classmethod
    def of(cls, dataset: ReviewDataset) -> DatasetStats:
        reviews = dataset.reviews
        if not reviews:
            raise DataError(f"{dataset.source or 'dataset'} holds no reviews")
        words = sorted(len(r.text.split()) for r in reviews)
        buckets = Counter(min(5, max(1, round(r.rating))) for r in reviews)
        mid = len(words) // 2
        median = words[mid] if len(words) % 2 else (words[mid - 1] + words[mid]) / 2
        items = dataset.item_ids
        return cls(
            reviews=len(reviews),
            users=len(dataset.user_ids),
            items=len(items),
            mean_rating=sum(r.rating for r in reviews) / len(reviews),
            rating_shares={k: buckets.get(k, 0) / len(reviews) for k in range(1, 6)},
            empty_texts=sum(1 for r in reviews if not r.text.strip()),
            mean_words=sum(words) / len(words),
            median_words=float(median),
            max_words=words[-1],
            first_timestamp=min(r.timestamp for r in reviews),
            last_timestamp=max(r.timestamp for r in reviews),
            titled_items=sum(1 for i in items if i in dataset.item_titles),
        )


# --------------------------------------------------------------------------- loaders


def shipped_path() -> Path:
    """Where the shipped Musical Instruments 5-core file lives inside the installed package."""
    return Path(str(resources.files("reason4rec.training").joinpath("datasets", SHIPPED_FILE)))


def load_shipped() -> ReviewDataset:
    """The shipped Amazon Musical Instruments 5-core reviews (10,261 reviews; no item titles)."""
    return load_reviews(shipped_path(), category=SHIPPED_CATEGORY)


def load_reviews(
    path: str | Path,
    meta_path: str | Path | None = None,
    *,
    category: str | None = None,
    on_duplicate: OnDuplicate = "error",
) -> ReviewDataset:
    """Load and validate a review file, the shipped format or McAuley's, gzipped or not.

    Args:
        path: JSON lines, one review per line.
        meta_path: Optional McAuley metadata file giving item titles.
        category: Product category shown in prompts; guessed from a ``reviews_<Cat>_5`` name.
        on_duplicate: ``"error"`` rejects a second review of the same (user, item);
            ``"keep-latest"`` keeps the later one in time order and counts the dropped ones.

    Raises:
        DataError: naming the file and the line of each problem found.
    """
    path = Path(path)
    reviews: list[Review] = []
    problems: list[str] = []
    problem_count = 0
    seen: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[int, int]] = []
    for line_no, line in _numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            review = _review_from_record(record, position=len(reviews))
        except (json.JSONDecodeError, _RecordError) as err:
            problem_count += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        pair = (review.user_id, review.item_id)
        if pair in seen:
            duplicates.append((seen[pair], line_no))
        seen[pair] = line_no
        reviews.append(review)
    if problem_count:
        more = problem_count - len(problems)
        tail = f"\n  ... and {more} more bad line(s)" if more else ""
        raise DataError(
            f"{path}: {problem_count} invalid review line(s); the file was not loaded:\n  "
            + "\n  ".join(problems)
            + tail
        )
    if not reviews:
        raise DataError(f"{path}: no reviews found (empty file)")
    dropped = 0
    if duplicates:
        if on_duplicate == "error":
            first, second = duplicates[0]
            raise DataError(
                f"{path}: {len(duplicates)} duplicate (user, item) review(s), first at lines "
                f"{first} and {second}; pass on_duplicate='keep-latest' to keep the later one"
            )
        reviews, dropped = _keep_latest(reviews)
    titles = load_item_titles(meta_path) if meta_path is not None else {}
    return ReviewDataset(
        reviews=reviews,
        item_titles=titles,
        source=str(path),
        category=category or _category_from_name(path) or "Products",
        dropped_duplicates=dropped,
    )


def load_item_titles(path: str | Path) -> dict[str, str]:
    """Item titles from a McAuley ``meta_*.json(.gz)`` file (Python-literal or JSON lines).

    Lines without a title are skipped on purpose (most metadata lines lack one); a line that is not
    a literal dict with an ``asin`` is an error naming the line.
    """
    path = Path(path)
    titles: dict[str, str] = {}
    problems: list[str] = []
    for line_no, line in _numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = _parse_literal_line(line)
            asin = _required_id(record, ("asin",))
        except (ValueError, SyntaxError, _RecordError) as err:
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        title = record.get("title")
        if isinstance(title, str) and title.strip():
            titles[asin] = " ".join(title.split())
    if problems:
        raise DataError(f"{path}: invalid metadata line(s):\n  " + "\n  ".join(problems))
    return titles


# --------------------------------------------------------------------------- helpers


class _RecordError(ValueError):
    pass


_FIELDS = {
    "user": ("user_id", "reviewerID"),
    "item": ("item_id", "asin"),
    "rating": ("rating", "overall"),
    "timestamp": ("timestamp", "unixReviewTime"),
    "text": ("review_text", "reviewText"),
    "title": ("summary",),
}


def _review_from_record(record: Any, position: int) -> Review:
    if not isinstance(record, dict):
        raise _RecordError(f"expected a JSON object, got {type(record).__name__}")
    return Review(
        user_id=_required_id(record, _FIELDS["user"]),
        item_id=_required_id(record, _FIELDS["item"]),
        rating=_rating(record),
        timestamp=_timestamp(record),
        text=_text(record, _FIELDS["text"], required=True),
        title=_text(record, _FIELDS["title"], required=False),
        position=position,
    )


def _first_present(record: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in record:
            return name, record[name]
    raise _RecordError(f"missing field {' / '.join(repr(n) for n in names)}")


def _required_id(record: dict[str, Any], names: tuple[str, ...]) -> str:
    name, value = _first_present(record, names)
    if not isinstance(value, str) or not value.strip():
        raise _RecordError(f"{name!r} must be a non-empty string, got {value!r}")
    value = value.strip()
    if len(value) > MAX_ID_LENGTH:
        raise _RecordError(f"{name!r} is longer than {MAX_ID_LENGTH} characters")
    if any(ch in value for ch in "\x00\n\r\t"):
        raise _RecordError(f"{name!r} contains a control character")
    return value


def _rating(record: dict[str, Any]) -> float:
    name, value = _first_present(record, _FIELDS["rating"])
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _RecordError(f"{name!r} must be a number, got {value!r}")
    if not 1 <= value <= 5:
        raise _RecordError(f"{name!r} must be between 1 and 5, got {value!r}")
    return float(value)


def _timestamp(record: dict[str, Any]) -> int:
    name, value = _first_present(record, _FIELDS["timestamp"])
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RecordError(f"{name!r} must be an integer (unix seconds), got {value!r}")
    if value < 0:
        raise _RecordError(f"{name!r} must not be negative, got {value}")
    return value


def _text(record: dict[str, Any], names: tuple[str, ...], *, required: bool) -> str:
    try:
        name, value = _first_present(record, names)
    except _RecordError:
        if required:
            raise _RecordError(
                f"missing field {' / '.join(repr(n) for n in names)} "
                '(write "" for an explicitly empty review)'
            ) from None
        return ""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    return value.replace("\x00", "")


def _parse_literal_line(line: str) -> dict[str, Any]:
    """Metadata lines are Python dict literals (single quotes); newer dumps are JSON."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = ast.literal_eval(line.strip())
    if not isinstance(record, dict):
        raise _RecordError(f"expected a dict, got {type(record).__name__}")
    return record


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.is_file():
        raise DataError(f"review file not found: {path}")
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8", errors="strict")
            for line_no, line in enumerate(text, start=1):
                yield line_no, line
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read ({err})") from err


def _keep_latest(reviews: list[Review]) -> tuple[list[Review], int]:
    latest: dict[tuple[str, str], Review] = {}
    for review in reviews:
        pair = (review.user_id, review.item_id)
        if pair not in latest or review.order_key > latest[pair].order_key:
            latest[pair] = review
    kept = [r for r in reviews if latest[(r.user_id, r.item_id)] is r]
    return kept, len(reviews) - len(kept)


def _category_from_name(path: Path) -> str | None:
    stem = path.name.split(".")[0]
    if stem.startswith("reviews_"):
        name = stem.removeprefix("reviews_").removesuffix("_5")
        return name.replace("_", " ") or None
    return None


def _describe(err: Exception) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg} at column {err.colno})"
    if isinstance(err, SyntaxError):
        return f"not a Python literal ({err.msg})"
    return str(err)


def load_configured(reviews_path: Path | None = None, meta_path: Path | None = None,
                    category: str | None = None) -> ReviewDataset:
    """What ``config.data`` names: a user's review file, or the shipped data (one loader path)."""
    shipped = reviews_path is None
    return load_reviews(
        shipped_path() if shipped else reviews_path,
        meta_path,
        category=category or (SHIPPED_CATEGORY if shipped else None),
    )

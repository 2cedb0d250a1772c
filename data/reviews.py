"""The review record, the dataset that holds reviews, and what a load reports.

Every layer reads reviews through these types; the loaders (:mod:`.loaders`) are the only place
that makes them from files, and they validate every record first.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

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
class LoadReport:
    """What the loader worked around rather than refuse the file; shown, never silent."""

    missing_text: int = 0
    """McAuley reviews without ``reviewText`` (image- or summary-only reviews)."""
    from_summary: int = 0
    """Of those, how many were read as their summary (the others are empty reviews)."""
    truncated: dict[str, int] = field(default_factory=dict)
    """Truncated gzip files read anyway (``allow_truncated``): path -> complete lines kept."""
    anonymous: int = 0
    """Reviews left out because the file names no reviewer (SNAP's ``unknown``)."""
    core: int = 0
    """The k-core kept (``core``): every user and item with at least this many reviews; 0 = all."""
    outside_core: int = 0
    """Reviews left out by ``core``."""
    lone_users: tuple[int, int] = (0, 0)
    """Users with a single review, of all users, when most are so and no core was asked for: the
    experts would see no past reviews of theirs (Amazon's whole, not 5-core, files)."""

    def notes(self) -> list[str]:
        """One line per workaround, for the CLI to print as warnings."""
        notes = [f"{path}: truncated gzip; kept the {lines:,} complete line(s) before the cut"
                 for path, lines in self.truncated.items()]
        if self.missing_text:
            reviews = "review" if self.missing_text == 1 else "reviews"
            notes.append(f"{self.missing_text:,} {reviews} had no text "
                         f"({self.from_summary:,} used their summary)")
        if self.anonymous:
            notes.append(f"left out {self.anonymous:,} anonymous reviews (reviewer 'unknown'): one id for "
                         "many strangers is no one's history")
        if self.outside_core:
            notes.append(f"kept the {self.core}-core: left out {self.outside_core:,} reviews of users or items "
                         f"with fewer than {self.core} reviews")
        if self.lone_users[0]:
            lone, users = self.lone_users
            notes.append(f"{lone:,} of {users:,} users have a single review, so the experts see none of their "
                         "past reviews; --core 5 (config: data.core) keeps every user and item with at least "
                         "5 reviews, as Reason4Rec's data")
        return notes


@dataclass(slots=True)
class ReviewDataset:
    """Reviews in file order plus the item titles known from metadata."""

    reviews: list[Review]
    item_titles: dict[str, str] = field(default_factory=dict)
    source: str = ""
    category: str = SHIPPED_CATEGORY
    dropped_duplicates: int = 0
    report: LoadReport = field(default_factory=LoadReport)
    item_categories: dict[str, str] = field(default_factory=dict)
    """Items of another category than ``category`` (a dataset merged from several files)."""

    def __len__(self) -> int:
        return len(self.reviews)

    def category_of(self, item_id: str) -> str:
        """The category the prompts about ``item_id`` name."""
        return self.item_categories.get(item_id, self.category)

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category the reviews come from, the main one first."""
        return tuple(dict.fromkeys((self.category, *self.item_categories.values())))

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


def merge_datasets(datasets: Sequence[ReviewDataset]) -> ReviewDataset:
    """One dataset of several files (training experts on more than one category): the first
    file's category is the main one, every other file's items keep their own (:meth:`~ReviewDataset.category_of`).

    File order is kept within each file, the files one after another. An item in two files, or
    one user's review of one item in two, is refused: the files would not be separate categories.
    """
    if not datasets:
        raise DataError("no review files to merge")
    first, reviews, titles, item_categories = datasets[0], [], {}, {}
    seen_items: dict[str, str] = {}
    for dataset in datasets:
        name = dataset.source or dataset.category
        shared = {i for i in dataset.item_ids if i in seen_items}
        if shared:
            example = sorted(shared)[0]
            raise DataError(f"{name} and {seen_items[example]} both hold item {example!r} ({len(shared)} shared "
                            "items): merge review files of separate categories only")
        seen_items.update(dict.fromkeys(dataset.item_ids, name))
        offset = max((r.position for r in reviews), default=-1) + 1  # positions may have gaps (dropped rows)
        reviews += [replace(r, position=offset + r.position) for r in dataset.reviews]
        titles.update(dataset.item_titles)
        item_categories.update({item: dataset.category_of(item) for item in dataset.item_ids
                                if dataset.category_of(item) != first.category})
    report = LoadReport(sum(d.report.missing_text for d in datasets), sum(d.report.from_summary for d in datasets),
                        {path: lines for d in datasets for path, lines in d.report.truncated.items()},
                        sum(d.report.anonymous for d in datasets), max(d.report.core for d in datasets),
                        sum(d.report.outside_core for d in datasets))
    return ReviewDataset(reviews, titles, " + ".join(d.source or d.category for d in datasets), first.category,
                         sum(d.dropped_duplicates for d in datasets), report, item_categories)


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



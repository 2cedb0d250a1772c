"""Deterministic splits and leak-free histories, as Reason4Rec uses them.

Time order everywhere is ``(timestamp, file position)``: timestamps have day granularity and 631
users of the shipped data post their last two reviews on the same day, so file order breaks ties.

A *target* is one review to predict. Its history is drawn from the training split only (the method
note: "u's last K reviews before t in the training split"), strictly before the target in time
order: the user's last K reviews, and the item's last K reviews by other users. Means are taken over
all those prior training reviews, before the cut to K.

Example:
    >>> from reason4rec.data import load_shipped
    >>> split = make_split(load_shipped(), "leave-last-out")
    >>> len(split.test), len(build_targets(split, "test")[0].user_history) <= 10
    (1429, True)
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from ..config import SplitName
from .reviews import Review, ReviewDataset

SPLIT_NAMES: tuple[str, ...] = get_args(SplitName)

SplitPart = Literal["train", "valid", "test"]


@dataclass(frozen=True, slots=True)
class Split:
    """Train, validation and test reviews; each list is in time order."""

    name: str
    train: list[Review]
    valid: list[Review]
    test: list[Review]

    def part(self, name: SplitPart) -> list[Review]:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split part {name!r}; use train, valid or test")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def leave_last_out(dataset: ReviewDataset) -> Split:
    """Per user in time order: the last review is test, the one before it validation.

    Users with a single review contribute to test only; with two, to validation and test.
    """
    by_user: dict[str, list[Review]] = defaultdict(list)
    for review in dataset.reviews:
        by_user[review.user_id].append(review)
    train: list[Review] = []
    valid: list[Review] = []
    test: list[Review] = []
    for reviews in by_user.values():
        reviews.sort(key=lambda r: r.order_key)
        test.append(reviews[-1])
        if len(reviews) >= 2:
            valid.append(reviews[-2])
        train.extend(reviews[:-2])
    return Split("leave-last-out", _in_time_order(train), _in_time_order(valid), _in_time_order(test))


def random_split(
    dataset: ReviewDataset, seed: int = 2020, fractions: tuple[float, float] = (0.8, 0.1)
) -> Split:
    """Shuffle with ``random.Random(seed)``; the first 80% train, the next 10% validation.

    The test part takes the remainder, so 10,261 reviews give 8,208 / 1,026 / 1,027. Python's own
    generator is used so the split matches the reference figures in the data README.
    """
    _check_fractions(fractions)
    train_share, valid_share = fractions
    n = len(dataset.reviews)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_train, n_valid = int(train_share * n), int(valid_share * n)
    pick = lambda idx: _in_time_order(dataset.reviews[i] for i in idx)  # noqa: E731
    return Split(
        f"random-{seed}",
        pick(order[:n_train]),
        pick(order[n_train : n_train + n_valid]),
        pick(order[n_train + n_valid :]),
    )


def temporal_split(dataset: ReviewDataset, fractions: tuple[float, float] = (0.8, 0.1)) -> Split:
    """Reason4Rec's own protocol: all reviews in time order, the first 80% train, the next 10%
    validation, the rest test.

    Ties in time are broken by file order (``Review.order_key``). Users and items first seen late
    are cold in the test part: their histories are empty, as they would be in deployment.
    """
    _check_fractions(fractions)
    ordered = _in_time_order(dataset.reviews)
    n_train, n_valid = (int(share * len(ordered)) for share in fractions)
    return Split("temporal", ordered[:n_train], ordered[n_train : n_train + n_valid],
                 ordered[n_train + n_valid :])


def make_split(dataset: ReviewDataset, name: str, seed: int = 2020) -> Split:
    """The split the config names: ``leave-last-out``, ``random`` or ``temporal``."""
    if name == "leave-last-out":
        return leave_last_out(dataset)
    if name == "random":
        return random_split(dataset, seed=seed)
    if name == "temporal":
        return temporal_split(dataset)
    raise ValueError(f"unknown split {name!r}; use one of: {', '.join(SPLIT_NAMES)}")


def _check_fractions(fractions: tuple[float, float]) -> None:
    train_share, valid_share = fractions
    if not (0 < train_share < 1 and 0 <= valid_share < 1 and train_share + valid_share < 1):
        raise ValueError(f"fractions must leave room for a test part, got {fractions}")


def _in_time_order(reviews: Iterable[Review]) -> list[Review]:
    return sorted(reviews, key=lambda r: r.order_key)


# --------------------------------------------------------------------------- histories


@dataclass(frozen=True, slots=True)
class Target:
    """One review to predict and everything the experts may see about it."""

    review: Review
    user_history: tuple[Review, ...]
    """The user's last K training reviews before the target, oldest first."""
    item_history: tuple[Review, ...]
    """The item's last K training reviews by other users before the target, oldest first."""
    user_mean: float | None
    """Mean rating over all the user's prior training reviews; None when there are none."""
    item_mean: float | None
    user_count: int
    item_count: int

    @property
    def has_histories(self) -> bool:
        """Training data skips targets whose user or item history is empty (the method note)."""
        return bool(self.user_history) and bool(self.item_history)


class HistoryIndex:
    """Per-user and per-item timelines of a review pool, searchable by time with bisect.

    Built once per split; each lookup is O(log n + K).
    """

    def __init__(self, pool: Iterable[Review]) -> None:
        self._by_user = _Timelines()
        self._by_item = _Timelines()
        for review in sorted(pool, key=lambda r: r.order_key):
            self._by_user.add(review.user_id, review)
            self._by_item.add(review.item_id, review)

    def user_history(self, user_id: str, before: tuple[int, int], k: int) -> tuple[Review, ...]:
        return self._by_user.last_before(user_id, before, k)

    def item_history(
        self, item_id: str, before: tuple[int, int], k: int, exclude_user: str | None = None
    ) -> tuple[Review, ...]:
        return self._by_item.last_before(item_id, before, k, exclude_user=exclude_user)

    def user_mean(self, user_id: str, before: tuple[int, int]) -> tuple[float | None, int]:
        return self._by_user.mean_before(user_id, before)

    def item_mean(
        self, item_id: str, before: tuple[int, int], exclude_user: str | None = None
    ) -> tuple[float | None, int]:
        return self._by_item.mean_before(item_id, before, exclude_user=exclude_user)

    def target(self, review: Review, k: int = 10) -> Target:
        """Histories and means for ``review`` using only pool reviews strictly before it."""
        key = review.order_key
        user_mean, user_count = self.user_mean(review.user_id, key)
        item_mean, item_count = self.item_mean(review.item_id, key, exclude_user=review.user_id)
        return Target(
            review=review,
            user_history=self.user_history(review.user_id, key, k),
            item_history=self.item_history(review.item_id, key, k, exclude_user=review.user_id),
            user_mean=user_mean,
            item_mean=item_mean,
            user_count=user_count,
            item_count=item_count,
        )


def build_targets(split: Split, part: SplitPart = "test", k: int = 10) -> list[Target]:
    """Targets for one part of a split, with histories from that split's training reviews."""
    if k < 1:
        raise ValueError(f"history length k must be at least 1, got {k}")
    index = HistoryIndex(split.train)
    return [index.target(review, k) for review in split.part(part)]


class _Timelines:
    """Reviews grouped by one key, in time order, with prefix sums of ratings."""

    def __init__(self) -> None:
        self._reviews: dict[str, list[Review]] = defaultdict(list)
        self._keys: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._sums: dict[str, list[float]] = defaultdict(lambda: [0.0])

    def add(self, key: str, review: Review) -> None:
        self._reviews[key].append(review)
        self._keys[key].append(review.order_key)
        self._sums[key].append(self._sums[key][-1] + review.rating)

    def _cut(self, key: str, before: tuple[int, int]) -> int:
        keys = self._keys.get(key)
        return bisect.bisect_left(keys, before) if keys else 0

    def last_before(
        self, key: str, before: tuple[int, int], k: int, exclude_user: str | None = None
    ) -> tuple[Review, ...]:
        reviews: Sequence[Review] = self._reviews.get(key, ())
        prior = reviews[: self._cut(key, before)]
        if exclude_user is not None:
            prior = [r for r in prior if r.user_id != exclude_user]
        return tuple(prior[-k:])

    def mean_before(
        self, key: str, before: tuple[int, int], exclude_user: str | None = None
    ) -> tuple[float | None, int]:
        cut = self._cut(key, before)
        if cut == 0:
            return None, 0
        total, count = self._sums[key][cut], cut
        if exclude_user is not None:
            own = [r.rating for r in self._reviews[key][:cut] if r.user_id == exclude_user]
            total, count = total - sum(own), count - len(own)
        return (total / count if count else None), count


def find_history_leaks(split: Split, targets: Sequence[Target]) -> list[str]:
    """Every way a history could leak the answer, described; an empty list means none.

    Checked: the target itself in its histories, any history review at or after the target in
    time order, any validation or test review inside a history, and another user's review in a
    user history (or the target user's own review in an item history).
    """
    held_out = {r.review_id for r in split.valid} | {r.review_id for r in split.test}
    problems: list[str] = []
    for target in targets:
        review = target.review
        for kind, history in (("user", target.user_history), ("item", target.item_history)):
            for past in history:
                where = f"{kind} history of {review.review_id}"
                if past.review_id == review.review_id:
                    problems.append(f"{where} holds the target review itself")
                elif past.order_key >= review.order_key:
                    problems.append(f"{where} holds {past.review_id}, which is not earlier")
                elif past.review_id in held_out:
                    problems.append(f"{where} holds held-out review {past.review_id}")
                if kind == "user" and past.user_id != review.user_id:
                    problems.append(f"{where} holds another user's review {past.review_id}")
                if kind == "item" and (past.item_id != review.item_id or past.user_id == review.user_id):
                    problems.append(f"{where} holds a review of the wrong item or by the target user")
    return problems

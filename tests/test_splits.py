"""Splits and histories: determinism, tie-breaks, and that no target ever leaks into a history."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reason4rec.data import Review, ReviewDataset
from reason4rec.data.splits import (
    HistoryIndex,
    build_targets,
    find_history_leaks,
    leave_last_out,
    make_split,
    random_split,
    temporal_split,
)


def _dataset(rows: list[tuple[str, str, float, int]]) -> ReviewDataset:
    reviews = [Review(u, i, r, t, f"text {n}", position=n) for n, (u, i, r, t) in enumerate(rows)]
    return ReviewDataset(reviews)


def test_leave_last_out_on_shipped_data(shipped):
    split = leave_last_out(shipped)
    assert split.sizes() == {"train": 7403, "valid": 1429, "test": 1429}
    assert Counter(r.user_id for r in split.test) == Counter({u: 1 for u in shipped.user_ids})
    parts = [split.train, split.valid, split.test]
    ids = [r.review_id for part in parts for r in part]
    assert len(ids) == len(set(ids)) == len(shipped)


def test_leave_last_out_breaks_same_day_ties_by_file_order():
    # u's last two reviews share a day: the one later in the file is the test review,
    # even though it comes first when sorted by item id.
    data = _dataset([("u", "c", 3, 100), ("u", "z", 4, 200), ("u", "a", 5, 200), ("v", "a", 2, 50)])
    split = leave_last_out(data)
    assert [r.item_id for r in split.test if r.user_id == "u"] == ["a"]
    assert [r.item_id for r in split.valid if r.user_id == "u"] == ["z"]
    assert [r.item_id for r in split.train] == ["c"]


def test_same_day_ties_matter_on_the_shipped_data(shipped):
    by_user: dict[str, list[Review]] = {}
    for review in shipped.reviews:
        by_user.setdefault(review.user_id, []).append(review)
    same_day = 0
    for reviews in by_user.values():
        reviews.sort(key=lambda r: r.timestamp)
        same_day += reviews[-1].timestamp == reviews[-2].timestamp
    assert same_day == 631
    test_by_user = {r.user_id: r for r in leave_last_out(shipped).test}
    for user, reviews in by_user.items():
        last = max(reviews, key=lambda r: (r.timestamp, r.position))
        assert test_by_user[user] is last


def test_random_split_sizes_determinism_and_seed(shipped):
    first = random_split(shipped, seed=2020)
    again = make_split(shipped, "random", seed=2020)
    other = random_split(shipped, seed=7)
    assert first.sizes() == {"train": 8208, "valid": 1026, "test": 1027}
    assert [r.review_id for r in first.test] == [r.review_id for r in again.test]
    assert {r.review_id for r in first.test} != {r.review_id for r in other.test}
    every = {r.review_id for part in (first.train, first.valid, first.test) for r in part}
    assert len(every) == len(shipped)
    # matches the reference split in the data README: global mean MAE 0.674 on its test part
    mu = sum(r.rating for r in first.train) / len(first.train)
    assert sum(abs(r.rating - mu) for r in first.test) / len(first.test) == pytest.approx(0.674, abs=5e-4)


def test_temporal_split_is_a_global_cut_in_time(shipped):
    split = temporal_split(shipped)
    assert split.sizes() == {"train": 8208, "valid": 1026, "test": 1027}
    assert make_split(shipped, "temporal").sizes() == split.sizes()
    # every training review precedes every validation review, which precedes every test review
    assert split.train[-1].order_key < split.valid[0].order_key
    assert split.valid[-1].order_key < split.test[0].order_key
    every = {r.review_id for part in (split.train, split.valid, split.test) for r in part}
    assert len(every) == len(shipped)
    # users first seen late are cold: their test targets have no user history (as in deployment)
    targets = build_targets(split, "test", k=10)
    assert 0 < sum(not t.user_history for t in targets) < len(targets)


def test_bad_split_requests_are_rejected(shipped):
    with pytest.raises(ValueError, match="unknown split"):
        make_split(shipped, "by-month")
    with pytest.raises(ValueError, match="fractions"):
        random_split(shipped, fractions=(0.9, 0.2))
    with pytest.raises(ValueError, match="fractions"):
        temporal_split(shipped, fractions=(0.0, 0.1))
    with pytest.raises(ValueError, match="at least 1"):
        build_targets(leave_last_out(shipped), "test", k=0)
    with pytest.raises(ValueError, match="unknown split part"):
        leave_last_out(shipped).part("holdout")  # type: ignore[arg-type]


@pytest.mark.parametrize("split_name", ["leave-last-out", "random", "temporal"])
def test_no_target_leaks_into_any_history(shipped, split_name):
    split = make_split(shipped, split_name, seed=2020)
    held_out = {r.review_id for r in split.valid + split.test}
    for part in ("train", "valid", "test"):
        targets = build_targets(split, part, k=10)
        assert find_history_leaks(split, targets) == []
        for target in targets:
            key = target.review.order_key
            for past in target.user_history + target.item_history:
                assert past.order_key < key
                assert past.review_id != target.review.review_id
                assert past.review_id not in held_out


def test_histories_are_exactly_the_last_k_before_the_target(shipped):
    split = leave_last_out(shipped)
    pool = sorted(split.train, key=lambda r: r.order_key)
    targets = build_targets(split, "test", k=10)
    sample = random.Random(0).sample(targets, 60)
    for target in sample:
        review = target.review
        before = [r for r in pool if r.order_key < review.order_key]
        mine = [r for r in before if r.user_id == review.user_id]
        theirs = [r for r in before if r.item_id == review.item_id and r.user_id != review.user_id]
        assert list(target.user_history) == mine[-10:]
        assert list(target.item_history) == theirs[-10:]
        assert target.user_count == len(mine) and target.item_count == len(theirs)
        if mine:
            assert target.user_mean == pytest.approx(sum(r.rating for r in mine) / len(mine))
        if theirs:
            assert target.item_mean == pytest.approx(sum(r.rating for r in theirs) / len(theirs))
    assert all(len(t.user_history) <= 10 and len(t.item_history) <= 10 for t in targets)
    assert sum(t.has_histories for t in targets) > 1000


def test_history_of_a_first_review_is_empty():
    data = _dataset([("u", "a", 4, 1), ("v", "a", 5, 2), ("u", "b", 3, 3)])
    index = HistoryIndex(data.reviews)
    first = index.target(data.reviews[0], k=10)
    assert first.user_history == () and first.item_history == ()
    assert first.user_mean is None and not first.has_histories
    third = index.target(data.reviews[2], k=10)
    assert [r.item_id for r in third.user_history] == ["a"]
    assert third.user_mean == 4.0


def test_the_leak_audit_catches_planted_leaks(shipped):
    split = leave_last_out(shipped)
    target = next(t for t in build_targets(split, "test") if t.user_history)
    later = split.test[-1]
    planted = [
        type(target)(target.review, (*target.user_history, target.review), target.item_history,
                     target.user_mean, target.item_mean, target.user_count, target.item_count),
        type(target)(target.review, target.user_history, (*target.item_history, later),
                     target.user_mean, target.item_mean, target.user_count, target.item_count),
    ]
    problems = find_history_leaks(split, planted)
    assert any("target review itself" in p for p in problems)
    assert any("not earlier" in p or "held-out" in p for p in problems)

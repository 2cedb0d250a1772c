"""Aspect summaries of reviews, computed once per (review id, Summarizer version) and cached.

Every other expert reads history reviews through these summaries, so they are computed in
batches, appended to a JSON Lines cache as they are produced (an interrupted run keeps what it
did), and never recomputed for another target.

Example:
    >>> cache = SummaryCache(Path("run/summaries.jsonl"))                  # doctest: +SKIP
    >>> summarize_reviews(backend, reviews, cache, "Musical Instruments")  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from ..config import Expert
from ..data import Review, Target
from .aspects import lexicon_summary
from .backend import Backend
from .product_aspects import ASPECTS_VERSION, clean_summary
from .prompts import (
    HistoryEntry,
    Summary,
    TargetContext,
    parse_summary,
    summarizer_messages,
    summary_problems,
    tidy_summary,
)

ProgressCallback = Callable[[int, int], None]
Category = str | Callable[[str], str]
"""The product category prompts name: one for every item, or a function of the item id (a
training set drawn from several categories, :meth:`~reason4rec.data.ReviewDataset.category_of`)."""


def category_for(category: Category, item_id: str) -> str:
    """The category the prompts about ``item_id`` name."""
    return category if isinstance(category, str) else category(item_id)


class SummaryCache:
    """Append-only JSON Lines of ``{"review_id", "version", "summary"}``; gzip files are read-only
    seeds (the shipped cache). A torn last line from a killed process is skipped on read."""

    def __init__(self, path: Path, seeds: Sequence[Path] = ()) -> None:
        self.path = Path(path)
        self._entries: dict[tuple[str, str], str] = {}
        for source in (*seeds, self.path):
            self._read(Path(source))

    def _read(self, path: Path) -> None:
        if not path.is_file():
            return
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                    self._entries[(row["review_id"], row["version"])] = row["summary"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn or foreign line: recomputed on demand, never trusted

    def add_seed(self, path: Path) -> None:
        """Also read ``path`` (JSON Lines or gzip of them), e.g. an evaluation's own summaries."""
        self._read(Path(path))

    def get(self, review_id: str, version: str) -> str | None:
        return self._entries.get((review_id, version))

    def put_many(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Append (review_id, version, summary) rows and fsync: durable when this returns."""
        rows = list(rows)
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            if _ends_torn(self.path):
                handle.write("\n")  # end a killed writer's half line, or it swallows the next row
            for review_id, version, summary in rows:
                handle.write(json.dumps({"review_id": review_id, "version": version,
                                         "summary": summary}) + "\n")
                self._entries[(review_id, version)] = summary
            handle.flush()
            os.fsync(handle.fileno())

    def summaries(self) -> list[str]:
        """Every summary this cache holds, of every version."""
        return list(self._entries.values())

    def of_version(self, version: str) -> dict[str, str]:
        """Every summary this cache holds for ``version``, by review id."""
        return {rid: summary for (rid, v), summary in self._entries.items() if v == version}

    def export(self, path: Path, version: str) -> int:
        """Write this version's summaries to a gzip file (to ship with the adapters)."""
        rows = [(rid, s) for (rid, v), s in sorted(self._entries.items()) if v == version]
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            for review_id, summary in rows:
                handle.write(json.dumps({"review_id": review_id, "version": version,
                                         "summary": summary}) + "\n")
        return len(rows)

    def __len__(self) -> int:
        return len(self._entries)


def _ends_torn(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def summarize_reviews(
    backend: Backend,
    reviews: Iterable[Review],
    cache: SummaryCache,
    category: Category,
    title: Callable[[str], str] = lambda item_id: item_id,
    *,
    batch_size: int = 16,
    max_review_chars: int = 600,
    progress: ProgressCallback | None = None,
) -> dict[str, str]:
    """Summaries of ``reviews`` by review id: cached ones reused, the rest generated in batches."""
    version = summary_version(backend.version(Expert.SUMMARIZER))
    unique = {r.review_id: r for r in reviews}
    result = {rid: s for rid in unique if (s := cache.get(rid, version)) is not None}
    todo = [r for rid, r in unique.items() if rid not in result]
    result.update(_summarize_into(cache, version, backend, todo, category, title, batch_size, max_review_chars,
                                  progress, done_before=len(result), total=len(unique)))
    return result


def redo_malformed(
    backend: Backend,
    cache: SummaryCache,
    reviews: Mapping[str, Review],
    category: Category,
    title: Callable[[str], str] = lambda item_id: item_id,
    *,
    batch_size: int = 16,
    max_review_chars: int = 600,
    progress: ProgressCallback | None = None,
    also: Collection[str] = (),
) -> tuple[int, int]:
    """Write again, with ``backend``'s Summarizer as it decodes today, the cached summaries of its
    version that :func:`~reason4rec.experts.prompts.summary_problems` finds malformed, and those of
    the review ids in ``also``; the new rows are appended (the last row of a key wins). A cache made
    before a decoding fix (the repeated-word ban, the line limit, :func:`stored_summary`'s guard)
    gets the fix without summarizing the rest again: a greedy answer the fix did not touch is what
    it makes anyway. ``also`` is for a change of the cleaning rules that finds aspects the earlier
    ones missed ("cable"): the cache keeps cleaned summaries only, so what the answer said of them
    needs the answer again.

    Returns (summaries redone, still malformed after it). Ids missing from ``reviews`` are left.
    """
    version = summary_version(backend.version(Expert.SUMMARIZER))
    also = frozenset(also)
    todo = [reviews[rid] for rid, summary in sorted(cache.of_version(version).items())
            if rid in reviews and (rid in also or summary_problems(summary))]
    _summarize_into(cache, version, backend, todo, category, title, batch_size, max_review_chars, progress)
    return len(todo), sum(1 for r in todo if summary_problems(cache.get(r.review_id, version) or ""))


def _summarize_into(cache: SummaryCache, version: str, backend: Backend, reviews: Sequence[Review], category: Category,
                    title: Callable[[str], str], batch_size: int, max_review_chars: int,
                    progress: ProgressCallback | None, *, done_before: int = 0,
                    total: int | None = None) -> dict[str, str]:
    """Summarize ``reviews`` a batch at a time, each batch written to ``cache`` before the next
    starts (an interruption loses at most one batch), with progress counted from ``done_before``
    of ``total``. Returns the new summaries by review id."""
    done, total = done_before, len(reviews) if total is None else total
    made: dict[str, str] = {}
    if progress:
        progress(done, total)
    for chunk, summaries in summary_batches(backend, reviews, category, title, batch_size=batch_size,
                                            max_review_chars=max_review_chars):
        rows = [(r.review_id, version, summary) for r, summary in zip(chunk, summaries, strict=True)]
        cache.put_many(rows)
        made.update({rid: summary for rid, _, summary in rows})
        done += len(chunk)
        if progress:
            progress(done, total)
    return made


def summary_batches(
    backend: Backend,
    reviews: Sequence[Review],
    category: Category,
    title: Callable[[str], str] = lambda item_id: item_id,
    *,
    batch_size: int = 16,
    max_review_chars: int = 600,
) -> Iterator[tuple[Sequence[Review], list[str]]]:
    """Run the Summarizer over ``reviews`` in batches, yielding each batch with its rendered
    summaries so the caller can make it durable before the next one starts."""
    for start in range(0, len(reviews), batch_size):
        chunk = reviews[start:start + batch_size]
        prompts = [summarizer_messages(category_for(category, r.item_id), title(r.item_id), r.rating, r.text,
                                       max_review_chars)
                   for r in chunk]
        yield chunk, [stored_summary(text, r.text, r.rating) for text, r in
                      zip(backend.generate(Expert.SUMMARIZER, prompts), chunk)]


SUMMARY_CLEANING = ASPECTS_VERSION
"""How :func:`stored_summary` cleans the Summarizer's answer against its review (the rules of
:mod:`.product_aspects`); summaries cached before it were not cleaned."""


def summary_version(adapter_version: str) -> str:
    """The version a Summarizer summary is cached and stored under: the adapter's and the cleaning
    rules' (:data:`SUMMARY_CLEANING`), so a summary cleaned by other rules, or not at all, is
    never read as one of today's."""
    return f"{adapter_version}+{SUMMARY_CLEANING}"


def stored_summary(written: str, review_text: str | None = None, rating: float | None = None) -> str:
    """What is kept of the Summarizer's answer: the three fields through the repeat and punctuation
    guard (:func:`~reason4rec.experts.prompts.tidy_summary`), so every reader (prompts, profiles,
    the evaluation) sees the same clean summary. ``bench/summary_format.py`` reports the answers as
    written too.

    With the review (``review_text``), the answer is also kept to what the review supports
    (:func:`~reason4rec.experts.product_aspects.clean_summary`): each phrase mapped onto a product
    aspect the review names, on the side the review's sentence takes ("bright tone but the clip
    broke" filed as "Positive Aspects: bright tone, clip broke" becomes tone praised, clip
    criticised); "good", "mostly", "great dad" are dropped. The review's ``rating`` weighs the
    review's sides (:func:`~reason4rec.experts.product_aspects.weighed_by_rating`).

    An answer that names no aspect of the review ("none / none / no", or phrases the review does
    not support) for a review whose words do name some would keep a complaint such as "strings
    broke, sound dull", or what a review is about ("picks ... the size"), out of the memory and show
    a history line as "(no summary)"; the lexicon's aspects of the review are kept instead, its
    preference elements alone too (they are the review's own noun phrases).
    """
    tidied = tidy_summary(written)
    if review_text is not None:
        tidied = tidy_summary(clean_summary(tidied, review_text, rating=rating))
    if review_text is not None and names_no_aspect(tidied):
        fallback = tidy_summary(lexicon_summary(review_text, rating).render())
        if not names_no_aspect(fallback):
            return fallback
    return tidied


_NO_ASPECT = frozenset({"", "none", "no", "n/a", "na", "nothing", "null", "nil", "-"})
"""Field values that name no aspect."""


def names_no_aspect(summary: str) -> bool:
    """True when no field of ``summary`` names an aspect (each is empty, "none", "no" ...)."""
    parsed = parse_summary(summary)
    return all(value.strip(" .").lower() in _NO_ASPECT
               for value in (parsed.positive, parsed.negative, parsed.preferences))


def summary_problems_of(summary: str, review_text: str) -> list[str]:
    """:func:`~reason4rec.experts.prompts.summary_problems` of a stored summary, plus naming no
    aspect for a review whose words name some (the well-formed measure counts both)."""
    problems = summary_problems(summary)
    if names_no_aspect(summary) and _has_opinion(lexicon_summary(review_text)):
        problems.append("no aspect, though the review names some")
    return problems


def _has_opinion(summary: Summary) -> bool:
    """The review praises or criticises something (the lexicon's preference words alone, such as
    "arrived", are too loose to say a review names an aspect)."""
    return any(value.strip(" .").lower() not in _NO_ASPECT for value in (summary.positive, summary.negative))


def target_contexts(
    backend: Backend,
    targets: Sequence[Target],
    cache: SummaryCache,
    category: Category,
    title: Callable[[str], str] = lambda item_id: item_id,
    *,
    batch_size: int = 16,
    max_review_chars: int = 600,
    progress: ProgressCallback | None = None,
    reasoner_stars: bool = False,
) -> list[TargetContext]:
    """Prompt views of ``targets``: their history reviews summarised (cached) first.
    ``reasoner_stars``: the Reasoner learnt with the stars (:attr:`PromptShape.reasoner_stars`)."""
    summaries = summarize_reviews(backend, history_reviews(targets), cache, category, title,
                                  batch_size=batch_size, max_review_chars=max_review_chars, progress=progress)
    return [target_context(t, summaries, category, title, reasoner_stars=reasoner_stars) for t in targets]


def history_reviews(targets: Iterable[Target]) -> list[Review]:
    """Every review any of ``targets`` shows as history (what must be summarized first)."""
    seen: dict[str, Review] = {}
    for target in targets:
        for review in (*target.user_history, *target.item_history):
            seen.setdefault(review.review_id, review)
    return list(seen.values())


def target_context(target: Target, summaries: Mapping[str, str], category: Category,
                   title: Callable[[str], str] = lambda item_id: item_id, *,
                   reasoner_stars: bool = False) -> TargetContext:
    """The prompt view of ``target``; raises KeyError if a history summary is missing."""

    def entries(reviews: tuple[Review, ...], label=None) -> tuple[HistoryEntry, ...]:
        return tuple(HistoryEntry(label or title(r.item_id), r.rating, summaries[r.review_id])
                     for r in reviews)

    return TargetContext(
        category=category_for(category, target.review.item_id),
        item_title=title(target.review.item_id),
        user_history=entries(target.user_history),
        item_history=entries(target.item_history, "a buyer"),  # the title is already above
        user_mean=target.user_mean,
        item_mean=target.item_mean,
        user_count=target.user_count,
        item_count=target.item_count,
        reasoner_stars=reasoner_stars,
    )

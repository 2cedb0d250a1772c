"""The memory of who likes what: reviews in SQLite or PostgreSQL, summaries and profiles in Chroma, kept in step.

An update runs in a fixed order so that any crash is finished later and nothing is lost:

1. the review is validated and committed to the review store (``pending``): durable before any
   model runs;
2. the Summarizer writes its aspect summary, which is upserted into Chroma (id = review id);
3. the review is marked summarized and its user's and item's profiles marked stale (one commit);
4. the stale profiles are rebuilt from summaries and upserted; the stale marks are cleared.

Right after step 1 the collaborative models (:mod:`.collab`: the bias model and SVD++ on every
stored rating, about 0.3 s for the shipped data) are refitted; sync and build refit them too.

Every step is idempotent (deterministic ids, upserts, compare-and-set on the review's revision),
so :meth:`Memory.sync` (or the next start) simply redoes whatever is left: pending reviews and
stale profiles. The vector memory is derived data: if its folder is damaged, ``rebuild`` moves it
aside and rebuilds it from the store.

Example:
    >>> with Memory.open(config) as memory:                                          # doctest: +SKIP
    ...     memory.add_review("A1", "B0002E1G5C", 4, "Warm tone, a little hum.", summarizer=expert)
    ...     memory.items_for_user("A1", k=5, query="a quiet pedal for apartment practice")
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..data import SHIPPED_CATEGORY, ReviewDataset, configured_category
from ..errors import Reason4RecError
from ..experts import SummaryCache, clean_text
from .collab import CollabEstimates, CollabSettings, collab_path
from .labels import StoreLabels, needs_label, review_texts
from .lock import LOCK_FILE, OWNER_FILE, FolderLock
from .profiles import Profile, ProfileKind, build_profile
from .reviews import AddResult, ReviewStorage, StoredReview, UnknownEntityError
from .stores import open_store
from .summarizers import LexiconSummarizer, ReviewSummarizer, cached_summaries
from .vectors import Match, PreferenceMemory, SummaryRecord, VectorMemoryError, lock_folder

ProgressCallback = Callable[[int, int], None]
ProgressFactory = Callable[[str], ProgressCallback]
SummarySource = Callable[[], "tuple[SummaryCache, str]"]
"""Loads the Summarizer summaries made before and the version they must carry (read only when a
sync has imported reviews to summarize: the shipped cache takes a moment to read)."""
MAX_QUERY_CHARS = 1000


class MemoryQueryError(Reason4RecError, ValueError):
    """A query the memory cannot answer as asked (empty text, no profile yet); says why."""


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What became of one added review."""

    review: StoredReview
    outcome: str
    """``created``, ``unchanged`` (a retry) or ``replaced`` (the old text is kept in history)."""
    summary: str | None
    pending: bool
    """True when the review is stored but its summary is not in the memory yet (see ``error``)."""
    error: str | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class SyncReport:
    """What a sync or build did; ``left_pending`` reviews wait for a Summarizer."""

    imported: int = 0
    upgraded: int = 0
    from_cache: int = 0
    summarized: dict[str, int] = field(default_factory=dict)
    profiles: int = 0
    left_pending: int = 0
    seconds: float = 0.0
    collab: str | None = None
    """Why the collaborative models were refitted and how long it took (None: they were current)."""


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """A stored review with its current summary (None while pending or out of date)."""

    review: StoredReview
    summary: str | None
    version: str | None


class Memory:
    """Reviews (a :class:`~reason4rec.memory.reviews.ReviewStorage`: the SQLite file or PostgreSQL)
    plus their summaries and profiles (:class:`PreferenceMemory`) and the collaborative models
    fitted on their ratings (:attr:`collab`, kept in ``collab_path``; None keeps them in RAM)."""

    def __init__(self, store: ReviewStorage, vectors: PreferenceMemory, *, category: str = SHIPPED_CATEGORY,
                 profile_reviews: int = 10, batch_size: int = 256, summaries: SummarySource | None = None,
                 collab_path: Path | None = None, collab_settings: CollabSettings | None = None) -> None:
        self.store, self.vectors = store, vectors
        self.category, self.profile_reviews, self.batch_size = category, profile_reviews, batch_size
        self._summary_source = summaries
        self.collab = CollabEstimates(store, collab_path, collab_settings)
        """The bias model and SVD++ on every stored rating: refitted by build, sync and add_review,
        checked against the store before each estimate (:meth:`CollabEstimates.estimates`)."""

    @classmethod
    def open(cls, config: Config, *, category: str | None = None, rebuild: bool = False,
             status: Callable[[str], None] | None = None, summaries: SummarySource | None = None) -> Memory:
        """Open the memory named by ``config`` (creating it on first use).

        Args:
            config: Paths come from ``config.memory`` (and ``config.home``).
            category: Product category for Summarizer prompts (default: the configured data's).
            rebuild: Move the embedded vector folder aside (kept as ``<folder>.old-<time>``) and
                start an empty one; every review goes back to pending for a sync to redo.
            status: Receives one-line messages (e.g. the first fetch of the sentence model).
            summaries: The Summarizer summaries every sync reuses for imported reviews before the
                lexicon (default: the shipped adapters' cache and this home's, as ``memory build``).

        The folder's lock is taken first: a memory in use is refused before anything changes
        (``--rebuild`` included) or any model is fetched. The vectors are then checked readable,
        so a damaged index is reported here, with the way out, rather than by a later query.
        """
        from ..experts import ensure_sentence_model
        from .embedding import SentenceEmbedding

        settings = config.memory
        if settings.chroma_url and rebuild:
            raise VectorMemoryError("--rebuild works on an embedded memory folder; on a Chroma server, "
                                    "choose a new memory.collection_prefix and build again")
        store = open_store(config)  # first: a store that cannot be reached is one line, before any model
        lock: FolderLock | None = None
        try:
            store.check_integrity()  # a damaged store is said here, before any model loads or any write
            if not settings.chroma_url:
                lock = lock_folder(config.chroma_path, settings.lock_timeout_s)
            embedding = SentenceEmbedding(ensure_sentence_model(config.home, status))
            if lock is not None and rebuild:  # pending first: a crash in between only redoes work
                store.mark_pending()
                lock = _move_aside(config.chroma_path, lock)
            if settings.chroma_url:
                vectors = PreferenceMemory.connect(settings.chroma_url, embedding, settings.collection_prefix)
            else:
                owned, lock = lock, None  # open_local owns the lock from here (and releases it on failure)
                vectors = PreferenceMemory.open_local(config.chroma_path, embedding, settings.collection_prefix,
                                                      lock=owned)
            try:
                vectors.verify()
            except BaseException:
                vectors.close()
                raise
        except BaseException:
            if lock is not None:
                lock.release()
            store.close()
            raise
        if summaries is None:
            summaries = functools.partial(cached_summaries, config)
        return cls(store, vectors, category=category or configured_category(config.data),
                   profile_reviews=settings.profile_reviews, batch_size=settings.batch_size, summaries=summaries,
                   collab_path=collab_path(config), collab_settings=CollabSettings.of(config))

    def close(self) -> None:
        try:
            self.vectors.close()
        finally:
            self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ updates
    def store_review(self, user_id: str, item_id: str, rating: float, text: str, *, timestamp: int | None = None,
                     title: str = "", item_title: str | None = None) -> AddResult:
        """Store a review durably (``pending``) and nothing more: the first half of
        :meth:`add_review`, for a caller that must load its Summarizer after the review is safe.
        Bad input raises :class:`~reason4rec.memory.reviews.ReviewInputError` and stores nothing."""
        return self.store.add(user_id, item_id, rating, text, timestamp=timestamp, title=title, item_title=item_title)

    @property
    def damage(self) -> str | None:
        """What damage the review store met, in one line (None while it is whole)."""
        return getattr(self.store, "damage", None)

    def add_review(self, user_id: str, item_id: str, rating: float, text: str, *, summarizer: ReviewSummarizer,
                   timestamp: int | None = None, title: str = "", item_title: str | None = None,
                   stored: AddResult | None = None) -> UpdateResult:
        """Store a review durably, then summarize it and refresh its user's and item's profiles.

        Bad input raises :class:`~reason4rec.memory.store.ReviewInputError` and stores nothing. A
        failure after the review is stored (Summarizer or embedding down, Chroma unreachable) does
        not raise: the result says ``pending`` with the error, and :meth:`sync` finishes later.
        ``stored``: this review as :meth:`store_review` already stored it (a caller that loads the
        Summarizer stores first, so a failed load leaves the review pending, never lost).
        """
        started = time.perf_counter()
        added = stored or self.store_review(user_id, item_id, rating, text, timestamp=timestamp, title=title,
                                            item_title=item_title)
        review = added.review
        if added.outcome != "unchanged":
            with contextlib.suppress(Exception):  # never costs the review: the next estimate refits (and says so)
                self._refit_collab(None)  # the rating is durable: the estimates follow it before any model runs
        try:
            if review.status == "pending":
                self._summarize_and_commit([review], summarizer, progress=None)
            self.refresh_profiles(only=[("user", review.user_id), ("item", review.item_id)])
            record = self.vectors.summaries([review.review_id]).get(review.review_id)
        except Exception as err:  # the review is durable; the rest is redone by sync
            return UpdateResult(self.store.get(review.review_id), added.outcome, None, True,
                                f"{type(err).__name__}: {err}", time.perf_counter() - started)
        review = self.store.get(review.review_id)
        return UpdateResult(review, added.outcome, record.summary if record else None, review.status == "pending",
                            None, time.perf_counter() - started)

    def finish_pending(self, summarizer: ReviewSummarizer | None) -> SyncReport | None:
        """Finish what an earlier run left pending before new work (opening the agent, adding a
        review): reviews people added by ``summarizer``, imported ones by the lexicon. None when
        nothing was left."""
        if not self.store.counts()["pending"]:
            return None
        return self.sync(summarizer, bulk=LexiconSummarizer())

    def sync(self, summarizer: ReviewSummarizer | None, *, bulk: ReviewSummarizer | None = None,
             cache: SummaryCache | None = None, cache_version: str | None = None,
             bars: ProgressFactory | None = None) -> SyncReport:
        """Finish every pending review and stale profile (after a crash, a failed update, a build).

        Args:
            summarizer: Summarizes reviews people added (None leaves them pending).
            bulk: Summarizes imported dataset reviews (default: ``summarizer``).
            cache: Summaries made earlier (e.g. the shipped ones) reused for imported reviews when
                their version is ``cache_version`` (default: the memory's own, see :meth:`open`), so
                a sync after an interrupted build summarizes exactly as the build would have.
            bars: Progress-bar factory (Rich bars at the CLI).
        """
        started = time.perf_counter()
        report = SyncReport()
        pending = self.store.pending()
        added = [r for r in pending if not r.from_dataset]
        imported = [r for r in pending if r.from_dataset]
        progress = bars("summaries") if bars and pending else None
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress(done, len(pending))

        advance(0)
        if cache is None and imported and self._summary_source is not None:
            cache, cache_version = self._summary_source()
        if cache is not None and cache_version:
            hits = [(r, cache.get(r.review_id, cache_version)) for r in imported]
            hits = [(r, s) for r, s in hits if s is not None]
            for start in range(0, len(hits), self.batch_size):
                chunk = hits[start:start + self.batch_size]
                self._commit([r for r, _ in chunk], [s for _, s in chunk], cache_version)
                advance(len(chunk))
            report.from_cache = len(hits)
            cached = {r.review_id for r, _ in hits}
            imported = [r for r in imported if r.review_id not in cached]
        for reviews, chosen in ((imported, bulk or summarizer), (added, summarizer)):
            if not reviews or chosen is None:
                report.left_pending += len(reviews)
                continue
            count = self._summarize_and_commit(reviews, chosen, progress=advance)
            report.summarized[chosen.version()] = report.summarized.get(chosen.version(), 0) + count
        report.profiles = self.refresh_profiles(bars=bars)
        report.collab = self._refit_collab(bars)
        report.seconds = time.perf_counter() - started
        return report

    def build(self, dataset: ReviewDataset, *, summarizer: ReviewSummarizer | None, bulk: ReviewSummarizer,
              cache: SummaryCache | None = None, cache_version: str | None = None,
              bars: ProgressFactory | None = None) -> SyncReport:
        """Import ``dataset`` (reviews already stored are kept as they are) and sync: resumable.

        Imported reviews summarized by anything other than ``cache_version`` (the lexicon, an
        older Summarizer) whose summary the cache holds go back to pending first, so a memory
        built before the adapters changed shows the current Summarizer's summaries (``upgraded``).
        """
        started = time.perf_counter()
        imported = self.store.import_reviews(dataset.reviews, dataset.item_titles)
        upgraded = self._pending_upgrades(cache, cache_version) if cache is not None and cache_version else 0
        report = self.sync(summarizer, bulk=bulk, cache=cache, cache_version=cache_version, bars=bars)
        if report.collab is None:  # a build rebuilds the collaborative models too (0.3 s for the shipped data)
            report.collab = self._refit_collab(bars, refit=True)
        report.imported, report.upgraded, report.seconds = imported, upgraded, time.perf_counter() - started
        return report

    def _pending_upgrades(self, cache: SummaryCache, version: str) -> int:
        outdated = [rid for rid, made_by in self.store.imported_summary_versions().items()
                    if made_by != version and cache.get(rid, version) is not None]
        return self.store.mark_pending(unless_version=version, review_ids=outdated) if outdated else 0

    def refresh_profiles(self, only: Iterable[tuple[ProfileKind, str]] | None = None,
                         bars: ProgressFactory | None = None) -> int:
        """Rebuild stale profiles (all, or those in ``only``); returns how many were written.

        Each batch is claimed from the store (:meth:`ReviewStorage.claim_stale`): held while its
        profiles are built and upserted, cleared after. Another process marking one of them
        meanwhile waits, so with several processes on one store (PostgreSQL, or SQLite with a
        Chroma server) a profile built from older reviews never overwrites a newer one.
        """
        if only is not None:
            with self.store.claim_stale(only=set(only)) as chunk:
                profiles = self._build_profiles([(kind, eid) for kind, eid, _ in chunk])
                self.vectors.upsert_profiles(profiles)
            return len(profiles)
        total = len(self.store.stale_profiles()) if bars else 0
        progress = bars("profiles") if bars and total else None
        written = done = 0
        while True:
            with self.store.claim_stale(limit=self.batch_size) as chunk:
                if not chunk:
                    return written
                profiles = self._build_profiles([(kind, eid) for kind, eid, _ in chunk])
                self.vectors.upsert_profiles(profiles)
            written, done = written + len(profiles), done + len(chunk)
            if progress:
                progress(min(done, total), total)

    def resummarize(self, reviews: Sequence[StoredReview], summarizer: ReviewSummarizer,
                    progress: ProgressCallback | None = None) -> dict[str, str]:
        """Summaries of ``reviews`` by ``summarizer`` (e.g. the Summarizer replacing lexicon ones),
        written to the memory with their profiles refreshed; review id -> summary.

        ``progress(count)`` is called after each batch with how many reviews it summarized (a
        Summarizer on a CPU takes seconds per batch: callers show how many are left).
        """
        self._summarize_and_commit(reviews, summarizer, progress=progress)
        self.refresh_profiles(only={("user", r.user_id) for r in reviews} | {("item", r.item_id) for r in reviews})
        records = self.vectors.summaries(r.review_id for r in reviews)
        return {rid: record.summary for rid, record in records.items()}

    # ------------------------------------------------------------------ queries
    def has_user(self, user_id: str) -> bool:
        return self.store.has("user", user_id)

    def has_item(self, item_id: str) -> bool:
        return self.store.has("item", item_id)

    def review_of(self, user_id: str, item_id: str) -> StoredReview | None:
        """The review ``user_id`` wrote of ``item_id`` (one per pair), or None."""
        return self.store.review_of(user_id, item_id)

    def review_count(self, user_id: str) -> int:
        """How many reviews the user wrote; UnknownEntityError for a stranger."""
        return len(self.store.user_reviews(user_id))

    def user_ids(self) -> list[str]:
        return self.store.user_ids()

    def item_ids(self) -> list[str]:
        return self.store.item_ids()

    def item_titles(self) -> dict[str, str]:
        """Item id -> title, only for items whose title is known (the shipped data has none)."""
        return self.store.item_titles()

    def counts(self) -> dict[str, int]:
        """The review store's users, items, reviews, ``pending`` reviews and stale profiles."""
        return self.store.counts()

    def pending(self) -> list[StoredReview]:
        """Reviews stored but not summarized yet, oldest first (what :meth:`sync` finishes)."""
        return self.store.pending()

    def user_history(self, user_id: str, limit: int | None = None) -> list[HistoryRecord]:
        """The user's reviews, oldest first, with summaries; UnknownEntityError for a stranger."""
        return self._with_summaries(self.store.user_reviews(user_id), limit)

    def item_history(self, item_id: str, limit: int | None = None) -> list[HistoryRecord]:
        return self._with_summaries(self.store.item_reviews(item_id), limit)

    def item_name(self, item_id: str) -> str:
        """How an item is shown to a person: its title, else the label made from its reviews, with
        the id after it (``"delay pedal (B004M9CKVM)"``), or the id alone. Display only: the
        experts' prompts keep the title (or id) they were trained with."""
        from .labels import item_name

        profile = self.vectors.profiles("item", [item_id]).get(item_id)
        return item_name(item_id, self.item_title(item_id), profile.label if profile else None)

    def item_title(self, item_id: str) -> str:
        """The item's known title, else its id (also for an item the memory has never seen)."""
        return self.store.item_title(item_id) if self.store.has("item", item_id) else item_id

    def profile(self, kind: ProfileKind, entity_id: str) -> Profile | None:
        """The profile of a known user or item (None while its reviews are pending)."""
        if not self.store.has(kind, entity_id):
            raise UnknownEntityError(f"unknown {kind} {entity_id!r}: no review by or of it is stored")
        return self.vectors.profiles(kind, [entity_id]).get(entity_id)

    def items_for_user(self, user_id: str, k: int = 5, query: str | None = None,
                       query_weight: float = 0.6, exclude: Iterable[str] = ()) -> list[Match]:
        """Items whose profiles best match the user's preference profile, steered by ``query``
        (free text) when given; items the user already reviewed (and ``exclude``) are left out."""
        reviewed = {r.item_id for r in self.store.user_reviews(user_id)} | set(exclude)
        vector = self.vectors.profile_vector("user", user_id)
        if query is not None:
            wanted = self.vectors.embed([_query_text(query)])[0]
            vector = wanted if vector is None else _blend(wanted, vector, query_weight)
        if vector is None:
            raise MemoryQueryError(f"user {user_id!r} has no preference profile yet (their reviews are "
                                   "pending: run `reason4rec memory sync`), and no query text was given")
        return self.vectors.nearest("item", vector=vector, k=k, exclude=reviewed)

    def search_items(self, text: str, k: int = 5, exclude_user: str | None = None) -> list[Match]:
        """Items whose profiles match a free-text need, e.g. "a quiet pedal for apartment practice"."""
        exclude = {r.item_id for r in self.store.user_reviews(exclude_user)} if exclude_user else set()
        return self.vectors.nearest("item", text=_query_text(text), k=k, exclude=exclude)

    def similar_users(self, user_id: str, k: int = 5) -> list[Match]:
        if not self.store.has("user", user_id):
            raise UnknownEntityError(f"unknown user {user_id!r}: no review by this user is stored")
        vector = self.vectors.profile_vector("user", user_id)
        if vector is None:
            raise MemoryQueryError(f"user {user_id!r} has no preference profile yet (run `reason4rec memory sync`)")
        return self.vectors.nearest("user", vector=vector, k=k, exclude={user_id})

    def status(self) -> dict:
        """Counts from both sides, so a mismatch (reviews summarized but vectors missing) shows."""
        return {"store": self.store.where, "vectors": self.vectors.where, **self.store.counts(),
                **self.vectors.counts(), "summary_versions": self.store.summary_versions()}

    # ------------------------------------------------------------------ internals
    def _refit_collab(self, bars: ProgressFactory | None, *, refit: bool = False) -> str | None:
        """Bring the collaborative models up to date; what was done in one line (None: nothing to do)."""
        before = self.collab.refits
        self.collab.ensure(bars, refit=refit)
        return self.collab.last_refit if self.collab.refits != before else None

    def _summarize_and_commit(self, reviews: Sequence[StoredReview], summarizer: ReviewSummarizer,
                              progress: ProgressCallback | None) -> int:
        version, count = summarizer.version(), 0
        for chunk, summaries in summarizer.summarize(reviews, self.item_title):
            count += self._commit(chunk, summaries, version)
            if progress:
                progress(len(chunk))
        return count

    def _commit(self, reviews: Sequence[StoredReview], summaries: Sequence[str], version: str) -> int:
        """Upsert the summaries, then mark the reviews done (in that order: a crash between the
        two leaves them pending, and the redo overwrites the same ids)."""
        self.vectors.upsert_summaries([
            SummaryRecord(r.review_id, r.user_id, r.item_id, r.rating, r.timestamp, s, version, r.revision)
            for r, s in zip(reviews, summaries)])
        return self.store.mark_summarized(reviews, version)

    def _build_profiles(self, entities: Sequence[tuple[ProfileKind, str]]) -> list[Profile]:
        reviews = {(kind, eid): (self.store.user_reviews(eid) if kind == "user" else self.store.item_reviews(eid))
                   for kind, eid in entities}
        records = self.vectors.summaries(r.review_id for rows in reviews.values() for r in rows)
        now, profiles = time.time(), []
        for (kind, eid), rows in reviews.items():
            pairs = [(r.rating, records[r.review_id].summary) for r in rows if _current(r, records)]
            if not pairs:
                continue
            title = self.store.item_title(eid) if kind == "item" else ""
            label = self._labels.label(review_texts(rows)) if kind == "item" and needs_label(eid, title) else ""
            profiles.append(build_profile(kind, eid, pairs, recent=self.profile_reviews,
                                          title="" if title == eid else title, updated=now, label=label))
        return profiles

    @functools.cached_property
    def _labels(self) -> StoreLabels:
        """Item labels from the stored reviews (their word statistics are fitted once, when an item
        without a title first needs a label: about 3 s for the shipped data's 10,261 reviews)."""
        return StoreLabels(self.store)

    def _with_summaries(self, reviews: list[StoredReview], limit: int | None) -> list[HistoryRecord]:
        reviews = reviews[-limit:] if limit else reviews
        records = self.vectors.summaries(r.review_id for r in reviews)
        return [HistoryRecord(r, records[r.review_id].summary if _current(r, records) else None,
                              records[r.review_id].version if _current(r, records) else None) for r in reviews]


def _current(review: StoredReview, records: dict[str, SummaryRecord]) -> bool:
    """A summary counts only if it was made from the review's current revision."""
    record = records.get(review.review_id)
    return record is not None and record.revision == review.revision and review.status == "summarized"


def _query_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise MemoryQueryError("the search text is empty: say what you are looking for")
    return clean_text(text, MAX_QUERY_CHARS)


def _blend(a: Sequence[float], b: Sequence[float], weight: float) -> list[float]:
    mixed = [weight * x + (1 - weight) * y for x, y in zip(a, b)]
    norm = math.sqrt(sum(x * x for x in mixed)) or 1.0
    return [x / norm for x in mixed]


def _move_aside(folder: Path, lock: FolderLock) -> FolderLock:
    """Keep a damaged or outdated vector folder as ``<folder>.old-<time>`` (never delete it).

    ``lock`` is the folder's, held by the caller; the fresh folder's lock is taken before it is
    let go, and returned.
    """
    if not set(os.listdir(folder)) - {LOCK_FILE, OWNER_FILE}:
        return lock  # nothing in it yet: nothing to keep
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, count = folder.with_name(f"{folder.name}.old-{stamp}"), 1
    while target.exists():  # two rebuilds within a second
        target, count = folder.with_name(f"{folder.name}.old-{stamp}-{count}"), count + 1
    os.rename(folder, target)  # one step on one file system: the folder is whole on either side
    lock.moved_to(target)
    try:
        return FolderLock(folder, lock.timeout_s).acquire()
    finally:
        lock.release()

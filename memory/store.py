"""The source of truth for reviews, users and items: one SQLite file (WAL, transactions).

A review is durable the moment :meth:`ReviewStore.add` returns (committed with
``synchronous=FULL``), before any summarizing happens; it is stored ``pending`` until its summary
is in the vector memory, so a crash between the two is finished later, never lost.
Re-adding the same review is a no-op (retries and graph resumes never duplicate); a *changed*
review for the same (user, item) replaces it and the old version is kept in ``review_history``.
The first write of an open store checks it (``PRAGMA quick_check``): a damaged store is refused
before anything is written, with the way out (``reason4rec memory salvage``, see
:mod:`reason4rec.memory.salvage`).

The validation and the records are shared with the PostgreSQL store (:mod:`.reviews`,
:mod:`.pg_store`); :func:`~reason4rec.memory.stores.open_store` opens whichever the config names.

Example:
    >>> store = ReviewStore(Path("reviews.sqlite"))                       # doctest: +SKIP
    >>> store.add("A1", "B0002E1G5C", 4, "Warm tone, a little hum.").status  # doctest: +SKIP
    'pending'
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..data import Review, review_id
from .reviews import (  # shared with the PostgreSQL store; re-exported: callers import them from here too
    MAX_TEXT_CHARS,
    MAX_TIMESTAMP,
    MAX_TITLE_CHARS,
    AddResult,
    ReviewInput,
    ReviewInputError,
    StoredReview,
    StoreError,
    UnknownEntityError,
    check_review,
    clean_title,
    item_label,
)

SCHEMA_VERSION = 2
_APPLICATION_ID = 0x52345243  # "R4RC": marks the file as ours
SQLITE_SCHEMA_VERSION, SQLITE_APPLICATION_ID = SCHEMA_VERSION, _APPLICATION_ID
"""What a reason4rec SQLite store carries (``PRAGMA user_version`` / ``application_id``), for
checks that read the file without opening it as a store (``reason4rec doctor``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, title TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(user_id),
    item_id TEXT NOT NULL REFERENCES items(item_id),
    rating REAL NOT NULL CHECK (rating >= 1 AND rating <= 5),
    timestamp INTEGER NOT NULL,
    text TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    revision INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL CHECK (status IN ('pending', 'summarized')),
    summary_version TEXT,
    origin TEXT NOT NULL DEFAULT 'added' CHECK (origin IN ('imported', 'added')),
    UNIQUE (user_id, item_id)
);
CREATE INDEX IF NOT EXISTS reviews_by_user ON reviews (user_id, timestamp);
CREATE INDEX IF NOT EXISTS reviews_by_item ON reviews (item_id, timestamp);
CREATE INDEX IF NOT EXISTS reviews_pending ON reviews (status);
CREATE TABLE IF NOT EXISTS review_history (
    review_id TEXT NOT NULL, revision INTEGER NOT NULL, rating REAL NOT NULL, timestamp INTEGER NOT NULL,
    text TEXT NOT NULL, title TEXT NOT NULL, replaced REAL NOT NULL, PRIMARY KEY (review_id, revision)
);
CREATE TABLE IF NOT EXISTS stale_profiles (
    kind TEXT NOT NULL CHECK (kind IN ('user', 'item')), entity_id TEXT NOT NULL, marked REAL NOT NULL,
    PRIMARY KEY (kind, entity_id)
);
"""


T = TypeVar("T")

__all__ = ["MAX_TEXT_CHARS", "MAX_TIMESTAMP", "MAX_TITLE_CHARS", "SCHEMA_VERSION", "AddResult", "RestoreCounts",
           "ReviewInput", "ReviewInputError", "ReviewStore", "StoreError", "StoredReview", "UnknownEntityError",
           "check_review", "clean_title", "item_label", "salvage_hint"]


def _damage_reported(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite finds a damaged page only when a query reaches it, long after the store opened: say
    so in one line with the way out, instead of a raw ``sqlite3.DatabaseError`` (busy and
    constraint errors pass through: they are not damage)."""
    @functools.wraps(method)
    def checked(self: ReviewStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.IntegrityError):
            raise
        except sqlite3.DatabaseError as err:
            raise StoreError(self._damaged(str(err))) from err
    return checked


def salvage_hint(path: Path) -> str:
    """The way out of a damaged store, in words a person can copy."""
    out = path.with_name(f"{path.stem}.recovered{path.suffix or '.sqlite'}")
    return (f"keep a copy of the file, then salvage what it holds into a new store: reason4rec memory salvage "
            f"{out} (with this command's --home or --config), or restore a backup")


class ReviewStore:
    """Reviews, users and items in SQLite; safe for several processes (SQLite serialises writers)."""

    def __init__(self, path: Path, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        """Where the reviews live, for people (the PostgreSQL store's is its URL without the password)."""
        self.damage: str | None = None
        """The message of the damage this store met (None while none was): callers that turn
        failures into "pending" read it to refuse reporting success on a damaged store."""
        self._checked = False  # the integrity check runs before the first write, once
        self._wrote = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and application_id != _APPLICATION_ID:
                raise StoreError(f"{self.path} is a SQLite file but not a reason4rec review store; point "
                                 "memory.store_path at the review store, or restore it from a backup")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if application_id != _APPLICATION_ID or version != SCHEMA_VERSION:
                # a new file, or one to migrate: opening a current store writes nothing
                with self._write():
                    _migrate(self._db)
                    for statement in filter(str.strip, _SCHEMA.split(";")):  # IF NOT EXISTS: idempotent
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except StoreError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open review store {self.path}: {err} (damaged, locked, or not a SQLite "
                             "file); if it is damaged, keep a copy and `reason4rec memory salvage OUT` what it "
                             "holds, or restore a backup") from err

    def check_integrity(self) -> None:
        """Refuse a damaged store before anything is written to it.

        SQLite's ``PRAGMA quick_check`` reads every page and checks the b-trees (not that the
        indexes agree with the tables: pages overwritten or torn are what it finds): about 8 ms
        for a store of the shipped data's size (10,261 reviews, 8.6 MB; 25 ms for the full
        ``integrity_check``), paid once per open store, by its first write (again after damage
        was met). Reads are not checked: a damaged page is reported when a query reaches it (see
        ``_damage_reported``).

        Raises:
            StoreError: naming the file, the first problems SQLite found, what was (not)
                written, and the salvage command.
        """
        try:
            rows = [str(row[0]) for row in self._db.execute("PRAGMA quick_check(6)")]
        except sqlite3.DatabaseError as err:  # a page the check itself cannot read
            rows = [str(err)]
        if rows == ["ok"]:
            self._checked = True
            return
        problems = [" ".join(row.replace("*** in database main ***", "").split()) for row in rows]
        problems = [p for p in problems if p] or ["damaged"]
        detail = "; ".join(problems[:2]) + (f"; and {len(problems) - 2} more problems" if len(problems) > 2 else "")
        raise StoreError(self._damaged(f"integrity check: {detail}"))

    def _damaged(self, detail: str) -> str:
        """The one-line message for damage, saying exactly what this open store wrote; remembered
        in :attr:`damage`."""
        written = ("the step that met it wrote nothing; what this process wrote to it before stays" if self._wrote
                   else "nothing was written to it")
        self._checked = False  # the next write checks again (and is refused while the damage is there)
        self.damage = f"review store {self.path} is damaged ({detail}); {written}; {salvage_hint(self.path)}"
        return self.damage

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _write(self) -> Iterator[None]:
        """One IMMEDIATE transaction: the write lock is taken up front, committed or rolled back.
        The first one of an open store runs :meth:`check_integrity` under that lock."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise StoreError(f"review store {self.path} is busy (another process holds its write lock "
                             f"longer than the timeout): {err}") from err
        try:
            if not self._checked:  # the first write of this open store: a damaged one is refused
                self.check_integrity()
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
            self._wrote = True

    @_damage_reported
    def add(self, user_id: str, item_id: str, rating: float, text: str, *, timestamp: int | None = None,
            title: str = "", item_title: str | None = None) -> AddResult:
        """Validate (:func:`check_review`) and store one review durably; new users and items are
        created on the way."""
        checked = check_review(user_id, item_id, rating, text, title=title, item_title=item_title,
                               timestamp=timestamp)
        user_id, item_id, rating, text = checked.user_id, checked.item_id, checked.rating, checked.text
        title, item_title = checked.title, checked.item_title
        timestamp = int(time.time()) if checked.timestamp is None else checked.timestamp
        rid, now = review_id(user_id, item_id), time.time()
        with self._write():
            self._db.execute("INSERT OR IGNORE INTO users VALUES (?, ?)", (user_id, now))
            self._db.execute("INSERT OR IGNORE INTO items VALUES (?, ?, ?)", (item_id, item_title, now))
            if item_title:
                self._db.execute("UPDATE items SET title = ? WHERE item_id = ?", (item_title, item_id))
            old = self._db.execute("SELECT * FROM reviews WHERE review_id = ?", (rid,)).fetchone()
            if old is not None and (old["rating"], old["text"], old["title"]) == (rating, text, title):
                outcome = "unchanged"
            elif old is not None:
                self._db.execute("INSERT INTO review_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (rid, old["revision"], old["rating"], old["timestamp"], old["text"],
                                  old["title"], now))
                self._db.execute("UPDATE reviews SET rating=?, timestamp=?, text=?, title=?, "
                                 "revision=revision+1, status='pending', summary_version=NULL, "
                                 "origin='added' WHERE review_id=?", (rating, timestamp, text, title, rid))
                outcome = "replaced"
            else:
                self._db.execute("INSERT INTO reviews (review_id, user_id, item_id, rating, timestamp, "
                                 "text, title, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                                 (rid, user_id, item_id, rating, timestamp, text, title))
                outcome = "created"
            stored = _stored(self._db.execute("SELECT * FROM reviews WHERE review_id = ?", (rid,)).fetchone())
        return AddResult(stored, outcome)  # read in the transaction: an error here means nothing was stored

    @_damage_reported
    def import_reviews(self, reviews: Iterable[Review], item_titles: dict[str, str] | None = None) -> int:
        """Bulk load (one transaction, all or nothing); reviews already stored are left as they are.
        An item stored without a title gets the file's (metadata added later, a name found since);
        a title already stored is kept."""
        rows = list(reviews)
        now = time.time()
        titles = {item: clean_title(title) or None for item, title in (item_titles or {}).items()}
        with self._write():
            self._db.executemany("INSERT OR IGNORE INTO users VALUES (?, ?)", {(r.user_id, now) for r in rows})
            self._db.executemany("INSERT INTO items VALUES (?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET "
                                 "title = excluded.title WHERE items.title IS NULL AND excluded.title IS NOT NULL",
                                 {(r.item_id, titles.get(r.item_id), now) for r in rows})
            before = self._count("reviews")
            self._db.executemany(
                "INSERT OR IGNORE INTO reviews (review_id, user_id, item_id, rating, timestamp, text, title, "
                "status, origin) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 'imported')",
                [(r.review_id, r.user_id, r.item_id, r.rating, r.timestamp, r.text, r.title) for r in rows])
            return self._count("reviews") - before

    @_damage_reported
    def mark_summarized(self, reviews: Iterable[StoredReview], version: str) -> int:
        """Record ``reviews`` as summarized by ``version`` and mark their users' and items' profiles
        stale, in one transaction (a crash leaves both or neither). A review replaced since it was
        read (another revision) stays pending; returns how many were marked."""
        rows = [(version, r.review_id, r.revision) for r in reviews]
        now = time.time()
        with self._write():
            marked = sum(self._db.execute("UPDATE reviews SET status='summarized', summary_version=? "
                                          "WHERE review_id=? AND revision=?", row).rowcount for row in rows)
            for kind in ("user", "item"):
                self._db.executemany(
                    f"INSERT OR REPLACE INTO stale_profiles SELECT '{kind}', {kind}_id, ? FROM reviews "
                    "WHERE review_id = ?", [(now, rid) for _, rid, _ in rows])
        return marked

    @_damage_reported
    def mark_pending(self, unless_version: str | None = None, review_ids: Iterable[str] | None = None) -> int:
        """Send summarized reviews back to pending: all of them (the vector memory is being
        rebuilt), or those whose summary is not ``unless_version`` (to upgrade lexicon summaries
        with the Summarizer), among ``review_ids`` when given. Returns how many."""
        query = "UPDATE reviews SET status='pending' WHERE status='summarized' AND summary_version IS NOT ?"
        with self._write():
            if review_ids is None:
                return self._db.execute(query, (unless_version,)).rowcount
            return sum(self._db.execute(query + " AND review_id = ?", (unless_version, rid)).rowcount
                       for rid in review_ids)

    @_damage_reported
    def stale_profiles(self, limit: int | None = None) -> list[tuple[str, str, float]]:
        """(kind, id, marked) of profiles whose reviews changed since they were last written."""
        query = "SELECT kind, entity_id, marked FROM stale_profiles ORDER BY kind, entity_id"
        return [tuple(row) for row in self._db.execute(query + (f" LIMIT {int(limit)}" if limit else ""))]

    @_damage_reported
    def clear_stale(self, profiles: Iterable[tuple[str, str, float]]) -> None:
        """Clear profiles written since they were marked (a newer mark by another writer stays)."""
        with self._write():
            self._db.executemany("DELETE FROM stale_profiles WHERE kind = ? AND entity_id = ? AND marked <= ?",
                                 list(profiles))

    @contextmanager
    def claim_stale(self, only: Iterable[tuple[str, str]] | None = None,
                    limit: int | None = None) -> Iterator[list[tuple[str, str, float]]]:
        """The stale profiles to refresh (those of ``only``, else up to ``limit``), held until the
        block ends and then cleared (kept when it raises): no other writer marks them meanwhile,
        so a profile written from older reviews can never land after a newer one. Here that is
        the store's write lock, held for the block (a profile refresh: milliseconds)."""
        try:
            with self._write():
                rows = [tuple(row) for row in self._db.execute(
                    "SELECT kind, entity_id, marked FROM stale_profiles ORDER BY kind, entity_id")]
                if only is not None:
                    wanted = set(only)
                    rows = [row for row in rows if (row[0], row[1]) in wanted]
                claimed = rows[:limit] if limit else rows
                yield claimed
                self._db.executemany("DELETE FROM stale_profiles WHERE kind = ? AND entity_id = ? AND marked <= ?",
                                     claimed)
        except (sqlite3.OperationalError, sqlite3.IntegrityError):
            raise
        except sqlite3.DatabaseError as err:
            raise StoreError(self._damaged(str(err))) from err

    @_damage_reported
    def restore(self, users: Iterable[dict[str, Any]], items: Iterable[dict[str, Any]],
                reviews: Iterable[dict[str, Any]], history: Iterable[dict[str, Any]]) -> RestoreCounts:
        """Write rows salvaged from another store (see :mod:`reason4rec.memory.salvage`), in one
        transaction: every review ``pending`` (the vector memory is re-derived from them), a
        review whose user or item row was lost recreates it from its ids, and a row that does not
        fit the schema (garbage read from a damaged page) is left out and counted."""
        counts = RestoreCounts()
        now = time.time()
        with self._write():
            for row in users:
                counts.users += self._restore_row(
                    "INSERT INTO users VALUES (?, ?)", _fits(row, user_id=str, created=_number), counts)
            for row in items:
                counts.items += self._restore_row(
                    "INSERT INTO items VALUES (?, ?, ?)",
                    _fits(row, item_id=str, title=(str, type(None)), created=_number), counts)
            for row in reviews:
                values = _fits(row, review_id=str, user_id=str, item_id=str, rating=_number, timestamp=int, text=str,
                               title=str, revision=int, summary_version=(str, type(None)), origin=str)
                if values is not None and values[0] != review_id(values[1], values[2]):
                    values = None  # its id is derived from the pair: a row that disagrees is garbage
                if values is None:
                    counts.refused += 1
                    continue
                if not self._exists("users", "user_id", values[1]):
                    self._db.execute("INSERT INTO users VALUES (?, ?)", (values[1], now))
                    counts.recreated_users += 1
                if not self._exists("items", "item_id", values[2]):
                    self._db.execute("INSERT INTO items VALUES (?, NULL, ?)", (values[2], now))
                    counts.recreated_items += 1
                counts.reviews += self._restore_row(
                    "INSERT INTO reviews (review_id, user_id, item_id, rating, timestamp, text, title, revision, "
                    "summary_version, origin, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')", values, counts)
            for row in history:
                counts.history += self._restore_row(
                    "INSERT INTO review_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _fits(row, review_id=str, revision=int, rating=_number, timestamp=int, text=str, title=str,
                          replaced=_number), counts)
        return counts

    def _restore_row(self, sql: str, values: tuple | None, counts: RestoreCounts) -> int:
        """1 when the row went in; a row that does not fit (types, CHECKs, a duplicate) is counted
        refused (a failed statement undoes itself alone, the transaction goes on)."""
        if values is not None:
            try:
                self._db.execute(sql, values)
                return 1
            except sqlite3.IntegrityError:
                pass
        counts.refused += 1
        return 0

    # ------------------------------------------------------------------ reading
    @_damage_reported
    def get(self, rid: str) -> StoredReview:
        row = self._db.execute("SELECT * FROM reviews WHERE review_id = ?", (rid,)).fetchone()
        if row is None:
            raise UnknownEntityError(f"no review {rid!r} in {self.path}")
        return _stored(row)

    @_damage_reported
    def user_reviews(self, user_id: str) -> list[StoredReview]:
        """The user's reviews in time order; UnknownEntityError for a user never seen."""
        if not self._exists("users", "user_id", user_id):
            raise UnknownEntityError(f"unknown user {user_id!r}: no review by this user is stored")
        return [_stored(r) for r in self._db.execute(
            "SELECT * FROM reviews WHERE user_id = ? ORDER BY timestamp, rowid", (user_id,))]

    @_damage_reported
    def item_reviews(self, item_id: str) -> list[StoredReview]:
        if not self._exists("items", "item_id", item_id):
            raise UnknownEntityError(f"unknown item {item_id!r}: no review of this item is stored")
        return [_stored(r) for r in self._db.execute(
            "SELECT * FROM reviews WHERE item_id = ? ORDER BY timestamp, rowid", (item_id,))]

    @_damage_reported
    def review_of(self, user_id: str, item_id: str) -> StoredReview | None:
        """The review ``user_id`` wrote of ``item_id`` (one per pair), or None."""
        row = self._db.execute("SELECT * FROM reviews WHERE review_id = ?", (review_id(user_id, item_id),)).fetchone()
        return None if row is None else _stored(row)

    @_damage_reported
    def item_title(self, item_id: str) -> str:
        row = self._db.execute("SELECT title FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise UnknownEntityError(f"unknown item {item_id!r}")
        return clean_title(row["title"] or "") or item_id  # also for titles stored before they were cleaned

    @_damage_reported
    def item_titles(self) -> dict[str, str]:
        rows = self._db.execute("SELECT item_id, title FROM items WHERE title IS NOT NULL AND title != '' "
                                "ORDER BY item_id")
        return {item: title for item, raw in rows if (title := clean_title(raw)) and title != item}

    @_damage_reported
    def all_reviews(self) -> list[StoredReview]:
        return [_stored(r) for r in self._db.execute("SELECT * FROM reviews ORDER BY item_id, timestamp, rowid")]

    @_damage_reported
    def pending(self, limit: int | None = None) -> list[StoredReview]:
        """Reviews stored but not yet summarized into the memory (what a sync must finish)."""
        query = "SELECT * FROM reviews WHERE status = 'pending' ORDER BY rowid"
        rows = self._db.execute(query + (f" LIMIT {int(limit)}" if limit else ""))
        return [_stored(r) for r in rows]

    @_damage_reported
    def history(self, rid: str) -> list[dict]:
        """Earlier versions of a replaced review, oldest first."""
        return [dict(r) for r in self._db.execute(
            "SELECT * FROM review_history WHERE review_id = ? ORDER BY revision", (rid,))]

    @_damage_reported
    def counts(self) -> dict[str, int]:
        one = lambda sql: self._db.execute(sql).fetchone()[0]  # noqa: E731
        return {table: self._count(table) for table in ("users", "items", "reviews")} | {
            "pending": one("SELECT count(*) FROM reviews WHERE status='pending'"),
            "stale_profiles": self._count("stale_profiles")}

    @_damage_reported
    def imported_summary_versions(self) -> dict[str, str]:
        """review_id -> summary version of the summarized reviews still as the dataset had them
        (a review people replaced is theirs now: a dataset's cached summary no longer fits it)."""
        return dict(self._db.execute("SELECT review_id, summary_version FROM reviews WHERE status='summarized' "
                                     "AND origin='imported'").fetchall())

    @_damage_reported
    def summary_versions(self) -> dict[str, int]:
        """How many reviews carry each summary version (lexicon or a Summarizer adapter)."""
        return dict(self._db.execute("SELECT summary_version, count(*) FROM reviews WHERE status='summarized' "
                                     "GROUP BY summary_version").fetchall())

    @_damage_reported
    def user_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT user_id FROM users ORDER BY user_id")]

    @_damage_reported
    def item_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT item_id FROM items ORDER BY item_id")]

    @_damage_reported
    def has(self, kind: str, entity_id: str) -> bool:
        """Whether a ``user`` or ``item`` id is known."""
        if kind not in ("user", "item"):
            raise ValueError(f"kind must be 'user' or 'item', not {kind!r}")
        return self._exists(f"{kind}s", f"{kind}_id", entity_id)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, table: str) -> int:
        return self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def _exists(self, table: str, column: str, value: str) -> bool:
        return self._db.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (value,)).fetchone() is not None


@dataclass(slots=True)
class RestoreCounts:
    """What :meth:`ReviewStore.restore` wrote."""

    users: int = 0
    items: int = 0
    reviews: int = 0
    history: int = 0
    recreated_users: int = 0
    """Users whose own row was lost, recreated from the ids in their reviews."""
    recreated_items: int = 0
    """Items likewise (their titles are lost with their rows)."""
    refused: int = 0
    """Rows that did not fit the schema (read from a damaged page) and were left out."""


_number = (int, float)


def _fits(row: dict[str, Any], **types: type | tuple[type, ...]) -> tuple | None:
    """``row``'s values for the named columns, in order, when each has its column's type
    (a column the row lacks, e.g. ``origin`` of a version 1 store, takes the schema's default)."""
    defaults = {"origin": "added", "title": "", "revision": 1, "summary_version": None}
    values = tuple(row.get(name, defaults.get(name)) for name in types)
    ok = all(isinstance(value, kind) and not isinstance(value, bool) for value, kind in zip(values, types.values()))
    return values if ok else None


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older store up to :data:`SCHEMA_VERSION` in place (inside the open transaction)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"the review store was written by a newer reason4rec (schema {version}; "
                         f"this one reads up to {SCHEMA_VERSION}): upgrade reason4rec")
    if version == 1:  # v2: where a review came from; profiles waiting for a refresh
        db.execute("ALTER TABLE reviews ADD COLUMN origin TEXT NOT NULL DEFAULT 'added' "
                   "CHECK (origin IN ('imported', 'added'))")


def _stored(row: sqlite3.Row) -> StoredReview:
    return StoredReview(row["review_id"], row["user_id"], row["item_id"], row["rating"], row["timestamp"],
                        row["text"], row["title"], row["revision"], row["status"], row["summary_version"],
                        row["origin"])

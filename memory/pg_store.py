"""The review store in PostgreSQL: the same store as the SQLite file, for several processes and machines.

:class:`PostgresReviewStore` keeps the promises of :class:`~reason4rec.memory.store.ReviewStore`
(see :class:`~reason4rec.memory.reviews.ReviewStorage`) with PostgreSQL's transactions and row
locks instead of SQLite's one file lock, so many processes add reviews at once:

* :meth:`~PostgresReviewStore.add` is one transaction: the user and the item are inserted
  ``ON CONFLICT DO NOTHING``, the review ``INSERT ... ON CONFLICT DO NOTHING``, and an existing
  one is read ``FOR UPDATE`` (row-locked) before it is kept (the same text: a no-op) or replaced
  (its old version into ``review_history``). It is committed with ``synchronous_commit = on``
  before it returns: durable before any model runs, ``pending`` until its summary is stored.
* Marks of stale profiles carry a number from a sequence, not a clock, so writers on machines
  whose clocks disagree never clear each other's marks; rows are written in a fixed order (no
  deadlocks between batches), and a deadlock or serialization failure is retried.
* The tables live in their own PostgreSQL schema, ``reason4rec`` (the database can hold other
  things, e.g. the chat threads' checkpointer), with a ``schema_version`` table. An empty
  database gets the schema on first use; a schema of another version is refused with the way
  out (``reason4rec memory migrate``, or upgrading reason4rec). Creating and migrating take a
  transaction-scoped advisory lock (``pg_advisory_xact_lock``): two processes doing it at once,
  one waits for the other and then finds the work done.

Connections come from a ``psycopg_pool.ConnectionPool``. A URL that cannot be reached (wrong
host, port, user or password) is one :class:`~reason4rec.memory.reviews.StoreError` naming
``memory.store_url`` (without the password) and what PostgreSQL said, within
``memory.connect_timeout_s``.

Example:
    >>> store = PostgresReviewStore("postgresql://reason4rec@db-host/reason4rec")  # doctest: +SKIP
    >>> store.add("A1", "B0002E1G5C", 4, "Warm tone, a little hum.").review.status  # doctest: +SKIP
    'pending'
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from ..config import redact
from ..data import Review, review_id
from .reviews import AddResult, StoredReview, StoreError, UnknownEntityError, check_review, clean_title

SCHEMA = "reason4rec"
"""The PostgreSQL schema (namespace) holding the store's tables."""
SCHEMA_VERSION = 1
LOCK_KEY = 0x52345243
"""``pg_advisory_xact_lock`` key of schema changes ("R4RC")."""
MIGRATE_COMMAND = "reason4rec memory migrate"
SETTING = "memory.store_url"

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        f"""CREATE TABLE {SCHEMA}.users (user_id text PRIMARY KEY, created double precision NOT NULL)""",
        f"""CREATE TABLE {SCHEMA}.items (item_id text PRIMARY KEY, title text, created double precision NOT NULL)""",
        f"""CREATE TABLE {SCHEMA}.reviews (
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            review_id text PRIMARY KEY,
            user_id text NOT NULL REFERENCES {SCHEMA}.users (user_id),
            item_id text NOT NULL REFERENCES {SCHEMA}.items (item_id),
            rating double precision NOT NULL CHECK (rating >= 1 AND rating <= 5),
            "timestamp" bigint NOT NULL,
            text text NOT NULL,
            title text NOT NULL DEFAULT '',
            revision integer NOT NULL DEFAULT 1,
            status text NOT NULL CHECK (status IN ('pending', 'summarized')),
            summary_version text,
            origin text NOT NULL DEFAULT 'added' CHECK (origin IN ('imported', 'added')),
            UNIQUE (user_id, item_id))""",
        f'CREATE INDEX reviews_by_user ON {SCHEMA}.reviews (user_id, "timestamp", seq)',
        f'CREATE INDEX reviews_by_item ON {SCHEMA}.reviews (item_id, "timestamp", seq)',
        f"CREATE INDEX reviews_pending ON {SCHEMA}.reviews (seq) WHERE status = 'pending'",
        f"""CREATE TABLE {SCHEMA}.review_history (
            review_id text NOT NULL, revision integer NOT NULL, rating double precision NOT NULL,
            "timestamp" bigint NOT NULL, text text NOT NULL, title text NOT NULL,
            replaced double precision NOT NULL, PRIMARY KEY (review_id, revision))""",
        f"CREATE SEQUENCE {SCHEMA}.stale_marks",
        f"""CREATE TABLE {SCHEMA}.stale_profiles (
            kind text NOT NULL CHECK (kind IN ('user', 'item')), entity_id text NOT NULL,
            marked bigint NOT NULL, PRIMARY KEY (kind, entity_id))""",
        f"""CREATE TABLE {SCHEMA}.schema_version (
            one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL,
            migrated timestamptz NOT NULL DEFAULT now())""",
    ),
}
"""Statements that bring the schema from version ``n - 1`` to ``n`` (run in one transaction)."""

_RETRIES = 5
T = TypeVar("T")


def _secrets(url: str) -> list[str]:
    """The passwords written in ``url`` (to hide wherever a message might repeat them)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.password] if parts.password else []
    return found + [unquote(m) for m in re.findall(r"(?:^|&)password=([^&]+)", parts.query)]


def connection_error(err: Exception, url: str, setting: str = SETTING) -> str:
    """One line for a connection PostgreSQL refused or that never came: which setting, what it
    said (host, port, user or password at fault), without the password."""
    said = " ".join(str(err).split()) or type(err).__name__
    for secret in _secrets(url):
        said = said.replace(secret, "***")
    return (f"cannot connect to PostgreSQL at {redact(url)} ({setting}): {said}; check the host, port, user, "
            f"password and database in {setting} (or PGPASSWORD / ~/.pgpass), and that the server runs")


def connect(url: str, timeout_s: float, setting: str = SETTING, **kwargs: Any) -> Any:
    """One psycopg connection, or a StoreError naming ``setting`` (within ``timeout_s``)."""
    import psycopg

    try:
        return psycopg.connect(url, connect_timeout=max(1, round(timeout_s)), **kwargs)
    except (psycopg.Error, ValueError) as err:  # a malformed URL is a ProgrammingError or ValueError
        raise StoreError(connection_error(err, url, setting)) from err


def schema_version(conn: Any) -> int | None:
    """The store's schema version in this database, None when it has none (an empty database)."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_version",)).fetchone()
    if row[0] is None:
        return None
    row = conn.execute(f"SELECT version FROM {SCHEMA}.schema_version").fetchone()
    return None if row is None else int(row[0])


def migrate(url: str, timeout_s: float = 5.0, *, create: bool = True) -> tuple[int | None, int]:
    """Bring the database at ``url`` to :data:`SCHEMA_VERSION` (creating the schema in an empty
    database): ``(version before, version after)``.

    Under ``pg_advisory_xact_lock``: a second process migrating at the same time waits, then
    finds the work done. A schema from a newer reason4rec is refused, and so is one created by
    something else (tables under :data:`SCHEMA` without a version).
    """
    import psycopg

    try:
        return _migrate(url, timeout_s, create)
    except psycopg.Error as err:  # rolled back whole: the schema is as it was
        raise StoreError(f"migrating the review store at {redact(url)} ({SETTING}) failed, nothing was changed: "
                         f"{' '.join(str(err).split())}") from err


def _migrate(url: str, timeout_s: float, create: bool) -> tuple[int | None, int]:
    with connect(url, timeout_s) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        before = schema_version(conn)
        if before is None and conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (SCHEMA,)).fetchone()[0]:
            raise StoreError(f"the database at {redact(url)} ({SETTING}) holds tables in schema {SCHEMA!r} "
                             "that are not a reason4rec review store (no schema_version); use another database")
        if before is not None and before > SCHEMA_VERSION:
            raise StoreError(newer_schema(url, before))
        if before is None and not create:
            return None, 0
        for version in range((before or 0) + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if before is None:
            conn.execute(f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        elif before < SCHEMA_VERSION:
            conn.execute(f"UPDATE {SCHEMA}.schema_version SET version = %s, migrated = now()", (SCHEMA_VERSION,))
        return before, SCHEMA_VERSION


def newer_schema(url: str, version: int) -> str:
    return (f"the review store at {redact(url)} ({SETTING}) has schema version {version}, from a newer "
            f"reason4rec (this one reads version {SCHEMA_VERSION}): upgrade reason4rec")


def older_schema(url: str, version: int) -> str:
    return (f"the review store at {redact(url)} ({SETTING}) has schema version {version}; this reason4rec "
            f"needs version {SCHEMA_VERSION}: run `{MIGRATE_COMMAND}` (with this command's --config or --home) "
            "once, after the processes still running the older reason4rec have stopped")


def _reported(method: Callable[..., T]) -> Callable[..., T]:
    """PostgreSQL's errors as one :class:`StoreError` line (the server gone, a lock waited on past
    the timeout); a deadlock or serialization failure between writers is retried first (each
    method is one transaction, rolled back whole)."""
    @functools.wraps(method)
    def reported(self: PostgresReviewStore, *args: Any, **kwargs: Any) -> T:
        import psycopg
        from psycopg import errors

        for attempt in range(_RETRIES):
            try:
                return method(self, *args, **kwargs)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.01 * 2 ** attempt)
            except errors.LockNotAvailable as err:
                raise StoreError(f"review store {self.where} is busy (a row lock held longer than "
                                 f"{self.timeout_s:g} s): {err}") from err
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                raise StoreError(f"review store {self.where} ({SETTING}) failed: {' '.join(str(err).split())}; "
                                 "what this step wrote was rolled back (`reason4rec memory sync` finishes the "
                                 "rest once the server is back)") from err
            except Exception as err:
                from psycopg_pool import PoolTimeout

                if isinstance(err, PoolTimeout):
                    raise StoreError(f"review store {self.where} ({SETTING}): no connection within "
                                     f"{self.timeout_s:g} s ({err})") from err
                raise
        raise AssertionError("unreachable")  # pragma: no cover
    return reported


class PostgresReviewStore:
    """Reviews, users and items in PostgreSQL; safe for many processes on many machines."""

    damage: str | None = None
    """Never set: damage inside a PostgreSQL database is the server's to report."""

    def __init__(self, url: str, timeout_s: float = 10.0, *, connect_timeout_s: float = 5.0,
                 pool_size: int = 4) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout

        self.url, self.where, self.timeout_s = url, redact(url), timeout_s
        self.path = None  # no file: see ``where``
        with connect(url, connect_timeout_s) as conn, conn.transaction():  # fails fast, naming the setting
            version = schema_version(conn)
        if version is None:
            migrate(url, connect_timeout_s)
        elif version > SCHEMA_VERSION:
            raise StoreError(newer_schema(url, version))
        elif version < SCHEMA_VERSION:
            raise StoreError(older_schema(url, version))

        def configure(conn: Any) -> None:
            conn.execute(f"SET search_path TO {SCHEMA}")
            conn.execute("SET synchronous_commit TO on")  # durable at commit, whatever the server's default
            conn.execute(f"SET lock_timeout TO {int(timeout_s * 1000)}")
            conn.commit()

        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False, configure=configure,
                                    kwargs={"row_factory": dict_row,
                                            "connect_timeout": max(1, round(connect_timeout_s))},
                                    timeout=timeout_s, name="reason4rec-store")
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s + 5)
        except PoolTimeout as err:
            self._pool.close()
            raise StoreError(f"cannot open a connection pool to {self.where} ({SETTING}) within "
                             f"{connect_timeout_s:g} s: {err}") from err

    def check_integrity(self) -> None:
        """Nothing to do here: PostgreSQL checks its own pages (and reports damage as errors)."""

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A connection in one transaction, committed when the block ends, rolled back on error."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _one(self, sql: str, params: tuple = ()) -> Any:
        with self._transaction() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[Any]:
        with self._transaction() as conn:
            return conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ writing
    @_reported
    def add(self, user_id: str, item_id: str, rating: float, text: str, *, timestamp: int | None = None,
            title: str = "", item_title: str | None = None) -> AddResult:
        """Validate (:func:`~reason4rec.memory.reviews.check_review`) and store one review durably;
        new users and items are created on the way. Concurrent adds of the same review: one
        creates it, the others find it (``unchanged``) or replace it, one at a time (row lock)."""
        checked = check_review(user_id, item_id, rating, text, title=title, item_title=item_title,
                               timestamp=timestamp)
        user_id, item_id, rating, text = checked.user_id, checked.item_id, checked.rating, checked.text
        title, item_title = checked.title, checked.item_title
        timestamp = int(time.time()) if checked.timestamp is None else checked.timestamp
        rid, now = review_id(user_id, item_id), time.time()
        with self._transaction() as conn:
            conn.execute("INSERT INTO users VALUES (%s, %s) ON CONFLICT DO NOTHING", (user_id, now))
            if item_title:
                conn.execute("INSERT INTO items VALUES (%s, %s, %s) ON CONFLICT (item_id) DO UPDATE SET title = "
                             "EXCLUDED.title WHERE items.title IS DISTINCT FROM EXCLUDED.title",
                             (item_id, item_title, now))
            else:
                conn.execute("INSERT INTO items VALUES (%s, NULL, %s) ON CONFLICT DO NOTHING", (item_id, now))
            row = conn.execute(
                'INSERT INTO reviews (review_id, user_id, item_id, rating, "timestamp", text, title, status) '
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT DO NOTHING RETURNING *",
                (rid, user_id, item_id, rating, timestamp, text, title)).fetchone()
            if row is not None:
                outcome = "created"
            else:  # there already: lock it, then keep or replace it
                old = conn.execute("SELECT * FROM reviews WHERE review_id = %s FOR UPDATE", (rid,)).fetchone()
                if (old["rating"], old["text"], old["title"]) == (rating, text, title):
                    row, outcome = old, "unchanged"
                else:
                    conn.execute("INSERT INTO review_history VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                 (rid, old["revision"], old["rating"], old["timestamp"], old["text"], old["title"],
                                  now))
                    row = conn.execute(
                        'UPDATE reviews SET rating = %s, "timestamp" = %s, text = %s, title = %s, '
                        "revision = revision + 1, status = 'pending', summary_version = NULL, origin = 'added' "
                        "WHERE review_id = %s RETURNING *", (rating, timestamp, text, title, rid)).fetchone()
                    outcome = "replaced"
            stored = _stored(row)
        return AddResult(stored, outcome)  # committed: durable now

    @_reported
    def import_reviews(self, reviews: Iterable[Review], item_titles: dict[str, str] | None = None) -> int:
        """Bulk load (one transaction, all or nothing); reviews already stored are left as they are.
        An item stored without a title gets the file's; a title already stored is kept."""
        rows = list(reviews)
        now = time.time()
        titles = {item: clean_title(title) or None for item, title in (item_titles or {}).items()}
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO users VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            sorted({(r.user_id, now) for r in rows}))
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s) ON CONFLICT (item_id) DO UPDATE SET title = "
                            "EXCLUDED.title WHERE items.title IS NULL AND EXCLUDED.title IS NOT NULL",
                            sorted({(r.item_id, titles.get(r.item_id), now) for r in rows}, key=lambda t: t[0]))
            before = cur.execute("SELECT count(*) AS n FROM reviews").fetchone()["n"]
            cur.executemany(
                'INSERT INTO reviews (review_id, user_id, item_id, rating, "timestamp", text, title, status, origin) '
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', 'imported') ON CONFLICT DO NOTHING",
                [(r.review_id, r.user_id, r.item_id, r.rating, r.timestamp, _storable(r.text), _storable(r.title))
                 for r in rows])
            return cur.execute("SELECT count(*) AS n FROM reviews").fetchone()["n"] - before

    @_reported
    def mark_summarized(self, reviews: Iterable[StoredReview], version: str) -> int:
        """Record ``reviews`` as summarized by ``version`` and mark their users' and items' profiles
        stale, in one transaction (both or neither). A review replaced since it was read (another
        revision) stays pending; returns how many were marked."""
        rows = sorted({(r.review_id, r.revision) for r in reviews})
        if not rows:
            return 0
        with self._transaction() as conn:
            marked = conn.execute(
                "UPDATE reviews SET status = 'summarized', summary_version = %s FROM unnest(%s::text[], %s::int[]) "
                "AS done(review_id, revision) WHERE reviews.review_id = done.review_id "
                "AND reviews.revision = done.revision",
                (version, [rid for rid, _ in rows], [rev for _, rev in rows])).rowcount
            conn.execute(
                "INSERT INTO stale_profiles (kind, entity_id, marked) "
                "SELECT kind, entity_id, nextval('stale_marks') FROM ("
                "  SELECT DISTINCT 'user' AS kind, user_id AS entity_id FROM reviews WHERE review_id = ANY(%s) "
                "  UNION SELECT DISTINCT 'item', item_id FROM reviews WHERE review_id = ANY(%s) "
                "  ORDER BY 1, 2) AS touched "
                "ON CONFLICT (kind, entity_id) DO UPDATE SET marked = EXCLUDED.marked",
                ([rid for rid, _ in rows], [rid for rid, _ in rows]))
        return marked

    @_reported
    def mark_pending(self, unless_version: str | None = None, review_ids: Iterable[str] | None = None) -> int:
        """Send summarized reviews back to pending: all of them (the vector memory is being
        rebuilt), or those whose summary is not ``unless_version``, among ``review_ids`` when
        given. Returns how many."""
        query = ("UPDATE reviews SET status = 'pending' WHERE status = 'summarized' "
                 "AND summary_version IS DISTINCT FROM %s")
        with self._transaction() as conn:
            if review_ids is None:
                return conn.execute(query, (unless_version,)).rowcount
            return conn.execute(query + " AND review_id = ANY(%s)", (unless_version, sorted(set(review_ids)))).rowcount

    @_reported
    def stale_profiles(self, limit: int | None = None) -> list[tuple[str, str, float]]:
        """(kind, id, mark) of profiles whose reviews changed since they were last written; the
        mark is a sequence number here (increasing across every writer), not a time."""
        query = "SELECT kind, entity_id, marked FROM stale_profiles ORDER BY kind, entity_id"
        rows = self._all(query + (" LIMIT %s" if limit else ""), (int(limit),) if limit else ())
        return [(row["kind"], row["entity_id"], row["marked"]) for row in rows]

    @_reported
    def clear_stale(self, profiles: Iterable[tuple[str, str, float]]) -> None:
        """Clear profiles written since they were marked (a newer mark by another writer stays)."""
        rows = sorted(set(profiles))
        if not rows:
            return
        with self._transaction() as conn:
            conn.execute("DELETE FROM stale_profiles AS s USING unnest(%s::text[], %s::text[], %s::bigint[]) "
                         "AS done(kind, entity_id, marked) WHERE s.kind = done.kind AND s.entity_id = done.entity_id "
                         "AND s.marked <= done.marked",
                         ([k for k, _, _ in rows], [e for _, e, _ in rows], [m for _, _, m in rows]))

    @contextmanager
    def claim_stale(self, only: Iterable[tuple[str, str]] | None = None,
                    limit: int | None = None) -> Iterator[list[tuple[str, str, float]]]:
        """The stale profiles to refresh (those of ``only``, else up to ``limit``), row-locked
        until the block ends and then cleared (kept when it raises). A writer marking one of them
        meanwhile waits for the block to end, so a profile built from older reviews can never be
        written after a newer one; rows another process is refreshing are skipped (``SKIP
        LOCKED``): it holds them, and its refresh started after their latest mark."""
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction():
                if only is not None:
                    wanted = sorted(set(only))
                    rows = conn.execute(
                        "SELECT s.kind, s.entity_id, s.marked FROM stale_profiles AS s JOIN unnest(%s::text[], "
                        "%s::text[]) AS w(kind, entity_id) ON s.kind = w.kind AND s.entity_id = w.entity_id "
                        "ORDER BY s.kind, s.entity_id FOR UPDATE OF s SKIP LOCKED",
                        ([k for k, _ in wanted], [e for _, e in wanted])).fetchall() if wanted else []
                else:
                    rows = conn.execute("SELECT kind, entity_id, marked FROM stale_profiles ORDER BY kind, entity_id "
                                        + ("LIMIT %s " if limit else "") + "FOR UPDATE SKIP LOCKED",
                                        (int(limit),) if limit else ()).fetchall()
                claimed = [(row["kind"], row["entity_id"], row["marked"]) for row in rows]
                yield claimed
                if claimed:
                    conn.execute("DELETE FROM stale_profiles AS s USING unnest(%s::text[], %s::text[]) "
                                 "AS done(kind, entity_id) WHERE s.kind = done.kind AND s.entity_id = done.entity_id",
                                 ([k for k, _, _ in claimed], [e for _, e, _ in claimed]))
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            raise StoreError(f"review store {self.where} ({SETTING}) failed while refreshing profiles: "
                             f"{' '.join(str(err).split())}; `reason4rec memory sync` finishes them") from err

    # ------------------------------------------------------------------ reading
    @_reported
    def get(self, rid: str) -> StoredReview:
        row = self._one("SELECT * FROM reviews WHERE review_id = %s", (rid,))
        if row is None:
            raise UnknownEntityError(f"no review {rid!r} in {self.where}")
        return _stored(row)

    @_reported
    def user_reviews(self, user_id: str) -> list[StoredReview]:
        """The user's reviews in time order; UnknownEntityError for a user never seen."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE user_id = %s", (user_id,)).fetchone() is None:
                raise UnknownEntityError(f"unknown user {user_id!r}: no review by this user is stored")
            rows = conn.execute('SELECT * FROM reviews WHERE user_id = %s ORDER BY "timestamp", seq', (user_id,))
            return [_stored(r) for r in rows]

    @_reported
    def item_reviews(self, item_id: str) -> list[StoredReview]:
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM items WHERE item_id = %s", (item_id,)).fetchone() is None:
                raise UnknownEntityError(f"unknown item {item_id!r}: no review of this item is stored")
            rows = conn.execute('SELECT * FROM reviews WHERE item_id = %s ORDER BY "timestamp", seq', (item_id,))
            return [_stored(r) for r in rows]

    @_reported
    def review_of(self, user_id: str, item_id: str) -> StoredReview | None:
        """The review ``user_id`` wrote of ``item_id`` (one per pair), or None."""
        row = self._one("SELECT * FROM reviews WHERE review_id = %s", (review_id(user_id, item_id),))
        return None if row is None else _stored(row)

    @_reported
    def item_title(self, item_id: str) -> str:
        row = self._one("SELECT title FROM items WHERE item_id = %s", (item_id,))
        if row is None:
            raise UnknownEntityError(f"unknown item {item_id!r}")
        return clean_title(row["title"] or "") or item_id

    @_reported
    def item_titles(self) -> dict[str, str]:
        rows = self._all("SELECT item_id, title FROM items WHERE title IS NOT NULL AND title <> '' ORDER BY item_id")
        return {row["item_id"]: title for row in rows
                if (title := clean_title(row["title"])) and title != row["item_id"]}

    @_reported
    def all_reviews(self) -> list[StoredReview]:
        return [_stored(r) for r in self._all('SELECT * FROM reviews ORDER BY item_id, "timestamp", seq')]

    @_reported
    def pending(self, limit: int | None = None) -> list[StoredReview]:
        """Reviews stored but not yet summarized into the memory (what a sync must finish)."""
        query = "SELECT * FROM reviews WHERE status = 'pending' ORDER BY seq"
        return [_stored(r) for r in self._all(query + (" LIMIT %s" if limit else ""),
                                              (int(limit),) if limit else ())]

    @_reported
    def history(self, rid: str) -> list[dict]:
        """Earlier versions of a replaced review, oldest first."""
        return [dict(r) for r in self._all("SELECT * FROM review_history WHERE review_id = %s ORDER BY revision",
                                           (rid,))]

    @_reported
    def counts(self) -> dict[str, int]:
        row = self._one("SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM items) AS items, "
                        "(SELECT count(*) FROM reviews) AS reviews, "
                        "(SELECT count(*) FROM reviews WHERE status = 'pending') AS pending, "
                        "(SELECT count(*) FROM stale_profiles) AS stale_profiles")
        return {key: int(value) for key, value in row.items()}

    @_reported
    def imported_summary_versions(self) -> dict[str, str]:
        """review_id -> summary version of the summarized reviews still as the dataset had them."""
        rows = self._all("SELECT review_id, summary_version FROM reviews WHERE status = 'summarized' "
                         "AND origin = 'imported'")
        return {row["review_id"]: row["summary_version"] for row in rows}

    @_reported
    def summary_versions(self) -> dict[str, int]:
        """How many reviews carry each summary version (lexicon or a Summarizer adapter)."""
        rows = self._all("SELECT summary_version, count(*) AS n FROM reviews WHERE status = 'summarized' "
                         "GROUP BY summary_version")
        return {row["summary_version"]: int(row["n"]) for row in rows}

    @_reported
    def user_ids(self) -> list[str]:
        return [row["user_id"] for row in self._all("SELECT user_id FROM users ORDER BY user_id")]

    @_reported
    def item_ids(self) -> list[str]:
        return [row["item_id"] for row in self._all("SELECT item_id FROM items ORDER BY item_id")]

    @_reported
    def has(self, kind: str, entity_id: str) -> bool:
        """Whether a ``user`` or ``item`` id is known."""
        if kind not in ("user", "item"):
            raise ValueError(f"kind must be 'user' or 'item', not {kind!r}")
        return self._one(f"SELECT 1 FROM {kind}s WHERE {kind}_id = %s", (entity_id,)) is not None

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored(row: dict[str, Any]) -> StoredReview:
    return StoredReview(row["review_id"], row["user_id"], row["item_id"], row["rating"], int(row["timestamp"]),
                        row["text"], row["title"], row["revision"], row["status"], row["summary_version"],
                        row["origin"])


def _storable(value: str) -> str:
    """Dataset text as PostgreSQL can keep it: no NUL characters (SQLite keeps them; no letter is lost)."""
    return value.replace("\x00", "") if "\x00" in value else value

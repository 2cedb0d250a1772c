"""Copy what a damaged review store still holds into a new store, with Python's own sqlite3.

The ``sqlite3 reviews.sqlite .recover`` shell command is not a way out everywhere (Debian 12's
sqlite3 3.40.1 answers "SQL logic error" and an empty file, even for a healthy store), so salvage
is a command of the project: ``reason4rec memory salvage OUT``.

Reading. The damaged file is opened read-only (``immutable`` when no write-ahead log lies beside
it, so not even a ``-shm`` file appears; ``mode=ro`` otherwise, so committed work still in the
log is read too), in one read transaction, and is never written. Each table is read in rowid
order, 256 rows a query; when a query reaches a damaged page, the rows from the last one read are
probed one rowid at a time (``rowid >= ?`` seeks, each landing on the page that rowid would be on)
until 256 rows in a row came back whole, then range scans go on. Every rowid up to the largest
any readable path names (the table's last page, its indexes) is probed, so a damaged leaf page
loses only the rows it held; a damaged interior page loses the rows under it.

How many rows the store held is counted through the table and each of its indexes (whichever
b-tree is whole gives the number), so the report says what was lost.

Writing. The rows go into a new :class:`~reason4rec.memory.store.ReviewStore` (its schema,
migrations and application id) built under a temporary name beside ``OUT`` and moved to ``OUT``
whole at the end: an interrupted salvage leaves no half store under that name. Every recovered
review is stored ``pending`` (see :meth:`ReviewStore.restore`): the vector memory beside the
damaged store holds summaries and profiles of reviews that may now be lost, and its profiles were
built from them, so nothing in it can be trusted to match; pending, the recovered reviews are
summarized again by ``memory build --rebuild`` (the Summarizer cache first, so no model runs for
the shipped data) and every profile is rebuilt from exactly what was recovered. Stale-profile
marks are not copied for the same reason (every profile is remade). A review whose user or item
row was lost recreates it from its ids (an item's title goes with its row).

Example:
    >>> report = salvage_store(Path("memory/reviews.sqlite"), Path("recovered.sqlite"))  # doctest: +SKIP
    >>> report.tables["reviews"].recovered, report.tables["reviews"].counted        # doctest: +SKIP
    (10253, 10261)
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Reason4RecError
from .store import _APPLICATION_ID, SCHEMA_VERSION, RestoreCounts, ReviewStore, StoreError

TABLES = ("users", "items", "reviews", "review_history")
"""What is salvaged; ``stale_profiles`` is bookkeeping that the rebuild remakes."""
_CHUNK = 256
_MAX_BLIND_PROBES = 100_000
"""Rowids probed past the last row read when no readable path names a larger one."""
_FIRST_ROWID = 1
"""SQLite numbers rows from 1 when, as in the store, no rowid is given."""


class SalvageError(Reason4RecError, RuntimeError):
    """Salvage cannot start (OUT exists, the source is missing or not a review store); says why."""


@dataclass(frozen=True, slots=True)
class TableSalvage:
    table: str
    recovered: int
    """Rows read whole and written to the new store."""
    read: int
    """Rows read from the damaged store (``read - recovered`` did not fit the schema)."""
    counted: int | None
    """Rows the damaged store holds, as its table or an index counts them (None: no b-tree of
    the table could be counted)."""


@dataclass(frozen=True, slots=True)
class SalvageReport:
    source: Path
    out: Path
    tables: dict[str, TableSalvage]
    written: RestoreCounts
    damaged: bool
    """Whether any read met a damaged page (False: the store was read whole)."""
    seconds: float

    @property
    def lost_reviews(self) -> int | None:
        reviews = self.tables["reviews"]
        return None if reviews.counted is None else max(reviews.counted - reviews.recovered, 0)


def salvage_store(source: Path, out: Path) -> SalvageReport:
    """Read every row of ``source`` it can and write them to a new store at ``out``.

    Raises:
        SalvageError: ``out`` exists, ``source`` is missing, not a SQLite file, or not a review
            store (checked before anything is written).
    """
    started = time.perf_counter()
    source, out = Path(source), Path(out).absolute()  # the report names it for a config file
    _check_out(out)
    db = _open_source(source)
    try:
        db.execute("BEGIN")  # one snapshot, even if another process writes meanwhile
        columns = _columns(db, source)
        tables: dict[str, TableSalvage] = {}
        rows: dict[str, list[dict[str, Any]]] = {}
        damaged = False
        for table in TABLES:
            read, hit_damage = _read_table(db, table, columns[table])
            rows[table], damaged = read, damaged or hit_damage
            tables[table] = TableSalvage(table, 0, len(read), _count(db, table))
    finally:
        db.close()
    written = _write(out, rows)
    recovered = {"users": written.users, "items": written.items, "reviews": written.reviews,
                 "review_history": written.history}
    tables = {name: TableSalvage(name, recovered[name], t.read, t.counted) for name, t in tables.items()}
    return SalvageReport(source, out, tables, written, damaged, time.perf_counter() - started)


def _check_out(out: Path) -> None:
    taken = [p for p in (out, *(out.with_name(out.name + s) for s in ("-wal", "-shm", "-journal"))) if p.exists()]
    if taken:
        raise SalvageError(f"{taken[0]} already exists: salvage writes a new store and never overwrites a file; "
                           "give a path that does not exist")


def _open_source(source: Path) -> sqlite3.Connection:
    if not source.is_file():
        raise SalvageError(f"no review store at {source} (check memory.store_path, --home or --config)")
    # immutable: no lock, no -shm, nothing beside the file changes; with a write-ahead log beside
    # it, read-only through the log (its committed transactions are part of the store)
    mode = "mode=ro" if source.with_name(source.name + "-wal").exists() else "immutable=1"
    try:
        db = sqlite3.connect(f"{source.resolve().as_uri()}?{mode}", uri=True, isolation_level=None)
    except sqlite3.Error as err:
        raise SalvageError(f"cannot open {source} read-only: {err}") from err
    try:
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        db.close()
        raise SalvageError(f"{source} cannot be read as a SQLite file ({err}): its first pages, which name "
                           "the tables, are damaged or it is not a store; restore a backup") from err
    if application_id != _APPLICATION_ID or "reviews" not in tables:
        db.close()
        raise SalvageError(f"{source} is not a reason4rec review store (application id {application_id:#x}, "
                           f"tables: {', '.join(sorted(tables)) or 'none'}): nothing to salvage")
    if version > SCHEMA_VERSION:
        db.close()
        raise SalvageError(f"{source} was written by a newer reason4rec (schema {version}; this one reads up to "
                           f"{SCHEMA_VERSION}): salvage it with that version")
    return db


def _columns(db: sqlite3.Connection, source: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table in TABLES:
        try:
            found[table] = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        except sqlite3.DatabaseError as err:
            raise SalvageError(f"cannot read the schema of {source} ({err}); restore a backup") from err
    return found


def _read_table(db: sqlite3.Connection, table: str, columns: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Every row of ``table`` that can be read, in rowid order; True when damage was met."""
    if not columns:
        return [], False
    names = ", ".join(f'"{c}"' for c in columns)
    scan = f"SELECT rowid, {names} FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT ?"
    found: dict[int, dict[str, Any]] = {}
    start, careful, whole, named, damaged = _FIRST_ROWID, False, 0, None, False

    def keep(row: tuple) -> None:
        found[row[0]] = dict(zip(columns, row[1:]))

    while True:
        if not careful:
            try:
                chunk = db.execute(scan, (start, _CHUNK)).fetchall()
            except sqlite3.DatabaseError:
                careful, whole, damaged = True, 0, True
                continue
            for row in chunk:
                keep(row)
            if len(chunk) < _CHUNK:
                break
            start = chunk[-1][0] + 1
            continue
        # careful: one seek per rowid, so a damaged page costs only the rows on it
        if named is None:
            named = _largest_named_rowid(db, table)
        last = max(found, default=0)
        if start > (max(named, last) if named is not None else last + _MAX_BLIND_PROBES):
            break
        try:
            row = db.execute(scan, (start, 1)).fetchone()
        except sqlite3.DatabaseError:
            start, whole = start + 1, 0
            continue
        if row is None:
            break
        keep(row)
        start, whole = row[0] + 1, whole + 1
        careful = whole < _CHUNK
    return [found[rowid] for rowid in sorted(found)], damaged


def _largest_named_rowid(db: sqlite3.Connection, table: str) -> int | None:
    """The largest rowid any readable path of ``table`` names: the table's own last page, and
    each index read as far as it goes, forwards and backwards (None: none could be read)."""
    named: list[int] = []
    try:
        largest = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
        named += [largest] if largest is not None else []
    except sqlite3.DatabaseError:
        pass
    for index, first_column in _indexes(db, table):
        for order in ("ASC", "DESC"):
            try:
                for (rowid,) in db.execute(f'SELECT rowid FROM {table} INDEXED BY "{index}" '
                                           f'ORDER BY "{first_column}" {order}'):
                    named.append(rowid)
            except sqlite3.DatabaseError:
                pass
    return max(named) if named else None


def _indexes(db: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(index, its first column) for each index of ``table`` that can be named."""
    found = []
    try:
        for (index,) in db.execute(f"SELECT name FROM pragma_index_list('{table}')").fetchall():
            first = db.execute(f"SELECT name FROM pragma_index_info('{index}') ORDER BY seqno LIMIT 1").fetchone()
            if first is not None and first[0] is not None:
                found.append((index, first[0]))
    except sqlite3.DatabaseError:
        pass
    return found


def _count(db: sqlite3.Connection, table: str) -> int | None:
    """How many rows ``table`` holds, by whichever of its b-trees (table, indexes) can be counted
    whole; None when none can."""
    counts = []
    for via in ["NOT INDEXED", *(f'INDEXED BY "{index}"' for index, _ in _indexes(db, table))]:
        try:
            counts.append(db.execute(f"SELECT count(*) FROM {table} {via}").fetchone()[0])
        except sqlite3.DatabaseError:
            continue
    return max(counts) if counts else None


def _write(out: Path, rows: dict[str, list[dict[str, Any]]]) -> RestoreCounts:
    """A new store under a temporary name beside ``out``, moved to ``out`` once whole."""
    partial = out.with_name(f".{out.name}.salvage-{os.getpid()}")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)  # our own name, from a salvage that was killed
    try:
        with ReviewStore(partial) as store:
            written = store.restore(rows["users"], rows["items"], rows["reviews"], rows["review_history"])
            store.check_integrity()
        _move_into_place(partial, out)
    except (StoreError, OSError) as err:
        raise SalvageError(f"could not write the salvaged store at {out}: {err}") from err
    finally:
        partial.unlink(missing_ok=True)
    return written


def _move_into_place(partial: Path, out: Path) -> None:
    """``partial`` becomes ``out``, which is never overwritten (a hard link fails if it exists)."""
    try:
        os.link(partial, out)
    except FileExistsError:
        raise SalvageError(f"{out} appeared while salvaging: it was not overwritten") from None
    except OSError:  # a file system without hard links
        if out.exists():
            raise SalvageError(f"{out} appeared while salvaging: it was not overwritten") from None
        os.replace(partial, out)

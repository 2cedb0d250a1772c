"""The vector memory: review summaries and user/item profiles in Chroma, searchable by meaning.

Three collections (prefix from config): ``<prefix>-summaries`` (id = review id; metadata user,
item, rating, time, summary version, revision), ``<prefix>-users`` and ``<prefix>-items`` (id =
user / item id; a :class:`~reason4rec.memory.profiles.Profile`). Every write is an upsert with a
deterministic id, so retries and graph resumes never duplicate.

Embedded mode (``PersistentClient``, the default) locks its folder for the process that opened
it (see :mod:`~reason4rec.memory.lock`), checks a marker file so a foreign folder is refused, and
checks the vector index files before Chroma reads them (see :mod:`.index_files`: a damaged index
crashes the native reader instead of raising); server mode (``HttpClient`` to ``chroma run``)
is for several processes. Chroma failures become :class:`VectorMemoryError` with what to do,
never a bare stack trace.

Example:
    >>> vectors = PreferenceMemory.open_local(Path("memory/chroma"), SentenceEmbedding(path))  # doctest: +SKIP
    >>> vectors.nearest("item", text="a quiet pedal for apartment practice", k=3)              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import Reason4RecError
from ._chroma import chromadb, settings
from .embedding import EMBEDDING_NAME, Documents, EmbeddingFunction, SentenceEmbedding
from .index_files import check_before_open, damaged_index_files, mark_closed, mark_open
from .lock import LOCK_FILE, OWNER_FILE, FolderLock
from .profiles import Profile, ProfileKind

MARKER_FILE = "reason4rec-memory.json"
FORMAT = 1
# HNSW search is approximate. On look-alike profiles (the tests' hashed words: most share all
# but one aspect) Chroma's defaults (ef 100 / 100) missed the exact best match in 3 of 15 builds
# of 1,010 profiles, these in 1 of 19; a memory holds thousands, where a wider search costs little
# and a missed neighbour is a missed recommendation. Set when a collection is created (a memory
# built before keeps its own until `memory build --rebuild`).
HNSW_CONFIGURATION = {"ef_construction": 200, "ef_search": 500}
_KINDS: tuple[ProfileKind, ...] = ("user", "item")


class VectorMemoryError(Reason4RecError, RuntimeError):
    """The vector memory cannot be opened, reached or used; the reviews themselves are safe."""


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    """One review's aspect summary as the memory keeps it."""

    review_id: str
    user_id: str
    item_id: str
    rating: float
    timestamp: int
    summary: str
    version: str
    revision: int = 1

    def metadata(self) -> dict[str, str | int | float]:
        return {"user_id": self.user_id, "item_id": self.item_id, "rating": self.rating,
                "timestamp": self.timestamp, "version": self.version, "revision": self.revision}


@dataclass(frozen=True, slots=True)
class Match:
    """A profile found by a semantic query; ``similarity`` is cosine similarity (1 = same)."""

    profile: Profile
    similarity: float


class PreferenceMemory:
    """Summaries and profiles in Chroma; open with :meth:`open_local` or :meth:`connect`.

    The constructor takes any Chroma client and any registered Chroma embedding function (the
    tests run it on an in-RAM ``EphemeralClient`` with a hashed bag of words, so a real memory
    needs no model). :meth:`open_local` and :meth:`connect` take the sentence model: an
    embedded folder's marker file records its name (:data:`EMBEDDING_NAME`).
    """

    def __init__(self, client: Any, embedding: EmbeddingFunction[Documents], prefix: str, where: str,
                 lock: FolderLock | None = None, folder: Path | None = None) -> None:
        self.embedding, self.where, self._client, self._lock = embedding, where, client, lock
        self._folder = folder  # an embedded memory's folder, whose index files verify() measures
        self._trusted = True  # no error so far: close() may record the index files as whole
        with self._errors("open"):
            make = lambda name: client.get_or_create_collection(  # noqa: E731
                f"{prefix}-{name}", embedding_function=embedding, metadata={"reason4rec_format": FORMAT},
                configuration={"hnsw": dict(HNSW_CONFIGURATION)})  # a copy: Chroma writes the space into it
            self._summaries = make("summaries")
            self._profiles = {"user": make("users"), "item": make("items")}
            self._batch = int(client.get_max_batch_size())

    # ------------------------------------------------------------------ opening
    @classmethod
    def open_local(cls, folder: Path, embedding: SentenceEmbedding, prefix: str = "reason4rec",
                   lock_timeout_s: float = 0.0, lock: FolderLock | None = None) -> PreferenceMemory:
        """Open (or create) an embedded memory folder, holding its lock until :meth:`close`.

        ``lock``: the folder's lock, already taken with :func:`lock_folder` (the memory takes it
        before anything slow or anything that changes state); it is released on failure or close.

        The vector index files are checked before Chroma reads them (a damaged one would crash
        this process in native code): against the hashes recorded at the last clean close, or,
        after a crash or for a folder from an earlier version, by a read in a child process
        (:func:`~reason4rec.memory.index_files.check_before_open`).
        """
        folder = Path(folder).expanduser()
        lock = lock or lock_folder(folder, lock_timeout_s)
        try:
            _claim_folder(folder)
            _check_index_files(folder)
            try:
                client = chromadb.PersistentClient(path=str(folder), settings=settings(is_persistent=True))
            except Exception as err:  # chromadb raises many kinds for a damaged folder
                _forget_failed_system(str(folder))
                raise VectorMemoryError(_damaged(str(folder), err)) from err
            return cls(client, embedding, prefix, str(folder), lock, folder=folder)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def connect(cls, url: str, embedding: SentenceEmbedding, prefix: str = "reason4rec") -> PreferenceMemory:
        """Use a Chroma server (``chroma run --path FOLDER --port 8001``) at ``url``."""
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise VectorMemoryError(f"memory.chroma_url must look like http://host:port, not {url!r}")
        try:
            client = chromadb.HttpClient(host=parsed.hostname, port=parsed.port or 8000,
                                         ssl=parsed.scheme == "https", settings=settings())
            client.heartbeat()
        except Exception as err:
            raise VectorMemoryError(f"cannot reach the Chroma server at {url}: {err} "
                                    "(start one with `chroma run --path FOLDER --port PORT`)") from err
        return cls(client, embedding, prefix, url)

    def close(self) -> None:
        """Stop the client and, for an embedded folder used without error, record its index files'
        hashes (Chroma has stopped: the files are final) so the next open can trust them."""
        try:
            if hasattr(self._client, "close"):
                self._client.close()
                if self._folder is not None and self._trusted and self._lock is not None and self._lock.held \
                        and _stopped(self._folder):
                    with suppress(OSError):  # if not, the manifest says "open": the next open reads in a child
                        mark_closed(self._folder)
        finally:
            if self._lock is not None:
                self._lock.release()

    # ------------------------------------------------------------------ summaries
    def upsert_summaries(self, records: Sequence[SummaryRecord]) -> None:
        for chunk in _chunks(records, self._batch):
            with self._errors("write summaries to"):
                self._summaries.upsert(ids=[r.review_id for r in chunk], documents=[r.summary for r in chunk],
                                       metadatas=[r.metadata() for r in chunk])

    def summaries(self, review_ids: Iterable[str]) -> dict[str, SummaryRecord]:
        """Stored summaries by review id (ids without one are simply absent)."""
        found: dict[str, SummaryRecord] = {}
        for chunk in _chunks(list(dict.fromkeys(review_ids)), self._batch):
            with self._errors("read summaries from"):
                rows = self._summaries.get(ids=chunk, include=["documents", "metadatas"])
            for rid, document, meta in zip(rows["ids"], rows["documents"], rows["metadatas"]):
                found[rid] = SummaryRecord(rid, meta["user_id"], meta["item_id"], float(meta["rating"]),
                                           int(meta["timestamp"]), document, meta["version"],
                                           int(meta.get("revision", 1)))
        return found

    # ------------------------------------------------------------------ profiles
    def upsert_profiles(self, profiles: Sequence[Profile]) -> None:
        for kind in _KINDS:
            chosen = [p for p in profiles if p.kind == kind]
            for chunk in _chunks(chosen, self._batch):
                with self._errors(f"write {kind} profiles to"):
                    self._profiles[kind].upsert(ids=[p.entity_id for p in chunk], documents=[p.text for p in chunk],
                                                metadatas=[p.metadata() for p in chunk])

    def profiles(self, kind: ProfileKind, ids: Iterable[str]) -> dict[str, Profile]:
        found: dict[str, Profile] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), self._batch):
            with self._errors(f"read {kind} profiles from"):
                rows = self._profiles[kind].get(ids=chunk, include=["documents", "metadatas"])
            found.update({pid: Profile.from_metadata(doc, meta)
                          for pid, doc, meta in zip(rows["ids"], rows["documents"], rows["metadatas"])})
        return found

    def profile_vector(self, kind: ProfileKind, entity_id: str) -> list[float] | None:
        with self._errors(f"read a {kind} profile from"):
            rows = self._profiles[kind].get(ids=[entity_id], include=["embeddings"])
        return [float(x) for x in rows["embeddings"][0]] if rows["ids"] else None

    def nearest(self, kind: ProfileKind, *, vector: Sequence[float] | None = None, text: str | None = None,
                k: int = 5, exclude: Iterable[str] = ()) -> list[Match]:
        """The ``k`` profiles closest to ``vector`` (or to the embedding of ``text``), nearest first."""
        if (vector is None) == (text is None):
            raise ValueError("give exactly one of vector or text")
        if vector is None:
            vector = self.embedding.embed_query([text])[0]
        exclude = sorted(set(exclude))
        collection = self._profiles[kind]
        with self._errors(f"search {kind} profiles in"):
            available = collection.count()  # excluded ids may not exist: ask for k, get what matches
            if available <= 0 or k <= 0:
                return []
            rows = collection.query(query_embeddings=[[float(x) for x in vector]], n_results=min(k, available),
                                    where={"entity_id": {"$nin": exclude}} if exclude else None,
                                    include=["documents", "metadatas", "distances"])
        return [Match(Profile.from_metadata(doc, meta), round(1.0 - float(distance), 4))
                for doc, meta, distance in zip(rows["documents"][0], rows["metadatas"][0], rows["distances"][0])]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.embedding(list(texts))]

    def verify(self) -> None:
        """Read one stored vector of each collection and find it again by similarity.

        Counts and ids live in Chroma's SQLite file and stay readable when the vector index
        files (HNSW, one folder per collection) are damaged; only reading vectors fails, or a
        search silently finds nothing. Checking on open turns that into one clear error. An
        embedded folder's index files are measured first (see :mod:`.index_files`): a read alone
        can pass on a truncated index.
        """
        if self._folder is not None:
            with self._errors("read the vector index files of"):
                problems = damaged_index_files(self._folder)
            if problems:
                self._trusted = False
                raise VectorMemoryError(_damaged(self.where, RuntimeError("; ".join(problems)),
                                                 "read the vector index files of"))
        collections = {"summaries": self._summaries, "user profiles": self._profiles["user"],
                       "item profiles": self._profiles["item"]}
        for name, collection in collections.items():
            with self._errors(f"read the {name} vectors of"):
                if collection.count() == 0:
                    continue
                vector = [float(x) for x in collection.get(limit=1, include=["embeddings"])["embeddings"][0]]
                found = collection.query(query_embeddings=[vector], n_results=1, include=["distances"])["ids"][0]
            if not found:
                self._trusted = False
                raise VectorMemoryError(_damaged(self.where, RuntimeError(f"a search of the {name} found nothing "
                                                                           "though it holds vectors"), "search"))

    def counts(self) -> dict[str, int]:
        with self._errors("count"):
            return {"summaries": self._summaries.count(), "user_profiles": self._profiles["user"].count(),
                    "item_profiles": self._profiles["item"].count()}

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except Reason4RecError:
            raise
        except Exception as err:
            self._trusted = False  # the index may be damaged: the next open reads it in a child process
            raise VectorMemoryError(_damaged(self.where, err, doing)) from err


def lock_folder(folder: Path, timeout_s: float = 0.0) -> FolderLock:
    """Take an embedded memory folder's lock (creating the folder on first use).

    Raises:
        VectorMemoryError: ``folder`` is a file.
        MemoryLockedError: another process has it open (after ``timeout_s``).
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise VectorMemoryError(f"memory path {folder} is a file, not a folder")
    return FolderLock(folder, timeout_s).acquire()


def _claim_folder(folder: Path) -> None:
    """Refuse a folder that holds something other than a reason4rec memory; mark a new one."""
    marker = folder / MARKER_FILE
    others = set(os.listdir(folder)) - {LOCK_FILE, OWNER_FILE, MARKER_FILE}
    if marker.is_file():
        try:
            found = json.loads(marker.read_text())
            ok = found.get("format") == FORMAT and found.get("embedding") == EMBEDDING_NAME
        except (OSError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise VectorMemoryError(f"{folder} holds a memory of another format or embedding "
                                    f"({marker.name}); use another memory.chroma_path or rebuild it")
    elif others:
        raise VectorMemoryError(f"{folder} is not a reason4rec memory folder (it holds other files and no "
                                f"{MARKER_FILE}); choose an empty folder for memory.chroma_path")
    else:
        marker.write_text(json.dumps({"format": FORMAT, "embedding": EMBEDDING_NAME}))


def _check_index_files(folder: Path) -> None:
    """Refuse a folder whose index files are damaged, then mark it open (see :mod:`.index_files`)."""
    try:
        problems = check_before_open(folder)
        if not problems:
            mark_open(folder)
    except OSError as err:
        raise VectorMemoryError(_damaged(str(folder), err, "check the vector index files of")) from err
    if problems:
        raise VectorMemoryError(_damaged(str(folder), RuntimeError("; ".join(problems)),
                                         "read the vector index files of"))


def _stopped(folder: Path) -> bool:
    """Has chromadb stopped its system for ``folder`` (no other client of this process keeps it)?"""
    from chromadb.api.shared_system_client import SharedSystemClient

    return str(folder) not in SharedSystemClient._identifier_to_system


def _forget_failed_system(path: str) -> None:
    """chromadb caches a client's system per path even when starting it failed, and every later
    client for that path then fails too ("no attribute 'bindings'"); drop the broken entry so a
    rebuilt folder can be opened in the same process."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)


def _damaged(where: str, err: Exception, doing: str = "open") -> str:
    detail = str(err) if len(str(err)) < 300 else str(err)[:300] + " ..."
    return (f"could not {doing} the vector memory at {where}: {type(err).__name__}: {detail}. The reviews are "
            "safe in the review store; `reason4rec memory build --rebuild` moves the damaged folder aside "
            "and rebuilds the memory from them")


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

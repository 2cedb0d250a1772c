"""Are an embedded Chroma folder's vector index files whole? Checked before Chroma reads them.

Chroma keeps each collection's vectors in an HNSW index, one folder per segment
(``header.bin``, ``data_level0.bin``, ``length.bin``, ``link_lists.bin`` and the id map
``index_metadata.pickle``), read by a native library that trusts them: a few KB of random bytes
or zeros in ``data_level0.bin`` or ``link_lists.bin`` crash the reading process (a segmentation
fault, no message, exit status 139), and a short file can answer a read as if it were whole. So
the files are checked before any Chroma client opens the folder, three ways:

* Sizes (:func:`damaged_index_files`): the header says how many elements the index holds and how
  many bytes each takes in ``data_level0.bin`` (vector, links and label), and ``length.bin``
  keeps one 4-byte norm per element; a file shorter than that lost elements. (Chroma may write
  them longer, up to the header's capacity.) Only header version 1 is read; another version is
  left to the other checks.
* A manifest (:data:`MANIFEST_FILE`, next to the segments): the process that has the folder open
  marks it ``"open"`` before Chroma starts, and on a clean close, once Chroma has stopped and the
  files are final, records every index file's size and SHA-256 with ``"state": "closed"``. Chroma
  writes these files only while a process has the folder open (it saves an index every
  ``sync_threshold`` vectors, not on close), so a closed folder whose files differ from the
  manifest was damaged: any changed, missing or new file is named (:func:`changed_files`).
* A read in a child process (:func:`probe_in_child`): when the manifest says ``"open"`` (its last
  holder died or failed) or there is none (a folder from an earlier version), the hashes prove
  nothing, so a child process opens the folder with Chroma and reads and searches one vector of
  each collection; a child killed by a signal or failing means the files are damaged, and this
  process never loaded them. (A read can miss damage a search does not reach; the hashes cannot.)

:func:`check_before_open` runs them in that order; :func:`mark_open` and :func:`mark_closed`
keep the manifest. The caller holds the folder's lock throughout.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

HEADER_FILE = "header.bin"
INDEX_FILES = (HEADER_FILE, "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle")
MANIFEST_FILE = "reason4rec-index.json"
MANIFEST_FORMAT = 1
PROBE_TIMEOUT_S = 120.0
_HEADER = struct.Struct("<I6QiI3QdQ")  # version, offsetLevel0, max_elements, count, element size, ...
_NORM_BYTES = 4
_CHUNK = 1 << 20
_NAMED = 3  # files named in one message; more are counted


# ------------------------------------------------------------------ the whole check
def check_before_open(folder: Path, probe_timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """One line per problem found in ``folder``'s index files (empty: safe to open with Chroma).

    Sizes first (precise messages, no hashing); then, if the manifest says the folder was closed
    cleanly, every file against its recorded hash; otherwise, if there are index files at all, a
    read in a child process. A new, empty folder costs nothing.
    """
    folder = Path(folder)
    problems = damaged_index_files(folder)
    if problems:
        return problems
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("state") == "closed":
        return changed_files(folder, manifest.get("files", {}))
    if not index_files(folder):
        return []
    return probe_in_child(folder, probe_timeout_s)


# ------------------------------------------------------------------ sizes
def damaged_index_files(folder: Path) -> list[str]:
    """One line per HNSW file under ``folder`` shorter than its header says (empty: all whole)."""
    problems: list[str] = []
    for header in sorted(Path(folder).glob(f"*/{HEADER_FILE}")):
        problems.extend(_check_segment(header.parent))
    return problems


def _check_segment(segment: Path) -> list[str]:
    raw = (segment / HEADER_FILE).read_bytes()
    if len(raw) < _HEADER.size:
        return [f"{segment.name}/{HEADER_FILE} is {len(raw)} bytes, shorter than an index header"]
    version, _, _, count, element_size, *_ = _HEADER.unpack_from(raw)
    if version != 1:
        return []
    problems = []
    for name, size in {"data_level0.bin": count * element_size, "length.bin": count * _NORM_BYTES}.items():
        path = segment / name
        found = path.stat().st_size if path.is_file() else None
        if found is None or found < size:
            what = "is missing" if found is None else f"is {found:,} bytes"
            problems.append(f"{segment.name}/{name} {what}; its header says {count:,} elements, {size:,} bytes")
    return problems


# ------------------------------------------------------------------ the manifest
def index_files(folder: Path) -> dict[str, Path]:
    """Every index file under ``folder`` by ``<segment>/<name>`` (segments are its subfolders)."""
    found: dict[str, Path] = {}
    for segment in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        for name in INDEX_FILES:
            if (segment / name).is_file():
                found[f"{segment.name}/{name}"] = segment / name
    return found


def fingerprint(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every index file under ``folder`` (about 30 ms per 35 MB)."""
    return {key: {"size": path.stat().st_size, "sha256": file_digest(path)}
            for key, path in index_files(folder).items()}


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def changed_files(folder: Path, recorded: dict[str, Any]) -> list[str]:
    """What differs between ``folder``'s index files and ``recorded`` (:func:`fingerprint` at the
    last clean close), as at most one line each for changed, missing and new files."""
    found = index_files(folder)
    changed, missing = [], []
    for key, expected in sorted(recorded.items()):
        path = found.get(key)
        if path is None:
            missing.append(key)
        elif not isinstance(expected, dict) or path.stat().st_size != expected.get("size") \
                or file_digest(path) != expected.get("sha256"):
            changed.append(key)
    extra = sorted(set(found) - set(recorded))
    lines = []
    for names, one, many in ((changed, "has changed", "have changed"), (missing, "was removed", "were removed"),
                             (extra, "appeared", "appeared")):
        if names:
            shown = ", ".join(names[:_NAMED]) + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")
            lines.append(f"{shown} {one if len(names) == 1 else many} since the memory was last closed")
    return lines


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest, or None when there is none or it cannot be read (then it proves nothing)."""
    try:
        found = json.loads((Path(folder) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("format") != MANIFEST_FORMAT:
        return None
    return found


def mark_open(folder: Path) -> None:
    """Record that a process has the folder open (its files may change): call before Chroma starts."""
    _write_manifest(Path(folder), {"format": MANIFEST_FORMAT, "state": "open", "pid": os.getpid()})


def mark_closed(folder: Path) -> None:
    """Record every index file's hash: call once Chroma has stopped and the files are final."""
    files = fingerprint(Path(folder))
    _write_manifest(Path(folder), {"format": MANIFEST_FORMAT, "state": "closed", "files": files})


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write atomically and durably: a temporary file, fsync, rename, fsync of the folder."""
    target = folder / MANIFEST_FILE
    temporary = folder / f".{MANIFEST_FILE}.tmp"
    with open(temporary, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# ------------------------------------------------------------------ the read in a child process
_PROBE = "import sys\nfrom reason4rec.memory.index_files import probe\nprobe(sys.argv[1])\n"


def probe_in_child(folder: Path, timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """Read and search one vector of each collection in a child process (about 1-2 s): a damaged
    index crashes the child, not this process. One line if it failed (empty: it read fine)."""
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE, str(folder)], capture_output=True, text=True,
                                timeout=timeout_s, env={**os.environ, "ORT_DISABLE_TELEMETRY": "1",
                                                        "ANONYMIZED_TELEMETRY": "False"})
    except subprocess.TimeoutExpired:
        return [f"reading its vectors in a separate process did not finish in {timeout_s:g} s"]
    if result.returncode < 0:
        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return [f"reading its vectors crashed a separate process ({name}): an index file is damaged"]
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        return [f"reading its vectors failed in a separate process: {last[:300]}"]
    return []


def probe(folder: str) -> None:
    """The child's side of :func:`probe_in_child`: open ``folder`` with Chroma, then get one vector
    of each collection and search for it. Collections are read through the client's server API
    by id, so no embedding function has to be rebuilt (none is needed to read stored vectors)."""
    from ._chroma import chromadb, settings

    client = chromadb.PersistentClient(path=folder, settings=settings(is_persistent=True))
    try:
        api = client._server
        for collection in api.list_collections():
            rows = api._get(collection.id, limit=1, include=["embeddings"])
            if not rows["ids"]:
                continue
            vector = [float(x) for x in rows["embeddings"][0]]
            found = api._query(collection.id, query_embeddings=[vector], n_results=1, include=["distances"])
            if not found["ids"] or not found["ids"][0]:
                raise RuntimeError(f"a search of {collection.name} found nothing though it holds vectors")
    finally:
        client.close()

"""Are an embedded Chroma folder's vector index files whole?

Chroma keeps each collection's vectors in an HNSW index, one folder per segment
(``header.bin``, ``data_level0.bin``, ``length.bin``, ``link_lists.bin``). Reading a damaged
index is not a reliable test: the index library reads a short file into a buffer without
complaint, and in a long-lived process that buffer may still hold another index's bytes, so a
truncated index can answer a read as if it were whole. The sizes are a reliable test: the header
says how many elements the index holds and how many bytes each takes in ``data_level0.bin``
(vector, links and label), and ``length.bin`` keeps one 4-byte norm per element; a file shorter
than that lost elements. (Chroma may write them longer, up to the header's capacity.)

Only the header version this was written against (1) is checked; a folder written by another
version is left to the read check in :meth:`~reason4rec.memory.vectors.PreferenceMemory.verify`.
"""

from __future__ import annotations

import struct
from pathlib import Path

HEADER_FILE = "header.bin"
_HEADER = struct.Struct("<I6QiI3QdQ")  # version, offsetLevel0, max_elements, count, element size, ...
_NORM_BYTES = 4


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

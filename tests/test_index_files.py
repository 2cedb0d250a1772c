"""The size check of Chroma's HNSW files, on a real index built by a process of its own."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reason4rec.memory.index_files import HEADER_FILE, damaged_index_files

# Chroma moves vectors from its log into the HNSW files from 1,000 on; 1,010 random vectors
# give one index that holds elements. Built in a child process: a process that wrote an index
# keeps it mapped, and truncating a mapped file would crash this one.
_BUILD = """
import sys, chromadb, numpy as np
client = chromadb.PersistentClient(path=sys.argv[1])
collection = client.create_collection("index-files", metadata={"hnsw:space": "cosine"})
vectors = np.random.default_rng(0).random((1010, 8))
for start in range(0, 1010, 505):
    collection.add(ids=[f"v{n}" for n in range(start, start + 505)], embeddings=vectors[start:start + 505].tolist())
"""


@pytest.fixture(scope="module")
def built_index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("index") / "chroma"
    subprocess.run([sys.executable, "-c", _BUILD, str(folder)], check=True, timeout=300)
    return folder


@pytest.fixture
def index(built_index: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a private copy of the folder, the segment folder whose header counts 1,010 elements)."""
    folder = shutil.copytree(built_index, tmp_path / "chroma")
    full = [h.parent for h in folder.glob(f"*/{HEADER_FILE}") if (h.parent / "data_level0.bin").stat().st_size > 8000]
    assert len(full) == 1
    return folder, full[0]


def test_a_whole_index_passes(index):
    folder, _ = index
    assert damaged_index_files(folder) == []


@pytest.mark.parametrize("name", ["data_level0.bin", "length.bin"])
def test_a_truncated_file_is_named_with_the_size_its_header_promises(index, name):
    folder, segment = index
    with (segment / name).open("r+b") as handle:
        handle.truncate(1000)
    (problem,) = damaged_index_files(folder)
    assert problem.startswith(f"{segment.name}/{name} is 1,000 bytes") and "1,010 elements" in problem


def test_missing_files_and_a_short_header_are_reported(index):
    folder, segment = index
    (segment / "data_level0.bin").unlink()
    assert damaged_index_files(folder) == [f"{segment.name}/data_level0.bin is missing; its header says "
                                           f"1,010 elements, {1010 * _element_size(segment):,} bytes"]
    (segment / HEADER_FILE).write_bytes(b"\x01\x00")
    assert damaged_index_files(folder) == [f"{segment.name}/{HEADER_FILE} is 2 bytes, shorter than an index header"]


def test_a_header_of_another_version_is_left_to_the_read_check(index):
    folder, segment = index
    header = bytearray((segment / HEADER_FILE).read_bytes())
    header[0] = 2
    (segment / HEADER_FILE).write_bytes(bytes(header))
    (segment / "data_level0.bin").unlink()
    assert damaged_index_files(folder) == []


def _element_size(segment: Path) -> int:
    return int.from_bytes((segment / HEADER_FILE).read_bytes()[28:36], "little")

"""A damaged vector index is refused before Chroma's native reader sees it: never a segfault.

Real embedded memories (Chroma on disk, the hashed-words embedding), built, opened and damaged
by processes of their own: reading a damaged index crashes the reading process, so every open of
one runs in a child, where a crash shows as a failed test rather than a dead pytest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import indexed_reviews
from test_cli import run_cli

from reason4rec.memory.index_files import MANIFEST_FILE, check_before_open, read_manifest

TESTS = str(Path(__file__).parent)
# Chroma saves a collection's vectors to its HNSW files from 1,000 on (fewer stay in its log), so
# 1,010 summaries and 1,010 user profiles: two segments whose files hold vectors.
BUILD = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from fakes import HashedWords
from reason4rec.memory.profiles import build_profile
from reason4rec.memory.vectors import PreferenceMemory, SummaryRecord
memory = PreferenceMemory.open_local(Path(sys.argv[2]), HashedWords())
memory.upsert_summaries([SummaryRecord(f"r{n}", f"U{n % 10}", f"I{n % 101}", 4.0, n,
                                       f"Positive Aspects: quiet tone{n % 7} word{n}", "lexicon-1")
                         for n in range(1010)])
memory.upsert_profiles([build_profile("user", f"U{n}", [(4.0, f"likes pedal{n % 13} and stand{n}")], recent=5)
                        for n in range(1010)])
memory.close()
"""
OPEN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from fakes import HashedWords
from reason4rec.memory.vectors import PreferenceMemory, VectorMemoryError
started = time.perf_counter()
try:
    memory = PreferenceMemory.open_local(Path(sys.argv[2]), HashedWords())
except VectorMemoryError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
opened = time.perf_counter() - started
memory.verify()
counts = memory.counts()
# HNSW search is approximate and its graph is built by several threads (what a search finds
# depends on the machine's load; on these look-alike profiles the exact match "U42" was missed in
# about one build in six): the ten found must each share a word with the query (88 profiles do,
# at a similarity of 0.2 or more; 922 share none), as an index read back whole finds and a garbled
# one does not
found = memory.nearest("user", text="likes pedal3 and stand42", k=10)
shares_a_word = len(found) == 10 and all(m.similarity > 0.2 for m in found)
near = "near" if shares_a_word else ",".join(f"{m.profile.entity_id}:{m.similarity}" for m in found)
summary = memory.summaries(["r77"])["r77"].summary
memory.close()
print(counts["summaries"], counts["user_profiles"], near, found[0].profile.entity_id, summary.split()[-1],
      round(opened, 3))
"""
WRITER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from fakes import HashedWords
from reason4rec.memory.vectors import PreferenceMemory, SummaryRecord
memory = PreferenceMemory.open_local(Path(sys.argv[2]), HashedWords())
memory.upsert_summaries([SummaryRecord(f"new{n}", "U1", "I1", 5.0, n, f"Positive Aspects: fresh{n}", "lexicon-1")
                         for n in range(5)])
print("written", flush=True)
time.sleep(300)
"""


def _python(code: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code, TESTS, str(folder)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def built_memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("built") / "chroma"
    result = _python(BUILD, folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def memory_folder(built_memory: Path, tmp_path: Path) -> Path:
    """A private copy of the built memory, closed cleanly by the process that built it."""
    return Path(shutil.copytree(built_memory, tmp_path / "chroma"))


def _segment(folder: Path, collection: str) -> Path:
    """The HNSW segment folder of ``reason4rec-<collection>``."""
    with sqlite3.connect(folder / "chroma.sqlite3") as db:
        (segment,) = db.execute("SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                                "WHERE s.scope = 'VECTOR' AND c.name = ?", (f"reason4rec-{collection}",)).fetchone()
    return folder / segment


def _overwrite(path: Path, data: bytes, offset: int | None = None) -> None:
    """dd conv=notrunc: ``data`` over the bytes at ``offset`` (default: the middle of the file)."""
    size = path.stat().st_size
    offset = (size // 2) // 4096 * 4096 if offset is None else offset
    assert offset + len(data) <= size
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _random_4k() -> bytes:
    return random.Random(7).randbytes(4096)  # the same bytes every run


def test_a_clean_close_records_every_index_file_and_a_reopen_reads_everything(memory_folder: Path):
    manifest = read_manifest(memory_folder)
    assert manifest is not None and manifest["state"] == "closed"
    summaries, users = _segment(memory_folder, "summaries"), _segment(memory_folder, "users")
    for segment in (summaries, users):
        for name in ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle"):
            recorded = manifest["files"][f"{segment.name}/{name}"]
            assert recorded["size"] == (segment / name).stat().st_size and len(recorded["sha256"]) == 64
    assert check_before_open(memory_folder) == []
    for _ in range(2):  # and the files a reading process leaves are recorded again at its close
        opened = _python(OPEN, memory_folder)
        assert opened.returncode == 0, opened.stderr
        counts_near_first_word = opened.stdout.split()[:5]
        assert counts_near_first_word[:3] == ["1010", "1010", "near"] and counts_near_first_word[4] == "word77"
        assert read_manifest(memory_folder)["state"] == "closed"
        assert check_before_open(memory_folder) == []


@pytest.mark.parametrize(("collection", "name", "damage"), [
    ("summaries", "data_level0.bin", "random"),  # the report: dd if=/dev/urandom ... conv=notrunc
    ("summaries", "link_lists.bin", "zeros"),
    ("users", "data_level0.bin", "random"),
])
def test_damage_to_a_closed_memory_is_refused_before_chroma_reads_it(memory_folder: Path, collection: str,
                                                                      name: str, damage: str):
    segment = _segment(memory_folder, collection)
    data = _random_4k() if damage == "random" else bytes(4096)
    _overwrite(segment / name, data, None if name == "data_level0.bin" else 4096)
    for _ in range(2):  # refused, and refused again: a refused open changes nothing
        opened = _python(OPEN, memory_folder)
        assert opened.returncode == 2, (opened.returncode, opened.stderr)  # -11 was a segmentation fault
        message = opened.stderr.strip()
        assert "\n" not in message and "Traceback" not in message
        assert f"{segment.name}/{name} has changed since the memory was last closed" in message
        assert "`reason4rec memory build --rebuild`" in message
        assert read_manifest(memory_folder)["state"] == "closed"


def test_a_missing_or_new_index_file_is_named(memory_folder: Path):
    summaries, users = _segment(memory_folder, "summaries"), _segment(memory_folder, "users")
    (summaries / "link_lists.bin").unlink()
    stray = memory_folder / "0123-stray-segment"
    stray.mkdir()
    shutil.copy(users / "length.bin", stray / "length.bin")
    assert check_before_open(memory_folder) == [
        f"{summaries.name}/link_lists.bin was removed since the memory was last closed",
        f"{stray.name}/length.bin appeared since the memory was last closed"]


def test_a_writer_killed_before_close_leaves_the_memory_open_and_the_next_open_reads_it_in_a_child(
        memory_folder: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, TESTS, str(memory_folder)], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    assert read_manifest(memory_folder)["state"] == "open"  # its hashes, if any, prove nothing now
    started = time.perf_counter()
    assert check_before_open(memory_folder) == []  # the read in a child process passes on whole files
    probe_s = time.perf_counter() - started
    opened = _python(OPEN, memory_folder)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split()[:3] == ["1015", "1010", "near"]  # the killed writer's rows are kept
    assert read_manifest(memory_folder)["state"] == "closed"
    print(f"child check: {probe_s:.2f} s")


def test_damage_after_a_crash_is_caught_by_the_read_in_a_child(memory_folder: Path):
    """No trusted hashes (the last holder died): the child that reads the index crashes, not us."""
    manifest = memory_folder / MANIFEST_FILE
    manifest.write_text(json.dumps({"format": 1, "state": "open", "pid": 1}))
    segment = _segment(memory_folder, "summaries")
    # the header's entry point (the element every search starts from) far past the last element:
    # damage that reliably crashes a search (random bytes may land where one read does not look)
    _overwrite(segment / "header.bin", struct.pack("<I", 0x7FFFFFF0), 56)
    opened = _python(OPEN, memory_folder)
    assert opened.returncode == 2, (opened.returncode, opened.stderr)
    message = opened.stderr.strip()
    assert "a separate process" in message and "`reason4rec memory build --rebuild`" in message
    manifest.unlink()  # a folder from an earlier version, without a manifest: the same
    assert "a separate process" in " ".join(check_before_open(memory_folder))


def test_a_new_folder_and_a_small_memory_open_and_are_recorded_at_close(tmp_path: Path):
    """What `memory build --rebuild` starts from: an empty folder (nothing to check), then a memory
    too small for Chroma to have saved vectors to its HNSW files."""
    folder = tmp_path / "fresh"
    built = _python(BUILD.replace("range(1010)", "range(12)"), folder)
    assert built.returncode == 0, built.stderr
    manifest = read_manifest(folder)
    assert manifest["state"] == "closed" and not any(k.endswith("index_metadata.pickle") for k in manifest["files"])
    assert check_before_open(folder) == []
    small = OPEN.replace("r77", "r7").replace("pedal3 and stand42", "pedal11 and stand11")
    opened = _python(small, folder)
    assert opened.returncode == 0, opened.stderr
    summaries, users, _, first, word = opened.stdout.split()[:5]  # twelve: searched exactly, not by HNSW
    assert (summaries, users, first, word) == ("12", "12", "U11", "word7")


def test_the_cli_reports_a_damaged_index_in_one_line_with_exit_status_2(memory_config, tmp_path: Path,
                                                                        write_config):
    """The report: random bytes dd'd into the middle of the largest data_level0.bin of a memory
    built by `reason4rec memory build`; every command that opens it said nothing and exited 139."""
    reviews = indexed_reviews(tmp_path / "reviews.jsonl")
    config_file = str(write_config(memory_config, tmp_path / "r4r.toml"))
    built = run_cli("memory", "build", "--reviews", str(reviews), "--category", "Musical Instruments", "--config",
                    config_file)
    assert built.returncode == 0, built.stderr
    largest = max(memory_config.chroma_path.glob("*/data_level0.bin"), key=lambda p: p.stat().st_size)
    _overwrite(largest, os.urandom(4096))
    commands = (["memory", "status"], ["memory", "search", "a quiet switch"], ["memory", "profile", "--user", "U1"])
    for command in commands:
        started = time.perf_counter()
        result = run_cli(*command, "--config", config_file)
        elapsed = time.perf_counter() - started
        said = " ".join(result.stderr.split())
        assert result.returncode == 2, (command, result.returncode, result.stderr)
        assert f"{largest.parent.name}/data_level0.bin has changed" in said and "memory build --rebuild" in said
        assert "Traceback" not in result.stderr and not result.stdout.strip()
        print(f"{' '.join(command)}: exit 2 in {elapsed:.2f} s")

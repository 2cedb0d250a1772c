"""The Chroma vector memory: embedded and server mode, registered embedding, bad folders."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reason4rec.memory.embedding import SentenceEmbedding
from reason4rec.memory.profiles import build_profile
from reason4rec.memory.vectors import MARKER_FILE, PreferenceMemory, SummaryRecord, VectorMemoryError

PEDAL = "Positive Aspects: quiet pedal, warm tone\nNegative Aspects: hum\nUser Preference Elements: pedal"
STAND = "Positive Aspects: sturdy stand\nNegative Aspects: none\nUser Preference Elements: stand, guitar"
STRINGS = "Positive Aspects: bright strings\nNegative Aspects: none\nUser Preference Elements: strings"


@pytest.fixture
def embedding(sentence_model_dir):
    return SentenceEmbedding(sentence_model_dir)


@pytest.fixture
def vectors(tmp_path, embedding):
    opened = PreferenceMemory.open_local(tmp_path / "chroma", embedding)
    yield opened
    opened.close()


def _summary(n: int, text: str = PEDAL, user: str = "U1") -> SummaryRecord:
    return SummaryRecord(f"r{n}", user, f"I{n}", 4.0, n, text, "lexicon-1")


def test_upserts_are_idempotent_and_reads_skip_missing_ids(vectors):
    vectors.upsert_summaries([_summary(1), _summary(2, STAND)])
    vectors.upsert_summaries([_summary(1), _summary(2, STAND)])  # a retry
    assert vectors.counts()["summaries"] == 2
    found = vectors.summaries(["r2", "missing", "r1"])
    assert set(found) == {"r1", "r2"} and found["r2"].summary == STAND and found["r1"].version == "lexicon-1"


def test_nearest_finds_by_meaning_and_excludes(vectors):
    vectors.upsert_profiles([build_profile("item", item, [(4.0, text)], recent=5)
                             for item, text in (("pedal", PEDAL), ("stand", STAND), ("strings", STRINGS))])
    best = vectors.nearest("item", text="a quiet effects pedal for apartment practice", k=3)
    assert next(m.profile.entity_id for m in best) == "pedal" and len(best) == 3
    assert best[0].similarity > best[-1].similarity
    without = vectors.nearest("item", text="a quiet effects pedal", k=10, exclude=["pedal", "nope"])
    assert {m.profile.entity_id for m in without} == {"stand", "strings"}
    near_stand = vectors.nearest("item", vector=vectors.profile_vector("item", "stand"), k=1)
    assert near_stand[0].profile.entity_id == "stand" and near_stand[0].similarity == pytest.approx(1.0, abs=1e-3)
    assert vectors.nearest("user", text="anything", k=3) == []  # no user profiles yet


def test_a_new_process_reopens_collections_with_the_registered_embedding(tmp_path, embedding):
    folder = tmp_path / "chroma"
    vectors = PreferenceMemory.open_local(folder, embedding)
    vectors.upsert_profiles([build_profile("item", "pedal", [(4.0, PEDAL)], recent=5),
                             build_profile("item", "stand", [(4.0, STAND)], recent=5)])
    vectors.close()
    # Plain chromadb, no embedding function passed: Chroma must rebuild ours from the collection's
    # config, not download its default ONNX model (HOME points to an empty folder to catch that).
    code = (
        "import sys\n"
        "import reason4rec.memory.embedding\n"
        "from reason4rec.memory._chroma import chromadb, settings\n"
        "client = chromadb.PersistentClient(path=sys.argv[1], settings=settings())\n"
        "collection = client.get_collection('reason4rec-items')\n"
        "print(type(collection.configuration['embedding_function']).__name__)\n"
        "print(collection.query(query_texts=['a sturdy guitar stand'], n_results=1)['ids'][0][0])\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SentenceEmbedding", "stand"]
    assert not (home / ".cache" / "chroma").exists()


def test_foreign_and_mismatched_folders_are_refused(tmp_path, embedding):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(VectorMemoryError, match="not a reason4rec memory folder"):
        PreferenceMemory.open_local(foreign, embedding)
    other = tmp_path / "other"
    other.mkdir()
    (other / MARKER_FILE).write_text('{"format": 99, "embedding": "someone-else"}')
    with pytest.raises(VectorMemoryError, match="another format or embedding"):
        PreferenceMemory.open_local(other, embedding)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(VectorMemoryError, match="is a file"):
        PreferenceMemory.open_local(a_file, embedding)
    # a refused open must not keep the lock
    PreferenceMemory.open_local(tmp_path / "fresh", embedding).close()


def test_a_damaged_folder_gives_a_clear_error(tmp_path, embedding):
    folder = tmp_path / "chroma"
    vectors = PreferenceMemory.open_local(folder, embedding)
    vectors.upsert_summaries([_summary(1)])
    vectors.close()
    (folder / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(VectorMemoryError, match="rebuild"):
        PreferenceMemory.open_local(folder, embedding).summaries(["r1"])


def test_bad_server_urls_and_dead_servers_are_clear_errors(embedding):
    with pytest.raises(VectorMemoryError, match="must look like"):
        PreferenceMemory.connect("ftp://somewhere", embedding)
    with pytest.raises(VectorMemoryError, match="cannot reach the Chroma server"):
        PreferenceMemory.connect(f"http://127.0.0.1:{_free_port()}", embedding)


WRITER = (
    "import sys\n"
    "from reason4rec.memory.embedding import SentenceEmbedding\n"
    "from reason4rec.memory.vectors import PreferenceMemory, SummaryRecord\n"
    "url, model, who = sys.argv[1:4]\n"
    "memory = PreferenceMemory.connect(url, SentenceEmbedding(model))\n"
    "for batch in range(10):\n"
    "    memory.upsert_summaries([SummaryRecord(f'{who}-{batch}-{n}', who, f'I{n}', 5.0, n,\n"
    "        f'Positive Aspects: {who} likes item {n} of batch {batch}', 'lexicon-1') for n in range(20)])\n"
    "print('done', flush=True)\n"
)


def test_server_mode_keeps_every_row_from_two_concurrent_writers(tmp_path, sentence_model_dir, embedding):
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    server = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        reader = _connect_when_up(url, embedding)
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(sentence_model_dir), who],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for who in ("alice", "bob")]
        for writer in writers:
            out, err = writer.communicate(timeout=300)
            assert writer.returncode == 0 and "done" in out, err
        assert reader.counts()["summaries"] == 2 * 10 * 20
        ids = [f"{who}-{b}-{n}" for who in ("alice", "bob") for b in range(10) for n in range(20)]
        assert len(reader.summaries(ids)) == 400
        rows = reader._summaries.get(ids=ids, include=["embeddings"])  # every vector readable
        assert len(rows["embeddings"]) == 400 and all(len(v) == 384 for v in rows["embeddings"])
        reader.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def _connect_when_up(url: str, embedding) -> PreferenceMemory:
    deadline = time.monotonic() + 60
    while True:
        try:
            return PreferenceMemory.connect(url, embedding)
        except VectorMemoryError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

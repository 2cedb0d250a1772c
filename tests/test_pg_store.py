"""The review store in PostgreSQL, against a real server (``tests/pg.py``): what only it has.

Schema versions and migrations (two processes at once), connection errors named by their
setting, writers in several processes at once, ``kill -9`` of a writer, the memory and its sync
on it, and the chat threads in LangGraph's PostgresSaver continued from another process. The
store's ordinary promises run against both backends in ``tests/test_store.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reason4rec.memory.pg_store import SCHEMA, SCHEMA_VERSION, PostgresReviewStore, migrate
from reason4rec.memory.reviews import StoreError

TESTS = Path(__file__).resolve().parent


def _sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# ------------------------------------------------------------------ schema versions
def test_an_empty_database_gets_the_versioned_schema_in_its_own_namespace(pg_url):
    with PostgresReviewStore(pg_url) as store:
        assert store.add("U1", "I1", 4, "Warm tone.").outcome == "created"
        assert store.where.endswith(pg_url.rsplit("/", 1)[1]) and "r4r-test-secret" not in store.where
    assert _sql(pg_url, f"SELECT version FROM {SCHEMA}.schema_version") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))}
    assert {"users", "items", "reviews", "review_history", "stale_profiles", "schema_version"} <= tables
    assert not _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")  # nothing elsewhere


def test_a_schema_of_another_version_is_refused_with_the_way_out(pg_url):
    PostgresReviewStore(pg_url).close()
    _sql(pg_url, f"UPDATE {SCHEMA}.schema_version SET version = 99")
    with pytest.raises(StoreError, match=r"schema version 99, from a newer reason4rec .* upgrade reason4rec"):
        PostgresReviewStore(pg_url)
    _sql(pg_url, f"UPDATE {SCHEMA}.schema_version SET version = 0")
    with pytest.raises(StoreError) as older:
        PostgresReviewStore(pg_url)
    message = str(older.value)
    assert "schema version 0" in message and "run `reason4rec memory migrate`" in message
    assert "r4r-test-secret" not in message and "memory.store_url" in message


def test_tables_that_are_not_ours_are_refused(pg_url):
    _sql(pg_url, f"CREATE SCHEMA {SCHEMA}; CREATE TABLE {SCHEMA}.reviews (x int)")
    with pytest.raises(StoreError, match="not a reason4rec review store"):
        PostgresReviewStore(pg_url)


def test_two_processes_migrating_at_once_one_waits_and_the_work_is_done_once(pg_url, monkeypatch):
    """A pretend version 2 whose migration takes a second: two migrations started together run
    one after the other (``pg_advisory_xact_lock``); the second finds the schema current."""
    from reason4rec.memory import pg_store

    PostgresReviewStore(pg_url).close()
    step = (f"ALTER TABLE {SCHEMA}.reviews ADD COLUMN helpful integer NOT NULL DEFAULT 0", "SELECT pg_sleep(1)")
    monkeypatch.setattr(pg_store, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(pg_store.MIGRATIONS, 2, step)
    with pytest.raises(StoreError, match="reason4rec memory migrate"):
        PostgresReviewStore(pg_url)  # an older schema is not migrated behind anyone's back
    results, spans = [], []

    def run() -> None:
        started = time.monotonic()
        results.append(migrate(pg_url))
        spans.append((started, time.monotonic()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=str) == [(1, 2), (2, 2)]  # one migrated, the other found it done
    assert max(end for _, end in spans) - min(start for start, _ in spans) >= 1.0
    assert _sql(pg_url, f"SELECT version FROM {SCHEMA}.schema_version") == [(2,)]
    with PostgresReviewStore(pg_url) as store:
        assert store.add("U1", "I1", 4, "fine").outcome == "created"


# ------------------------------------------------------------------ connection errors
def test_a_wrong_password_host_or_database_is_one_line_naming_the_setting(postgres_server):
    cases = {
        "password": postgres_server.url(password="not-the-password"),
        "port": "postgresql://reason4rec:pw@127.0.0.1:1/postgres",
        "database": postgres_server.url("no_such_database"),
        "host": "postgresql://reason4rec:pw@no-such-host.invalid:5432/postgres",
    }
    for case, url in cases.items():
        started = time.monotonic()
        with pytest.raises(StoreError) as refused:
            PostgresReviewStore(url, connect_timeout_s=2)
        message = str(refused.value)
        assert time.monotonic() - started < 10, case
        assert "\n" not in message and "memory.store_url" in message, message
        assert "not-the-password" not in message and ":pw@" not in message, message


# ------------------------------------------------------------------ several writers
WRITER = """
import json, sys
from reason4rec.memory.pg_store import PostgresReviewStore
url, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
outcomes = {}
with PostgresReviewStore(url) as store:
    for n in range(count):
        mine = store.add(f"{who}-U{n % 13}", f"I{n}", 1 + n % 5, f"{who} says item {n} is fine.")
        shared = store.add(f"shared-U{n % 5}", f"S{n % 10}", 1 + n % 5, f"take {n % 3} on S{n % 10}.")
        again = store.add(f"shared-U{n % 5}", "S-same", 4, "every writer says exactly this.")
        for result in (mine, shared, again):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
print(json.dumps(outcomes), flush=True)
"""


def test_writers_in_four_processes_at_once_lose_and_duplicate_nothing(pg_url):
    PostgresReviewStore(pg_url).close()  # the schema first, so the writers start together
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, pg_url, f"w{k}", "60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for k in range(4)]
    outcomes = []
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        outcomes.append(json.loads(out))
    with PostgresReviewStore(pg_url) as store:
        counts = store.counts()
        # 4 x 60 own reviews, 5 users x 10 shared items (each pair: n % 5, n % 10 -> 10 pairs), 5 "same" reviews
        assert counts["reviews"] == 4 * 60 + 10 + 5
        assert counts["pending"] == counts["reviews"]
        assert counts["users"] == 4 * 13 + 5 and counts["items"] == 60 + 10 + 1
        assert sum(o.get("created", 0) for o in outcomes) == counts["reviews"]
        for rid in [store.review_of(f"shared-U{u}", f"S{i}").review_id for u in range(5) for i in range(10)
                    if i % 5 == u]:
            review, history = store.get(rid), store.history(rid)
            assert [h["revision"] for h in history] == list(range(1, review.revision))  # no gap, no repeat
        same = [store.review_of(f"shared-U{u}", "S-same") for u in range(5)]
        assert all(r.revision == 1 and not store.history(r.review_id) for r in same)  # retries changed nothing


ADDER = """
import sys
from reason4rec.memory.pg_store import PostgresReviewStore
url = sys.argv[1]
with PostgresReviewStore(url) as store:
    n = 0
    while True:
        result = store.add(f"U{n % 17}", f"I{n}", 1 + n % 5, f"review number {n}: warm tone, quiet hum.",
                           item_title=f"Item {n}")
        print(result.review.review_id, flush=True)
        n += 1
"""


def test_kill_9_of_a_writer_mid_add_loses_nothing_and_sync_finishes(pg_url):
    """A writer adds reviews as fast as it can and is killed (SIGKILL) at an arbitrary moment,
    most likely inside a transaction: every review whose add returned is stored, whole, once;
    the one in flight is there whole or not at all; no lock is left; a sync finishes them all."""
    from fakes import HashedWords

    from reason4rec.memory._chroma import chromadb, settings
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer
    from reason4rec.memory.vectors import PreferenceMemory

    PostgresReviewStore(pg_url).close()
    writer = subprocess.Popen([sys.executable, "-c", ADDER, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    returned = []
    for line in writer.stdout:
        returned.append(line.strip())
        if len(returned) == 150:
            time.sleep(0.0123)  # somewhere inside a later add
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait(timeout=60)
    returned += [line.strip() for line in writer.stdout.read().splitlines() if line.strip()]
    assert writer.returncode == -9
    store = PostgresReviewStore(pg_url, timeout_s=5)
    counts = store.counts()
    assert len(returned) <= counts["reviews"] <= len(returned) + 1  # the add in flight: all or nothing
    assert {store.get(rid).review_id for rid in returned} == set(returned)
    assert counts["items"] == counts["reviews"]  # each item came with its review, in its transaction
    orphans = _sql(pg_url, f"SELECT count(*) FROM {SCHEMA}.reviews r LEFT JOIN {SCHEMA}.items i USING (item_id) "
                   "WHERE i.item_id IS NULL")
    assert orphans == [(0,)]
    assert store.add("U0", "I0", 2, "changed my mind after the crash.").outcome == "replaced"  # no lock left behind
    client = chromadb.EphemeralClient(settings())
    memory = Memory(store, PreferenceMemory(client, HashedWords(), "pgkill", where="RAM"), batch_size=64)
    try:
        report = memory.sync(LexiconSummarizer())
        assert report.left_pending == 0 and store.counts()["pending"] == 0
        assert store.counts()["stale_profiles"] == 0
        assert len(memory.vectors.summaries(store.get(rid).review_id for rid in returned)) == len(returned)
        assert memory.vectors.counts()["summaries"] == store.counts()["reviews"]
    finally:
        for name in ("summaries", "users", "items"):
            client.delete_collection(f"pgkill-{name}")
        memory.close()


def test_profiles_marked_by_another_writer_meanwhile_stay_stale(pg_url):
    """Marks are sequence numbers: a profile marked again after a refresher read it stays stale
    after the refresher clears what it read (clocks of several machines never matter)."""
    with PostgresReviewStore(pg_url) as one, PostgresReviewStore(pg_url) as other:
        a = one.add("U1", "B01", 4, "good").review
        one.mark_summarized([a], "v1")
        read = one.stale_profiles()
        b = other.add("U2", "B01", 5, "great").review
        other.mark_summarized([b], "v1")
        one.clear_stale(read)
        assert [(kind, eid) for kind, eid, _ in one.stale_profiles()] == [("item", "B01"), ("user", "U2")]


# ------------------------------------------------------------------ the memory on PostgreSQL
def test_memory_open_uses_postgresql_when_store_url_is_set(pg_url, tmp_path, sentence_model_dir):
    from reason4rec.config import load_config
    from reason4rec.experts.model.sentence_model import MODEL_DIR
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / MODEL_DIR).symlink_to(sentence_model_dir, target_is_directory=True)
    config = load_config(overrides={"home": tmp_path, "memory": {"store_url": pg_url}})
    with Memory.open(config) as memory:
        result = memory.add_review("U1", "I1", 5, "Warm tone and a quiet hum.", summarizer=LexiconSummarizer())
        assert not result.pending and result.summary
        status = memory.status()
        assert status["store"].startswith("postgresql://reason4rec:***@") and status["reviews"] == 1
    assert not (tmp_path / "memory" / "reviews.sqlite").exists()


# ------------------------------------------------------------------ chat threads
THREAD = """
import json, sys
sys.path.insert(0, sys.argv[2])
from fakes import CATALOG, FakeBackend
from reason4rec.agent import Agent, AgentContext, build_graph
from reason4rec.agent.session import open_checkpointer
from reason4rec.memory._chroma import chromadb, settings
from reason4rec.memory.service import Memory
from reason4rec.memory.store import ReviewStore
from reason4rec.memory.summarizers import LexiconSummarizer
from reason4rec.memory.vectors import PreferenceMemory
from fakes import HashedWords

url, folder, step = sys.argv[1], sys.argv[3], sys.argv[4]
memory = Memory(ReviewStore(folder + "/reviews.sqlite"),
                PreferenceMemory(chromadb.EphemeralClient(settings()), HashedWords(), "t", where="RAM"))
memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
saver = open_checkpointer(url)
agent = Agent(AgentContext(memory, FakeBackend(), CATALOG.category, history_k=3, candidates=3),
              graph=build_graph(saver))
user = CATALOG.reviews[0].user_id
if step == "first":
    state = agent.profile(user, thread_id="across-processes")
else:
    state = agent.profile(None, thread_id="across-processes")  # the thread remembers the user
print(json.dumps({"user": state.get("user_id"), "turns": state.get("turns"), "error": state.get("error")}))
saver.conn.close()
"""


def test_a_chat_thread_continues_from_another_process_through_postgresql(pg_url, tmp_path):
    runs = []
    for step in ("first", "second"):
        done = subprocess.run([sys.executable, "-c", THREAD, pg_url, str(TESTS), str(tmp_path), step],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["error"] is None and second["error"] is None
    assert second["user"] == first["user"] and second["turns"] == first["turns"] + 1
    tables = {row[0] for row in _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"} <= tables


def test_two_checkpointers_setting_up_at_once_both_succeed(pg_url):
    from reason4rec.agent.session import open_checkpointer

    savers, errors = [], []

    def open_one() -> None:
        try:
            savers.append(open_checkpointer(pg_url))
        except Exception as err:  # pragma: no cover - what the test is about
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(savers) == 3
    for saver in savers:
        saver.conn.close()


def test_a_wrong_checkpoint_url_is_one_line_naming_its_setting(postgres_server):
    from reason4rec.agent.session import open_checkpointer
    from reason4rec.errors import Reason4RecError

    with pytest.raises(Reason4RecError) as refused:
        open_checkpointer(postgres_server.url(password="nope-nope"), 2)
    assert "agent.checkpoint_url" in str(refused.value) and "nope-nope" not in str(refused.value)


# ------------------------------------------------------------------ the command line
def _cli(*args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REASON4REC_")}
    full |= {"COLUMNS": "200", "HF_HUB_OFFLINE": "1", "REASON4REC_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "reason4rec", *args], capture_output=True, text=True, env=full,
                          timeout=300, input="")


@pytest.mark.parametrize("setting", ["memory.store_url", "agent.checkpoint_url"])
def test_a_wrong_password_is_one_line_naming_the_setting_before_any_model_for_every_command(
        postgres_server, tmp_path, setting):
    """Every command that opens the store or the threads: one line, exit status 2, in seconds,
    the password never shown, nothing created (the home stays without a memory or a model)."""
    bad = postgres_server.url(password="wrong-secret-x")
    variable = "REASON4REC_" + setting.upper().replace(".", "__")
    commands = [("why", "--user", "U", "--item", "I"), ("recommend", "--user", "U"), ("chat", "--user", "U")]
    if setting == "memory.store_url":
        commands += [("memory", "status"), ("memory", "sync"), ("memory", "migrate"), ("demo",),
                     ("memory", "add-review", "--user", "U", "--item", "I", "--rating", "4", "--text", "Fine.")]
    for command in commands:
        started = time.monotonic()
        done = _cli(*command, env={variable: bad}, home=tmp_path / "home")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (command, done.stdout[-500:], done.stderr[-1500:])
        said = lines[0].replace("the review was not stored: ", "")  # add-review says what it did not do
        assert said.startswith("error: cannot connect to PostgreSQL") and setting in lines[0], lines[0]
        assert "wrong-secret-x" not in done.stdout + done.stderr
        assert time.monotonic() - started < 60, command  # no model was loaded (that takes minutes)
    assert not (tmp_path / "home" / "models").exists() and not (tmp_path / "home" / "memory").exists()


def test_doctor_names_each_part_and_exits_2_when_one_fails(pg_url, postgres_server, tmp_path):
    home = tmp_path / "home"
    ok = _cli("doctor", env={"REASON4REC_MEMORY__STORE_URL": pg_url, "REASON4REC_AGENT__CHECKPOINT_URL": pg_url},
              home=home)
    lines = {line.split()[1] + " " + line.split()[2]: line for line in ok.stdout.splitlines()
             if line.startswith(("ok ", "FAILED "))}
    assert lines["review store"].startswith("ok ") and "empty: the schema is created on first use" in ok.stdout
    assert lines["chat threads"].startswith("ok ") and "r4r-test-secret" not in ok.stdout
    assert lines["sentence model"].startswith("FAILED") and ok.returncode == 2  # a bare home: not fetched
    current = _cli("memory", "migrate", env={"REASON4REC_MEMORY__STORE_URL": pg_url}, home=home)
    assert current.returncode == 0 and f"created the schema (version {SCHEMA_VERSION})" in current.stdout
    _sql(pg_url, f"UPDATE {SCHEMA}.schema_version SET version = 99")
    newer = _cli("doctor", env={"REASON4REC_MEMORY__STORE_URL": pg_url}, home=home)
    assert "FAILED  review store" in newer.stdout and "upgrade reason4rec" in newer.stdout
    refused = _cli("memory", "migrate", env={"REASON4REC_MEMORY__STORE_URL": pg_url}, home=home)
    assert refused.returncode == 2 and "from a newer reason4rec" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    down = _cli("doctor", "--remote", "http://127.0.0.1:9/v1",
                env={"REASON4REC_MEMORY__STORE_URL": postgres_server.url(password="nope-nope"),
                     "REASON4REC_MEMORY__CHROMA_URL": "http://127.0.0.1:9"}, home=home)
    assert down.returncode == 2 and "Traceback" not in down.stdout + down.stderr
    failed = [line for line in down.stdout.splitlines() if line.startswith("FAILED")]
    assert {line.split()[1] for line in failed} >= {"review", "vector", "expert"} and "nope-nope" not in down.stdout

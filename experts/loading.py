"""Where the experts run, decided in one place: a remote server, or a local engine built from the
configuration and a set of adapter folders (:func:`open_backend`).

``agent.backend`` picks the engine: ``auto`` runs the compiled engine (llama.cpp) on a CPU when it
is installed and transformers on a GPU; ``llamacpp`` / ``transformers`` ask for one. When the
engine is missing or cannot load, one line says so and transformers is used: the answers are the
same, only slower.

Callers that need the prompt sizes too (nearly all) use :func:`open_experts`, and read what they
show of a backend from :class:`LoadedExperts`, never from ``backend.experts``.

Example:
    >>> backend = local_backend(load_config(), shipped_adapter_dirs())  # doctest: +SKIP
    >>> loaded = open_experts(load_config(), shipped_adapter_dirs())    # doctest: +SKIP
    >>> loaded.shape.history_k, loaded.names                            # doctest: +SKIP
    (3, ('summarizer', 'reasoner', 'predictor'))
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import Config, Expert
from .backend import Backend, LocalBackend
from .model.adapters import ExpertModel, PromptShape, prompt_shape
from .model.base_model import LoadedModel, load_base_model
from .model.bundled import StatusCallback

logger = logging.getLogger(__name__)

Engine = Literal["llamacpp", "transformers"]


def fresh_base(config: Config, load_in_4bit: bool | None = None,
               status: StatusCallback | None = None) -> LoadedModel:
    """A newly loaded base model (training injects LoRA layers, so it never reuses one)."""
    settings = config.base_model
    if load_in_4bit is not None and load_in_4bit != settings.load_in_4bit:
        settings = settings.model_copy(update={"load_in_4bit": load_in_4bit})
    return load_base_model(settings, home=config.home, status=status)


def local_backend(config: Config, adapters: Mapping[Expert, Path], batch_size: int = 8,
                  status: StatusCallback | None = None, engine: Engine | None = None):
    """Load the base once with ``adapters`` (expert name -> folder) on the configured engine.

    Returns a :class:`LocalBackend` or a :class:`~reason4rec.experts.engines.llamacpp.LlamaCppBackend`;
    both hold ``experts`` (cards, versions, tokenizer, base) and implement ``complete``.
    """
    say = status or (lambda message: None)
    chosen = engine or choose_engine(config)
    if chosen == "llamacpp":
        from .engines.engine_files import ExportError
        from .engines.llamacpp import EngineError, open_llamacpp_backend

        try:
            return open_llamacpp_backend(config, adapters, batch_size=batch_size, status=status)
        except (EngineError, ExportError, ImportError, OSError) as err:
            message = f"compiled engine unavailable ({_one_line(err)}); using transformers"
            say(message)
            logger.warning(message)  # the status line is often a spinner's, gone at once: this one stays
    return transformers_backend(config, adapters, batch_size=batch_size, status=status)


@dataclass(frozen=True, slots=True)
class LoadedExperts:
    """A local backend with what callers read off it: the prompt sizes its adapters were trained
    with (inference must use the same), its experts' names and its base model in one line."""

    backend: Any
    """A :class:`LocalBackend` or a :class:`~reason4rec.experts.engines.llamacpp.LlamaCppBackend`."""
    shape: PromptShape
    names: tuple[Expert, ...]
    base: str
    files: Path | None = None
    """The folder of the compiled engine's GGUF files (None on transformers)."""

    @classmethod
    def of(cls, backend: Any, default_history_k: int = 10) -> LoadedExperts:
        """Read a loaded local backend (either engine): its cards say the prompt sizes."""
        experts = backend.experts
        file = getattr(experts.base, "file", None)
        return cls(backend, prompt_shape(experts.cards, default_history_k), tuple(experts.names),
                   experts.base.describe(), file.parent if file is not None else None)


def open_experts(config: Config, adapters: Mapping[Expert, Path], batch_size: int = 8,
                 status: StatusCallback | None = None) -> LoadedExperts:
    """:func:`local_backend` with its prompt sizes (history K defaults to ``data.history_k``)."""
    backend = local_backend(config, adapters, batch_size=batch_size, status=status)
    return LoadedExperts.of(backend, config.data.history_k)


def open_backend(config: Config, status: StatusCallback | None = None) -> tuple[Backend, PromptShape]:
    """The configured backend and the prompt sizes its adapters were trained with (inference must
    use the same): the one place that decides where the experts run. ``agent.backend = "remote"``
    is a server at ``agent.remote_url`` (it holds the weights; the adapter cards here still say
    the prompt sizes); anything else a local engine (:func:`choose_engine`)."""
    from .shipping import adapter_dirs

    settings = config.agent
    dirs = adapter_dirs(settings.adapters, with_one_step=False)
    if settings.backend == "remote":
        from .engines.remote import RemoteBackend, RemoteSettings
        from .model.adapters import AdapterCard

        shape = prompt_shape({name: AdapterCard.load(folder) for name, folder in dirs.items()},
                             config.data.history_k)
        return RemoteBackend(RemoteSettings(base_url=settings.remote_url, api_key=settings.remote_api_key)), shape
    local = open_experts(config, dirs, batch_size=settings.batch_size, status=status)
    return local.backend, local.shape


def shape_of(backend: Backend, default_history_k: int) -> PromptShape | None:
    """The prompt sizes a ready-made backend's own adapter cards say (a local engine's), or None
    for one that carries no cards (a remote client, a script's or a test's own backend)."""
    if getattr(backend, "experts", None) is None:
        return None
    return LoadedExperts.of(backend, default_history_k).shape


def transformers_backend(config: Config, adapters: Mapping[str, Path], batch_size: int = 8,
                         status: StatusCallback | None = None) -> LocalBackend:
    """transformers + peft in this process (the reference backend; the one training uses)."""
    from .shipping import learnt_vocabulary

    return LocalBackend(ExpertModel.load(fresh_base(config, status=status), adapters), batch_size=batch_size,
                        vocabulary=learnt_vocabulary(adapters))


def choose_engine(config: Config) -> Engine:
    """The engine ``agent.backend`` asks for; ``auto`` = llama.cpp on a CPU when it imports."""
    asked = config.agent.backend
    if asked == "transformers":
        return "transformers"
    if asked == "llamacpp":
        return "llamacpp"
    if config.base_model.load_in_4bit or config.base_model.device not in ("auto", "cpu"):
        return "transformers"
    if config.base_model.device == "auto" and _gpu_present():
        return "transformers"
    from .engines.llamacpp import engine_available

    return "llamacpp" if engine_available() is None else "transformers"


def _gpu_present() -> bool:
    """Whether torch finds a CUDA (or ROCm) GPU. On Linux torch is asked only where a GPU driver
    is: importing it costs every fresh CPU process over a second."""
    if sys.platform.startswith("linux") and not (Path("/proc/driver/nvidia/version").exists()
                                                 or Path("/dev/kfd").exists() or Path("/dev/nvidiactl").exists()):
        return False
    import torch

    return bool(torch.cuda.is_available())


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__

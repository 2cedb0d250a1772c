"""Build a ready :class:`LocalBackend` from the configuration and a set of adapter folders.

Example:
    >>> backend = local_backend(load_config(), shipped_adapter_dirs())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..config import Config
from .adapters import ExpertModel
from .backend import LocalBackend
from .base_model import LoadedModel, load_base_model
from .bundled import StatusCallback


def fresh_base(config: Config, load_in_4bit: bool | None = None,
               status: StatusCallback | None = None) -> LoadedModel:
    """A newly loaded base model (training injects LoRA layers, so it never reuses one)."""
    settings = config.base_model
    if load_in_4bit is not None and load_in_4bit != settings.load_in_4bit:
        settings = settings.model_copy(update={"load_in_4bit": load_in_4bit})
    return load_base_model(settings, home=config.home, status=status)


def local_backend(config: Config, adapters: Mapping[str, Path], batch_size: int = 8,
                  status: StatusCallback | None = None) -> LocalBackend:
    """Load the base once and attach ``adapters`` (expert name -> folder)."""
    return LocalBackend(ExpertModel.load(fresh_base(config, status=status), adapters), batch_size=batch_size)

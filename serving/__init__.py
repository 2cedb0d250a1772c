"""The experts behind an OpenAI-compatible HTTP API (``reason4rec serve``).

The served model name selects the adapter (``summarizer``, ``reasoner``, ``predictor``), as with
``vllm serve BASE --enable-lora --lora-modules NAME=DIR ...``, so
:class:`~reason4rec.experts.engines.remote.RemoteBackend` talks to either unchanged. See docs/serving.md.

Example:
    >>> from reason4rec.serving import serve
    >>> serve(load_config(), host="127.0.0.1", port=8000, api_key=None)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .security import ServeError
from .server import READY, serve

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["READY", "ServeError", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # FastAPI is imported only when an app is made
        from .app import create_app

        return create_app
    raise AttributeError(name)

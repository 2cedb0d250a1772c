"""Import chromadb with its phone-home switches off (import this before chromadb, always).

onnxruntime, which chromadb pulls in, sends telemetry from native code unless
``ORT_DISABLE_TELEMETRY`` is set before it loads; Chroma's own product telemetry is turned off
per client with ``Settings(anonymized_telemetry=False)`` (see :func:`settings`).
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb
from chromadb.config import Settings


def settings(**values) -> Settings:
    """Client settings: telemetry off, and no ``reset()`` that could wipe a memory by accident."""
    return Settings(anonymized_telemetry=False, allow_reset=False, **values)


__all__ = ["chromadb", "settings"]

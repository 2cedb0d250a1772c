"""The sentence-transformers embedding function of the vector memory, registered with Chroma.

Registered under :data:`EMBEDDING_NAME` with a config that names the model folder, so a new
process (or ``chroma`` tooling) can rebuild it from the collection alone, and Chroma never falls
back to downloading its default ONNX model. The model is the bundled all-MiniLM-L6-v2 (no hub);
it is loaded on the first embedding, not on open, because importing sentence-transformers takes
seconds and id lookups need no vectors.

Example:
    >>> embed = SentenceEmbedding("/path/to/all-minilm-l6-v2")   # doctest: +SKIP
    >>> len(embed(["a quiet pedal"])[0])                          # doctest: +SKIP
    384
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from ..errors import Reason4RecError
from ._chroma import chromadb  # noqa: F401  (sets the telemetry switches before chromadb loads)

EMBEDDING_NAME = "reason4rec-sentence-transformers"

_MODELS: dict[tuple[str, str], Any] = {}
_LOAD_LOCK = threading.Lock()


class EmbeddingError(Reason4RecError, RuntimeError):
    """The embedding model is missing or failed to load."""


@register_embedding_function
class SentenceEmbedding(EmbeddingFunction[Documents]):
    """Normalised sentence-transformers vectors from a local model folder (cosine space)."""

    def __init__(self, model_path: str | Path, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_path = str(model_path)
        self.device = device
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> Embeddings:
        vectors = self.model().encode(list(input), batch_size=self.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
        return list(vectors)

    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (one per folder and device in this process)."""
        key = (self.model_path, self.device)
        with _LOAD_LOCK:
            if key not in _MODELS:
                if not (Path(self.model_path) / "config.json").is_file():
                    raise EmbeddingError(f"no sentence-transformers model in {self.model_path} "
                                         "(run `reason4rec memory build` to fetch the bundled one)")
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                _MODELS[key] = SentenceTransformer(self.model_path, device=self.device)
            return _MODELS[key]

    @staticmethod
    def name() -> str:
        return EMBEDDING_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "device": self.device, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> SentenceEmbedding:
        SentenceEmbedding.validate_config(config)
        return SentenceEmbedding(config["model_path"], config.get("device", "cpu"), config.get("batch_size", 64))

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if not isinstance(config.get("model_path"), str):
            raise ValueError("the reason4rec embedding config needs a model_path")

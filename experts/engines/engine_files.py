"""The compiled engine's files: exported once per base, quantization and adapter, kept under home.

``<home>/models/engine/<base folder>-<base id>/`` holds ``base-<quant>.gguf``, one
``lora-<adapter version>.gguf`` per expert and, in merged mode, ``merged-<adapter version>-<quant>.gguf``.
The adapter version is ``<expert>-<prompt version>-<weights hash>`` (the card's fingerprint), so a
retrained or re-shipped adapter gets a new file; files of versions older than the two most
recently used are removed. ``manifest.json``
(written after each file lands, files renamed into place when complete) records every file's
size: a truncated or missing file is reported in one line and rebuilt; a folder that is not ours,
or of another export version, is refused until ``reason4rec model export --rebuild``.

Example:
    >>> files = ensure_engine_files(home, model_dir, {"reasoner": folder}, "q8_0", "lora")  # doctest: +SKIP
    >>> files.base.name                                                                      # doctest: +SKIP
    'base-q8_0.gguf'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...config import Expert
from ..model.adapters import adapter_version
from .gguf_export import ExportError, LoraWeights, Quant, write_base_gguf, write_lora_gguf

EngineMode = Literal["lora", "merged"]
FORMAT = "reason4rec-engine-export"
VERSION = 1
MANIFEST = "manifest.json"
KEEP_VERSIONS = 2
"""Adapter versions per expert whose files are kept: the one in use and the last one used before."""
GGUF_MAGIC = b"GGUF"

StatusCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class EngineFiles:
    """Where the engine's models are: the base with LoRA files, or one merged file per expert."""

    folder: Path
    quant: Quant
    mode: EngineMode
    base: Path | None
    loras: dict[Expert, Path]
    merged: dict[Expert, Path]


def base_id(model_dir: Path) -> str:
    """Identity of a base checkpoint: its config and the name, size and time of its weight files."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for file in sorted(model_dir.glob("*.safetensors")):
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def export_folder(home: Path, model_dir: Path) -> Path:
    return home / "models" / "engine" / f"{model_dir.name}-{base_id(model_dir)}"


def ensure_engine_files(home: Path, model_dir: Path, adapters: Mapping[Expert, Path], quant: Quant,
                        mode: EngineMode, *, rebuild: bool = False,
                        status: StatusCallback | None = None) -> EngineFiles:
    """Export what is missing, damaged or stale (under a lock); return the files to load.

    Raises:
        ExportError: the folder is not ours or of another export version (and ``rebuild`` is off),
            or the base or an adapter cannot be exported.
    """
    from filelock import FileLock

    say = status or (lambda message: None)
    folder = export_folder(home, Path(model_dir))
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=1800):
        manifest = _open_manifest(folder, rebuild)
        wanted: dict[str, Callable[[Path], None]] = {}
        base = loras = None
        merged: dict[Expert, Path] = {}
        if mode == "lora":
            base = folder / f"base-{quant}.gguf"
            wanted[base.name] = lambda out: write_base_gguf(model_dir, out, quant)
            loras = {}
            for expert, source in adapters.items():
                path = folder / f"lora-{adapter_version(source)}.gguf"
                loras[expert] = path
                wanted[path.name] = lambda out, src=source: write_lora_gguf(src, model_dir, out)
        else:
            for expert, source in adapters.items():
                path = folder / f"merged-{adapter_version(source)}-{quant}.gguf"
                merged[expert] = path
                wanted[path.name] = lambda out, src=source: write_base_gguf(
                    model_dir, out, quant, lora=LoraWeights.from_folder(src))
        for name, write in wanted.items():
            problem = _problem(folder / name, manifest["files"].get(name))
            if problem is None:
                continue
            if problem != "missing":
                say(f"engine file {name} is {problem}; rebuilding it")
            _export_one(folder, name, write, manifest, say)
        _drop_stale(folder, manifest, wanted, adapters)
        return EngineFiles(folder, quant, mode, base, loras or {}, merged)


def _open_manifest(folder: Path, rebuild: bool) -> dict:
    fresh = {"format": FORMAT, "version": VERSION, "files": {}}
    if rebuild and folder.exists():
        shutil.rmtree(folder)
    if not folder.exists():
        folder.mkdir(parents=True)
        _save_manifest(folder, fresh)
        return fresh
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        manifest = None if any(folder.iterdir()) else fresh
    except (OSError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{folder} is not a reason4rec engine export; move it away or run "
                          "`reason4rec model export --rebuild`")
    if manifest.get("version") != VERSION:
        raise ExportError(f"{folder} is an engine export of version {manifest.get('version')} (this reason4rec "
                          f"writes {VERSION}); run `reason4rec model export --rebuild`")
    files = manifest.setdefault("files", {})
    if not isinstance(files, dict) or not all(isinstance(record, dict) for record in files.values()):
        raise ExportError(f"{folder / MANIFEST} is damaged (its file list is not a table of records); run "
                          "`reason4rec model export --rebuild`")
    return manifest


def _problem(path: Path, record: dict | None) -> str | None:
    """None when the file is whole; else what is wrong with it (``missing``, ``truncated`` ...)."""
    if not path.is_file():
        return "missing" if record is None else "gone"
    if record is None:
        return "not in the manifest"
    size = path.stat().st_size
    if size != record.get("bytes"):
        return f"truncated or changed ({size} bytes, {record.get('bytes')} expected)"
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            return "damaged (not a GGUF file)"
    return None


def _export_one(folder: Path, name: str, write: Callable[[Path], None], manifest: dict,
                say: StatusCallback) -> None:
    started = time.perf_counter()
    say(f"exporting {name} for the compiled engine (once) ...")
    partial = folder / f".{name}.partial"
    try:
        write(partial)
        _check_readable(partial)
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)
    manifest["files"][name] = {"bytes": (folder / name).stat().st_size,
                               "seconds": round(time.perf_counter() - started, 1),
                               "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _save_manifest(folder, manifest)


def _check_readable(path: Path) -> None:
    """Parse the new file's header and tensor table: a bad export never replaces a good one."""
    import gguf

    try:
        gguf.GGUFReader(str(path))
    except (ValueError, OSError, KeyError) as err:
        raise ExportError(f"the exported {path.name} does not read back: {err}") from err


def _drop_stale(folder: Path, manifest: dict, wanted: Mapping[str, object], adapters: Mapping[Expert, Path]) -> None:
    """Mark the files in use now; remove files of the same experts made from adapter versions
    older than the :data:`KEEP_VERSIONS` most recently used. Two processes on two adapter
    versions (a shipped one and a run's) so keep both exports instead of deleting each other's
    at every start; the current version's files of the other mode or quantization stay."""
    now = time.time()
    for name in wanted:
        manifest["files"][name]["used"] = now
    versions = {name: _version_of(name) for name in manifest["files"]}
    stale = []
    for expert in adapters:
        by_version: dict[str, float] = {}
        for name, version in versions.items():
            if version is not None and version.startswith(f"{expert}-"):
                record = manifest["files"][name]
                by_version[version] = max(by_version.get(version, 0.0), float(record.get("used", 0.0)))
        kept = sorted(by_version, key=by_version.__getitem__, reverse=True)[:KEEP_VERSIONS]
        stale += [name for name, version in versions.items()
                  if version in by_version and version not in kept and name not in wanted]
    for name in stale:
        (folder / name).unlink(missing_ok=True)
        del manifest["files"][name]
    _save_manifest(folder, manifest)


def _version_of(file: str) -> str | None:
    """The adapter version a LoRA or merged file was made from (None for the base)."""
    if file.startswith("lora-") and file.endswith(".gguf"):
        return file.removeprefix("lora-").removesuffix(".gguf")
    if file.startswith("merged-") and file.endswith(".gguf"):
        return file.removeprefix("merged-").removesuffix(".gguf").rsplit("-", 1)[0]
    return None


def _save_manifest(folder: Path, manifest: dict) -> None:
    temporary = folder / f".{MANIFEST}.partial"
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, folder / MANIFEST)

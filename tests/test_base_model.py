"""The model resolver, on a tiny local model; the real bundled model is in test_bundled.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reason4rec.config import BaseModelConfig
from reason4rec.experts.model.base_model import (
    ModelLoadError,
    choose_device,
    choose_dtype,
    generate_text,
    load_base_model,
    resolve_model_path,
)


def test_loads_any_local_hugging_face_folder(tiny_model_dir: Path, tmp_path: Path):
    base = load_base_model(BaseModelConfig(name_or_path=str(tiny_model_dir)), home=tmp_path)
    assert base.device == torch.device("cpu") and base.dtype == torch.float32
    assert base.model.device.type == "cpu" and not base.model.training
    assert base.tokenizer.pad_token is not None
    assert 10_000 < base.parameters < 1_000_000
    assert "cpu, float32" in base.describe()
    text = generate_text(base, "Is this tuner accurate?", max_new_tokens=5)
    assert isinstance(text, str)
    assert not (tmp_path / "models").exists()  # nothing fetched for a local folder


def test_dtype_can_be_overridden(tiny_model_dir: Path, tmp_path: Path):
    config = BaseModelConfig(name_or_path=str(tiny_model_dir), dtype="bfloat16")
    base = load_base_model(config, home=tmp_path)
    assert next(base.model.parameters()).dtype == torch.bfloat16


def test_automatic_choices_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device("auto").type == expected
    assert choose_dtype("auto", torch.device("cpu")) == torch.float32
    assert choose_dtype("float16", torch.device("cpu")) == torch.float16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_a_missing_gpu_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path):
    with pytest.raises(ModelLoadError, match="no CUDA GPU is available"):
        load_base_model(BaseModelConfig(name_or_path=str(tiny_model_dir), device="cuda"), tmp_path)
    with pytest.raises(ModelLoadError, match="unknown device"):
        choose_device("gpu-please")


def test_folders_and_hub_ids_that_cannot_load(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_model_path(BaseModelConfig(name_or_path=str(tmp_path / "empty")), tmp_path)
    with pytest.raises(ModelLoadError, match="hub is off"):
        load_base_model(BaseModelConfig(name_or_path="someone/not-a-cached-model"), tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_base_model(BaseModelConfig(name_or_path=str(broken)), tmp_path)


def test_four_bit_nf4_loading_on_this_machine(tiny_model_dir: Path, tmp_path: Path):
    """The QLoRA path: bitsandbytes NF4 layers, on CUDA when present, else on the CPU."""
    import bitsandbytes as bnb

    base = load_base_model(BaseModelConfig(name_or_path=str(tiny_model_dir), load_in_4bit=True), tmp_path)
    layer = base.model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit)
    assert layer.weight.quant_type == "nf4"
    assert base.quantized_4bit and "NF4" in base.describe()
    assert isinstance(generate_text(base, "hi", max_new_tokens=3), str)


def test_four_bit_is_refused_where_bitsandbytes_cannot_run(tiny_model_dir: Path, tmp_path: Path, monkeypatch):
    import reason4rec.experts.model.base_model as resolver

    monkeypatch.setattr(resolver, "choose_device", lambda requested: torch.device("meta"))
    with pytest.raises(ModelLoadError, match="4-bit loading needs CUDA or the CPU"):
        load_base_model(BaseModelConfig(name_or_path=str(tiny_model_dir), load_in_4bit=True), tmp_path)

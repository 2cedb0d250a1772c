"""Write our models as GGUF files for llama.cpp: the base, each LoRA adapter, or both merged.

The whole conversion of a Hugging Face Llama checkpoint (the bundled SmolLM2 or the tiny test
model) and of a peft LoRA adapter fits in this file, so it can be read in one sitting:

* tensor names map one to one (``model.layers.3.self_attn.q_proj.weight`` -> ``blk.3.attn_q.weight``);
* llama.cpp's rotary embedding pairs neighbouring dimensions where Hugging Face pairs the two
  halves of each head, so the rows of ``q_proj`` and ``k_proj`` (and of their LoRA ``B``) are
  permuted per head, exactly as ``convert_hf_to_gguf.py`` does;
* the tokenizer is written as a GPT-2 style BPE vocabulary (tokens, types and merges). The engine
  never tokenizes for us (prompts arrive as ids from the same Hugging Face tokenizer the
  transformers backend uses), but llama.cpp will not load a model without a vocabulary.

Weights are written as ``f32`` (the reference), ``f16``, ``bf16`` (rounded to nearest even, as
llama.cpp does) or ``q8_0`` (blocks of 32 int8 with one scale, quantized by the ``gguf`` package);
norms always stay ``f32``. A LoRA adapter keeps ``f32``
A and B matrices and its ``lora_alpha``: llama.cpp scales by alpha / rank like peft does.

Example:
    >>> write_base_gguf(Path("~/.cache/reason4rec/models/smollm2-135m-instruct"), Path("/tmp/b.gguf"),
    ...                 "q8_0")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ...errors import Reason4RecError

Quant = Literal["f32", "f16", "bf16", "q8_0"]
QUANTS: tuple[Quant, ...] = ("f32", "f16", "bf16", "q8_0")

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)\.weight$")
_LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                 "lm_head.weight": "output.weight"}


class ExportError(Reason4RecError, RuntimeError):
    """A model or adapter cannot be written for the compiled engine; the message says why."""


@dataclass(frozen=True, slots=True)
class LlamaShape:
    """What llama.cpp needs to know of a Llama checkpoint (read from its ``config.json``)."""

    n_layers: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx_train: int
    rms_eps: float
    rope_theta: float
    tied_embeddings: bool

    @classmethod
    def from_folder(cls, folder: Path) -> LlamaShape:
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ExportError(f"cannot read {folder / 'config.json'}: {err}") from err
        if config.get("model_type") != "llama":
            raise ExportError(f"the compiled engine export handles Llama-architecture bases; {folder} "
                              f"is {config.get('model_type')!r} (use the transformers backend)")
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        if rope.get("rope_type", "default") not in ("default", None):
            raise ExportError(f"{folder} uses rope scaling {rope.get('rope_type')!r}, which this export "
                              "does not write (use the transformers backend)")
        heads = int(config["num_attention_heads"])
        return cls(
            n_layers=int(config["num_hidden_layers"]), n_embd=int(config["hidden_size"]),
            n_ff=int(config["intermediate_size"]), n_head=heads,
            n_head_kv=int(config.get("num_key_value_heads") or heads), n_vocab=int(config["vocab_size"]),
            n_ctx_train=int(config.get("max_position_embeddings", 2048)),
            rms_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=float(config.get("rope_theta") or rope.get("rope_theta") or 10000.0),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)))


@dataclass(frozen=True, slots=True)
class LoraWeights:
    """One peft LoRA adapter: ``{hf module name: (A, B)}`` with ``alpha`` (peft scale = alpha / r)."""

    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]]
    alpha: float

    @classmethod
    def from_folder(cls, folder: Path) -> LoraWeights:
        from safetensors.numpy import load_file

        try:
            config = json.loads((folder / "adapter_config.json").read_text())
            tensors = load_file(str(folder / "adapter_model.safetensors"))
        except (OSError, json.JSONDecodeError, ValueError) as err:
            raise ExportError(f"cannot read the LoRA adapter in {folder}: {err}") from err
        if config.get("peft_type") != "LORA" or config.get("use_dora") or config.get("use_rslora"):
            raise ExportError(f"{folder} is not a plain LoRA adapter (DoRA and rsLoRA are not exported)")
        if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("modules_to_save"):
            raise ExportError(f"{folder} uses per-module ranks or saved modules, which are not exported")
        found: dict[str, dict[str, np.ndarray]] = {}
        for name, value in tensors.items():
            match = re.match(r"^base_model\.model\.(.+)\.lora_([AB])\.weight$", name)
            if match is None:
                raise ExportError(f"{folder}: unexpected tensor {name!r} in a LoRA adapter")
            found.setdefault(match.group(1), {})[match.group(2)] = value.astype(np.float32)
        if any(set(pair) != {"A", "B"} for pair in found.values()):
            raise ExportError(f"{folder}: a LoRA module lacks its A or B matrix")
        return cls({module: (pair["A"], pair["B"]) for module, pair in found.items()},
                   float(config["lora_alpha"]))

    def delta(self, module: str) -> np.ndarray | None:
        """``alpha / r * B @ A`` for ``module`` (what merging adds to its weight), or None."""
        if module not in self.pairs:
            return None
        a, b = self.pairs[module]
        return (self.alpha / a.shape[0]) * (b @ a)


def gguf_tensor_name(hf_name: str) -> str:
    """``model.layers.3.mlp.up_proj.weight`` -> ``blk.3.ffn_up.weight``."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name]
    match = _LAYER.match(hf_name)
    if match is None or match.group(2) not in _LAYER_NAMES:
        raise ExportError(f"no llama.cpp name for tensor {hf_name!r}")
    return f"blk.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}.weight"


def rope_permute(rows: np.ndarray, hf_name: str, shape: LlamaShape) -> np.ndarray:
    """Reorder q/k output rows from Hugging Face's rotary layout to llama.cpp's (others unchanged)."""
    if hf_name.endswith("self_attn.q_proj.weight"):
        heads = shape.n_head
    elif hf_name.endswith("self_attn.k_proj.weight"):
        heads = shape.n_head_kv
    else:
        return rows
    out = rows.shape[0]
    return rows.reshape(heads, 2, out // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def write_base_gguf(model_dir: Path, out: Path, quant: Quant, lora: LoraWeights | None = None) -> None:
    """The checkpoint in ``model_dir`` as one GGUF file; with ``lora``, its delta merged in."""
    import gguf

    shape = LlamaShape.from_folder(model_dir)
    writer = gguf.GGUFWriter(str(out), arch="llama")
    try:
        _write_hparams(writer, shape, quant, model_dir.name)
        _write_vocab(writer, model_dir, shape.n_vocab)
        used: set[str] = set()
        for hf_name, weight in _hf_tensors(model_dir):
            if hf_name == "lm_head.weight" and shape.tied_embeddings:
                continue
            module = hf_name.removesuffix(".weight")
            if lora is not None and (delta := lora.delta(module)) is not None:
                weight = weight + delta
                used.add(module)
            weight = rope_permute(weight, hf_name, shape)
            _add_tensor(writer, gguf_tensor_name(hf_name), weight, quant)
        if lora is not None and (unused := set(lora.pairs) - used):
            raise ExportError(f"LoRA modules not found in the base: {', '.join(sorted(unused)[:3])}")
        _finish(writer)
    finally:
        writer.close()


def write_lora_gguf(adapter_dir: Path, model_dir: Path, out: Path) -> None:
    """A peft LoRA adapter as a llama.cpp adapter GGUF (``blk.N.attn_q.weight.lora_a`` / ``_b``)."""
    import gguf

    shape = LlamaShape.from_folder(model_dir)
    lora = LoraWeights.from_folder(adapter_dir)
    writer = gguf.GGUFWriter(str(out), arch="llama")
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora.alpha)
        for module in sorted(lora.pairs):
            a, b = lora.pairs[module]
            name = gguf_tensor_name(module + ".weight")
            writer.add_tensor(name + ".lora_a", np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(name + ".lora_b",
                              np.ascontiguousarray(rope_permute(b, module + ".weight", shape), dtype=np.float32))
        _finish(writer)
    finally:
        writer.close()


def _finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()


def _write_hparams(writer, shape: LlamaShape, quant: Quant, name: str) -> None:
    import gguf

    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layers)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_dimension_count(shape.n_embd // shape.n_head)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_vocab_size(shape.n_vocab)
    writer.add_file_type(file_types[quant])
    if quant == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _write_vocab(writer, model_dir: Path, n_vocab: int) -> None:
    """GPT-2 style BPE vocabulary from ``tokenizer.json`` (byte-level tokens as Hugging Face keeps them)."""
    import gguf

    try:
        spec = json.loads((model_dir / "tokenizer.json").read_text())
        settings = json.loads((model_dir / "tokenizer_config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"cannot read the tokenizer of {model_dir}: {err}") from err
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise ExportError(f"{model_dir} has a {model.get('type')!r} tokenizer; the export writes BPE only")
    tokens: dict[int, str] = {int(i): t for t, i in model["vocab"].items()}
    types: dict[int, int] = {}
    for added in spec.get("added_tokens", []):
        tokens[int(added["id"])] = added["content"]
        types[int(added["id"])] = int(gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED)
    if max(tokens) >= n_vocab:
        raise ExportError(f"{model_dir}: token id {max(tokens)} is outside the model's {n_vocab} embeddings")
    names = [tokens.get(i, f"[PAD{i}]") for i in range(n_vocab)]
    kinds = [types.get(i, int(gguf.TokenType.NORMAL if i in tokens else gguf.TokenType.UNUSED))
             for i in range(n_vocab)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(names)
    writer.add_token_types(kinds)
    writer.add_token_merges(merges)
    by_text = {text: i for i, text in tokens.items()}
    for key, add in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id),
                     ("pad_token", writer.add_pad_token_id)):
        value = settings.get(key)
        value = value.get("content") if isinstance(value, dict) else value
        if value in by_text:
            add(by_text[value])
    writer.add_add_bos_token(False)


def _hf_tensors(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of the checkpoint's safetensors files as float32, in file order."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ExportError(f"{model_dir} holds no .safetensors weights")
    for file in files:
        try:
            with safe_open(str(file), framework="numpy") as handle:
                for name in handle.keys():  # noqa: SIM118 (a safe_open handle is not iterable)
                    yield name, handle.get_tensor(name).astype(np.float32)
        except (OSError, ValueError) as err:  # safetensors raises SafetensorError (a ValueError) on damage
            raise ExportError(f"cannot read {file}: {err}") from err


def _add_tensor(writer, name: str, weight: np.ndarray, quant: Quant) -> None:
    import gguf

    weight = np.ascontiguousarray(weight, dtype=np.float32)
    if weight.ndim == 1 or quant == "f32":
        writer.add_tensor(name, weight)
    elif quant == "f16":
        writer.add_tensor(name, weight.astype(np.float16))
    elif quant == "bf16":
        kind = gguf.GGMLQuantizationType.BF16
        writer.add_tensor(name, gguf.quants.quantize(weight, kind), raw_dtype=kind)
    else:
        kind = gguf.GGMLQuantizationType.Q8_0
        if weight.shape[-1] % gguf.GGML_QUANT_SIZES[kind][0]:
            writer.add_tensor(name, weight.astype(np.float16))  # rows not a whole number of blocks
        else:
            writer.add_tensor(name, gguf.quants.quantize(weight, kind), raw_dtype=kind)

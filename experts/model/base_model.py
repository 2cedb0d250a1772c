"""The one place reason4rec loads a base LLM: the bundled default or any Hugging Face model.

Device and dtype are chosen automatically (CUDA when present, else CPU; bfloat16 on a GPU that
supports it, float32 on the CPU, where bfloat16 measured 5x slower) and can be overridden.
``load_in_4bit`` loads NF4 weights through bitsandbytes, the QLoRA path, on CUDA or the CPU.

Example:
    >>> from reason4rec.config import load_config
    >>> base = load_base_model(load_config().base_model, home=load_config().home)  # doctest: +SKIP
    >>> base.describe()  # doctest: +SKIP
    'smollm2-135m-instruct: 134.5M parameters, cpu, float32'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import DEFAULT_BASE_MODEL, BaseModelConfig
from ...errors import Reason4RecError
from .bundled import BundledModelError, StatusCallback, ensure_bundled_checkpoint

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class ModelLoadError(Reason4RecError, RuntimeError):
    """A base model could not be loaded; the message names the model and the reason."""


@dataclass
class LoadedModel:
    """A loaded base model with its tokenizer and where and how it was loaded."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    path: str
    device: torch.device
    dtype: torch.dtype
    quantized_4bit: bool
    load_seconds: float

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> str:
        quant = ", NF4 4-bit" if self.quantized_4bit else ""
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{self.name}: {self.parameters / 1e6:.1f}M parameters, {self.device}, {dtype}{quant}"


def choose_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; anything else must exist."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as err:
        raise ModelLoadError(f"unknown device {requested!r}: {err}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device {requested!r} asked for, but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device {requested!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError("device 'mps' asked for, but Metal is not available")
    return device


def choose_dtype(requested: str, device: torch.device) -> torch.dtype:
    """float32 on the CPU (bfloat16 is slower there); bfloat16 on GPUs that support it."""
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_model_path(
    config: BaseModelConfig, home: Path, status: StatusCallback | None = None
) -> str:
    """A loadable folder or hub id: the bundled alias becomes its converted folder."""
    if config.name_or_path == DEFAULT_BASE_MODEL:
        try:
            return str(ensure_bundled_checkpoint(home, config.gguf_path, status))
        except BundledModelError as err:
            raise ModelLoadError(str(err)) from err
    path = Path(config.name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is not a Hugging Face model folder (no config.json)")
        return str(path)
    return config.name_or_path


def load_base_model(
    config: BaseModelConfig, home: Path, status: StatusCallback | None = None
) -> LoadedModel:
    """Load the configured base model and tokenizer; every model load in reason4rec comes here.

    Raises:
        ModelLoadError: the model cannot be found, fetched or loaded as asked (with the reason).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    device = choose_device(config.device)
    dtype = choose_dtype(config.dtype, device)
    path = resolve_model_path(config, home, status)
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": config.hub_offline}
    if config.load_in_4bit:
        kwargs["quantization_config"] = _nf4_config(device, dtype)
        kwargs["device_map"] = {"": str(device) if device.type != "cuda" else device.index or 0}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=config.hub_offline)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as err:
        hint = (
            " (the hub is off: set base_model.hub_offline = false to allow downloads)"
            if config.hub_offline and not Path(path).exists()
            else ""
        )
        raise ModelLoadError(f"cannot load model {config.name_or_path!r}{hint}: {err}") from err
    except (ValueError, RuntimeError, ImportError) as err:
        raise ModelLoadError(f"cannot load model {config.name_or_path!r}: {err}") from err
    if not config.load_in_4bit:
        model = model.to(device)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=config.name_or_path,
        path=path,
        device=device,
        dtype=dtype,
        quantized_4bit=config.load_in_4bit,
        load_seconds=time.perf_counter() - started,
    )


def _nf4_config(device: torch.device, dtype: torch.dtype):
    """bitsandbytes NF4 settings; a clear error where bitsandbytes cannot run."""
    import torch

    if device.type not in ("cuda", "cpu"):
        raise ModelLoadError(f"4-bit loading needs CUDA or the CPU, not {device.type!r}")
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as err:
        raise ModelLoadError(f"4-bit loading needs bitsandbytes, which failed to import: {err}") from err
    compute = dtype if dtype != torch.float16 or device.type == "cuda" else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def generate_text(base: LoadedModel, prompt: str, max_new_tokens: int = 16) -> str:
    """Greedy continuation of a chat prompt: a smoke check that the model really runs."""
    import torch

    tokenizer = base.tokenizer
    messages = [{"role": "user", "content": prompt}]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = prompt
    inputs = tokenizer(text, return_tensors="pt").to(base.model.device)
    with torch.no_grad():
        output = base.model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=1.2
        )
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

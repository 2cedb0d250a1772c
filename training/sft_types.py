"""What both training engines share: the LoRA and training settings, an example, a result, the
run key a checkpoint must match, the peft LoRA config and the adapter's atomic save.

The transformers-Trainer engine (:mod:`.sft`) and the top-layers engine (:mod:`.top_layers`)
both build on these; :func:`.sft.train_adapter` chooses between them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import Reason4RecError
from ..experts import Messages, render_chat

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ProgressCallback = Callable[[int, int], None]
Engine = Literal["trainer", "top-layers"]
"""``trainer``: the transformers Trainer (any model, QLoRA, GPU). ``top-layers``: our loop that caches
the frozen lower layers and computes logits only where the loss is (``training/top_layers.py``)."""
Loss = Literal["response", "rating-vocab", "rating-stars", "rating-stars-expected"]
"""``response``: cross-entropy on every response token. The rating losses score only the star after
``Predicted Rating:``: over the full vocabulary, over the five star tokens, or over the five plus
the squared error of the expected rating (the value reported)."""


class TrainingError(Reason4RecError, RuntimeError):
    """Training cannot start or finish; the message says why."""


class LoraSettings(BaseModel):
    """LoRA shape (the method's table, shrunk for the CPU recipe)."""

    model_config = ConfigDict(extra="forbid")
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(ALL_LINEAR))
    layers: int | None = Field(None, ge=1)
    """LoRA on the top N decoder layers only (None: every layer). The layers below stay frozen."""


class TrainSettings(BaseModel):
    """Optimisation settings for one expert."""

    model_config = ConfigDict(extra="forbid")
    epochs: float = Field(2.0, gt=0)
    learning_rate: float = Field(3e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(512, ge=32)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    gradient_checkpointing: bool = True
    qlora: bool = False
    """Load the base in 4-bit NF4 (bitsandbytes) and train LoRA on top: QLoRA."""
    optim: str = "adamw_torch"
    save_every: int = Field(10, ge=1)
    """Checkpoint every N optimizer steps (resume granularity)."""
    seed: int = 42
    engine: Engine = "trainer"
    loss: Loss = "response"
    expected_weight: float = Field(1.0, ge=0)
    """Weight of the squared expected-rating error in ``rating-stars-expected``."""

    @model_validator(mode="after")
    def _engine_supports(self) -> TrainSettings:
        if self.engine == "trainer" and self.loss != "response":
            raise ValueError(f"loss {self.loss!r} needs engine 'top-layers' (the Trainer scores every "
                             "response token over the full vocabulary)")
        if self.engine == "top-layers" and self.qlora:
            raise ValueError("engine 'top-layers' trains on a full-precision base; use engine 'trainer' "
                             "for QLoRA")
        return self


@dataclass(frozen=True, slots=True)
class SFTExample:
    """A chat prompt and the response the expert must learn to write."""

    messages: Messages
    response: str

    def to_json(self) -> str:
        return json.dumps({"messages": self.messages, "response": self.response})

    @classmethod
    def from_json(cls, line: str) -> SFTExample:
        row = json.loads(line)
        return cls(row["messages"], row["response"])


@dataclass
class TrainResult:
    """What a training run did, for the adapter card."""

    examples: int
    steps: int
    epochs: float
    first_loss: float | None
    final_loss: float | None
    seconds: float
    tokens: int
    truncated: int
    resumed_from: str | None = None
    losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["losses"] = [round(x, 4) for x in self.losses]
        return data


def encode_example(tokenizer: Any, example: SFTExample, max_length: int) -> tuple[dict[str, list[int]], bool]:
    """Token ids and labels with the prompt masked (-100); truncates the prompt's front if long.

    Returns the encoded row and whether it had to be truncated.
    """
    prompt = render_chat(tokenizer, example.messages)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(example.response, add_special_tokens=False)["input_ids"]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    response_ids = [*response_ids, end if end is not None else tokenizer.eos_token_id]
    truncated = False
    if len(prompt_ids) + len(response_ids) > max_length:
        truncated = True
        response_ids = response_ids[: max_length // 2]
        keep = max_length - len(response_ids)
        prompt_ids = prompt_ids[-keep:]  # the end of the prompt holds the question: keep it
    ids = prompt_ids + response_ids
    labels = [-100] * len(prompt_ids) + response_ids
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}, truncated


def run_key(data: Iterable[Any], lora: LoraSettings, settings: TrainSettings) -> str:
    """What a checkpoint must match to be resumed: the data (one JSON value per example) and every
    setting but how often it is saved."""
    digest = hashlib.sha256()
    for example in data:
        digest.update(json.dumps(example).encode())
    digest.update(lora.model_dump_json().encode())
    digest.update(settings.model_dump_json(exclude={"save_every"}).encode())
    return digest.hexdigest()[:16]


RUN_KEY_FILE = "run-key.txt"


RUN_KEY_FILE = "run-key.txt"


def lora_config(lora: LoraSettings, layer_count: int) -> Any:
    """The peft LoRA config; ``lora.layers`` puts adapters on the top layers only."""
    from peft import LoraConfig

    if lora.layers is not None and lora.layers > layer_count:
        raise TrainingError(f"lora.layers = {lora.layers} but the base model has {layer_count} layers")
    top = None if lora.layers is None else list(range(layer_count - lora.layers, layer_count))
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, layers_to_transform=top,
                      task_type="CAUSAL_LM", bias="none")


def save_adapter(model: Any, out_dir: Path) -> None:
    """Write the adapter to ``out_dir/adapter`` through a staging folder (never half a folder)."""
    adapter_dir = out_dir / "adapter"
    staging = out_dir / "adapter.partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), save_embedding_layers=False)
    # peft writes a model-card template ("[More Information Needed]"); card.json is the real card
    (staging / "README.md").unlink(missing_ok=True)
    shutil.rmtree(adapter_dir, ignore_errors=True)
    staging.rename(adapter_dir)

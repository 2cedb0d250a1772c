"""Supervised fine-tuning of one expert as a LoRA (or QLoRA) adapter with the transformers Trainer.

The prompt is rendered with the base model's chat template and masked out of the labels, so the
loss is on the response only. Training checkpoints into ``<out>/checkpoints`` and resumes from the
last one, so an interrupted run continues where it stopped. QLoRA (NF4 base via bitsandbytes)
is used when the settings ask for it; the adapter is the same either way.

Example:
    >>> examples = [SFTExample(summarizer_messages(...), "Positive Aspects: ...")]  # doctest: +SKIP
    >>> train_adapter(load_base, examples, LoraSettings(), TrainSettings(), Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import Reason4RecError
from ..experts.prompts import Messages, render_chat

if TYPE_CHECKING:
    from ..experts.base_model import LoadedModel

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


def train_adapter(
    load_base: Callable[[bool], LoadedModel],
    examples: Sequence[SFTExample],
    lora: LoraSettings,
    settings: TrainSettings,
    out_dir: Path,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train one adapter on ``examples`` and save it to ``out_dir/adapter``; resumes if interrupted.

    Args:
        load_base: ``load_base(load_in_4bit)`` returns a FRESH base model (LoRA layers are
            injected into it, so a model shared with other adapters must not be passed).
        examples: Prompt/response pairs; at least one.
        out_dir: Stage folder; ``checkpoints/`` inside it makes the run resumable.
    """
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    if not examples:
        raise TrainingError(f"no training examples for {out_dir.name}: nothing to learn from")
    if settings.engine == "top-layers":
        from .top_layers import train_top_layers

        return train_top_layers(load_base, examples, lora, settings, out_dir, progress)
    started = time.perf_counter()
    base = load_base(settings.qlora)
    tokenizer = base.tokenizer
    tokenizer.padding_side = "right"
    rows, truncated = [], 0
    for example in examples:
        row, cut = encode_example(tokenizer, example, settings.max_length)
        rows.append(row)
        truncated += cut
    model = base.model
    if settings.qlora:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    model = get_peft_model(model, lora_config(lora, model.config.num_hidden_layers))
    checkpoints = out_dir / "checkpoints"
    last = _resumable_checkpoint(checkpoints, run_key(([r["input_ids"], r["labels"]] for r in rows), lora, settings))
    steps_per_epoch = math.ceil(len(rows) / (settings.batch_size * settings.grad_accum))
    total_steps = max(1, math.ceil(steps_per_epoch * settings.epochs))
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        warmup_steps=int(total_steps * settings.warmup_fraction),
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="steps",
        save_steps=settings.save_every,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
        use_cpu=base.device.type == "cpu",
        **_checkpointing_args(TrainingArguments, settings.gradient_checkpointing),
        remove_unused_columns=False,
        optim=settings.optim,
        seed=settings.seed,
        bf16=base.dtype == torch.bfloat16 and base.device.type == "cuda",
        fp16=base.dtype == torch.float16 and base.device.type == "cuda",
        dataloader_num_workers=0,
    )
    losses: list[float] = []

    class _Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress:
                progress(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    trainer = Trainer(
        model=model, args=args, train_dataset=_ListDataset(rows),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[_Progress()],
    )
    trainer.remove_callback(PrinterCallback)  # Rich bars and the card report progress and loss
    try:
        trainer.train(resume_from_checkpoint=last)
    except (RuntimeError, ValueError, OSError) as err:
        raise TrainingError(f"training {out_dir.name} failed: {err}") from err
    save_adapter(model, out_dir)
    history = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return TrainResult(
        examples=len(rows),
        steps=trainer.state.global_step,
        epochs=settings.epochs,
        first_loss=history[0] if history else None,
        final_loss=sum(history[-5:]) / len(history[-5:]) if history else None,
        seconds=round(time.perf_counter() - started, 1),
        tokens=sum(len(r["input_ids"]) for r in rows),
        truncated=truncated,
        resumed_from=last,
        losses=history,
    )


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


def _resumable_checkpoint(checkpoints: Path, key: str) -> str | None:
    """The newest complete checkpoint of THIS run, or None.

    Checkpoints of another run (other data or settings: a changed recipe, ``--force``) would be
    resumed by the Trainer as if they were this one's, so they are removed; a checkpoint a kill
    left half-written (no ``trainer_state.json``) is passed over for the complete one before it.
    """
    key_file = checkpoints / RUN_KEY_FILE
    if checkpoints.is_dir() and (not key_file.is_file() or key_file.read_text().strip() != key):
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key)
    complete = [folder for folder in checkpoints.glob("checkpoint-*")
                if folder.name.removeprefix("checkpoint-").isdigit() and (folder / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda folder: int(folder.name.removeprefix("checkpoint-")))) if complete else None


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


def _checkpointing_args(arguments: type, enabled: bool) -> dict[str, Any]:
    """Gradient checkpointing (less memory, faster on this CPU), by the name this transformers uses."""
    import inspect

    names = inspect.signature(arguments.__init__).parameters
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {prefix: enabled, f"{prefix}_kwargs": {"use_reentrant": False}}


class _ListDataset:
    """The Trainer only needs ``len`` and indexing."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]

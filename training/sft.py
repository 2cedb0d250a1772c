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

import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sft_types import (
    RUN_KEY_FILE,
    LoraSettings,
    ProgressCallback,
    SFTExample,
    TrainingError,
    TrainResult,
    TrainSettings,
    encode_example,
    lora_config,
    run_key,
    save_adapter,
)
from .top_layers import train_top_layers
from .warm_start import load_start_weights, start_key

if TYPE_CHECKING:
    from ..experts import LoadedModel


def train_adapter(
    load_base: Callable[[bool], LoadedModel],
    examples: Sequence[SFTExample],
    lora: LoraSettings,
    settings: TrainSettings,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    start_from: Path | None = None,
    bottom_progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train one adapter on ``examples`` and save it to ``out_dir/adapter``; resumes if interrupted.

    Args:
        load_base: ``load_base(load_in_4bit)`` returns a FRESH base model (LoRA layers are
            injected into it, so a model shared with other adapters must not be passed).
        examples: Prompt/response pairs; at least one.
        out_dir: Stage folder; ``checkpoints/`` inside it makes the run resumable.
        start_from: A trained adapter of the same LoRA shape to fine-tune (None: a fresh LoRA).
        bottom_progress: ``(done, total)`` examples through the frozen layers (the top-layers
            engine's first pass, minutes long on a CPU before the first step).
    """
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    if not examples:
        raise TrainingError(f"no training examples for {out_dir.name}: nothing to learn from")
    if settings.engine == "top-layers":
        return train_top_layers(load_base, examples, lora, settings, out_dir, progress, start_from, bottom_progress)
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
    if start_from is not None:
        load_start_weights(model, start_from)
    checkpoints = out_dir / "checkpoints"
    keyed = [[r["input_ids"], r["labels"]] for r in rows] + ([start_key(start_from)] if start_from else [])
    last = _resumable_checkpoint(checkpoints, run_key(keyed, lora, settings))
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

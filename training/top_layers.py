"""LoRA on a decoder's top layers, trained only where the loss is: the fast CPU training engine.

Why it beats the transformers Trainer on a small CPU (``bench/train_speed.py`` measures it):

* LoRA sits on the top ``lora.layers`` decoder layers only. The layers below are frozen and carry
  no adapter, so their output for an example never changes: it is computed once, without
  gradients, kept in memory and reused in every epoch (and on disk beside the checkpoints, so a
  resumed run does not compute it again).
* Logits are computed only where the loss is: the response tokens of a writer (Summarizer,
  Reasoner), the one star position of a rating expert (reward model, Predictor). SmolLM2's output
  projection (49,152 x 576) is most of its compute per position.
* No gradient checkpointing unless asked (the top layers' activations fit), and batches grouped by
  length so little compute goes into padding.

Rating experts may learn from the five star logits only (``rating-stars``), plus the squared error
of the expected rating (``rating-stars-expected``): the rating we report IS that expectation.

The loop checkpoints the LoRA weights, optimiser and schedule every ``save_every`` steps and
resumes from there. It runs Llama-style decoders (Llama, SmolLM, Mistral, Qwen2): a causal LM
with ``model.embed_tokens / layers / norm / rotary_emb`` and ``lm_head``.

Example:
    >>> settings = TrainSettings(engine="top-layers", loss="rating-stars")            # doctest: +SKIP
    >>> train_adapter(load, examples, LoraSettings(layers=8), settings, Path("out"))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..experts import RATING_PREFIX, rating_ids, rating_prompt
from .sft_types import (
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
from .warm_start import load_start_weights, start_key

if TYPE_CHECKING:
    import torch

    from ..experts import LoadedModel

_RATING_RESPONSE = re.compile(rf"^{re.escape(RATING_PREFIX.strip())}\s*([1-5])$")
_CHECKPOINT = "top-layers.pt"


@dataclass(frozen=True, slots=True)
class EncodedExample:
    """Token ids and what is scored: ``targets[i]`` is the token expected after ``positions[i]``."""

    ids: list[int]
    positions: list[int]
    targets: list[int]
    star: int | None
    """0..4 for a rating example (the star after ``Predicted Rating:``), else None."""
    truncated: bool


def encode_for_loss(tokenizer: Any, example: SFTExample, loss: str, max_length: int) -> EncodedExample:
    """Encode one example for ``loss``; a rating loss reads exactly the prompt the backend rates."""
    if loss == "response":
        row, cut = encode_example(tokenizer, example, max_length)
        ids, labels = row["input_ids"], row["labels"]
        positions = [t for t in range(len(ids) - 1) if labels[t + 1] != -100]
        return EncodedExample(ids, positions, [labels[t + 1] for t in positions], None, cut)
    match = _RATING_RESPONSE.match(example.response.strip())
    if match is None:
        raise TrainingError(f"loss {loss!r} needs rating examples ({RATING_PREFIX!r} and one star); "
                            f"got {example.response[:60]!r}")
    ids, digits = rating_ids(tokenizer, rating_prompt(tokenizer, example.messages))
    star = int(match.group(1)) - 1
    cut = len(ids) > max_length
    ids = ids[-max_length:]  # the end of the prompt holds the question: keep it
    return EncodedExample(ids, [len(ids) - 1], [digits[star]], star, cut)


class DecoderStack:
    """The parts of a Llama-style causal LM this loop runs itself, layer range by layer range."""

    def __init__(self, causal_lm: Any) -> None:
        inner = getattr(causal_lm, "model", None)
        needed = ("embed_tokens", "layers", "norm", "rotary_emb")
        if inner is None or not hasattr(causal_lm, "lm_head") or not all(hasattr(inner, n) for n in needed):
            raise TrainingError(f"engine 'top-layers' runs Llama-style decoders; {type(causal_lm).__name__} "
                                "is not one (use engine 'trainer')")
        self.inner = inner
        self.head = causal_lm.lm_head
        self.layers = list(inner.layers)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner.embed_tokens(input_ids)

    def run(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int,
            checkpointing: bool = False) -> torch.Tensor:
        """Layers ``start:stop`` on right-padded ``hidden`` (positions 0.. as in the full model)."""
        import torch
        from torch.utils.checkpoint import checkpoint
        from transformers.masking_utils import create_causal_mask

        position_ids = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        mask = create_causal_mask(config=self.inner.config, inputs_embeds=hidden, attention_mask=attention_mask,
                                  past_key_values=None, position_ids=position_ids)
        rotary = self.inner.rotary_emb(hidden, position_ids=position_ids)
        for layer in self.layers[start:stop]:
            if checkpointing:
                hidden = checkpoint(layer, hidden, attention_mask=mask, position_embeddings=rotary,
                                    position_ids=position_ids, use_reentrant=False)
            else:
                hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary, position_ids=position_ids)
        return hidden

    def logits_at(self, hidden: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                  vocabulary: torch.Tensor | None = None) -> torch.Tensor:
        """Output logits at (row, col) pairs only; ``vocabulary`` limits them to those token ids."""
        import torch.nn.functional as F

        picked = self.inner.norm(hidden[rows, cols])
        if vocabulary is None:
            return self.head(picked)
        bias = None if self.head.bias is None else self.head.bias[vocabulary]
        return F.linear(picked, self.head.weight[vocabulary], bias)


def train_top_layers(
    load_base: Callable[[bool], LoadedModel],
    examples: Sequence[SFTExample],
    lora: LoraSettings,
    settings: TrainSettings,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    start_from: Path | None = None,
    bottom_progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train one adapter with the top-layers engine; same contract as :func:`.sft.train_adapter`."""
    import torch
    from peft import get_peft_model, set_peft_model_state_dict
    from transformers import get_cosine_schedule_with_warmup

    started = time.perf_counter()
    base = load_base(False)
    tokenizer = base.tokenizer
    encoded = [encode_for_loss(tokenizer, e, settings.loss, settings.max_length) for e in examples]
    digits = (torch.tensor(rating_ids(tokenizer, rating_prompt(tokenizer, examples[0].messages))[1])
              if settings.loss != "response" else None)
    layer_count = base.model.config.num_hidden_layers
    split = layer_count - (lora.layers or layer_count)  # layers below `split` stay frozen, cached
    torch.manual_seed(settings.seed)
    model = get_peft_model(base.model, lora_config(lora, layer_count))
    if start_from is not None:
        load_start_weights(model, start_from)
    stack = DecoderStack(model.get_base_model())
    device = base.device
    model.eval()
    bottom_path = out_dir / "checkpoints" / f"bottom-{_bottom_key(encoded, split, base)}.safetensors"
    cached = _cached_bottom(bottom_path, stack, encoded, split, settings.batch_size, device, bottom_progress)
    batches = _length_batches([len(e.ids) for e in encoded], settings.batch_size)
    steps_per_epoch = math.ceil(len(batches) / settings.grad_accum)
    total_steps = max(1, math.ceil(steps_per_epoch * settings.epochs))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, int(total_steps * settings.warmup_fraction), total_steps)
    checkpoint_path = out_dir / "checkpoints" / _CHECKPOINT
    run_key = _run_key(encoded, lora, settings) + (f"+{start_key(start_from)}" if start_from else "")
    step, losses, resumed = 0, [], None
    if checkpoint_path.is_file():
        state = _load_checkpoint(checkpoint_path)
        if state.get("key") == run_key:
            set_peft_model_state_dict(model, state["lora"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step, losses, resumed = int(state["step"]), list(state["losses"]), str(checkpoint_path)
    model.train()
    while step < total_steps:
        epoch, within = divmod(step, steps_per_epoch)
        order = list(batches)
        random.Random(settings.seed + epoch).shuffle(order)
        group = order[within * settings.grad_accum:(within + 1) * settings.grad_accum]
        optimizer.zero_grad(set_to_none=True)
        scored = sum(len(encoded[i].positions) for batch in group for i in batch)
        total = 0.0
        for batch in group:
            loss = _batch_loss(stack, cached, encoded, batch, split, settings, digits, device)
            weight = sum(len(encoded[i].positions) for i in batch) / scored
            (loss * weight).backward()
            total += float(loss.detach()) * weight
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        losses.append(total)
        if progress:
            progress(step, total_steps)
        if step % settings.save_every == 0 or step == total_steps:
            _save_checkpoint(checkpoint_path, {"key": run_key, "step": step, "losses": losses,
                                               "lora": _lora_state(model), "optimizer": optimizer.state_dict(),
                                               "schedule": schedule.state_dict()})
    save_adapter(model, out_dir)
    bottom_path.unlink(missing_ok=True)  # gigabytes, and of no use once the adapter exists
    return TrainResult(
        examples=len(encoded),
        steps=step,
        epochs=settings.epochs,
        first_loss=losses[0] if losses else None,
        final_loss=sum(losses[-5:]) / len(losses[-5:]) if losses else None,
        seconds=round(time.perf_counter() - started, 1),
        tokens=sum(len(e.ids) for e in encoded),
        truncated=sum(e.truncated for e in encoded),
        resumed_from=resumed,
        losses=losses,
    )


def _cached_bottom(path: Path, stack: DecoderStack, encoded: Sequence[EncodedExample], split: int,
                   batch_size: int, device: Any, progress: ProgressCallback | None = None) -> list[torch.Tensor]:
    """:func:`_run_bottom`, kept on disk beside the checkpoints so a resumed run skips it.

    On this CPU the frozen layers take about as long as an epoch of training (an hour for the
    cpu-full reward stage), and a long stage is resumed across sessions: without this, every
    resume would pay that hour again. The file is named by :func:`_bottom_key`, written
    atomically, and a damaged one is recomputed, never trusted.
    """
    if split == 0:  # only the embeddings: cheaper to recompute than to read
        return _run_bottom(stack, encoded, split, batch_size, device)
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    if path.is_file():
        try:
            stored = load_file(str(path), device=str(device))
            hidden, lengths = stored["hidden"], stored["lengths"].tolist()
            if lengths == [len(e.ids) for e in encoded] and hidden.shape[0] == sum(lengths):
                return list(hidden.split(lengths))
        except (SafetensorError, OSError, KeyError, RuntimeError):
            pass
    cached = _run_bottom(stack, encoded, split, batch_size, device, progress)
    import torch

    lengths = [len(e.ids) for e in encoded]
    hidden = torch.cat(cached)
    del cached  # one copy in memory: the rows below are views of ``hidden``
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_file({"hidden": hidden, "lengths": torch.tensor(lengths)}, str(partial))
    os.replace(partial, path)
    return list(hidden.split(lengths))


def _bottom_key(encoded: Sequence[EncodedExample], split: int, base: LoadedModel) -> str:
    """What the frozen layers' outputs depend on: the token ids, where the stack is split, and
    the base model (its name, architecture, dtype and device)."""
    from ..experts import base_fingerprint

    digest = hashlib.sha256()
    for example in encoded:
        digest.update(json.dumps(example.ids).encode())
    digest.update(f"{split}|{base.name}|{base_fingerprint(base.model)}|{base.dtype}|{base.device}".encode())
    return digest.hexdigest()[:16]


def _run_bottom(stack: DecoderStack, encoded: Sequence[EncodedExample], split: int, batch_size: int,
                device: Any, progress: ProgressCallback | None = None) -> list[torch.Tensor]:
    """Each example's hidden states entering layer ``split``: computed once, without gradients."""
    import torch

    cached: list[torch.Tensor] = [None] * len(encoded)  # type: ignore[list-item]
    done = 0
    with torch.no_grad():
        for batch in _length_batches([len(e.ids) for e in encoded], batch_size):
            ids, mask = _pad([encoded[i].ids for i in batch], device)
            hidden = stack.embed(ids)
            if split:
                hidden = stack.run(hidden, mask, 0, split)
            for row, index in enumerate(batch):
                cached[index] = hidden[row, :len(encoded[index].ids)].clone()
            done += len(batch)
            if progress:
                progress(done, len(encoded))
    return cached


def _batch_loss(stack: DecoderStack, cached: Sequence[torch.Tensor], encoded: Sequence[EncodedExample],
                batch: Sequence[int], split: int, settings: TrainSettings, digits: torch.Tensor | None,
                device: Any) -> torch.Tensor:
    """Mean loss over the scored positions of the examples ``batch``, through the top layers."""
    import torch
    import torch.nn.functional as F

    inputs = [cached[i] for i in batch]
    width = max(x.shape[0] for x in inputs)
    hidden = inputs[0].new_zeros((len(inputs), width, inputs[0].shape[-1]))
    mask = torch.zeros((len(inputs), width), dtype=torch.long, device=device)
    for row, values in enumerate(inputs):
        hidden[row, :values.shape[0]] = values
        mask[row, :values.shape[0]] = 1
    hidden = stack.run(hidden, mask, split, len(stack.layers), settings.gradient_checkpointing)
    chosen = [encoded[i] for i in batch]
    rows = torch.tensor([r for r, e in enumerate(chosen) for _ in e.positions], device=device)
    cols = torch.tensor([p for e in chosen for p in e.positions], device=device)
    if settings.loss in ("response", "rating-vocab"):
        targets = torch.tensor([t for e in chosen for t in e.targets], device=device)
        return F.cross_entropy(stack.logits_at(hidden, rows, cols).float(), targets)
    if digits is None:
        raise TrainingError("a rating loss needs the star token ids")
    logits = stack.logits_at(hidden, rows, cols, digits.to(device)).float()
    stars = torch.tensor([e.star for e in chosen], device=device)
    loss = F.cross_entropy(logits, stars)
    if settings.loss == "rating-stars-expected":
        expected = (logits.softmax(-1) * torch.arange(1, 6, device=device)).sum(-1)
        loss = loss + settings.expected_weight * ((expected - (stars + 1)) ** 2).mean()
    return loss


def _length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length (little padding); the trainer shuffles the batches."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def _pad(rows: Sequence[Sequence[int]], device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (pad value 0: masked out, and never scored) and their attention mask."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = torch.tensor(row)
        mask[index, :len(row)] = 1
    return ids.to(device), mask.to(device)


def _run_key(encoded: Sequence[EncodedExample], lora: LoraSettings, settings: TrainSettings) -> str:
    """What a checkpoint must match to be resumed: the data and every setting."""
    return run_key(([e.ids, e.positions, e.targets] for e in encoded), lora, settings)


def _lora_state(model: Any) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    return {name: value.detach().clone() for name, value in get_peft_model_state_dict(model).items()}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic: a crash while saving leaves the previous checkpoint whole."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise TrainingError(f"cannot resume from {path}: {err} (delete it to start the stage over)") from err

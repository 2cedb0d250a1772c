"""Fine-tuning from a trained adapter: its LoRA weights copied into a fresh LoRA of the same shape.

Both engines inject a new LoRA (random A, zero B) and train it; with a start adapter the injected
weights are replaced by that adapter's before the first step, so training continues from what the
adapter already knows (the ``adapt`` recipe) instead of from the base model. The shapes must match:
the pipeline takes the LoRA settings from the start adapter's card for that reason.

Example:
    >>> model = get_peft_model(base.model, lora_config(lora, layers))   # doctest: +SKIP
    >>> load_start_weights(model, Path("experts/adapters/reasoner"))     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..experts import ADAPTER_WEIGHTS
from .sft_types import TrainingError


def start_key(folder: Path | None) -> str:
    """What a resumed checkpoint must also match: the start weights (``""``: a fresh LoRA)."""
    if folder is None:
        return ""
    return hashlib.sha256((Path(folder) / ADAPTER_WEIGHTS).read_bytes()).hexdigest()[:16]


def load_start_weights(model: Any, folder: Path) -> None:
    """Copy ``folder``'s LoRA weights into ``model`` (a peft model with a fresh LoRA named
    ``default``); every LoRA weight of the model must come from the file, with its shape.

    Raises:
        TrainingError: the file is missing, or its LoRA does not fit the model's (other rank,
            layers or modules).
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(folder) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise TrainingError(f"cannot start from {folder}: no {ADAPTER_WEIGHTS} there")
    state = load_file(str(path))
    wanted = {name for name, _ in model.named_parameters() if "lora_" in name}
    try:
        result = set_peft_model_state_dict(model, state)
    except RuntimeError as err:  # a size mismatch: another rank
        raise TrainingError(f"the adapter in {folder} does not fit this LoRA ({_first_line(err)}); "
                            "train with the LoRA settings of its card") from err
    missing = sorted(name for name in result.missing_keys if name in wanted)
    unexpected = list(result.unexpected_keys)
    if missing or unexpected or not wanted:
        raise TrainingError(f"the adapter in {folder} does not fit this LoRA: {len(missing)} LoRA weight(s) "
                            f"missing from it, {len(unexpected)} it has that this LoRA lacks (other layers "
                            "or modules?); train with the LoRA settings of its card")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]

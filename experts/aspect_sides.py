"""The aspect-side model: is an aspect praised, criticised or neither, in the sentence that names it?

The rules of :mod:`~reason4rec.experts.product_aspects` put about one sided aspect in sixteen on the
wrong side, and no rule written on seen errors carried to unseen ones (``docs/aspects.md``): the
errors are judgements the sentence makes without opinion words, or makes of something else ("the
hiss is from the cheap XLR"). So a small trained model checks the rules' sides: the bundled
all-MiniLM-L6-v2 encoder with a LoRA adapter and a three-way head (``experts/adapters/aspect_sides/``,
trained by :func:`reason4rec.training.fit_side_model` on hand-labelled reviews of three categories).
It reads the aspect as written, the rules' own verdict and the sentence; a side it does not
confirm is dropped (:func:`~reason4rec.experts.product_aspects.decided`).

Example:
    >>> model = SideModel.load(shipped_side_model(), sentence_model_dir)        # doctest: +SKIP
    >>> model.polarities([SideQuestion("the clip", "Bright tone but the clip broke.", 1)])  # doctest: +SKIP
    [-1]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import Reason4RecError

SideLabel = Literal["criticised", "neither", "praised"]
SIDE_LABELS: tuple[SideLabel, ...] = ("criticised", "neither", "praised")
"""The head's classes, in order; class i is polarity i - 1."""
POLARITY_OF: dict[SideLabel, int] = {"criticised": -1, "neither": 0, "praised": 1}
_RULE_WORDS = {-1: "bad", 0: "unsure", 1: "good"}
MAX_TOKENS = 96
"""The model reads the aspect, the rules' verdict and one sentence: longer sentences are cut."""
CARD = "card.json"
SIDE_MODEL_DIR = Path(__file__).resolve().parent / "adapters" / "aspect_sides"


class SideModelError(Reason4RecError):
    """The side model's files are missing, damaged or for another base."""


@dataclass(frozen=True, slots=True)
class SideQuestion:
    """One aspect mention to decide: the words as written, its sentence, the rules' polarity."""

    written: str
    sentence: str
    rule: int


def model_text(question: SideQuestion) -> tuple[str, str]:
    """The pair the encoder reads: ``("the clip (rules: good)", sentence)``."""
    return f"{question.written} (rules: {_RULE_WORDS[question.rule]})", question.sentence


def shipped_side_model() -> Path | None:
    """The shipped adapter's folder, or None where the package has none."""
    return SIDE_MODEL_DIR if (SIDE_MODEL_DIR / CARD).is_file() else None


def read_card(folder: Path) -> dict[str, Any]:
    try:
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SideModelError(f"{folder / CARD} is missing or damaged: {err}") from err
    if not isinstance(card, dict) or card.get("labels") != list(SIDE_LABELS) or not card.get("version"):
        raise SideModelError(f"{folder / CARD} is not an aspect-side model card (labels {SIDE_LABELS})")
    return card


class SideModel:
    """The encoder with the adapter merged in; thread-safe (one forward at a time)."""

    def __init__(self, tokenizer: Any, model: Any, version: str) -> None:
        self._tokenizer, self._model, self.version = tokenizer, model, version
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, base_dir: Path) -> SideModel:
        """The adapter in ``folder`` on the MiniLM files in ``base_dir``."""
        import torch  # noqa: F401  (transformers needs it; imported here to keep start-up light)
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        card = read_card(folder)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
            base = AutoModelForSequenceClassification.from_pretrained(str(base_dir), num_labels=len(SIDE_LABELS))
            model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            raise SideModelError(f"cannot load the aspect-side model from {folder}: {err}") from err
        model.eval()
        return cls(tokenizer, model, str(card["version"]))

    def probabilities(self, questions: Sequence[SideQuestion], batch_size: int = 64) -> list[list[float]]:
        """Per question, the probabilities of :data:`SIDE_LABELS`."""
        import torch

        out: list[list[float]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(questions), batch_size):
                pairs = [model_text(q) for q in questions[start:start + batch_size]]
                batch = self._tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation="only_second",
                                        max_length=MAX_TOKENS, padding=True, return_tensors="pt")
                out.extend(torch.softmax(self._model(**batch).logits, dim=-1).tolist())
        return out

    def polarities(self, questions: Sequence[SideQuestion]) -> list[int]:
        """Per question, -1, 0 or +1: the most probable class."""
        return [max(range(len(p)), key=p.__getitem__) - 1 for p in self.probabilities(questions)]

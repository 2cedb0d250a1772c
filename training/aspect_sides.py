"""Fitting the aspect-side model (:mod:`reason4rec.experts.aspect_sides`) on hand-labelled reviews.

A label says whether a review praises, criticises or merely names one of its aspects, with the
quote that carries it (``bench/aspect_labelling.md``). Each label becomes one training example per
mention the rules find: the mention in the quoted sentence for praise and criticism (the review's
other mentions of the aspect may be neutral, so they are left out), every mention for "neither".
The encoder is the bundled all-MiniLM-L6-v2 with a LoRA adapter (rank 16 on every linear layer)
and a three-way head, small enough to train on two cores in minutes and to ship in git.

Example:
    >>> rows = read_side_labels([Path("bench/aspect_side_train/instruments.jsonl")])   # doctest: +SKIP
    >>> examples = side_examples(rows, texts)                                          # doctest: +SKIP
    >>> fit_side_model(examples, base_dir, Path("experts/adapters/aspect_sides"))     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Reason4RecError
from ..experts.aspect_sides import (
    CARD,
    MAX_TOKENS,
    POLARITY_OF,
    SIDE_LABELS,
    SideModel,
    SideQuestion,
    model_text,
    read_card,
)

_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True, slots=True)
class SideLabel:
    """One hand label: the review, the aspect (as the rules write it), its side, the quote."""

    review_id: str
    aspect: str
    label: str
    quote: str


@dataclass(frozen=True, slots=True)
class SideExample:
    question: SideQuestion
    label: int
    """Index into :data:`~reason4rec.experts.aspect_sides.SIDE_LABELS`."""
    review_id: str


def read_side_labels(paths: Iterable[Path]) -> list[SideLabel]:
    """Every label of the files, strictly: a malformed line is named, never skipped."""
    rows: list[SideLabel] = []
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = SideLabel(str(row["review_id"]), str(row["aspect"]), str(row["label"]), str(row.get("quote", "")))
            except (ValueError, KeyError, TypeError) as err:
                raise Reason4RecError(f"{path}:{number}: not a side label ({err})") from err
            if label.label not in POLARITY_OF:
                raise Reason4RecError(f"{path}:{number}: label {label.label!r} is not one of {SIDE_LABELS}")
            rows.append(label)
    return rows


def _overlap(quote: str, sentence: str) -> float:
    words = set(_WORD.findall(quote.lower()))
    return len(words & set(_WORD.findall(sentence.lower()))) / max(len(words), 1)


def side_examples(labels: Sequence[SideLabel], texts: Mapping[str, str]) -> list[SideExample]:
    """Training examples of ``labels`` (reviews' texts by id; a label of an unknown review, or of a
    phrase the rules do not find as an aspect, gives none)."""
    from ..experts.product_aspects import mentions_of_doc, nlp
    from ..experts.prompts import clean_text

    by_review: dict[str, list[SideLabel]] = {}
    for label in labels:
        by_review.setdefault(label.review_id, []).append(label)
    ids = [i for i in by_review if i in texts]
    docs = nlp().pipe([clean_text(texts[i], 4000) for i in ids], batch_size=64)
    examples: list[SideExample] = []
    for review_id, doc in zip(ids, docs):
        mentions = mentions_of_doc(doc)  # the rules' sides: what the model reads beside the sentence
        for label in by_review[review_id]:
            named = [m for m in mentions if m.aspect == label.aspect]
            if label.label != "neither" and named:
                named = [max(named, key=lambda m: _overlap(label.quote, m.sentence))]
            examples.extend(SideExample(SideQuestion(m.written, m.sentence, m.rule),
                                        SIDE_LABELS.index(label.label), review_id) for m in named)  # type: ignore[arg-type]
    return examples


def fit_side_model(
    examples: Sequence[SideExample],
    base_dir: Path,
    out: Path | None = None,
    *,
    epochs: int = 4,
    learning_rate: float = 5e-4,
    rank: int = 16,
    batch_size: int = 16,
    seed: int = 0,
    trained_on: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SideModel:
    """Fine-tune the adapter and head on ``examples``; save it with its card to ``out`` when given.
    Returns it ready to predict."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    if not examples:
        raise Reason4RecError("no training examples: the labels name no aspect the rules find")
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(base_dir), num_labels=len(SIDE_LABELS))
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=rank, lora_alpha=2 * rank,
                                             lora_dropout=0.1, target_modules=["query", "key", "value", "dense"]))
    order = list(range(len(examples)))
    steps = epochs * ((len(order) + batch_size - 1) // batch_size)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 10, steps)
    shuffle = random.Random(seed)
    model.train()
    for epoch in range(epochs):
        shuffle.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[start:start + batch_size]]
            pairs = [model_text(e.question) for e in chunk]
            batch = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation="only_second",
                              max_length=MAX_TOKENS, padding=True, return_tensors="pt")
            loss = model(**batch, labels=torch.tensor([e.label for e in chunk])).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss.detach()) * len(chunk)
        if progress:
            progress(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.3f}")
    model.eval()
    version = "unsaved"
    if out is not None:
        save_side_model(model, out, {"epochs": epochs, "learning_rate": learning_rate, "rank": rank,
                                     "batch_size": batch_size, "seed": seed, "examples": len(examples),
                                     "classes": dict(Counter(SIDE_LABELS[e.label] for e in examples)),
                                     **({"trained_on": dict(trained_on)} if trained_on else {})})
        version = read_card(out)["version"]
    return SideModel(tokenizer, model, version)


def save_side_model(model: Any, out: Path, facts: Mapping[str, Any]) -> Path:
    """The adapter and head (``adapter_model.safetensors``) and a card whose version is their hash."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    digest = hashlib.sha256((out / "adapter_model.safetensors").read_bytes()).hexdigest()[:10]
    card = {"version": f"sides-{digest}", "labels": list(SIDE_LABELS), "base": "sentence-transformers/all-MiniLM-L6-v2",
            **facts}
    (out / CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return out


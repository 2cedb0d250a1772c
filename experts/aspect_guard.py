"""A decoding guard for the Reasoner: it names an aspect its experts learnt only where its prompt names it.

A small Reasoner learns its categories' vocabulary along with the task. Shown another category's
reviews it writes the words it learnt ("the user valued price, quality and customer service" of
a gift card whose reviews say neither; guitars and warranties of a music album), and a person
cannot tell such a claim from one the reviews make. This guard takes those words away while it
writes: a whole-word token of an aspect the experts' own history summaries name (their learnt
vocabulary, :func:`learnt_vocabulary`) may come next only if the prompt (history lines, item
title, instructions) says that word too, in either number. The reason's own frame ("some of their
needs are met", :data:`~reason4rec.experts.prompts.REASON_FRAME`) and words today's aspect rules call
filler are never forbidden. The reason is then built from the
words in front of it; words the experts never learnt are left alone (they come from somewhere
else than memory, and the grounding measure still counts them).

Both local engines apply it when :attr:`~reason4rec.experts.backend.DecodingSettings.aspect_guard`
is set (the Reasoner's decoding, :data:`~reason4rec.experts.backend.EXPERT_DECODING`); a server
of this project applies it for the requests it answers as the Reasoner.

Example:
    >>> guard = AspectGuard(tokenizer, ["price", "quality", "card"])        # doctest: +SKIP
    >>> guard.forbidden(tokenizer("Reviews: great card, fast delivery")["input_ids"])  # doctest: +SKIP
    [2527, 3929, ...]                                   # " price", " Price", " quality", ...
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .product_aspects import FILLER
from .prompts import NO_ANALYSIS, REASON_FRAME, parse_summary
from .word_repeats import whole_word_tokens

SUMMARY_FILES = ("summaries.jsonl.gz", "summaries.jsonl")
"""Where an adapters folder (shipped, exported or a training run) keeps its history summaries."""
MIN_MENTIONS = 2
"""A word of the summaries becomes vocabulary once it is named this often (a typo named once is not
something the Reasoner learnt to say)."""
_WORD = re.compile(r"[a-z][a-z'-]*")


def base_form(word: str) -> str:
    """One form for a word's singular and plural ("strings" and "string", "boxes" and "box")."""
    word = word.lower()
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class AspectGuard:
    """Which tokens would name a learnt aspect that a prompt does not name; built once per
    tokenizer and vocabulary (about a second for a 49k vocabulary)."""

    def __init__(self, tokenizer: Any, vocabulary: Iterable[str]) -> None:
        self._tokenizer = tokenizer
        frame = {base_form(word) for phrase in REASON_FRAME for word in _WORD.findall(phrase.lower())}
        learnt = {base_form(word) for word in vocabulary if word not in FILLER} - frame
        self._by_word: dict[str, list[int]] = {}
        for word, ids in whole_word_tokens(tokenizer).items():
            if base_form(word) in learnt:
                self._by_word.setdefault(base_form(word), []).extend(ids)

    def __len__(self) -> int:
        """Learnt words that have a whole-word token (only those can be guarded)."""
        return len(self._by_word)

    def forbidden(self, prompt_ids: Sequence[int]) -> list[int]:
        """Token ids that may not be written in answer to the prompt ``prompt_ids``."""
        text = self._tokenizer.decode(list(prompt_ids), skip_special_tokens=True).lower()
        said = {base_form(word) for word in _WORD.findall(text)}
        return [token for word, ids in self._by_word.items() if word not in said for token in ids]


def learnt_vocabulary(adapters: Mapping[Any, Path]) -> list[str]:
    """The aspect words of the history summaries kept with ``adapters`` (beside an expert's folder,
    ``<dir>/<expert>``, or a run's, ``<run>/<expert>/adapter``), named at least :data:`MIN_MENTIONS`
    times; empty where no summaries are kept (the guard is then off)."""
    files = {folder / name for adapter in adapters.values() for folder in list(Path(adapter).parents)[:2]
             for name in SUMMARY_FILES if (folder / name).is_file()}
    counts: Counter[str] = Counter()
    for path in sorted(files):
        counts.update(_summary_words(path))
    return sorted(word for word, count in counts.items() if count >= MIN_MENTIONS and len(word) > 2)


def _summary_words(path: Path) -> Counter[str]:
    """Words of every aspect phrase in a summary cache (a torn or foreign line is skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    counts: Counter[str] = Counter()
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                try:
                    summary = parse_summary(str(json.loads(line).get("summary", "")))
                except (ValueError, AttributeError):
                    continue
                for field in (summary.positive, summary.negative, summary.preferences):
                    for phrase in field.split(","):
                        if phrase.strip().lower() != NO_ANALYSIS:
                            counts.update(_WORD.findall(phrase.lower()))
    except (OSError, EOFError, UnicodeDecodeError):
        return counts
    return counts

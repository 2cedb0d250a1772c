"""A decoding guard: a word a rule held back is not written glued to the word before it instead.

A tokenizer has two tokens for most words: one led by a space (" item") and one without ("item",
the piece that ends a longer word). The loop guards and the aspect guard lower or forbid the first;
the model, wanting the word, then writes the second right after the last word, and a reason reads
"Other buyers of thisitem praisemagazinebut mentionarticle" or "rewards and cardservice"
(magazines: 3 of 348 reasons of the shipped experts; the words most often invented there included
"matchmagazine"). This guard gives the bare token, where it would join the word just written, the
same drop its spaced twin got from the rules before it: forbidden if the twin was forbidden,
lowered as much if the twin was penalised, untouched otherwise (so " over" + "priced" is written
as it always was). After a space, a newline or a punctuation mark nothing changes.

Both local engines apply it last, when :attr:`~reason4rec.experts.backend.DecodingSettings.no_glued_words`
is set (the Reasoner's decoding, :data:`~reason4rec.experts.backend.EXPERT_DECODING`).

Example:
    >>> glue = GlueGuard(tokenizer)                                           # doctest: +SKIP
    >>> glue.joins_word(tokenizer("Other buyers of this")["input_ids"])       # doctest: +SKIP
    True
    >>> glue.carry(raw_scores, scores)   # "item" now scores as low as " item" was pushed  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_SPACE_MARKS = ("Ġ", "▁")
"""How byte-level BPE (GPT-2, SmolLM) and SentencePiece (Llama) spell a token's leading space."""
_TAIL_TOKENS = 4
"""Answer tokens decoded to see how it ends (one is enough; a few survive split characters)."""


class GlueGuard:
    """The (spaced, bare) token pairs of whole words, read from the vocabulary once per tokenizer
    (a dictionary walk: milliseconds, so a fresh process's first answer does not wait for it)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        vocabulary: dict[str, int] = tokenizer.get_vocab()
        pairs = sorted((spaced, vocabulary[piece[1:]]) for piece, spaced in vocabulary.items()
                       if piece[:1] in _SPACE_MARKS and len(piece) > 2 and piece[1:].isalpha()
                       and piece[1:] in vocabulary)
        self.spaced = np.asarray([spaced for spaced, _ in pairs], dtype=np.int64)
        """Whole-word tokens led by a space (" item"), two letters or more."""
        self.bare = np.asarray([bare for _, bare in pairs], dtype=np.int64)
        """Each one's twin without the space ("item"), at the same position."""

    def __len__(self) -> int:
        return len(self.spaced)

    def joins_word(self, generated: Sequence[int]) -> bool:
        """Whether a bare token written next would join a word: the answer so far ends in a letter."""
        if not generated:
            return False
        tail = self._tokenizer.decode(list(generated[-_TAIL_TOKENS:]), skip_special_tokens=True)
        return bool(tail) and tail[-1].isalpha()

    def carry(self, raw: Any, scores: Any, spaced: Any = None, bare: Any = None) -> Any:
        """Lower each bare twin in ``scores`` by what the rules took from its spaced twin
        (``raw`` is the row's scores before them), in place; numpy rows, or torch rows with
        ``spaced``/``bare`` as torch index tensors (:attr:`spaced`, :attr:`bare` otherwise)."""
        spaced = self.spaced if spaced is None else spaced
        bare = self.bare if bare is None else bare
        drop = scores[spaced] - raw[spaced]
        pushed = drop < 0
        if pushed.any():
            scores[bare[pushed]] += drop[pushed]
        return scores

"""A decoding guard: a word a rule held back is not written glued to the word before it instead.

A tokenizer has two tokens for most words: one led by a space (" item") and one without ("item",
the piece that ends a longer word). The loop guards and the aspect guard lower or forbid the first;
the model, wanting the word, then writes the second right after the last word, and a reason reads
"Other buyers of thisitem praisemagazinebut mentionarticle" or "rewards and cardservice"
(magazines: 2 of 348 reasons of the shipped experts; the words most often invented there included
"matchmagazine"). This guard gives the bare token, where it would join the word just written, the
same drop its spaced twin got from the rules before it: forbidden if the twin was forbidden,
lowered as much if the twin was penalised, untouched otherwise (so " over" + "priced" is written
as it always was). A word the prompt holds may always be copied piece by piece (" beh" + "ringer"
where the reviews say "Behringer": without this, "behminger"). After a space, a newline or a
punctuation mark nothing changes.

Both local engines apply it last, when :attr:`~reason4rec.experts.backend.DecodingSettings.no_glued_words`
is set (the Reasoner's decoding, :data:`~reason4rec.experts.backend.EXPERT_DECODING`).

Example:
    >>> glue = GlueGuard(tokenizer)                                           # doctest: +SKIP
    >>> words = glue.prompt_words(tokenizer("1. Strap: + behringer")["input_ids"])  # doctest: +SKIP
    >>> glue.apply(raw_scores, scores, tokenizer("Other buyers of this")["input_ids"], words)  # doctest: +SKIP
    # "item" now scores as low as the rules pushed " item"; "ringer" after "beh" would be left alone
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_SPACE_MARKS = ("Ġ", "▁")
"""How byte-level BPE (GPT-2, SmolLM) and SentencePiece (Llama) spell a token's leading space."""
_TAIL_TOKENS = 8
"""Answer tokens decoded to find the word being written (longer than the words a reason copies)."""
_LETTERS = re.compile(r"[^\W\d_]+")
_LAST_LETTERS = re.compile(r"[^\W\d_]+$")


class GlueGuard:
    """The (spaced, bare) token pairs of whole words, read from the vocabulary once per tokenizer
    (a dictionary walk: milliseconds, so a fresh process's first answer does not wait for it)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        vocabulary: dict[str, int] = tokenizer.get_vocab()
        pairs = sorted((spaced, vocabulary[piece[1:]], piece[1:]) for piece, spaced in vocabulary.items()
                       if piece[:1] in _SPACE_MARKS and len(piece) > 2 and piece[1:].isalpha()
                       and piece[1:] in vocabulary)
        self.spaced = np.asarray([spaced for spaced, _, _ in pairs], dtype=np.int64)
        """Whole-word tokens led by a space (" item"), two letters or more."""
        self.bare = np.asarray([bare for _, bare, _ in pairs], dtype=np.int64)
        """Each one's twin without the space ("item"), at the same position."""
        self._positions: dict[str, list[int]] = {}
        """A bare twin's lowercased text -> its positions ("item", "Item")."""
        for position, (_, _, text) in enumerate(pairs):
            self._positions.setdefault(text.lower(), []).append(position)

    def __len__(self) -> int:
        return len(self.spaced)

    def prompt_words(self, prompt_ids: Sequence[int]) -> frozenset[str]:
        """The prompt's words, lowercased: the ones an answer may copy piece by piece."""
        text = self._tokenizer.decode(list(prompt_ids), skip_special_tokens=True)
        return frozenset(word.lower() for word in _LETTERS.findall(text) if len(word) > 2)

    def word_begun(self, generated: Sequence[int]) -> str:
        """The letters the answer ends with (the word a bare token would join), lowercased; ""
        after a space, a newline or a punctuation mark."""
        if not generated:
            return ""
        tail = self._tokenizer.decode(list(generated[-_TAIL_TOKENS:]), skip_special_tokens=True)
        found = _LAST_LETTERS.search(tail)
        return found.group(0).lower() if found else ""

    def apply(self, raw: Any, scores: Any, generated: Sequence[int], words: frozenset[str] = frozenset(),
              spaced: Any = None, bare: Any = None) -> Any:
        """Where the answer ends in a letter, lower each bare twin in ``scores`` by what the rules
        took from its spaced twin (``raw``: the row's scores before them), in place, except the
        pieces that continue the word begun into one of the prompt's ``words``. Numpy rows, or
        torch rows with ``spaced``/``bare`` as torch index tensors (:attr:`spaced`, :attr:`bare`)."""
        begun = self.word_begun(generated)
        if not begun:
            return scores
        spaced = self.spaced if spaced is None else spaced
        bare = self.bare if bare is None else bare
        drop = scores[spaced] - raw[spaced]
        for copied in self._copies(begun, words):
            drop[copied] = 0
        pushed = drop < 0
        if pushed.any():
            scores[bare[pushed]] += drop[pushed]
        return scores

    def _copies(self, begun: str, words: frozenset[str]) -> set[int]:
        """Positions of the bare twins that continue ``begun`` into a word of ``words``."""
        found: set[int] = set()
        for word in words:
            if len(word) > len(begun) and word.startswith(begun):
                rest = word[len(begun):]
                for end in range(1, len(rest) + 1):
                    found.update(self._positions.get(rest[:end], ()))
        return found

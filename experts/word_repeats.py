"""A decoding guard: never write the word just written again ("beginner beginner", "none none").

A small Summarizer's commonest slip once its answers stop after three lines is a keyword doubled
in a row, which the strict summary check (:func:`~reason4rec.experts.prompts.summary_problems`)
counts as malformed. An n-gram ban cannot stop it without also banning legitimate repeats across
fields, so this bans exactly it: after a word, the tokens that are that same whole word again
(led by a space, any case). Both local backends apply it when
:attr:`~reason4rec.experts.backend.DecodingSettings.no_repeated_word` is set.

Example:
    >>> ban = RepeatedWordBan(tokenizer)                            # doctest: +SKIP
    >>> ban.banned(tokenizer("great strings, great")["input_ids"])  # doctest: +SKIP
    [1570, 2664]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_LAST_WORD = re.compile(r"(\w+)$")
_WHOLE_WORD_TOKEN = re.compile(r"^ (\w+)$")
_TAIL_TOKENS = 8
"""Generated tokens decoded to find the last word: longer than any word a Summarizer writes."""


class RepeatedWordBan:
    """Which token ids would repeat the answer's last word; built once per tokenizer (about a
    second for a 49k vocabulary)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._by_word: dict[str, list[int]] = {}
        for token_id in range(len(tokenizer)):
            match = _WHOLE_WORD_TOKEN.match(tokenizer.decode([token_id]))
            if match:
                self._by_word.setdefault(match.group(1).lower(), []).append(token_id)

    def banned(self, generated: Sequence[int]) -> list[int]:
        """Token ids that may not come next after ``generated`` (the answer's ids so far)."""
        if not generated:
            return []
        tail = self._tokenizer.decode(list(generated[-_TAIL_TOKENS:]), skip_special_tokens=True)
        match = _LAST_WORD.search(tail)
        return self._by_word.get(match.group(1).lower(), []) if match else []

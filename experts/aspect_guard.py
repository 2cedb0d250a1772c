"""A decoding guard for the Reasoner: it names an aspect its experts learnt only where its prompt names it.

A small Reasoner learns its categories' vocabulary along with the task. Shown another category's
reviews it writes the words it learnt ("the user valued price, quality and customer service" of
a gift card whose reviews say neither; guitars and warranties of a music album), and a person
cannot tell such a claim from one the reviews make. This guard takes those words away while it
writes: a whole-word token of an aspect the experts' own history summaries name (their
learnt vocabulary, :func:`~reason4rec.experts.shipping.learnt_vocabulary`) may come next only if
the prompt (history lines, item title, instructions) says that word too, in either number. The
reason's own frame ("some of their needs are met", :data:`~reason4rec.experts.prompts.REASON_FRAME`)
and words today's aspect rules call filler are never forbidden. The reason is then built from the
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

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .filler import FILLER
from .inflection import plural_forms, singulars
from .prompts import REASON_FRAME

_WORD = re.compile(r"[a-z][a-z'-]*")


class AspectGuard:
    """Which tokens would name a learnt aspect that a prompt does not name: the single tokens of
    each learnt word led by a space, in either number and case (" price", " Prices"); built once
    per backend (one batch of the tokenizer's, well under a second)."""

    def __init__(self, tokenizer: Any, vocabulary: Iterable[str]) -> None:
        self._tokenizer = tokenizer
        frame = {word for phrase in REASON_FRAME for form in _WORD.findall(phrase.lower()) for word in singulars(form)}
        learnt = sorted({word for word in vocabulary if word not in FILLER and not singulars(word) & frame})
        forms = {f" {cased}": word for word in learnt
                 for form in plural_forms(word) for cased in (form, form.capitalize())}
        encoded = tokenizer(list(forms), add_special_tokens=False)["input_ids"] if forms else []
        self._by_word: dict[str, list[int]] = {}
        for word, ids in zip(forms.values(), encoded):
            if len(ids) == 1:  # a word of several tokens is not guarded: its first piece starts other words too
                self._by_word.setdefault(word, []).append(ids[0])
        self._names = {word: singulars(word) for word in self._by_word}

    def __len__(self) -> int:
        """Learnt words that have a whole-word token (only those can be guarded)."""
        return len(self._by_word)

    def forbidden(self, prompt_ids: Sequence[int]) -> list[int]:
        """Token ids that may not be written in answer to the prompt ``prompt_ids``."""
        text = self._tokenizer.decode(list(prompt_ids), skip_special_tokens=True).lower()
        said = {name for word in _WORD.findall(text) for name in singulars(word)}
        return [token for word, ids in self._by_word.items() if not self._names[word] & said for token in ids]

"""Shared test doubles: a fake expert backend and a deterministic embedding (langgraph's style).

Only the models are fakes. The graph, its nodes and the memory (SQLite review store, Chroma
collections) run as they do in production, so a whole turn takes milliseconds:

- :class:`FakeBackend`: the :class:`~reason4rec.experts.backend.Backend` protocol with canned
  per-expert answers, streamed by pieces, a configurable rating distribution, optional failures,
  and a record of every call (:attr:`FakeBackend.calls`).
- :class:`SamplingFake`: a FakeBackend that can also ``sample`` (canned drafts).
- :class:`SpyBackend`: the same record around a real backend (which prompts it had to answer).
- :class:`FakeCompletions`: a local backend's ``complete`` layer (a few characters per token,
  honouring ``stop_row``), under the real ``generate_by_complete``.
- :class:`HashedWords`: a hashed bag of words, normalised, registered with Chroma like the real
  sentence embedding (texts sharing words are near; no model is loaded).
- :data:`CATALOG`: the handful of titled reviews the ``fake_agent`` fixture's memory holds.

``tests/conftest.py`` puts this folder on ``sys.path``: import it as ``from fakes import ...``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from reason4rec.config import Expert
from reason4rec.data import Review, ReviewDataset
from reason4rec.experts.backend import Completion, DecodingSettings, TextCallback, generate_by_complete
from reason4rec.experts.prompts import Messages, answer_opening, continued
from reason4rec.experts.rating import RatingDistribution

SUMMARY = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tone"
"""The Summarizer's canned answer (three fields, as the real one writes them)."""
REASON = "Warm tone, as this player likes."
"""Every other expert's canned answer."""
RATING = RatingDistribution.from_logits([0.0, 0.0, 0.0, 3.0, 2.0])
"""The canned rating: expected 4.05."""

Answer = str | Callable[[Messages], str]
"""A canned answer, or one made from the conversation asked (e.g. by the item it names)."""
Rating = RatingDistribution | Callable[[Messages], RatingDistribution]


@dataclass(frozen=True, slots=True)
class Call:
    """One call a backend received: ``generate``, ``stream``, ``rate`` (or ``complete``)."""

    method: str
    expert: Expert | None
    """None: a ``complete`` on the base model without an adapter."""
    conversations: int


def pieces(text: str) -> list[str]:
    """``text`` as a model streams it: a word at a time with its spaces (they join back to it)."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


class FakeBackend:
    """The Backend protocol with canned answers; every call is recorded in :attr:`calls`.

    Args:
        answers: One text for every expert, or per expert (merged over the defaults: the
            Summarizer writes :data:`SUMMARY`, every other expert :data:`REASON`). A callable is
            given the conversation and returns the text.
        rating: What ``rate`` returns for each conversation (or a callable of it).
        versions: The version of every expert (one string) or per expert; default ``fake-<expert>``.
        errors: An exception to raise when an expert is asked (a backend that is down).
        batch_size: The rows a real backend would run per forward (the graph batches candidates by it).

    Example:
        >>> backend = FakeBackend({Expert.REASONER: "Bright."})
        >>> backend.generate("reasoner", [[], []]), backend.generated
        (['Bright.', 'Bright.'], [('reasoner', 2)])
    """

    def __init__(self, answers: Answer | Mapping[str, Answer] | None = None, *, rating: Rating = RATING,
                 versions: str | Mapping[str, str] | None = None,
                 errors: Mapping[str, BaseException] | None = None, batch_size: int = 2) -> None:
        defaults: dict[Expert, Answer] = {expert: SUMMARY if expert is Expert.SUMMARIZER else REASON
                                          for expert in Expert}
        if isinstance(answers, str) or callable(answers):
            self.answers = dict.fromkeys(Expert, answers)
        else:
            self.answers = {**defaults, **{Expert(name): text for name, text in (answers or {}).items()}}
        self.rating = rating
        self.versions = versions
        self.errors = {Expert(name): err for name, err in (errors or {}).items()}
        self.batch_size = batch_size
        self.calls: list[Call] = []

    # ------------------------------------------------------------------ the Backend protocol
    def version(self, expert: Expert) -> str:
        expert = Expert(expert)
        if isinstance(self.versions, str):
            return self.versions
        return (self.versions or {}).get(expert, f"fake-{expert.value}")

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        """The canned answer per conversation, each streamed to ``on_text`` a piece at a time."""
        expert = self._asked("generate", expert, len(conversations))
        texts = [self.answer(expert, conversation) for conversation in conversations]
        for row, text in enumerate(texts):
            for piece in pieces(text) if on_text else ():
                on_text(row, piece)
        return texts

    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """The canned answer a piece at a time (a generator: closing it stops the stream)."""
        expert = self._asked("stream", expert, 1)
        return self._pieces(self.answer(expert, conversation))

    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        if response_prefixes is not None and len(response_prefixes) != len(conversations):
            raise ValueError("response_prefixes must match conversations one to one")
        self._asked("rate", expert, len(conversations))
        rating = self.rating
        return [rating(conversation) if callable(rating) else rating for conversation in conversations]

    # ------------------------------------------------------------------ what was asked
    def answer(self, expert: Expert, conversation: Messages) -> str:
        """The canned answer of ``expert`` to ``conversation``: the whole answer, as every backend
        returns it, where the conversation has begun it (the canned text continues it)."""
        answer = self.answers[Expert(expert)]
        return continued(answer_opening(conversation), answer(conversation) if callable(answer) else answer)

    @property
    def generated(self) -> list[tuple[Expert, int]]:
        """``(expert, conversations)`` of every ``generate`` call, in order."""
        return [(call.expert, call.conversations) for call in self.calls if call.method == "generate"]

    @property
    def prompts(self) -> int:
        """How many conversations ``generate`` was asked to answer, in all."""
        return sum(count for _, count in self.generated)

    def asked(self, method: str, expert: Expert | None = None) -> list[Call]:
        """The calls of one method (of one expert, when given)."""
        return [call for call in self.calls if call.method == method and (expert is None or call.expert == expert)]

    def _asked(self, method: str, expert: Expert, conversations: int) -> Expert:
        """Record a call; raise the expert's error when one is set."""
        expert = Expert(expert)
        self.calls.append(Call(method, expert, conversations))
        if expert in self.errors:
            raise self.errors[expert]
        return expert

    @staticmethod
    def _pieces(text: str) -> Iterator[str]:
        yield from pieces(text)


class SamplingFake(FakeBackend):
    """A :class:`FakeBackend` that can also ``sample`` (a
    :class:`~reason4rec.experts.backend.SamplingBackend`): ``drafts`` are the sampled answers of
    every conversation (a list, cycled to ``count``, or a callable of the conversation). The seeds
    it was asked with are kept in :attr:`seeds`.

    Example:
        >>> SamplingFake(drafts=["Warm.", "Bright."]).sample("reasoner", [[]], count=3, temperature=0.7)
        [['Warm.', 'Bright.', 'Warm.']]
    """

    def __init__(self, answers: Answer | Mapping[str, Answer] | None = None, *,
                 drafts: Sequence[str] | Callable[[Messages], Sequence[str]] = (REASON,), **kwargs: Any) -> None:
        super().__init__(answers, **kwargs)
        self.drafts = drafts
        self.seeds: list[int | None] = []

    def sample(self, expert: Expert, conversations: Sequence[Messages], *, count: int, temperature: float,
               seed: int | None = None, max_new_tokens: int | None = None,
               on_text: TextCallback | None = None) -> list[list[str]]:
        self._asked("sample", expert, len(conversations))
        self.seeds.append(seed)
        out = []
        for i, conversation in enumerate(conversations):
            drafts = list(self.drafts(conversation) if callable(self.drafts) else self.drafts)
            out.append([continued(answer_opening(conversation), drafts[j % len(drafts)]) for j in range(count)])
            for j, text in enumerate(out[-1]):  # token by token, as a local backend reports them
                for piece in self._pieces(text):
                    if on_text is not None:
                        on_text(i * count + j, piece)
        return out


class SpyBackend(FakeBackend):
    """A real backend whose calls are recorded like a :class:`FakeBackend`'s (answers are its own)."""

    def __init__(self, backend: Any) -> None:
        super().__init__(batch_size=getattr(backend, "batch_size", 1))
        self.backend = backend

    def version(self, expert: Expert) -> str:
        return self.backend.version(expert)

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        self._asked("generate", expert, len(conversations))
        return self.backend.generate(expert, conversations, max_new_tokens=max_new_tokens, on_text=on_text)

    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        self._asked("stream", expert, 1)
        return self.backend.stream(expert, conversation, max_new_tokens=max_new_tokens)

    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        self._asked("rate", expert, len(conversations))
        return self.backend.rate(expert, conversations, response_prefixes=response_prefixes)


class FakeCompletions(FakeBackend):
    """A local backend's ``complete`` layer: the expert's answer a few characters per token.

    ``stop_row(row)`` is asked after every token (the line limit of fixed-line answers); the
    decoding asked for each call is kept in :attr:`asked_decoding`, the tokens made in
    :attr:`tokens_made`. ``generate`` runs through the real ``generate_by_complete``.
    """

    decoding = DecodingSettings()
    characters_per_token = 4

    def __init__(self, answers: Answer | Mapping[str, Answer] | None = None, **kwargs: Any) -> None:
        super().__init__(answers, **kwargs)
        self.tokens_made = 0
        self.asked_decoding: list[DecodingSettings | None] = []

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        self._asked("generate", expert, len(conversations))
        prompts = ["\n".join(message["content"] for message in conversation) for conversation in conversations]
        return generate_by_complete(self, Expert(expert), prompts, max_new_tokens or 64, on_text,
                                    openings=[answer_opening(conversation) for conversation in conversations])

    def complete(self, expert: Expert | None, prompts: Sequence[str], *, max_new_tokens: int | Sequence[int],
                 decoding: DecodingSettings | None = None, on_text: TextCallback | None = None,
                 stop_row: Callable[[int], bool] | None = None, **kwargs: Any) -> list[Completion]:
        self.calls.append(Call("complete", None if expert is None else Expert(expert), len(prompts)))
        self.asked_decoding.append(decoding)
        made: list[Completion] = []
        step = self.characters_per_token
        for row, prompt in enumerate(prompts):
            text = self.answer(expert or Expert.REASONER, [{"role": "user", "content": prompt}])
            written = ""
            for start in range(0, len(text), step):
                piece = text[start:start + step]
                written += piece
                self.tokens_made += 1
                if on_text:
                    on_text(row, piece)
                if stop_row is not None and stop_row(row):
                    break
            made.append(Completion(written, (), "length"))
        return made


@register_embedding_function
class HashedWords(EmbeddingFunction[Documents]):
    """A deterministic stand-in for the sentence model: words hashed into ``dimensions`` counts,
    normalised (cosine space). Texts that share words are near; nothing is loaded or fetched.

    Example:
        >>> a, b, c = HashedWords()(["warm tone", "a warm tone pedal", "dead strings"])
        >>> round(float(a @ b), 2) > round(float(a @ c), 2)
        True
    """

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions

    def __call__(self, input: Documents) -> Embeddings:
        return [self._vector(text) for text in input]

    def _vector(self, text: str) -> np.ndarray:
        counts = np.zeros(self.dimensions, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            counts[int.from_bytes(digest, "big") % self.dimensions] += 1.0
        if not counts.any():
            counts[0] = 1.0  # no word: one fixed direction (a zero vector has no cosine)
        return counts / np.float32(math.sqrt(float(counts @ counts)))

    @staticmethod
    def name() -> str:
        return "reason4rec-test-hashed-words"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashedWords:
        HashedWords.validate_config(config)
        return HashedWords(config["dimensions"])

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if not isinstance(config.get("dimensions"), int) or config["dimensions"] < 1:
            raise ValueError("the hashed-words embedding needs a positive whole number of dimensions")


# --------------------------------------------------------------------------- a small catalogue

CATEGORY = "Musical Instruments"
TITLES = {"B0PEDAL001": "Blue Overdrive Pedal", "B0PEDAL002": "Quiet Compressor Pedal",
          "B0STRING01": "Nickel Bass Strings", "B0STAND001": "Folding Guitar Stand",
          "B0CABLE001": "Braided Instrument Cable"}
"""Titled items; ``B0TUNER001`` has no title (named by its id)."""
WARM = "Warm tone and sturdy build, a little hum at high gain."
QUIET = "Quiet and clean compression, great for apartment practice."
DEAD = "The strings went dead in a week and sound dull."
STURDY = "Sturdy stand that holds my bass without a wobble."
TUNER = "Accurate tuner, bright display, clips on firmly."
CABLE = "Braided cable, no crackle, silent connectors."
REVIEWS = [  # (user, item, stars, timestamp, text)
    ("U1", "B0PEDAL001", 5, 1364860800, WARM), ("U1", "B0STRING01", 2, 1364860900, DEAD),
    ("U1", "B0STAND001", 4, 1364861000, STURDY),
    ("U2", "B0PEDAL001", 4, 100, WARM), ("U2", "B0PEDAL002", 5, 200, QUIET), ("U2", "B0TUNER001", 4, 300, TUNER),
    ("U3", "B0PEDAL002", 4, 100, QUIET), ("U3", "B0STRING01", 1, 200, DEAD), ("U3", "B0STAND001", 5, 300, STURDY),
    ("U4", "B0TUNER001", 5, 0, TUNER), ("U4", "B0CABLE001", 4, 100, CABLE), ("U2", "B0CABLE001", 5, 400, CABLE),
]
CATALOG = ReviewDataset([Review(u, i, s, t, text, position=n) for n, (u, i, s, t, text) in enumerate(REVIEWS)],
                        item_titles=TITLES, category=CATEGORY)
"""Four users, six items (one untitled), twelve reviews: what ``fake_agent``'s memory is built from.
U1 reviewed three items and has three left to be recommended (B0PEDAL002, B0TUNER001, B0CABLE001)."""


class Lent:
    """An agent or a memory lent to the code under test (a CLI command, a Service): it must not
    close what it did not open, so ``close`` does nothing and the rest is the real object."""

    def __init__(self, lent: Any) -> None:
        self._lent = lent

    def close(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lent, name)


class DownSummarizer:
    """A memory summarizer whose model is down: a review added with it stays pending."""

    def version(self) -> str:
        return "down"

    def summarize(self, reviews, title):
        raise ConnectionError("the Summarizer is down")


INDEXED_TEXTS = ["Bright tone, quiet switch.", "Sturdy stand, no wobble.", "Noisy cable, broke in a week.",
                 "Warm sound, a little hum.", "Strings stay in tune."]


def indexed_reviews(path: Path) -> Path:
    """A review file whose memory Chroma keeps in its HNSW index files: Chroma reads a collection's
    vectors from them from 1,000 on (fewer are replayed from its log), so 10 users x 101 items."""
    import json

    path.write_text("".join(json.dumps({"user_id": f"U{u}", "item_id": f"B{i}", "rating": 1 + (u + i) % 5,
                                        "timestamp": u * 1000 + i,
                                        "review_text": INDEXED_TEXTS[(u + i) % 5]}) + "\n"
                            for u in range(10) for i in range(101)))
    return path

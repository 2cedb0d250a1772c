"""The experts on an OpenAI-compatible server (vLLM, llama.cpp server, ...), via the openai client.

The served model name selects the adapter, the way ``vllm serve BASE --enable-lora --lora-modules
reasoner=... predictor=...`` exposes LoRA modules. The Predictor's distribution comes from the
log-probabilities of the first token the server generates after ``Predicted Rating:``: the request
continues our own assistant turn ending in ``Predicted Rating:`` (no trailing space, so the model
writes the star token `` 4`` exactly as :meth:`LocalBackend.rate` reads it), and its
``top_logprobs`` renormalised over the five stars are the local distribution.

Example:
    >>> backend = RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:8000/v1"))  # doctest: +SKIP
    >>> backend.rate("predictor", [predictor_messages(ctx, reason)])[0].expected      # doctest: +SKIP
    4.31
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ...config import Expert
from ...errors import Reason4RecError
from ..backend import DEFAULT_MAX_NEW_TOKENS, DecodingSettings, TextCallback, opened_stream
from ..prompts import RATING_PREFIX, Messages, answer_opening, continued
from ..rating import RatingDistribution, RatingError

STAR_TOKENS = {"1", "2", "3", "4", "5"}
RATING_TOKENS = 2
"""Tokens generated per rating: the star, or a lone space and then the star for tokenizers that
keep spaces apart."""
_T = TypeVar("_T")
_R = TypeVar("_R")


class RemoteBackendError(Reason4RecError, RuntimeError):
    """The server could not be reached or answered something unusable (after retries)."""


@dataclass
class RemoteSettings:
    """Where the server is and which served model name is each expert."""

    base_url: str | None = None
    """None: the openai client reads OPENAI_BASE_URL."""
    api_key: str | None = None
    """None: OPENAI_API_KEY, or a placeholder for servers that need none."""
    model_names: dict[str, str] = field(default_factory=dict)
    """Expert -> served model name; an expert not listed is served under its own name."""
    timeout_s: float = 120.0
    max_retries: int = 3
    top_logprobs: int = 20
    concurrency: int = 8
    """Requests in flight at once for a batch of prompts (the server batches them in the model)."""
    sampling_extras: dict[str, Any] = field(
        default_factory=lambda: {"repetition_penalty": DecodingSettings().repetition_penalty})
    """Sent with text generations (vLLM's sampling extensions, also read by ``reason4rec serve``):
    the local decoding's guard against loops. Empty it for a server that refuses unknown fields."""


class RemoteBackend:
    """Implements :class:`~reason4rec.experts.backend.Backend` over HTTP."""

    kind = "remote"
    """Which engine answers (evaluation run folders record it)."""

    def __init__(self, settings: RemoteSettings | None = None, client: Any = None) -> None:
        import os

        from openai import OpenAI

        self.settings = settings or RemoteSettings()
        self.client = client or OpenAI(
            base_url=self.settings.base_url,
            api_key=self.settings.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=self.settings.timeout_s,
            max_retries=self.settings.max_retries,  # the client backs off exponentially
        )

    def version(self, expert: Expert) -> str:
        return f"remote:{self._model(expert)}"

    def _model(self, expert: Expert) -> str:
        return self.settings.model_names.get(expert, expert)

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        if on_text is None:  # concurrent requests: the server batches them
            def one(conversation: Messages) -> str:
                response = self._call(expert, conversation, max_new_tokens, extra_body=self._extras(conversation))
                return continued(answer_opening(conversation),
                                 _text(first_choice(response, self._model(expert)), self._model(expert)))

            return self._map(one, list(conversations))
        outputs = []
        for row, conversation in enumerate(conversations):  # streamed: one at a time, in order
            pieces = []
            for piece in self.stream(expert, conversation, max_new_tokens=max_new_tokens):
                pieces.append(piece)
                on_text(row, piece)
            outputs.append("".join(pieces).strip())
        return outputs

    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        chunks = self._call(expert, conversation, max_new_tokens, stream=True, extra_body=self._extras(conversation))
        yield from opened_stream(answer_opening(conversation), self._pieces(expert, chunks))

    def _pieces(self, expert: Expert, chunks: Any) -> Iterator[str]:
        try:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as err:  # the openai client raises many types mid-stream
            raise RemoteBackendError(f"stream from {self._model(expert)!r} broke: {err}") from err

    def sample(self, expert: Expert, conversations: Sequence[Messages], *, count: int, temperature: float,
               seed: int | None = None, max_new_tokens: int | None = None,
               on_text: TextCallback | None = None) -> list[list[str]]:
        """``count`` sampled answers per conversation: one request each (``n`` > 1 is not
        universal), concurrent; request ``j`` of a conversation carries ``seed + j``. ``on_text``
        gets each draft when its request returns; raising in it cancels the requests not yet sent."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if not temperature > 0:
            raise ValueError(f"sampling needs a temperature above 0, got {temperature}")

        def one(job: tuple[int, Messages, int]) -> str:
            row, conversation, draw = job
            response = self._call(expert, conversation, max_new_tokens, temperature=temperature,
                                  seed=None if seed is None else seed + draw, extra_body=self._extras(conversation))
            text = continued(answer_opening(conversation),
                             _text(first_choice(response, self._model(expert)), self._model(expert)))
            if on_text is not None:
                on_text(row, text)
            return text

        jobs = [(i * count + j, c, j) for i, c in enumerate(conversations) for j in range(count)]
        texts = self._map(one, jobs)
        return [texts[i * count:(i + 1) * count] for i in range(len(conversations))]

    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        """Each distribution from the first answer token after ``[prefix]Predicted Rating:``."""
        prefixes = list(response_prefixes) if response_prefixes else [""] * len(conversations)
        if len(prefixes) != len(conversations):
            raise ValueError("response_prefixes must match conversations one to one")
        extra = {"continue_final_message": True, "add_generation_prompt": False}

        def one(pair: tuple[Messages, str]) -> RatingDistribution:
            conversation, prefix = pair
            # Our own assistant turn, continued (vLLM: continue_final_message); ending in "Rating:"
            # without the space, so the next token is the star " 4" that the local backend reads.
            turn = (prefix.strip() + "\n" if prefix.strip() else "") + RATING_PREFIX.rstrip()
            messages = [*conversation, {"role": "assistant", "content": turn}]
            response = self._call(expert, messages, RATING_TOKENS, logprobs=True,
                                  top_logprobs=self.settings.top_logprobs, extra_body=extra)
            return distribution_from_choice(first_choice(response, self._model(expert)))

        return self._map(one, list(zip(conversations, prefixes)))

    def _extras(self, conversation: Messages) -> dict[str, Any] | None:
        """The request's extra body: the sampling extras, and for an answer already begun (the
        conversation ends with the assistant's message) vLLM's way to continue it."""
        extras = dict(self.settings.sampling_extras or {})
        if answer_opening(conversation):
            extras |= {"continue_final_message": True, "add_generation_prompt": False}
        return extras or None

    def _map(self, function: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``function`` over ``items`` with up to ``concurrency`` requests in flight, in order."""
        workers = min(self.settings.concurrency, len(items))
        if workers <= 1:
            return [function(item) for item in items]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reason4rec-remote")
        try:
            results = list(pool.map(function, items))
        except BaseException:  # one failed (or a callback stopped it): send nothing more, wait for none
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    def _call(self, expert: Expert, messages: Messages, max_new_tokens: int | None, **kwargs: Any):
        import openai

        limit = max_new_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        try:
            return self.client.chat.completions.create(
                model=self._model(expert), messages=messages, max_tokens=limit,
                **{"temperature": 0.0, **{k: v for k, v in kwargs.items() if v is not None}},
            )
        except openai.OpenAIError as err:
            raise RemoteBackendError(
                f"server call for expert {expert!r} (model {self._model(expert)!r}) failed after "
                f"{self.settings.max_retries} retries: {err}"
            ) from err


def first_choice(response: Any, model: str) -> Any:
    """The reply's first choice; a reply without one is the server's error, said as such."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise RemoteBackendError(f"the server's reply for model {model!r} has no choices: {str(response)[:200]}")
    return choices[0]


def _text(choice: Any, model: str) -> str:
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        raise RemoteBackendError(f"the server's reply for model {model!r} has content that is not text: "
                                 f"{str(content)[:200]}")
    return (content or "").strip()


def distribution_from_choice(choice: Any) -> RatingDistribution:
    """The star distribution at the first generated position where a star 1..5 is a candidate.

    That is the first token after ``Rating:`` (the token itself, or one of its ``top_logprobs``),
    or, where the tokenizer writes the space alone (SmolLM2: ``:`` ``Ġ`` ``4``), the one after
    the space: the bare digits among the space's alternatives are the unlikely ``Rating:4``, not
    the star the model is about to write.

    Raises:
        RatingError: the server returned no log-probabilities or never produced a star.
    """
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        raise RatingError("the server returned no logprobs; start it with logprobs enabled")
    tokens = [position.token if isinstance(getattr(position, "token", None), str) else "" for position in content]
    for index, (position, token) in enumerate(zip(content, tokens)):
        if not token.strip() and index + 1 < len(content):
            continue  # a lone space (or no token): the star is the next position's
        top = {alt.token: alt.logprob for alt in (getattr(position, "top_logprobs", None) or [])
               if isinstance(getattr(alt, "token", None), str)}
        if token.strip() in STAR_TOKENS or any(t.strip() in STAR_TOKENS for t in top):
            top.setdefault(token, position.logprob)
            return RatingDistribution.from_logprobs(top)
    raise RatingError(f"the predictor's answer holds no star 1..5: {''.join(tokens)!r}")

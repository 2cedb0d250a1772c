"""The experts on an OpenAI-compatible server (vLLM, llama.cpp server, ...), via the openai client.

The served model name selects the adapter, the way ``vllm serve BASE --enable-lora --lora-modules
reasoner=... predictor=...`` exposes LoRA modules. The Predictor's distribution comes from the
log-probabilities of the first star token the server generates after ``Predicted Rating:``.

Example:
    >>> backend = RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:8000/v1"))  # doctest: +SKIP
    >>> backend.rate("predictor", [predictor_messages(ctx, reason)])[0].expected      # doctest: +SKIP
    4.31
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Reason4RecError
from .backend import DEFAULT_MAX_NEW_TOKENS, TextCallback
from .prompts import RATING_PREFIX, Messages
from .rating import RatingDistribution, RatingError

STAR_TOKENS = {"1", "2", "3", "4", "5"}


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


class RemoteBackend:
    """Implements :class:`~reason4rec.experts.backend.Backend` over HTTP."""

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

    def version(self, expert: str) -> str:
        return f"remote:{self._model(expert)}"

    def _model(self, expert: str) -> str:
        return self.settings.model_names.get(expert, expert)

    def generate(self, expert: str, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        outputs = []
        for row, conversation in enumerate(conversations):
            if on_text is None:
                response = self._call(expert, conversation, max_new_tokens)
                outputs.append((response.choices[0].message.content or "").strip())
            else:
                pieces = []
                for piece in self.stream(expert, conversation, max_new_tokens=max_new_tokens):
                    pieces.append(piece)
                    on_text(row, piece)
                outputs.append("".join(pieces).strip())
        return outputs

    def stream(self, expert: str, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        chunks = self._call(expert, conversation, max_new_tokens, stream=True)
        try:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as err:  # the openai client raises many types mid-stream
            raise RemoteBackendError(f"stream from {self._model(expert)!r} broke: {err}") from err

    def rate(self, expert: str, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        prefixes = list(response_prefixes) if response_prefixes else [""] * len(conversations)
        results = []
        for conversation, prefix in zip(conversations, prefixes):
            messages = list(conversation)
            extra: dict[str, Any] = {}
            if prefix.strip():  # continue our own assistant turn (vLLM: continue_final_message)
                messages.append({"role": "assistant", "content": prefix.strip() + "\n" + RATING_PREFIX})
                extra = {"continue_final_message": True, "add_generation_prompt": False}
            response = self._call(expert, messages, 8, logprobs=True,
                                  top_logprobs=self.settings.top_logprobs, extra_body=extra or None)
            results.append(distribution_from_choice(response.choices[0]))
        return results

    def _call(self, expert: str, messages: Messages, max_new_tokens: int | None, **kwargs: Any):
        import openai

        limit = max_new_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        try:
            return self.client.chat.completions.create(
                model=self._model(expert), messages=messages, max_tokens=limit, temperature=0.0,
                **{k: v for k, v in kwargs.items() if v is not None},
            )
        except openai.OpenAIError as err:
            raise RemoteBackendError(
                f"server call for expert {expert!r} (model {self._model(expert)!r}) failed after "
                f"{self.settings.max_retries} retries: {err}"
            ) from err


def distribution_from_choice(choice: Any) -> RatingDistribution:
    """The star distribution at the first generated token that is a star 1..5.

    Raises:
        RatingError: the server returned no log-probabilities or never produced a star.
    """
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        raise RatingError("the server returned no logprobs; start it with logprobs enabled")
    for position in content:
        if position.token.strip() in STAR_TOKENS:
            top = {alt.token: alt.logprob for alt in (position.top_logprobs or [])}
            top.setdefault(position.token, position.logprob)
            return RatingDistribution.from_logprobs(top)
    text = "".join(p.token for p in content)
    raise RatingError(f"the predictor's answer holds no star 1..5: {text!r}")

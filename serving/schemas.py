"""The OpenAI wire format the server speaks: requests it accepts, responses and chunks it sends.

Only what the experts need is modelled; unknown fields are accepted and ignored (as vLLM does), so
stock clients that send ``user``, ``top_p`` or ``presence_penalty`` keep working. vLLM's
chat extensions ``add_generation_prompt``, ``continue_final_message`` and ``repetition_penalty``
are honoured, so :class:`~reason4rec.experts.engines.remote.RemoteBackend` sends the same body to either.

Example:
    >>> request = ChatCompletionRequest(model="reasoner", messages=[{"role": "user", "content": "hi"}])
    >>> request.stream, request.continue_final_message
    (False, False)
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TOP_LOGPROBS = 20
"""OpenAI's and vLLM's default ceiling."""


NonEmptyText = Annotated[str, Field(min_length=1)]


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    """None or 0: the experts' own greedy decoding; above 0: sampling at that temperature."""
    repetition_penalty: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    """vLLM's extension; None: the experts' default (1.15)."""
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    """Seeds sampling (OpenAI's field): the same request with the same seed samples the same answer.
    Bounded to what every engine's generator takes (numpy refuses negatives, torch 2^64 and up)."""
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart]
    """Required: null is how OpenAI marks an assistant turn of tool calls, which the experts
    neither make nor read, so a message without text is refused rather than read as empty."""

    def text(self) -> str:
        """The message as plain text (text parts joined; other parts are refused earlier)."""
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content)
        return self.content


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    add_generation_prompt: bool = True
    continue_final_message: bool = False


class CompletionRequest(_Request):
    prompt: NonEmptyText | Annotated[list[NonEmptyText], Field(min_length=1)]
    """An engine cannot continue nothing: an empty prompt is the caller's error (400), not the batch's."""
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False


# --------------------------------------------------------------------------- responses


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str = Field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChatChoice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionLogprobs(BaseModel):
    """The legacy completions format: parallel lists, one entry per generated token."""

    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float] = Field(default_factory=list)
    top_logprobs: list[dict[str, float]] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: str | None = None


class TextCompletion(BaseModel):
    id: str = Field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "reason4rec"
    root: str
    """The adapter's version (expert, prompt version, weights hash)."""
    parent: str
    """The base model the adapter runs on."""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a response model (None fields kept: clients expect ``logprobs: null``)."""
    return model.model_dump(mode="json")

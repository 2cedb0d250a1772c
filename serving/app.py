"""The OpenAI-compatible HTTP API over a local backend: the model name picks the adapter.

``GET /v1/models`` lists the adapters, ``POST /v1/chat/completions`` and ``POST /v1/completions``
continue prompts with one of them (plain or streamed as server-sent events, with log-probabilities
on request), ``GET /health`` answers without a key. Requests go through a
:class:`~reason4rec.serving.batcher.MicroBatcher`, which runs them with the local backend's own
decoding, so an answer from here equals the local backend's for the same prompt.

Example:
    >>> app = create_app(backend, ServeConfig(), api_key=None)  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Expert, ServeConfig
from ..experts import ANSWER_LINES, DEFAULT_MAX_NEW_TOKENS, Completion, DecodingSettings, LocalBackend, decoding_for
from .batcher import Job, JobResult, MicroBatcher
from .errors import ApiError, logger, validation_error
from .prompts import render_messages
from .schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    Delta,
    ModelCard,
    ModelList,
    TextCompletion,
    TokenLogprob,
    TopLogprob,
    Usage,
    dump,
)
from .security import AuthMiddleware, BodyLimitMiddleware, CatchAllMiddleware

_Event = tuple[str, Any]


def create_app(backend: LocalBackend, settings: ServeConfig | None = None, *,
               api_key: str | None = None) -> FastAPI:
    """A FastAPI app serving every adapter ``backend`` holds (its batcher starts with the app)."""
    settings = settings or ServeConfig()
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batcher = MicroBatcher(backend, batch_size=settings.batch_size,
                                         wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                         max_prompt_tokens=settings.max_prompt_tokens)
        try:
            yield
        finally:  # uvicorn runs this after in-flight requests finished (graceful shutdown)
            await asyncio.to_thread(app.state.batcher.close)

    app = FastAPI(title="reason4rec experts", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(AuthMiddleware, api_key=api_key)
    app.add_middleware(CatchAllMiddleware)  # added last: the outermost of the three
    _add_error_handlers(app)
    served = _Served(backend, settings)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        batcher: MicroBatcher | None = getattr(app.state, "batcher", None)
        return {"status": "ok", "models": list(backend.names),
                "queued": batcher.queued if batcher else 0,
                "batches": batcher.batches if batcher else 0,
                "batched_requests": batcher.batched_jobs if batcher else 0}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return dump(ModelList(data=[served.card(name, created) for name in backend.names]))

    @app.get("/v1/models/{model}")
    async def model(model: str) -> dict[str, Any]:
        return dump(served.card(served.expert(model), created))

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        expert = served.expert(body.model)
        messages = []
        for message in body.messages:
            if isinstance(message.content, list) and any(p.type != "text" for p in message.content):
                raise ApiError(400, "only text content parts are supported", param="messages")
            messages.append({"role": "system" if message.role == "developer" else message.role,
                             "content": message.text()})
        prompt = render_messages(backend.tokenizer, messages,
                                 add_generation_prompt=body.add_generation_prompt,
                                 continue_final_message=body.continue_final_message)
        if body.top_logprobs is not None and not body.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
        top = (body.top_logprobs or 0) if body.logprobs else None
        job = served.job(expert, prompt, body, body.max_completion_tokens or body.max_tokens, top)
        batcher: MicroBatcher = request.app.state.batcher
        if body.stream:
            return await _stream(batcher, job, _ChatChunks(body.model, top, body))
        result = await _finish(batcher, job)
        completion = result.completion
        logprobs = (ChoiceLogprobs(content=_chat_logprobs(completion, top, result.token_texts))
                    if top is not None else None)
        choice = ChatChoice(index=0, message=AssistantMessage(content=completion.text), logprobs=logprobs,
                            finish_reason=completion.finish_reason)
        return dump(ChatCompletion(model=body.model, choices=[choice], usage=_usage([result])))

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, request: Request) -> Any:
        expert = served.expert(body.model)
        if body.echo:
            raise ApiError(400, "echo is not supported", param="echo")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise ApiError(400, "prompt is empty", param="prompt")
        if body.stream and len(prompts) != 1:
            raise ApiError(400, "streaming takes one prompt per request", param="prompt")
        batcher: MicroBatcher = request.app.state.batcher
        jobs = [served.job(expert, text, body, body.max_tokens, body.logprobs, prompt_param="prompt")
                for text in prompts]
        if body.stream:
            return await _stream(batcher, jobs[0], _TextChunks(body.model, body.logprobs, body))
        results = await asyncio.gather(*(_finish(batcher, job) for job in jobs))
        choices = [CompletionChoice(index=i, text=r.completion.text, finish_reason=r.completion.finish_reason,
                                    logprobs=_text_logprobs(r.completion, body.logprobs, r.token_texts))
                   for i, r in enumerate(results)]
        return dump(TextCompletion(model=body.model, choices=choices, usage=_usage(results)))

    return app


class _Served:
    """What the routes share: the adapters and the limits."""

    def __init__(self, backend: LocalBackend, settings: ServeConfig) -> None:
        self.backend, self.settings = backend, settings

    def expert(self, model: str) -> Expert:
        """The request's model name as an expert this server holds (the wire name is the value)."""
        if model not in self.backend.names:
            raise ApiError.not_found_model(model, self.backend.names)
        return Expert(model)

    def card(self, name: str, created: int) -> ModelCard:
        return ModelCard(id=name, created=created, root=self.backend.version(name),
                         parent=self.backend.base_name)

    def job(self, expert: Expert, prompt: str, body: Any, max_tokens: int | None,
            top_logprobs: int | None, prompt_param: str = "messages") -> Job:
        if body.stop:
            raise ApiError(400, "stop sequences are not supported by this server", param="stop")
        limit = max_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        if limit > self.settings.max_tokens:
            raise ApiError(400, f"max_tokens is {limit}; this server allows at most "
                                f"{self.settings.max_tokens}", param="max_tokens", code="max_tokens_too_large")
        chat = prompt_param == "messages"
        return Job(expert, prompt, limit, self._decoding(expert, body, chat=chat), top_logprobs, prompt_param,
                   answer_lines=ANSWER_LINES.get(expert) if chat else None)

    def _decoding(self, expert: Expert, body: Any, chat: bool) -> DecodingSettings:
        """Greedy, as the local backend decodes: a chat request as ``generate`` (with the expert's
        own guards, so a served Summarizer writes its three lines as a local one does), a raw
        completion as ``complete``; unless the request asks for sampling (a seed makes it
        repeatable) or a penalty."""
        decoding = decoding_for(expert, self.backend.decoding) if chat else self.backend.decoding
        if body.temperature is not None:
            sampling = body.temperature > 0
            decoding = dataclasses.replace(decoding, do_sample=sampling,
                                           temperature=body.temperature if sampling else 1.0)
        if body.repetition_penalty is not None:
            decoding = dataclasses.replace(decoding, repetition_penalty=body.repetition_penalty)
        if body.seed is not None:
            decoding = dataclasses.replace(decoding, seed=body.seed)
        return decoding


# --------------------------------------------------------------------------- running jobs


async def _finish(batcher: MicroBatcher, job: Job) -> JobResult:
    return await asyncio.wrap_future(batcher.submit(job))


async def _stream(batcher: MicroBatcher, job: Job, chunks: _Chunks) -> Any:
    """Submit ``job`` and answer with server-sent events once the batcher accepted it.

    Errors found before the first token (prompt too long, queue full) are still plain JSON
    responses with their status; after that they travel as an ``error`` event.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[_Event] = asyncio.Queue()

    def put(event: _Event) -> None:  # from the worker thread
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the event loop is gone (server stopped): nobody is listening
            job.cancelled.set()

    job.on_start = lambda count: put(("start", count))
    job.on_text = lambda piece: put(("text", piece))
    batcher.submit(job).add_done_callback(lambda future: put(("done", future)))
    kind, value = await events.get()
    if kind == "done":
        value.result()  # raises the job's ApiError
        raise ApiError.internal()  # a job never finishes without starting

    async def body() -> AsyncIterator[str]:
        try:
            yield _sse(chunks.first())
            while True:
                kind, value = await events.get()
                if kind == "text":
                    yield _sse(chunks.text(value))
                    continue
                if kind == "done":
                    try:
                        result: JobResult = value.result()
                    except ApiError as error:
                        yield _sse(error.body())
                    except Exception:
                        logger.exception("a streamed generation failed")
                        yield _sse(ApiError.internal().body())
                    else:
                        for chunk in chunks.last(result):
                            yield _sse(chunk)
                    break
            yield "data: [DONE]\n\n"
        finally:
            job.cancelled.set()  # a client that left early frees its batch row at the next token

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class _Chunks:
    """The chunks of one streamed answer: a first, one per text piece, and the closing ones."""

    def __init__(self, model: str, top: int | None, body: Any) -> None:
        self.model, self.top = model, top
        self.id, self.created = uuid.uuid4().hex, int(time.time())
        self.include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def first(self) -> dict[str, Any]:
        raise NotImplementedError

    def text(self, piece: str) -> dict[str, Any]:
        raise NotImplementedError

    def last(self, result: JobResult) -> list[dict[str, Any]]:
        raise NotImplementedError


class _ChatChunks(_Chunks):
    def _chunk(self, delta: Delta, finish: str | None = None, logprobs: ChoiceLogprobs | None = None,
               usage: Usage | None = None, choices: bool = True) -> dict[str, Any]:
        choice = [ChunkChoice(index=0, delta=delta, logprobs=logprobs, finish_reason=finish)] if choices else []
        return dump(ChatCompletionChunk(id=f"chatcmpl-{self.id}", created=self.created, model=self.model,
                                        choices=choice, usage=usage))

    def first(self) -> dict[str, Any]:
        return self._chunk(Delta(role="assistant", content=""))

    def text(self, piece: str) -> dict[str, Any]:
        return self._chunk(Delta(content=piece))

    def last(self, result: JobResult) -> list[dict[str, Any]]:
        logprobs = None
        if self.top is not None:  # every token's log-probabilities travel with the closing chunk
            logprobs = ChoiceLogprobs(content=_chat_logprobs(result.completion, self.top, result.token_texts))
        closing = [self._chunk(Delta(), result.completion.finish_reason, logprobs)]
        if self.include_usage:
            closing.append(self._chunk(Delta(), usage=_usage([result]), choices=False))
        return closing


class _TextChunks(_Chunks):
    def _chunk(self, text: str, finish: str | None = None, logprobs: CompletionLogprobs | None = None,
               usage: Usage | None = None, choices: bool = True) -> dict[str, Any]:
        choice = [CompletionChoice(index=0, text=text, logprobs=logprobs, finish_reason=finish)] if choices else []
        return dump(TextCompletion(id=f"cmpl-{self.id}", created=self.created, model=self.model,
                                   choices=choice, usage=usage))

    def first(self) -> dict[str, Any]:
        return self._chunk("")

    def text(self, piece: str) -> dict[str, Any]:
        return self._chunk(piece)

    def last(self, result: JobResult) -> list[dict[str, Any]]:
        logprobs = _text_logprobs(result.completion, self.top, result.token_texts)
        closing = [self._chunk("", result.completion.finish_reason, logprobs)]
        if self.include_usage:
            closing.append(self._chunk("", usage=_usage([result]), choices=False))
        return closing


# --------------------------------------------------------------------------- response pieces


def _usage(results: list[JobResult]) -> Usage:
    prompt = sum(r.prompt_tokens for r in results)
    generated = sum(len(r.completion.token_ids) for r in results)
    return Usage(prompt_tokens=prompt, completion_tokens=generated, total_tokens=prompt + generated)


def _chat_logprobs(completion: Completion, top: int | None, texts: dict[int, str]) -> list[TokenLogprob]:
    found = []
    for position in completion.logprobs or ():
        token = texts.get(position.token_id, "")
        alternatives = [TopLogprob(token=texts.get(i, ""), logprob=lp, bytes=list(texts.get(i, "").encode()))
                        for i, lp in position.top[: top or 0]]
        found.append(TokenLogprob(token=token, logprob=position.logprob, bytes=list(token.encode()),
                                  top_logprobs=alternatives))
    return found


def _text_logprobs(completion: Completion, top: int | None,
                   texts: dict[int, str]) -> CompletionLogprobs | None:
    if top is None:
        return None
    logprobs, offset = CompletionLogprobs(), 0
    for position in completion.logprobs or ():
        token = texts.get(position.token_id, "")
        logprobs.tokens.append(token)
        logprobs.token_logprobs.append(position.logprob)
        logprobs.top_logprobs.append({texts.get(i, ""): lp for i, lp in position.top[:top]})
        logprobs.text_offset.append(offset)
        offset += len(token)
    return logprobs


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        found = validation_error(error.errors())
        return JSONResponse(found.body(), status_code=found.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
        found = ApiError(error.status_code, str(error.detail), code=code)
        return JSONResponse(found.body(), status_code=error.status_code, headers=error.headers)

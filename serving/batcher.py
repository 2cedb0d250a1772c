"""Micro-batching: concurrent requests for one adapter share one batched generation.

A CPU (or GPU) runs one forward at a time; a batch of 8 costs little more than one prompt, so
throughput under load comes from batching. One worker thread owns the model: it takes the oldest
waiting request, waits up to ``wait_ms`` (only while the model is idle) for more requests with the
same adapter and decoding, and runs up to ``batch_size`` of them through
:meth:`LocalBackend.complete` -- the local backend's own code path, so a served answer is the
answer the agent gets locally. Requests for other adapters wait for the next batch; an adapter is
never switched under a running generation. Rows end at their own token limit, or as soon as their
client goes away.

Example:
    >>> batcher = MicroBatcher(backend, batch_size=8, wait_ms=5)               # doctest: +SKIP
    >>> job = Job("reasoner", prompt, max_tokens=32, decoding=backend.decoding)  # doctest: +SKIP
    >>> batcher.submit(job).result().completion.text                             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..config import Expert
from ..experts import Completion, DecodingSettings, LineLimit, LocalBackend
from .errors import ApiError

logger = logging.getLogger("reason4rec.serving")


@dataclass(frozen=True, slots=True)
class JobResult:
    completion: Completion
    prompt_tokens: int
    token_texts: dict[int, str] = field(default_factory=dict)
    """Text of every token in the completion's log-probabilities (decoded in the worker thread)."""


@dataclass(eq=False)
class Job:
    """One prompt to continue; callbacks run in the worker thread and must not block."""

    expert: Expert
    prompt: str
    max_tokens: int
    decoding: DecodingSettings
    top_logprobs: int | None = None
    prompt_param: str = "messages"
    """The request field an error about the prompt names (``prompt`` for /v1/completions)."""
    answer_lines: int | None = None
    """End the row at the newline closing this many non-empty lines, and cut its text there (a chat
    request to a fixed-line expert, the Summarizer, decodes as the local ``generate`` does)."""
    on_start: Callable[[int], None] | None = None
    """Called with the prompt's token count once it is accepted into a batch."""
    on_text: Callable[[str], None] | None = None
    """Called with each new piece of text (streaming)."""
    future: Future[JobResult] = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set when the client is gone: the row stops at its next token."""
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[Any, ...]:
        """Jobs with equal keys can share a generation."""
        return self.expert, self.decoding, self.top_logprobs is not None, self.answer_lines


class MicroBatcher:
    """Collect jobs per adapter into batches and run them on one worker thread (see module doc)."""

    def __init__(self, backend: LocalBackend, *, batch_size: int = 8, wait_ms: float = 5.0,
                 max_queue: int = 256, max_prompt_tokens: int = 4096) -> None:
        self.backend = backend
        self.batch_size = max(1, batch_size)
        self.wait_s = max(0.0, wait_ms) / 1000
        self.max_queue = max_queue
        self.max_prompt_tokens = max_prompt_tokens
        self.batches = 0
        self.batched_jobs = 0
        self._pending: list[Job] = []
        self._texts: dict[int, str] = {}
        self._closed = False
        self._cond = threading.Condition()
        self._worker = threading.Thread(target=self._run, name="reason4rec-batcher", daemon=True)
        self._worker.start()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._pending)

    def submit(self, job: Job) -> Future[JobResult]:
        """Queue ``job``; its future holds a :class:`JobResult` or an :class:`ApiError`.

        Raises:
            ApiError: 503 when the queue is full or the server is shutting down.
        """
        with self._cond:
            if self._closed:
                raise ApiError(503, "the server is shutting down", type="server_error",
                               code="shutting_down")
            if len(self._pending) >= self.max_queue:
                raise ApiError(503, f"the server is busy ({self.max_queue} requests waiting); "
                                    "retry later", type="server_error", code="server_overloaded")
            self._pending.append(job)
            self._cond.notify_all()
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Finish what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout)

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._execute(batch)
            except BaseException:  # never let the worker die: fail this batch, keep serving
                logger.exception("a batch of %d %r request(s) failed", len(batch), batch[0].expert)
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(ApiError.internal())

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._pending[0]
            deadline = first.queued_at + self.wait_s
            while not self._closed and self._count(first.key) < self.batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [job for job in self._pending if job.key == first.key][: self.batch_size]
            self._pending = [job for job in self._pending if job not in batch]
            return batch

    def _count(self, key: tuple[Any, ...]) -> int:
        return sum(1 for job in self._pending if job.key == key)

    def _execute(self, batch: list[Job]) -> None:
        tokenizer = self.backend.tokenizer  # only this thread tokenizes: fast tokenizers
        accepted: list[tuple[Job, int]] = []        # are not safe to share across threads
        context_of = getattr(self.backend, "context_tokens", None)  # llama.cpp's KV cache; None: no fixed limit
        context = context_of(batch[0].expert) if context_of is not None else None
        for job in batch:
            if job.cancelled.is_set() or not job.future.set_running_or_notify_cancel():
                continue
            count = len(tokenizer(job.prompt, add_special_tokens=False)["input_ids"])
            if not count:  # an engine cannot continue nothing; failing here keeps the rest of the batch
                job.future.set_exception(ApiError(400, "the prompt is empty", param=job.prompt_param))
                continue
            if count > self.max_prompt_tokens:
                job.future.set_exception(ApiError(
                    400, f"the prompt is {count} tokens long; this server accepts at most "
                         f"{self.max_prompt_tokens}", param=job.prompt_param, code="context_length_exceeded"))
                continue
            if context is not None and count + job.max_tokens > context:
                job.future.set_exception(ApiError(
                    400, f"the prompt's {count} tokens plus max_tokens {job.max_tokens} exceed the engine's "
                         f"context of {context} tokens", param="max_tokens", code="context_length_exceeded"))
                continue
            accepted.append((job, count))
        if not accepted:
            return
        for job, count in accepted:
            if job.on_start is not None:
                job.on_start(count)
        self._settle(accepted)

    def _settle(self, accepted: list[tuple[Job, int]]) -> None:
        """Generate for the accepted jobs as one batch and set their results. When a batch of
        several fails, each job that has not streamed anything yet is tried again alone, so a
        request the engine cannot serve fails by itself instead of taking its batch with it."""
        jobs = [job for job, _ in accepted]
        first = jobs[0]
        limiter = LineLimit(first.answer_lines) if first.answer_lines else None  # one key: one limit
        streaming = any(job.on_text is not None for job in jobs)
        streamed: set[int] = set()

        def on_text(row: int, piece: str) -> None:
            if limiter is not None:
                limiter.on_text(row, piece)
            callback = jobs[row].on_text
            if callback is not None and not jobs[row].cancelled.is_set():
                streamed.add(row)
                callback(piece)

        def stop_row(row: int) -> bool:
            return jobs[row].cancelled.is_set() or (limiter is not None and limiter(row))

        try:
            completions = self.backend.complete(
                first.expert, [job.prompt for job in jobs], max_new_tokens=[job.max_tokens for job in jobs],
                on_text=on_text if streaming or limiter else None, decoding=first.decoding,
                top_logprobs=max((job.top_logprobs or 0 for job in jobs), default=0)
                if first.top_logprobs is not None else None,
                stop_row=stop_row)
        except Exception:
            logger.exception("generation for %d %r request(s) failed", len(jobs), first.expert)
            for row, (job, count) in enumerate(accepted):
                if len(jobs) > 1 and row not in streamed and not job.cancelled.is_set():
                    self._settle([(job, count)])
                else:  # alone already, gone, or its client has part of an answer: a retry would repeat it
                    job.future.set_exception(ApiError.internal())
            return
        self.batches += 1
        self.batched_jobs += len(jobs)
        if limiter is not None:
            completions = [_cut(completion, limiter, row) for row, completion in enumerate(completions)]
        for (job, count), completion in zip(accepted, completions):
            job.future.set_result(JobResult(completion, count, self._token_texts(job, completion)))

    def _token_texts(self, job: Job, completion: Completion) -> dict[int, str]:
        if job.top_logprobs is None or not completion.logprobs:
            return {}
        tokens = {t.token_id for t in completion.logprobs}
        tokens.update(i for t in completion.logprobs for i, _ in t.top[: job.top_logprobs])
        for token in tokens - self._texts.keys():
            self._texts[token] = self.backend.tokenizer.decode([token])
        return {token: self._texts[token] for token in tokens}


def _cut(completion: Completion, limiter: LineLimit, row: int) -> Completion:
    """Row ``row``'s completion ending with its last allowed line; a row the limit ended finished
    its answer (``stop``), as a model closing it there would have."""
    if not limiter(row):
        return completion
    return dataclasses.replace(completion, text=limiter.cut(completion.text), finish_reason="stop")

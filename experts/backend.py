"""One interface for running the experts, so the agent never knows where they run.

:class:`Backend` is what callers use: ``generate`` (batched, optional per-token callback),
``stream`` (an iterator of text pieces for one prompt) and ``rate`` (the Predictor's distribution
over 1..5 stars). :class:`LocalBackend` runs transformers + peft in this process;
:class:`~reason4rec.experts.engines.remote.RemoteBackend` calls an OpenAI-compatible server where the model
name selects the adapter.

Example:
    >>> backend = LocalBackend(ExpertModel.load(base, shipped_adapter_dirs()))  # doctest: +SKIP
    >>> for piece in backend.stream("reasoner", reasoner_messages(ctx)):       # doctest: +SKIP
    ...     print(piece, end="")
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

from ..config import Expert
from .aspect_guard import AspectGuard
from .glued_words import GlueGuard
from .model.adapters import ExpertModel
from .prompts import RATING_PREFIX, SUMMARY_FIELDS, Messages, answer_opening, continued, joint, render_chat
from .rating import RatingDistribution, RatingError
from .word_repeats import RepeatedWordBan

TextCallback = Callable[[int, str], None]
"""Called with (row index in the batch, new text) as tokens are generated."""

DEFAULT_MAX_NEW_TOKENS = {Expert.SUMMARIZER: 48, Expert.REASONER: 96, Expert.ONE_STEP: 120}
ANSWER_LINES = {Expert.SUMMARIZER: len(SUMMARY_FIELDS)}
"""Experts whose answer is a fixed number of lines: decoding ends at the newline closing the last
one, so a model that rambles on after its three fields costs no tokens (and adds no junk)."""


EXPERT_DECODING: dict[str, dict[str, Any]] = {
    Expert.SUMMARIZER: {"repetition_penalty": 1.0, "no_repeat_ngram_size": 4, "ngram_scope": "generated",
                        "no_repeated_word": True},
    Expert.REASONER: {"ngram_scope": "generated", "penalty_scope": "generated", "aspect_guard": True,
                      "no_glued_words": True}}
"""Per-expert changes to the backend's decoding. Both loop guards count the PROMPT's tokens too
(Hugging Face's rules, which llama.cpp decoding mirrors), and the Summarizer must write exactly
the field names and newlines its prompt shows: the n-gram ban forbade ``Positive Aspects:`` after
the template's ``\nPositive Aspects`` (it wrote ``Positive Aspects :``, ``User Preferences
Elements``) and the penalty on the newline made it list on. Its own loops ("stand, stand, stand,
...") are stopped by an n-gram ban over its answer alone, the line limit, the token limit and
:func:`~reason4rec.experts.prompts.tidy_summary`; a word doubled in a row ("beginner beginner")
by :class:`~reason4rec.experts.word_repeats.RepeatedWordBan`.

The Reasoner keeps both guards against its own loops but not against its prompt: a reason is
meant to name the aspects its prompt shows, and the guards over the prompt pushed it to other
words. Measured on 48 leave-last-out test targets (greedy, llama.cpp): grounding 74% -> 99%,
invented aspect phrases 1.71 -> 0.06 a reason (see docs/engine.md, "Decoding that may copy").
Its aspect words are kept to those its prompt names (:mod:`.aspect_guard`): on a category it never
learnt it otherwise writes the ones it did. A word those rules hold back is not written glued to
the one before instead ("thisitem", "cardservice": :mod:`.glued_words`)."""


def decoding_for(expert: Expert | None, decoding: DecodingSettings) -> DecodingSettings:
    """``decoding`` with ``expert``'s changes (:data:`EXPERT_DECODING`) applied."""
    changes = EXPERT_DECODING.get(expert or "")
    return replace(decoding, **changes) if changes else decoding


class LineLimit:
    """Ends a row once it has written ``lines`` non-empty lines.

    Pass :meth:`on_text` as the text callback and the object itself as ``stop_row`` to
    ``complete``; text still reaches ``forward`` as it arrives.
    """

    def __init__(self, lines: int, forward: TextCallback | None = None) -> None:
        self.lines = lines
        self.forward = forward
        self.texts: dict[int, str] = {}

    def on_text(self, row: int, piece: str) -> None:
        self.texts[row] = self.texts.get(row, "") + piece
        if self.forward is not None:
            self.forward(row, piece)

    def __call__(self, row: int) -> bool:
        finished = self.texts.get(row, "").split("\n")[:-1]  # the last piece is still being written
        return sum(1 for line in finished if line.strip()) >= self.lines

    def cut(self, text: str) -> str:
        """``text`` up to the end of its last allowed line (a token may carry on past the newline)."""
        kept: list[str] = []
        for line in text.split("\n"):
            kept.append(line)
            if sum(1 for k in kept if k.strip()) >= self.lines:
                break
        return "\n".join(kept)


def generate_by_complete(backend: Any, expert: Expert, prompts: Sequence[str], limit: int,
                         on_text: TextCallback | None, decoding: DecodingSettings | None = None,
                         openings: Sequence[str] | None = None) -> list[str]:
    """``generate`` on top of ``complete`` for both local backends (line limits applied), with
    the expert's decoding (:func:`decoding_for`) unless ``decoding`` is given. ``openings``: the
    answers already begun (rendered at the end of their prompts): each is streamed first and
    starts its whole answer (:func:`~reason4rec.experts.prompts.continued`)."""
    begun = list(openings) if openings is not None else [""] * len(prompts)
    if len(begun) != len(prompts):
        raise ValueError("openings must match prompts one to one")
    if on_text is not None and any(begun):
        on_text = _after_openings(on_text, begun)
    lines = ANSWER_LINES.get(expert)
    limiter = LineLimit(lines, on_text) if lines else None
    completions = backend.complete(expert, prompts, max_new_tokens=limit,
                                   decoding=decoding or decoding_for(expert, backend.decoding),
                                   on_text=limiter.on_text if limiter else on_text, stop_row=limiter)
    texts = [completion.text for completion in completions]
    return [continued(opening, limiter.cut(text) if limiter else text) for opening, text in zip(begun, texts)]


class _AfterOpening:
    """One answer's continuation after its opening: the first non-empty piece gets the
    :func:`~reason4rec.experts.prompts.joint` the whole answer has there ("" opening: none)."""

    def __init__(self, opening: str) -> None:
        self._waiting = bool(opening)

    def __call__(self, piece: str) -> str:
        if self._waiting and piece:
            self._waiting = False
            return joint(piece) + piece
        return piece


def _after_openings(on_text: TextCallback, openings: Sequence[str]) -> TextCallback:
    """``on_text`` that is sent each row's opening first, then the row's continuation joined to it."""
    for row, opening in enumerate(openings):
        if opening:
            on_text(row, opening)
    joined = [_AfterOpening(opening) for opening in openings]
    return lambda row, piece: on_text(row, joined[row](piece))


def opened_stream(opening: str, pieces: Iterator[str]) -> Iterator[str]:
    """A stream of the whole answer: ``opening`` (an answer already begun, "" for none) first,
    then ``pieces`` of its continuation joined to it. Closing it closes ``pieces`` (so a cancelled
    turn stops the generation)."""
    joined = _AfterOpening(opening)
    try:
        if opening:
            yield opening
        for piece in pieces:
            yield joined(piece)
    finally:
        close = getattr(pieces, "close", None)
        if callable(close):
            close()


def sample_by_complete(backend: Any, expert: Expert, prompts: Sequence[str], count: int, temperature: float,
                       seed: int | None, limit: int, on_text: TextCallback | None = None,
                       openings: Sequence[str] | None = None) -> list[list[str]]:
    """``sample`` on top of ``complete`` for both local backends: ``count`` continuations per
    prompt, decoded as ``generate``'s are (same guards, line limits and token budget) but sampled,
    all in one ``complete`` call (one seeded stream), prompt by prompt; ``on_text`` sees every
    token (row = prompt x count + draft)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    sampled = replace(decoding_for(expert, backend.decoding), do_sample=True, temperature=temperature, seed=seed)
    begun = list(openings) if openings is not None else [""] * len(prompts)
    texts = generate_by_complete(backend, expert, [p for p in prompts for _ in range(count)], limit, on_text, sampled,
                                 [o for o in begun for _ in range(count)])
    return [texts[i * count:(i + 1) * count] for i in range(len(prompts))]


@dataclass(frozen=True, slots=True)
class DecodingSettings:
    """Greedy by default (the method's inference), with guards a 135M model needs against loops."""

    do_sample: bool = False
    temperature: float = 1.0
    repetition_penalty: float = 1.15
    no_repeat_ngram_size: int = 4
    ngram_scope: Literal["all", "generated"] = "all"
    """``all``: no n-gram of the prompt or the answer repeats (Hugging Face's rule); ``generated``:
    only the answer's own n-grams are banned, so an answer may copy its prompt's template."""
    penalty_scope: Literal["all", "generated"] = "all"
    """``all``: the repetition penalty lowers every token already in the prompt or the answer
    (Hugging Face's rule); ``generated``: only the answer's own, so copying a phrase of the prompt
    costs nothing."""
    no_repeated_word: bool = False
    """Never write the answer's last word again right after it (see :mod:`.word_repeats`)."""
    aspect_guard: bool = False
    """Never name an aspect the experts learnt that the prompt does not name (see :mod:`.aspect_guard`;
    a backend without a learnt vocabulary has no guard to apply)."""
    no_glued_words: bool = False
    """A word the rules above lowered or forbade is not written glued to the word before instead
    (see :mod:`.glued_words`)."""
    seed: int | None = None
    """Seeds sampling (``do_sample``) so a bench's candidates can be drawn again; None: fresh."""


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token's log-probability and its most likely alternatives (raw logits)."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()
    """(token id, logprob) pairs, most likely first."""


@dataclass(frozen=True, slots=True)
class Completion:
    """One prompt's continuation with what an OpenAI-style server reports about it."""

    text: str
    """The new tokens decoded without special tokens (not stripped)."""
    token_ids: tuple[int, ...]
    """The new tokens up to (not including) the end of text."""
    finish_reason: str
    """``stop`` (the model ended its answer) or ``length`` (the token limit, or the caller stopped it)."""
    logprobs: tuple[TokenLogprob, ...] | None = None


@runtime_checkable
class Backend(Protocol):
    """Where the experts run. Every method takes the expert (adapter) name first.

    A conversation whose last message is the assistant's is an answer already begun: ``generate``,
    ``stream`` and ``sample`` continue it and return (and stream first) the whole answer, that
    message's text included (:func:`~reason4rec.experts.prompts.answer_opening`)."""

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        ...

    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        ...

    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        ...

    def version(self, expert: Expert) -> str:
        ...


@runtime_checkable
class SamplingBackend(Backend, Protocol):
    """A backend that can also sample: several drafts of an answer to choose from (the agent keeps
    the reason that invents least). Both local backends and the remote one can; a backend without
    ``sample`` gives greedy answers only."""

    def sample(self, expert: Expert, conversations: Sequence[Messages], *, count: int, temperature: float,
               seed: int | None = None, max_new_tokens: int | None = None,
               on_text: TextCallback | None = None) -> list[list[str]]:
        """``count`` sampled answers per conversation, in order; ``seed`` makes them repeatable.
        ``on_text(draft, text)`` is called as drafts are written (draft = conversation x count +
        j; per token locally, per finished draft remotely): raising in it stops the drafting, as
        a cancelled turn does."""
        ...


class ExpertAccessors:
    """What callers may read of a local backend's experts, so none reaches into ``.experts``
    (the transformers and llama.cpp backends both hold theirs as ``self.experts``)."""

    experts: Any
    vocabulary: tuple[str, ...] = ()
    """The aspect words the experts learnt (:func:`~reason4rec.experts.shipping.learnt_vocabulary`);
    empty: no aspect guard."""

    def version(self, expert: Expert) -> str:
        return self.experts.versions[expert]

    @property
    def names(self) -> tuple[Expert, ...]:
        """The experts (adapters) this backend runs."""
        return tuple(self.experts.names)

    @property
    def tokenizer(self) -> Any:
        """The base model's tokenizer, shared by every expert (a server renders and counts with it)."""
        return self.experts.tokenizer

    @property
    def base_name(self) -> str:
        return self.experts.base.name

    @cached_property
    def word_ban(self) -> RepeatedWordBan:
        """The tokenizer's :class:`RepeatedWordBan`, built on first use."""
        return RepeatedWordBan(self.tokenizer)

    @cached_property
    def glue_guard(self) -> GlueGuard:
        """The tokenizer's :class:`GlueGuard`, built on first use."""
        return GlueGuard(self.tokenizer)

    @cached_property
    def aspect_guard(self) -> AspectGuard | None:
        """The :class:`AspectGuard` of :attr:`vocabulary`, built on first use (None without one)."""
        return AspectGuard(self.tokenizer, self.vocabulary) if self.vocabulary else None

    def forbidden_for(self, settings: DecodingSettings, prompt_ids: Sequence[int]) -> list[int]:
        """The tokens ``settings`` forbid in answer to ``prompt_ids`` (its aspect guard's)."""
        guard = self.aspect_guard if settings.aspect_guard else None
        return guard.forbidden(prompt_ids) if guard is not None else []


class CompletionMethods:
    """``generate`` and ``sample`` of a local backend, on top of its ``complete`` over prompts
    rendered with its experts' chat template (the transformers and llama.cpp backends share them)."""

    experts: Any
    complete: Callable[..., list[Completion]]
    decoding: DecodingSettings

    def generate(self, expert: Expert, conversations: Sequence[Messages], *,
                 max_new_tokens: int | None = None, on_text: TextCallback | None = None) -> list[str]:
        """Greedy continuations, up to ``batch_size`` prompts decoded together; ``on_text(row, piece)`` streams."""
        limit = max_new_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        return generate_by_complete(self, expert, self._rendered(conversations), limit, on_text,
                                    openings=[answer_opening(c) for c in conversations])

    def sample(self, expert: Expert, conversations: Sequence[Messages], *, count: int, temperature: float,
               seed: int | None = None, max_new_tokens: int | None = None,
               on_text: TextCallback | None = None) -> list[list[str]]:
        """``count`` sampled continuations per conversation (see :func:`sample_by_complete`)."""
        limit = max_new_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        return sample_by_complete(self, expert, self._rendered(conversations), count, temperature, seed, limit,
                                  on_text, [answer_opening(c) for c in conversations])

    def _rendered(self, conversations: Sequence[Messages]) -> list[str]:
        return [render_chat(self.experts.tokenizer, c) for c in conversations]


class LocalBackend(CompletionMethods, ExpertAccessors):
    """transformers + peft in this process: batched, left-padded, greedy, streamable."""

    kind = "transformers"
    """Which engine answers (evaluation run folders record it)."""

    def __init__(self, experts: ExpertModel, batch_size: int = 8,
                 decoding: DecodingSettings | None = None, vocabulary: Sequence[str] = ()) -> None:
        self.experts = experts
        self.batch_size = max(1, batch_size)
        self.decoding = decoding or DecodingSettings()
        self.vocabulary = tuple(vocabulary)
        self._lock = threading.Lock()  # one adapter switch + forward at a time

    # ------------------------------------------------------------------ generation
    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; closing the iterator stops the generation."""
        return stream_by_generate(self.generate, expert, conversation, max_new_tokens)

    def complete(self, expert: Expert | None, prompts: Sequence[str], *, max_new_tokens: int | Sequence[int],
                 on_text: TextCallback | None = None, decoding: DecodingSettings | None = None,
                 top_logprobs: int | None = None,
                 stop_row: Callable[[int], bool] | None = None) -> list[Completion]:
        """Continue already rendered prompts: the code path of :meth:`generate`, with more to report.

        What an OpenAI-compatible server needs on top of :meth:`generate`: a token limit per
        prompt, per-request decoding, the raw log-probabilities of each generated token (the
        log-softmax of the model's logits before any penalty, so ``top_logprobs`` after
        ``Predicted Rating:`` is the distribution :meth:`rate` reads) and a way to stop one row
        (``stop_row(row)`` true: a client went away) without disturbing the others.

        Example:
            >>> [c] = backend.complete("reasoner", [render_chat(tok, msgs)], max_new_tokens=32,
            ...                        top_logprobs=5)  # doctest: +SKIP
            >>> c.finish_reason, len(c.token_ids) == len(c.logprobs)  # doctest: +SKIP
            ('length', True)
        """
        limits = ([int(max_new_tokens)] * len(prompts) if isinstance(max_new_tokens, int)
                  else [int(limit) for limit in max_new_tokens])
        if len(limits) != len(prompts):
            raise ValueError("max_new_tokens must be one limit or one per prompt")
        outputs: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            end = start + self.batch_size
            callback = stop = None
            if on_text is not None:
                callback = lambda row, piece, offset=start: on_text(offset + row, piece)  # noqa: E731
            if stop_row is not None:
                stop = lambda row, offset=start: stop_row(offset + row)  # noqa: E731
            outputs.extend(self._complete_batch(expert, list(prompts[start:end]), limits[start:end], callback,
                                                decoding or self.decoding, top_logprobs, stop, batch_start=start))
        return outputs

    def _complete_batch(self, expert: Expert | None, texts: list[str], limits: list[int],
                        callback: TextCallback | None, settings: DecodingSettings,
                        top_logprobs: int | None = None,
                        stop: Callable[[int], bool] | None = None, batch_start: int = 0) -> list[Completion]:
        import torch

        tokenizer = self.experts.tokenizer
        tokenizer.padding_side = "left"
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self.experts.device)
        width = inputs["input_ids"].shape[1]
        streamer = _RowStreamer(tokenizer, len(texts), callback) if callback else None
        answer_penalty = settings.penalty_scope == "generated" and settings.repetition_penalty != 1.0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(limits), "do_sample": settings.do_sample,
            "repetition_penalty": 1.0 if answer_penalty else settings.repetition_penalty,
            "no_repeat_ngram_size": settings.no_repeat_ngram_size,
            "pad_token_id": tokenizer.pad_token_id, "streamer": streamer,
        }
        if settings.do_sample:
            kwargs["temperature"] = settings.temperature
            if settings.seed is not None:  # each batch its own stream, or batches would repeat each other
                torch.manual_seed(settings.seed + batch_start)
        processors = []
        if answer_penalty:
            processors.append(_answer_repetition_penalty(settings.repetition_penalty, width))
        if settings.ngram_scope == "generated" and settings.no_repeat_ngram_size > 0:
            kwargs["no_repeat_ngram_size"] = 0
            processors.append(_answer_ngram_ban(settings.no_repeat_ngram_size, width))
        if settings.no_repeated_word:
            processors.append(_answer_word_ban(self.word_ban, width))
        forbidden = [self.forbidden_for(settings, [t for t, m in zip(ids, mask) if m])
                     for ids, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist())]
        if any(forbidden):
            processors.append(_forbidden_tokens(forbidden))
        if settings.no_glued_words and processors:  # it carries what the processors above took; none: nothing to carry
            keep_raw, carry = _answer_glue_guard(self.glue_guard, width)
            processors = [keep_raw, *processors, carry]
        if processors:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(processors)
        if len(set(limits)) > 1 or stop is not None:
            kwargs["stopping_criteria"] = _row_stopper(width, limits, stop)
        if top_logprobs is not None:
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        with self._lock, torch.inference_mode(), self.experts.use(expert) as model:
            output = model.generate(**inputs, **kwargs)
        sequences = output.sequences if top_logprobs is not None else output
        new_tokens = sequences[:, width:].tolist()
        ends = end_token_ids(tokenizer)
        completions = []
        for row, tokens in enumerate(new_tokens):
            length = next((i for i, token in enumerate(tokens) if token in ends), len(tokens))
            length = min(length, limits[row])
            logprobs = None
            if top_logprobs is not None:
                logprobs = _token_logprobs(output.logits, row, tokens[:length], top_logprobs)
            completions.append(Completion(
                text=answer_text(tokenizer, tokens[:limits[row]]),
                token_ids=tuple(tokens[:length]),
                finish_reason="stop" if length < limits[row] else "length", logprobs=logprobs))
        return completions

    # ------------------------------------------------------------------ ratings
    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        """Distribution over 1..5 after ``[response prefix]Predicted Rating: `` (one forward pass)."""
        import torch

        prefixes = list(response_prefixes) if response_prefixes else [""] * len(conversations)
        if len(prefixes) != len(conversations):
            raise ValueError("response_prefixes must match conversations one to one")
        tokenizer = self.experts.tokenizer
        encoded = [rating_ids(tokenizer, rating_prompt(tokenizer, c, p)) for c, p in zip(conversations, prefixes)]
        results: list[RatingDistribution] = []
        pad = tokenizer.pad_token_id
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start:start + self.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (ids, _) in enumerate(chunk):
                input_ids[row, width - len(ids):] = torch.tensor(ids)
                mask[row, width - len(ids):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = self.experts.device
            with self._lock, torch.inference_mode(), self.experts.use(expert) as model:
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                               position_ids=positions.to(device), logits_to_keep=1).logits[:, -1, :]
            for row, (_, digits) in enumerate(chunk):
                results.append(RatingDistribution.from_logits(logits[row, digits].float().tolist()))
        return results


def stream_by_generate(generate: Callable[..., list[str]], expert: Expert, conversation: Messages,
                       max_new_tokens: int | None) -> Iterator[str]:
    """``stream`` for any backend with a ``generate(..., on_text=)``: generation runs in a worker thread.

    Closing the iterator early (a cancelled turn) stops the generation at its next token, so
    the model is free again at once instead of finishing a reason nobody reads.
    """
    pieces: queue.Queue[Any] = queue.Queue()
    done, stop = object(), threading.Event()

    def on_text(_row: int, piece: str) -> None:
        if stop.is_set():
            raise _Stopped
        pieces.put(piece)

    def work() -> None:
        try:
            generate(expert, [conversation], max_new_tokens=max_new_tokens, on_text=on_text)
        except _Stopped:
            pass
        except BaseException as err:  # surfaced in the consumer's thread
            pieces.put(err)
        finally:
            pieces.put(done)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while (item := pieces.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def rating_prompt(tokenizer: Any, conversation: Messages, prefix: str = "") -> str:
    """The text whose next token is the star: ``[response prefix]Predicted Rating: ``."""
    prefix = prefix.strip()
    return render_chat(tokenizer, conversation) + prefix + ("\n" if prefix else "") + RATING_PREFIX


def rating_ids(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """Token ids up to the star, and the ids of "1".."5" at that position for this tokenizer."""
    variants = [tokenizer(text + str(k), add_special_tokens=False)["input_ids"] for k in range(1, 6)]
    common = 0
    while all(len(v) > common for v in variants) and len({v[common] for v in variants}) == 1:
        common += 1
    if any(len(v) != common + 1 for v in variants):
        raise RatingError("this tokenizer does not give each star 1..5 its own token after "
                          f"{RATING_PREFIX!r}; the Predictor needs that")
    return variants[0][:common], [v[common] for v in variants]


def answer_text(tokenizer: Any, tokens: Sequence[int]) -> str:
    """The text of generated tokens, less a trailing half of a multi-byte character.

    A token limit can cut a character in two, and streamed text never shows that half
    (:class:`RowTextStream` holds it back until the rest arrives, which then never does): so a
    finished answer ends the same way whether it was streamed or returned whole, local or served.
    """
    tokens = list(tokens)
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    while text.endswith("\ufffd") and tokens:  # what the stream last sent: a shorter whole prefix
        tokens.pop()
        text = tokenizer.decode(tokens, skip_special_tokens=True)
    return text


def end_token_ids(tokenizer: Any) -> frozenset[int]:
    """Tokens that end an answer: the tokenizer's end of text and its padding token."""
    return frozenset(t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None)


class _Stopped(Exception):
    """Raised inside generate() by a stream whose reader went away."""


def _row_stopper(prompt_width: int, limits: list[int], stop: Callable[[int], bool] | None) -> Any:
    """Stopping criteria that end each row at its own token limit, or when ``stop(row)`` says so."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class RowStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            made = input_ids.shape[1] - prompt_width
            done = [made >= limit or (stop is not None and stop(row)) for row, limit in enumerate(limits)]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([RowStop()])


def _answer_ngram_ban(size: int, prompt_width: int) -> Any:
    """A logits processor banning any ``size``-gram that repeats within the answer (not the prompt)."""
    import torch
    from transformers import LogitsProcessor

    class AnswerNGramBan(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            for row, ids in enumerate(input_ids[:, prompt_width:].tolist()):
                if len(ids) < size - 1:
                    continue
                key = tuple(ids[len(ids) - size + 1:])
                banned = {ids[i + size - 1] for i in range(len(ids) - size + 1) if tuple(ids[i:i + size - 1]) == key}
                if banned:
                    scores[row, list(banned)] = -torch.inf
            return scores

    return AnswerNGramBan()


def _answer_repetition_penalty(penalty: float, prompt_width: int) -> Any:
    """Hugging Face's repetition penalty over each row's answer alone (not its prompt)."""
    import torch
    from transformers import LogitsProcessor

    class AnswerRepetitionPenalty(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            answer = input_ids[:, prompt_width:]
            if answer.shape[1] == 0:
                return scores
            picked = torch.gather(scores, 1, answer)
            picked = torch.where(picked < 0, picked * penalty, picked / penalty)
            return scores.scatter(1, answer, picked)

    return AnswerRepetitionPenalty()


def _forbidden_tokens(forbidden: Sequence[Sequence[int]]) -> Any:
    """A logits processor that never lets row ``i`` write a token of ``forbidden[i]``."""
    import torch
    from transformers import LogitsProcessor

    rows = [(row, torch.tensor(list(banned), dtype=torch.long)) for row, banned in enumerate(forbidden) if banned]

    class ForbiddenTokens(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            for row, banned in rows:  # made tensors once: the same ids are masked at every step
                scores[row, banned.to(scores.device)] = -torch.inf
            return scores

    return ForbiddenTokens()


def _answer_word_ban(ban: RepeatedWordBan, prompt_width: int) -> Any:
    """A logits processor applying :class:`RepeatedWordBan` to each row's answer."""
    import torch
    from transformers import LogitsProcessor

    class AnswerWordBan(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            for row, ids in enumerate(input_ids[:, prompt_width:].tolist()):
                banned = ban.banned(ids)
                if banned:
                    scores[row, banned] = -torch.inf
            return scores

    return AnswerWordBan()


def _answer_glue_guard(guard: GlueGuard, prompt_width: int) -> tuple[Any, Any]:
    """Two logits processors around this backend's own rules: the first keeps each step's scores
    before them, the last applies :class:`GlueGuard` to each row's answer."""
    import torch
    from transformers import LogitsProcessor

    spaced, bare = torch.from_numpy(guard.spaced), torch.from_numpy(guard.bare)
    kept: dict[str, Any] = {}

    class KeepRawScores(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            kept["raw"] = scores.clone()
            if "words" not in kept:  # the prompts' words, once (their padding decodes to nothing)
                kept["words"] = [guard.prompt_words(ids) for ids in input_ids[:, :prompt_width].tolist()]
            return scores

    class CarryToGluedTwins(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            pairs = spaced.to(scores.device), bare.to(scores.device)
            for row, ids in enumerate(input_ids[:, prompt_width:].tolist()):
                guard.apply(kept["raw"][row], scores[row], ids, kept["words"][row], *pairs)
            return scores

    return KeepRawScores(), CarryToGluedTwins()


def _token_logprobs(logits: Sequence[Any], row: int, tokens: list[int], top: int) -> tuple[TokenLogprob, ...]:
    """Log-softmax over the whole vocabulary of the raw logits at each generated position."""
    import torch

    found = []
    for step, token in enumerate(tokens):
        logprobs = torch.log_softmax(logits[step][row].float(), dim=-1)
        best = logprobs.topk(top) if top > 0 else None
        pairs = tuple(zip(best.indices.tolist(), best.values.tolist())) if best is not None else ()
        found.append(TokenLogprob(token, float(logprobs[token]), pairs))
    return tuple(found)


class RowTextStream:
    """Per-row incremental decoding: calls back with the new text of each row as tokens arrive.

    A token that ends the row (end of text, padding) finishes it; half of a multi-byte character
    is held back until the rest arrives. Used by both local backends, so streamed text is the
    same whichever engine produced the tokens.
    """

    def __init__(self, tokenizer: Any, rows: int, callback: TextCallback) -> None:
        self.tokenizer = tokenizer
        self.callback = callback
        self.ends = end_token_ids(tokenizer)
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.sent = [0] * rows
        self.finished = [False] * rows

    def push(self, row: int, token: int) -> None:
        if self.finished[row]:
            return
        if token in self.ends:
            self.finished[row] = True
            return
        self.tokens[row].append(token)
        text = answer_text(self.tokenizer, self.tokens[row])  # half of a multi-byte character waits for the rest
        if len(text) > self.sent[row]:
            piece, self.sent[row] = text[self.sent[row]:], len(text)
            self.callback(row, piece)


class _RowStreamer(RowTextStream):
    """A transformers streamer for batches (``put`` receives one column of new tokens)."""

    def __init__(self, tokenizer: Any, rows: int, callback: TextCallback) -> None:
        super().__init__(tokenizer, rows, callback)
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt ids
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(len(self.tokens), -1)[:, -1].tolist()):
            self.push(row, token)

    def end(self) -> None:
        return None

"""The experts on llama.cpp: a compiled CPU engine behind the same :class:`Backend` protocol.

Why: on a 2-core CPU eager PyTorch decodes the 135M base at ~9 tokens/s, while a compiled,
memory-bandwidth-bound engine with 8-bit or 16-bit weights runs several times faster. This backend
keeps everything that decides *what* is generated in Python and identical to the transformers
backend, and hands llama.cpp only the forward pass:

* prompts are rendered and tokenized by the same Hugging Face tokenizer (ids go to the engine);
* greedy decoding applies the same repetition penalty and no-repeat n-gram ban (Hugging Face's
  definitions, over prompt and answer) to the engine's raw logits;
* ``rate`` reads the logits of "1".."5" at the same position; text is decoded and streamed by the
  same :class:`~reason4rec.experts.backend.RowTextStream`.

Several prompts decode together as parallel sequences of one llama.cpp context (one shared KV
cache, one ``llama_decode`` per step for the whole batch). Adapters are llama.cpp LoRA adapters
switched per call on one base (``mode="lora"``), or one merged model per expert (``"merged"``).

Example:
    >>> backend = open_llamacpp_backend(load_config(), shipped_adapter_dirs())  # doctest: +SKIP
    >>> backend.generate("reasoner", [reasoner_messages(ctx)])                  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from ...config import Expert
from ...errors import Reason4RecError
from ..backend import (
    DEFAULT_MAX_NEW_TOKENS,
    Completion,
    CompletionMethods,
    DecodingSettings,
    ExpertAccessors,
    RowTextStream,
    TextCallback,
    TokenLogprob,
    answer_text,
    decoding_for,
    end_token_ids,
    opened_stream,
    rating_ids,
    rating_prompt,
)
from ..glued_words import GlueGuard
from ..model.adapters import AdapterCard
from ..prompts import Messages, answer_opening, render_chat
from ..rating import RatingDistribution
from ..word_repeats import RepeatedWordBan
from .gguf_export import Quant


class EngineError(Reason4RecError, RuntimeError):
    """The compiled engine is missing, cannot load a file, or cannot fit a prompt; says which."""


def engine_available() -> str | None:
    """None when ``llama_cpp`` imports, else why not (one line)."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError) as err:  # OSError: the shared library failed to load
        return f"llama-cpp-python is not usable here ({err})"
    return None


def engine_quant(setting: str) -> Quant:
    """The weights to run: ``setting`` itself, or for ``auto`` ``bf16`` where llama.cpp multiplies
    bfloat16 natively (AVX512-BF16: prefill about 1.4 times f16's on two cores, see docs/engine.md)
    and ``f16`` elsewhere, where bf16 would be converted in software."""
    if setting != "auto":
        return cast(Quant, setting)
    import llama_cpp

    return "bf16" if native_bf16(llama_cpp.llama_print_system_info().decode(errors="replace")) else "f16"


def native_bf16(system_info: str) -> bool:
    """Does llama.cpp's feature line (``llama_print_system_info``) say it has bf16 dot products?"""
    return bool(re.search(r"\bAVX512_BF16 = 1\b", system_info))


# ---------------------------------------------------------------------------------- the engine
class LlamaEngine:
    """One llama.cpp model and context (the C API through ctypes), with LoRA adapters by name.

    ``context`` tokens of KV cache are shared by all parallel sequences (unified cache), so one
    long prompt or several short ones fit in the same memory.
    """

    def __init__(self, model_path: Path, adapters: Mapping[Expert, Path] | None = None, *,
                 context: int = 8192, max_sequences: int = 8, threads: int | None = None,
                 batch_tokens: int = 2048) -> None:
        import llama_cpp as C

        self._C = C
        _silence_llama_logs()
        C.llama_backend_init()
        params = C.llama_model_default_params()
        params.n_gpu_layers = 0
        # No extra weight buffers (AMX, repacked layouts): on an AMX CPU, llama.cpp's AMX q8_0 kernels
        # crash (SIGSEGV) on small layers such as the tests' tiny model, and for SmolLM2 here they
        # gained nothing overall (f16, 2 cores, idle: prefill 810 vs 710 tok/s, batch-8 decode 90 vs
        # 98 tok/s, single decode 64 vs 66 tok/s with and without).
        params.use_extra_bufts = False
        self.model = C.llama_model_load_from_file(str(model_path).encode(), params)
        if not self.model:
            raise EngineError(f"llama.cpp could not load {model_path} (damaged or not a GGUF model); "
                              "rebuild it with `reason4rec model export --rebuild`")
        # Positions never exceed one prompt + answer, so a cache larger than the training context
        # is never needed per sequence; llama.cpp warns when asked for one.
        self.n_ctx_train = int(C.llama_model_n_ctx_train(self.model))
        self.context = int(min(context, self.n_ctx_train)) if self.n_ctx_train > 0 else int(context)
        self.max_sequences = int(max_sequences)
        names: list[str | None] = [None, *(adapters or {})]
        self._kept_sequence = {name: self.max_sequences + i for i, name in enumerate(names)}
        """Per adapter (None: the plain base), the sequence that keeps the last shared prompt prefix."""
        self._kept: dict[str | None, tuple[int, ...]] = {}
        self.batch_tokens = int(min(batch_tokens, self.context))
        threads = threads or max(1, os.cpu_count() or 1)
        cparams = C.llama_context_default_params()
        cparams.n_ctx = self.context
        cparams.n_batch = self.batch_tokens
        cparams.n_ubatch = min(512, self.batch_tokens)
        cparams.n_seq_max = self.max_sequences + len(self._kept_sequence)
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.kv_unified = True
        cparams.no_perf = True
        self.ctx = C.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            C.llama_model_free(self.model)
            raise EngineError(f"llama.cpp could not create a context of {self.context} tokens")
        self.threads = threads
        self.memory = C.llama_get_memory(self.ctx)
        self.n_vocab = int(C.llama_vocab_n_tokens(C.llama_model_get_vocab(self.model)))
        self._batch = C.llama_batch_init(self.batch_tokens, 0, 1)
        self._adapters: dict[str, Any] = {}
        self._active: str | None = None
        for name, path in (adapters or {}).items():
            adapter = C.llama_adapter_lora_init(self.model, str(path).encode())
            if not adapter:
                self.close()
                raise EngineError(f"llama.cpp could not load the {name!r} LoRA adapter {path}; "
                                  "rebuild it with `reason4rec model export --rebuild`")
            self._adapters[name] = adapter

    def close(self) -> None:
        C = self._C
        if getattr(self, "_batch", None) is not None:
            C.llama_batch_free(self._batch)
            self._batch = None
        for adapter in self._adapters.values():
            C.llama_adapter_lora_free(adapter)
        self._adapters.clear()
        if getattr(self, "ctx", None):
            C.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "model", None):
            C.llama_model_free(self.model)
            self.model = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        # try/except, not contextlib.suppress: at interpreter shutdown this module's globals may already be None
        try:
            self.close()
        except Exception:
            return

    def use_adapter(self, name: str | None) -> None:
        """Make ``name`` the active LoRA adapter (None: the plain base) for the next decodes."""
        if name == self._active:
            return
        C = self._C
        if name is None:
            C.llama_set_adapters_lora(self.ctx, None, 0, None)
        else:
            adapters = (C.llama_adapter_lora_p_ctypes * 1)(self._adapters[name])
            scales = (ctypes.c_float * 1)(1.0)
            if C.llama_set_adapters_lora(self.ctx, adapters, 1, scales) != 0:
                raise EngineError(f"llama.cpp refused the {name!r} adapter")
        self._active = name

    def reset(self) -> None:
        """Forget every sequence, the kept prefixes too (the KV cache is emptied, not freed)."""
        self._C.llama_memory_clear(self.memory, True)
        self._kept.clear()

    def clear_rows(self) -> None:
        """Forget the answers' sequences; the kept prefixes stay for the next call."""
        for sequence in range(self.max_sequences):
            self.drop(sequence)

    def drop(self, sequence: int) -> None:
        self._C.llama_memory_seq_rm(self.memory, sequence, -1, -1)

    # ---------------------------------------------------------------- the kept prefix
    def kept(self) -> tuple[int, ...]:
        """The tokens whose KV state the active adapter keeps from earlier calls."""
        return self._kept.get(self._active, ())

    def keep(self, prefix: Sequence[int]) -> int:
        """Make the active adapter's kept prefix ``prefix``: the part it shares with what is kept
        is reused, the rest computed now. Returns how many tokens were reused.

        Causal attention makes the KV state of a prefix depend on that prefix alone, so reuse is
        exact by construction, and a prompt that changed (a user's new review) reuses only what
        comes before the change.
        """
        sequence, kept = self._kept_sequence[self._active], self.kept()
        reused = common_length(kept, prefix)
        self._kept[self._active] = ()  # a failure below leaves nothing half-kept
        self._C.llama_memory_seq_rm(self.memory, sequence, reused, -1)
        if len(prefix) > reused:
            self.decode([(token, position, sequence, False)
                         for position, token in enumerate(prefix[reused:], start=reused)])
        self._kept[self._active] = tuple(prefix)
        return reused

    def start_from_kept(self, sequence: int, length: int) -> None:
        """Give ``sequence`` the first ``length`` kept positions (cells shared, nothing computed)."""
        self._C.llama_memory_seq_cp(self.memory, self._kept_sequence[self._active], sequence, 0, length)

    def make_room(self, tokens: int) -> None:
        """Drop other adapters' kept prefixes when ``tokens`` new cells would not fit beside them."""
        others = {name: kept for name, kept in self._kept.items() if name != self._active}
        if tokens + sum(len(kept) for kept in others.values()) + len(self.kept()) > self.context:
            for name in others:
                self.drop(self._kept_sequence[name])
                del self._kept[name]

    def share(self, source: int, target: int) -> None:
        """Give sequence ``target`` everything ``source`` holds (the unified cache shares the cells,
        nothing is computed again): drafts of one prompt prefill it once."""
        self._C.llama_memory_seq_cp(self.memory, source, target, -1, -1)

    def decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """Feed (token, position, sequence, want logits) entries; return the wanted logits in order.

        Entries are sent ``batch_tokens`` at a time; logits are copied out right after the call
        that computed them (llama.cpp keeps only the last call's).
        """
        C, batch, wanted = self._C, self._batch, []
        for start in range(0, len(entries), self.batch_tokens):
            chunk = entries[start:start + self.batch_tokens]
            for i, (token, position, sequence, logits) in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = position
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = sequence
                batch.logits[i] = logits
            batch.n_tokens = len(chunk)
            status = C.llama_decode(self.ctx, batch)
            if status != 0:
                raise EngineError(f"llama.cpp could not decode a batch of {len(chunk)} tokens "
                                  f"(status {status}; the KV cache holds {self.context} tokens)")
            for i, (_, _, _, logits) in enumerate(chunk):
                if logits:
                    pointer = C.llama_get_logits_ith(self.ctx, i)
                    wanted.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return wanted


_LOG_CALLBACK: Any = None
_GGML_LOG_LEVEL_ERROR = 3  # enum ggml_log_level: NONE, INFO, WARN, ERROR, DEBUG, CONT


def _silence_llama_logs() -> None:
    """llama.cpp prints its loading chatter to stderr; keep only its errors."""
    global _LOG_CALLBACK
    import llama_cpp as C

    if _LOG_CALLBACK is not None:
        return

    @C.llama_log_callback
    def _log(level: int, text: bytes, _user: Any) -> None:
        if level == _GGML_LOG_LEVEL_ERROR and text:
            os.write(2, text)

    _LOG_CALLBACK = _log
    C.llama_log_set(_log, ctypes.c_void_p(0))


# ---------------------------------------------------------------------------------- decoding
@dataclass
class _Row:
    """One prompt being continued: its ids so far, limits and the state the logit rules need."""

    index: int
    prompt: list[int]
    limit: int
    ngram: int
    prompt_grams: bool = True
    """Ban the prompt's n-grams too (``ngram_scope = "all"``), or only the answer's own."""
    generated: list[int] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    banned: dict[tuple[int, ...], set[int]] = field(default_factory=dict)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish: str | None = None
    forbidden: Sequence[int] = ()
    """Tokens this row may never write (the aspect guard's for its prompt)."""
    prompt_words: frozenset[str] | None = None
    """The prompt's words an answer may copy piece by piece (the glue guard's; read on first use)."""

    def __post_init__(self) -> None:
        self.forbidden = np.asarray(self.forbidden, dtype=np.int64)  # indexed every step: converted once
        self.seen = set(self.prompt)
        n = self.ngram if self.prompt_grams else 0
        for start in range(max(0, len(self.prompt) - n + 1) if n > 0 else 0):
            gram = tuple(self.prompt[start:start + n])
            self.banned.setdefault(gram[:-1], set()).add(gram[-1])

    @property
    def ids(self) -> list[int]:
        return self.prompt + self.generated

    def append(self, token: int) -> None:
        self.generated.append(token)
        self.seen.add(token)
        n = self.ngram
        ids = self.ids
        if n > 0 and len(ids) >= n and (self.prompt_grams or len(self.generated) >= n):
            gram = tuple(ids[-n:])
            self.banned.setdefault(gram[:-1], set()).add(gram[-1])


def choose_token(logits: np.ndarray, row: _Row, settings: DecodingSettings,
                 rng: np.random.Generator | None = None, word_ban: RepeatedWordBan | None = None,
                 glue: GlueGuard | None = None) -> int:
    """The next token under Hugging Face's rules: repetition penalty (over prompt and answer, or
    the answer alone: ``settings.penalty_scope``), then the n-gram ban, then argmax (or
    temperature sampling); ``word_ban`` applies ``settings.no_repeated_word``, ``glue``
    ``settings.no_glued_words`` (last: it carries what the rules before it took)."""
    scores = logits.astype(np.float32, copy=True)
    penalty = settings.repetition_penalty
    seen = row.seen if settings.penalty_scope == "all" else set(row.generated)
    if penalty != 1.0 and seen:
        ids = np.fromiter(seen, dtype=np.int64)
        picked = scores[ids]
        scores[ids] = np.where(picked < 0, picked * penalty, picked / penalty)
    n = settings.no_repeat_ngram_size
    if n > 0 and len(row.ids) + 1 >= n:
        key = tuple(row.ids[-(n - 1):]) if n > 1 else ()
        banned = row.banned.get(key)
        if banned:
            scores[list(banned)] = -np.inf
    if settings.no_repeated_word and word_ban is not None:
        repeats = word_ban.banned(row.generated)
        if repeats:
            scores[repeats] = -np.inf
    if len(row.forbidden):
        scores[row.forbidden] = -np.inf
    if settings.no_glued_words and glue is not None:
        if row.prompt_words is None:
            row.prompt_words = glue.prompt_words(row.prompt)
        glue.apply(logits, scores, row.generated, row.prompt_words)
    if not settings.do_sample:
        return int(np.argmax(scores))
    scaled = scores.astype(np.float64) / max(settings.temperature, 1e-5)
    scaled -= scaled.max()
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum()
    return int((rng or np.random.default_rng()).choice(len(probabilities), p=probabilities))


def _top_logprobs(logits: np.ndarray, token: int, top: int) -> TokenLogprob:
    values = logits.astype(np.float64)
    values = values - values.max()
    logprobs = values - np.log(np.exp(values).sum())
    pairs: tuple[tuple[int, float], ...] = ()
    if top > 0:
        best = np.argpartition(-logprobs, min(top, len(logprobs) - 1))[:top]
        best = best[np.argsort(-logprobs[best], kind="stable")]
        pairs = tuple((int(i), float(logprobs[i])) for i in best)
    return TokenLogprob(token, float(logprobs[token]), pairs)


# ---------------------------------------------------------------------------------- the backend
@dataclass(frozen=True, slots=True)
class EngineBase:
    """What callers may ask of the base behind the engine (as of a transformers ``LoadedModel``)."""

    name: str
    path: str
    file: Path
    quant: str
    mode: str
    threads: int

    def describe(self) -> str:
        return f"{self.name}: llama.cpp {self.quant} ({self.mode}), cpu, {self.threads} threads"


@dataclass
class EngineExperts:
    """The adapters behind a :class:`LlamaCppBackend`: cards, versions and the shared tokenizer."""

    base: EngineBase
    tokenizer: Any
    cards: dict[str, AdapterCard]
    versions: dict[str, str]

    @property
    def names(self) -> tuple[Expert, ...]:
        return tuple(self.cards)


class LlamaCppBackend(CompletionMethods, ExpertAccessors):
    """The :class:`~reason4rec.experts.backend.Backend` protocol on llama.cpp (see the module doc)."""

    kind = "llamacpp"
    """Which engine answers (evaluation run folders record it)."""

    def __init__(self, experts: EngineExperts, engines: Mapping[Expert | None, LlamaEngine], *,
                 batch_size: int = 8, decoding: DecodingSettings | None = None,
                 vocabulary: Sequence[str] = ()) -> None:
        self.experts = experts
        self.vocabulary = tuple(vocabulary)
        self._engines = dict(engines)
        """Expert name -> the engine that runs it (one shared engine in LoRA mode)."""
        self.batch_size = max(1, batch_size)
        self.decoding = decoding or DecodingSettings()
        self._lock = threading.Lock()
        self._ends = end_token_ids(experts.tokenizer)
        self.share_prompts = True
        """Compute no prompt token twice: a shared prefix is kept and reused across calls, a prompt
        repeated within a batch (the agent's drafts) prefilled once; False computes each row whole."""
        self.reused_tokens = 0
        """Prompt tokens the last prefill took from the kept prefix instead of computing them."""

    def close(self) -> None:
        for engine in {id(e): e for e in self._engines.values()}.values():
            engine.close()

    def keep_prefix(self, expert: Expert, conversation: Messages) -> int:
        """Compute ``conversation``'s prompt now and keep it for ``expert``'s next calls, which reuse
        the tokens they share with it (a chat computes a user's part of the Reasoner's prompt
        while the person types). Returns the tokens kept (0: too long, or sharing is off)."""
        tokenizer = self.experts.tokenizer
        ids = tokenizer(render_chat(tokenizer, conversation), add_special_tokens=False)["input_ids"]
        engine = self._engine(expert)
        if not self.share_prompts or not ids or len(ids) >= engine.context:
            return 0
        with self._lock:
            engine.use_adapter(expert if self._shared(engine) else None)
            engine.make_room(len(ids))
            engine.keep(ids)
        return len(ids)

    def forget_kept(self) -> None:
        """Drop every kept prefix (the next call computes its whole prompt): cold timings, or the
        memory back after a long prompt."""
        with self._lock:
            for engine in {id(e): e for e in self._engines.values()}.values():
                engine.reset()

    def context_tokens(self, expert: Expert | None) -> int:
        """The most prompt plus new tokens one answer of ``expert`` may take (its engine's KV cache):
        a server refuses a request past it alone, before it shares a batch."""
        return self._engine(expert).context

    # ------------------------------------------------------------------ generation
    def stream(self, expert: Expert, conversation: Messages, *,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; closing the iterator stops the generation.

        The decoding runs in the caller's thread, one step per resumption: handing every token
        to another thread (as the transformers backend does) cost 25% of the speed here, the
        waking reader competing with llama.cpp's compute threads for two cores.
        """
        yield from opened_stream(answer_opening(conversation), self._stream(expert, conversation, max_new_tokens))

    def _stream(self, expert: Expert, conversation: Messages, max_new_tokens: int | None) -> Iterator[str]:
        """The continuation's pieces (an answer already begun is rendered open, not repeated)."""
        limit = max_new_tokens or DEFAULT_MAX_NEW_TOKENS.get(expert, 64)
        tokenizer = self.experts.tokenizer
        ids = tokenizer(render_chat(tokenizer, conversation), add_special_tokens=False)["input_ids"]
        settings = decoding_for(expert, self.decoding)  # as generate() decodes this expert
        row = _Row(0, ids, limit, settings.no_repeat_ngram_size, settings.ngram_scope == "all",
                   forbidden=self.forbidden_for(settings, ids))
        pieces: list[str] = []
        text = RowTextStream(tokenizer, 1, lambda _row, piece: pieces.append(piece))
        engine = self._engine(expert)
        next(_groups([row], engine.context, 1))  # the same checks as a batch: it fits, it is not empty
        with self._lock:
            engine.use_adapter(expert if self._shared(engine) else None)
            steps = self._decode_steps(engine, [row], settings, text, None, None)
            try:
                for _ in steps:
                    while pieces:
                        yield pieces.pop(0)
            finally:
                steps.close()
        while pieces:
            yield pieces.pop(0)

    def complete(self, expert: Expert | None, prompts: Sequence[str], *, max_new_tokens: int | Sequence[int],
                 on_text: TextCallback | None = None, decoding: DecodingSettings | None = None,
                 top_logprobs: int | None = None,
                 stop_row: Callable[[int], bool] | None = None) -> list[Completion]:
        """Continue rendered prompts (the serving path; same contract as ``LocalBackend.complete``)."""
        limits = ([int(max_new_tokens)] * len(prompts) if isinstance(max_new_tokens, int)
                  else [int(limit) for limit in max_new_tokens])
        if len(limits) != len(prompts):
            raise ValueError("max_new_tokens must be one limit or one per prompt")
        if any(limit < 1 for limit in limits):  # the length check runs after a token is added: 0 would give 1
            raise ValueError(f"max_new_tokens must be at least 1, got {min(limits)}")
        tokenizer = self.experts.tokenizer
        encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts]
        settings = decoding or self.decoding
        stream = RowTextStream(tokenizer, len(prompts), on_text) if on_text is not None else None
        engine = self._engine(expert)
        outputs: list[Completion | None] = [None] * len(prompts)
        rows = [_Row(i, ids, limit, settings.no_repeat_ngram_size, settings.ngram_scope == "all",
                     forbidden=self.forbidden_for(settings, ids))
                for i, (ids, limit) in enumerate(zip(encoded, limits))]
        with self._lock:
            engine.use_adapter(expert if self._shared(engine) else None)
            rng = np.random.default_rng(settings.seed) if settings.do_sample else None  # one for every group
            for group in _groups(rows, engine.context, self.batch_size):
                for row in self._decode_group(engine, group, settings, stream, top_logprobs, stop_row, rng):
                    outputs[row.index] = self._completion(row, top_logprobs)
        return [completion for completion in outputs if completion is not None]

    def _decode_group(self, engine: LlamaEngine, rows: list[_Row], settings: DecodingSettings,
                      stream: RowTextStream | None, top_logprobs: int | None,
                      stop_row: Callable[[int], bool] | None, rng: np.random.Generator | None) -> list[_Row]:
        for _ in self._decode_steps(engine, rows, settings, stream, top_logprobs, stop_row, rng):
            pass
        return rows

    def _decode_steps(self, engine: LlamaEngine, rows: list[_Row], settings: DecodingSettings,
                      stream: RowTextStream | None, top_logprobs: int | None,
                      stop_row: Callable[[int], bool] | None,
                      rng: np.random.Generator | None = None) -> Iterator[None]:
        """Prefill every row as its own sequence, then one decode per step for the live rows.

        Yields after each chosen token set (a generator, so a reader can take the text between
        steps); closing it stops the rows and empties the cache. ``rng`` draws the samples (one
        generator across a call's groups, so no two groups repeat each other's draws).
        """
        if settings.do_sample and rng is None:
            rng = np.random.default_rng(settings.seed)
        word_ban = self.word_ban if settings.no_repeated_word else None
        glue = self.glue_guard if settings.no_glued_words else None
        engine.clear_rows()
        try:
            logits = self._prefill(engine, rows)
            while logits:
                step: list[tuple[int, int, int, bool]] = []
                for slot, scores in logits.items():
                    row = rows[slot]
                    token = choose_token(scores, row, settings, rng, word_ban, glue)
                    if top_logprobs is not None:
                        row.logprobs.append(_top_logprobs(scores, token, top_logprobs))
                    if token in self._ends:
                        row.finish = "stop"
                        if row.logprobs:
                            row.logprobs.pop()
                    else:
                        row.append(token)
                        if stream is not None:
                            stream.push(row.index, token)
                        if len(row.generated) >= row.limit or (stop_row is not None and stop_row(row.index)):
                            row.finish = "length"
                    if row.finish is None:
                        step.append((token, len(row.ids) - 1, slot, True))
                    else:
                        engine.drop(slot)
                yield
                logits = dict(zip((slot for _, _, slot, _ in step), engine.decode(step))) if step else {}
        finally:
            engine.clear_rows()

    def _prefill(self, engine: LlamaEngine, rows: list[_Row]) -> dict[int, np.ndarray]:
        """Each row's prompt as its own sequence; the last position's logits by slot, in order.

        With ``share_prompts`` nothing is computed twice: the prefix the rows' prompts share (all
        of it but the last token for one prompt) becomes the adapter's kept prefix, reusing what an
        earlier call kept (the user's part of every candidate's prompt, a chat's next question),
        each row starts from it, and a prompt that repeats an earlier row's (sampled drafts of one
        prompt) is computed once and shared.
        """
        engine.make_room(sum(len(row.prompt) + row.limit for row in rows))
        first_of: dict[tuple[int, ...], int] = {}
        for slot, row in enumerate(rows):
            first_of.setdefault(tuple(row.prompt), slot)
        start = self.reused_tokens = 0
        if self.share_prompts:
            distinct = [rows[slot].prompt for slot in first_of.values()]
            shared = _common_prefix(distinct)[: min(len(prompt) for prompt in distinct) - 1]
            self.reused_tokens = engine.keep(shared)
            start = len(shared)
        entries = []
        for slot, row in enumerate(rows):
            if first_of[tuple(row.prompt)] == slot or not self.share_prompts:
                if start:
                    engine.start_from_kept(slot, start)
                entries += [(token, position, slot, position == len(row.prompt) - 1)
                            for position, token in enumerate(row.prompt[start:], start=start)]
        computed = dict(zip((slot for *_, slot, last in entries if last), engine.decode(entries)))
        logits = {}
        for slot, row in enumerate(rows):
            if slot not in computed:
                source = first_of[tuple(row.prompt)]
                engine.share(source, slot)
                computed[slot] = computed[source].copy()  # the logit rules change a row's scores in place
            logits[slot] = computed[slot]
        return logits

    def _completion(self, row: _Row, top_logprobs: int | None) -> Completion:
        text = answer_text(self.experts.tokenizer, row.generated)
        return Completion(text=text, token_ids=tuple(row.generated), finish_reason=row.finish or "length",
                          logprobs=tuple(row.logprobs) if top_logprobs is not None else None)

    # ------------------------------------------------------------------ ratings
    def rate(self, expert: Expert, conversations: Sequence[Messages], *,
             response_prefixes: Sequence[str] | None = None) -> list[RatingDistribution]:
        """Distribution over 1..5 after ``[response prefix]Predicted Rating: `` (prefill only)."""
        prefixes = list(response_prefixes) if response_prefixes else [""] * len(conversations)
        if len(prefixes) != len(conversations):
            raise ValueError("response_prefixes must match conversations one to one")
        tokenizer = self.experts.tokenizer
        encoded = [rating_ids(tokenizer, rating_prompt(tokenizer, c, p)) for c, p in zip(conversations, prefixes)]
        rows = [_Row(i, ids, 0, 0) for i, (ids, _) in enumerate(encoded)]
        engine = self._engine(expert)
        results: list[RatingDistribution | None] = [None] * len(rows)
        with self._lock:
            engine.use_adapter(expert if self._shared(engine) else None)
            for group in _groups(rows, engine.context, self.batch_size):
                engine.clear_rows()
                try:
                    for slot, logits in self._prefill(engine, group).items():
                        row = group[slot]
                        digits = encoded[row.index][1]
                        results[row.index] = RatingDistribution.from_logits(logits[digits].tolist())
                finally:
                    engine.clear_rows()
        return [result for result in results if result is not None]

    # ------------------------------------------------------------------ helpers
    def _engine(self, expert: Expert | None) -> LlamaEngine:
        if expert is not None and expert not in self.experts.cards:
            from ..model.adapters import AdapterError

            raise AdapterError(f"no {expert!r} adapter loaded (have: {', '.join(self.experts.names)})")
        engine = self._engines.get(expert) or self._engines.get(None)
        if engine is None:
            raise EngineError(f"no engine holds the {expert!r} expert")
        return engine

    def _shared(self, engine: LlamaEngine) -> bool:
        """True when ``engine`` is the base with switchable adapters (LoRA mode)."""
        return self._engines.get(None) is engine


def common_length(first: Sequence[int], second: Sequence[int]) -> int:
    """How many leading tokens two sequences share."""
    length = 0
    for a, b in zip(first, second):
        if a != b:
            break
        length += 1
    return length


def _common_prefix(prompts: Sequence[Sequence[int]]) -> list[int]:
    """The tokens every prompt starts with."""
    first = list(prompts[0])
    return first[: min((common_length(first, other) for other in prompts[1:]), default=len(first))]


def _groups(rows: list[_Row], context: int, batch_size: int) -> Iterator[list[_Row]]:
    """Consecutive rows that fit the shared KV cache together (prompt + new tokens each)."""
    group: list[_Row] = []
    used = 0
    for row in rows:
        need = len(row.prompt) + row.limit
        if need > context:
            raise EngineError(f"a prompt of {len(row.prompt)} tokens plus {row.limit} new ones does not fit "
                              f"the engine's context of {context} tokens (raise engine.context)")
        if not row.prompt:
            raise EngineError("cannot continue an empty prompt")
        if group and (used + need > context or len(group) >= batch_size):
            yield group
            group, used = [], 0
        group.append(row)
        used += need
    if group:
        yield group


# ---------------------------------------------------------------------------------- opening
def open_llamacpp_backend(config: Any, adapters: Mapping[Expert, Path], *, batch_size: int = 8,
                          status: Callable[[str], None] | None = None,
                          rebuild: bool = False) -> LlamaCppBackend:
    """The configured base and ``adapters`` on llama.cpp, exporting what is missing first.

    Raises:
        EngineError: llama-cpp-python is missing or cannot load the files.
        ExportError: the base is not a Llama checkpoint, or the export folder is not ours.
        AdapterError: an adapter does not fit the base or the prompts.
    """
    from ..model.adapters import check_adapter_fits, folder_fingerprint
    from ..model.base_model import resolve_model_path
    from .engine_files import ensure_engine_files

    problem = engine_available()
    if problem is not None:
        raise EngineError(problem)
    settings = config.engine
    model_dir = Path(resolve_model_path(config.base_model, config.home, status))
    if not (model_dir / "config.json").is_file():
        raise EngineError(f"the compiled engine needs a local model folder; {model_dir} is not one")
    fingerprint = folder_fingerprint(model_dir)
    name = config.base_model.name_or_path
    cards = {expert: check_adapter_fits(Path(folder), expert, name, fingerprint)
             for expert, folder in adapters.items()}
    quant = engine_quant(settings.quant)
    files = ensure_engine_files(config.home, model_dir, adapters, quant, settings.mode,
                                rebuild=rebuild, status=status)
    tokenizer = engine_tokenizer(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    sizes = {"context": settings.context, "max_sequences": batch_size, "threads": settings.threads}
    if files.mode == "lora":
        assert files.base is not None
        shared = LlamaEngine(files.base, files.loras, **sizes)
        engines: dict[str | None, LlamaEngine] = {None: shared}
        file = files.base
    else:
        engines = {expert: LlamaEngine(path, **sizes) for expert, path in files.merged.items()}
        file = next(iter(files.merged.values()))
    threads = next(iter(engines.values())).threads
    base = EngineBase(name, str(model_dir), file, quant, settings.mode, threads)
    from ..model.adapters import adapter_version
    from ..shipping import learnt_vocabulary

    versions = {expert: adapter_version(Path(folder)) for expert, folder in adapters.items()}
    return LlamaCppBackend(EngineExperts(base, tokenizer, cards, versions), engines, batch_size=batch_size,
                           vocabulary=learnt_vocabulary(adapters))


def engine_tokenizer(model_dir: Path) -> Any:
    """The folder's tokenizer, without torch: ``PreTrainedTokenizerFast`` reads ``tokenizer.json``
    and ``tokenizer_config.json`` directly, where ``AutoTokenizer`` first resolves the model's
    config classes, which import torch (seconds of every fresh process). Same ids, text and chat
    template (tests compare both on real prompts); a folder without ``tokenizer.json`` goes the
    ``AutoTokenizer`` way."""
    if (Path(model_dir) / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(str(model_dir), local_files_only=True)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)

"""The OpenAI-compatible server in this process (tiny model): API surface, batching, security.

The app runs under a real uvicorn on a free loopback port in a thread and is called with the
official ``openai`` client (and raw httpx where a client would refuse to send the request).
Subprocess tests (remote backend end to end, graceful shutdown) are in test_serving_end_to_end.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import openai
import pytest

from reason4rec.experts.prompts import (
    HistoryEntry,
    TargetContext,
    predictor_messages,
    reasoner_messages,
    render_chat,
    summarizer_messages,
)

KEY = "test-key-0123456789"
SUMMARY = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tube amps"


def _ctx(title: str) -> TargetContext:
    entry = HistoryEntry("Amp", 4, SUMMARY)
    return TargetContext("Musical Instruments", title, (entry,), (entry, entry), 4.0, 3.5, 1, 2)


class RunningApp:
    """A FastAPI app under uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def client(self, key: str | None = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key or "none", max_retries=0, timeout=60)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def limits():
    from reason4rec.config import ServeConfig

    return ServeConfig(max_tokens=64, max_prompt_tokens=400, max_request_bytes=20_000, batch_size=4,
                       batch_wait_ms=30)


@pytest.fixture(scope="module")
def served(tiny_backend, limits):
    from reason4rec.serving import create_app

    running = RunningApp(create_app(tiny_backend, limits, api_key=KEY))
    yield running
    running.close()


@pytest.fixture
def client(served) -> openai.OpenAI:
    return served.client()


def _raw(served, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    return httpx.request(method, served.url + path, headers=headers, timeout=60, **kwargs)


def _assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in response.text
    if code is not None:
        assert error["code"] == code
    return error


# --------------------------------------------------------------------------- API surface


def test_models_lists_every_adapter_with_its_version(client, tiny_backend):
    models = client.models.list().data
    assert [m.id for m in models] == list(tiny_backend.experts.names)
    assert {m.id: m.root for m in models} == {n: tiny_backend.version(n) for n in tiny_backend.experts.names}
    assert client.models.retrieve("reasoner").id == "reasoner"


def test_chat_completion_is_the_local_backends_answer(client, tiny_backend):
    messages = reasoner_messages(_ctx("Pedal"))
    response = client.chat.completions.create(model="reasoner", messages=messages, max_tokens=12, temperature=0)
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip() == tiny_backend.generate("reasoner", [messages], max_new_tokens=12)[0]
    prompt_tokens = len(tiny_backend.experts.tokenizer(render_chat(tiny_backend.experts.tokenizer, messages),
                                                       add_special_tokens=False)["input_ids"])
    assert response.usage.prompt_tokens == prompt_tokens
    assert response.usage.completion_tokens == 12 and choice.finish_reason == "length"
    assert response.model == "reasoner" and response.object == "chat.completion"


def test_streaming_sends_the_same_text_in_openai_chunks(client, tiny_backend):
    messages = reasoner_messages(_ctx("Strings"))
    stream = client.chat.completions.create(model="reasoner", messages=messages, max_tokens=12, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1
    assert "".join(pieces) == "".join(tiny_backend.stream("reasoner", messages, max_new_tokens=12))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 12 and not chunks[-1].choices
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_sse_wire_format_ends_with_done(served):
    body = {"model": "summarizer", "messages": summarizer_messages("Music", "Tuner", 5, "Works well."),
            "max_tokens": 4, "stream": True}
    with httpx.stream("POST", served.url + "/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {KEY}"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] in {"stop", "length"}


def test_logprobs_are_the_raw_log_softmax_of_the_models_logits(client, tiny_backend):
    import torch

    messages = predictor_messages(_ctx("Pedal"), "fits their tone")
    response = client.chat.completions.create(model="predictor", messages=messages, max_tokens=3,
                                              logprobs=True, top_logprobs=5)
    positions = response.choices[0].logprobs.content
    assert len(positions) == response.usage.completion_tokens and all(len(p.top_logprobs) == 5 for p in positions)
    tokenizer = tiny_backend.experts.tokenizer
    ids = tokenizer(render_chat(tokenizer, messages), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode(), tiny_backend.experts.use("predictor") as model:
        expected = torch.log_softmax(model(**ids).logits[0, -1].float(), dim=-1)
    values, indices = expected.topk(5)
    first = positions[0]
    assert [alt.token for alt in first.top_logprobs] == [tokenizer.decode([i]) for i in indices.tolist()]
    assert [alt.logprob for alt in first.top_logprobs] == pytest.approx(values.tolist(), abs=1e-4)
    chosen = tokenizer(first.token, add_special_tokens=False)["input_ids"]
    assert first.logprob == pytest.approx(expected[chosen[0]].item(), abs=1e-4)
    assert first.bytes == list(first.token.encode())


def test_continue_final_message_continues_the_open_assistant_turn(client, tiny_backend):
    messages = predictor_messages(_ctx("Pedal"), None)
    opened = [*messages, {"role": "assistant", "content": "Predicted Rating:"}]
    response = client.chat.completions.create(
        model="predictor", messages=opened, max_tokens=4,
        extra_body={"continue_final_message": True, "add_generation_prompt": False})
    tokenizer = tiny_backend.experts.tokenizer
    [local] = tiny_backend.complete("predictor", [render_chat(tokenizer, messages) + "Predicted Rating:"],
                                    max_new_tokens=4)
    assert response.choices[0].message.content == local.text
    with pytest.raises(openai.BadRequestError, match="cannot both be true"):
        client.chat.completions.create(model="predictor", messages=opened, max_tokens=4,
                                       extra_body={"continue_final_message": True})


def test_legacy_completions_plain_batched_and_streamed(client, tiny_backend):
    prompts = ["The tuner works", "These strings sound"]
    response = client.completions.create(model="summarizer", prompt=prompts, max_tokens=6, logprobs=2)
    local = tiny_backend.complete("summarizer", prompts, max_new_tokens=6, top_logprobs=2)
    assert [c.text for c in response.choices] == [c.text for c in local]
    assert [c.index for c in response.choices] == [0, 1]
    first = response.choices[0].logprobs
    assert first.token_logprobs == pytest.approx([t.logprob for t in local[0].logprobs], abs=1e-4)
    assert all(len(top) <= 2 for top in first.top_logprobs) and first.text_offset[0] == 0
    streamed = client.completions.create(model="summarizer", prompt=prompts[0], max_tokens=6, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == local[0].text


def test_sampling_temperature_is_honoured_and_greedy_is_the_default(client):
    messages = reasoner_messages(_ctx("Pedal"))
    greedy = {client.chat.completions.create(model="reasoner", messages=messages, max_tokens=10)
              .choices[0].message.content for _ in range(2)}
    sampled = {client.chat.completions.create(model="reasoner", messages=messages, max_tokens=10,
                                              temperature=2.0).choices[0].message.content for _ in range(3)}
    assert len(greedy) == 1 and len(sampled) > 1


def test_a_seed_makes_sampling_repeatable(client):
    messages = reasoner_messages(_ctx("Pedal"))
    drawn = [client.chat.completions.create(model="reasoner", messages=messages, max_tokens=10, temperature=1.5,
                                            seed=seed).choices[0].message.content for seed in (7, 7, 8, 9)]
    assert drawn[0] == drawn[1] and len(set(drawn)) > 1


def test_a_served_summarizer_decodes_as_the_local_one(client, tiny_backend):
    # its own guards (no n-gram ban over the prompt's template, no doubled word), not the default ones
    messages = summarizer_messages("Music", "Tuner", 5, "Works well, holds pitch, bright display.")
    served = client.chat.completions.create(model="summarizer", messages=messages, max_tokens=24)
    assert served.choices[0].message.content.strip() == tiny_backend.generate("summarizer", [messages],
                                                                              max_new_tokens=24)[0]


def test_health_needs_no_key(served):
    response = httpx.get(served.url + "/health", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"


# --------------------------------------------------------------------------- batching


def test_concurrent_requests_for_two_adapters_equal_one_at_a_time(served, tiny_backend):
    client = served.client()
    titles = ["Pedal", "Strings", "A much longer item title here", "Tuner", "Capo", "Picks"]
    requests = [("reasoner", reasoner_messages(_ctx(t))) for t in titles]
    requests += [("summarizer", summarizer_messages("Music", t, 4, f"The {t} is fine, a bit loud.")) for t in titles]

    def ask(request):
        model, messages = request
        return client.chat.completions.create(model=model, messages=messages, max_tokens=10).choices[0].message.content

    one_at_a_time = [ask(r) for r in requests]
    batcher = served.app.state.batcher
    batches_before, jobs_before = batcher.batches, batcher.batched_jobs
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        together = list(pool.map(ask, requests))
    assert together == one_at_a_time
    batches, jobs = batcher.batches - batches_before, batcher.batched_jobs - jobs_before
    assert jobs == len(requests) and batches < len(requests)  # some requests shared a generation


def test_the_batcher_never_mixes_adapters_and_respects_the_batch_size():
    from reason4rec.experts.backend import Completion, DecodingSettings
    from reason4rec.serving.batcher import Job, MicroBatcher

    class Recorder:
        decoding = DecodingSettings()

        def __init__(self):
            self.calls, self.release, self.holding = [], threading.Event(), threading.Event()
            self.tokenizer = lambda text, **_: {"input_ids": text.split()}

        def complete(self, expert, prompts, **kwargs):
            self.holding.set()
            self.release.wait(10)  # hold the first batch so the others queue up
            self.calls.append((expert, list(prompts), list(kwargs["max_new_tokens"])))
            return [Completion(f"{expert}:{p}", (1,), "length") for p in prompts]

    backend = Recorder()
    batcher = MicroBatcher(backend, batch_size=3, wait_ms=0, max_queue=20)
    jobs = [Job("reasoner" if i % 2 else "summarizer", f"p{i}", 4 + i, DecodingSettings()) for i in range(10)]
    futures = [batcher.submit(job) for job in jobs]
    assert backend.holding.wait(10)  # the worker holds a batch; the rest are queued behind it
    backend.release.set()
    results = [f.result(10).completion.text for f in futures]
    batcher.close(10)
    assert results == [f"{job.expert}:{job.prompt}" for job in jobs]
    assert sum(len(prompts) for _, prompts, _ in backend.calls) == 10
    for expert, prompts, limits in backend.calls:
        assert 1 <= len(prompts) <= 3
        assert {("reasoner" if int(p[1:]) % 2 else "summarizer") for p in prompts} == {expert}
        assert limits == [4 + int(p[1:]) for p in prompts]  # each row keeps its own token limit


def test_a_prompt_of_no_tokens_fails_alone_and_its_batch_runs():
    from reason4rec.experts.backend import Completion, DecodingSettings
    from reason4rec.serving.batcher import Job, MicroBatcher
    from reason4rec.serving.errors import ApiError

    class Strict:  # as llama.cpp: an empty prompt fails the whole call
        decoding = DecodingSettings()
        tokenizer = staticmethod(lambda text, **_: {"input_ids": text.split()})

        def complete(self, expert, prompts, **kwargs):
            if not all(p.split() for p in prompts):
                raise RuntimeError("cannot continue an empty prompt")
            return [Completion(f"after {p}", (1,), "length") for p in prompts]

    batcher = MicroBatcher(Strict(), batch_size=3, wait_ms=50)
    futures = [batcher.submit(Job("reasoner", prompt, 4, DecodingSettings(), prompt_param="prompt"))
               for prompt in ("warm tone", "   ", "quiet hum")]
    assert [futures[i].result(10).completion.text for i in (0, 2)] == ["after warm tone", "after quiet hum"]
    with pytest.raises(ApiError) as refused:
        futures[1].result(10)
    batcher.close(10)
    assert (refused.value.status, refused.value.param) == (400, "prompt")


def test_an_unforeseen_engine_failure_fails_only_its_request_and_a_streamed_one_is_not_repeated():
    from reason4rec.experts.backend import Completion, DecodingSettings
    from reason4rec.serving.batcher import Job, MicroBatcher
    from reason4rec.serving.errors import ApiError

    calls: list[list[str]] = []

    class Fragile:  # one prompt breaks the engine in a way no check before generation foresees
        decoding = DecodingSettings()
        tokenizer = staticmethod(lambda text, **_: {"input_ids": text.split()})

        def complete(self, expert, prompts, on_text=None, **kwargs):
            calls.append(list(prompts))
            if on_text is not None:
                for row, _ in enumerate(prompts):
                    on_text(row, "after")
            if "poison" in prompts:
                raise RuntimeError("llama_decode returned -1")
            return [Completion(f"after {p}", (1,), "length") for p in prompts]

    batcher = MicroBatcher(Fragile(), batch_size=3, wait_ms=50)
    futures = [batcher.submit(Job("reasoner", prompt, 4, DecodingSettings()))
               for prompt in ("warm tone", "poison", "quiet hum")]
    assert [futures[i].result(10).completion.text for i in (0, 2)] == ["after warm tone", "after quiet hum"]
    with pytest.raises(ApiError) as failed:
        futures[1].result(10)
    assert failed.value.status == 500
    assert calls == [["warm tone", "poison", "quiet hum"], ["warm tone"], ["poison"], ["quiet hum"]]
    pieces: list[str] = []
    calls.clear()
    streamed = [batcher.submit(Job("reasoner", prompt, 4, DecodingSettings(), on_text=pieces.append))
                for prompt in ("warm tone", "poison")]
    for future in streamed:  # both had text on the wire when the batch failed: a retry would repeat it
        with pytest.raises(ApiError):
            future.result(10)
    batcher.close(10)
    assert calls == [["warm tone", "poison"]] and pieces == ["after", "after"]


def test_a_request_past_the_engines_context_fails_alone_and_its_batch_runs():
    from reason4rec.experts.backend import Completion, DecodingSettings
    from reason4rec.serving.batcher import Job, MicroBatcher
    from reason4rec.serving.errors import ApiError

    class Small:  # as llama.cpp: a row past the KV cache fails the whole call
        decoding = DecodingSettings()
        tokenizer = staticmethod(lambda text, **_: {"input_ids": text.split()})

        def context_tokens(self, expert):
            return 12

        def complete(self, expert, prompts, max_new_tokens, **kwargs):
            if any(len(p.split()) + n > 12 for p, n in zip(prompts, max_new_tokens)):
                raise RuntimeError("does not fit the engine's context")
            return [Completion(f"after {p}", (1,), "length") for p in prompts]

    batcher = MicroBatcher(Small(), batch_size=3, wait_ms=50)
    futures = [batcher.submit(Job("reasoner", prompt, limit, DecodingSettings()))
               for prompt, limit in (("warm tone", 4), ("a b c d e", 8), ("quiet hum", 4))]
    assert [futures[i].result(10).completion.text for i in (0, 2)] == ["after warm tone", "after quiet hum"]
    with pytest.raises(ApiError) as refused:
        futures[1].result(10)
    batcher.close(10)
    assert (refused.value.status, refused.value.param, refused.value.code) == (
        400, "max_tokens", "context_length_exceeded")


def test_a_served_summarizer_ends_after_its_third_line_as_the_local_one_does():
    from types import SimpleNamespace

    from fakes import FakeCompletions

    from reason4rec.config import ServeConfig
    from reason4rec.serving.app import _Served
    from reason4rec.serving.batcher import MicroBatcher

    rambling = ("Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes\n"
                "Positive Aspects: none none none none none none none none none none none")
    model = FakeCompletions(rambling)
    model.tokenizer = lambda text, **_: {"input_ids": text.split()}
    served = _Served(model, ServeConfig())
    body = SimpleNamespace(stop=None, temperature=None, repetition_penalty=None, seed=None)
    chat, raw = (served.job("summarizer", "p", body, 60, None, prompt_param=param) for param in ("messages", "prompt"))
    reasoner = served.job("reasoner", "p", body, 60, None)
    assert (chat.answer_lines, raw.answer_lines, reasoner.answer_lines) == (3, None, None)
    batcher = MicroBatcher(model, batch_size=4, wait_ms=0)
    try:
        pieces: list[str] = []
        chat.on_text = pieces.append
        [cut, whole, reasoned] = [batcher.submit(job).result(10).completion for job in (chat, raw, reasoner)]
    finally:
        batcher.close(10)
    assert cut.text == "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes"
    assert cut.finish_reason == "stop" and "".join(pieces).startswith(cut.text)
    assert len("".join(pieces)) < len(rambling) - 40  # it stopped generating, not only cut the text
    assert whole.text == reasoned.text == rambling  # a raw completion and the Reasoner are not cut
    assert model.generate("summarizer", [[{"role": "user", "content": "p"}]]) == [cut.text]


def test_a_full_queue_answers_503_and_a_closed_batcher_refuses():
    from reason4rec.experts.backend import DecodingSettings
    from reason4rec.serving.batcher import Job, MicroBatcher
    from reason4rec.serving.errors import ApiError

    release, holding = threading.Event(), threading.Event()

    class Blocking:
        decoding = DecodingSettings()
        tokenizer = staticmethod(lambda text, **_: {"input_ids": [1]})

        def complete(self, expert, prompts, **kwargs):
            holding.set()
            release.wait(10)
            raise RuntimeError("boom: a secret detail")

    batcher = MicroBatcher(Blocking(), batch_size=1, wait_ms=0, max_queue=1)
    first = batcher.submit(Job("reasoner", "a", 4, DecodingSettings()))
    assert holding.wait(10)  # the worker holds the first job; the queue is empty again
    batcher.submit(Job("reasoner", "b", 4, DecodingSettings()))
    with pytest.raises(ApiError) as full:
        batcher.submit(Job("reasoner", "c", 4, DecodingSettings()))
    assert full.value.status == 503
    release.set()
    with pytest.raises(ApiError) as failed:
        first.result(10)
    assert failed.value.status == 500 and "secret" not in failed.value.message
    batcher.close(10)
    with pytest.raises(ApiError, match="shutting down"):
        batcher.submit(Job("reasoner", "d", 4, DecodingSettings()))


# --------------------------------------------------------------------------- security


def test_missing_or_wrong_key_is_refused_in_openai_format(served):
    for key in (None, "wrong-key", KEY + "x"):
        with pytest.raises(openai.AuthenticationError):
            served.client(key).models.list()
    bare = httpx.get(served.url + "/v1/models", timeout=10)
    error = _assert_openai_error(bare, 401, "invalid_api_key")
    assert error["type"] == "authentication_error" and bare.headers["www-authenticate"] == "Bearer"
    basic = httpx.get(served.url + "/v1/models", headers={"Authorization": f"Basic {KEY}"}, timeout=10)
    _assert_openai_error(basic, 401)
    # refused before the body is read: an unauthenticated huge body is a 401, not a 413
    _assert_openai_error(httpx.post(served.url + "/v1/completions", content=b"x" * 50_000, timeout=10), 401)


def test_bind_rules_and_constant_time_comparison(monkeypatch):
    import hmac

    from reason4rec.errors import Reason4RecError
    from reason4rec.serving import ServeError
    from reason4rec.serving.security import bearer_matches, check_bind, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.com")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "a-key")
    with pytest.raises(ServeError, match="--api-key") as refused:
        check_bind("0.0.0.0", None)
    assert isinstance(refused.value, Reason4RecError)
    with pytest.raises(ServeError, match="empty"):
        check_bind("127.0.0.1", "  ")
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert bearer_matches("Bearer k1", "k1") and bearer_matches("bearer  k1", "k1")
    assert not bearer_matches("Bearer k2", "k1") and not bearer_matches("k1", "k1")
    assert len(compared) == 4


# --------------------------------------------------------------------------- errors


def test_unknown_model_is_a_404_like_openai(client, served):
    with pytest.raises(openai.NotFoundError) as found:
        client.chat.completions.create(model="critic", messages=[{"role": "user", "content": "hi"}])
    assert found.value.code == "model_not_found" and "reasoner" in found.value.message
    _assert_openai_error(_raw(served, "GET", "/v1/models/critic"), 404, "model_not_found")
    _assert_openai_error(_raw(served, "GET", "/v1/nothing-here"), 404)


def test_malformed_json_and_bad_fields_are_400(served):
    _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", content=b'{"model": "reasoner", ',
                              headers={"content-type": "application/json"}), 400, "invalid_json")
    bad = [{"model": "reasoner"},  # no messages
           {"model": "reasoner", "messages": []},
           {"model": "reasoner", "messages": [{"role": "wizard", "content": "hi"}]},
           {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "temperature": 5},
           {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "n": 2},
           {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 21,
            "logprobs": True}]
    for body in bad:
        error = _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", json=body), 400)
        assert error["type"] == "invalid_request_error"
    error = _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", json=bad[3]), 400)
    assert error["param"] == "temperature"


def test_token_limits_are_enforced(client, limits):
    too_long = [{"role": "user", "content": "tone " * 2000}]
    for stream in (False, True):  # a streamed request still gets a plain JSON error before any event
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="reasoner", messages=too_long, max_tokens=4, stream=stream)
        assert refused.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="reasoner", messages=[{"role": "user", "content": "hi"}],
                                       max_tokens=limits.max_tokens + 1)
    assert refused.value.code == "max_tokens_too_large" and refused.value.param == "max_tokens"


def test_errors_name_the_field_at_fault_and_null_content_is_refused(served):
    too_long = {"model": "reasoner", "prompt": "tone " * 2000, "max_tokens": 4}
    error = _assert_openai_error(_raw(served, "POST", "/v1/completions", json=too_long), 400, "context_length_exceeded")
    assert error["param"] == "prompt"  # not "messages": this endpoint has none
    nan = b'{"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'
    error = _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", content=nan,
                                      headers={"content-type": "application/json"}), 400)
    assert error["param"] == "temperature" and "finite" in error["message"]
    for message in ({"role": "user", "content": None}, {"role": "user"}):
        body = {"model": "reasoner", "messages": [message], "max_tokens": 2}
        error = _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", json=body), 400)
        assert error["param"].startswith("messages.0.content")
    for prompt in ("", [], ["tone", ""]):  # an engine cannot continue nothing: the caller's error, not the batch's
        error = _assert_openai_error(_raw(served, "POST", "/v1/completions",
                                          json={"model": "reasoner", "prompt": prompt, "max_tokens": 2}), 400)
        assert error["param"].startswith("prompt")
    for seed in (-1, 2**64):  # numpy refuses negative seeds, torch those of 2^64 and up
        body = {"model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7,
                "seed": seed, "max_tokens": 2}
        error = _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", json=body), 400)
        assert error["param"] == "seed"


def test_a_body_over_the_limit_is_a_413(served, limits):
    body = {"model": "reasoner", "messages": [{"role": "user", "content": "x" * limits.max_request_bytes}]}
    _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", json=body), 413, "request_too_large")

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b"x" * 1000

    _assert_openai_error(_raw(served, "POST", "/v1/chat/completions", content=chunked()), 413)


def test_internal_errors_are_logged_not_shown(tiny_backend, caplog):
    from reason4rec.serving import create_app

    class Broken:
        """The tiny backend, except that everything past the routing fails."""

        names, tokenizer, base_name = tiny_backend.names, tiny_backend.tokenizer, tiny_backend.base_name
        decoding = tiny_backend.decoding

        def version(self, name):
            raise RuntimeError("secret detail in /home/user/model")

        def complete(self, *args, **kwargs):
            raise RuntimeError("secret detail in /home/user/model")

    running = RunningApp(create_app(Broken()))
    try:
        with caplog.at_level("ERROR", logger="reason4rec.serving"):
            listed = httpx.get(running.url + "/v1/models", timeout=30)
            generated = httpx.post(running.url + "/v1/chat/completions", timeout=30, json={
                "model": "reasoner", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        for response in (listed, generated):
            error = _assert_openai_error(response, 500, "internal_error")
            assert "secret" not in response.text and error["type"] == "server_error"
        assert "secret detail" in caplog.text  # the server's log keeps the cause
    finally:
        running.close()


def test_an_answer_begun_is_continued_the_same_remotely_and_locally(served, tiny_backend):
    """The verdict rule's opening (an assistant message last) through the server: the remote
    backend sends vLLM's continue_final_message and returns, and streams, the whole answer as the
    local backend does; a plain request renders that message closed, as vLLM does."""
    from reason4rec.experts import NEGATIVE_OPENING
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings
    from reason4rec.serving.prompts import render_messages

    opened = reasoner_messages(replace(_ctx("Pedal"), verdict_from_ratings=True))
    remote = RemoteBackend(RemoteSettings(base_url=served.url + "/v1", api_key=KEY, max_retries=0))
    [local] = tiny_backend.generate("reasoner", [opened], max_new_tokens=12)
    [answer] = remote.generate("reasoner", [opened], max_new_tokens=12)
    assert answer.startswith(NEGATIVE_OPENING) and answer == local
    assert "".join(remote.stream("reasoner", opened, max_new_tokens=12)).strip() == local
    tokenizer = tiny_backend.experts.tokenizer
    closed = render_messages(tokenizer, opened)
    assert closed.endswith("<|im_start|>assistant\n") and f"{NEGATIVE_OPENING}<|im_end|>" in closed

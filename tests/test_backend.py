import pytest

from reason4rec.experts.prompts import HistoryEntry, TargetContext, predictor_messages, reasoner_messages

SUMMARY = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tube amps"


def _ctx(title):
    entry = HistoryEntry("Amp", 4, SUMMARY)
    return TargetContext("Musical Instruments", title, (entry,), (entry, entry), 4.0, 3.5, 1, 2)


def test_batched_generation_matches_one_by_one(any_local_backend):
    prompts = [reasoner_messages(_ctx("Pedal")), reasoner_messages(_ctx("A much longer item title here"))]
    batched = any_local_backend.generate("reasoner", prompts, max_new_tokens=12)
    single = [any_local_backend.generate("reasoner", [p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single and all(batched)


def test_streaming_yields_the_same_text_piece_by_piece(any_local_backend):
    prompt = reasoner_messages(_ctx("Pedal"))
    pieces = list(any_local_backend.stream("reasoner", prompt, max_new_tokens=12))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == any_local_backend.generate("reasoner", [prompt], max_new_tokens=12)[0]


def test_callback_streaming_reports_each_row(any_local_backend):
    seen = {}
    prompts = [reasoner_messages(_ctx("Pedal")), reasoner_messages(_ctx("Strings"))]
    out = any_local_backend.generate("reasoner", prompts, max_new_tokens=8,
                                on_text=lambda row, piece: seen.setdefault(row, []).append(piece))
    assert set(seen) == {0, 1}
    assert ["".join(seen[i]).strip() for i in (0, 1)] == out


def test_rating_is_a_distribution_and_batching_does_not_change_it(any_local_backend):
    prompts = [predictor_messages(_ctx("Pedal"), "fits their tone"),
               predictor_messages(_ctx("Strings with a long title"), None)]
    batched = any_local_backend.rate("predictor", prompts)
    single = [any_local_backend.rate("predictor", [p])[0] for p in prompts]
    for a, b in zip(batched, single):
        assert sum(a.probabilities) == pytest.approx(1.0)
        assert 1.0 <= a.expected <= 5.0
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_backend_interface_is_shared(any_local_backend):
    from reason4rec.experts.backend import Backend
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    assert isinstance(any_local_backend, Backend)
    assert isinstance(RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:9/v1")), Backend)


def test_remote_backend_reads_the_star_distribution_from_logprobs(openai_server):
    import math

    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    tokens = [("Predicted", -0.1, {}), (" Rating", -0.1, {}), (":", -0.1, {}),
              (" 4", math.log(0.6), {" 4": math.log(0.6), " 5": math.log(0.3), " 3": math.log(0.1)})]
    content = [{"token": t, "logprob": lp, "bytes": None,
                "top_logprobs": [{"token": k, "logprob": v, "bytes": None} for k, v in top.items()]}
               for t, lp, top in tokens]
    openai_server.replies = [{
        "id": "x", "object": "chat.completion", "created": 0, "model": "predictor",
        "choices": [{"index": 0, "finish_reason": "length", "logprobs": {"content": content},
                     "message": {"role": "assistant", "content": "Predicted Rating: 4"}}]}]
    backend = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k",
                                           model_names={"predictor": "r4r-predictor"}))
    [dist] = backend.rate("predictor", [predictor_messages(_ctx("Pedal"), "fits")])
    assert dist.expected == pytest.approx(0.1 * 3 + 0.6 * 4 + 0.3 * 5)
    request = openai_server.requests[0]
    assert request["model"] == "r4r-predictor" and request["logprobs"] is True


def test_a_lone_space_before_the_star_is_skipped():
    """SmolLM2 writes ``Rating: 2`` as ``:`` ``Ġ`` ``2``: a bare "5" among the space's alternatives
    (the unlikely ``Rating:5``) must not stand for the star, which is the next position's."""
    import math
    from types import SimpleNamespace as Ns

    from reason4rec.experts.engines.remote import distribution_from_choice

    def position(token, logprob, top):
        return Ns(token=token, logprob=logprob, top_logprobs=[Ns(token=k, logprob=v) for k, v in top.items()])

    stars = {"2": math.log(0.7), "1": math.log(0.2), "3": math.log(0.1)}
    choice = Ns(logprobs=Ns(content=[position(" ", -0.001, {" ": -0.001, "5": -9.0}),
                                     position("2", math.log(0.7), stars)]))
    dist = distribution_from_choice(choice)
    assert dist.most_likely == 2 and dist.expected == pytest.approx(0.2 * 1 + 0.7 * 2 + 0.1 * 3)
    only_space = Ns(logprobs=Ns(content=[position(" ", -0.001, {" ": -0.001, "4": -2.0})]))
    assert distribution_from_choice(only_space).most_likely == 4  # the last position is read, space or not


@pytest.mark.parametrize("choices", [[], None])
def test_a_reply_without_choices_is_a_remote_error(openai_server, choices):
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteBackendError, RemoteSettings

    reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": choices}
    openai_server.replies = [reply, reply]
    backend = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k", concurrency=1))
    with pytest.raises(RemoteBackendError, match="no choices"):
        backend.generate("reasoner", [reasoner_messages(_ctx("Pedal"))])
    with pytest.raises(RemoteBackendError, match="no choices"):
        backend.rate("predictor", [predictor_messages(_ctx("Pedal"), "fits")])


def test_remote_backend_samples_one_seeded_request_per_draft(openai_server):
    from reason4rec.experts.backend import SamplingBackend
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    openai_server.replies = [" Warm. ", "Bright.", "Quiet."]
    backend = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k", concurrency=1))
    assert isinstance(backend, SamplingBackend)
    assert backend.sample("reasoner", [reasoner_messages(_ctx("Pedal"))], count=3, temperature=0.7,
                          seed=40) == [["Warm.", "Bright.", "Quiet."]]
    assert [(r["temperature"], r["seed"]) for r in openai_server.requests] == [(0.7, 40), (0.7, 41), (0.7, 42)]
    with pytest.raises(ValueError, match="above 0"):
        backend.sample("reasoner", [reasoner_messages(_ctx("Pedal"))], count=2, temperature=0.0)


def test_remote_drafts_report_each_draft_and_a_raising_callback_sends_no_more(openai_server):
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    class Stop(Exception):
        pass

    def stop_after_first(row: int, text: str) -> None:
        seen.append((row, text))
        raise Stop

    seen: list[tuple[int, str]] = []
    openai_server.replies = ["Warm.", "Bright.", "Quiet.", "Loud."]
    backend = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k", concurrency=1))
    with pytest.raises(Stop):
        backend.sample("reasoner", [reasoner_messages(_ctx("Pedal")), reasoner_messages(_ctx("Amp"))], count=2,
                       temperature=0.7, seed=1, on_text=stop_after_first)
    assert seen == [(0, "Warm.")] and len(openai_server.requests) == 1  # the rest were never sent
    openai_server.requests.clear()
    rows: list[tuple[int, str]] = []
    openai_server.replies = ["Warm.", "Bright.", "Quiet.", "Loud."]
    drawn = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k", concurrency=1)).sample(
        "reasoner", [reasoner_messages(_ctx("Pedal")), reasoner_messages(_ctx("Amp"))], count=2, temperature=0.7,
        on_text=lambda row, text: rows.append((row, text)))
    assert drawn == [["Warm.", "Bright."], ["Quiet.", "Loud."]]
    assert rows == [(0, "Warm."), (1, "Bright."), (2, "Quiet."), (3, "Loud.")]


def test_concurrent_remote_calls_stop_sending_once_one_fails():
    import time

    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    started: list[int] = []

    def call(item: int) -> int:
        if item == 0:
            time.sleep(0.05)
            raise ConnectionError("refused")
        started.append(item)
        time.sleep(0.3)
        return item

    backend = RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:9/v1", concurrency=2))
    with pytest.raises(ConnectionError):
        backend._map(call, list(range(12)))
    assert len(started) <= 3  # the one beside the failure (and one a free worker took meanwhile), not 11


def test_remote_backend_failure_is_reported(openai_server):
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteBackendError, RemoteSettings

    openai_server.replies = [500, 500]
    backend = RemoteBackend(RemoteSettings(base_url=openai_server.base_url, api_key="k", max_retries=1))
    with pytest.raises(RemoteBackendError, match="'reasoner'"):
        backend.generate("reasoner", [reasoner_messages(_ctx("Pedal"))])


def test_an_answer_cut_inside_a_character_ends_where_its_stream_ended(tiny_model_dir):
    """A token limit can fall inside a multi-byte character: the returned text must not end in
    replacement characters the stream never showed (a served answer would then differ from a local one)."""
    from transformers import AutoTokenizer

    from reason4rec.experts.backend import RowTextStream, answer_text

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokens = tokenizer("Great tone 🎸 but the clip broke ☹ naïve", add_special_tokens=False)["input_ids"]
    cut_inside = 0
    for limit in range(len(tokens) + 1):
        streamed: list[str] = []
        stream = RowTextStream(tokenizer, 1, lambda _row, piece, sink=streamed: sink.append(piece))
        for token in tokens[:limit]:
            stream.push(0, token)
        whole = tokenizer.decode(tokens[:limit])
        cut_inside += whole.endswith("\ufffd")
        assert answer_text(tokenizer, tokens[:limit]) == "".join(streamed)
        assert not answer_text(tokenizer, tokens[:limit]).endswith("\ufffd")
    assert cut_inside >= 2  # the text does split characters across tokens: the check is not vacuous
    assert answer_text(tokenizer, tokens) == "Great tone 🎸 but the clip broke ☹ naïve"

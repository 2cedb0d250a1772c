"""The compiled engine (llama.cpp): the export is exact, answers equal transformers', files are kept safe."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from reason4rec.experts.prompts import (
    HistoryEntry,
    TargetContext,
    predictor_messages,
    reasoner_messages,
    summarizer_messages,
)

SUMMARY = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tube amps"


def _ctx(title: str) -> TargetContext:
    entry = HistoryEntry("Amp", 4, SUMMARY)
    return TargetContext("Musical Instruments", title, (entry,), (entry, entry), 4.0, 3.5, 1, 2)


def _engine_logits(gguf: Path, ids: list[int], lora: Path | None = None) -> np.ndarray:
    from reason4rec.experts.engines.llamacpp import LlamaEngine

    engine = LlamaEngine(gguf, {"x": lora} if lora else None, context=256, max_sequences=1)
    try:
        engine.use_adapter("x" if lora else None)
        return np.stack(engine.decode([(t, i, 0, True) for i, t in enumerate(ids)]))
    finally:
        engine.close()


def _torch_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


@pytest.fixture(scope="module")
def prompt_ids(tiny_backend) -> list[int]:
    from reason4rec.experts.prompts import render_chat

    tokenizer = tiny_backend.experts.tokenizer
    return tokenizer(render_chat(tokenizer, reasoner_messages(_ctx("Pedal"))), add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("quant, tolerance", [("f32", 2e-4), ("f16", 2e-2), ("bf16", 4e-2), ("q8_0", 8e-2)])
def test_exported_base_computes_the_same_logits_as_transformers(tiny_model_dir, tmp_path, prompt_ids,
                                                                quant, tolerance):
    from transformers import AutoModelForCausalLM

    from reason4rec.experts.engines.gguf_export import write_base_gguf

    write_base_gguf(tiny_model_dir, tmp_path / "base.gguf", quant)
    reference = _torch_logits(AutoModelForCausalLM.from_pretrained(tiny_model_dir), prompt_ids)
    scale = np.abs(reference).max()
    assert np.abs(_engine_logits(tmp_path / "base.gguf", prompt_ids) - reference).max() <= tolerance * scale


def test_auto_weights_are_bf16_only_where_llama_cpp_multiplies_bf16_natively():
    from reason4rec.experts.engines.llamacpp import engine_quant, native_bf16

    zen4 = "CPU : SSE3 = 1 | AVX2 = 1 | F16C = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | OPENMP = 1 |"
    assert native_bf16(zen4)
    assert not native_bf16(zen4.replace("AVX512_BF16 = 1", "AVX512_BF16 = 0"))
    assert not native_bf16("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 |")
    assert engine_quant("q8_0") == "q8_0" and engine_quant("auto") in {"bf16", "f16"}


def test_doctor_says_which_engine_and_weights_the_experts_run_on(engine_home):
    from reason4rec.app.doctor import engine

    def checked(**engine_settings):
        return engine(engine_home.model_copy(update={
            "engine": engine_home.engine.model_copy(update=engine_settings),
            "agent": engine_home.agent.model_copy(update={"backend": "llamacpp"})}))

    auto = checked(quant="auto", mode="merged")
    assert auto.ok and "llama.cpp" in auto.detail and "experts merged" in auto.detail
    assert ("bf16 weights: this CPU multiplies bf16 natively" in auto.detail
            or "f16 weights: no bf16 dot products on this CPU" in auto.detail)
    assert "q8_0 weights (engine.quant); experts lora" in checked(quant="q8_0", mode="lora").detail
    plain = engine_home.model_copy(update={"agent": engine_home.agent.model_copy(update={"backend": "transformers"})})
    assert engine(plain).detail.startswith("transformers")


def test_lora_adapter_and_merged_export_equal_peft(tiny_backend, tiny_model_dir, tiny_run, tmp_path, prompt_ids):
    from reason4rec.experts.engines.gguf_export import LoraWeights, write_base_gguf, write_lora_gguf

    adapter = tiny_run / "reasoner" / "adapter"
    with tiny_backend.experts.use("reasoner") as model:
        reference = _torch_logits(model, prompt_ids)
    with tiny_backend.experts.use(None) as model:
        plain = _torch_logits(model, prompt_ids)
    assert np.abs(reference - plain).max() > 1e-3  # the adapter changes something worth checking
    write_base_gguf(tiny_model_dir, tmp_path / "base.gguf", "f32")
    write_lora_gguf(adapter, tiny_model_dir, tmp_path / "lora.gguf")
    write_base_gguf(tiny_model_dir, tmp_path / "merged.gguf", "f32", lora=LoraWeights.from_folder(adapter))
    switched = _engine_logits(tmp_path / "base.gguf", prompt_ids, lora=tmp_path / "lora.gguf")
    merged = _engine_logits(tmp_path / "merged.gguf", prompt_ids)
    assert np.abs(switched - reference).max() < 1e-3
    assert np.abs(merged - reference).max() < 1e-3


@pytest.mark.parametrize("engine_fixture", ["tiny_engine_backend", "tiny_merged_engine_backend"])
def test_engine_answers_equal_transformers_answers(tiny_backend, engine_fixture, request):
    tiny_engine_backend = request.getfixturevalue(engine_fixture)
    prompts = [reasoner_messages(_ctx(title)) for title in ("Pedal", "Strings", "A tuner with a clip")]
    assert tiny_engine_backend.generate("reasoner", prompts, max_new_tokens=16) == \
        tiny_backend.generate("reasoner", prompts, max_new_tokens=16)
    # the Summarizer's loop guards count its own answer only, by each engine's own code
    reviews = [summarizer_messages("Music", title, 4, "Warm tone, the clip broke.") for title in ("Pedal", "Capo")]
    assert tiny_engine_backend.generate("summarizer", reviews, max_new_tokens=24) == \
        tiny_backend.generate("summarizer", reviews, max_new_tokens=24)
    rated = [predictor_messages(_ctx("Pedal"), "fits their tone"), predictor_messages(_ctx("Strings"), None)]
    for ours, theirs in zip(tiny_engine_backend.rate("predictor", rated), tiny_backend.rate("predictor", rated)):
        assert ours.expected == pytest.approx(theirs.expected, abs=1e-3)


@pytest.mark.parametrize("backend_name", ["tiny_engine_backend", "tiny_backend"])
def test_an_answer_begun_is_streamed_and_returned_whole_on_both_local_engines(backend_name, tiny_backend, request):
    """The verdict rule's opening (the conversation ends with the assistant's message): ``stream``
    and ``generate`` of each local engine return it whole, opening first, as the other engine does."""
    from dataclasses import replace

    from reason4rec.experts import NEGATIVE_OPENING

    backend = request.getfixturevalue(backend_name)
    opened = reasoner_messages(replace(_ctx("Pedal"), verdict_from_ratings=True))
    [answer] = backend.generate("reasoner", [opened], max_new_tokens=12)
    pieces = list(backend.stream("reasoner", opened, max_new_tokens=12))
    assert pieces[0] == NEGATIVE_OPENING and len(answer) > len(NEGATIVE_OPENING) + 1
    assert "".join(pieces).strip() == answer == tiny_backend.generate("reasoner", [opened], max_new_tokens=12)[0]


def test_engine_completions_report_logprobs_and_stop_like_transformers(tiny_backend, tiny_engine_backend):
    from reason4rec.experts.prompts import render_chat

    prompt = render_chat(tiny_backend.experts.tokenizer, reasoner_messages(_ctx("Pedal")))
    [ours] = tiny_engine_backend.complete("reasoner", [prompt], max_new_tokens=6, top_logprobs=3)
    [theirs] = tiny_backend.complete("reasoner", [prompt], max_new_tokens=6, top_logprobs=3)
    assert ours.token_ids == theirs.token_ids and ours.finish_reason == theirs.finish_reason
    assert [t.top[0][0] for t in ours.logprobs] == [t.top[0][0] for t in theirs.logprobs]
    assert [t.logprob for t in ours.logprobs] == pytest.approx([t.logprob for t in theirs.logprobs], abs=1e-3)
    stopped = tiny_engine_backend.complete("reasoner", [prompt, prompt], max_new_tokens=6,
                                           stop_row=lambda row: row == 1)
    assert len(stopped[1].token_ids) == 1 and len(stopped[0].token_ids) == len(ours.token_ids)


@pytest.mark.parametrize("backend_name", ["tiny_engine_backend", "tiny_backend"])
def test_seeded_sampling_draws_the_same_candidates_again(backend_name, request):
    """A bench's sampled reasons must be drawable again; a fresh seed draws others."""
    from dataclasses import replace

    from reason4rec.experts.prompts import render_chat

    backend = request.getfixturevalue(backend_name)
    prompt = render_chat(backend.experts.tokenizer, reasoner_messages(_ctx("Pedal")))
    sampled = replace(backend.decoding, do_sample=True, temperature=1.5)

    rows = 2 * backend.batch_size + 1  # three backend batches: none may repeat another's draws

    def draw(seed: int) -> list[tuple[int, ...]]:
        return [c.token_ids for c in backend.complete("reasoner", [prompt] * rows, max_new_tokens=12,
                                                       decoding=replace(sampled, seed=seed))]

    first = draw(7)
    assert draw(7) == first
    assert draw(8) != first
    assert len(set(first)) > backend.batch_size


def test_a_prompt_repeated_in_a_batch_is_prefilled_once_with_the_same_answers(tiny_engine_backend, monkeypatch):
    """Drafts of one prompt share its prefill (KV cells copied, not computed again): the answers,
    greedy and seeded-sampled, are those of prefilling each row on its own."""
    from dataclasses import replace

    from reason4rec.experts.prompts import render_chat

    tokenizer = tiny_engine_backend.experts.tokenizer
    pedal, strings = (render_chat(tokenizer, reasoner_messages(_ctx(title))) for title in ("Pedal", "Strings"))
    prompts = [pedal, pedal, strings, pedal]  # one batch
    assert tiny_engine_backend.batch_size >= len(prompts)
    sampled = replace(tiny_engine_backend.decoding, do_sample=True, temperature=1.5, seed=3)
    fed: list[int] = []
    engine = tiny_engine_backend._engine("reasoner")
    decode = engine.decode
    monkeypatch.setattr(engine, "decode", lambda entries: fed.append(len(entries)) or decode(entries))

    def run() -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        greedy = tiny_engine_backend.complete("reasoner", prompts, max_new_tokens=8)
        drawn = tiny_engine_backend.complete("reasoner", prompts, max_new_tokens=8, decoding=sampled)
        return [c.token_ids for c in greedy], [c.token_ids for c in drawn]

    engine.reset()  # nothing kept from earlier tests
    shared = run()
    prefill_shared = fed[0] + fed[1]  # the prefix both prompts share (kept), then each row's rest
    tiny_engine_backend.share_prompts = False
    try:
        fed.clear()
        separate = run()
    finally:
        tiny_engine_backend.share_prompts = True
    assert shared == separate
    assert shared[0][0] == shared[0][1] == shared[0][3]  # greedy: equal prompts, equal answers
    pedal_ids, strings_ids = (tokenizer(p, add_special_tokens=False)["input_ids"] for p in (pedal, strings))
    common = next(i for i, (a, b) in enumerate(zip(pedal_ids, strings_ids)) if a != b)
    assert prefill_shared == len(pedal_ids) + len(strings_ids) - common
    assert fed[0] == 3 * len(pedal_ids) + len(strings_ids)


def _texts(backend, prompts: list[str]) -> list[tuple[int, ...]]:
    return [c.token_ids for c in backend.complete("reasoner", prompts, max_new_tokens=8)]


def _fresh(backend, prompts: list[str]) -> list[tuple[int, ...]]:
    """The answers with nothing kept or shared: every prompt token computed."""
    backend.share_prompts = False
    try:
        return _texts(backend, prompts)
    finally:
        backend.share_prompts = True


def test_a_kept_prefix_is_reused_by_the_next_call_with_the_same_answers(tiny_engine_backend):
    """The user's part of a prompt, computed for one question, is not computed again for the next
    (issue 40): the answers are those of computing every token, and only the shared tokens are reused."""
    tokenizer = tiny_engine_backend.experts.tokenizer
    history = "The user's past reviews:\n" + "\n".join(f"{n}. Pedal: + warm tone; - hum" for n in range(1, 9))
    first, second = (f"{history}\nItem: {item}.\nWill the user like it?" for item in ("Capo", "Tuner"))
    engine = tiny_engine_backend._engine("reasoner")
    engine.reset()
    assert _texts(tiny_engine_backend, [first]) == _fresh(tiny_engine_backend, [first])
    answer = _texts(tiny_engine_backend, [second])
    first_ids, second_ids = (tokenizer(p, add_special_tokens=False)["input_ids"] for p in (first, second))
    common = next(i for i, (a, b) in enumerate(zip(first_ids, second_ids)) if a != b)
    assert tiny_engine_backend.reused_tokens == common > len(tokenizer(history)["input_ids"]) - 2
    assert answer == _fresh(tiny_engine_backend, [second])
    # a prompt that changed early (a new review in the user's history) reuses only what precedes the change
    changed = second.replace("1. Pedal", "1. Strings", 1)
    assert _texts(tiny_engine_backend, [changed]) == _fresh(tiny_engine_backend, [changed])
    assert tiny_engine_backend.reused_tokens < len(tokenizer("The user's past reviews:\n1.")["input_ids"]) + 1


def test_a_prefix_kept_ahead_of_a_question_is_reused_by_it(tiny_engine_backend):
    """What a chat warms while the person types (the user's part of the Reasoner's prompt) is
    reused by their question, with the answer of computing every token."""
    backend = tiny_engine_backend
    backend._engine("reasoner").reset()
    ctx = _ctx("Pedal")
    user_only = reasoner_messages(TargetContext(ctx.category, "", ctx.user_history, (), None, None, 0, 0))
    assert backend.keep_prefix("reasoner", user_only) > 0
    answer = backend.generate("reasoner", [reasoner_messages(ctx)], max_new_tokens=12)
    tokenizer = backend.experts.tokenizer
    user_part = user_only[-1]["content"].split("\nItem: ")[0]
    assert backend.reused_tokens >= len(tokenizer(user_part, add_special_tokens=False)["input_ids"])
    backend.share_prompts = False
    try:
        assert backend.keep_prefix("reasoner", user_only) == 0  # sharing off: nothing kept
        assert backend.generate("reasoner", [reasoner_messages(ctx)], max_new_tokens=12) == answer
    finally:
        backend.share_prompts = True


def test_ratings_reuse_the_kept_prefix_and_a_cancel_mid_reuse_leaves_the_engine_usable(tiny_engine_backend):
    class Cancelled(Exception):
        pass

    def cancel(row, piece):
        raise Cancelled

    backend = tiny_engine_backend
    backend._engine("reasoner").reset()
    prompts = [predictor_messages(_ctx(title), "warm tone") for title in ("Pedal", "Pedal board", "Strings")]
    kept = backend.rate("predictor", prompts)
    backend.share_prompts = False
    try:
        fresh = backend.rate("predictor", prompts)
    finally:
        backend.share_prompts = True
    for a, b in zip(kept, fresh, strict=True):
        assert np.allclose(a.probabilities, b.probabilities, atol=1e-5)
    reasoner = [reasoner_messages(_ctx(title)) for title in ("Pedal", "Pedal board")]
    expected = backend.generate("reasoner", reasoner, max_new_tokens=12)
    with pytest.raises(Cancelled):  # the second call reuses what the first kept, and is cancelled
        backend.generate("reasoner", reasoner, max_new_tokens=12, on_text=cancel)
    assert backend.generate("reasoner", reasoner, max_new_tokens=12) == expected


def test_other_adapters_kept_prefixes_make_room_for_a_long_call(tiny_engine_backend, monkeypatch):
    backend = tiny_engine_backend
    engine = backend._engine("reasoner")
    engine.reset()
    prompt = reasoner_messages(_ctx("Pedal"))
    backend.generate("reasoner", [prompt], max_new_tokens=4)
    assert engine._kept.get("reasoner")
    from reason4rec.experts.prompts import render_chat

    summary = summarizer_messages("Musical Instruments", "Pedal", 4, "warm tone " * 4)
    tokenizer = backend.experts.tokenizer
    need = len(tokenizer(render_chat(tokenizer, summary), add_special_tokens=False)["input_ids"]) + 16
    monkeypatch.setattr(engine, "context", need + len(engine._kept["reasoner"]) - 1)  # fits only alone
    backend.generate("summarizer", [summary], max_new_tokens=16)
    assert "reasoner" not in engine._kept and engine._kept.get("summarizer")


def test_a_callback_that_raises_cancels_and_leaves_the_engine_clean(tiny_engine_backend):
    class Cancelled(Exception):
        pass

    def cancel(row, piece):
        raise Cancelled

    prompt = reasoner_messages(_ctx("Pedal"))
    with pytest.raises(Cancelled):
        tiny_engine_backend.generate("reasoner", [prompt], max_new_tokens=12, on_text=cancel)
    assert tiny_engine_backend.generate("reasoner", [prompt], max_new_tokens=12) == \
        tiny_engine_backend.generate("reasoner", [prompt], max_new_tokens=12)


def test_a_prompt_longer_than_the_context_is_refused_by_name(tiny_engine_backend):
    from reason4rec.experts.engines.llamacpp import EngineError

    huge = [{"role": "user", "content": "great tone " * 5000}]
    with pytest.raises(EngineError, match="does not fit the engine's context"):
        tiny_engine_backend.generate("reasoner", [huge])
    streamed = tiny_engine_backend.stream("reasoner", huge)
    with pytest.raises(EngineError, match="does not fit the engine's context"):  # before any piece, as a batch
        next(streamed)
    with pytest.raises(ValueError, match="at least 1"):  # 0 would have generated one token
        tiny_engine_backend.complete("reasoner", ["great tone"], max_new_tokens=0)
    with pytest.raises(Exception, match="no 'critic' adapter"):
        tiny_engine_backend.generate("critic", [reasoner_messages(_ctx("Pedal"))])


# ------------------------------------------------------------------------------ export files
@pytest.fixture
def engine_home(tiny_config, tmp_path):
    return tiny_config.model_copy(update={"home": tmp_path / "home"})


def test_export_is_reused_then_rebuilt_when_an_adapter_changes(engine_home, tiny_model_dir, tiny_run, tmp_path):
    from reason4rec.experts.engines.engine_files import ensure_engine_files

    adapter = tmp_path / "summarizer"
    shutil.copytree(tiny_run / "summarizer" / "adapter", adapter)
    said: list[str] = []
    first = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "lora",
                                status=said.append)
    assert first.base.is_file() and first.loras["summarizer"].is_file() and len(said) == 2
    said.clear()
    again = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "lora",
                                status=said.append)
    assert again == first and said == []  # nothing rebuilt
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: v * 1.5 for k, v in weights.items()}, str(adapter / "adapter_model.safetensors"))
    retrained = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "lora",
                                    status=said.append)
    assert retrained.loras["summarizer"] != first.loras["summarizer"]
    assert said == [f"exporting {retrained.loras['summarizer'].name} for the compiled engine (once) ..."]
    assert first.loras["summarizer"].exists()  # the version used before is kept (another process may use it)
    merged = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "merged")
    said.clear()
    back = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "lora",
                               status=said.append)
    assert back == retrained and said == []  # the other mode's file of the same adapter is not stale
    assert merged.merged["summarizer"].is_file()
    save_file({k: v * 2.0 for k, v in weights.items()}, str(adapter / "adapter_model.safetensors"))
    third = ensure_engine_files(engine_home.home, tiny_model_dir, {"summarizer": adapter}, "f16", "lora")
    assert not first.loras["summarizer"].exists()  # the oldest of three versions goes, the two newest stay
    assert third.loras["summarizer"].is_file() and retrained.loras["summarizer"].is_file()
    assert merged.merged["summarizer"].is_file() and third.base.is_file()


def test_a_truncated_export_is_reported_and_rebuilt(engine_home, tiny_model_dir, tiny_run):
    from reason4rec.experts.engines.engine_files import ensure_engine_files

    adapters = {"reasoner": tiny_run / "reasoner" / "adapter"}
    files = ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "q8_0", "lora")
    size = files.base.stat().st_size
    with files.base.open("r+b") as handle:
        handle.truncate(size // 2)
    said: list[str] = []
    ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "q8_0", "lora", status=said.append)
    assert files.base.stat().st_size == size
    assert any("truncated" in line and files.base.name in line for line in said)


def test_a_foreign_or_other_version_folder_is_refused_until_rebuilt(engine_home, tiny_model_dir, tiny_run):
    import json

    from reason4rec.experts.engines.engine_files import MANIFEST, ExportError, ensure_engine_files, export_folder

    adapters = {"reasoner": tiny_run / "reasoner" / "adapter"}
    folder = export_folder(engine_home.home, tiny_model_dir)
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"someone else's")
    with pytest.raises(ExportError, match="not a reason4rec engine export"):
        ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "f16", "lora")
    files = ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "f16", "lora", rebuild=True)
    assert files.base.is_file() and not (folder / "weights.bin").exists()
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ExportError, match="version 99"):
        ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "f16", "lora")
    for files_entry in ([], {"base-f16.gguf": 5}):  # a hand-edited or damaged file list
        (folder / MANIFEST).write_text(json.dumps({**manifest, "files": files_entry}))
        with pytest.raises(ExportError, match=r"damaged .* model export --rebuild"):
            ensure_engine_files(engine_home.home, tiny_model_dir, adapters, "f16", "lora")


def test_merged_mode_runs_each_expert_on_its_own_model(engine_home, tiny_backend, tiny_run):
    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend

    config = engine_home.model_copy(update={"engine": engine_home.engine.model_copy(
        update={"quant": "f32", "mode": "merged"})})
    adapters = {name: tiny_run / name / "adapter" for name in ("reasoner", "predictor")}
    backend = open_llamacpp_backend(config, adapters, batch_size=2)
    try:
        prompt = [reasoner_messages(_ctx("Pedal"))]
        assert backend.generate("reasoner", prompt, max_new_tokens=10) == \
            tiny_backend.generate("reasoner", prompt, max_new_tokens=10)
        assert "llama.cpp f32 (merged)" in backend.experts.base.describe()
        assert backend.context_tokens("reasoner") == backend._engine("reasoner").context <= config.engine.context
    finally:
        backend.close()


def test_a_missing_engine_falls_back_to_transformers_with_one_line(engine_home, tiny_run, monkeypatch, caplog):
    from reason4rec.experts.backend import LocalBackend
    from reason4rec.experts.loading import choose_engine, local_backend

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    assert choose_engine(engine_home) == "transformers"
    config = engine_home.model_copy(update={"agent": engine_home.agent.model_copy(update={"backend": "llamacpp"})})
    said: list[str] = []
    backend = local_backend(config, {"reasoner": tiny_run / "reasoner" / "adapter"}, status=said.append)
    assert isinstance(backend, LocalBackend)
    assert len(said) == 1 and said[0].startswith("compiled engine unavailable") and "using transformers" in said[0]
    # a spinner's status line vanishes at once: the fallback is also a warning that stays on stderr
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == said


def test_auto_picks_the_engine_on_a_cpu_and_local_still_means_auto(engine_home):
    from reason4rec.config import load_config
    from reason4rec.experts.loading import choose_engine

    assert load_config(overrides={"agent": {"backend": "local"}}).agent.backend == "auto"
    cpu = engine_home.model_copy(update={"base_model": engine_home.base_model.model_copy(update={"device": "cpu"})})
    assert choose_engine(cpu) == "llamacpp"
    four_bit = engine_home.model_copy(update={"base_model": engine_home.base_model.model_copy(
        update={"load_in_4bit": True})})
    assert choose_engine(four_bit) == "transformers"


def test_an_adapter_of_another_base_or_prompt_version_is_refused_by_name(engine_home, tiny_run, tmp_path):
    import json

    from reason4rec.experts.engines.llamacpp import open_llamacpp_backend
    from reason4rec.experts.model.adapters import AdapterError

    for field, value, message in (("base_fingerprint", "0123456789abcdef", "fingerprint 0123456789abcdef"),
                                  ("prompt_version", "p0", "trained on prompts 'p0'")):
        folder = tmp_path / field
        shutil.copytree(tiny_run / "reasoner" / "adapter", folder)
        card = json.loads((folder / "card.json").read_text())
        (folder / "card.json").write_text(json.dumps({**card, field: value}))
        with pytest.raises(AdapterError, match=message):
            open_llamacpp_backend(engine_home, {"reasoner": folder})

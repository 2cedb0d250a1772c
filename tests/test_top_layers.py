"""The top-layers training engine: same numbers as the full model, cached bottom, star losses, resume."""

import shutil

import pytest
import torch

from reason4rec.experts.backend import rating_ids, rating_prompt
from reason4rec.experts.prompts import predictor_messages, rating_response, summarizer_messages
from reason4rec.training.sft import train_adapter
from reason4rec.training.sft_types import LoraSettings, SFTExample, TrainingError, TrainSettings
from reason4rec.training.top_layers import DecoderStack, _batch_loss, _pad, _run_bottom, encode_for_loss

from .test_prompts import _ctx as sample_context


def _writer_examples(n=4):
    return [SFTExample(summarizer_messages("Music", f"item {i}", 5, "Great tone and sturdy build."),
                       "Positive Aspects: great tone\nNegative Aspects: none\nUser Preference Elements: tone")
            for i in range(n)]


def _rating_examples(stars):
    return [SFTExample(predictor_messages(sample_context(), f"analysis {i}"), rating_response(star))
            for i, star in enumerate(stars)]


@pytest.fixture()
def tiny_base(tiny_config):
    from reason4rec.experts.loading import fresh_base

    return fresh_base(tiny_config)


def test_the_stack_computes_what_the_model_computes(tiny_base):
    model, tokenizer = tiny_base.model.eval(), tiny_base.tokenizer
    rows = [tokenizer("Great tone and a sturdy build")["input_ids"], tokenizer("Broke")["input_ids"]]
    ids, mask = _pad(rows, "cpu")
    stack = DecoderStack(model)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
        whole = stack.run(stack.embed(ids), mask, 0, len(stack.layers))
        halves = stack.run(stack.run(stack.embed(ids), mask, 0, 1), mask, 1, len(stack.layers))
        for row, length in enumerate(map(len, rows)):
            cols = torch.arange(length)
            got = stack.logits_at(whole, torch.full((length,), row), cols)
            assert torch.allclose(got, expected[row, :length], atol=1e-4)
            assert torch.allclose(stack.logits_at(halves, torch.full((length,), row), cols), got, atol=1e-5)


def test_response_loss_equals_the_trainers_loss(tiny_base):
    from reason4rec.training.sft_types import encode_example

    model, tokenizer = tiny_base.model.eval(), tiny_base.tokenizer
    example = _writer_examples(1)[0]
    row, _ = encode_example(tokenizer, example, 256)
    encoded = [encode_for_loss(tokenizer, example, "response", 256)]
    stack = DecoderStack(model)
    settings = TrainSettings(engine="top-layers", gradient_checkpointing=False)
    with torch.no_grad():
        reference = model(**{k: torch.tensor([v]) for k, v in row.items()}).loss
        cached = _run_bottom(stack, encoded, 1, 4, "cpu")
        ours = _batch_loss(stack, cached, encoded, [0], 1, settings, None, "cpu")
    assert torch.allclose(ours, reference, atol=1e-4)


def test_a_rating_example_is_the_prompt_the_backend_rates(tiny_base):
    tokenizer = tiny_base.tokenizer
    example = _rating_examples([4])[0]
    encoded = encode_for_loss(tokenizer, example, "rating-stars", 2048)
    ids, digits = rating_ids(tokenizer, rating_prompt(tokenizer, example.messages))
    assert encoded.ids == ids and encoded.positions == [len(ids) - 1]
    assert encoded.targets == [digits[3]] and encoded.star == 3
    cut = encode_for_loss(tokenizer, example, "rating-stars", 40)
    assert cut.truncated and cut.ids == ids[-40:]
    with pytest.raises(TrainingError, match="needs rating examples"):
        encode_for_loss(tokenizer, _writer_examples(1)[0], "rating-stars", 2048)


@pytest.mark.parametrize("loss", ["rating-stars", "rating-stars-expected", "rating-vocab"])
def test_rating_losses_teach_the_star(tiny_config, tmp_path, loss):
    """Trained on five-star targets only, the adapter moves the expected rating up."""
    from peft import PeftModel

    from reason4rec.experts.loading import fresh_base

    examples = _rating_examples([5] * 8)
    settings = TrainSettings(engine="top-layers", loss=loss, epochs=6, batch_size=4, learning_rate=5e-3,
                             max_length=512, gradient_checkpointing=False)
    result = train_adapter(lambda q: fresh_base(tiny_config, load_in_4bit=q), examples,
                           LoraSettings(r=4, alpha=8, layers=1), settings, tmp_path)
    assert result.steps == 12 and result.final_loss < result.first_loss
    base = fresh_base(tiny_config)
    before = _expected_rating(base.model, base.tokenizer, examples[0].messages)
    trained = PeftModel.from_pretrained(base.model, str(tmp_path / "adapter"))
    assert _expected_rating(trained, base.tokenizer, examples[0].messages) > before + 0.5


def _expected_rating(model, tokenizer, messages):
    from reason4rec.experts.rating import RatingDistribution

    ids, digits = rating_ids(tokenizer, rating_prompt(tokenizer, messages))
    with torch.no_grad():
        logits = model.eval()(input_ids=torch.tensor([ids])).logits[0, -1, digits]
    return RatingDistribution.from_logits(logits.tolist()).expected


def test_only_the_top_layers_get_lora(tiny_config, tmp_path):
    from safetensors.torch import load_file

    from reason4rec.experts.loading import fresh_base

    settings = TrainSettings(engine="top-layers", epochs=1, batch_size=2, max_length=256,
                             gradient_checkpointing=False)
    train_adapter(lambda q: fresh_base(tiny_config), _writer_examples(), LoraSettings(r=4, alpha=8, layers=1),
                  settings, tmp_path)
    names = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert names and all(".layers.1." in name for name in names)


def test_an_interrupted_run_resumes_and_a_changed_one_starts_over(tiny_config, tmp_path):
    from reason4rec.experts.loading import fresh_base

    load = lambda q: fresh_base(tiny_config)  # noqa: E731
    settings = TrainSettings(engine="top-layers", epochs=2, batch_size=2, max_length=256, save_every=1,
                             gradient_checkpointing=False)
    first = train_adapter(load, _writer_examples(), LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert first.steps == 4 and first.resumed_from is None
    shutil.rmtree(tmp_path / "adapter")  # a crash before the adapter was written
    again = train_adapter(load, _writer_examples(), LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert again.resumed_from is not None and again.losses == first.losses
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    changed = train_adapter(load, _writer_examples(), LoraSettings(r=4, alpha=8),
                            settings.model_copy(update={"learning_rate": 1e-3}), tmp_path)
    assert changed.resumed_from is None


def test_settings_that_cannot_work_are_refused(tiny_config, tmp_path):
    from pydantic import ValidationError

    from reason4rec.experts.loading import fresh_base

    with pytest.raises(ValidationError, match="needs engine 'top-layers'"):
        TrainSettings(loss="rating-stars")
    with pytest.raises(ValidationError, match="QLoRA"):
        TrainSettings(engine="top-layers", qlora=True)
    with pytest.raises(TrainingError, match="has 2 layers"):
        train_adapter(lambda q: fresh_base(tiny_config), _writer_examples(), LoraSettings(layers=5),
                      TrainSettings(engine="top-layers"), tmp_path)


class _Stop(Exception):
    pass


def test_a_resumed_run_reads_the_frozen_layers_from_disk_instead_of_computing_them(tiny_config, tmp_path,
                                                                                   monkeypatch):
    from reason4rec.experts.loading import fresh_base
    from reason4rec.training import top_layers

    computed = []
    real_run_bottom = top_layers._run_bottom
    monkeypatch.setattr(top_layers, "_run_bottom", lambda *a: computed.append(1) or real_run_bottom(*a))
    load = lambda q: fresh_base(tiny_config)  # noqa: E731
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, layers=1)  # the bottom layer is frozen and cached
    settings = TrainSettings(engine="top-layers", epochs=2, batch_size=2, max_length=256, save_every=1,
                             gradient_checkpointing=False)
    bottom: list[tuple[int, int]] = []
    whole = train_adapter(load, _writer_examples(), lora, settings, tmp_path / "whole",
                          bottom_progress=lambda done, total: bottom.append((done, total)))
    assert computed == [1] and not list((tmp_path / "whole" / "checkpoints").glob("bottom-*"))  # removed when done
    examples = len(_writer_examples())  # the frozen pass says how far it is, example by example
    assert bottom[-1] == (examples, examples) and [d for d, _ in bottom] == sorted(d for d, _ in bottom)

    def crash_at_step_2(step, total):
        if step == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train_adapter(load, _writer_examples(), lora, settings, tmp_path / "cut", progress=crash_at_step_2)
    [stored] = (tmp_path / "cut" / "checkpoints").glob("bottom-*.safetensors")
    resumed = train_adapter(load, _writer_examples(), lora, settings, tmp_path / "cut")
    assert computed == [1, 1] and resumed.resumed_from is not None  # the resume computed nothing
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    assert not stored.exists()

    with pytest.raises(_Stop):
        train_adapter(load, _writer_examples(), lora, settings, tmp_path / "torn", progress=crash_at_step_2)
    [stored] = (tmp_path / "torn" / "checkpoints").glob("bottom-*.safetensors")
    stored.write_bytes(stored.read_bytes()[:100])  # a file torn by a full disk is recomputed, not trusted
    torn = train_adapter(load, _writer_examples(), lora, settings, tmp_path / "torn")
    assert computed == [1, 1, 1, 1] and torn.losses == pytest.approx(whole.losses, rel=1e-5)

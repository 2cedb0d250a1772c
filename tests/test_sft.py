import shutil

from reason4rec.experts.prompts import summarizer_messages
from reason4rec.training.sft import train_adapter
from reason4rec.training.sft_types import LoraSettings, SFTExample, TrainSettings, encode_example


def _examples(n=6):
    return [SFTExample(summarizer_messages("Music", f"item {i}", 5, "Great tone and sturdy build."),
                       "Positive Aspects: great tone\nNegative Aspects: none\nUser Preference Elements: tone")
            for i in range(n)]


def test_loss_is_on_the_response_only(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    row, truncated = encode_example(tokenizer, _examples(1)[0], max_length=512)
    assert not truncated
    labelled = [i for i, label in enumerate(row["labels"]) if label != -100]
    assert labelled and labelled == list(range(labelled[0], len(row["labels"])))
    response = tokenizer.decode([row["input_ids"][i] for i in labelled])
    assert response.startswith("Positive Aspects") and response.endswith("<|im_end|>")


def test_long_prompts_are_cut_from_the_front(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    row, truncated = encode_example(tokenizer, _examples(1)[0], max_length=48)
    assert truncated and len(row["input_ids"]) == 48
    assert any(label != -100 for label in row["labels"])


def test_training_resumes_from_its_last_checkpoint(tiny_config, tmp_path):
    from reason4rec.experts.loading import fresh_base

    settings = TrainSettings(epochs=2, batch_size=2, max_length=128, gradient_checkpointing=False, save_every=1)
    load = lambda qlora: fresh_base(tiny_config, load_in_4bit=qlora)  # noqa: E731
    first = train_adapter(load, _examples(), LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert first.steps == 6 and first.resumed_from is None and (tmp_path / "adapter").is_dir()
    assert first.final_loss is not None and first.final_loss < first.first_loss
    # Simulate a crash before the adapter was written: the checkpoint is what is left.
    shutil.rmtree(tmp_path / "adapter")
    again = train_adapter(load, _examples(), LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-6")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter" / "README.md").exists()  # peft's template card; card.json is ours
    (tmp_path / "checkpoints" / "checkpoint-7").mkdir()  # killed while saving: no trainer_state.json
    (tmp_path / "checkpoints" / "checkpoint-7" / "adapter_model.safetensors").write_bytes(b"half")
    resumed = train_adapter(load, _examples(), LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert resumed.resumed_from.endswith("checkpoint-6")  # the complete one before it
    other = train_adapter(load, _examples(4), LoraSettings(r=4, alpha=8), settings, tmp_path)  # other data
    assert other.resumed_from is None and other.steps == 4  # trained afresh, not the old run's weights resumed


def test_qlora_trains_on_the_cpu(tiny_config, tmp_path):
    from reason4rec.experts.loading import fresh_base

    settings = TrainSettings(epochs=1, batch_size=2, max_length=128, qlora=True, gradient_checkpointing=False)
    result = train_adapter(lambda q: fresh_base(tiny_config, load_in_4bit=q), _examples(2),
                           LoraSettings(r=4, alpha=8), settings, tmp_path)
    assert result.steps == 1 and (tmp_path / "adapter" / "adapter_config.json").is_file()

"""The tiny local model used by fast tests and smoke runs."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoTokenizer


def test_tiny_checkpoint_is_a_real_chat_model_folder(tiny_model_dir: Path):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert config.model_type == "llama" and config.num_hidden_layers == 2
    assert config.vocab_size == len(tokenizer)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Rate it"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nRate it<|im_end|>\n<|im_start|>assistant\n"
    # the BPE learned from real reviews: common review words are single tokens, digits exist
    assert len(tokenizer.tokenize(" guitar")) == 1
    assert all(len(tokenizer.tokenize(d)) == 1 for d in "12345")
    text = "Predicted Rating: 4 - strings sound bright"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text

"""The Summarizer's guard against a word doubled in a row, in both local engines."""

import numpy as np
import pytest

from reason4rec.experts.backend import DecodingSettings
from reason4rec.experts.word_repeats import RepeatedWordBan


@pytest.fixture(scope="module")
def ban(tokenizer):
    return RepeatedWordBan(tokenizer)


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _word_token(tokenizer, word):
    [token] = _ids(tokenizer, f" {word}")
    return token


def test_only_the_last_word_again_is_banned(tokenizer, ban):
    great = _word_token(tokenizer, "great")
    assert great in ban.banned(_ids(tokenizer, "Positive Aspects: sound, great"))
    assert great in ban.banned(_ids(tokenizer, "Positive Aspects: sound, Great"))  # any case, as the check
    assert all(tokenizer.decode([t]).strip().lower() == "great"
               for t in ban.banned(_ids(tokenizer, "Positive Aspects: great")))
    assert ban.banned(_ids(tokenizer, "Positive Aspects: great,")) == []  # "great, great" is two items
    assert ban.banned(_ids(tokenizer, "Positive Aspects:")) == [] and ban.banned([]) == []


def test_llamacpp_decoding_picks_the_next_best_token_instead_of_the_repeat(tokenizer, ban):
    from reason4rec.experts.engines.llamacpp import _Row, choose_token

    prompt, answer = _ids(tokenizer, "Summarize."), _ids(tokenizer, "Positive Aspects: great")
    row = _Row(0, prompt, 48, 4, prompt_grams=False)
    for token in answer:
        row.append(token)
    great, sound = _word_token(tokenizer, "great"), _word_token(tokenizer, "sound")
    logits = np.zeros(len(tokenizer), dtype=np.float32)
    logits[great], logits[sound] = 5.0, 4.0
    guarded = DecodingSettings(repetition_penalty=1.0, no_repeated_word=True)
    assert choose_token(logits, row, guarded, word_ban=ban) == sound
    assert choose_token(logits, row, DecodingSettings(repetition_penalty=1.0), word_ban=ban) == great


def test_transformers_decoding_bans_the_same_tokens_in_each_rows_answer(tokenizer, ban):
    import torch

    from reason4rec.experts.backend import _answer_word_ban

    prompt = _ids(tokenizer, "Summarize: great")  # a repeat of the prompt's last word is not the answer's
    answers = [_ids(tokenizer, " sound great"), _ids(tokenizer, " great sound")]
    assert len(answers[0]) == len(answers[1])
    scores = _answer_word_ban(ban, len(prompt))(torch.tensor([prompt + a for a in answers]),
                                                 torch.zeros((2, len(tokenizer))))
    great = _word_token(tokenizer, "great")
    sound = _word_token(tokenizer, "sound")
    assert scores[0, great] == -torch.inf and scores[0, sound] == 0
    assert scores[1, sound] == -torch.inf and scores[1, great] == 0
    assert torch.isinf(scores[0]).sum() == len(ban.banned(answers[0]))

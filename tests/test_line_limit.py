"""A fixed-line answer (the Summarizer's three fields) stops at the newline closing its last line."""

from fakes import FakeCompletions

from reason4rec.experts.backend import ANSWER_LINES, DecodingSettings, LineLimit, decoding_for, generate_by_complete


def test_line_limit_counts_finished_non_empty_lines():
    limit = LineLimit(3)
    for piece in ("Positive Aspects: a\n\nNeg", "ative Aspects: b\n", "User Preference Elements: c"):
        limit.on_text(0, piece)
        assert not limit(0)
    limit.on_text(0, "\nPositive")
    assert limit(0) and not limit(1)


RAMBLING = ("Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes\n"
            "Positive Aspects: none none none none none none none none none none none none")


def test_the_summarizer_stops_after_its_third_line_and_the_reasoner_does_not():
    assert ANSWER_LINES == {"summarizer": 3}
    seen: list[str] = []
    summarizer = FakeCompletions(RAMBLING)
    [text] = generate_by_complete(summarizer, "summarizer", ["p"], 48, lambda row, piece: seen.append(piece))
    assert text == "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes"
    assert "".join(seen).startswith(text) and summarizer.tokens_made < len(RAMBLING) / 4 - 10
    reasoner = FakeCompletions(RAMBLING)
    [text] = generate_by_complete(reasoner, "reasoner", ["p"], 96, None)
    assert text == RAMBLING


def test_the_summarizer_decodes_with_guards_over_its_own_answer_only():
    summarizer, reasoner = FakeCompletions(RAMBLING), FakeCompletions(RAMBLING)
    generate_by_complete(summarizer, "summarizer", ["p"], 48, None)
    generate_by_complete(reasoner, "reasoner", ["p"], 96, None)
    [asked] = summarizer.asked_decoding
    assert asked == decoding_for("summarizer", DecodingSettings())
    assert (asked.repetition_penalty, asked.no_repeat_ngram_size, asked.ngram_scope, asked.no_repeated_word) == (
        1.0, 4, "generated", True)
    [reasoned] = reasoner.asked_decoding  # guards over its own answer: it may copy its prompt's aspects
    assert (reasoned.ngram_scope, reasoned.penalty_scope) == ("generated", "generated")
    assert reasoned.repetition_penalty == DecodingSettings().repetition_penalty > 1.0


def test_an_answer_only_penalty_spares_the_prompt_in_both_engines():
    import numpy as np
    import torch

    from reason4rec.experts.backend import _answer_repetition_penalty
    from reason4rec.experts.engines.llamacpp import _Row, choose_token

    prompt, answer = [1, 2], [3]
    logits = np.array([0.0, 5.0, 1.0, 4.5, 3.0], dtype=np.float32)  # token 1 (prompt) leads, 3 (answer) next
    row = _Row(0, prompt, 10, 0)
    row.append(answer[0])
    everything = DecodingSettings(repetition_penalty=2.0, no_repeat_ngram_size=0)
    answer_only = DecodingSettings(repetition_penalty=2.0, no_repeat_ngram_size=0, penalty_scope="generated")
    assert choose_token(logits, row, everything) == 4  # 1 and 3 halved: 2.5, 2.25 < 3.0
    assert choose_token(logits, row, answer_only) == 1  # the prompt's token keeps its score
    scores = _answer_repetition_penalty(2.0, len(prompt))(torch.tensor([prompt + answer]),
                                                         torch.tensor([logits.tolist()]))
    assert scores[0].tolist() == [0.0, 5.0, 1.0, 2.25, 3.0]


def test_both_engines_ban_repeats_of_the_answer_but_not_of_the_prompt():
    import torch

    from reason4rec.experts.backend import _answer_ngram_ban
    from reason4rec.experts.engines.llamacpp import _Row

    prompt, answer = [1, 2, 3, 4], [5, 6, 7, 5]
    answer_only, everything = (_Row(0, prompt, 10, 3, prompt_grams=False), _Row(0, prompt, 10, 3))
    for row in (answer_only, everything):
        for token in [*answer, 6]:
            row.append(token)
    assert answer_only.banned.get((5, 6)) == {7} and (2, 3) not in answer_only.banned
    assert everything.banned.get((2, 3)) == {4}
    scores = _answer_ngram_ban(3, len(prompt))(torch.tensor([prompt + answer + [6]]), torch.zeros((1, 10)))
    assert scores[0, 7] == -torch.inf and torch.isfinite(scores[0, [4, 5, 6]]).all()
    prompt_repeat = _answer_ngram_ban(3, len(prompt))(torch.tensor([[*prompt, 2, 3]]), torch.zeros((1, 10)))
    assert torch.isfinite(prompt_repeat).all()  # the prompt's (2, 3) -> 4 is allowed

"""A fixed-line answer (the Summarizer's three fields) stops at the newline closing its last line."""

from reason4rec.experts.backend import (
    ANSWER_LINES,
    Completion,
    DecodingSettings,
    LineLimit,
    decoding_for,
    generate_by_complete,
)


def test_line_limit_counts_finished_non_empty_lines():
    limit = LineLimit(3)
    for piece in ("Positive Aspects: a\n\nNeg", "ative Aspects: b\n", "User Preference Elements: c"):
        limit.on_text(0, piece)
        assert not limit(0)
    limit.on_text(0, "\nPositive")
    assert limit(0) and not limit(1)


class _ScriptedBackend:
    """``complete`` that emits a fixed text a few characters per token, honouring ``stop_row``."""

    decoding = DecodingSettings()

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens_made = 0
        self.asked: list[DecodingSettings] = []

    def complete(self, expert, prompts, *, max_new_tokens, decoding=None, on_text=None, stop_row=None):
        self.asked.append(decoding)
        out = []
        for row, _ in enumerate(prompts):
            made = ""
            for start in range(0, len(self.text), 4):
                piece = self.text[start:start + 4]
                made += piece
                self.tokens_made += 1
                if on_text:
                    on_text(row, piece)
                if stop_row is not None and stop_row(row):
                    break
            out.append(Completion(made, (), "length"))
        return out


RAMBLING = ("Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes\n"
            "Positive Aspects: none none none none none none none none none none none none")


def test_the_summarizer_stops_after_its_third_line_and_the_reasoner_does_not():
    assert ANSWER_LINES == {"summarizer": 3}
    seen: list[str] = []
    summarizer = _ScriptedBackend(RAMBLING)
    [text] = generate_by_complete(summarizer, "summarizer", ["p"], 48, lambda row, piece: seen.append(piece))
    assert text == "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tubes"
    assert "".join(seen).startswith(text) and summarizer.tokens_made < len(RAMBLING) / 4 - 10
    reasoner = _ScriptedBackend(RAMBLING)
    [text] = generate_by_complete(reasoner, "reasoner", ["p"], 96, None)
    assert text == RAMBLING


def test_the_summarizer_decodes_with_guards_over_its_own_answer_only():
    summarizer, reasoner = _ScriptedBackend(RAMBLING), _ScriptedBackend(RAMBLING)
    generate_by_complete(summarizer, "summarizer", ["p"], 48, None)
    generate_by_complete(reasoner, "reasoner", ["p"], 96, None)
    [asked] = summarizer.asked
    assert asked == decoding_for("summarizer", DecodingSettings())
    assert (asked.repetition_penalty, asked.no_repeat_ngram_size, asked.ngram_scope) == (1.0, 4, "generated")
    assert reasoner.asked == [DecodingSettings()]  # Hugging Face's rules, prompt included


def test_both_engines_ban_repeats_of_the_answer_but_not_of_the_prompt():
    import torch

    from reason4rec.experts.backend import _answer_ngram_ban
    from reason4rec.experts.llamacpp import _Row

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

"""A fixed-line answer (the Summarizer's three fields) stops at the newline closing its last line."""

from reason4rec.experts.backend import ANSWER_LINES, Completion, LineLimit, generate_by_complete


def test_line_limit_counts_finished_non_empty_lines():
    limit = LineLimit(3)
    for piece in ("Positive Aspects: a\n\nNeg", "ative Aspects: b\n", "User Preference Elements: c"):
        limit.on_text(0, piece)
        assert not limit(0)
    limit.on_text(0, "\nPositive")
    assert limit(0) and not limit(1)


class _ScriptedBackend:
    """``complete`` that emits a fixed text a few characters per token, honouring ``stop_row``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens_made = 0

    def complete(self, expert, prompts, *, max_new_tokens, on_text=None, stop_row=None):
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

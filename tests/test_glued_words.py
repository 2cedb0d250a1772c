"""A word the Reasoner's rules hold back is not written glued to the word before, in both engines."""

import numpy as np
import pytest

from reason4rec.config import Expert
from reason4rec.experts.backend import DecodingSettings, decoding_for
from reason4rec.experts.glued_words import GlueGuard


@pytest.fixture(scope="module")
def glue(tokenizer):
    return GlueGuard(tokenizer)


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _twins(tokenizer, glue, count=2):
    """``count`` (spaced, bare) pairs of the tiny tokenizer (its vocabulary is learnt from reviews),
    none of them a token of the texts these tests write."""
    written = set(_ids(tokenizer, "Reasons. Other buyers of this, of,"))
    pairs = [(int(s), int(b)) for s, b in zip(glue.spaced, glue.bare)
             if tokenizer.decode([int(s)]) == " " + tokenizer.decode([int(b)]) and not {int(s), int(b)} & written]
    assert len(pairs) >= count
    return pairs[:count]


def test_the_pairs_are_the_whole_words_with_and_without_their_space(tokenizer, glue):
    assert len(glue) == len(glue.bare) > 20
    for spaced, bare in zip(glue.spaced[:50], glue.bare[:50]):
        word = tokenizer.decode([int(bare)])
        assert tokenizer.decode([int(spaced)]) == f" {word}" and word.isalpha() and len(word) >= 2


def test_only_an_answer_ending_in_a_letter_would_be_joined(tokenizer, glue):
    assert glue.word_begun(_ids(tokenizer, "Other buyers of this")) == "this"
    assert glue.word_begun(_ids(tokenizer, "They valued Tone")) == "tone"
    assert glue.word_begun(_ids(tokenizer, "They valued tone,")) == ""
    assert glue.word_begun(_ids(tokenizer, "They valued tone ")) == ""
    assert glue.word_begun(_ids(tokenizer, "price:\n")) == "" and glue.word_begun([]) == ""


def test_a_bare_twin_loses_what_its_spaced_twin_lost_and_no_more(glue, tokenizer):
    (spaced, bare), (other_spaced, other_bare) = _twins(tokenizer, glue)
    raw = np.zeros(len(tokenizer), dtype=np.float32)
    raw[[spaced, bare, other_spaced, other_bare]] = [5.0, 4.5, 3.0, 2.0]
    scores = raw.copy()
    scores[spaced] = -np.inf   # forbidden (the aspect guard, the n-gram ban)
    scores[other_spaced] = 2.5  # penalised by 0.5
    glue.apply(raw, scores, _ids(tokenizer, "Other buyers of this"))
    assert scores[bare] == -np.inf and scores[other_bare] == pytest.approx(1.5)
    assert np.count_nonzero(scores != raw) == 4  # nothing else moved
    apart = raw.copy()
    apart[spaced] = -np.inf
    glue.apply(raw, apart, _ids(tokenizer, "Other buyers of this,"))
    assert apart[bare] == raw[bare]  # after a comma the bare token starts a word


def test_a_word_of_the_prompt_may_be_copied_piece_by_piece(glue, tokenizer):
    (spaced, bare), (other_spaced, other_bare) = _twins(tokenizer, glue)
    piece = tokenizer.decode([bare])
    words = glue.prompt_words(_ids(tokenizer, f"1. Strap: + beh{piece}, tone"))
    assert f"beh{piece}".lower() in words and "tone" in words
    raw = np.zeros(len(tokenizer), dtype=np.float32)
    scores = raw.copy()
    scores[[spaced, other_spaced]] = -np.inf
    glue.apply(raw, scores, _ids(tokenizer, "Other buyers praise beh"), words)
    assert scores[bare] == 0 and scores[other_bare] == -np.inf  # "beh" + piece is the prompt's word


def test_llamacpp_decoding_writes_the_next_best_word_instead_of_gluing(tokenizer, glue):
    from reason4rec.experts.engines.llamacpp import _Row, choose_token

    (spaced, bare), (other, _) = _twins(tokenizer, glue)
    prompt, answer = _ids(tokenizer, "Reasons."), _ids(tokenizer, "Other buyers of this")
    logits = np.zeros(len(tokenizer), dtype=np.float32)
    logits[spaced], logits[bare], logits[other] = 5.0, 4.5, 4.0
    glued = DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0, no_glued_words=True)

    def row(answered=answer):
        made = _Row(0, prompt, 16, 0, forbidden=[spaced])
        for token in answered:
            made.append(token)
        return made

    assert choose_token(logits, row(), glued, glue=glue) == other
    assert choose_token(logits, row(), DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0),
                        glue=glue) == bare  # without the guard: glued to "this"
    assert choose_token(logits, row(_ids(tokenizer, "Other buyers of this,")), glued, glue=glue) == bare  # a new word
    penalised = DecodingSettings(repetition_penalty=1.5, penalty_scope="generated", no_repeat_ngram_size=0,
                                 no_glued_words=True)
    seen = _Row(0, prompt, 16, 0)
    for token in [*answer[:-1], spaced, *answer[-1:]]:  # the word written once already: penalised now
        seen.append(token)
    assert choose_token(logits, seen, penalised, glue=glue) == other  # 5/1.5 = 3.3; 4.5 - 1.7 = 2.8 < 4.0


def test_transformers_decoding_carries_the_drop_in_each_rows_answer(tokenizer, glue):
    import torch

    from reason4rec.experts.backend import _answer_glue_guard, _forbidden_tokens

    (spaced, bare), _ = _twins(tokenizer, glue)
    prompt = _ids(tokenizer, "Reasons.")
    joined = _ids(tokenizer, " of this")
    apart = joined[:-1] + _ids(tokenizer, ",")[-1:]  # the same length, ending in a comma
    keep_raw, carry = _answer_glue_guard(glue, len(prompt))
    input_ids = torch.tensor([prompt + joined, prompt + apart])
    scores = torch.zeros((2, len(tokenizer)))
    for processor in (keep_raw, _forbidden_tokens([[spaced], [spaced]]), carry):
        scores = processor(input_ids, scores)
    assert scores[0, bare] == -torch.inf  # "this" + bare twin would glue
    assert scores[1, bare] == 0  # after a comma it starts a word
    assert torch.isinf(scores[0]).sum() == 2 and torch.isinf(scores[1]).sum() == 1


def test_the_reasoner_is_guarded_against_glue_and_the_other_experts_are_not():
    assert decoding_for(Expert.REASONER, DecodingSettings()).no_glued_words
    assert not decoding_for(Expert.SUMMARIZER, DecodingSettings()).no_glued_words
    assert not decoding_for(Expert.PREDICTOR, DecodingSettings()).no_glued_words


@pytest.mark.parametrize("engine", ["tiny_backend", "tiny_engine_backend"])
def test_both_engines_glue_no_word_the_rules_forbid(engine, request, tokenizer, glue, monkeypatch):
    """Everything forbidden but the bare twins and a comma: the tiny random experts then glue one
    bare word to the next; with the guard a letter is followed by the comma alone (each twin's
    spaced word is forbidden). The rules themselves: the tests above."""
    from dataclasses import replace

    backend = request.getfixturevalue(engine)
    bare = {int(t) for t in glue.bare}
    [comma] = _ids(tokenizer, ",")
    others = [t for t in range(len(tokenizer)) if t not in bare and t != comma]
    monkeypatch.setattr(backend, "forbidden_for", lambda settings, ids: others if settings.aspect_guard else [])
    prompt = "1. 2: 34, 5"  # no word a bare token could be copying
    loose = DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0, aspect_guard=True)

    def glued(completion):
        ids = list(completion.token_ids)
        return [t for i, t in enumerate(ids) if t in bare and glue.word_begun(ids[:i])]

    [free] = backend.complete(Expert.REASONER, [prompt], max_new_tokens=16, decoding=loose)
    [kept] = backend.complete(Expert.REASONER, [prompt], max_new_tokens=16,
                              decoding=replace(loose, no_glued_words=True))
    assert glued(free) and not glued(kept)
    assert set(kept.token_ids) <= bare | {comma} and comma in kept.token_ids

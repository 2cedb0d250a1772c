"""The Reasoner's guard: a learnt aspect word is written only where its prompt names it, in both engines."""

import gzip
import json

import numpy as np
import pytest

from reason4rec.config import Expert
from reason4rec.experts.aspect_guard import AspectGuard
from reason4rec.experts.backend import DecodingSettings, decoding_for
from reason4rec.experts.inflection import singulars
from reason4rec.experts.shipping import learnt_vocabulary


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _word_tokens(tokenizer, *words):
    return {token for word in words for form in (word, word.capitalize()) for token in _ids(tokenizer, f" {form}")
            if len(_ids(tokenizer, f" {form}")) == 1}


def test_a_learnt_aspect_is_forbidden_unless_the_prompt_names_it_in_either_number(tokenizer):
    guard = AspectGuard(tokenizer, ["price", "string", "sound"])
    forbidden = set(guard.forbidden(_ids(tokenizer, "The user's past reviews: 1. Strap: + strings, sound")))
    assert _word_tokens(tokenizer, "price") and _word_tokens(tokenizer, "price") <= forbidden
    assert not forbidden & _word_tokens(tokenizer, "string", "strings", "sound")  # named: free to write
    assert not forbidden & _word_tokens(tokenizer, "strap", "great")  # never learnt: not the guard's to judge
    assert "battery" in singulars("batteries") and "movie" in singulars("movies") and "box" in singulars("boxes")
    plural = AspectGuard(tokenizer, ["batteries", "price"])  # a word learnt in the plural, named in the singular
    assert not set(plural.forbidden(_ids(tokenizer, "1. Tuner: + battery"))) & _word_tokens(tokenizer, "batteries")


def test_the_reasons_frame_and_filler_words_are_never_forbidden(tokenizer):
    guard = AspectGuard(tokenizer, ["needs", "looks", "thing", "price"])  # learnt once, but frame or filler
    forbidden = set(guard.forbidden(_ids(tokenizer, "The user's past reviews: 1. Strap: + strap")))
    assert not forbidden & _word_tokens(tokenizer, "needs", "looks", "thing")
    assert _word_tokens(tokenizer, "price") <= forbidden


def test_the_reasoner_is_guarded_and_the_summarizer_is_not():
    assert decoding_for(Expert.REASONER, DecodingSettings()).aspect_guard
    assert not decoding_for(Expert.SUMMARIZER, DecodingSettings()).aspect_guard
    assert not decoding_for(Expert.PREDICTOR, DecodingSettings()).aspect_guard


def test_llamacpp_decoding_picks_the_best_token_the_guard_allows(tokenizer):
    from reason4rec.experts.engines.llamacpp import _Row, choose_token

    guard = AspectGuard(tokenizer, ["price"])
    prompt = _ids(tokenizer, "Other users on this item: 1. Tuner: + tone")
    [price], [tone] = _ids(tokenizer, " price"), _ids(tokenizer, " tone")
    logits = np.zeros(len(tokenizer), dtype=np.float32)
    logits[price], logits[tone] = 5.0, 4.0
    settings = DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0)
    assert choose_token(logits, _Row(0, prompt, 8, 0, forbidden=guard.forbidden(prompt)), settings) == tone
    assert choose_token(logits, _Row(0, prompt, 8, 0), settings) == price


def test_transformers_decoding_forbids_each_rows_own_tokens(tokenizer):
    import torch

    from reason4rec.experts.backend import _forbidden_tokens

    scores = _forbidden_tokens([[3, 5], []])(torch.zeros((2, 4), dtype=torch.long), torch.zeros((2, 8)))
    assert scores[0, 3] == scores[0, 5] == -torch.inf and torch.isinf(scores[0]).sum() == 2
    assert not torch.isinf(scores[1]).any()


@pytest.mark.parametrize("engine", ["tiny_backend", "tiny_engine_backend"])
def test_both_engines_never_write_a_token_the_guard_forbids(engine, request, tokenizer, monkeypatch):
    """The tiny random experts repeat " tone" after a prompt ending in it; forbidden, they write
    something else (the guard's choice of tokens is the tests above)."""
    backend = request.getfixturevalue(engine)
    tone = sorted(_word_tokens(tokenizer, "tone"))
    monkeypatch.setattr(backend, "forbidden_for", lambda settings, ids: tone if settings.aspect_guard else [])
    prompt = "Category: Musical Instruments. The user's past reviews: 1. Capo: + grip, tone"
    loose = DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0)
    [free] = backend.complete(Expert.REASONER, [prompt], max_new_tokens=8, decoding=loose)
    [kept] = backend.complete(Expert.REASONER, [prompt], max_new_tokens=8,
                              decoding=DecodingSettings(repetition_penalty=1.0, no_repeat_ngram_size=0,
                                                        aspect_guard=True))
    assert set(free.token_ids) & set(tone) and not set(kept.token_ids) & set(tone)


def test_the_learnt_vocabulary_is_the_summaries_kept_with_the_adapters(tmp_path):
    run = tmp_path / "run"
    (run / "reasoner" / "adapter").mkdir(parents=True)
    rows = [{"review_id": f"r{i}", "version": "v", "summary": summary} for i, summary in enumerate([
        "Positive Aspects: warm tone, price\nNegative Aspects: none\nUser Preference Elements: tone",
        "Positive Aspects: price\nNegative Aspects: peddar\nUser Preference Elements: none",
        "not json"])]
    (run / "summaries.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n{torn")
    assert learnt_vocabulary({Expert.REASONER: run / "reasoner" / "adapter"}) == ["price", "tone"]  # named twice
    shipped = tmp_path / "shipped"
    (shipped / "reasoner").mkdir(parents=True)
    with gzip.open(shipped / "summaries.jsonl.gz", "wt") as handle:
        # two reviews naming "warm" (a row repeated is one summary: the cache's last row of a key wins)
        twice = [{**r, "review_id": f"{r['review_id']}-{n}"} for n in (1, 2) for r in rows[:2]]
        handle.write("\n".join(json.dumps(r) for r in twice))
    assert "warm" in learnt_vocabulary({Expert.REASONER: shipped / "reasoner"})
    assert learnt_vocabulary({Expert.REASONER: tmp_path / "none" / "reasoner"}) == []  # no summaries: no guard


def test_both_engines_read_the_vocabulary_kept_with_their_adapters(tiny_backend, tiny_engine_backend, tiny_run):
    expected = tuple(learnt_vocabulary({Expert.REASONER: tiny_run / "reasoner" / "adapter"}))
    assert expected and tiny_backend.vocabulary == expected == tiny_engine_backend.vocabulary
    assert tiny_backend.aspect_guard is not None and len(tiny_backend.aspect_guard) > 0

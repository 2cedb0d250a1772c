"""The shipped adapters on the real bundled base model: a reason and a rating for a real target."""

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shipped_backend(real_home):
    from reason4rec.config import load_config
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.shipping import adapter_dirs

    config = load_config(overrides={"home": str(real_home)})
    return config, local_backend(config, adapter_dirs(None, with_one_step=True), engine="transformers")


def test_shipped_adapters_are_small_and_carded():
    from reason4rec.experts.model.adapters import EXPERTS, AdapterCard, shipped_adapters_root

    root = shipped_adapters_root()
    for name in EXPERTS:
        card = AdapterCard.load(root / name)
        # every expert the multi recipe's (three categories) but the evaluation's one-step ablation
        assert card.recipe == ("cpu-full" if name == "one_step" else "multi")
        assert card.base_model == "smollm2-135m-instruct"
        assert ("collab_estimates" in card.data) == (name == "predictor")
        assert card.lora["layers"] == 8  # LoRA on the top 8 of 30 layers: a quarter of an all-layer adapter
        assert (root / name / "adapter_model.safetensors").stat().st_size < 4_000_000


def test_reason_and_rating_for_a_real_test_target(shipped_backend, shipped, tmp_path):
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.model.adapters import prompt_shape
    from reason4rec.experts.prompts import parse_summary, predictor_messages, reasoner_messages
    from reason4rec.experts.shipping import summary_cache
    from reason4rec.experts.summaries import target_contexts

    config, backend = shipped_backend
    shape = prompt_shape(backend.experts.cards)
    assert (shape.history_k, shape.max_review_chars) == (5, 400)  # what cpu-full trained with
    split = make_split(shipped, "leave-last-out")
    target = next(t for t in build_targets(split, "test", shape.history_k) if t.has_histories)
    [ctx] = target_contexts(backend, [target], summary_cache(tmp_path), shipped.category,
                            max_review_chars=shape.max_review_chars)
    if shape.estimates:  # a Predictor that learnt with the collaborative estimates is given them
        from reason4rec.training import attach_estimates, held_out_estimates

        [ctx] = attach_estimates([ctx], held_out_estimates(config, split, "test", [target.review]))
    assert all(parse_summary(e.summary).well_formed for e in (*ctx.user_history, *ctx.item_history))
    [reason] = backend.generate("reasoner", [reasoner_messages(ctx)])
    assert len(reason.split()) >= 5
    [dist] = backend.rate("predictor", [predictor_messages(ctx, reason)])
    assert 1.0 <= dist.expected <= 5.0 and sum(dist.probabilities) == pytest.approx(1.0)
    assert dist.probabilities[3] + dist.probabilities[4] > 0.2  # a trained Predictor favours 4-5 stars here


def test_fresh_summary_of_a_new_review_has_the_three_lines(shipped_backend):
    from reason4rec.experts.prompts import parse_summary, summarizer_messages

    _, backend = shipped_backend
    [text] = backend.generate("summarizer", [summarizer_messages(
        "Musical Instruments", "Clip-on tuner", 5, "Accurate and bright display, but the clip feels flimsy.", 400)])
    parsed = parse_summary(text)
    assert parsed.well_formed and text.lower().count("aspects") >= 1



def test_the_compiled_engine_answers_like_transformers_on_the_real_model(shipped_backend, shipped, tmp_path):
    """The default engine (here bf16 or f16 weights, adapters merged) against transformers fp32:
    the same reason start, a rating within 0.02 on the same reason."""
    from reason4rec.data.splits import build_targets, make_split
    from reason4rec.experts.engines.llamacpp import LlamaCppBackend
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.model.adapters import prompt_shape
    from reason4rec.experts.prompts import predictor_messages, reasoner_messages
    from reason4rec.experts.shipping import adapter_dirs, summary_cache
    from reason4rec.experts.summaries import target_contexts

    config, reference = shipped_backend
    engine = local_backend(config, adapter_dirs(None, with_one_step=False), engine="llamacpp")
    assert isinstance(engine, LlamaCppBackend)
    try:
        shape = prompt_shape(reference.experts.cards)
        split = make_split(shipped, "leave-last-out")
        targets = [t for t in build_targets(split, "test", shape.history_k) if t.has_histories][:2]
        contexts = target_contexts(reference, targets, summary_cache(tmp_path), shipped.category,
                                   max_review_chars=shape.max_review_chars)
        prompts = [reasoner_messages(c) for c in contexts]
        ours, theirs = engine.generate("reasoner", prompts), reference.generate("reasoner", prompts)
        tokenizer = reference.experts.tokenizer
        for a, b in zip(ours, theirs):
            assert tokenizer(a)["input_ids"][:16] == tokenizer(b)["input_ids"][:16]
        rated = [predictor_messages(c, r) for c, r in zip(contexts, theirs)]
        for x, y in zip(engine.rate("predictor", rated), reference.rate("predictor", rated)):
            assert x.expected == pytest.approx(y.expected, abs=0.02)
    finally:
        engine.close()

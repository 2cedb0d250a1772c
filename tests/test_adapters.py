import json
import shutil

import pytest

from reason4rec.experts.loading import fresh_base
from reason4rec.experts.model.adapters import AdapterError, ExpertModel, check_adapter


def _logits(experts, name):
    import torch

    ids = experts.tokenizer("Predicted Rating:", return_tensors="pt")
    with torch.no_grad(), experts.use(name) as model:
        return model(**ids).logits[0, -1]


def test_one_base_many_adapters_switched_per_call(tiny_backend):
    import torch

    experts = tiny_backend.experts
    assert set(experts.names) == {"summarizer", "reward", "reasoner", "predictor", "one_step"}
    reward, predictor, plain = _logits(experts, "reward"), _logits(experts, "predictor"), _logits(experts, None)
    assert not torch.allclose(reward, predictor)
    assert not torch.allclose(plain, predictor)
    assert torch.allclose(_logits(experts, "reward"), reward)  # switching back is exact
    assert len({v for v in experts.versions.values()}) == 5


def test_wrong_base_model_is_named(tiny_run, tmp_path, tiny_config):
    from reason4rec.experts.model.tiny import build_tiny_checkpoint

    other = build_tiny_checkpoint(tmp_path / "other", hidden_size=32)
    base = fresh_base(tiny_config.model_copy(update={"base_model": tiny_config.base_model.model_copy(
        update={"name_or_path": str(other)})}))
    with pytest.raises(AdapterError, match=r"was trained on base model .* but the loaded base is"):
        ExpertModel.load(base, {"predictor": tiny_run / "predictor" / "adapter"})


def test_missing_wrong_and_stale_adapters_are_named(tiny_run, tmp_path, tiny_config):
    base = fresh_base(tiny_config)
    with pytest.raises(AdapterError, match="not found"):
        check_adapter(tmp_path / "nothing", "reasoner", base)
    with pytest.raises(AdapterError, match="holds the 'predictor' adapter, not 'reasoner'"):
        check_adapter(tiny_run / "predictor" / "adapter", "reasoner", base)
    stale = tmp_path / "stale"
    shutil.copytree(tiny_run / "reasoner" / "adapter", stale)
    card = json.loads((stale / "card.json").read_text())
    (stale / "card.json").write_text(json.dumps({**card, "prompt_version": "p0"}))
    with pytest.raises(AdapterError, match="trained on prompts 'p0'"):
        check_adapter(stale, "reasoner", base)
    (stale / "card.json").write_text(json.dumps({**card, "prompt_version": "p1"}))  # the shipped adapters'
    assert check_adapter(stale, "reasoner", base).prompt_version == "p1"  # p2 changed only a measured order
    (stale / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterError, match="lacks"):
        check_adapter(stale, "reasoner", base)
    (stale / "card.json").write_text("{not json")
    with pytest.raises(AdapterError, match="damaged"):
        check_adapter(stale, "reasoner", base)


def test_unknown_adapter_name_is_refused(tiny_backend):
    with pytest.raises(AdapterError, match="no 'critic' adapter"), tiny_backend.experts.use("critic"):
        pass


def test_prompt_shape_comes_from_the_cards(tiny_backend):
    from reason4rec.experts.model.adapters import prompt_shape

    shape = prompt_shape(tiny_backend.experts.cards)
    assert (shape.history_k, shape.max_review_chars) == (2, 200)  # the tiny recipe's values
    assert prompt_shape({}, default_history_k=7) == type(shape)(7, 400)

import pytest

from reason4rec.config import ConfigError
from reason4rec.training.recipes import load_recipe, shipped_recipes


def test_shipped_recipes_load():
    assert {"cpu-small", "gpu-paper"} <= set(shipped_recipes())
    cpu, gpu = load_recipe("cpu-small"), load_recipe("gpu-paper")
    assert cpu.history_k < gpu.history_k == 10
    assert not cpu.reasoner.train.qlora and gpu.reasoner.train.qlora
    assert gpu.filter.tau == 0.1 and gpu.filter.max_retries == 10
    assert gpu.subset.reasoner_targets == 12000 and gpu.subset.reward_targets == 8000


def test_bad_recipes_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        load_recipe("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[reasoner]\ntrain = { epochs = -1 }\n')
    with pytest.raises(ConfigError, match=r"reasoner\.train\.epochs"):
        load_recipe(bad)
    bad.write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_recipe(bad)

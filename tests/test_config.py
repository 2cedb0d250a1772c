"""Configuration layers: defaults < TOML file < REASON4REC_* environment < overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from reason4rec.config import DEFAULT_BASE_MODEL, ConfigError, load_config


def test_defaults():
    config = load_config()
    assert config.data.split == "leave-last-out" and config.data.history_k == 10
    assert config.base_model.name_or_path == DEFAULT_BASE_MODEL
    assert config.base_model.device == "auto" and config.base_model.hub_offline is True
    assert config.home.name == "reason4rec"


def test_precedence_of_the_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    file = tmp_path / "r4r.toml"
    file.write_text('home = "/from/file"\n[data]\nseed = 1\nhistory_k = 3\nsplit = "random"\n'
                    '[base_model]\ndevice = "cpu"\n')
    from_file = load_config(file)
    assert (from_file.data.seed, from_file.data.history_k, str(from_file.home)) == (1, 3, "/from/file")

    monkeypatch.setenv("REASON4REC_DATA__SEED", "2")
    monkeypatch.setenv("REASON4REC_BASE_MODEL__LOAD_IN_4BIT", "true")
    from_env = load_config(file)
    assert from_env.data.seed == 2 and from_env.data.history_k == 3 and from_env.base_model.load_in_4bit

    final = load_config(file, {"data": {"seed": 3, "history_k": None}, "base_model": {"device": None}})
    assert final.data.seed == 3
    assert final.data.history_k == 3  # None means "flag not given": the lower layer stays
    assert final.base_model.device == "cpu" and final.data.split == "random"


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    file = tmp_path / "env.toml"
    file.write_text("[data]\nhistory_k = 7\n")
    monkeypatch.setenv("REASON4REC_CONFIG", str(file))
    assert load_config().data.history_k == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data\nseed = 1", "not valid TOML"),
        ("[data]\nhistory_k = 0\n", "data.history_k"),
        ("[data]\nsplit = 'by-month'\n", "data.split"),
        ("[data]\nunknown = 1\n", "data.unknown"),
        ("[base_model]\nname_or_path = '  '\n", "must name a model"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, message: str):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(file)


def test_missing_file_and_bad_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    monkeypatch.setenv("REASON4REC_DATA__SEED", "many")
    with pytest.raises(ConfigError, match=r"data\.seed"):
        load_config()


def test_the_agent_drafts_two_rounds_unless_asked_and_rounds_are_bounded(monkeypatch: pytest.MonkeyPatch):
    assert (load_config().agent.reason_drafts, load_config().agent.reason_rounds) == (4, 2)
    monkeypatch.setenv("REASON4REC_AGENT__REASON_ROUNDS", "1")
    assert load_config().agent.reason_rounds == 1
    monkeypatch.setenv("REASON4REC_AGENT__REASON_ROUNDS", "0")
    with pytest.raises(ConfigError, match=r"agent\.reason_rounds"):
        load_config()

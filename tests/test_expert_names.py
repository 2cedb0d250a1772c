"""Expert names are one typed, closed set from the config to the backend, and still read as plain names."""

import json

import pytest

from reason4rec.config import Expert
from reason4rec.experts.model.adapters import EXPERTS, SERVING_EXPERTS, AdapterCard, AdapterError, shipped_adapters_root
from reason4rec.experts.shipping import adapter_dirs, find_adapters
from reason4rec.training.pipeline import STAGES, PipelineError, parse_stages


def test_the_enum_is_the_name_on_disk_in_json_and_in_messages():
    assert Expert.REASONER == "reasoner" and f"{Expert.ONE_STEP}" == "one_step"
    assert json.dumps({Expert.PREDICTOR: 1}) == '{"predictor": 1}'
    assert f"no {Expert.SUMMARIZER!r} adapter" == "no 'summarizer' adapter"
    # a run key written as JSON compares equal to one built from the enum
    assert json.loads(json.dumps({Expert.PREDICTOR: "v1"})) == {Expert.PREDICTOR: "v1"}


def test_every_expert_is_a_stage_in_training_order():
    assert STAGES == EXPERTS == tuple(Expert)
    assert [e.value for e in STAGES] == ["summarizer", "reward", "reasoner", "predictor", "one_step"]
    assert set(SERVING_EXPERTS) == {Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR}


def test_stage_names_from_a_person_become_experts():
    assert parse_stages(["one-step", "reward"]) == [Expert.ONE_STEP, Expert.REWARD]
    assert parse_stages(["all"]) == list(Expert)
    assert all(isinstance(stage, Expert) for stage in parse_stages(["predictor"]))
    with pytest.raises(PipelineError, match=r"unknown stage\(s\) \['critic'\]"):
        parse_stages(["predictor", "critic"])


def test_shipped_adapters_are_found_by_expert():
    dirs = adapter_dirs()
    assert set(dirs) == {*SERVING_EXPERTS, Expert.ONE_STEP}
    assert all(isinstance(name, Expert) for name in dirs)
    assert AdapterCard.load(dirs[Expert.REASONER]).expert is Expert.REASONER
    assert set(find_adapters(shipped_adapters_root())) == {*dirs, Expert.REWARD}  # reward ships for training


def test_a_card_naming_an_unknown_expert_is_refused(tmp_path):
    card = json.loads((shipped_adapters_root() / "predictor" / "card.json").read_text())
    (tmp_path / "card.json").write_text(json.dumps({**card, "expert": "critic"}))
    with pytest.raises(AdapterError, match="names no known expert \\('critic'; known: summarizer, reward"):
        AdapterCard.load(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({k: v for k, v in card.items() if k != "expert"}))
    with pytest.raises(AdapterError, match=r"names no known expert \(None"):
        AdapterCard.load(tmp_path)
    (tmp_path / "card.json").write_text("[1, 2]")
    with pytest.raises(AdapterError, match="damaged"):
        AdapterCard.load(tmp_path)

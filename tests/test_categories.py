"""Honest about what the experts know (issue 36): cards list the categories they were trained on,
and reviews of another category get one plain line with the command that fits the experts."""

import json
import shutil

from reason4rec.data import among_categories
from reason4rec.experts.model.adapters import SERVING_EXPERTS, AdapterCard, shipped_adapter_dirs
from reason4rec.experts.shipping import category_notice

SHIPPED_CATEGORIES = ("Musical Instruments", "Gift Cards", "Magazine Subscriptions")
"""What the shipped experts (the ``multi`` recipe, 2026-12-06) were trained on."""


def test_the_shipped_cards_say_what_they_were_trained_on():
    for name, folder in shipped_adapter_dirs().items():
        if name != "one_step":
            assert AdapterCard.load(folder).categories == SHIPPED_CATEGORIES, name
        else:  # the evaluation's one-step ablation was not retrained
            assert AdapterCard.load(folder).categories == ("Musical Instruments",), name


def test_another_category_is_said_with_the_command_that_fits_the_experts(tmp_path):
    for known in (*SHIPPED_CATEGORIES, "musical instruments"):
        assert category_notice(known) is None, known
    said = category_notice("Digital Music")
    assert said and ("trained on Gift Cards, Magazine Subscriptions and Musical Instruments reviews, "
                     "not Digital Music") in said
    assert '`reason4rec train all --recipe adapt --reviews FILE --category "Digital Music"`' in said
    assert '`reason4rec calibrate --reviews FILE --category "Digital Music"`' in said
    assert "\n" not in said
    unrecorded = tmp_path / "adapters"  # a run from before cards recorded categories: nothing is claimed
    for name, folder in shipped_adapter_dirs().items():
        if name in SERVING_EXPERTS:
            shutil.copytree(folder, unrecorded / name)
            card = json.loads((unrecorded / name / "card.json").read_text())
            card["data"].pop("categories")
            (unrecorded / name / "card.json").write_text(json.dumps(card))
    assert category_notice("Digital Music", unrecorded) is None


def test_the_agent_and_the_evaluation_say_so_once_when_opened(tiny_eval_config):
    from rich.console import Console

    from reason4rec.app import resources

    console = Console(record=True, width=300)
    other = tiny_eval_config.model_copy(update={"data": tiny_eval_config.data.model_copy(
        update={"category": "Digital Music"})})
    resources.say_category(other, "Digital Music", None, console)
    said = console.export_text()
    assert said.count("note:") == 1 and "not Digital Music" in said and "reason4rec train all" in said
    resources.say_category(tiny_eval_config, "Musical Instruments", None, console)
    assert "note:" not in console.export_text()  # the shipped category: nothing to say (export_text cleared)


def test_the_category_of_a_configured_file_is_the_one_its_name_carries(tmp_path, ram_memory):
    """A memory and an agent on a person's McAuley file name that file's category in their prompts
    (and look up its calibration), not the shipped data's, when no category is configured."""
    import pytest
    from fakes import FakeBackend

    from reason4rec.agent import open_context
    from reason4rec.config import DataConfig, load_config
    from reason4rec.data import DataError, configured_category

    assert configured_category(DataConfig()) == "Musical Instruments"
    magazines = DataConfig(reviews_path="x/Magazine_Subscriptions_5.json.gz")
    assert configured_category(magazines) == "Magazine Subscriptions"
    assert configured_category(DataConfig(reviews_path="Gift_Cards_5.json.gz", category="Cards")) == "Cards"
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"user_id": "u", "item_id": "i", "rating": 5, "timestamp": 1, "review_text": "ok"}\n')
    with pytest.raises(DataError, match="--category"):
        configured_category(DataConfig(reviews_path=mine))
    config = load_config(overrides={"home": str(tmp_path), "data": {"reviews_path": "Gift_Cards_5.json.gz"}})
    assert open_context(config, backend=FakeBackend(), memory=ram_memory).category == "Gift Cards"


def test_a_memory_opened_on_a_configured_file_is_of_that_files_category(tiny_eval_config):
    """Memory.open keys the memory (and the profiles' prompts) by the configured file's category."""
    from reason4rec.memory import Memory

    data = tiny_eval_config.data.model_copy(update={"reviews_path": "elsewhere/Gift_Cards_5.json.gz", "category": None})
    with Memory.open(tiny_eval_config.model_copy(update={"data": data})) as memory:
        assert memory.category == "Gift Cards"


def test_category_names_compare_without_case():
    assert among_categories("gift cards", ("Musical Instruments", "Gift Cards"))
    assert not among_categories("Gift Card", ("Gift Cards",)) and not among_categories("Gift Cards", ())

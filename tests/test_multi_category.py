"""Experts trained on more than one category (issue 36, item 1): a recipe's ``also`` files are merged
with the configured reviews, each item keeps its own category, and every prompt names the category
of the item it is about, so the experts learn aspects from the reviews, not one category's words."""

import json
from pathlib import Path

import pytest

from reason4rec.data import DataError, build_targets, load_reviews, make_split, merge_datasets, shipped_path
from reason4rec.experts.model.adapters import AdapterCard
from reason4rec.training.pipeline import TrainingPipeline
from reason4rec.training.recipes import ExtraReviews, load_recipe
from reason4rec.training.teachers import OfflineTeacher

EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extra"
MAGAZINES = EXTRA / "Magazine_Subscriptions_5.json.gz"
GIFT_CARDS = EXTRA / "Gift_Cards_5.json.gz"
needs_shared = pytest.mark.skipif(not MAGAZINES.is_file(), reason="shared data not here")


def _small(path: Path, users: int, **options):
    """The first ``users`` users' reviews of a file: small enough for the tiny model, still real."""
    dataset = load_reviews(path, **options)
    kept = set(sorted({r.user_id for r in dataset.reviews})[:users])
    dataset.reviews = [r for r in dataset.reviews if r.user_id in kept]
    return dataset


@needs_shared
def test_merged_files_keep_each_items_category_and_every_review():
    instruments = load_reviews(shipped_path(), category="Musical Instruments")
    magazines = load_reviews(MAGAZINES, on_duplicate="keep-latest")
    merged = merge_datasets([instruments, magazines])
    assert len(merged) == len(instruments) + len(magazines)
    assert merged.categories == ("Musical Instruments", "Magazine Subscriptions")
    a_magazine, an_instrument = magazines.reviews[0].item_id, instruments.reviews[0].item_id
    assert merged.category_of(a_magazine) == "Magazine Subscriptions"
    assert merged.category_of(an_instrument) == "Musical Instruments" == merged.category
    assert len({r.position for r in merged.reviews}) == len(merged)  # file order kept, ties still broken
    assert merged.title(a_magazine) == magazines.title(a_magazine)
    assert merged.report.missing_text == instruments.report.missing_text + magazines.report.missing_text


def test_one_item_in_two_files_is_refused_with_the_files_named():
    instruments = load_reviews(shipped_path(), category="Musical Instruments")
    again = load_reviews(shipped_path(), category="Guitars")
    again.source = "guitars.jsonl"
    with pytest.raises(DataError, match=r"guitars\.jsonl and .* both hold item .* merge review files of separate"):
        merge_datasets([instruments, again])
    with pytest.raises(DataError, match="no review files"):
        merge_datasets([])


@needs_shared
def test_a_recipe_that_also_trains_on_other_files_names_each_items_category_in_every_prompt(
        tiny_config, tiny_recipe_path, tmp_path):
    instruments = _small(shipped_path(), 120, category="Musical Instruments")
    recipe = load_recipe(tiny_recipe_path)
    also = [ExtraReviews(reviews=str(path), on_duplicate="keep-latest") for path in (MAGAZINES, GIFT_CARDS)]
    recipe = recipe.model_copy(update={"also": also, "subset": recipe.subset.model_copy(
        update={"summarizer_reviews": 40})})
    said: list[str] = []
    pipeline = TrainingPipeline(tiny_config, recipe, tmp_path / "run", OfflineTeacher(), dataset=instruments,
                                say=said.append)
    assert pipeline.dataset.categories == ("Musical Instruments", "Magazine Subscriptions", "Gift Cards")
    pipeline.run(["summarizer"])
    assert said[0].startswith(f"[data] Musical Instruments ({len(instruments):,} reviews), Magazine Subscriptions (")
    card = AdapterCard.load(pipeline.adapter_dir("summarizer"))
    assert card.categories == ("Musical Instruments", "Magazine Subscriptions", "Gift Cards")
    prompts = [json.loads(line)["messages"][-1]["content"]
               for line in (pipeline.stage_dir("summarizer") / "data.jsonl").read_text().splitlines()]
    named = {c for c in pipeline.dataset.categories for p in prompts if f"Summarize this {c} review" in p}
    assert named == set(pipeline.dataset.categories)  # 40 reviews drawn from all three files
    found = [t for t in build_targets(make_split(pipeline.dataset, "leave-last-out"), "test", 2) if t.has_histories]
    targets = [t for c in pipeline.dataset.categories
               for t in [t for t in found if pipeline.dataset.category_of(t.review.item_id) == c][:2]]
    contexts = pipeline._contexts(targets)
    assert {c.category for c in contexts} == set(pipeline.dataset.categories)
    for target, context in zip(targets, contexts):
        assert context.category == pipeline.dataset.category_of(target.review.item_id)


def test_a_missing_extra_file_is_refused_before_anything_trains(tiny_config, tiny_recipe_path, tmp_path):
    recipe = replace_also(load_recipe(tiny_recipe_path), tmp_path / "Board_Games_5.json.gz")
    with pytest.raises(DataError, match=r"Board_Games_5\.json\.gz"):
        TrainingPipeline(tiny_config, recipe, tmp_path / "run", OfflineTeacher())
    assert not (tmp_path / "run").exists()
    unnamed = replace_also(load_recipe(tiny_recipe_path), tmp_path / "mine.jsonl")
    (tmp_path / "mine.jsonl").write_text('{"user_id": "u", "item_id": "i", "rating": 5, "timestamp": 1, '
                                         '"review_text": "ok"}\n')
    with pytest.raises(DataError, match=r'mine\.jsonl: its name does not say .* --category'):
        TrainingPipeline(tiny_config, unnamed, tmp_path / "run", OfflineTeacher())


def test_the_multi_category_recipe_names_the_shared_files():
    recipe = load_recipe("multi")
    assert recipe.start == "shipped" and recipe.collab.estimates
    assert [Path(source.reviews).name for source in recipe.also] == ["Gift_Cards_5.json.gz",
                                                                     "Magazine_Subscriptions_5.json.gz"]
    assert all(source.meta and Path(source.meta).name.startswith("meta_") for source in recipe.also)


def replace_also(recipe, path: Path):
    return recipe.model_copy(update={"also": [ExtraReviews(reviews=str(path))]})



def test_each_leave_one_category_out_recipe_trains_on_the_other_files_only():
    held_out = {"loco-gift-cards": "Gift_Cards", "loco-magazine-subscriptions": "Magazine_Subscriptions",
                "loco-musical-instruments": "Musical_Instruments"}
    for name, category in held_out.items():
        recipe = load_recipe(name)
        assert recipe.also and all(category not in source.reviews for source in recipe.also), name
        assert recipe.held_out == category.replace("_", " "), name  # enforced: tests/test_adapt.py
        # only the other two holdouts start from trained experts (instruments-only ones: --adapters)
        assert recipe.start == ("fresh" if category == "Musical_Instruments" else "shipped"), name
        multi = load_recipe("multi")
        assert (recipe.reasoner_stars, recipe.filter, recipe.collab, recipe.subset.predictor_pool) == (
            multi.reasoner_stars, multi.filter, multi.collab, multi.subset.predictor_pool), name


@needs_shared
def test_train_also_adds_a_file_with_the_metadata_beside_it():
    from reason4rec.training import with_extra_reviews

    recipe = with_extra_reviews(load_recipe("adapt"), [GIFT_CARDS], "keep-latest")
    [extra] = recipe.also
    assert Path(extra.reviews) == GIFT_CARDS and extra.meta == str(EXTRA / "meta_Gift_Cards.json.gz")
    assert extra.on_duplicate == "keep-latest" and with_extra_reviews(recipe, []) is recipe


def test_train_also_with_a_missing_file_is_one_line_before_any_model_loads(tmp_path):
    from test_cli import run_cli

    result = run_cli("train", "all", "--recipe", "adapt", "--also", str(tmp_path / "Board_Games_5.json.gz"),
                     "--model", str(tmp_path / "no-model"), home=tmp_path)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "Board_Games_5.json.gz" in said and "not found" in said
    assert not (tmp_path / "runs").exists() and not (tmp_path / "models").exists()

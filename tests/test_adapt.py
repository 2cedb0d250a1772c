"""Adapting the shipped experts to a person's file (issue 36): the ``adapt`` recipe fine-tunes from
trained adapters, fits its subsets to the file, refuses one too small before training, asks for a
category it cannot guess, and reports before/after measures on the file's validation targets."""

import json
from pathlib import Path

import pytest

from reason4rec.config import Expert
from reason4rec.data import DataError, load_reviews, shipped_path
from reason4rec.data.loaders import require_category
from reason4rec.experts.model.adapters import EXPERTS, AdapterCard
from reason4rec.training.pipeline import PipelineError, TrainingPipeline
from reason4rec.training.recipes import load_recipe
from reason4rec.training.sft_types import TrainingError
from reason4rec.training.teachers import OfflineTeacher

EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extra"
MAGAZINES = EXTRA / "Magazine_Subscriptions_5.json.gz"


def _adapt_recipe(tiny_recipe_path: Path, tmp_path: Path) -> Path:
    """The tiny test recipe, made to adapt: starts from trained adapters, fits the file, reports,
    calibrates."""
    text = tiny_recipe_path.read_text().replace('name = "tiny-test"', 'name = "tiny-adapt"\nstart = "shipped"')
    text = text.replace("[filter]", "min_fraction = 0.5\n[report]\nvalidation_targets = 4\n"
                                    "[calibrate]\nvalidation_targets = 50\n[filter]")
    path = tmp_path / "tiny-adapt.toml"
    path.write_text(text)
    return path


def test_the_adapt_recipe_starts_from_the_shipped_adapters_and_fits_the_file():
    recipe = load_recipe("adapt")
    assert recipe.start == "shipped" and 0 < recipe.subset.min_fraction <= 1
    assert recipe.report.validation_targets > 0 and recipe.history_k == 5  # the shipped adapters' prompts
    assert all(recipe.expert(e).train.engine == "top-layers" for e in EXPERTS)
    assert load_recipe("cpu-full").start == "fresh" and load_recipe("cpu-full").subset.min_fraction == 0


def test_the_adapt_recipe_teaches_the_predictor_as_the_shipped_one_learnt():
    """Fine-tuned otherwise, the adapted Predictor learnt to trust verdicts whose teacher saw the
    rating, and forgot how to rate with no reason (instruments, 40 validation targets: MAE 0.611 ->
    0.703, without the reason 0.740 -> 0.900)."""
    from reason4rec.experts import find_adapters, shipped_adapters_root

    shipped = AdapterCard.load(find_adapters(shipped_adapters_root())[Expert.PREDICTOR]).data
    recipe = load_recipe("adapt")
    assert recipe.subset.predictor_pool == shipped["pool"] == "unseen-by-reasoner"
    assert recipe.collab.none_fraction == shipped["none_fraction"] > 0
    assert recipe.calibrate.validation_targets >= 50


def test_a_file_too_small_to_adapt_on_is_refused_before_anything_trains(tiny_config, tmp_path, monkeypatch):
    from reason4rec.training import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "fresh_base", lambda *a, **k: pytest.fail("a model was loaded"))
    shipped = load_reviews(shipped_path(), category="Musical Instruments")
    first_users = sorted({r.user_id for r in shipped.reviews})[:60]
    small = load_reviews(shipped_path(), category="Musical Instruments")
    small.reviews = [r for r in shipped.reviews if r.user_id in first_users]
    with pytest.raises(PipelineError) as refused:
        TrainingPipeline(tiny_config, load_recipe("adapt"), tmp_path / "run", OfflineTeacher(), dataset=small)
    said = str(refused.value)
    assert f"too small to adapt on ({len(small.reviews):,} reviews)" in said and "nothing was trained" in said
    assert "training targets with user and item histories (it has" in said and "reviews like these would do" in said
    assert "\n" not in said and not (tmp_path / "run").exists()


@pytest.mark.skipif(not MAGAZINES.is_file(), reason="shared data not here")
def test_the_magazine_file_is_big_enough_and_its_subsets_fit_it(tiny_config, tmp_path):
    magazines = load_reviews(MAGAZINES, on_duplicate="keep-latest")
    assert magazines.category == require_category(MAGAZINES) == "Magazine Subscriptions"
    pipeline = TrainingPipeline(tiny_config, load_recipe("adapt"), tmp_path, OfflineTeacher(), dataset=magazines)
    recipe = load_recipe("adapt")
    assert len(pipeline._reward_targets) == recipe.subset.reward_targets  # 1,146 targets: plenty
    assert len(pipeline._validation_targets()) == recipe.report.validation_targets


def test_a_short_file_shrinks_the_reward_and_reasoner_subsets_in_proportion(tiny_config, tmp_path, shipped):
    recipe = load_recipe("adapt")
    bigger = recipe.model_copy(update={"subset": recipe.subset.model_copy(update={"reward_targets": 4000,
                                                                               "reasoner_targets": 2000})})
    pipeline = TrainingPipeline(tiny_config, bigger, tmp_path, OfflineTeacher(), dataset=shipped)
    available = pipeline.training_targets_available()  # 5,323: short of 6,000, more than half
    assert len(pipeline._reward_targets) + len(pipeline._reasoner_targets) == available
    assert abs(len(pipeline._reward_targets) - 2 * len(pipeline._reasoner_targets)) <= 2


def test_a_file_whose_name_says_no_category_is_asked_for_one(tmp_path):
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"user_id": "u", "item_id": "i", "rating": 5, "timestamp": 1, "review_text": "ok"}\n')
    with pytest.raises(DataError, match=r'mine\.jsonl: its name does not say .* --category "Board Games"'):
        require_category(mine)
    with pytest.raises(DataError, match="review file not found"):  # missing is said first
        require_category(tmp_path / "gone.jsonl")
    assert require_category(Path("reviews_Musical_Instruments_5.json.gz")) == "Musical Instruments"


@pytest.mark.parametrize("command", [("train", "all", "--recipe", "adapt"), ("eval", "--limit", "2"),
                                     ("memory", "build")])
def test_train_eval_and_memory_build_ask_for_the_category_before_any_model_loads(command, tmp_path):
    from test_cli import run_cli

    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"user_id": "u", "item_id": "i", "rating": 5, "timestamp": 1, "review_text": "ok"}\n')
    result = run_cli(*command, "--reviews", str(mine), "--model", str(tmp_path / "no-model"), home=tmp_path) \
        if command[0] != "memory" else run_cli(*command, "--reviews", str(mine), home=tmp_path)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "mine.jsonl: its name does not say what the reviews are about" in said and "--category" in said
    assert not (tmp_path / "memory").exists() and not (tmp_path / "models").exists()


def test_start_weights_are_loaded_exactly_and_a_misfit_is_refused(tiny_config, tiny_run):
    from peft import get_peft_model, get_peft_model_state_dict
    from safetensors.torch import load_file

    from reason4rec.experts import fresh_base
    from reason4rec.training.sft_types import LoraSettings, lora_config
    from reason4rec.training.warm_start import load_start_weights

    folder = tiny_run / "predictor" / "adapter"
    card = AdapterCard.load(folder)
    base = fresh_base(tiny_config)
    layers = base.model.config.num_hidden_layers
    model = get_peft_model(base.model, lora_config(LoraSettings(**card.lora), layers))
    load_start_weights(model, folder)
    stored, loaded = load_file(str(folder / "adapter_model.safetensors")), get_peft_model_state_dict(model)
    assert stored.keys() == loaded.keys() and all((stored[k] == loaded[k]).all() for k in stored)
    other = get_peft_model(fresh_base(tiny_config).model, lora_config(LoraSettings(r=4, layers=1), layers))
    with pytest.raises(TrainingError, match="does not fit this LoRA"):
        load_start_weights(other, folder)


@pytest.fixture(scope="module")
def adapted(tiny_config, tiny_run, tiny_recipe_path, tmp_path_factory):
    """Every stage of a tiny adapt run from the tiny run's adapters, on the shipped reviews named
    as another category (so the cards must carry both)."""
    folder = tmp_path_factory.mktemp("adapt")
    dataset = load_reviews(shipped_path(), category="Studio Gear")
    said: list[str] = []
    pipeline = TrainingPipeline(tiny_config, load_recipe(_adapt_recipe(tiny_recipe_path, folder)), folder / "run",
                                OfflineTeacher(), say=said.append, dataset=dataset,
                                start_adapters={e: tiny_run / e / "adapter" for e in EXPERTS})
    pipeline.run(["all"])
    return pipeline, said


def test_adapted_cards_record_where_they_started_and_both_categories(adapted, tiny_run):
    pipeline, said = adapted
    for expert in EXPERTS:
        card = AdapterCard.load(pipeline.adapter_dir(expert))
        start = AdapterCard.load(tiny_run / expert / "adapter")
        assert card.categories == (*start.categories, "Studio Gear") and card.recipe == "tiny-adapt"
        assert card.data["started_from"]["adapter"] == str(tiny_run / expert / "adapter")
        shape = ("r", "alpha", "layers", "target_modules")
        assert {k: card.lora[k] for k in shape} == {k: start.lora[k] for k in shape}
    assert any(line.startswith("[summarizer] stage 1 of 5") and "fine-tuning" in line for line in said)


def test_the_report_compares_before_and_after_on_the_same_validation_targets(adapted):
    pipeline, said = adapted
    folder = pipeline.run_dir / "report"
    before, after = (json.loads((folder / f"{side}.json").read_text()) for side in ("before", "after"))
    ids = [row["review_id"] for row in before["targets"]]
    assert len(ids) == 4 and ids == [row["review_id"] for row in after["targets"]]
    assert before["key"]["versions"] != after["key"]["versions"]
    report = json.loads((folder / "report.json").read_text())
    assert {"before", "after", "difference"} <= set(report) and len(report["difference"]["mae"]) == 3
    assert any(line.startswith("[report] 4 validation targets of this file, before -> after") for line in said)
    assert any("MAE " in line and " -> " in line for line in said)


def test_the_run_fits_its_calibration_where_its_adapters_find_it(adapted):
    from reason4rec.experts import adapter_version, calibrations_for

    pipeline, said = adapted
    found = calibrations_for(pipeline.config, pipeline.run_dir).find("Studio Gear")
    assert found is not None and found.targets == 50 and found.fitted_on["split"] == pipeline.split.name
    assert found.experts == {e.value: adapter_version(pipeline.adapter_dir(e)) for e in (
        Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR)}
    assert (pipeline.run_dir / "calibrations" / "studio-gear.json").is_file()
    assert any(line.startswith("[calibrate] Studio Gear: ") and "written to" in line for line in said)
    assert calibrations_for(pipeline.config).find("Studio Gear") is None  # the shipped experts: not theirs


def test_a_finished_adapt_run_trains_and_measures_nothing_again(adapted, monkeypatch):
    from reason4rec.training import adapt_report

    pipeline, _ = adapted
    monkeypatch.setattr(adapt_report, "open_experts", lambda *a, **k: pytest.fail("measured again"))
    said: list[str] = []
    again = TrainingPipeline(pipeline.config, pipeline.recipe, pipeline.run_dir, OfflineTeacher(), say=said.append,
                             dataset=pipeline.dataset, start_adapters=pipeline.start_adapters)
    again.run(["all"])
    assert sum("already trained" in line for line in said) == len(EXPERTS)
    assert any(line.startswith("[report] 4 validation targets") for line in said)
    assert any(line.startswith("[calibrate] already fitted") for line in said)


def test_recipe_start_shipped_without_an_adapter_for_a_stage_is_refused(tiny_config, tiny_recipe_path, tmp_path,
                                                                         shipped):
    recipe = load_recipe(_adapt_recipe(tiny_recipe_path, tmp_path))
    pipeline = TrainingPipeline(tiny_config, recipe, tmp_path / "run", OfflineTeacher(), dataset=shipped,
                                start_adapters={Expert.SUMMARIZER: tmp_path})
    with pytest.raises(PipelineError, match="fine-tunes existing adapters, but there is none for reward"):
        pipeline.run(["summarizer", "reward"])


def _held_out(recipe_path: Path, category: str):
    return load_recipe(recipe_path).model_copy(update={"held_out": category})


def test_a_held_out_category_in_the_training_data_is_refused_before_anything_is_sampled(
        tiny_config, tiny_recipe_path, tmp_path, shipped):
    recipe = _held_out(_adapt_recipe(tiny_recipe_path, tmp_path), "musical instruments")
    with pytest.raises(PipelineError) as refused:
        TrainingPipeline(tiny_config, recipe, tmp_path / "run", OfflineTeacher(), dataset=shipped)
    said = str(refused.value)
    assert "holds out musical instruments, but the training data has" in said and "nothing was trained" in said
    assert not (tmp_path / "run").exists()
    TrainingPipeline(tiny_config, _held_out(_adapt_recipe(tiny_recipe_path, tmp_path), "Gift Cards"),
                     tmp_path / "run", OfflineTeacher(), dataset=shipped)  # another category: accepted


@pytest.mark.skipif(not MAGAZINES.is_file(), reason="shared data not here")
def test_adapters_that_learnt_the_held_out_category_are_refused_and_unlabelled_ones_are_flagged(
        tiny_config, tiny_run, tiny_recipe_path, tmp_path, monkeypatch):
    """A leave-one-category-out run must not fine-tune experts that already saw the category
    (the experts shipped since 2026-12-06 know all three shared ones)."""
    import shutil

    from reason4rec.training import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "fresh_base", lambda *a, **k: pytest.fail("a model was loaded"))
    magazines = load_reviews(MAGAZINES, on_duplicate="keep-latest")
    recipe = _held_out(_adapt_recipe(tiny_recipe_path, tmp_path), "Musical Instruments")
    assert all("Musical Instruments" in AdapterCard.load(tiny_run / e / "adapter").categories for e in EXPERTS)
    mine = tiny_config.model_copy(deep=True)
    mine.agent.adapters = tiny_run
    pipeline = TrainingPipeline(mine, recipe, tmp_path / "run", OfflineTeacher(), dataset=magazines)
    refused = r"holds out Musical Instruments, but the summarizer, reward, .* adapters in .* learnt it: pass --adapters"
    with pytest.raises(PipelineError, match=refused):
        pipeline.run(["all"])
    assert not (tmp_path / "run" / "summarizer").exists()
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(tiny_run, unlabelled, ignore=shutil.ignore_patterns("*.jsonl", "*.gz"))
    for expert in EXPERTS:
        card = json.loads((unlabelled / expert / "adapter" / "card.json").read_text())
        card["data"].pop("categories")
        (unlabelled / expert / "adapter" / "card.json").write_text(json.dumps(card))
    mine.agent.adapters = unlabelled
    said: list[str] = []
    TrainingPipeline(mine, recipe, tmp_path / "run", OfflineTeacher(), say=said.append,
                     dataset=magazines)._check_start(list(EXPERTS))
    assert len(said) == 1 and "do not list their categories: make sure they never saw Musical Instruments" in said[0]


@pytest.mark.skipif(not (EXTRA / "meta_Magazine_Subscriptions.json.gz").is_file(), reason="shared data not here")
def test_adapting_on_magazines_shows_no_markup_title_in_any_training_prompt(tiny_config, tmp_path):
    from reason4rec.data import looks_like_markup

    magazines = load_reviews(MAGAZINES, EXTRA / "meta_Magazine_Subscriptions.json.gz", on_duplicate="keep-latest")
    pipeline = TrainingPipeline(tiny_config, load_recipe("adapt"), tmp_path, OfflineTeacher(), dataset=magazines)
    prompts = [pipeline._summarizer_prompt(r)[-1]["content"] for r in pipeline.split.train]
    items = {line for prompt in prompts for line in prompt.splitlines() if line.startswith("Item: ")}
    assert len(items) > 100 and not any(looks_like_markup(line) or "a-size-medium" in line for line in items)
    assert "Item: Glamour" in items  # a name read from the description


def test_a_run_saved_before_the_new_recipe_fields_is_not_called_changed(tiny_config, tmp_path, shipped):
    recipe = load_recipe("cpu-small")
    saved = json.loads(recipe.model_dump_json())
    saved.pop("start"), saved.pop("report"), saved["subset"].pop("min_fraction")
    (tmp_path / "recipe.json").write_text(json.dumps(saved))
    pipeline = TrainingPipeline(tiny_config, recipe, tmp_path, OfflineTeacher(), dataset=shipped)
    assert pipeline._recipe_changes() == []
    saved["subset"]["reward_targets"] = 1
    (tmp_path / "recipe.json").write_text(json.dumps(saved))
    assert pipeline._recipe_changes() == ["subset"]


def test_train_reads_item_titles_too():
    from test_cli import run_cli

    result = run_cli("train", "--help")
    assert result.returncode == 0 and "--meta" in result.stdout and "adapt" in result.stdout


def test_the_experts_a_person_uses_are_the_ones_a_fine_tuning_recipe_starts_from(tiny_config, tiny_run,
                                                                                tiny_recipe_path, tmp_path, shipped):
    """`train --adapters RUN` (or `[agent] adapters`): adapting a multi-category or adapted run to
    another file; the run records what it started from and a resume from other adapters says so."""
    from reason4rec.app.train import default_run

    recipe = load_recipe(_adapt_recipe(tiny_recipe_path, tmp_path))
    mine = tiny_config.model_copy(deep=True)
    mine.agent.adapters = tiny_run
    said: list[str] = []
    pipeline = TrainingPipeline(mine, recipe, tmp_path / "run", OfflineTeacher(), say=said.append, dataset=shipped)
    assert pipeline.start_adapters == {e: tiny_run / e / "adapter" for e in EXPERTS}
    pipeline.run_dir.mkdir()
    pipeline._record_start()
    recorded = json.loads((pipeline.run_dir / "start.json").read_text())
    assert recorded == {e.value: str(tiny_run / e / "adapter") for e in sorted(EXPERTS)} and not said
    shipped_start = TrainingPipeline(tiny_config, recipe, pipeline.run_dir, OfflineTeacher(), say=said.append,
                                     dataset=shipped)
    assert shipped_start.start_root != tiny_run
    shipped_start._record_start()
    assert said == [f"[run] {pipeline.run_dir} fine-tuned other adapters before ({tiny_run}); stages already "
                    f"trained are kept as they are, the others start from {shipped_start.start_root}"]
    assert default_run(tiny_config, "adapt", "shipped", "Board Games").name == "adapt-board-games"
    assert default_run(mine, "adapt", "shipped", "Board Games").name == f"adapt-board-games-from-{tiny_run.name}"
    assert default_run(mine, "cpu-small", "fresh", "Board Games").name == "cpu-small"


def test_train_from_a_folder_without_adapters_is_refused_in_one_line_before_any_model_loads(tmp_path):
    from test_cli import run_cli

    result = run_cli("train", "all", "--recipe", "adapt", "--adapters", str(tmp_path / "nothing-here"),
                     "--model", str(tmp_path / "no-model"), home=tmp_path)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "recipe adapt fine-tunes existing adapters, but there is none for summarizer, reward" in said
    assert f"(looked in {tmp_path / 'nothing-here'})" in said
    assert not (tmp_path / "models").exists()

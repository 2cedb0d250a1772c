import json

import pytest

from reason4rec.data.leakage import leaks_rating
from reason4rec.experts.model.adapters import EXPERTS, AdapterCard
from reason4rec.experts.prompts import clean_text
from reason4rec.training.pipeline import PipelineError, TrainingPipeline
from reason4rec.training.recipes import load_recipe
from reason4rec.training.teachers import OfflineTeacher


def test_every_stage_writes_data_adapter_and_card(tiny_run):
    for stage in EXPERTS:
        card = AdapterCard.load(tiny_run / stage / "adapter")
        assert card.expert == stage and card.recipe == "tiny-test"
        assert card.training["steps"] >= 1 and card.training["examples"] >= 1
        assert card.training["seconds"] > 0 and card.training["final_loss"] is not None
        assert (tiny_run / stage / "data.jsonl").is_file()
    assert (tiny_run / "summaries.jsonl").is_file()


def test_reward_filter_report_adds_up_and_no_reason_leaks(tiny_run):
    report = json.loads((tiny_run / "reasoner" / "filter.json").read_text())
    assert report["kept"] + report["dropped"] == report["targets"] == 6
    assert report["candidates"] == (report["kept"] + report["leaks_rejected"] + report["empty_rejected"]
                                    + report["reward_rejected"])
    accepted = [json.loads(line) for line in (tiny_run / "reasoner" / "accepted.jsonl").read_text().splitlines()]
    assert len(accepted) == report["kept"] and accepted
    assert all(leaks_rating(a["reason"]) is None for a in accepted)
    scores = (tiny_run / "reasoner" / "reward-scores.jsonl").read_text().splitlines()  # what a rerun reuses
    scored = report["targets"] + report["candidates"] - report["leaks_rejected"] - report["empty_rejected"]
    keys = [json.loads(line)["review_id"] for line in scores]
    assert len(set(keys)) == len(keys) and report["targets"] < len(keys) <= scored  # a pair asked again is not


def test_predictor_learns_from_the_trained_reasoners_own_reasons(tiny_run):
    generated = {json.loads(line)["review_id"]: json.loads(line)["summary"]
                 for line in (tiny_run / "predictor" / "reasons.jsonl").read_text().splitlines()}
    accepted = [json.loads(line) for line in (tiny_run / "reasoner" / "accepted.jsonl").read_text().splitlines()]
    assert {a["key"] for a in accepted} < set(generated) and len(generated) == 9  # predictor_targets
    data = [json.loads(line) for line in (tiny_run / "predictor" / "data.jsonl").read_text().splitlines()]
    assert len(data) == 9
    card = AdapterCard.load(tiny_run / "predictor" / "adapter")
    assert card.data["with_accepted_reason"] == len(accepted)
    assert card.training["engine"] == "top-layers" and card.lora["layers"] == 1
    prompts = "\n".join(row["messages"][1]["content"] for row in data)
    for reason in generated.values():
        assert clean_text(reason, 700)[:30] in prompts  # trained Reasoner output (as prompts clean it)
    assert all(row["response"].startswith("Predicted Rating: ") for row in data)


def test_trained_stages_are_skipped_on_rerun(tiny_config, tiny_recipe_path, tiny_run):
    said = []
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher(),
                                say=said.append)
    pipeline.run(["reward", "one-step"])
    assert any("[reward] already trained" in line for line in said)
    assert any("[one_step] already trained" in line for line in said)


def test_stages_need_their_predecessors(tiny_config, tiny_recipe_path, tmp_path):
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tmp_path, OfflineTeacher())
    with pytest.raises(PipelineError, match="train summarizer"):
        pipeline.run(["reward"])
    with pytest.raises(PipelineError, match="unknown stage"):
        pipeline.run(["everything"])


def test_stages_share_the_prompt_views_of_one_target_set(tiny_config, tiny_recipe_path, tiny_run, monkeypatch):
    from reason4rec.training import pipeline as pipeline_module

    loads = []
    real_backend = pipeline_module.local_backend
    monkeypatch.setattr(pipeline_module, "local_backend", lambda *a, **k: loads.append(1) or real_backend(*a, **k))
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher())
    first = pipeline._contexts(pipeline._reasoner_targets)
    assert len(first) == 6 and all(ctx.user_history for ctx in first) and len(loads) == 1
    again = pipeline._contexts(pipeline._reasoner_targets[3:] + pipeline._reasoner_targets[:2])  # a slice, reordered
    assert again == first[3:] + first[:2] and all(a is b for a, b in zip(again, first[3:] + first[:2]))
    assert len(loads) == 1  # the Summarizer is not loaded again for targets already seen
    pipeline._contexts(pipeline._reward_targets[:1])
    assert len(loads) == 2  # a new target: loaded for it alone


def test_the_summarizer_learns_clean_three_line_targets(tiny_run):
    from reason4rec.experts.prompts import summary_problems

    data = [json.loads(line) for line in (tiny_run / "summarizer" / "data.jsonl").read_text().splitlines()]
    assert data and all(summary_problems(row["response"]) == [] for row in data)


def test_predictor_curve_trains_nested_subsets_once(tiny_config, tiny_recipe_path, tiny_run):
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher())
    full = sum(1 for line in (tiny_run / "predictor" / "data.jsonl").read_text().splitlines() if line.strip())
    adapters = pipeline.predictor_curve([3, full])
    assert adapters[full] == tiny_run / "predictor" / "adapter"  # the stage's own adapter, not retrained
    card = AdapterCard.load(adapters[3])
    assert card.expert == "predictor" and card.data["targets"] == 3 and card.data["subset_of"] == full
    stage_rows = set((tiny_run / "predictor" / "data.jsonl").read_text().splitlines())
    subset_rows = (tiny_run / "predictor-curve" / "n3" / "data.jsonl").read_text().splitlines()
    assert len(subset_rows) == 3 and set(subset_rows) <= stage_rows
    said = []
    pipeline.say = said.append
    pipeline.predictor_curve([3])
    assert not said  # already trained: nothing to do
    with pytest.raises(PipelineError, match="outside"):
        pipeline.predictor_curve([pipeline.training_targets_available() + 1])


def test_a_curve_point_above_the_stage_takes_its_examples_and_the_pools_next_targets(tiny_config, tiny_recipe_path,
                                                                                    tiny_run):
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher())
    stage_rows = (tiny_run / "predictor" / "data.jsonl").read_text().splitlines()
    available = pipeline.training_targets_available()
    assert available > len(stage_rows) == 9  # the tiny recipe's 6 + 6 subsets leave other targets
    more = min(len(stage_rows) + 5, available)
    adapters = pipeline.predictor_curve([more])
    rows = (adapters[more].parent / "data.jsonl").read_text().splitlines()
    assert rows[:len(stage_rows)] == stage_rows and len(rows) == more  # nested: the stage's 9, then 5 more
    assert len(set(rows)) == more
    card = AdapterCard.load(adapters[more])
    assert card.data["stage_targets"] == len(stage_rows) and card.data["more_targets"] == more - len(stage_rows)
    reasons = (tiny_run / "predictor" / "reasons.jsonl").read_text().splitlines()
    assert len(reasons) == more  # the Reasoner wrote a reason for each new target, kept with the stage's


def test_a_curve_variant_trains_every_size_in_its_own_folder(tiny_config, tiny_recipe_path, tiny_run):
    """Other Predictor settings on the same subsets: the run's own points are left as they are."""
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher())
    full = sum(1 for line in (tiny_run / "predictor" / "data.jsonl").read_text().splitlines() if line.strip())
    own_before = (tiny_run / "predictor" / "adapter" / "adapter_model.safetensors").read_bytes()
    adapters = pipeline.predictor_curve([2, full], variant="more-layers")
    assert adapters == {n: tiny_run / "predictor-curve" / "more-layers" / f"n{n}" / "adapter" for n in (2, full)}
    assert AdapterCard.load(adapters[full]).data["targets"] == full  # trained, not the stage's adapter
    subset = (tiny_run / "predictor-curve" / "more-layers" / "n2" / "data.jsonl").read_text().splitlines()
    stage = (tiny_run / "predictor" / "data.jsonl").read_text().splitlines()
    assert len(subset) == 2 and set(subset) <= set(stage)
    assert (tiny_run / "predictor" / "adapter" / "adapter_model.safetensors").read_bytes() == own_before
    with pytest.raises(PipelineError, match="curve variant"):
        pipeline.predictor_curve([2], variant="../elsewhere")
    other = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path).model_copy(update={"name": "other"}),
                             tiny_run, OfflineTeacher())
    with pytest.raises(PipelineError, match="trained with recipe"):  # a name is not reused for other settings
        other.predictor_curve([2], variant="more-layers")


def test_a_reasoner_folder_from_another_run_or_a_torn_stage_is_refused_clearly(tiny_config, tiny_recipe_path,
                                                                            tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # the session's run stays as it is
    said = []
    pipeline = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), run, OfflineTeacher(), say=said.append)
    accepted = run / "reasoner" / "accepted.jsonl"
    (run / "reasoner" / "filter.json").unlink()  # killed between the two writes (before: filter.json came last)
    with pytest.raises(PipelineError, match=r"filter.json is missing or unreadable .* move accepted.jsonl aside"):
        pipeline._stage_reasoner()
    rows = [json.loads(line) for line in accepted.read_text().splitlines()]
    accepted.write_text("".join(json.dumps({**row, "key": "r-from-another-data-set"}) + "\n" for row in rows))
    with pytest.raises(PipelineError, match="this recipe and data do not pick"):
        pipeline._accepted()
    recipe = json.loads((run / "recipe.json").read_text())
    (run / "recipe.json").write_text(json.dumps({**recipe, "seed": recipe["seed"] + 1}))
    pipeline.run(["summarizer"])  # trained already: skipped, but the changed recipe is said
    assert any("trained with another recipe (changed: seed)" in line for line in said)


def test_a_predictor_recipe_with_estimates_learns_cross_fitted_ones_and_also_rates_without_a_reason(
        tiny_config, tiny_recipe_path, tiny_run, tmp_path):
    import shutil

    from reason4rec.experts.model.adapters import ESTIMATES_KEY, prompt_shape
    from reason4rec.training.estimates import training_estimates

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("predictor", "one_step", "predictor-curve"))
    shutil.copytree(tiny_run / "predictor", run / "predictor", ignore=shutil.ignore_patterns("adapter", "data.jsonl"))
    recipe_path = tmp_path / "collab.toml"
    recipe_path.write_text(tiny_recipe_path.read_text().replace(
        "[filter]", "[collab]\nestimates = true\nfolds = 3\nnone_fraction = 0.34\n[filter]"))
    pipeline = TrainingPipeline(tiny_config, load_recipe(recipe_path), run, OfflineTeacher())
    pipeline.run(["predictor"])
    data = [json.loads(line) for line in (run / "predictor" / "data.jsonl").read_text().splitlines()]
    assert len(data) == 9 + 3  # every target with its reason, a third of them again with none
    prompts = [row["messages"][1]["content"] for row in data]
    assert sum("\nAnalysis: none\n" in p for p in prompts) == 3
    pool, _ = pipeline._predictor_pool()
    found = training_estimates(tiny_config, pipeline.split, [t.review for t, _ in pool], folds=3, seed=2020)
    for prompt, bias, svdpp in zip(prompts, found.bias, found.svdpp):
        assert f"Estimates from ratings alone: user+item bias {bias:.2f}, SVD++ {svdpp:.2f}" in prompt
    card = AdapterCard.load(run / "predictor" / "adapter")
    assert card.data[ESTIMATES_KEY]["folds"] == 3 and card.data["examples"] == 12 and card.data["targets"] == 9
    assert prompt_shape({"predictor": card}).estimates
    # a run that fine-tunes this Predictor gives it estimates too, whatever its recipe says
    later = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), run, OfflineTeacher(),
                             start_adapters={"predictor": run / "predictor" / "adapter"})
    assert later._predictor_reads_estimates()
    assert not TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run,
                                OfflineTeacher())._predictor_reads_estimates()


def test_a_recipe_that_shows_the_reasoner_the_stars_trains_and_carries_it(tiny_config, tiny_recipe_path, tiny_run,
                                                                        tmp_path):
    """Issue 35 item 3: the Reasoner learns with each history line's stars, its card says so, and
    the Predictor's reasons come from the same prompt; the reward model's and Predictor's are unchanged."""
    import shutil

    from reason4rec.experts import STARS_KEY
    from reason4rec.experts.model.adapters import prompt_shape

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    recipe = load_recipe(tiny_recipe_path).model_copy(update={"reasoner_stars": True})
    pipeline = TrainingPipeline(tiny_config, recipe, run, OfflineTeacher())
    pipeline.run(["reasoner"], force=True)
    card = AdapterCard.load(pipeline.adapter_dir("reasoner"))
    assert card.data[STARS_KEY] is True and prompt_shape({"reasoner": card}).reasoner_stars
    prompts = [json.loads(line)["messages"][-1]["content"]
               for line in (run / "reasoner" / "data.jsonl").read_text().splitlines()]
    assert prompts and all("The user's past reviews (rating):" in p for p in prompts)
    plain = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tiny_run, OfflineTeacher())
    assert not AdapterCard.load(plain.adapter_dir("reasoner")).data.get(STARS_KEY)
    # a Reasoner fine-tuned from this one keeps the stars without the recipe asking
    again = TrainingPipeline(tiny_config, load_recipe(tiny_recipe_path), tmp_path / "next", OfflineTeacher(),
                             start_adapters={"reasoner": pipeline.adapter_dir("reasoner")})
    assert again._reasoner_sees_stars()


def test_a_predictor_pool_unseen_by_the_reasoner_never_takes_a_target_it_learnt_from(tiny_config, tiny_recipe_path,
                                                                                    tiny_run):
    recipe = load_recipe(tiny_recipe_path)
    unseen = recipe.model_copy(update={"subset": recipe.subset.model_copy(update={"predictor_pool":
                                                                                   "unseen-by-reasoner"})})
    pipeline = TrainingPipeline(tiny_config, unseen, tiny_run, OfflineTeacher())
    pool, accepted = pipeline._predictor_pool()
    reasoner = {t.review.review_id for t in pipeline._reasoner_targets}
    assert len(pool) == recipe.subset.predictor_targets and accepted == 0
    assert not reasoner & {t.review.review_id for t, _ in pool}
    assert [t.review.review_id for t, _ in pool][:len(pipeline._reward_targets)] == [
        t.review.review_id for t in pipeline._reward_targets][:len(pool)]
    first, _ = TrainingPipeline(tiny_config, recipe, tiny_run, OfflineTeacher())._predictor_pool()
    assert reasoner & {t.review.review_id for t, _ in first}  # the older recipes' pool: accepted targets first

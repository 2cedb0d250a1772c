"""The evaluation's run folder: saved as it goes, continued only when it is the same run."""

import json

import pytest

from reason4rec.training.eval_run import EvalRun, EvalRunError, run_id

KEY = {"split": "temporal", "limit": None, "adapters": {"reasoner": "reasoner-p1-abc"}}


def test_records_survive_a_reopen_and_a_complete_last_line_keeps_its_record(tmp_path):
    run = EvalRun.open(tmp_path / "run", KEY)
    run.append([{"review_id": "r1", "true": 5.0}, {"review_id": "r2", "true": 1.0}])
    predictions = tmp_path / "run" / "predictions.jsonl"
    predictions.write_text(predictions.read_text() + '{"review_id": "r3", "true": 3.0}')  # no newline
    again = EvalRun.open(tmp_path / "run", KEY)
    assert sorted(again.done) == ["r1", "r2", "r3"] and predictions.read_text().endswith("\n")
    again.append([{"review_id": "r4", "true": 4.0}])
    assert len(predictions.read_text().splitlines()) == 4


def test_a_torn_last_line_is_cut_and_said(tmp_path):
    run = EvalRun.open(tmp_path, KEY)
    run.append([{"review_id": "r1"}])
    with (tmp_path / "predictions.jsonl").open("a") as handle:
        handle.write('{"review_id": "r2", "tr')
    said = []
    again = EvalRun.open(tmp_path, KEY, say=said.append)
    assert list(again.done) == ["r1"] and "half-written" in said[0]
    assert (tmp_path / "predictions.jsonl").read_text() == '{"review_id": "r1"}\n'


def test_kept_summaries_survive_a_torn_line_and_are_kept_once(tmp_path):
    from reason4rec.experts.summaries import SummaryCache

    run = EvalRun.open(tmp_path, KEY)
    run.keep_summaries([("r1", "v1", "Positive Aspects: warm")])
    with run.summaries.open("a") as handle:
        handle.write('{"review_id": "r2", "vers')  # killed while keeping r2
    again = EvalRun.open(tmp_path, KEY)
    again.keep_summaries([("r1", "v1", "Positive Aspects: warm"), ("r2", "v1", "Positive Aspects: hum"),
                          ("r3", "v1", "Positive Aspects: tubes")])
    again.keep_summaries([("r3", "v1", "Positive Aspects: tubes")])  # already kept: not written twice
    cache = SummaryCache(run.summaries)
    assert [cache.get(r, "v1") for r in ("r1", "r2", "r3")] == [
        "Positive Aspects: warm", "Positive Aspects: hum", "Positive Aspects: tubes"]
    assert run.summaries.read_text().count('"r3"') == 1


def test_damage_in_the_middle_is_refused_not_repaired(tmp_path):
    EvalRun.open(tmp_path, KEY)
    (tmp_path / "predictions.jsonl").write_text('{"review_id": "r1"}\nGARBAGE\n{"review_id": "r3"}\n')
    with pytest.raises(EvalRunError, match="damaged at line 2"):
        EvalRun.open(tmp_path, KEY)


def test_folders_that_are_not_this_run_are_refused(tmp_path):
    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "predictions.jsonl").write_text('{"review_id": "r1"}\n')
    with pytest.raises(EvalRunError, match=r"no run\.json"):
        EvalRun.open(tmp_path / "orphan", KEY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(EvalRunError, match="is a file"):
        EvalRun.open(tmp_path / "file", KEY)
    EvalRun.open(tmp_path / "run", KEY)
    other = {**KEY, "adapters": {"reasoner": "reasoner-p1-def"}}
    with pytest.raises(EvalRunError, match="holds another evaluation \\(adapters:"):
        EvalRun.open(tmp_path / "run", other)
    fresh = EvalRun.open(tmp_path / "run", other, restart=True)
    assert fresh.done == {} and json.loads((tmp_path / "run" / "run.json").read_text())["key"] == other


def test_run_ids_are_stable_and_differ_by_key():
    assert run_id(KEY) == run_id(dict(reversed(list(KEY.items()))))
    assert run_id(KEY) != run_id({**KEY, "limit": 100})


def test_a_whole_line_of_the_wrong_shape_is_refused_in_one_line_naming_it(tmp_path):
    """Valid JSON that is not a result (a field missing, a null rating) is damage, named with its
    line and the way out, never a TypeError later (issue 38)."""
    from reason4rec.training.evaluate_experts import TargetResult

    good = {"review_id": "r1", "user_id": "u", "item_id": "i", "true": 4.0, "predictions": {"full": 4.2},
            "reason": "warm tone", "distribution": {}}
    assert TargetResult.problem(good) is None
    EvalRun.open(tmp_path, KEY, check=TargetResult.problem)
    predictions = tmp_path / "predictions.jsonl"
    for line, problem in (({"review_id": "r2"}, "no 'user_id'"), ({**good, "true": None}, "'true' is null"),
                          ({**good, "true": 9}, "not a rating 1-5"),
                          ({**good, "predictions": {"full": "x"}}, "prediction 'full' is not a number")):
        predictions.write_text("\n".join(json.dumps(r) for r in (good, {**line, "review_id": "r2"},
                                                                  {**good, "review_id": "r3"})) + "\n")
        with pytest.raises(EvalRunError) as refused:
            EvalRun.open(tmp_path, KEY, check=TargetResult.problem)
        message = str(refused.value)
        assert "line 2" in message and problem in message and "--restart" in message and "\n" not in message
    predictions.write_text(json.dumps(good) + "\n")
    assert list(EvalRun.open(tmp_path, KEY, check=TargetResult.problem).done) == ["r1"]

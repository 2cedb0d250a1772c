import dataclasses
import json

import numpy as np
import pytest

from reason4rec.data.splits import build_targets, make_split
from reason4rec.errors import Reason4RecError
from reason4rec.experts.quality.reason_quality import sentiment
from reason4rec.experts.summaries import SummaryCache
from reason4rec.training.baselines import BiasModel
from reason4rec.training.eval_replay import EvalReplay
from reason4rec.training.eval_run import EvalRunError
from reason4rec.training.evaluate import score_model
from reason4rec.training.evaluate_experts import (
    BLEND,
    CALIBRATED,
    FULL,
    NO_REASON,
    ONE_STEP,
    STACKED,
    EvalSettingsError,
    ExpertEvalSettings,
    RealReviews,
    evaluate_experts,
)

QUICK = dict(limit=4, history_k=2, batch_size=4, summary_batch=4, chunk_size=2, review_aware=False)


class _StopAfter:
    """Wraps a backend and fails after ``calls`` generate() calls: an interrupted evaluation."""

    def __init__(self, backend, calls: int) -> None:
        self._backend, self.left = backend, calls

    def generate(self, expert, prompts, **kwargs):
        if expert == "reasoner":
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
        return self._backend.generate(expert, prompts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._backend, name)


def test_pipeline_ablations_and_baselines_share_targets(tiny_eval_config, tiny_backend, shipped, tmp_path):
    result = evaluate_experts(tiny_eval_config, shipped, tiny_backend, ExpertEvalSettings(**QUICK),
                              SummaryCache(tmp_path / "cache.jsonl"), tmp_path / "run")
    methods = [row.method for row in result.rows]
    assert methods[:3] == [FULL, NO_REASON, ONE_STEP] and "user+item bias" in methods
    assert methods[-2:] == [STACKED, BLEND] and STACKED in result.comparison["baselines"]
    assert "SVD++ (surprise)" in methods and not any(m.startswith("HFT") for m in methods)
    assert {row.targets for row in result.rows} == {4}
    for row in result.rows:
        assert row.mae_ci[0] <= row.mae <= row.mae_ci[1]
    for target in result.targets:
        assert 1.0 <= target.predictions[FULL] <= 5.0
        assert -1.0 <= target.similarity <= 1.0
        assert sum(target.distribution["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert target.grounding is None or 0.0 <= target.grounding <= 1.0
        assert target.attributed is None or 0.0 <= target.attributed <= target.grounding
        assert isinstance(target.complete, bool) and set(target.seconds) == {"reasoner", "predictor", "one_step"}
    # A baseline row equals scoring that baseline alone on the same targets.
    split = make_split(shipped, "leave-last-out")
    chosen = {t.review_id for t in result.targets}
    reviews = [r for r in split.test if r.review_id in chosen]
    alone = score_model(BiasModel(l2=tiny_eval_config.baselines.bias_l2), split, reviews)
    assert result.row("user+item bias").mae == pytest.approx(alone.mae)
    reasons = result.quality["reasons"]
    assert -1 <= reasons["review_similarity"] <= 1 and -1 <= reasons["mismatched_review_similarity"] <= 1
    assert reasons["review_similarity"] == pytest.approx(sum(t.similarity for t in result.targets) / 4, abs=1e-3)
    assert reasons["mismatched_review_similarity"] != reasons["review_similarity"]
    assert reasons["complete"] == pytest.approx(sum(t.complete for t in result.targets) / 4)
    assert "verdict_correlation" in reasons
    assert {"attributed", "with_misattributed", "most_misattributed"} <= set(reasons)
    assert "one_step_reasons" in result.quality and result.quality["summaries"]["checked"] > 0
    comparison = result.comparison
    assert comparison["best_baseline"] in result.baseline_predictions
    value, low, high = comparison["against_best"]["mae"]
    assert low <= value <= high
    assert set(comparison["ablations"]) == {NO_REASON, ONE_STEP}
    # A bench reads the finished folder back: same targets in order, reasons and pipeline ratings.
    replay = EvalReplay.open(tmp_path / "run", tiny_eval_config)
    assert [t.review.review_id for t in replay.targets] == [t.review_id for t in result.targets]
    assert replay.reasons == [t.reason for t in result.targets]
    assert replay.pipeline == [t.predictions[FULL] for t in result.targets]
    shown = replay.shown_to_reasoner(0)  # the prompt's data and the raw reviews, not its instructions
    assert shown[0] == replay.contexts[0].item_title and not any("Will the user like" in text for text in shown)
    assert shown[-1] == (*replay.targets[0].user_history, *replay.targets[0].item_history)[-1].text
    with pytest.raises(Reason4RecError, match="not an evaluation folder"):
        EvalReplay.open(tmp_path, tiny_eval_config)
    manifest = tmp_path / "run" / "run.json"  # a folder evaluated on other data is not replayed
    saved = json.loads(manifest.read_text())
    saved["key"]["data"] = "0123456789ab"
    manifest.write_text(json.dumps(saved))
    with pytest.raises(Reason4RecError, match="other data"):
        EvalReplay.open(tmp_path / "run", tiny_eval_config)
    assert result.beats_all_baselines() == all(d["mae"][2] < 0 for d in comparison["baselines"].values())
    # The extra blend row: each target is w * pipeline + (1 - w) * a baseline, never part of the verdict.
    blend = comparison["blend"]
    assert result.rows[-1].method == BLEND and BLEND not in comparison["baselines"]
    assert all(0.0 <= w <= 1.0 for w in blend["pipeline_weights"]) and blend["folds"] == 4
    mixes = [[w * t.predictions[FULL] + (1 - w) * result.baseline_predictions[b][i]
              for w, b in zip(blend["pipeline_weights"], blend["baselines"])] for i, t in enumerate(result.targets)]
    assert all(min(abs(p - m) for m in mix) < 1e-3 for p, mix in zip(blend["predictions"], mixes))
    results, plot = result.write(tmp_path / "out")
    saved = json.loads(results.read_text())
    assert len(saved["targets"]) == 4 and saved["rows"][0]["method"] == FULL
    assert isinstance(saved["beats_all_baselines"], bool) and len(saved["rows"][0]["mae_ci"]) == 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_categorys_calibration_is_scored_beside_the_pipeline_on_the_same_targets(tiny_eval_config, tiny_backend,
                                                                                     shipped, tmp_path):
    from reason4rec.experts import Calibration, CalibrationLine

    cache, folder = SummaryCache(tmp_path / "cache.jsonl"), tmp_path / "run"
    line = CalibrationLine(slope=2.0, intercept=-4.5, applied=True)
    used = Calibration(shipped.category, {}, line, 120, {"split": "leave-last-out"})
    result = evaluate_experts(tiny_eval_config, shipped, tiny_backend, ExpertEvalSettings(**QUICK, calibration=used),
                              cache, folder)
    row = result.row(CALIBRATED)
    calibrated = np.array([line.apply(t.predictions[FULL]) for t in result.targets])
    true = np.array([t.true for t in result.targets])
    assert row.mae == pytest.approx(float(np.mean(np.abs(calibrated - true))), abs=1e-4)
    assert all(CALIBRATED not in t.predictions for t in result.targets)  # what is kept is the Predictor's own
    compared = result.comparison["calibrated"]
    assert compared["calibration"] == used.view() and set(compared) >= {"against_best", "against_pipeline"}
    unused = Calibration(shipped.category, {}, CalibrationLine(2.0, -4.5, applied=False), 120)
    again = evaluate_experts(tiny_eval_config, shipped, tiny_backend, ExpertEvalSettings(**QUICK, calibration=unused),
                             cache, folder)  # the same run folder: the calibration is not part of its key
    assert CALIBRATED not in [r.method for r in again.rows] and "calibrated" not in again.comparison
    assert [t.predictions for t in again.targets] == [t.predictions for t in result.targets]


def test_a_predictor_that_reads_estimates_gets_held_out_ones_in_the_evaluation(tiny_eval_config, tiny_backend,
                                                                                shipped, tmp_path):
    from fakes import SpyBackend

    from reason4rec.training import held_out_estimates

    asked: list[str] = []

    class Recording(SpyBackend):
        def rate(self, expert, conversations, **kwargs):
            if expert == "predictor":
                asked.extend(c[-1]["content"] for c in conversations)
            return super().rate(expert, conversations, **kwargs)

    settings = ExpertEvalSettings(**{**QUICK, "estimates": True})
    result = evaluate_experts(tiny_eval_config, shipped, Recording(tiny_backend), settings,
                              SummaryCache(tmp_path / "cache.jsonl"), tmp_path / "run")
    split = make_split(shipped, "leave-last-out")
    by_id = {r.review_id: r for r in split.test}
    found = held_out_estimates(tiny_eval_config, split, "test", [by_id[t.review_id] for t in result.targets])
    lines = [f"user+item bias {b:.2f}, SVD++ {s:.2f}" for b, s in zip(found.bias, found.svdpp)]
    assert len(asked) == 8  # each target with its reason and without
    assert all(any(line in prompt for prompt in asked) for line in lines)
    assert all("Estimates from ratings alone" in prompt for prompt in asked)
    assert result.settings["key"]["estimates"] == "held-out bias + SVD++"


def test_an_interrupted_evaluation_continues_where_it_stopped(tiny_eval_config, tiny_backend, shipped, tmp_path):
    settings, cache, folder = ExpertEvalSettings(**QUICK), SummaryCache(tmp_path / "c.jsonl"), tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        evaluate_experts(tiny_eval_config, shipped, _StopAfter(tiny_backend, 1), settings, cache, folder)
    saved = (folder / "predictions.jsonl").read_text().splitlines()
    assert len(saved) == 2  # the first chunk of two targets survived the interruption
    kept = [json.loads(line) for line in (folder / "summaries.jsonl").read_text().splitlines()]
    assert kept and all(row["summary"] for row in kept)  # with the summaries it was scored on
    # A copy of the run folder continues on another machine without summarizing them again.
    settings_elsewhere = SummaryCache(tmp_path / "elsewhere.jsonl")
    settings_elsewhere.add_seed(folder / "summaries.jsonl")
    assert all(settings_elsewhere.get(row["review_id"], row["version"]) == row["summary"] for row in kept)
    counting = _StopAfter(tiny_backend, 99)
    messages = []
    result = evaluate_experts(tiny_eval_config, shipped, counting, settings, cache, folder, say=messages.append)
    assert counting.left == 98  # only the remaining chunk was generated
    assert any("2 already scored" in m for m in messages)
    assert len(result.targets) == 4 and len((folder / "predictions.jsonl").read_text().splitlines()) == 4
    # A torn last line (killed mid-write) is cut off, said, and that target scored again.
    with (folder / "predictions.jsonl").open("a") as handle:
        handle.write('{"review_id": "half')
    messages.clear()
    again = evaluate_experts(tiny_eval_config, shipped, tiny_backend, settings, cache, folder, say=messages.append)
    assert any("half-written" in m for m in messages) and len(again.targets) == 4
    assert [t.review_id for t in again.targets] == [t.review_id for t in result.targets]


def test_a_run_folder_of_another_evaluation_is_refused(tiny_eval_config, tiny_backend, shipped, tmp_path):
    cache, folder = SummaryCache(tmp_path / "c.jsonl"), tmp_path / "run"
    evaluate_experts(tiny_eval_config, shipped, tiny_backend, ExpertEvalSettings(**QUICK), cache, folder)
    other = ExpertEvalSettings(**{**QUICK, "limit": 3})
    with pytest.raises(EvalRunError, match=r"holds another evaluation \(limit: 4 there, 3 here\)"):
        evaluate_experts(tiny_eval_config, shipped, tiny_backend, other, cache, folder)
    restarted = evaluate_experts(tiny_eval_config, shipped, tiny_backend, other, cache, folder, restart=True)
    assert len(restarted.targets) == 3
    manifest = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(EvalRunError, match="another version"):
        evaluate_experts(tiny_eval_config, shipped, tiny_backend, other, cache, folder)
    (folder / "run.json").write_text('{"format": 2, "ke')
    with pytest.raises(EvalRunError, match="damaged"):
        evaluate_experts(tiny_eval_config, shipped, tiny_backend, other, cache, folder)


def test_a_limit_beyond_the_test_set_is_refused(tiny_eval_config, tiny_backend, shipped, tmp_path):
    settings = ExpertEvalSettings(**{**QUICK, "split": "temporal", "limit": 1028})
    with pytest.raises(EvalSettingsError, match="larger than the temporal test set \\(1,027 targets\\)"):
        evaluate_experts(tiny_eval_config, shipped, tiny_backend, settings, SummaryCache(tmp_path / "c"), tmp_path)


def test_judge_scores_reasons_through_an_openai_compatible_endpoint(openai_server, monkeypatch):
    from reason4rec.training.evaluate_experts import _judge

    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    openai_server.replies = ["8", "Score: 4", "no idea"]
    result = _judge("judge-m", ["real one", "real two", "real three"], ["reason a", "reason b", "reason c"])
    assert result == {"model": "judge-m", "mean_score": 6.0, "scored": 2, "failed": 1}
    assert "REVIEW: real two" in openai_server.requests[1]["messages"][0]["content"]


def test_reasons_are_scored_against_their_own_real_review(sentence_model_dir):
    from sentence_transformers import SentenceTransformer

    reviews = RealReviews.embed(SentenceTransformer(str(sentence_model_dir), device="cpu"),
                                ["The strap clip snapped after a week.", "Warm tone, and the tuner holds pitch well."])
    reasons = reviews.encode(["They may be let down: the clip could break.",
                              "A warm tone that stays in tune suits them."])
    own, swapped = reviews.cosine(reasons), reviews.cosine(reasons, shift=1)
    assert own[0] > swapped[0] and own[1] > swapped[1]
    assert reviews.similarity([None, ""]).shape == (2,)  # no reason scores as "(no reason)", not an error
    with pytest.raises(ValueError, match="1 texts for 2 reviews"):
        reviews.similarity(["only one"])


def test_the_verdicts_correlation_with_the_stars_says_whether_reasons_carry_the_rating():
    from reason4rec.training.evaluate_experts import _reason_summary

    reasons = ["They will love it, a great match.", "A poor match: they would be disappointed.",
               "It should suit them well.", "They would hate the awful hum."]
    stars = [5.0, 1.0, 4.0, 2.0]
    summary = _reason_summary([1.0] * 4, None, [True] * 4, [True] * 4, stars, reasons)
    assert summary["verdict_correlation"] == pytest.approx(np.corrcoef([sentiment(r) for r in reasons], stars)[0, 1],
                                                           abs=1e-4)
    assert summary["verdict_correlation"] > 0.9
    assert _reason_summary([1.0] * 4, None, [True] * 4, [True] * 4, stars,
                           ["It suits them."] * 4)["verdict_correlation"] is None  # one tone: nothing to correlate


def test_the_categorys_verdict_rule_is_applied_as_the_agent_applies_it(tiny_eval_config, tiny_backend, shipped,
                                                                       tmp_path):
    """Targets whose held-out bias estimate is at or below the rule's threshold get the answer begun
    as a poor match (and its closing); the rule is part of the run's key, so a run without it is
    never mixed with one with it."""
    from fakes import SpyBackend

    from reason4rec.experts import NEGATIVE_CLOSING, NEGATIVE_OPENING, Calibration, CalibrationLine, VerdictRule
    from reason4rec.training import held_out_estimates

    opened: list[bool] = []

    class Recording(SpyBackend):
        def generate(self, expert, conversations, **kwargs):
            if expert == "reasoner":
                opened.extend(c[-1]["role"] == "assistant" for c in conversations)
            return super().generate(expert, conversations, **kwargs)

    split = make_split(shipped, "leave-last-out")
    plain = evaluate_experts(tiny_eval_config, shipped, tiny_backend, ExpertEvalSettings(**QUICK),
                             SummaryCache(tmp_path / "cache.jsonl"), tmp_path / "plain")
    by_id = {r.review_id: r for r in split.test}
    found = held_out_estimates(tiny_eval_config, split, "test", [by_id[t.review_id] for t in plain.targets]).bias
    cut = float(np.median(found))  # half the targets below it, or at it
    rule = VerdictRule(cut, True, {})
    used = Calibration(shipped.category, {}, CalibrationLine(1.0, 0.0, applied=False), 120, verdict=rule)
    result = evaluate_experts(tiny_eval_config, shipped, Recording(tiny_backend),
                              ExpertEvalSettings(**QUICK, calibration=used), SummaryCache(tmp_path / "cache.jsonl"),
                              tmp_path / "ruled")
    said_no = [bool(b <= cut) for b in found]
    assert opened == said_no and any(said_no) and not all(said_no)
    for target, no, before in zip(result.targets, said_no, plain.targets):
        if no:
            assert target.reason.startswith(NEGATIVE_OPENING) and target.reason.endswith(NEGATIVE_CLOSING)
        else:
            assert target.reason == before.reason
    assert result.settings["key"]["verdict_rule"] == cut and "verdict_rule" not in plain.settings["key"]
    assert result.quality["reasons"]["verdict_rule"] == {"threshold": cut, "fitted": "calibration",
                                                         "from_ratings": sum(said_no)}


def test_without_a_calibrations_threshold_the_evaluation_takes_the_rule_a_memory_of_its_ratings_gives(
        tiny_eval_config):
    """As the agent does: the rule fitted on the ratings of the training and validation reviews
    (what the test targets' estimates are fitted on), never on a test rating."""
    from reason4rec.data import Review, ReviewDataset
    from reason4rec.experts import Calibration, CalibrationLine, VerdictRule, fit_ratings_verdict_rule
    from reason4rec.training.evaluate_experts import verdict_rule_for

    rng = np.random.default_rng(8)
    moods = rng.choice([1.5, 4.8], size=150, p=[0.12, 0.88])
    reviews = [Review(f"u{u}", f"i{(u * 7 + k) % 50}", float(np.clip(np.rint(m + rng.normal(0, 0.5)), 1, 5)), k,
                      "fine") for u, m in enumerate(moods) for k in range(6)]
    split = make_split(ReviewDataset(reviews, category="Board Games"), "leave-last-out")
    found = verdict_rule_for(tiny_eval_config, split, ExpertEvalSettings(**QUICK))
    assert found is not None and found.applied
    assert found == fit_ratings_verdict_rule([*split.train, *split.valid])
    flipped = [Review(r.user_id, r.item_id, 6.0 - r.rating, r.timestamp, r.text) for r in split.test]
    assert verdict_rule_for(tiny_eval_config, dataclasses.replace(split, test=flipped),
                            ExpertEvalSettings(**QUICK)) == found  # the test ratings reach nothing
    placed = Calibration("Board Games", {}, CalibrationLine(1.0, 0.0, applied=False), 120,
                         verdict=VerdictRule(4.4, False, {}))
    assert verdict_rule_for(tiny_eval_config, split, ExpertEvalSettings(**QUICK, calibration=placed)) is None


def test_each_side_of_a_target_is_what_its_prompt_shows_of_it(shipped):
    """The attribution measure reads each side apart: the user's history lines and reviews, or the
    item's title, history lines and reviews; a word only the item's reviews hold, said of the user,
    is on the wrong side."""
    from reason4rec.experts import HistoryEntry, TargetContext, misattributed
    from reason4rec.training.evaluate_experts import side_texts

    target = next(t for t in build_targets(make_split(shipped, "leave-last-out"), "test")
                  if t.user_history and t.item_history)
    entry = lambda review: HistoryEntry(review.item_id, review.rating, "Positive Aspects: x")  # noqa: E731
    context = TargetContext("Musical Instruments", "Wobble Pedal", tuple(entry(r) for r in target.user_history),
                            tuple(entry(r) for r in target.item_history), None, None)
    user, item = side_texts(context, target, "user"), side_texts(context, target, "item")
    assert target.user_history[-1].text in user and target.user_history[-1].text not in item
    assert target.item_history[-1].text in item and "Wobble Pedal" in item and "Wobble Pedal" not in user
    assert misattributed("In past reviews the user valued the wobble.", user=user, item=item) == (("wobble", "user"),)

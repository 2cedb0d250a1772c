import json

import pytest

from reason4rec.experts.summaries import SummaryCache
from reason4rec.training.evaluate import score_model
from reason4rec.training.evaluate_experts import FULL, NO_REASON, ONE_STEP, ExpertEvalSettings, evaluate_experts
from reason4rec.training.baselines import BiasModel


def test_pipeline_ablations_and_baselines_share_targets(tiny_eval_config, tiny_backend, shipped, tmp_path):
    settings = ExpertEvalSettings(limit=4, history_k=2, batch_size=4, summary_batch=4)
    result = evaluate_experts(tiny_eval_config, shipped, tiny_backend, settings,
                              SummaryCache(tmp_path / "cache.jsonl"))
    methods = [row.method for row in result.rows]
    assert methods[:3] == [FULL, NO_REASON, ONE_STEP] and "user+item bias" in methods
    assert {row.targets for row in result.rows} == {4}
    for target in result.targets:
        assert 1.0 <= target.predictions[FULL] <= 5.0
        assert -1.0 <= target.similarity <= 1.0
        assert sum(target.distribution["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    # A baseline row equals scoring that baseline alone on the same targets.
    from reason4rec.training.splits import make_split

    split = make_split(shipped, "leave-last-out")
    chosen = {t.review_id for t in result.targets}
    reviews = [r for r in split.test if r.review_id in chosen]
    alone = score_model(BiasModel(l2=tiny_eval_config.baselines.bias_l2), split, reviews)
    assert result.row("user+item bias").mae == pytest.approx(alone.mae)
    quality = result.quality
    assert -1 <= quality["reason_review_similarity"] <= 1 and -1 <= quality["mismatched_review_similarity"] <= 1
    assert quality["reason_review_similarity"] == pytest.approx(sum(t.similarity for t in result.targets) / 4, abs=1e-3)
    results, plot = result.write(tmp_path / "out")
    saved = json.loads(results.read_text())
    assert len(saved["targets"]) == 4 and saved["rows"][0]["method"] == FULL
    assert isinstance(saved["beats_all_baselines"], bool)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judge_scores_reasons_through_an_openai_compatible_endpoint(openai_server, monkeypatch):
    from reason4rec.training.evaluate_experts import _judge

    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    openai_server.replies = ["8", "Score: 4", "no idea"]
    result = _judge("judge-m", ["real one", "real two", "real three"], ["reason a", "reason b", "reason c"])
    assert result == {"model": "judge-m", "mean_score": 6.0, "scored": 2, "failed": 1}
    assert "REVIEW: real two" in openai_server.requests[1]["messages"][0]["content"]

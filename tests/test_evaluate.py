"""Metrics and the baseline table."""

from __future__ import annotations

import math

import pytest

from reason4rec.config import BaselineConfig
from reason4rec.training.evaluate import evaluate_baselines, mae, metric_row, rmse


def test_mae_and_rmse():
    assert mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    with pytest.raises(ValueError, match="equal, non-empty"):
        mae([], [])
    with pytest.raises(ValueError, match="equal, non-empty"):
        rmse([1, 2], [1])


def test_a_row_says_how_well_predictions_order_targets_apart_from_their_scale():
    true = [5, 4, 1, 5, 2, 3]
    shrunk = [4.4 + 0.1 * (t - 3) for t in true]  # right order, squeezed towards the mean
    assert metric_row("s", "shrunk", shrunk, true, 0.0).correlation == pytest.approx(1.0)
    assert metric_row("s", "reversed", [6 - t for t in true], true, 0.0).correlation == pytest.approx(-1.0)
    assert metric_row("s", "constant", [4.5] * 6, true, 0.0).correlation is None


def test_baseline_table_scores_every_method_on_the_same_targets(shipped):
    bars = []
    config = BaselineConfig(hft=False)
    rows = evaluate_baselines(
        shipped, ["leave-last-out", "random", "temporal"], config,
        progress=lambda label: bars.append(label) or (lambda d, t: None)
    )
    methods = [r.method for r in rows if r.split == "leave-last-out"]
    assert methods == ["global mean", "user mean", "item mean", "user+item bias",
                       "SVD (surprise)", "SVD++ (surprise)"]
    assert {r.targets for r in rows if r.split == "leave-last-out"} == {1429}
    assert {r.targets for r in rows if r.split == "random-2020"} == {1027}
    assert {r.targets for r in rows if r.split == "temporal"} == {1027}
    for row in rows:  # every row has its interval, around its own value
        assert row.mae_ci[0] < row.mae < row.mae_ci[1] and row.rmse_ci[0] < row.rmse < row.rmse_ci[1]
    assert "reg_all" in next(r for r in rows if r.method == "SVD (surprise)").note
    by = {(r.split, r.method): r for r in rows}
    assert by[("leave-last-out", "user+item bias")].mae == pytest.approx(0.677, abs=1e-3)
    assert by[("leave-last-out", "global mean")].mae == pytest.approx(0.740, abs=1e-3)
    assert by[("random-2020", "global mean")].rmse == pytest.approx(0.858, abs=1e-3)
    assert by[("leave-last-out", "user+item bias")].mae < by[("leave-last-out", "global mean")].mae
    assert by[("leave-last-out", "global mean")].correlation is None
    assert 0.2 < by[("leave-last-out", "user+item bias")].correlation < 0.3
    assert bars == [f"{split}: {name}" for split in ("leave-last-out", "random-2020", "temporal")
                    for name in ("SVD (surprise)", "SVD++ (surprise)")]

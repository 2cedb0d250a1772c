"""The benches' paired comparisons and resumption (bench/ is scripts, loaded here by path)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


objectives = _load("rating_objectives")
curve = _load("learning_curve")
TRUE = [5.0, 4.0, 5.0, 1.0, 3.0, 5.0, 5.0, 2.0]


def _row(name: str, predictions: list[float]) -> dict:
    return {"variant": name, "true": TRUE,
            **{setting: {"predictions": predictions, "mae": 0.0, "rmse": 0.0} for setting in objectives.SETTINGS}}


def test_every_variant_is_compared_with_the_reference_on_the_same_targets():
    exact = [t + 0.1 for t in TRUE]
    rows = [_row("vocab-L8", exact), _row(objectives.REFERENCE, [4.5] * len(TRUE)),
            {**_row("stars-L4", exact), "true": [*TRUE[:-1], 3.0]}]  # other targets: not comparable
    comparison = objectives.compare(rows)
    assert list(comparison) == ["vocab-L8"]
    value, low, high = comparison["vocab-L8"]["real review"]["mae"]
    assert value == pytest.approx(0.1 - np.mean(np.abs(np.array(TRUE) - 4.5)), abs=1e-4)
    assert low <= value <= high < 0  # better than the reference, and the interval says so


def test_no_reference_means_no_comparison():
    assert objectives.compare([_row("vocab-L8", TRUE)]) == {}


def test_a_finished_variant_is_kept_and_a_run_of_other_sizes_is_refused(tmp_path):
    out = tmp_path / "results" / "objectives.json"
    sizes = {"train_targets": 300, "valid_targets": 200, "epochs": 2.0}
    rows = [_row(objectives.REFERENCE, [4.5] * len(TRUE)), _row("vocab-L8", TRUE)]
    objectives._save(out, sizes, rows)
    assert objectives._kept_rows(out, sizes) == rows
    assert json.loads(out.read_text())["comparison"]["vocab-L8"]
    with pytest.raises(SystemExit, match="other sizes"):
        objectives._kept_rows(out, {**sizes, "train_targets": 600})
    out.write_text('{"sizes": {"train_targets": 3')  # torn
    with pytest.raises(SystemExit, match="not valid JSON"):
        objectives._kept_rows(out, sizes)


def test_the_curve_compares_each_size_with_the_next_and_the_largest_with_the_smallest():
    true = np.array(TRUE)
    predicted = {250: np.full(len(TRUE), 4.5), 1000: true + 0.5, 3000: true}
    pairs = curve._paired(predicted, true, None)
    assert [(p["larger"], p["smaller"]) for p in pairs] == [(1000, 250), (3000, 1000), (3000, 250)]
    assert pairs[1]["mae"][0] == pytest.approx(-0.5)  # 3000 exact, 1000 off by half a star
    assert all(p["mae"][2] < 0 for p in pairs)

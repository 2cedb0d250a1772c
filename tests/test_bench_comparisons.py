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


def test_the_curve_heading_meets_the_best_baseline_where_its_trend_line_does():
    def point(n: int, rmse: float, mae: float, correlation: float) -> dict:
        return {"targets": n, "rmse": {"value": rmse}, "mae": {"value": mae}, "correlation_with_true": correlation}

    # RMSE falls 0.01 per e-fold from 1.0 at n=100; the MAE rises; the correlation barely moves
    points = [point(n, 1.0 - 0.01 * np.log(n / 100), 0.7 + 0.001 * np.log(n), 0.1 + 0.001 * np.log(n))
              for n in (100, 300, 1000)]
    baselines = {"rmse": {"bias": 0.97, "SVD++": 0.98}, "mae": {"user mean": 0.66}, "correlation": {"SVD++": 0.25}}
    heading = curve._heading(points, baselines, available=5000)
    assert heading["training_targets_available"] == 5000
    rmse = heading["rmse"]
    assert rmse["best_baseline"] == "bias" and rmse["per_doubling"] == pytest.approx(-0.01 * np.log(2), abs=1e-4)
    assert rmse["targets_to_reach_best"] == round(100 * np.exp(3), -2)  # 1.0 - 0.01 * ln(n/100) = 0.97
    assert heading["mae"]["targets_to_reach_best"] is None and "does not head" in heading["mae"]["why_none"]
    assert heading["correlation"]["targets_to_reach_best"] is None and "100x" in heading["correlation"]["why_none"]
    assert curve._heading(points[:1], baselines, available=5000) == {}


def test_summary_fidelity_counts_a_disliked_aspect_filed_as_liked_as_flipped():
    summaries = _load("summary_format")
    review = "Bright tone but the clip broke after a week."
    teacher = "Positive Aspects: bright tone\nNegative Aspects: clip broke\nUser Preference Elements: tone, clip"
    flipped = "Positive Aspects: bright tone, clip broke\nNegative Aspects: none\nUser Preference Elements: tone"
    faithful = "Positive Aspects: bright tone\nNegative Aspects: broken clip\nUser Preference Elements: tone"
    inventing = "Positive Aspects: bamboo body, bright tone\nNegative Aspects: none\nUser Preference Elements: wood"
    assert summaries.fidelity(review, flipped, teacher) == {"kept": 1, "flipped": 1, "dropped": 0, "named": 2,
                                                            "invented": 0}
    assert summaries.fidelity(review, faithful, teacher)["kept"] == 2  # "broken clip" is the clip, disliked
    counts = summaries.fidelity(review, inventing, teacher)
    assert (counts["dropped"], counts["named"], counts["invented"]) == (1, 2, 1)
    report = summaries._fidelity_report([summaries.fidelity(review, flipped, teacher),
                                         summaries.fidelity(review, faithful, teacher)])
    assert report == {"teacher_aspects": 4, "kept": 0.75, "flipped": 0.25, "dropped": 0.0, "summary_aspects": 4,
                      "invented": 0.0}


def test_the_means_reader_reads_the_prompts_numbers_and_damps_means_of_few_reviews():
    from types import SimpleNamespace

    signal = _load("rating_signal")
    targets = [SimpleNamespace(user_mean=5.0, item_mean=None, user_count=1, item_count=0),
               SimpleNamespace(user_mean=2.0, item_mean=3.0, user_count=4, item_count=9)]
    raw = signal.shown_numbers(targets, fill=4.0)
    assert raw[:, :2].tolist() == [[5.0, 4.0], [2.0, 3.0]]  # a missing mean is the fill value
    damped = signal.shown_numbers(targets, fill=4.0, damping=1.0)
    assert damped[:, :2].tolist() == [[4.5, 4.0], [2.4, 3.1]]  # one extra 4-star rating each
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 4))
    weights = signal.fit_reader(features, 3.0 + features @ np.array([0.5, 0.2, 0.0, -0.1]))
    assert weights == pytest.approx([3.0, 0.5, 0.2, 0.0, -0.1], abs=1e-9)
    assert signal.read(weights, np.array([[100.0, 0, 0, 0]])).tolist() == [5.0]  # clipped to the stars
    assert signal.correlation(np.ones(3), np.arange(3.0)) is None


def test_the_median_star_is_where_the_distribution_crosses_one_half():
    signal = _load("rating_signal")
    assert signal.median_star({"1": 0.1, "2": 0.1, "3": 0.1, "4": 0.15, "5": 0.55}) == 5
    assert signal.median_star({"1": 0.3, "2": 0.1, "3": 0.1, "4": 0.2, "5": 0.3}) == 3  # exactly 0.5 at 3
    # unnormalised and out of order: read as 0.25, 0.25, 0, 0, 0.5 over stars 1..5
    assert signal.median_star({"5": 2.0, "1": 1.0, "2": 1.0, "3": 0.0, "4": 0.0}) == 2


def test_another_categorys_words_are_the_ones_its_reviews_use_ten_times_as_often():
    table = _load("category_table")
    magazines = ["great articles and recipes", "good price for the issues", "the photos are lovely"] * 40
    instruments = ["warm tone and a good price", "the tone is bright", "good price, no hum"] * 40
    assert table.foreign(["tone", "price", "articles", "hum"], magazines, instruments) == ["tone", "hum"]
    assert table.foreign(["tone"], magazines, instruments[:1] * 1000 + ["x"] * 200_000) == []  # under 1% of them


def test_a_glued_word_is_review_words_written_together_that_no_review_uses():
    table = _load("category_table")
    words = table.review_words(["this item is great", "a magazine, but thin", "praise the cardboard box",
                                "service and card", "artichoke recipes"] * 5)
    assert table.glued("Other buyers of thisitem praisemagazinebut mention cardservice", words) == [
        "thisitem", "praisemagazinebut", "cardservice"]
    assert table.glued("the cardboard, an artichoke, a magazinex", words) == []  # a review word; an unknown tail
    assert table.glued("a thisitem of cardservices", words, frozenset({"thisitem", "cardservice"})) == []  # English
    short = table.review_words(["this item is", "article"] * 5)
    assert table.glued("articleichoke and itemis", short) == []  # "ichoke" no word; "is" too short


def test_the_category_table_reads_an_evaluation_and_flags_the_foreign_inventions(tmp_path):
    table = _load("category_table")
    targets = [{"true": t, "predictions": {"Reason4Rec": p}} for t, p in zip(TRUE, [4.5, 4.0, 4.4, 3.0, 3.5, 4.6,
                                                                                    4.8, 3.9])]
    targets[0]["reason"] = "Other buyers praise tone and mention warmprice."
    results = {"settings": {"key": {"versions": {"reasoner": "x"}}}, "targets": targets,
               "rows": [{"method": "Reason4Rec", "mae": 0.7, "rmse": 0.9, "mae_ci": [0.6, 0.8], "rmse_ci": [0.8, 1.0]},
                        {"method": "user+item bias", "mae": 0.6, "rmse": 0.85}],
               "quality": {"reasons": {"grounding": 0.9, "most_invented": ["tone", "price"], "verdict_agreement": 0.8,
                                       "verdict_agreement_low_ratings": 0.5, "low_ratings": 2, "complete": 1.0}},
               "comparison": {"baselines": {"user+item bias": {"mae": [0.1, 0.02, 0.2], "rmse": [0.05, -0.1, 0.2]}}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    column = table.column(tmp_path, ["good price"] * 50, ["warm tone", "good price"] * 50)
    assert column["other_category_words"] == ["tone"] and column["invented_share"] == pytest.approx(0.1)
    assert column["prediction_sd"] == pytest.approx(float(np.std([4.5, 4.0, 4.4, 3.0, 3.5, 4.6, 4.8, 3.9])), abs=1e-4)
    text = table.table({"never saw it": column})
    assert "| of these, another category's words (goal: none) | tone |" in text
    assert "| MAE minus bias model (95%) | +0.100 (+0.020, +0.200) |" in text
    assert "| verdict agrees: all / 1-2 stars | 80.0% / 50.0% (of 2) |" in text
    assert "| calibrated: spread / of true ratings | no calibration |" in text
    assert "| reasons with words glued together | 1 of 8 (warmprice) |" in text
    results["settings"]["calibration"] = {"line": {"applied": False}}  # fitted, but a line did not help
    (tmp_path / "results.json").write_text(json.dumps(results))
    text = table.table({"identity": table.column(tmp_path, ["good price"], ["warm tone"])})
    assert "| calibrated: spread / of true ratings | a line did not help: kept as is |" in text
    results["settings"]["calibration"] = {"line": {"applied": True}}
    results["comparison"]["calibrated"] = {"spread": 0.61, "baselines": {"user+item bias": {
        "mae": [-0.01, -0.03, 0.01], "rmse": [0.02, -0.01, 0.05]}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    text = table.table({"calibrated": table.column(tmp_path, ["good price"], ["warm tone"])})
    assert f"| calibrated: spread / of true ratings | 0.61 / {np.std(TRUE):.2f} |" in text
    assert ("| calibrated: MAE / RMSE minus bias model (95%) | -0.010 (-0.030, +0.010) / +0.020 (-0.010, +0.050) |"
            in text)


def test_the_spread_ceiling_is_the_rmse_of_the_lines_it_describes():
    """bench/spread_ceiling.py's closed forms against lines fitted and scored on the same targets."""
    spread = _load("spread_ceiling")
    rng = np.random.default_rng(36)
    true = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=4000, p=[0.05, 0.05, 0.1, 0.25, 0.55])
    raw = true + rng.normal(0, 2.5, size=true.size)
    z, s = (raw - raw.mean()) / raw.std(), true.std()
    rho = float(np.corrcoef(raw, true)[0, 1])
    calibrated = true.mean() + rho * s * z  # the best line: as accurate as this signal allows
    table = spread.spread_table(true, {"raw": raw, "user+item bias": calibrated, "flat": np.full(true.size, 4.3)})
    for c, key in ((rho, "best_line_rmse"), (0.5, "half_spread_rmse")):
        line = true.mean() + c * s * z
        assert np.sqrt(np.mean((line - true) ** 2)) == pytest.approx(table["methods"]["raw"][key], abs=2e-3)
    # spreading a calibrated prediction to half the truth costs accuracy unless rho is 0.5 already
    needed = table["to_match"]["bias model"]["correlation_needed_at_half_spread"]
    assert needed == pytest.approx(0.25 + rho ** 2, abs=2e-3) and needed > rho
    assert table["methods"]["user+item bias"]["spread"] < table["goal_spread"] == pytest.approx(s / 2, abs=1e-4)
    assert table["methods"]["flat"]["spread"] == 0.0 and table["methods"]["flat"]["correlation"] == 0.0

"""A category's rating calibration: a line fitted on its validation targets, used only where it beats
the Predictor out of fold, kept per category and per set of experts, shown beside the Predictor's own
number, and fitted from a review file by ``reason4rec calibrate``."""

import json

import numpy as np
import pytest
from fakes import RATING

from reason4rec.agent import rating_headline, shown_rating
from reason4rec.experts import (
    MIN_CALIBRATION_TARGETS,
    Calibration,
    CalibrationError,
    Calibrations,
    VerdictRule,
    calibration_file,
    fit_line,
)

EXPERTS = {"summarizer": "summarizer-p4-aaa", "reasoner": "reasoner-p4-bbb", "predictor": "predictor-p4-ccc"}


def _ordered_but_squeezed(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions in the true ratings' order but all near 4.5: what the experts give on magazines."""
    rng = np.random.default_rng(seed)
    true = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.1, 0.05, 0.1, 0.2, 0.55]).astype(float)
    return 4.4 + 0.08 * (true - 4) + rng.normal(0, 0.06, n), true


def _calibration(category: str = "Magazine Subscriptions", experts=EXPERTS) -> Calibration:
    return Calibration(category, dict(experts), fit_line(*_ordered_but_squeezed()), 200, {"split": "leave-last-out"})


def test_a_line_is_used_where_the_predictor_is_in_order_but_squeezed():
    expected, true = _ordered_but_squeezed()
    line = fit_line(expected, true)
    m = line.measures
    assert line.applied and line.slope > 1
    assert m["calibrated_mae"] < m["mae"] and m["calibrated_rmse"] < m["rmse"]
    assert m["spread"] < 0.3 < m["true_spread"] / 2 < m["calibrated_spread"]
    assert line.apply(3.0) == 1.0 and line.apply(6.0) == 5.0  # clipped to the stars
    assert Calibration("Gift Cards", EXPERTS, line, 200).spread_summary() == (
        f"predictions spread {m['spread']:.2f} -> {m['calibrated_spread']:.2f} (true ratings {m['true_spread']:.2f})")


def test_no_line_is_used_where_the_predictor_carries_nothing():
    rng = np.random.default_rng(1)
    true = rng.choice([1, 2, 3, 4, 5], size=300, p=[0.05, 0.05, 0.1, 0.2, 0.6]).astype(float)
    expected = rng.normal(4.4, 0.1, 300)  # unrelated to the truth
    line = fit_line(expected, true)
    assert not line.applied and line.apply(4.37) == 4.37
    kept = Calibration("Gift Cards", EXPERTS, line, 300).spread_summary()
    assert kept.startswith(f"predictions spread {line.measures['spread']:.2f}, kept (true ratings ")
    flat = fit_line(np.full(100, 4.5), true[:100])  # predictions that never vary cannot be stretched
    assert flat.slope == 0 and not flat.applied


def test_too_few_targets_or_mismatched_lengths_are_refused():
    expected, true = _ordered_but_squeezed(MIN_CALIBRATION_TARGETS - 1)
    with pytest.raises(CalibrationError, match=f"at least {MIN_CALIBRATION_TARGETS} rated targets; got 49"):
        fit_line(expected, true)
    with pytest.raises(CalibrationError, match="200 predictions for 199 true ratings"):
        fit_line(*_ordered_but_squeezed()[0:1], _ordered_but_squeezed()[1][:199])


def test_a_calibration_is_found_for_its_category_and_its_experts_only(tmp_path):
    mine, shipped = tmp_path / "mine", tmp_path / "shipped"
    saved = _calibration().save(shipped)
    assert saved == calibration_file(shipped, "Magazine Subscriptions") == shipped / "magazine-subscriptions.json"
    found = Calibrations([mine, shipped], EXPERTS).find("magazine subscriptions")
    assert found == _calibration() and not Calibrations([mine, shipped], EXPERTS).notes
    assert Calibrations([mine, shipped], EXPERTS).find("Gift Cards") is None

    other = Calibrations([mine, shipped], {**EXPERTS, "predictor": "predictor-p4-new"})
    assert other.find("Magazine Subscriptions") is None
    assert other.notes == [f"the calibration {saved} was fitted for other experts; ratings are the Predictor's "
                           "until it is fitted for these: reason4rec calibrate --reviews FILE"]

    own = Calibration("Magazine Subscriptions", EXPERTS, fit_line(*_ordered_but_squeezed(seed=5)), 200)
    own.save(mine)  # a person's own comes before the shipped one
    assert Calibrations([mine, shipped], EXPERTS).find("Magazine Subscriptions") == own


def test_a_stale_calibration_before_one_that_fits_is_not_said(tmp_path):
    """A person's calibration for the shipped experts, then an adapt run's for its own: the run's is
    used and nothing is said; with no fitting one, the stale file is named."""
    mine, run = tmp_path / "mine", tmp_path / "run"
    adapted = {**EXPERTS, "predictor": "predictor-adapted"}
    stale = _calibration().save(mine)
    Calibration("Magazine Subscriptions", adapted, fit_line(*_ordered_but_squeezed(seed=5)), 200).save(run)
    book = Calibrations([mine, run], adapted)
    assert book.find("Magazine Subscriptions").experts == adapted and book.notes == []
    lonely = Calibrations([mine], adapted)
    assert lonely.find("Magazine Subscriptions") is None and str(stale) in lonely.notes[0]


@pytest.mark.parametrize("damage", ["{not json", '{"format": "other"}', '{"format": "reason4rec-calibration-1"}',
                                    "half", "[1, 2]", '"text"'])
def test_a_damaged_calibration_is_said_once_and_the_predictor_rates(tmp_path, damage):
    path = _calibration().save(tmp_path)
    path.write_text(path.read_text()[:60] if damage == "half" else damage)
    book = Calibrations([tmp_path], EXPERTS)
    assert book.find("Magazine Subscriptions") is None and book.find("Magazine Subscriptions") is None
    [note] = book.notes
    assert note.startswith(f"the calibration {path} cannot be read (") and "reason4rec calibrate" in note


def test_a_non_finite_line_is_refused(tmp_path):
    data = _calibration().as_dict()
    data["line"]["slope"] = float("nan")
    with pytest.raises(CalibrationError, match="not finite"):
        Calibration.from_dict(json.loads(json.dumps(data)))


def test_the_answer_shows_the_calibrated_rating_and_the_predictors_own():
    calibration = _calibration()
    shown = RATING.as_dict(calibration)
    assert shown["expected"] == RATING.as_dict()["expected"] == round(RATING.expected, 4)
    assert shown["rating"] == round(calibration.rating(RATING.expected), 4) != shown["expected"]
    assert shown["calibration"] == calibration.view() and shown["calibration"]["applied"]
    assert shown_rating(shown) == shown["rating"] and shown_rating(RATING.as_dict()) == shown["expected"]
    assert rating_headline(shown) == (f"predicted {shown['rating']:.2f} / 5 (the Predictor's {shown['expected']:.2f}, "
                                      f"calibrated for Magazine Subscriptions; confidence {shown['confidence']:.2f})")
    assert rating_headline(RATING.as_dict()) == f"predicted {RATING.expected:.2f} / 5 (confidence 0.41)"


def test_the_agent_answers_with_its_categorys_calibration(fake_agent):
    from fakes import CATALOG

    calibration = _calibration(CATALOG.category)
    fake_agent.context.calibration = calibration
    events = list(fake_agent.stream("explain", user_id="U1", item_id="B0PEDAL002", thread_id="t"))
    state = events[-1]["state"]
    [rated] = [e for e in events if e["type"] == "rating"]
    assert rated["rating"] == state["rating"]["rating"] == round(calibration.rating(RATING.expected), 4)
    assert f"predicted **{state['rating']['rating']:.2f}** / 5 (the Predictor's" in state["answer"]
    recommended = list(fake_agent.stream("recommend", user_id="U1", k=2, thread_id="r"))
    assert all(r["rating"]["calibration"]["category"] == CATALOG.category
               for r in recommended[-1]["state"]["recommendations"])


def test_a_file_too_small_to_calibrate_on_is_refused_before_any_model_loads(tmp_path):
    from test_cli import run_cli

    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps({"user_id": f"u{i % 5}", "item_id": f"i{i}", "rating": 5, "timestamp": i,
                                        "review_text": "fine"}) + "\n" for i in range(30)))
    result = run_cli("calibrate", "--reviews", str(mine), "--category", "Board Games",
                     "--model", str(tmp_path / "no-model"), home=tmp_path)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "Board Games: " in said and f"a calibration needs at least {MIN_CALIBRATION_TARGETS}" in said
    assert not (tmp_path / "models").exists()


def test_calibrate_runs_the_experts_on_validation_targets_once_and_saves_the_line(tiny_config, tiny_run, shipped,
                                                                              tmp_path, monkeypatch):
    from reason4rec.data import make_split
    from reason4rec.experts import adapter_version
    from reason4rec.experts.model.adapters import SERVING_EXPERTS
    from reason4rec.training import adapt_report, fit_calibration, validation_targets

    dirs = {e: tiny_run / e / "adapter" for e in SERVING_EXPERTS}
    split = make_split(shipped, "leave-last-out")
    found = fit_calibration(tiny_config, shipped, split, dirs, 60, 2020, tmp_path / "work")
    assert found.targets == 60 and found.category == shipped.category
    assert found.experts == {e.value: adapter_version(d) for e, d in dirs.items()}
    assert set(found.line.measures) >= {"mae", "rmse", "calibrated_mae", "calibrated_rmse", "true_spread"}
    rows = json.loads((tmp_path / "work" / "calibration.json").read_text())["targets"]
    every = validation_targets(split, len(split.valid), 2020)  # the verdict's threshold reads them all
    assert found.verdict is not None and found.fitted_on["verdict_targets"] == len(every) > 60
    assert found.verdict.measures["unhappy"] == sum(1 for t in every if t.review.rating <= 2)
    assert found.verdict.measures["checked_unhappy"] == sum(  # checked on the sample the experts ran on
        1 for r in split.valid if r.rating <= 2 and r.review_id in {row["review_id"] for row in rows})
    valid = {r.review_id: r.rating for r in split.valid}
    assert len(rows) == 60 and all(valid[row["review_id"]] == row["true"] for row in rows)  # validation, not test
    path = found.save(tmp_path / "cal")
    assert Calibrations([tmp_path / "cal"], found.experts).find(shipped.category) == found

    monkeypatch.setattr(adapt_report, "open_experts", lambda *a, **k: pytest.fail("measured again"))
    assert fit_calibration(tiny_config, shipped, split, dirs, 60, 2020, tmp_path / "work") == found
    assert path.is_file()


def test_doctor_says_whether_the_categorys_ratings_are_calibrated(tmp_path):
    from reason4rec.app.doctor import calibration
    from reason4rec.config import load_config
    from reason4rec.experts import CALIBRATION_DIR, calibrations_for

    config = load_config(overrides={"home": str(tmp_path), "data": {"category": "Board Games"}})
    assert calibration(config).ok and "none for Board Games" in calibration(config).detail
    shipped_experts = dict(calibrations_for(config).experts)
    mine = Calibration("Board Games", shipped_experts, fit_line(*_ordered_but_squeezed()), 200)
    path = mine.save(tmp_path / CALIBRATION_DIR)
    assert calibration(config).ok and calibration(config).detail == mine.summary()
    assert "rating = " in mine.summary() and "out of fold on 200 validation targets" in mine.summary()
    ruled = Calibration("Board Games", shipped_experts, mine.line, 200, verdict=VerdictRule(3.8, True, {
        "agreement": 0.88, "ruled_agreement": 0.91, "unhappy_agreement": 0.0, "ruled_unhappy_agreement": 0.5}))
    ruled.save(tmp_path / CALIBRATION_DIR)
    assert calibration(config).detail == f"{mine.summary()}; verdict: {ruled.verdict.summary()}"
    assert "a poor match where the ratings estimate 3.80 stars or less" in calibration(config).detail
    path.write_text("{")
    damaged = calibration(config)
    assert not damaged.ok and str(path) in damaged.detail and "reason4rec calibrate" in damaged.fix


def test_the_shipped_calibrations_are_for_the_shipped_experts():
    from reason4rec.config import load_config
    from reason4rec.experts import CALIBRATION_DIR, calibrations_for, shipped_adapters_root

    shipped = calibrations_for(load_config())
    files = sorted((shipped_adapters_root() / CALIBRATION_DIR).glob("*.json"))
    assert files, "no calibration is shipped"
    for path in files:
        found = Calibration.from_dict(json.loads(path.read_text()))
        assert path == calibration_file(path.parent, found.category)
        assert found.experts == dict(shipped.experts), f"{path.name} was fitted for other experts: refit it"
        assert found.fitted_on["split"] == "leave-last-out" and found.targets >= MIN_CALIBRATION_TARGETS


def test_the_agent_matches_the_calibration_to_the_experts_it_runs(tiny_config, tiny_backend, ram_memory, tmp_path):
    from reason4rec.agent import open_context
    from reason4rec.experts import CALIBRATION_DIR
    from reason4rec.experts.model.adapters import SERVING_EXPERTS

    config = tiny_config.model_copy(update={"home": tmp_path})  # the configured adapters are the shipped ones
    running = {e.value: tiny_backend.version(e) for e in SERVING_EXPERTS}
    for_them = Calibration("Musical Instruments", running, fit_line(*_ordered_but_squeezed()), 200)
    for_them.save(tmp_path / CALIBRATION_DIR)
    context = open_context(config, backend=tiny_backend, memory=ram_memory)
    assert context.calibration == for_them and not context.notes
    shipped_experts = Calibration("Musical Instruments", dict(_shipped_experts(config)),
                                  fit_line(*_ordered_but_squeezed(seed=3)), 200)
    shipped_experts.save(tmp_path / CALIBRATION_DIR)  # fitted for the configured adapters, not those running
    context = open_context(config, backend=tiny_backend, memory=ram_memory)
    assert context.calibration is None and "fitted for other experts" in context.notes[0]


def _shipped_experts(config):
    from reason4rec.experts import calibrations_for

    return calibrations_for(config).experts

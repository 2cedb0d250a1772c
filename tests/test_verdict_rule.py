"""The category's verdict rule: fitted on validation targets and used only where it holds out of
fold; a reason whose verdict the ratings gave opens and closes as a poor match on every backend,
streamed as it is returned; the agent says where the verdict came from; the evaluation applies it
as the agent does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import CATALOG, REASON, FakeBackend, FakeCompletions, SamplingFake

from reason4rec.app.views import TURN_FIELDS
from reason4rec.data import Review
from reason4rec.experts import (
    NEGATIVE_CLOSING,
    NEGATIVE_OPENING,
    Calibration,
    CalibrationLine,
    Calibrations,
    DraftSettings,
    HistoryEntry,
    ReasonStream,
    TargetContext,
    VerdictRule,
    answer_opening,
    better_drafts,
    closed_as_poor_match,
    finished_reason,
    fit_line,
    fit_ratings_verdict_rule,
    fit_verdict_rule,
    reasoner_messages,
    reasons_for,
    render_chat,
    rule_in_use,
    verdict,
)

EXPERTS = {"summarizer": "s-1", "reasoner": "r-1", "predictor": "p-1"}
POSITIVE = "In past reviews the user valued tone. Overall it should suit them well, and they will likely be pleased."


def _ratings(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([1, 2, 3, 4, 5], size=n, p=[0.08, 0.07, 0.1, 0.25, 0.5]).astype(float)


def _target(forced: bool = False) -> TargetContext:
    entry = HistoryEntry("Amp", 4, "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tone")
    return TargetContext("Musical Instruments", "Pedal", (entry,), (entry,), 4.0, 3.5, 1, 1,
                         verdict_from_ratings=forced)


# --------------------------------------------------------------------------- fitting the rule


def test_the_rule_is_used_where_the_ratings_separate_the_unhappy_buyers():
    true = _ratings()
    estimates = 2.9 + 0.3 * true + np.random.default_rng(1).normal(0, 0.1, true.size)
    rule = fit_verdict_rule(estimates, true, [POSITIVE] * true.size)
    unhappy = estimates[true <= 2]
    assert rule.applied and rule.threshold == pytest.approx(float(np.median(unhappy)))
    m = rule.measures
    assert m["unhappy_agreement"] == 0.0 and m["ruled_unhappy_agreement"] >= 0.3  # out of fold, not by construction
    assert m["ruled_agreement"] >= 0.8 and m["told_no_happy"] < 0.1 and m["unhappy"] == (true <= 2).sum()
    assert rule.says_no(rule.threshold) and not rule.says_no(rule.threshold + 0.01) and not rule.says_no(None)
    assert not rule.says_no(float("nan"))
    assert "a poor match where the ratings estimate" in rule.summary()


def test_the_rule_is_not_used_where_the_ratings_do_not_tell_the_unhappy_ones():
    true = _ratings()
    estimates = np.random.default_rng(2).normal(4.2, 0.3, true.size)  # no relation to the rating
    rule = fit_verdict_rule(estimates, true, [POSITIVE] * true.size)
    assert not rule.applied and rule.threshold is not None
    assert rule.measures["ruled_agreement"] < 0.8 and not rule.says_no(0.0)
    assert rule.summary().startswith("verdicts are the Reasoner's (a threshold at")


def test_too_few_unhappy_targets_place_no_threshold_and_lengths_must_match():
    true = np.array([5.0] * 60 + [1.0] * 3)
    rule = fit_verdict_rule(true.tolist(), true, [POSITIVE] * 63)
    assert rule == VerdictRule(None, False, {"unhappy": 3.0}) and not rule.says_no(1.0)
    assert "3 ratings of 1-2 stars, a threshold needs 10" in rule.summary()
    with pytest.raises(ValueError, match="one each"):
        fit_verdict_rule([4.0], [4.0, 5.0], [POSITIVE])


def test_targets_the_experts_did_not_run_on_place_the_threshold_but_the_check_is_on_the_sample():
    true = _ratings(600, seed=3)
    estimates = 2.9 + 0.3 * true + np.random.default_rng(4).normal(0, 0.1, true.size)
    sample, rest = slice(0, 150), slice(150, None)
    few = (true[sample] <= 2).sum()
    alone = fit_verdict_rule(estimates[sample], true[sample], [POSITIVE] * 150)
    rule = fit_verdict_rule(estimates[sample], true[sample], [POSITIVE] * 150,
                            unreasoned=list(zip(estimates[rest].tolist(), true[rest].tolist())))
    assert rule.threshold == pytest.approx(float(np.median(estimates[true <= 2])))  # every unhappy target
    assert rule.threshold != alone.threshold and rule.applied
    assert rule.measures["unhappy"] == (true <= 2).sum() and rule.measures["checked_unhappy"] == few
    assert f"placed on {(true <= 2).sum()} ratings of 1-2 stars" in rule.summary()
    # the further targets count towards the ten a threshold needs, not towards the check
    tiny = true[:40].copy()
    tiny[tiny <= 2] = 5.0
    tiny[:3] = 1.0
    placed = fit_verdict_rule((2.9 + 0.3 * tiny).tolist(), tiny, [POSITIVE] * 40,
                              unreasoned=[(3.2, 1.0)] * 7 + [(None, 1.0)] * 5)
    assert placed.threshold is not None and placed.measures["unhappy"] == 10.0
    assert fit_verdict_rule(tiny.tolist(), tiny, [POSITIVE] * 40, unreasoned=[(3.2, 1.0)] * 6).threshold is None


def _reviews_of(moods: np.ndarray, per_user: int = 6, seed: int = 5) -> list[Review]:
    """Users whose ratings follow their mood (so their other ratings tell an unhappy one apart)."""
    rng = np.random.default_rng(seed)
    return [Review(f"u{u}", f"i{(u * 7 + k) % 40}", float(np.clip(np.rint(mood + rng.normal(0, 0.5)), 1, 5)), k, "")
            for u, mood in enumerate(moods) for k in range(per_user)]


def test_the_ratings_alone_give_a_rule_where_they_separate_the_unhappy_buyers():
    moods = np.random.default_rng(6).choice([1.5, 4.8], size=120, p=[0.12, 0.88])
    separating = _reviews_of(moods)
    rule = fit_ratings_verdict_rule(separating)
    assert rule.applied and 1.0 < rule.threshold < 4.0 and rule.measures["ruled_unhappy_agreement"] >= 0.4
    assert rule.measures["unhappy_agreement"] == 0.0 and rule.measures["unhappy"] == sum(
        r.rating <= 2 for r in separating)
    assert fit_ratings_verdict_rule(list(reversed(separating))) == rule  # any store's order: the same rule
    noise = [Review(r.user_id, r.item_id, float(v), r.timestamp, "") for r, v in zip(
        separating, np.random.default_rng(7).choice([1, 2, 4, 5, 5, 5, 5, 5], size=len(separating)))]
    assert not fit_ratings_verdict_rule(noise).applied  # ratings that do not tell: the Reasoner's verdicts
    assert fit_ratings_verdict_rule([]) == VerdictRule(None, False, {"unhappy": 0.0})


def test_a_calibrations_threshold_decides_else_the_ratings_rule():
    used, unused = VerdictRule(3.9, True, {}), VerdictRule(4.4, False, {})
    ratings = VerdictRule(4.0, True, {})
    assert rule_in_use(used, lambda: pytest.fail("not asked")) == used
    assert rule_in_use(unused, lambda: pytest.fail("not asked")) is None  # its check on real reasons said no
    assert rule_in_use(None, lambda: ratings) == ratings  # no calibration
    assert rule_in_use(VerdictRule(None, False, {"unhappy": 4.0}), lambda: ratings) == ratings  # too few there
    assert rule_in_use(None, lambda: unused) is None and rule_in_use(None, lambda: None) is None


def test_a_calibration_keeps_its_rule_and_older_files_without_one_still_read(tmp_path):
    true = _ratings()
    line = fit_line(4.4 + 0.05 * true, true)
    rule = fit_verdict_rule(2.9 + 0.3 * true, true, [POSITIVE] * true.size)
    found = Calibration("Gift Cards", EXPERTS, line, 200, {}, verdict=rule)
    path = found.save(tmp_path)
    again = Calibrations([tmp_path], EXPERTS).find("Gift Cards")
    assert again == found and again.verdict == rule
    older = {k: v for k, v in json.loads(path.read_text()).items() if k != "verdict"}
    path.write_text(json.dumps(older))
    assert Calibrations([tmp_path], EXPERTS).find("Gift Cards").verdict is None
    unused = Calibration("Gift Cards", EXPERTS, line, 200, {}, verdict=VerdictRule(4.0, False, {}))
    assert rule_in_use(unused.verdict, lambda: pytest.fail("not asked")) is None
    for damage in ({"threshold": "Infinity", "applied": True, "measures": rule.measures},
                   {"threshold": 3.5, "applied": "false", "measures": rule.measures},
                   {"threshold": 3.5, "applied": True}):
        path.write_text(json.dumps({**found.as_dict(), "verdict": damage}))
        calibrations = Calibrations([tmp_path], EXPERTS)
        assert calibrations.find("Gift Cards") is None and "cannot be read" in calibrations.notes[0]


# --------------------------------------------------------------------------- the answer begun


def test_a_forced_target_opens_the_reasoners_answer_and_no_other_does():
    assert answer_opening(reasoner_messages(_target(forced=True))) == NEGATIVE_OPENING
    assert answer_opening(reasoner_messages(_target())) == ""
    assert reasoner_messages(_target(forced=True))[:-1] == reasoner_messages(_target())


def test_the_opened_prompt_is_the_plain_prompt_with_the_opening_on_the_real_template(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    plain, opened = reasoner_messages(_target()), reasoner_messages(_target(forced=True))
    assert render_chat(tokenizer, opened) == render_chat(tokenizer, plain) + NEGATIVE_OPENING


@pytest.mark.parametrize("cut", [1, 3, 7, 50])
@pytest.mark.parametrize("written", [
    f"{NEGATIVE_OPENING} for warm tone. Buyers mention hum. Overall it is a mixed match: some needs.",
    f"{NEGATIVE_OPENING} for warm tone.\nBuyers mention hum.\nOverall, it should suit them well.",
    f"{NEGATIVE_OPENING} for warm tone (4.5 stars). Buyers mention hum and the",  # cut at the token budget
    f"{NEGATIVE_OPENING} for warm tone and",
    NEGATIVE_OPENING,
], ids=["closing", "newlines-and-comma", "cut", "no-whole-sentence", "nothing-written"])
def test_the_closing_stream_shows_exactly_the_reason_returned(cut, written):
    seen: list[str] = []
    target = _target(forced=True)
    stream = ReasonStream(lambda row, piece: seen.append(piece), [target])
    for start in range(0, len(written), cut):
        stream.on_text(0, written[start:start + cut])
    stream.finish()
    assert "".join(seen) == finished_reason(target, written) == closed_as_poor_match(written)


def test_a_forced_reason_keeps_whole_sentences_only_and_one_closing():
    assert closed_as_poor_match(f"{NEGATIVE_OPENING} for warm tone. Buyers mention hum. Overall, it should suit.") == (
        f"{NEGATIVE_OPENING} for warm tone. Buyers mention hum. {NEGATIVE_CLOSING}")
    assert closed_as_poor_match(f"{NEGATIVE_OPENING} for tone (4.5 stars). Buyers mention hum and the") == (
        f"{NEGATIVE_OPENING} for tone (4.5 stars). {NEGATIVE_CLOSING}")
    assert closed_as_poor_match(f"{NEGATIVE_OPENING} for warm tone and") == (
        f"{NEGATIVE_OPENING} for warm tone. {NEGATIVE_CLOSING}")
    assert closed_as_poor_match(NEGATIVE_OPENING) == f"{NEGATIVE_OPENING}. {NEGATIVE_CLOSING}"
    overall_items = f"{NEGATIVE_OPENING} for tone. Overall items like this break. {NEGATIVE_CLOSING}"
    assert closed_as_poor_match(overall_items) == overall_items  # "Overall items" is no closing
    once = closed_as_poor_match(f"{NEGATIVE_OPENING} for tone. Overall it is a mixed match.")
    assert closed_as_poor_match(once) == once and once.count("Overall") == 1


@pytest.mark.parametrize("backend", [FakeBackend(), FakeCompletions()], ids=["fake", "generate_by_complete"])
def test_the_deliberation_streams_and_returns_the_forced_reason(backend):
    targets = [_target(), _target(forced=True), _target()]
    streamed: dict[int, str] = {}
    reasons = reasons_for(backend, targets, batch_size=2,
                          on_text=lambda row, piece: streamed.update({row: streamed.get(row, "") + piece}))
    assert reasons[0] == reasons[2] == REASON
    assert reasons[1] == f"{NEGATIVE_OPENING} {REASON} {NEGATIVE_CLOSING}"
    assert verdict(reasons[1]) == -1
    assert {row: text.strip() for row, text in streamed.items()} == dict(enumerate(reasons))
    assert reasons_for(backend, targets, batch_size=2) == reasons  # the same without streaming


def test_drafts_of_a_forced_reason_keep_its_opening_and_closing():
    backend = SamplingFake(drafts=["for warm tone, as buyers of this item praise. Overall it should suit them."])
    target = _target(forced=True)
    [greedy] = reasons_for(backend, [target], batch_size=1)
    [chosen] = better_drafts(backend, [target], [greedy], DraftSettings(drafts=3))
    assert chosen.text.startswith(NEGATIVE_OPENING) and chosen.text.endswith(NEGATIVE_CLOSING)
    assert "should suit" not in chosen.text


# --------------------------------------------------------------------------- the agent


def _rule_calibration(threshold: float, applied: bool = True) -> Calibration:
    return Calibration(CATALOG.category, EXPERTS, CalibrationLine(1.0, 0.0, applied=False), 200, {},
                       verdict=VerdictRule(threshold, applied, {}))


def test_the_agent_says_no_where_the_ratings_do_and_says_why(fake_agent):
    fake_agent.context.calibration = _rule_calibration(threshold=5.5)  # every estimate is below it
    events = list(fake_agent.stream("explain", user_id="U1", item_id="B0PEDAL002", thread_id="t"))
    state = events[-1]["state"]
    assert state["reason"].startswith(NEGATIVE_OPENING) and state["reason"].endswith(NEGATIVE_CLOSING)
    streamed = "".join(e["text"] for e in events if e["type"] == "token")
    assert streamed.strip() == state["reason"]
    assert state["verdict"] == {"source": "ratings", "threshold": 5.5, "estimate": state["collab"]["bias"]}
    assert state["collab"]["bias"] is not None
    said = f"*A poor match by the ratings: the ratings alone give {state['collab']['bias']:.2f} stars"
    assert said in state["answer"]
    assert "verdict" in TURN_FIELDS  # what ``why --json`` prints of the state
    assert " should suit " not in state["answer"].split("\n")[0]  # the headline never contradicts the reason
    found = list(fake_agent.stream("recommend", user_id="U1", k=2, thread_id="r"))[-1]["state"]["recommendations"]
    assert found and all(r["verdict"]["source"] == "ratings" and r["reason"].endswith(NEGATIVE_CLOSING)
                         for r in found)


@pytest.mark.parametrize("calibration", [None, "low threshold", "not applied"])
def test_the_agent_leaves_the_verdict_to_the_reasoner_otherwise(fake_agent, calibration):
    asked: list[list[dict]] = []
    fake_agent.context.backend = FakeBackend({"reasoner": lambda conversation: asked.append(conversation) or REASON})
    fake_agent.context.calibration = {None: None, "low threshold": _rule_calibration(threshold=1.0),
                                      "not applied": _rule_calibration(threshold=5.5, applied=False)}[calibration]
    state = list(fake_agent.stream("explain", user_id="U1", item_id="B0PEDAL002", thread_id="t"))[-1]["state"]
    assert state["reason"] == REASON and state["verdict"]["source"] == "reasoner"
    assert "A poor match by the ratings" not in state["answer"]
    assert asked and not any(answer_opening(conversation) for conversation in asked)


@pytest.mark.parametrize("calibration", [None, "no threshold", "not applied"])
def test_without_a_calibrations_threshold_the_memorys_ratings_decide(fake_agent, monkeypatch, calibration):
    from reason4rec.memory import collab

    monkeypatch.setattr(collab, "fit_ratings_verdict_rule", lambda reviews, **settings: VerdictRule(5.5, True, {}))
    fake_agent.context.memory.collab.ensure(refit=True)  # the memory's ratings say "no" to every pair
    fake_agent.context.calibration = {None: None, "no threshold": Calibration(
        CATALOG.category, EXPERTS, CalibrationLine(1.0, 0.0, applied=False), 200, {},
        verdict=VerdictRule(None, False, {"unhappy": 3.0})),
        "not applied": _rule_calibration(threshold=5.5, applied=False)}[calibration]
    state = list(fake_agent.stream("explain", user_id="U1", item_id="B0PEDAL002", thread_id="t"))[-1]["state"]
    if calibration == "not applied":  # checked on the Reasoner's own reasons, the calibration's says no
        assert state["verdict"]["source"] == "reasoner" and not state["reason"].startswith(NEGATIVE_OPENING)
    else:
        assert state["verdict"] == {"source": "ratings", "threshold": 5.5, "estimate": state["collab"]["bias"]}
        assert state["reason"].startswith(NEGATIVE_OPENING) and state["reason"].endswith(NEGATIVE_CLOSING)


def test_the_verdict_never_reads_estimates_fitted_on_the_users_own_rating(fake_agent):
    fake_agent.context.calibration = _rule_calibration(threshold=5.5)
    user, item = next((r.user_id, r.item_id) for r in CATALOG.reviews)  # an item the user reviewed already
    state = list(fake_agent.stream("explain", user_id=user, item_id=item, thread_id="own"))[-1]["state"]
    assert state["already_rated"] and state["collab"]["with_own_rating"]
    assert state["verdict"]["source"] == "reasoner" and not state["reason"].startswith(NEGATIVE_OPENING)

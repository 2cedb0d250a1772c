"""The memory's collaborative estimates (issue 35 item 2): the bias model and SVD++ fitted on every
stored rating, kept in a checked file beside the store, refitted when reviews arrive or the file
cannot be trusted (saying why in one line), with cold-start fallbacks, in the agent's answer."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import CATALOG, RATING

from reason4rec.data import SVDPP_SETTING, BiasModel, Review, fit_surprise
from reason4rec.experts import fit_ratings_verdict_rule
from reason4rec.memory.collab import (
    COLLAB_FILE,
    CollabEstimates,
    fit_models,
    inspect_file,
    write_models,
)
from reason4rec.memory.store import ReviewStore
from reason4rec.memory.summarizers import LexiconSummarizer


def _store(folder: Path, reviews) -> ReviewStore:
    store = ReviewStore(folder / "reviews.sqlite")
    store.import_reviews(reviews)
    return store


def _labels() -> tuple[list[str], object]:
    """A progress factory that records its labels, and the list."""
    seen: list[str] = []

    def factory(label: str):
        seen.append(label)
        return lambda done, total: None

    return seen, factory


@pytest.fixture
def catalog(tmp_path: Path):
    store = _store(tmp_path, CATALOG.reviews)
    yield CollabEstimates(store, tmp_path / COLLAB_FILE), store
    store.close()


# --------------------------------------------------------------------------- the models themselves


def test_the_estimates_are_the_evaluations_models_and_surprises_own_predictions(tmp_path, shipped):
    """The shipped data (10,261 reviews): the same bias model and SVD++ the evaluation scores (fitted
    in review-id order: SVD++'s descent depends on the order)."""
    store = _store(tmp_path, shipped.reviews)
    try:
        models = CollabEstimates(store, tmp_path / COLLAB_FILE).ensure()
    finally:
        store.close()
    assert models is not None and models.fingerprint.reviews == len(shipped.reviews) == 10261
    reviews = sorted((Review(r.user_id, r.item_id, r.rating, 0, "") for r in shipped.reviews),
                     key=lambda r: r.review_id)
    bias, svdpp = BiasModel().fit(reviews), fit_surprise(reviews, SVDPP_SETTING, 42, implicit=True)
    users, items = list(models.users)[:20:4], [*list(models.items)[:30:6], "not-an-item"]
    for user in [*users, "not-a-user"]:
        found = models.estimate(user, items)
        expected = bias.predict([Review(user, item, 0, 0, "") for item in items])
        for item, value in zip(items, expected):
            assert found[item]["bias"] == pytest.approx(value, abs=1e-3)
            assert found[item]["svdpp"] == pytest.approx(min(5.0, svdpp.predict(user, item).est), abs=1e-3)


def test_a_cold_user_or_item_gets_the_global_mean_plus_the_known_sides_bias(catalog):
    estimates, _ = catalog
    models = estimates.ensure()
    user, item = models.users["U1"], models.items["B0PEDAL001"]
    found = estimates.estimates("U1", ["B0PEDAL001", "new-item"])
    assert found["B0PEDAL001"]["cold"] is None
    mean, user_offset, item_offset = round(models.mu, 3), round(models.bias_user[user], 3), round(
        models.bias_item[item], 3)
    assert found["new-item"] == {"bias": round(models.mu + models.bias_user[user], 3),
                                 "svdpp": round(models.svdpp_mu + models.svdpp_user_bias[user], 3), "cold": "item",
                                 "mean": mean, "user_offset": user_offset, "item_offset": None}
    cold_user = estimates.estimates("new-user", ["B0PEDAL001"])["B0PEDAL001"]
    assert cold_user == {"bias": round(models.mu + models.bias_item[item], 3),
                         "svdpp": round(models.svdpp_mu + models.svdpp_item_bias[item], 3), "cold": "user",
                         "mean": mean, "user_offset": None, "item_offset": item_offset}
    both = estimates.estimates("new-user", ["new-item"])["new-item"]
    assert both == {"bias": round(models.mu, 3), "svdpp": round(models.svdpp_mu, 3), "cold": "both",
                    "mean": mean, "user_offset": None, "item_offset": None}


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_memory_of_a_few_reviews_fits_without_dividing_by_zero(tmp_path, count):
    reviews = [Review("U1", "I1", 5, 1, "ok"), Review("U2", "I1", 1, 2, "no"), Review("U1", "I2", 3, 3, "so")]
    store = _store(tmp_path, reviews[:count])
    try:
        estimates = CollabEstimates(store, tmp_path / COLLAB_FILE)
        found = estimates.estimates("U1", ["I1", "I2", "I3"])
    finally:
        store.close()
    values = [v for row in found.values() for v in (row["bias"], row["svdpp"])]
    assert all(np.isfinite(values)) and all(1.0 <= v <= 5.0 for v in values)
    assert found["I3"]["cold"] == "item"


def test_an_empty_memory_has_no_estimates_and_writes_no_file(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite")
    try:
        estimates = CollabEstimates(store, tmp_path / COLLAB_FILE)
        assert estimates.estimates("U1", ["I1"]) == {"I1": {"bias": None, "svdpp": None, "cold": "both"}}
    finally:
        store.close()
    assert not (tmp_path / COLLAB_FILE).exists()


def test_many_items_cost_one_check_and_come_back_in_one_dict(catalog):
    estimates, _ = catalog
    items = [r.item_id for r in CATALOG.reviews] + ["new-item"]
    found = estimates.estimates("U1", items)
    assert list(found) == list(dict.fromkeys(items)) and found["new-item"]["cold"] == "item"


# --------------------------------------------------------------------------- the file


def test_the_file_is_reused_by_a_new_process_without_refitting(catalog):
    estimates, store = catalog
    first = estimates.ensure()
    again = CollabEstimates(store, estimates.path)
    seen, factory = _labels()
    reloaded = again.ensure(factory)
    assert seen == [] and again.refits == 0 and reloaded.fingerprint == first.fingerprint
    assert reloaded.estimate("U1", ["B0CABLE001"]) == first.estimate("U1", ["B0CABLE001"])


def _flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(("where", "said"), [
    (-5, "its contents do not match their SHA-256"),
    (3, "it does not start as a reason4rec collaborative models file"),
    (60, "its header cannot be read"),
])
def test_a_damaged_file_is_said_in_one_line_and_refitted(catalog, where, said):
    estimates, store = catalog
    before = estimates.ensure().estimate("U1", ["B0CABLE001"])
    _flip(estimates.path, where)
    checked = inspect_file(estimates.path)
    assert checked.problem == "damaged" and said in checked.line and "\n" not in checked.line
    fresh = CollabEstimates(store, estimates.path)
    seen, factory = _labels()
    assert fresh.ensure(factory).estimate("U1", ["B0CABLE001"]) == before
    assert len(seen) == 1 and said in seen[0] and seen[0].startswith("collaborative models: ")
    assert inspect_file(estimates.path).problem is None  # written whole again


def test_a_truncated_file_is_damaged(catalog):
    estimates, _ = catalog
    estimates.ensure()
    estimates.path.write_bytes(estimates.path.read_bytes()[:100])
    assert inspect_file(estimates.path).problem == "damaged"


def _rewrite_header(path: Path, change) -> None:
    """Change the header and keep the payload (and its hash) as they were."""
    raw = path.read_bytes()
    magic = raw.index(b"\n") + 1
    length = int.from_bytes(raw[magic:magic + 8], "big")
    header = json.loads(raw[magic + 8:magic + 8 + length])
    change(header)
    text = json.dumps(header).encode()
    path.write_bytes(raw[:magic] + len(text).to_bytes(8, "big") + text + raw[magic + 8 + length:])


def test_a_file_of_another_version_is_refitted(catalog):
    estimates, store = catalog
    estimates.ensure()
    _rewrite_header(estimates.path, lambda header: header.update(format=99))
    seen, factory = _labels()
    fresh = CollabEstimates(store, estimates.path)
    fresh.ensure(factory)
    assert fresh.refits == 1 and "another version (format 99" in seen[0]
    _rewrite_header(estimates.path, lambda header: header["settings"].update(bias_l2=0.5))
    again = CollabEstimates(store, estimates.path)
    again.ensure(factory)
    assert again.refits == 1 and "fitted with other settings" in seen[1]


def test_the_verdict_rule_from_the_ratings_is_kept_in_the_file_and_a_damaged_one_refits(catalog):
    estimates, store = catalog
    assert estimates.verdict_rule is None  # nothing fitted yet
    fitted = estimates.ensure()
    assert fitted.verdict == fit_ratings_verdict_rule(
        [Review(r.user_id, r.item_id, r.rating, r.timestamp, "") for r in store.all_reviews()])
    assert estimates.verdict_rule == fitted.verdict
    again = CollabEstimates(store, estimates.path)
    assert again.ensure().verdict == fitted.verdict and again.refits == 0  # read back, not refitted
    _rewrite_header(estimates.path, lambda header: header["verdict"].update(threshold="Infinity"))
    seen, factory = _labels()
    fresh = CollabEstimates(store, estimates.path)
    assert fresh.ensure(factory).verdict == fitted.verdict and fresh.refits == 1
    assert "damaged" in seen[0] and "verdict threshold is not finite" in seen[0]
    _rewrite_header(estimates.path, lambda header: header.pop("verdict"))
    fresh = CollabEstimates(store, estimates.path)
    fresh.ensure(factory)
    assert fresh.refits == 1 and "its verdict rule is missing" in seen[1]


def test_a_file_fitted_on_another_memory_is_refitted(tmp_path, catalog):
    estimates, _ = catalog
    estimates.ensure()
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other = _store(other_folder, CATALOG.reviews[:5])
    try:
        shutil.copy(estimates.path, other_folder / COLLAB_FILE)
        seen, factory = _labels()
        theirs = CollabEstimates(other, other_folder / COLLAB_FILE)
        models = theirs.ensure(factory)
        assert theirs.refits == 1 and "fitted on another memory" in seen[0] and models.fingerprint.reviews == 5
    finally:
        other.close()


def test_a_file_whose_hash_matches_is_still_never_unpickled(catalog):
    """An object array with a matching SHA-256 (someone rewrote the file on purpose) is refused."""
    estimates, store = catalog
    estimates.ensure()
    buffer = io.BytesIO()
    np.savez(buffer, users=np.array([{"evil": 1}], dtype=object))
    payload = buffer.getvalue()

    def swap(header):
        header.update(payload_bytes=len(payload), payload_sha256=hashlib.sha256(payload).hexdigest())

    raw = estimates.path.read_bytes()
    magic = raw.index(b"\n") + 1
    length = int.from_bytes(raw[magic:magic + 8], "big")
    estimates.path.write_bytes(raw[:magic + 8 + length])  # the header alone
    estimates.path.write_bytes(estimates.path.read_bytes() + payload)
    _rewrite_header(estimates.path, swap)
    seen, factory = _labels()
    fresh = CollabEstimates(store, estimates.path)
    fresh.ensure(factory)
    assert fresh.refits == 1 and "is damaged" in seen[0]


def test_a_file_that_cannot_be_written_leaves_the_estimates_in_ram(tmp_path, catalog):
    _, store = catalog
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    estimates = CollabEstimates(store, blocked / COLLAB_FILE)
    assert estimates.estimates("U1", ["B0CABLE001"])["B0CABLE001"]["bias"] is not None
    assert estimates.write_error and "could not be written" in estimates.write_error


def test_write_models_replaces_the_file_whole(tmp_path, catalog):
    _, store = catalog
    reviews = [r for item in store.item_ids() for r in store.item_reviews(item)]
    path = tmp_path / "models" / COLLAB_FILE
    write_models(path, fit_models(reviews), store.where)
    assert inspect_file(path).problem is None and [p.name for p in path.parent.iterdir()] == [COLLAB_FILE]


# --------------------------------------------------------------------------- the memory keeps them in step


def test_add_review_refits_and_moves_that_users_estimate(ram_memory, tmp_path):
    ram_memory.collab = CollabEstimates(ram_memory.store, tmp_path / COLLAB_FILE)
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    assert ram_memory.collab.refits == 1 and (tmp_path / COLLAB_FILE).is_file()
    before = ram_memory.collab.estimates("U4", ["B0PEDAL001"])["B0PEDAL001"]
    for item in ("B0STRING01", "B0STAND001", "B0PEDAL002"):
        ram_memory.add_review("U4", item, 1, "Broke at once, awful.", summarizer=LexiconSummarizer())
    assert ram_memory.collab.refits == 4
    after = ram_memory.collab.estimates("U4", ["B0PEDAL001"])["B0PEDAL001"]
    assert after["bias"] < before["bias"] - 0.2 and after["svdpp"] < before["svdpp"]
    assert ram_memory.collab.refits == 4  # current: no refit for the estimate itself
    ram_memory.add_review("U4", "B0PEDAL002", 1, "Broke at once, awful.", summarizer=LexiconSummarizer())
    assert ram_memory.collab.refits == 4  # the same review again changes nothing


def test_a_new_users_first_review_makes_them_known(ram_memory):
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    assert ram_memory.collab.estimates("U9", ["B0PEDAL001"])["B0PEDAL001"]["cold"] == "user"
    ram_memory.add_review("U9", "B0STAND001", 5, "Solid stand.", summarizer=LexiconSummarizer())
    assert ram_memory.collab.estimates("U9", ["B0PEDAL001"])["B0PEDAL001"]["cold"] is None


def test_sync_refits_what_another_writer_stored_and_says_so(ram_memory):
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    assert ram_memory.sync(LexiconSummarizer()).collab is None  # nothing changed
    ram_memory.store_review("U1", "B0CABLE001", 2, "Crackles.")
    seen, factory = _labels()
    report = ram_memory.sync(LexiconSummarizer(), bars=factory)
    assert report.collab and report.collab.startswith("the reviews changed: refitted on 13 reviews")
    assert any(label.startswith("collaborative models: the reviews changed") for label in seen)


def test_build_refits_even_when_nothing_changed(ram_memory):
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    report = ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    assert report.collab and report.collab.startswith("rebuilt on request") and ram_memory.collab.refits == 2


# --------------------------------------------------------------------------- the agent's answer


def test_the_answer_carries_the_estimates_and_the_predictor_rating_is_untouched(fake_agent):
    state = fake_agent.run("explain", user_id="U1", item_id="B0PEDAL002")
    collab = state["collab"]
    assert state["rating"] == RATING.as_dict()
    expected = fake_agent.context.memory.collab.estimates("U1", ["B0PEDAL002"])["B0PEDAL002"]
    assert {k: collab[k] for k in expected} == expected
    assert collab["fitted_on"] == 12 and collab["refit"] is None
    parts = [f"{who} {abs(collab[key]):.2f} {'above' if collab[key] > 0 else 'below'} it"
             for who, key in (("this user rates", "user_offset"), ("this item is rated", "item_offset"))]
    assert (f"*From the ratings alone: {collab['bias']:.2f} stars (the average rating {collab['mean']:.2f}; "
            f"{', '.join(parts)}), {collab['svdpp']:.2f} by users of similar taste (SVD++).*") in state["answer"]
    assert collab["bias"] == pytest.approx(collab["mean"] + collab["user_offset"] + collab["item_offset"], abs=2e-3)


def test_a_stale_model_is_fitted_before_the_answer_as_a_step_that_says_why(fake_agent):
    memory = fake_agent.context.memory
    memory.store_review("U2", "B0STAND001", 3, "Wobbles a bit.")  # stored, not refitted: another writer's way
    *events, done = fake_agent.stream("predict", user_id="U2", item_id="B0STRING01")
    started = [e["step"] for e in events if e["type"] == "step_started"]
    [fitting] = [s for s in started if s.startswith("collaborative models: ")]
    # fitted during recall, before the reason: the verdict rule reads the estimate
    assert "the reviews changed" in fitting
    assert started.index("recall") < started.index(fitting) < started.index("reason")
    assert [e for e in events if e["type"] == "step_finished" and e["step"] == fitting]
    assert done["state"]["collab"]["refit"].startswith("the reviews changed: refitted on 13 reviews")


def test_the_answers_line_names_a_cold_side_or_why_there_is_none(fake_agent):
    from reason4rec.agent.answers import collab_line

    found = fake_agent.context.memory.collab.estimates("U1", ["never-reviewed"])["never-reviewed"]
    assert found["cold"] == "item" and collab_line(found).endswith("(SVD++); new item: user side only.*")
    assert collab_line({"bias": 4.0, "svdpp": 4.1, "cold": "both", "mean": 4.0, "user_offset": None,
                        "item_offset": None}) == (
        "*From the ratings alone: 4.00 stars (the average rating 4.00), 4.10 by users of similar "
        "taste (SVD++); new user and item: the global mean only.*")
    assert "(the average rating 4.30; this user rates 0.20 above it, this item is rated 0.10 below it)" in collab_line(
        {"bias": 4.4, "svdpp": 4.5, "cold": None, "mean": 4.3, "user_offset": 0.2, "item_offset": -0.1})
    assert "4.40 stars by this user's and this item's averages" in collab_line({"bias": 4.4, "svdpp": 4.5})  # before
    empty = collab_line({"bias": None, "svdpp": None, "cold": "both"})
    assert empty.endswith("nothing yet, the memory holds no rating.*")
    assert collab_line({"error": "ValueError: x"}) == "*Estimates from the ratings unavailable: ValueError: x.*"
    assert collab_line(None) == ""


def test_why_json_shows_the_estimates():
    from reason4rec.app.views import TURN_FIELDS

    assert "collab" in TURN_FIELDS


# --------------------------------------------------------------------------- doctor


def test_doctor_reports_the_models_state(tmp_path):
    from reason4rec.app.doctor import collab_models
    from reason4rec.config import MemoryConfig, load_config

    config = load_config(overrides={"home": str(tmp_path)})
    config = config.model_copy(update={"memory": MemoryConfig(store_path=tmp_path / "m" / "reviews.sqlite")})
    assert collab_models(config).ok and "not fitted yet" in collab_models(config).detail
    store = _store(tmp_path / "m", CATALOG.reviews)
    try:
        CollabEstimates(store, tmp_path / "m" / COLLAB_FILE).ensure()
        found = collab_models(config)
        assert found.ok and "fitted on 12 reviews" in found.detail and "the store holds" not in found.detail
        assert "the verdict rule from these ratings: verdicts are the Reasoner's: " in found.detail
        store.add("U1", "B0CABLE001", 2, "Crackles.")
    finally:
        store.close()
    stale = collab_models(config)
    assert stale.ok and "the store holds 13" in stale.detail
    _flip(tmp_path / "m" / COLLAB_FILE, -3)
    damaged = collab_models(config)
    assert not damaged.ok and "SHA-256" in damaged.detail and "memory sync" in damaged.fix

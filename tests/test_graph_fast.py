"""The deliberation graph and its nodes in milliseconds: the real graph, a real memory (SQLite and
in-RAM Chroma), a fake backend and a hashed-words embedding (``tests/fakes.py``). The same turns
on the tiny trained experts and the real sentence model are in ``test_graph.py``."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import (
    CATALOG,
    RATING,
    REASON,
    SUMMARY,
    TITLES,
    Call,
    FakeBackend,
    FakeCompletions,
    HashedWords,
    SamplingFake,
    SpyBackend,
)
from langgraph.runtime import Runtime

from reason4rec.agent import Agent, nodes, turn_input
from reason4rec.agent.answers import collab_line
from reason4rec.agent.event_text import progress_text
from reason4rec.config import Expert
from reason4rec.experts.backend import Backend
from reason4rec.experts.quality.reason_drafts import ROUND_SEED_STEP
from reason4rec.experts.rating import RatingDistribution

STEPS = ("step_started", "step_finished")
SUMMARIZE, REASONER, PREDICTOR = Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR
UNKNOWN_USER = ("unknown user 'nobody': the memory holds no review by this user yet; add one first "
                "(`reason4rec memory add-review`)")


def _turn(agent: Agent, intent: str, **fields) -> tuple[list[dict], dict]:
    *events, done = agent.stream(intent, **fields)
    return events, done["state"]


def _steps(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"].removeprefix("step_"), e["step"]) for e in events if e["type"] in STEPS]


def _started(events: list[dict]) -> list[str]:
    return [e["step"] for e in events if e["type"] == "step_started"]


# --------------------------------------------------------------------------- the fakes themselves


def test_the_fake_backend_is_a_backend_and_records_what_it_was_asked():
    backend = FakeBackend()
    assert isinstance(backend, Backend)
    assert all(isinstance(fake, Backend) for fake in (SpyBackend(backend), FakeCompletions()))
    streamed: dict[int, str] = {}
    texts = backend.generate("summarizer", [[], []], on_text=lambda row, piece: streamed.update(
        {row: streamed.get(row, "") + piece}))
    assert texts == [SUMMARY, SUMMARY] and streamed == {0: SUMMARY, 1: SUMMARY}
    stream = backend.stream(REASONER, [])
    assert next(stream) == "Warm " and "".join(["Warm ", *stream]) == REASON
    assert backend.rate(PREDICTOR, [[], []]) == [RATING, RATING] and RATING.expected == pytest.approx(4.0456, abs=1e-4)
    with pytest.raises(ValueError, match="one to one"):
        backend.rate(PREDICTOR, [[]], response_prefixes=["a", "b"])
    assert backend.calls == [Call("generate", SUMMARIZE, 2), Call("stream", REASONER, 1), Call("rate", PREDICTOR, 2)]
    assert backend.generated == [("summarizer", 2)] and backend.prompts == 2
    assert backend.version("reasoner") == "fake-reasoner" and FakeBackend(versions="v1").version(SUMMARIZE) == "v1"


def test_the_fake_backend_answers_and_fails_as_configured():
    sure = RatingDistribution.from_logits([0.0, 0.0, 0.0, 0.0, 9.0])
    backend = FakeBackend({"reasoner": lambda conversation: conversation[-1]["content"].upper()},
                          rating=lambda conversation: sure, errors={"predictor": ConnectionError("refused")})
    assert backend.generate(REASONER, [[{"role": "user", "content": "quiet"}]]) == ["QUIET"]
    assert backend.answer(SUMMARIZE, []) == SUMMARY  # the other experts keep their defaults
    with pytest.raises(ConnectionError, match="refused"):
        backend.rate(PREDICTOR, [[]])
    assert backend.asked("rate") == [Call("rate", PREDICTOR, 1)]
    assert FakeBackend(rating=sure).rate(PREDICTOR, [[]])[0].most_likely == 5


def test_hashed_words_is_a_registered_deterministic_cosine_embedding():
    from chromadb.utils.embedding_functions import known_embedding_functions

    embedding = HashedWords()
    warm, again, pedal, strings, empty = embedding(["warm tone", "Warm TONE!", "a warm tone pedal", "dead strings", ""])
    assert np.allclose(warm, again) and all(np.linalg.norm(v) == pytest.approx(1) for v in (warm, pedal, empty))
    assert warm @ pedal > 0.7 and warm @ strings == 0
    rebuilt = known_embedding_functions[HashedWords.name()].build_from_config(embedding.get_config())
    assert np.allclose(rebuilt(["warm tone"])[0], warm) and not embedding.is_legacy()
    assert embedding.default_space() == "cosine"
    with pytest.raises(ValueError, match="dimensions"):
        HashedWords.validate_config({"dimensions": 0})


def test_the_ram_memory_is_a_real_memory(ram_memory, tmp_path):
    from reason4rec.memory.summarizers import LexiconSummarizer

    assert ram_memory.counts()["reviews"] == 0 and ram_memory.store.path.parent == tmp_path
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    status = ram_memory.status()
    assert (status["reviews"], status["summaries"], status["user_profiles"], status["item_profiles"]) == (12, 12, 4, 6)
    assert ram_memory.search_items("quiet compression for apartment practice", k=1)[0].profile.entity_id == "B0PEDAL002"
    assert ram_memory.item_titles() == TITLES


def test_the_fast_fixtures_are_not_marked_slow(request, fake_agent):
    assert request.node.get_closest_marker("slow") is None


# --------------------------------------------------------------------------- nodes, one at a time


def test_the_nodes_run_alone_on_a_state_and_a_context(fake_agent):
    runtime, backend = Runtime(context=fake_agent.context), fake_agent.context.backend
    state = turn_input("explain", user_id="U1", item_id="B0PEDAL002")
    resolved = nodes.resolve(state, runtime)
    assert {k: v for k, v in resolved.items() if k != "timings"} == {
        "item_id": "B0PEDAL002", "item_title": "Quiet Compressor Pedal",
        "item_name": "Quiet Compressor Pedal (B0PEDAL002)"}
    state = {**state, **resolved}
    recalled = nodes.recall(state, runtime)
    assert [v["item_id"] for v in recalled["user_history"]] == ["B0PEDAL001", "B0STRING01", "B0STAND001"]
    assert [v["title"] for v in recalled["user_history"]] == [TITLES["B0PEDAL001"], TITLES["B0STRING01"],
                                                              TITLES["B0STAND001"]]
    assert [v["user_id"] for v in recalled["item_history"]] == ["U3", "U2"]  # oldest first
    from fakes import DEAD, QUIET, STURDY, WARM

    from reason4rec.experts.summaries import stored_summary

    # redone by the Summarizer, each answer kept to what its review names (issue 37)
    texts = {"B0PEDAL001": WARM, "B0STRING01": DEAD, "B0STAND001": STURDY, "B0PEDAL002": QUIET}
    assert [v["summary"] for v in [*recalled["user_history"], *recalled["item_history"]]] == [
        stored_summary(SUMMARY, texts[item], stars) for item, stars in  # (the stars weigh the sides)
        [("B0PEDAL001", 5), ("B0STRING01", 2), ("B0STAND001", 4), ("B0PEDAL002", 4), ("B0PEDAL002", 5)]]
    assert (recalled["user_mean"], recalled["item_mean"], recalled["already_rated"]) == (3.667, 4.5, None)
    state = {**state, **recalled}
    reasoned = nodes.reason(state, runtime)
    assert reasoned["reason"] == REASON and reasoned["reason_check"]["invented"] == ["player"]
    predicted = nodes.predict({**state, **reasoned}, runtime)
    assert predicted["rating"] == RATING.as_dict()
    assert backend.calls == [Call("generate", SUMMARIZE, 5), Call("stream", REASONER, 1), Call("rate", PREDICTOR, 1)]
    assert set(predicted["timings"]) == {"predict"}


def test_a_failing_node_returns_its_error_instead_of_raising(fake_agent):
    runtime = Runtime(context=fake_agent.context)
    refused = nodes.resolve(turn_input("explain", user_id="nobody", item_id="B0PEDAL001"), runtime)
    assert refused["error"] == UNKNOWN_USER
    fake_agent.context.backend = FakeBackend(errors={"predictor": ConnectionError("connection refused")})
    down = nodes.predict(turn_input("predict", user_id="U1", item_id="B0PEDAL002"), runtime)
    assert down["error"] == "the expert backend or memory is unreachable: ConnectionError: connection refused"


# --------------------------------------------------------------------------- whole turns


@pytest.mark.parametrize(("intent", "fields", "started"), [
    ("explain", {"item_id": "B0PEDAL002"}, ["resolve", "recall", "summarize", "reason", "predict", "respond"]),
    ("predict", {"item_id": "B0PEDAL002"}, ["resolve", "recall", "summarize", "reason", "predict", "respond"]),
    ("recommend", {"k": 2}, ["resolve", "recommend", "respond"]),
    ("add_review", {"item_id": "B0CABLE001", "review": {"rating": 4, "text": "Quiet cable."}},
     ["resolve", "update", "respond"]),
    ("profile", {}, ["resolve", "profile", "respond"]),
])
def test_each_intent_runs_its_steps_in_order_each_finished_before_the_next(fake_agent, intent, fields, started):
    events, state = _turn(fake_agent, intent, user_id="U1", **fields)
    assert _started(events) == started and state["error"] is None and state["answer"]
    opened: list[str] = []
    for kind, step in _steps(events):  # every step ends, the Summarizer's inside recall's
        if kind == "started":
            opened.append(step)
        else:
            assert opened.pop() == step
    assert not opened and set(state["timings"]) == set(started) - {"summarize"}
    assert [e["type"] for e in events if e["type"] == "done"] == []


def test_explain_streams_memory_then_tokens_then_the_rating_and_answers(fake_agent):
    backend = fake_agent.context.backend
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    kinds = [e["type"] for e in events]
    summarized = [(e["done"], e["total"]) for e in events if e["type"] == "progress"]
    assert summarized == [(0, 5), (5, 5)]  # the lexicon summaries shown are redone by the Summarizer
    retrieved = [e["kind"] for e in events if e["type"] == "retrieved"]
    assert retrieved == ["user_history", "item_history"]
    assert (kinds.index("progress") < kinds.index("retrieved") < kinds.index("token")
            < len(kinds) - kinds[::-1].index("token") - 1 < kinds.index("rating"))
    assert events.index({"type": "step_started", "step": "reason"}) < kinds.index("token")
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert len(tokens) == 6 and "".join(tokens) == REASON == state["reason"]
    [rating] = [e for e in events if e["type"] == "rating"]
    assert {k: v for k, v in rating.items() if k != "type"} == state["rating"] == RATING.as_dict()
    assert state["answer"].startswith("**Quiet Compressor Pedal (B0PEDAL002)** should suit **U1**: predicted "
                                      f"**4.05** / 5 (confidence 0.41).\n\n{collab_line(state['collab'])}\n\n"
                                      f"> {REASON}\n\n*Not in the reviews it was "
                                      "shown: player.*\n\n**Evidence**\n")
    assert backend.calls == [Call("generate", SUMMARIZE, 5), Call("stream", REASONER, 1), Call("rate", PREDICTOR, 1)]
    again, _ = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert "summarize" not in _started(again) and backend.generated == [("summarizer", 5)]  # kept in memory


def test_every_reason_comes_with_the_reviews_it_rests_on(fake_agent):
    """Evidence (issue 37): the reason's aspects tied to the reviews they are found in, the user's
    own shown reviews quoted with item, stars and date, the buyers' aspects counted, all checkable
    against the stored reviews; in the answer and in the state (so in --json)."""
    from fakes import DEAD, QUIET, STURDY, WARM

    _, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert state["item_name"] == "Quiet Compressor Pedal (B0PEDAL002)"  # kept by the graph's state
    evidence = state["evidence"]
    tone, player = evidence["aspects"]
    assert (tone["phrase"], tone["mark"], player["phrase"], player["mark"]) == ("tone", 1, "player", None)
    assert {s["by"] for s in tone["sources"]} == {"you"} and player["sources"] == []  # the buyers wrote of compression
    warm = next(s for s in tone["sources"] if s["item"] == "Blue Overdrive Pedal (B0PEDAL001)")
    assert warm["quote"] == WARM and warm["stars"] == 5 and warm["date"] == "2013-04-02"
    own = evidence["own"]  # the latest shown first, each quoted from its own text
    assert [o["item"] for o in own] == ["Folding Guitar Stand (B0STAND001)", "Nickel Bass Strings (B0STRING01)",
                                        "Blue Overdrive Pedal (B0PEDAL001)"]
    assert [o["quote"] for o in own] == [STURDY, DEAD, WARM] and [o["stars"] for o in own] == [4, 2, 5]
    buyers = evidence["buyers"]
    assert buyers["reviews"] == 2 and buyers["praised"][0]["aspect"] == "compression"
    assert buyers["praised"][0]["buyers"] == 2 and buyers["praised"][0]["quote"] == QUIET
    assert buyers["criticised"] == []  # the Summarizer's "hum" is not in their reviews: dropped
    answer = state["answer"]
    assert "- the reason names: tone [1]; *in no review shown: player*" in answer
    assert "- your review of **Blue Overdrive Pedal (B0PEDAL001)**, 5 stars, 2013-04-02 [1]: “" + WARM + "”" in answer
    assert "- buyers praised *compression* (2 of 2): “" + QUIET + "”" in answer
    _, ranked = _turn(fake_agent, "recommend", user_id="U1", k=2)
    assert all(r["evidence"]["aspects"] and "**Evidence**" in ranked["answer"] for r in ranked["recommendations"])


def test_the_chat_shows_every_review_behind_the_last_answer_on_request(fake_agent):
    from rich.console import Console

    from reason4rec.chat.session import Chat
    from reason4rec.config import load_config

    console = Console(width=200, record=True, force_terminal=False)
    chat = Chat(load_config(), console, user="U1", opener=lambda config, **kwargs: fake_agent)
    chat.handle("/evidence")
    assert "no evidence yet" in console.export_text()
    chat.handle("/why B0PEDAL002")
    chat.handle("/evidence")
    shown = console.export_text().split("/why")[-1]
    assert shown.count("Quiet Compressor Pedal (B0PEDAL002)") >= 2 and "buyers praised compression (2 of 2)" in shown


def test_quoted_review_text_cannot_format_the_answer():
    from reason4rec.agent.answers import evidence_lines

    hostile = {"aspects": [], "own": [{"review_id": "r", "item": "**x** [a](http://e)", "stars": 1, "date": None,
                                       "quote": "# big _under_ <b>"}], "buyers": {}}
    [_, _, line] = evidence_lines(hostile)
    assert line == "- your review of **\\*\\*x\\*\\* \\[a\\](http://e)**, 1 star: “\\# big \\_under\\_ \\<b\\>”"


def test_predict_on_an_item_the_user_rated_says_so_first(fake_agent):
    events, state = _turn(fake_agent, "predict", user_id="U1", item_id="B0PEDAL001")
    kinds = [e["type"] for e in events]
    assert {"type": "already_rated", "rating": 5.0, "date": "2013-04-02"} in events
    assert kinds.index("already_rated") < kinds.index("token") < kinds.index("rating")
    assert all(v["item_id"] != "B0PEDAL001" for v in state["user_history"])  # the prediction never saw it
    assert state["answer"] == ("**You rated it 5 stars on 2013-04-02.** What the model would have predicted without "
                               "your review:\n\n**Blue Overdrive Pedal (B0PEDAL001)** should suit **U1**: predicted "
                               "**4.05** / 5 (confidence 0.41).\n\n" + collab_line(state["collab"]))  # no reason
    assert state["collab"]["with_own_rating"] and collab_line(state["collab"]).endswith(
        "; fitted with your own rating of it.*")


def _by_title(conversation) -> RatingDistribution:
    """5 stars for the cable, 4 for the compressor, 2 for anything else."""
    text = " ".join(message["content"] for message in conversation)
    star = 5 if TITLES["B0CABLE001"] in text else 4 if TITLES["B0PEDAL002"] in text else 2
    return RatingDistribution.from_logits([9.0 if k == star else 0.0 for k in range(1, 6)])


def test_recommend_shortlists_by_the_estimates_reasons_the_first_alone_and_ranks_by_the_rating(fake_agent):
    backend = fake_agent.context.backend
    backend.rating = _by_title
    events, state = _turn(fake_agent, "recommend", user_id="U1", k=2)
    [candidates] = [e["records"] for e in events if e["type"] == "retrieved" and e["kind"] == "candidates"]
    assert {c["id"] for c in candidates} == {"B0PEDAL002", "B0TUNER001", "B0CABLE001"}  # never one U1 reviewed
    estimates = fake_agent.context.memory.collab.estimates("U1", [c["id"] for c in candidates])
    best = sorted(estimates, key=lambda item: -estimates[item]["svdpp"])[:2]
    [shortlist] = [e["records"] for e in events if e["type"] == "retrieved" and e["kind"] == "shortlist"]
    assert [r["item_id"] for r in shortlist] == best  # only these two are reasoned
    reasoned = [e for e in events if e["type"] == "progress" and e["step"] == "recommend"]
    assert [(e["done"], e["total"], len(e.get("items", []))) for e in reasoned] == [(0, 2, 1), (1, 2, 1), (2, 2, 0)]
    announced = [item["id"] for e in reasoned for item in e.get("items", [])]
    assert announced == best
    assert [e["candidate"] for e in events if e["type"] == "token"] == [c for c in announced for _ in range(6)]
    assert backend.calls == [Call("generate", REASONER, 1), Call("rate", PREDICTOR, 1),
                             Call("generate", REASONER, 1), Call("rate", PREDICTOR, 1)]
    rated = [e for e in events if e["type"] == "candidate_rated"]
    assert [e["candidate"] for e in rated] == best and all(1 <= e["expected"] <= 5 for e in rated)
    by_rating = sorted(best, key=lambda item: -_by_title([{"content": TITLES.get(item, item)}]).expected)
    assert [r["item_id"] for r in state["recommendations"]] == by_rating
    assert [r["reason"] for r in state["recommendations"]] == [REASON, REASON]
    assert all(r["collab"] == estimates[r["item_id"]] for r in state["recommendations"])
    assert state["answer"].startswith("Top 2 for **U1**, by their profile:\n\n1. ")


def _reading(backend: FakeBackend) -> list[str]:
    """Record every Predictor prompt ``backend`` rates (the canned rating still answers)."""
    asked: list[str] = []

    def record(conversation) -> RatingDistribution:
        asked.append(conversation[-1]["content"])
        return RATING

    backend.rating = record
    return asked


def _estimates_line(estimate) -> str:
    return f"Estimates from ratings alone: user+item bias {estimate['bias']:.2f}, SVD++ {estimate['svdpp']:.2f}"


def test_a_predictor_that_learnt_with_the_estimates_reads_them_and_no_other_does(fake_agent):
    asked = _reading(fake_agent.context.backend)
    _, state = _turn(fake_agent, "predict", user_id="U1", item_id="B0TUNER001")
    assert not state["collab"]["read_by_predictor"] and "Estimates" not in asked[-1]
    fake_agent.context.predictor_estimates = True
    _, state = _turn(fake_agent, "predict", user_id="U1", item_id="B0TUNER001")
    assert state["collab"]["read_by_predictor"] and _estimates_line(state["collab"]) in asked[-1]
    assert collab_line(state["collab"]).endswith("; the Predictor read these.*")
    # never estimates fitted on the user's own rating of this very item
    _, state = _turn(fake_agent, "predict", user_id="U1", item_id="B0PEDAL001")
    assert state["collab"]["with_own_rating"] and not state["collab"]["read_by_predictor"]
    assert "Estimates" not in asked[-1]


def test_each_recommendation_is_rated_with_its_own_estimates(fake_agent):
    fake_agent.context.predictor_estimates = True
    asked = _reading(fake_agent.context.backend)
    _, state = _turn(fake_agent, "recommend", user_id="U1", k=2)
    lines = {_estimates_line(r["collab"]) for r in state["recommendations"]}
    assert len(asked) == 2 and {line for line in lines if any(line in prompt for prompt in asked)} == lines


def test_a_reasoner_that_learnt_with_the_stars_is_shown_them_and_no_other_is(fake_agent):
    asked: list[str] = []
    fake_agent.context.backend.answers[REASONER] = lambda conversation: asked.append(
        conversation[-1]["content"]) or REASON
    _turn(fake_agent, "explain", user_id="U1", item_id="B0TUNER001")
    assert "(rating)" not in asked[-1]
    fake_agent.context.reasoner_stars = True
    _, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0TUNER001")
    assert "The user's past reviews (rating):" in asked[-1] and "Other users on this item (rating):" in asked[-1]
    first = state["user_history"][0]
    assert f"{first['title']} ({int(first['rating'])}):" in asked[-1]


GROUNDED = "Warm tone suits them."
"""A draft naming only what the histories say (REASON also names "player", which none does)."""


def _drafting(agent: Agent, drafts: list[str]) -> SamplingFake:
    """Put a backend that can sample under ``agent``, 4 drafts a reason; the Predictor's ratings
    say which reason it read (5 stars for GROUNDED, 3 for anything else)."""
    def by_reason(conversation) -> RatingDistribution:
        star = 5 if GROUNDED in conversation[-1]["content"] else 3
        return RatingDistribution.from_logits([9.0 if k == star else 0.0 for k in range(1, 6)])

    backend = SamplingFake(drafts=drafts, rating=by_reason)
    agent.context.backend, agent.context.reason_drafts = backend, 4
    return backend


def test_a_draft_that_invents_less_replaces_the_streamed_reason(fake_agent):
    backend = _drafting(fake_agent, ["It is carved from bamboo.", GROUNDED])
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert "".join(e["text"] for e in events if e["type"] == "token") == REASON  # the greedy draft, streamed
    drafting = [(e["done"], e["total"]) for e in events if e["type"] == "progress" and e["unit"] == "drafts"]
    assert drafting == [(0, 3), (3, 3)]
    [revised] = [e for e in events if e["type"] == "reason_revised"]
    assert revised == {"type": "reason_revised", "text": GROUNDED, "drafts": 4, "invented": ["player"]}
    kinds = [e["type"] for e in events]
    assert kinds.index("reason_revised") < kinds.index("rating")
    assert state["reason"] == GROUNDED and state["reason_check"] == {"grounding": 1.0, "invented": [], "drafts": 4}
    assert state["rating"]["expected"] > 4.9  # the Predictor read the chosen draft (3 stars for any other)
    assert f"> {GROUNDED}" in state["answer"] and "Not in the reviews" not in state["answer"]
    assert backend.calls[1:] == [Call("stream", REASONER, 1), Call("sample", REASONER, 1), Call("rate", PREDICTOR, 1)]
    _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert backend.seeds[0] == backend.seeds[1] is not None  # the same question draws the same drafts


def test_the_streamed_reason_stays_when_no_draft_invents_less(fake_agent):
    _drafting(fake_agent, ["It is carved from bamboo.", "Rosewood, as the player likes."])
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert not [e for e in events if e["type"] == "reason_revised"]
    assert state["reason"] == REASON and state["reason_check"]["drafts"] == 4
    assert "*Not in the reviews it was shown: player.*" in state["answer"]


def test_a_reason_still_poorly_grounded_gets_a_second_round_of_drafts(fake_agent):
    backend = _drafting(fake_agent, [])
    invented = "It is carved from bamboo."
    backend.drafts = lambda conversation: [invented] if len(backend.seeds) == 1 else [invented] * 3 + [GROUNDED]
    fake_agent.context.reason_rounds = 2
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    drafting = [(e["done"], e["total"]) for e in events if e["type"] == "progress" and e["unit"] == "drafts"]
    assert drafting == [(0, 3), (3, 7), (7, 7)]  # the first round kept REASON (it names "player"): 4 more
    assert state["reason"] == GROUNDED and state["reason_check"]["drafts"] == 8
    assert [c.conversations for c in backend.asked("sample")] == [1, 1]
    assert backend.seeds[1] == (backend.seeds[0] + ROUND_SEED_STEP) % 2**32  # no draw of round 1 repeated
    assert progress_text({"type": "progress", "step": "reason", "done": 3, "total": 7, "unit": "drafts"}) == (
        "still under 80% in the reviews shown: drafting 4 more reasons")


def test_one_draft_or_a_backend_that_cannot_sample_keeps_the_greedy_reason(fake_agent):
    backend = fake_agent.context.backend  # a FakeBackend: no sample()
    fake_agent.context.reason_drafts = 4
    _, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert state["reason"] == REASON and not backend.asked("sample") and state["reason_check"]["drafts"] == 1
    sampling = _drafting(fake_agent, [GROUNDED])
    fake_agent.context.reason_drafts = 1
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert state["reason"] == REASON and not sampling.asked("sample")
    assert not [e for e in events if e["type"] == "progress" and e.get("unit") == "drafts"]


def test_a_cancel_during_the_drafts_stops_them_at_the_next_token(fake_agent):
    backend = _drafting(fake_agent, ["It is carved from bamboo, a long and careful draft.", GROUNDED])
    written: list[str] = []
    sample = backend.sample

    def cancel_midway(*args, on_text=None, **kwargs):
        def watch(row: int, piece: str) -> None:
            written.append(piece)
            if len(written) == 2:
                fake_agent.cancel()
            on_text(row, piece)
        return sample(*args, on_text=watch, **kwargs)

    backend.sample = cancel_midway
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    assert state["error"].startswith("cancelled") and state["rating"] is None
    assert len(written) == 2  # the third piece of the first draft was never reached
    assert not backend.asked("rate") and "reason_revised" not in [e["type"] for e in events]


def test_the_kept_recommendations_are_redrafted_together_and_revised_one_by_one(fake_agent):
    backend = _drafting(fake_agent, lambda conversation: [GROUNDED] if TITLES["B0CABLE001"] in
                        conversation[-1]["content"] else ["It is carved from bamboo."])
    events, state = _turn(fake_agent, "recommend", user_id="U1", k=3)
    assert backend.asked("sample") == [Call("sample", REASONER, 3)]  # one call for every candidate kept
    assert backend.asked("rate") == [Call("rate", PREDICTOR, 1), Call("rate", PREDICTOR, 2),  # first alone, the rest
                                     Call("rate", PREDICTOR, 1)]  # the revised, again
    [revised] = [e for e in events if e["type"] == "reason_revised"]
    assert revised["candidate"] == "B0CABLE001" and revised["text"] == GROUNDED
    by_item = {r["item_id"]: r for r in state["recommendations"]}
    assert by_item["B0CABLE001"]["reason"] == GROUNDED and by_item["B0CABLE001"]["rating"]["expected"] > 4.9
    assert {by_item[i]["reason"] for i in by_item if i != "B0CABLE001"} == {REASON}
    assert state["recommendations"][0]["item_id"] == "B0CABLE001"  # ranked again after its new rating
    _, state = _turn(fake_agent, "recommend", user_id="U1", k=1)
    assert backend.asked("sample")[-1] == Call("sample", REASONER, 1)  # only the kept candidate is redrafted


def test_a_recommendation_is_steered_by_the_need_or_by_an_item_it_names(fake_agent):
    quiet = fake_agent.recommend("U1", k=1, query="quiet compression for apartment practice")
    assert [r["item_id"] for r in quiet["recommendations"]] == ["B0PEDAL002"]
    assert quiet["answer"].startswith("Top 1 for **U1**, for: *quiet compression for apartment practice*:")
    like = fake_agent.recommend("U4", k=1, like_item="B0PEDAL002")
    assert like["like_title"] == "Quiet Compressor Pedal" and "B0PEDAL002" not in like["answer"].split("\n")[-1]
    assert like["answer"].startswith("Top 1 for **U4**, for: *similar to Quiet Compressor Pedal (B0PEDAL002)*:")


def test_add_review_then_profile_on_one_thread(fake_agent):
    backend = fake_agent.context.backend
    from reason4rec.experts.summaries import stored_summary

    text = "Braided and silent, no crackle at all."
    summary = stored_summary(SUMMARY, text)  # the Summarizer's answer kept to what the review names (issue 37)
    assert summary.startswith("Positive Aspects: no crackle\n")
    added = fake_agent.add_review("U5", "B0CABLE001", 4, text, thread_id="t-new")
    assert added["error"] is None and added["update"]["outcome"] == "created" and not added["update"]["pending"]
    assert added["update"]["summary"] == summary and backend.generated == [("summarizer", 1)]
    assert added["answer"] == ("Saved: review of **Braided Instrument Cable (B0CABLE001)** by **U5**. Memory updated: "
                               + " / ".join(summary.splitlines()))
    profile = fake_agent.profile(None, thread_id="t-new")  # the thread remembers who is asking
    assert profile["user_id"] == "U5" and profile["error"] is None
    assert profile["profile"]["review_count"] == 1
    assert profile["profile"]["recent"] == [{"item_id": "B0CABLE001", "item_title": TITLES["B0CABLE001"],
                                             "item_name": "Braided Instrument Cable (B0CABLE001)",
                                             "rating": 4.0, "summary": summary}]
    assert profile["answer"].startswith("**U5** (1 reviews): Likes: no crackle. Cares about: no crackle.")
    assert "- Braided Instrument Cable (B0CABLE001) (4 stars): Positive Aspects: no crackle" in profile["answer"]
    again = fake_agent.add_review("U5", "B0CABLE001", 4, text, thread_id="t-new")
    assert again["update"]["outcome"] == "unchanged" and again["answer"].startswith("Already saved:")
    assert backend.generated == [("summarizer", 1)] and fake_agent.thread("t-new")["turns"] == 3
    assert fake_agent.memory.review_of("U5", "B0CABLE001").text == text


def test_a_threads_next_turn_reports_its_own_steps_and_k_only(fake_agent):
    first = fake_agent.recommend("U1", k=1, thread_id="t-turns")
    assert "recommend" in first["timings"] and first["k"] == 1
    second = fake_agent.profile(None, thread_id="t-turns")
    assert "profile" in second["timings"] and "recommend" not in second["timings"]  # not the turn before's
    assert second["k"] is None
    third = fake_agent.run("recommend", user_id=None, thread_id="t-turns")  # no k: the default, not the last one
    assert third["error"] is None and len(third["recommendations"]) == 3  # all 3 candidates, not the last k=1
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="whole number of at least 1"):
            fake_agent.recommend("U1", k=bad)


def test_profile_names_items_by_title_and_an_untitled_one_by_its_id(fake_agent):
    state = fake_agent.profile("U2")
    assert [r["item_title"] for r in state["profile"]["recent"]] == [TITLES["B0PEDAL001"], TITLES["B0PEDAL002"],
                                                                     "B0TUNER001", TITLES["B0CABLE001"]]
    assert "- Blue Overdrive Pedal (B0PEDAL001) (4 stars): " in state["answer"]
    assert "- B0TUNER001 (4 stars): Positive Aspects: tuner, display" in state["answer"]
    assert fake_agent.context.backend.calls == []  # a profile asks no expert


# --------------------------------------------------------------------------- errors: one clear line


@pytest.mark.parametrize(("intent", "fields", "message"), [
    ("explain", {"user_id": "nobody", "item_id": "B0PEDAL001"}, UNKNOWN_USER),
    ("profile", {"user_id": "nobody"}, UNKNOWN_USER),
    ("recommend", {"user_id": "nobody"}, UNKNOWN_USER),
    ("explain", {"item_id": "B0PEDAL001"}, "who is asking? give a user id (for example with --user)"),
    ("predict", {"user_id": "U1", "item_id": "B0NOPE0000"},
     "unknown item 'B0NOPE0000': no review of it is stored (describe it in words to search)"),
    ("recommend", {"user_id": "U1", "like_item": "B0NOPE0000"},
     "unknown item 'B0NOPE0000': no review of it is stored, so nothing is known to be like it"),
    ("explain", {"user_id": "U1"}, "which item? give an item id or describe it"),
    ("explain", {"user_id": "U1", "item_query": "qzxv wqpk jjjr"}, "no item in the memory matches 'qzxv wqpk jjjr'"),
])
def test_a_request_the_memory_cannot_answer_ends_with_one_clear_line(fake_agent, intent, fields, message):
    events, state = _turn(fake_agent, intent, **fields)
    assert state["error"] == message and "\n" not in message
    assert state["answer"] == f"**Sorry:** {message}"
    assert _started(events) == ["resolve", "respond"]
    assert {"type": "step_finished", "step": "resolve", "error": message} in [
        {k: v for k, v in e.items() if k != "seconds"} for e in events]
    assert (state["reason"], state["rating"], state["recommendations"]) == (None, None, [])
    assert fake_agent.context.backend.calls == []  # no expert was asked


def test_a_backend_that_is_down_ends_the_turn_with_one_clear_line(fake_agent):
    fake_agent.context.backend = FakeBackend(errors={"reasoner": ConnectionError("connection refused")})
    events, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    message = "the expert backend or memory is unreachable: ConnectionError: connection refused"
    assert state["error"] == message and state["answer"] == f"**Sorry:** {message}"
    assert _started(events) == ["resolve", "recall", "summarize", "reason", "respond"]  # no Predictor
    assert state["rating"] is None


def test_a_cancelled_turn_stops_and_the_next_one_runs(fake_agent):
    events = []
    for event in fake_agent.stream("explain", user_id="U1", item_id="B0PEDAL002"):
        events.append(event)
        if event["type"] == "token":
            fake_agent.cancel()
    state = events[-1]["state"]
    assert state["error"].startswith("cancelled") and state["rating"] is None and fake_agent.cancelled
    assert "rating" not in [e["type"] for e in events]
    after = fake_agent.why("U1", "B0PEDAL002")
    assert after["error"] is None and after["rating"] == RATING.as_dict() and not fake_agent.cancelled


def test_warming_computes_the_users_part_of_the_reasoner_prompt_ahead(fake_agent):
    """A chat warms the Reasoner's prompt for its user before the first question (issue 40): the
    prompt kept is the question's own up to the item, so the engine reuses all of it."""
    from reason4rec.experts import reasoner_messages

    backend, kept = fake_agent.context.backend, []
    assert fake_agent.warm("U1") is False  # a backend that keeps nothing: nothing to do
    backend.keep_prefix = lambda expert, conversation: kept.append((expert, conversation)) or 1
    assert fake_agent.warm("nobody") is False and not kept  # an unknown user: nothing
    assert fake_agent.warm("U1") is False and not kept  # lexicon summaries the question would remake: nothing
    _turn(fake_agent, "explain", user_id="U1", item_id="B0TUNER001")  # remakes them
    assert fake_agent.warm("U1") is True
    [(expert, warmed)] = kept
    _, state = _turn(fake_agent, "explain", user_id="U1", item_id="B0PEDAL002")
    asked = reasoner_messages(nodes._target(state, CATALOG.category))
    head = lambda messages: messages[-1]["content"].split("\nItem: ")[0]  # noqa: E731
    assert expert == REASONER and warmed[:-1] == asked[:-1] and head(warmed) == head(asked)
    assert "B0STAND001" in head(asked) or "stand" in head(asked).lower()  # the user's reviews are in it


def test_a_reason_about_an_item_no_one_else_reviewed_never_speaks_of_its_buyers(fake_agent):
    """U5's review is the only one of a new item: asked why about it, the Reasoner's sentence about
    "other buyers of this item" has no buyers behind it and is neither streamed nor returned."""
    written = ("In past reviews the user valued quiet tone. Other buyers of this item praise the clip but mention hum. "
               "Overall it should suit them well, and they will likely be pleased with it.")
    assert fake_agent.add_review("U5", "B0NEWITEM1", 4, "Quiet tone, a good clip.", thread_id="n")["error"] is None
    fake_agent.add_review("U5", "B0CABLE001", 5, "Quiet braided cable.", thread_id="n")
    fake_agent.context.backend = FakeBackend(answers={"reasoner": written})
    events = list(fake_agent.stream("explain", user_id="U5", item_id="B0NEWITEM1", thread_id="n2"))
    state = events[-1]["state"]
    streamed = "".join(e["text"] for e in events if e["type"] == "token")
    assert state["reason"] == ("In past reviews the user valued quiet tone. Overall it should suit them well, and they "
                               "will likely be pleased with it.")
    assert streamed.strip() == state["reason"]

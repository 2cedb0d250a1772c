"""The deliberation graph on the tiny experts and a real memory: routing, full turns, error paths."""

import pytest

from reason4rec.agent import INTENTS, Agent, build_graph, route_intent, turn_input


@pytest.mark.parametrize(("intent", "first_step"), [("explain", "recall"), ("predict", "recall"),
                                                    ("recommend", "recommend"), ("add_review", "update"),
                                                    ("profile", "profile")])
def test_each_intent_routes_to_its_path(intent, first_step):
    assert route_intent(turn_input(intent, user_id="U")) == first_step
    assert route_intent({**turn_input(intent), "error": "unknown user"}) == "respond"


def test_the_graph_has_one_node_per_step_and_unknown_intents_are_refused():
    nodes = set(build_graph().get_graph().nodes)
    assert nodes >= {"resolve", "recall", "reason", "predict", "recommend", "update", "profile", "respond"}
    assert set(INTENTS) == {"explain", "predict", "recommend", "add_review", "profile"}
    with pytest.raises(ValueError, match="intent must be one of"):
        turn_input("dance")


def test_why_streams_every_step_then_the_answer(agent, small_dataset, regular_user):
    user = regular_user[0]
    item = regular_user[1][0]
    events = list(agent.stream("explain", user_id=user, item_id=item))
    kinds = [(e["type"], e.get("step")) for e in events[:-1]]
    started = [step for kind, step in kinds if kind == "step_started"]
    assert started[:2] == ["resolve", "recall"] and started[-3:] == ["reason", "predict", "respond"]
    assert ("retrieved", "recall") in kinds and ("rating", None) in kinds
    tokens = "".join(e["text"] for e in events if e["type"] == "token")
    state = events[-1]["state"]
    revised = [e["text"] for e in events if e["type"] == "reason_revised"]  # a draft that invents less
    assert state["reason"] == (revised[0] if revised else tokens.strip()) and tokens
    drafts, rounds = agent.context.reason_drafts, agent.context.reason_rounds
    assert drafts > 1 and state["reason_check"]["drafts"] in {drafts * (r + 1) for r in range(rounds)}
    assert (1 <= state["rating"]["expected"] <= 5
            and sum(state["rating"]["probabilities"].values()) == pytest.approx(1, abs=1e-3))
    others = sum(1 for r in small_dataset.reviews if r.user_id == user and r.item_id != item)
    assert (len(state["user_history"]) == min(agent.context.history_k, others)
            and all(v["item_id"] != item for v in state["user_history"]))
    assert all(v["user_id"] != user for v in state["item_history"])
    assert state["answer"].startswith(f"**{item}**") and state["error"] is None
    assert set(state["timings"]) >= {"resolve", "recall", "reason", "predict", "respond"}
    # the missing Summarizer summaries were made once and kept: a second turn makes none
    again = [e for e in agent.stream("explain", user_id=user, item_id=item) if e["type"] == "step_started"]
    assert "summarize" not in [e["step"] for e in again]


def test_recommend_ranks_unreviewed_candidates_by_expected_rating(agent, small_dataset, regular_user):
    user = regular_user[0]
    state = agent.recommend(user, k=2, query="a sturdy stand")
    found = state["recommendations"]
    assert len(found) == 2 and state["error"] is None
    mine = {r.item_id for r in small_dataset.reviews if r.user_id == user}
    assert not mine & {r["item_id"] for r in found}
    assert found[0]["rating"]["expected"] >= found[1]["rating"]["expected"]
    assert all(r["reason"] for r in found) and "Top 2" in state["answer"]


def test_add_review_then_profile_and_rerun_is_idempotent(agent, small_dataset):
    item = small_dataset.reviews[0].item_id
    first = agent.add_review("graph-newcomer", item, 5, "Sturdy stand, holds my bass without a wobble.")
    assert first["update"]["outcome"] == "created" and not first["update"]["pending"]
    again = agent.add_review("graph-newcomer", item, 5, "Sturdy stand, holds my bass without a wobble.")
    assert again["update"]["outcome"] == "unchanged"
    assert len(agent.context.memory.user_history("graph-newcomer")) == 1
    profile = agent.profile("graph-newcomer")
    assert profile["profile"]["review_count"] == 1 and "graph-newcomer" in profile["answer"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"user_id": "nobody", "item_id": "B0000"}, "unknown user 'nobody'"),
    ({"user_id": None, "item_id": "B0000"}, "who is asking"),
    ({"item_id": "B_NOT_AN_ITEM"}, "unknown item 'B_NOT_AN_ITEM'"),
    ({"item_query": "qzxv wqpk jjjr"}, "no item in the memory matches"),
    ({}, "which item"),
])
def test_bad_requests_end_cleanly_with_the_error_in_the_state(agent, regular_user, fields, message):
    request = {"user_id": regular_user[0], **fields}
    state = agent.run("explain", **request)
    assert message in state["error"] and state["answer"].startswith("**Sorry:**")
    assert state["reason"] is None and state["rating"] is None


def test_a_backend_that_is_down_is_an_error_in_the_state(agent_config, agent, regular_user):
    from reason4rec.agent import AgentContext
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    dead = RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0, timeout_s=2))
    context = AgentContext(agent.context.memory, dead, agent.context.category, resummarize_lexicon=False)
    user = regular_user[0]
    state = Agent(context).why(user, regular_user[1][0])
    assert ("Sorry" in state["answer"] and "127.0.0.1:9" in state["error"]) or "Connection" in state["error"]
    assert state["rating"] is None


def test_an_item_described_in_words_resolves_to_the_best_match(agent, regular_user):
    user = regular_user[0]
    item = regular_user[1][0]
    description = agent.context.memory.profile("item", item).text  # what buyers said of it, in words
    state = agent.run("predict", user_id=user, item_query=description)
    assert state["error"] is None and state["item_id"] == item and state["rating"] is not None

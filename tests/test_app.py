"""The application layer (issue 18): one service opens the memory and the experts once, and the
CLI, the chat and the demo reach the memory and the experts through it: one path to add a review,
one turn runner. The first test needs no model and no memory; the others run on a real memory and
the shared fake backend (tests/fakes.py), in seconds."""

from __future__ import annotations

import json

import pytest
from fakes import DownSummarizer, FakeBackend, Lent
from rich.console import Console

from reason4rec.agent import Agent, AgentContext
from reason4rec.app import resources
from reason4rec.app.service import Service
from reason4rec.data import Review, ReviewDataset
from reason4rec.memory.summarizers import LexiconSummarizer

TEXT = "Warm tone and sturdy, a little hum at high gain."
REVIEWS = [("U1", "B0PEDAL001", 5, 100), ("U1", "B0PEDAL002", 4, 200), ("U2", "B0PEDAL001", 4, 150),
           ("U2", "B0STRING01", 2, 250), ("U3", "B0PEDAL002", 5, 300), ("U3", "B0STRING01", 3, 350)]
TITLES = {"B0PEDAL001": "Blue Overdrive Pedal"}


class _Closable:
    def __init__(self, name: str) -> None:
        self.name, self.closed = name, 0

    def close(self) -> None:
        self.closed += 1


def test_the_memory_is_opened_once_and_handed_to_the_agent(monkeypatch):
    opened: list[_Closable] = []
    handed = {}

    def open_memory(config, category=None, **kwargs):
        opened.append(_Closable("memory"))
        return opened[-1]

    def open_agent(config, *, status=None, memory=None):
        handed["memory"] = memory
        agent = _Closable("agent")
        agent.memory = memory
        return agent

    monkeypatch.setattr(resources, "open_memory", open_memory)
    monkeypatch.setattr(resources, "open_agent", open_agent)
    service = Service(object(), Console(record=True))
    first = service.memory()
    assert service.memory() is first and len(opened) == 1
    agent = service.agent()
    assert handed["memory"] is first and service.agent() is agent and service.memory() is first
    service.close()
    assert (agent.closed, first.closed) == (1, 0)  # the agent owns the memory now: closing it closes both


def test_a_new_review_is_stored_before_the_work_an_earlier_run_left_pending(memory):
    """Finishing earlier pending reviews can fail (the vector store is full, say); the review just
    typed must already be stored by then, and the person is told what is left."""
    from reason4rec.memory.vectors import VectorMemoryError

    assert memory.add_review("U1", "B0PEDAL001", 4, TEXT, summarizer=DownSummarizer(), timestamp=10).pending
    calls = []

    class Reviewer:  # the service's review context: the real memory, a finish that fails
        def add_review(self, user, item, rating, text, *, title="", item_title=None, timestamp=None, stored=None):
            calls.append("add")
            return memory.add_review(user, item, rating, text, summarizer=LexiconSummarizer(),
                                     timestamp=timestamp, stored=stored)

        def finish_pending(self):
            calls.append("finish")
            raise VectorMemoryError("the vector store's disk is full")

    service = Service(object(), Console(record=True))
    service._memory, service._reviewer = memory, Reviewer()
    result = service.add_review("U2", "B0PEDAL002", 5, "Quiet and bright.")
    assert calls == ["add", "finish"] and not result.pending and result.review.text == "Quiet and bright."
    assert memory.counts()["reviews"] == 2 and memory.counts()["pending"] == 1  # the earlier one waits
    said = service.console.export_text()
    assert "still pending" in said and "memory sync" in said


def test_a_review_is_stored_before_the_summarizer_loads_and_kept_when_it_cannot(memory, monkeypatch):
    from reason4rec.experts.model.adapters import AdapterError

    def cannot_open(*args, **kwargs):
        raise AdapterError("no summarizer adapter under /no/such/adapters")

    monkeypatch.setattr(resources, "open_reviewer", cannot_open)
    service = Service(object(), Console(record=True))
    service._memory = memory
    result = service.add_review("U3", "B0PEDAL001", 2, "It hums at any gain.")
    assert result.pending and "could not be opened" in result.error and "/no/such/adapters" in result.error
    assert memory.counts()["pending"] == 1 and memory.review_of("U3", "B0PEDAL001").text == "It hums at any gain."


@pytest.fixture
def shop(memory):
    """An agent over a small real memory (lexicon summaries, one titled item) on the shared fake
    backend, whose canned summary and reason speak of a warm tone (tests/fakes.py)."""
    reviews = [Review(u, i, s, t, TEXT, position=n) for n, (u, i, s, t) in enumerate(REVIEWS)]
    memory.build(ReviewDataset(reviews, item_titles=TITLES, category="Musical Instruments"), summarizer=None,
                 bulk=LexiconSummarizer())
    return Agent(AgentContext(memory, FakeBackend(), "Musical Instruments", history_k=3, candidates=3))


@pytest.fixture
def lent(shop, monkeypatch):
    """The service opens the shop's memory and agent (and a Summarizer context on its backend)."""
    monkeypatch.setattr(resources, "open_memory", lambda config, category=None, **kwargs: Lent(shop.memory))
    monkeypatch.setattr(resources, "open_agent", lambda config, **kwargs: Lent(shop))
    monkeypatch.setattr(resources, "open_reviewer", lambda config, memory, adapters, *, console:
                        AgentContext(memory, shop.context.backend, "Musical Instruments"))
    return shop


def test_the_cli_and_the_chat_add_a_review_through_one_path(lent, memory_config, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from reason4rec import cli
    from reason4rec.chat.session import Chat

    calls = []
    one_path = AgentContext.add_review

    def spy(self, user_id, item_id, rating, text, **kwargs):
        calls.append((user_id, item_id, rating))
        return one_path(self, user_id, item_id, rating, text, **kwargs)

    monkeypatch.setattr(AgentContext, "add_review", spy)
    result = CliRunner().invoke(cli.app, ["memory", "add-review", "--user", "NEWCOMER01", "--item", "B0PEDAL001",
                                          "--rating", "4", "--text", TEXT, "--json", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert added["outcome"] == "created" and not added["pending"]
    assert added["summary"].startswith("Positive Aspects: tone")  # the review's aspect, its side from its clause
    console = Console(width=100, record=True, force_terminal=False)
    chat = Chat(memory_config, console, user="U1", opener=resources.open_agent)
    chat.run_script(["I just bought B0STRING01, 2 stars: the strings went dead in a week"])
    assert "Saved: review of" in console.export_text()
    assert calls == [("NEWCOMER01", "B0PEDAL001", 4.0), ("U1", "B0STRING01", 2.0)]
    assert lent.memory.review_of("U1", "B0STRING01").rating == 2.0


def test_turns_stream_their_events_and_end_with_the_state_and_thread(lent, memory_config):
    events: list[dict] = []
    with Service(memory_config, Console(record=True)) as service:
        why = service.why("U1", "B0STRING01", on_event=events.append, thread="t-why")
        rated = service.rate("U1", "B0STRING01")
        top = service.recommend("U3", k=1)
    assert why.thread_id == "t-why" and "Warm tone" in why.state["reason"] and why.state["rating"]["expected"] > 4
    kinds = [e["type"] for e in events]
    assert "done" not in kinds and kinds.index("token") < kinds.index("rating")
    assert rated.state["intent"] == "predict" and rated.thread_id
    assert [r["item_id"] for r in top.state["recommendations"]] == ["B0PEDAL001"]


def test_memory_queries_name_items_by_title(lent, memory_config):
    with Service(memory_config, Console(record=True)) as service:
        portrait = service.profile("user", "U1", history=5)
        item = service.profile("item", "B0PEDAL001")
        catalog = service.catalog()
        found = service.search("warm tone", k=2)
        mine = service.search(user="U2", k=5)
    assert [r.review.item_id for r in portrait.records] == ["B0PEDAL001", "B0PEDAL002"]
    assert portrait.titles == {"B0PEDAL001": "Blue Overdrive Pedal", "B0PEDAL002": "B0PEDAL002"}
    assert item.titles == {"B0PEDAL001": "Blue Overdrive Pedal"} and item.profile is not None
    assert catalog.users == ["U1", "U2", "U3"] and catalog.titles == TITLES
    assert catalog.find_item("B0PEDAL00l") is not None  # a typo still finds it
    assert len(found) == 2 and {m.profile.entity_id for m in mine} == {"B0PEDAL002"}


def test_the_demos_scripted_chat_runs_on_a_scratch_copy_of_the_memory(memory, memory_config):
    """The demo writes a made-up review: it must never reach the person's own memory."""
    from reason4rec.demo import _scratch_memory
    from reason4rec.memory.lock import LOCK_FILE
    from reason4rec.memory.store import ReviewStore

    memory.add_review("U1", "I1", 5, "Great tone.", summarizer=LexiconSummarizer(), timestamp=1)
    memory.close()
    (memory_config.chroma_path / LOCK_FILE).touch()
    with _scratch_memory(memory_config) as scratch:
        assert scratch.store_path != memory_config.store_path and scratch.chroma_path != memory_config.chroma_path
        assert scratch.checkpoint_path != memory_config.checkpoint_path
        assert not (scratch.chroma_path / LOCK_FILE).exists() and any(scratch.chroma_path.iterdir())
        with ReviewStore(scratch.store_path) as copy:
            assert copy.counts()["reviews"] == 1
            copy.add("U1", "I2", 4, "bright tone but the clip broke", timestamp=2)
        folder = scratch.store_path.parents[1]
    assert not folder.exists()
    with ReviewStore(memory_config.store_path) as own:
        assert own.counts()["reviews"] == 1
    server = memory_config.model_copy(update={"memory": memory_config.memory.model_copy(
        update={"chroma_url": "http://127.0.0.1:8001"})})
    with _scratch_memory(server) as scratch:
        assert scratch is None

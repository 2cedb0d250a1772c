"""What a person sees of a turn (issue 17): titles, their own rating first, needs that name an
item, and progress through the slow steps. The graph runs on a real memory (MiniLM, Chroma) and the
shared fake backend (tests/fakes.py), so every event and answer can be checked exactly and in seconds."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, Lent

from reason4rec.agent import Agent, AgentContext
from reason4rec.config import Expert
from reason4rec.data import Review, ReviewDataset
from reason4rec.memory.summarizers import LexiconSummarizer

APRIL_2_2013 = 1364860800
TITLES = {"B00ENYA001": "Enya: Watermark", "B00ENYA002": "Enya: Shepherd Moons",
          "B0METAL001": "Metallica: Master of Puppets", "B0METAL002": "Slayer: Reign in Blood",
          "B0JAZZ0001": "Miles Davis: Kind of Blue", "B0JAZZ0002": "John Coltrane: Blue Train"}
CALM = "Calm, soothing and ambient. Beautiful relaxing vocals, perfect for sleep and quiet evenings."
LOUD = "Loud, aggressive and fast. Heavy distorted guitars and brutal drums, great for the gym."
JAZZ = "Cool jazz with a smooth trumpet and a warm saxophone, relaxed swing and great improvisation."
REVIEWS = [  # (user, item, stars, timestamp, text)
    ("U1", "B00ENYA001", 5, APRIL_2_2013, CALM), ("U1", "B0METAL001", 2, APRIL_2_2013 + 10, LOUD),
    ("U1", "B0JAZZ0001", 4, APRIL_2_2013 + 20, JAZZ),
    ("U2", "B00ENYA001", 5, 100, CALM), ("U2", "B00ENYA002", 5, 200, CALM), ("U2", "B0JAZZ0002", 4, 300, JAZZ),
    ("U3", "B0METAL001", 5, 100, LOUD), ("U3", "B0METAL002", 5, 200, LOUD), ("U3", "B00ENYA002", 1, 300, CALM),
    ("U4", "B0JAZZ0001", 5, 100, JAZZ), ("U4", "B0JAZZ0002", 5, 200, JAZZ), ("U4", "B0METAL002", 2, 300, LOUD),
    ("U5", "B0JAZZ0001", 5, 100, JAZZ), ("U5", "B0NOTITLE1", 3, 0, JAZZ),
]
SUMMARY = "Positive Aspects: calm mood\nNegative Aspects: none\nUser Preference Elements: ambient"
REASON = "Calm and ambient, as this listener likes."


@pytest.fixture
def people(memory):
    """An agent over a memory of six titled albums and one untitled item, and its backend."""
    reviews = [Review(u, i, s, t, text, position=n) for n, (u, i, s, t, text) in enumerate(REVIEWS)]
    memory.build(ReviewDataset(reviews, item_titles=TITLES, category="CDs"), summarizer=None, bulk=LexiconSummarizer())
    backend = FakeBackend({Expert.SUMMARIZER: SUMMARY, Expert.REASONER: REASON})  # batch_size 2, like a local one
    return Agent(AgentContext(memory, backend, "CDs", history_k=3, candidates=3)), backend


def _events(agent: Agent, intent: str, **fields) -> tuple[list[dict], dict]:
    *events, done = agent.stream(intent, **fields)
    return events, done["state"]


def test_why_about_an_item_the_user_rated_says_so_first_then_what_the_model_would_have_predicted(people):
    agent, _ = people
    events, state = _events(agent, "explain", user_id="U1", item_id="B00ENYA001")
    kinds = [e["type"] for e in events]
    assert {"type": "already_rated", "rating": 5.0, "date": "2013-04-02"} in events
    assert kinds.index("already_rated") < kinds.index("token") < kinds.index("rating")
    assert state["already_rated"] == {"rating": 5.0, "date": "2013-04-02", "timestamp": APRIL_2_2013}
    assert state["answer"].startswith("**You rated it 5 stars on 2013-04-02.** What the model would have "
                                      "predicted without your review:")
    assert "\n\n**Enya: Watermark (B00ENYA001)** should suit **U1**: predicted **4.05** / 5" in state["answer"]
    assert all(v["item_id"] != "B00ENYA001" for v in state["user_history"])  # its prediction never saw the rating
    undated = agent.run("predict", user_id="U5", item_id="B0NOTITLE1")
    assert (undated["already_rated"]["date"] is None
            and undated["answer"].startswith("**You rated it 3 stars already.**"))
    fresh_events, fresh = _events(agent, "explain", user_id="U1", item_id="B00ENYA002")
    assert fresh["already_rated"] is None and "already_rated" not in [e["type"] for e in fresh_events]
    assert fresh["answer"].startswith("**Enya: Shepherd Moons (B00ENYA002)** should suit **U1**")


def test_the_summarizer_counts_the_history_reviews_left(people):
    agent, backend = people
    events, state = _events(agent, "explain", user_id="U1", item_id="B00ENYA002")  # lexicon summaries are redone
    progress = [e for e in events if e["type"] == "progress"]
    total = len(state["user_history"]) + len(state["item_history"])
    assert total == 5 and [(e["step"], e["unit"], e["done"], e["total"]) for e in progress] == [
        ("summarize", "history reviews", 0, 5), ("summarize", "history reviews", 5, 5)]
    started = [e.get("step") for e in events if e["type"] == "step_started"]
    assert started.index("summarize") < started.index("reason")
    assert ("summarizer", 5) in backend.generated


def test_resummarizing_reports_each_batch_so_the_count_left_can_be_shown(people):
    agent, _ = people
    memory, counts = agent.context.memory, []
    reviews = memory.store.user_reviews("U1") + memory.store.item_reviews("B00ENYA002")
    memory.resummarize(reviews, LexiconSummarizer(batch_size=2), progress=counts.append)
    assert counts == [2, 2, 1]


def test_recommend_reasons_the_first_candidate_alone_then_a_batch_naming_them_by_title(people):
    agent, backend = people
    agent.context.memory.store.add("U4", "B0NEW00001", 4, JAZZ, timestamp=400)  # no summary yet, in every history
    events, state = _events(agent, "recommend", user_id="U4", k=3)
    progress = [e for e in events if e["type"] == "progress"]
    summarized = [(e["done"], e["total"]) for e in progress if e["step"] == "summarize"]
    assert summarized == [(0, 1), (1, 1)]  # only the missing summary is made, counted
    reasoned = [e for e in progress if e["step"] == "recommend"]
    assert [(e["done"], e["total"], len(e.get("items", []))) for e in reasoned] == [(0, 3, 1), (1, 3, 2), (3, 3, 0)]
    announced = [item for e in reasoned for item in e.get("items", [])]
    assert all(item["title"] == TITLES.get(item["id"], item["id"]) for item in announced)
    assert {e["candidate"] for e in events if e["type"] == "token"} == {item["id"] for item in announced}
    assert [n for expert, n in backend.generated if expert == "reasoner"] == [1, 2]  # the first alone, then the rest
    assert state["answer"].startswith("Top 3 for **U4**, by their profile:")
    for item in state["recommendations"]:
        item_id = item["item_id"]
        named = f"{TITLES[item_id]} ({item_id})" if item_id in TITLES else item_id  # no title: the id alone
        assert f". **{named}**: " in state["answer"]


def test_a_need_that_names_an_item_is_steered_by_its_profile_and_said_in_the_header(people):
    agent, _ = people
    state = agent.recommend("U5", k=2, query="similar to Enya", like_item="B00ENYA001")
    found = [r["item_id"] for r in state["recommendations"]]
    assert state["error"] is None and found == ["B00ENYA002"]  # the one item of its kind: no filler after it
    assert state["like_title"] == "Enya: Watermark"
    assert state["answer"].startswith("Top 1 for **U5**, for: *similar to Enya* (steered by the profile of "
                                      "Enya: Watermark (B00ENYA001)):")
    heavy = agent.recommend("U5", k=2, like_item="B0METAL001")
    assert next(r["item_id"] for r in heavy["recommendations"]) == "B0METAL002"
    assert heavy["answer"].startswith("Top 1 for **U5**, for: *similar to Metallica: Master of Puppets (B0METAL001)*:")
    unknown = agent.recommend("U5", like_item="B0NOPE0000")
    assert "unknown item 'B0NOPE0000'" in unknown["error"]


def test_profile_names_the_items_by_title(people):
    agent, _ = people
    state = agent.profile("U1")
    assert [r["item_title"] for r in state["profile"]["recent"]] == [TITLES["B00ENYA001"], TITLES["B0METAL001"],
                                                                     TITLES["B0JAZZ0001"]]
    assert "- Enya: Watermark (B00ENYA001) (5 stars): " in state["answer"]
    untitled = agent.profile("U5")["answer"]
    assert "- B0NOTITLE1 (3 stars): " in untitled


def test_items_described_in_words_carry_their_title_for_the_question_which(people):
    agent, _ = people
    events, _ = _events(agent, "explain", user_id="U1", item_query="calm soothing ambient vocals")
    [found] = [e for e in events if e["type"] == "retrieved" and e["kind"] == "items"]
    assert {(r["id"], r["title"]) for r in found["records"]} <= {(i, TITLES.get(i)) for i in [*TITLES, "B0NOTITLE1"]}


def test_the_chat_names_items_by_title_says_what_you_rated_and_states_the_need(people, memory_config):
    from rich.console import Console

    from reason4rec.chat.session import Chat

    agent, _ = people
    console = Console(width=100, record=True, force_terminal=False)
    chat = Chat(memory_config, console, user="U1", opener=lambda config, status=None: agent)
    chat.run_script(["/profile", "would I like enya watermark?", "recommend 2 things like Enya"])
    out = " ".join(console.export_text().split())
    assert "Enya: Watermark (B00ENYA001) (5 stars)" in out
    assert "You rated it 5 stars on 2013-04-02. What follows is what the model would have predicted." in out
    assert "Enya: Watermark (B00ENYA001) should suit U1" in out
    assert "reasoning 1/1: " in out and "reasoned 1/1 candidates" in out
    assert "Top 1 for U1, for: similar to Enya (steered by the profile of Enya: Watermark (B00ENYA001)):" in out
    assert "1 Enya: Shepherd Moons (B00ENYA002): 4.05 / 5." in out  # Markdown renders "1." as "1"


@pytest.fixture
def cli_on(people, monkeypatch, tmp_path):
    """``run(*args)``: a CLI command in this process on the scripted agent and its memory."""
    from typer.testing import CliRunner

    from reason4rec import cli

    agent, _ = people
    monkeypatch.setattr("reason4rec.agent.Agent.open", lambda config, **kwargs: Lent(agent))
    monkeypatch.setattr("reason4rec.app.resources.open_memory", lambda config, category=None, **kwargs:
                        Lent(agent.context.memory))

    def run(*args: str):
        result = CliRunner().invoke(cli.app, [*args, "--home", str(tmp_path)])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_the_cli_says_what_you_rated_first_in_plain_and_json(cli_on):
    import json

    found = json.loads(cli_on("why", "--user", "U1", "--item", "B00ENYA001", "--json"))
    assert found["already_rated"] == {"rating": 5.0, "date": "2013-04-02", "timestamp": APRIL_2_2013}
    assert found["item_title"] == "Enya: Watermark" and found["rating"]["expected"] > 4
    evidence = found["evidence"]  # --json carries the evidence with review ids (issue 37)
    assert set(evidence) == {"aspects", "own", "buyers"} and all(o["review_id"] for o in evidence["own"])
    assert json.loads(cli_on("why", "--user", "U1", "--item", "B00ENYA002", "--json"))["already_rated"] is None
    plain = " ".join(cli_on("why", "--user", "U1", "--item", "B00ENYA001").split())
    said = "You rated it 5 stars on 2013-04-02. What follows is what the model would have predicted."
    assert plain.index(said) < plain.index("Reasoner ...") < plain.index("Enya: Watermark (B00ENYA001) should suit U1")


def test_the_cli_shows_recommend_progress_by_title(cli_on):
    out = cli_on("recommend", "--user", "U4", "-k", "2")
    assert "reasoning 1/2: " in out and "reasoning 2/2: " in out and "reasoned 2/2 candidates" in out
    announced = " ".join(line for line in out.splitlines() if "reasoning " in line)
    assert sum(f"{title} ({item})" in announced for item, title in TITLES.items()) >= 1  # 2 shortlisted, 1 untitled
    assert "reasoning about" not in out


def test_memory_profile_and_search_name_items_by_title_with_the_id_beside_it(cli_on):
    profile = cli_on("memory", "profile", "--user", "U1")
    assert "Enya: Watermark (B00ENYA001) 5*:" in profile and "Miles Davis: Kind of Blue (B0JAZZ0001) 4*:" in profile
    assert "item Enya: Watermark (B00ENYA001)" in cli_on("memory", "profile", "--item", "B00ENYA001")
    assert "user U5" in cli_on("memory", "profile", "--user", "U5")
    found = cli_on("memory", "search", "calm soothing ambient vocals", "-k", "7")
    header = next(line for line in found.splitlines() if "similarity" in line)
    assert header.index("item") < header.index("id") < header.index("similarity")
    enya = next(line for line in found.splitlines() if "B00ENYA002" in line)
    assert enya.index("Enya: Shepherd Moons") < enya.index("B00ENYA002")
    untitled = next(line for line in found.splitlines() if "B0NOTITLE1" in line)
    assert untitled.count("B0NOTITLE1") == 1 and "│ - " in untitled  # no title or label: a dash, the id once

"""The scripting API as scripts use it: threads resumed in a new process, and the examples."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reason4rec.experts import summary_version

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


FIRST = (
    "import sys, json\n"
    "from reason4rec.config import load_config\n"
    "from reason4rec.agent import Agent\n"
    "with Agent.open(load_config(sys.argv[1])) as agent:\n"
    "    state = agent.why(sys.argv[2], sys.argv[3], thread_id='resume-me')\n"
    "    print(json.dumps({'answer': state['answer'], 'error': state['error']}))\n"
)
SECOND = (
    "import sys, json\n"
    "from reason4rec.config import load_config\n"
    "from reason4rec.agent import Agent\n"
    "with Agent.open(load_config(sys.argv[1])) as agent:\n"
    "    before = agent.thread('resume-me')\n"
    "    after = agent.profile(None, thread_id='resume-me')\n"  # the thread remembers who the user is
    "    print(json.dumps({'answer': before['answer'], 'user': after['user_id'], 'turns': after['turns'],\n"
    "                      'profile': after['answer'], 'error': after['error']}))\n"
)


def test_a_thread_resumes_in_a_new_process(own_memory_config, write_config, tmp_path):
    config, user, item = own_memory_config
    path = str(write_config(config, tmp_path / "r4r.toml"))
    first = _python(FIRST, path, user, item)
    assert first.returncode == 0, first.stderr
    said = json.loads(first.stdout.strip().splitlines()[-1])
    headline = said["answer"].split("\n", 1)[0]  # the item by its title where the catalogue has one, and its id
    assert said["error"] is None and headline.startswith("**") and item in headline and user in headline
    second = _python(SECOND, path)
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout.strip().splitlines()[-1])
    assert resumed["answer"] == said["answer"]
    assert (resumed["user"], resumed["turns"], resumed["error"]) == (user, 2, None)
    assert user in resumed["profile"]


def test_example_score_pairs(own_memory_config, write_config, tmp_path):
    config, user, item = own_memory_config
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"user_id,item_id\n{user},{item}\nnobody,{item}\n")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "score_pairs.py"), str(pairs), "--config",
                             str(write_config(config, tmp_path / "r4r.toml"))], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["user_id"] for r in rows] == [user, "nobody"]
    assert 1 <= float(rows[0]["expected_rating"]) <= 5 and rows[0]["reason"] and not rows[0]["error"]
    assert "unknown user 'nobody'" in rows[1]["error"] and not rows[1]["expected_rating"]


def test_example_moderated_reviews(own_memory_config, write_config, tmp_path):
    config, user, item = own_memory_config
    script, path = str(ROOT / "examples" / "moderated_reviews.py"), str(write_config(config, tmp_path / "r4r.toml"))
    base = [sys.executable, script, "--user", user, "--item", item, "--rating", "4", "--config", path]
    spam = subprocess.run([*base, "--text", "Great deal at http://spam.example now"], capture_output=True, text=True,
                          timeout=600)
    assert spam.returncode == 2 and "may not contain links" in spam.stdout
    clean = subprocess.run([*base, "--text", "Solid strap button, fits my bass."], capture_output=True, text=True,
                           timeout=600)
    assert clean.returncode == 0 and "Saved" in clean.stdout, clean.stderr


def test_langgraph_json_names_an_importable_graph():
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, name = config["graphs"]["reason4rec"].split(":")
    assert (ROOT / path).is_file() and name == "graph"
    from reason4rec.agent.studio import graph

    assert "respond" in graph.get_graph().nodes


def test_opening_an_agent_finishes_memory_work_left_pending(own_memory_config, tiny_backend):
    from reason4rec.agent import Agent
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import ExpertSummarizer

    config, user, item = own_memory_config
    dead = RemoteBackend(RemoteSettings(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0, timeout_s=2))
    with Memory.open(config) as memory:
        result = memory.add_review(user, item, 4, "Bright and quiet.",
                                   summarizer=ExpertSummarizer(dead, "Musical Instruments"))
        assert result.pending
    with Agent.open(config, backend=tiny_backend, checkpoint=False) as agent:
        memory = agent.context.memory
        assert memory.store.counts()["pending"] == 0
        stored = memory.store.get(result.review.review_id)
        assert stored.summary_version == summary_version(tiny_backend.version("summarizer"))


def test_the_package_root_offers_the_scripting_api_and_stays_cheap():
    done = _python("import sys, reason4rec\n"
                   "assert 'torch' not in sys.modules and 'langgraph' not in sys.modules\n"
                   "from reason4rec import Agent, load_config\n"
                   "from reason4rec.agent.session import Agent as Real\n"
                   "from reason4rec.config import load_config as real_load\n"
                   "assert Agent is Real and load_config is real_load\n"
                   "try:\n    reason4rec.Nope\nexcept AttributeError as err:\n    print(err)\n")
    assert done.returncode == 0, done.stderr
    assert "no attribute 'Nope'" in done.stdout


def test_a_damaged_thread_checkpoint_file_is_one_clear_error(tmp_path: Path):
    from reason4rec.agent.session import open_checkpointer
    from reason4rec.errors import Reason4RecError

    damaged = tmp_path / "checkpoints.sqlite"
    damaged.write_bytes(b"not a database at all " * 200)
    with pytest.raises(Reason4RecError, match=r"checkpoints.sqlite cannot be read .* move it aside"):
        open_checkpointer(damaged)
    saver = open_checkpointer(tmp_path / "fresh.sqlite")  # a new file is made and set up
    assert saver.conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (0,)

"""The `reason4rec` command as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import indexed_reviews

from reason4rec.experts import LEXICON_VERSION

FAST_BASELINES = {"REASON4REC_BASELINES__HFT": "false"}


def run_cli(*args: str, env: dict[str, str] | None = None, home: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REASON4REC_")}
    full_env |= {"COLUMNS": "160", "HF_HUB_OFFLINE": "1", **(env or {})}
    if home is not None:
        full_env["REASON4REC_HOME"] = str(home)
    command = [sys.executable, "-m", "reason4rec", *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=600, input=input)


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "eval", "train", "adapters", "data", "model", "config"):
        assert command in result.stdout


def test_data_stats_prints_statistics_and_a_clean_leak_audit():
    result = run_cli("data", "stats", "--split", "leave-last-out", "-k", "5")
    assert result.returncode == 0, result.stderr
    assert "10,261 / 1,429 / 900" in result.stdout
    assert "leave-last-out │ 7,403 │ 1,429 │ 1,429 │             0" in result.stdout
    assert "last 5 training reviews" in result.stdout


def test_eval_baselines_writes_json(tmp_path: Path):
    out = tmp_path / "rows.json"
    result = run_cli("eval", "--baselines", "--split", "leave-last-out", "--json", str(out), env=FAST_BASELINES)
    assert result.returncode == 0, result.stderr
    assert "user+item bias" in result.stdout and "SVD++" in result.stdout
    rows = {row["method"]: row for row in json.loads(out.read_text())}
    assert rows["user+item bias"]["mae"] == pytest.approx(0.677, abs=1e-3)
    assert "HFT (cornac)" not in rows  # minutes per split: only with --hft
    assert rows["SVD (surprise)"]["mae_ci"][0] < rows["SVD (surprise)"]["mae"] < rows["SVD (surprise)"]["mae_ci"][1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("eval", "--adapters", "/no/such/dir"), "no summarizer, reasoner, predictor adapter under"),
        (("eval", "--split", "temporal", "--limit", "5000"),
         "--limit 5000 is larger than the temporal test set (1,027 targets)"),
        (("eval", "--split", "all"), "scores one split at a time"),
        (("eval", "--split", "by-month"), "Invalid value for '--split'"),
        (("train", "everything", "--model", "/no/such/model"), "unknown stage"),
        (("train", "all", "--recipe", "nope"), "unknown recipe 'nope'"),
        (("data", "stats", "--reviews", "/no/such/file.json"), "review file not found"),
        (("config", "show", "--config", "/no/such.toml"), "config file not found"),
        (("config", "show", "--config", "/"), "config file / is a folder"),
        (("adapters", "redo-summaries", "/no/such/dir"), "has no summaries.jsonl.gz or no summarizer adapter"),
        (("adapters", "redo-summaries", "--ids", "/no/such/ids.txt"), "cannot read review ids from /no/such/ids.txt"),
        (("memory", "add-review", "--user", "U", "--item", "I", "--rating", "five", "--text", "Warm."),
         "Invalid value for '--rating'"),
        (("recommend", "--user", "U", "-k", "0"), "Invalid value for '-k'"),
        (("no-such-command",), "No such command"),
    ],
)
def test_user_errors_are_one_line_without_a_traceback(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # not a usage box


def test_a_bad_review_file_names_its_line(tmp_path: Path):
    bad = tmp_path / "reviews.jsonl"
    bad.write_text('{"user_id": "u", "item_id": "i", "rating": 6, "timestamp": 1, "review_text": ""}\n')
    result = run_cli("data", "stats", "--reviews", str(bad))
    assert result.returncode == 2
    assert f"{bad}:1:" in result.stderr and "between 1 and 5" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_reflects_file_env_and_flags(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text("[data]\nhistory_k = 4\nseed = 5\n")
    result = run_cli("config", "show", "--config", str(file), env={"REASON4REC_DATA__SEED": "6"})
    shown = json.loads(result.stdout)
    assert shown["data"]["history_k"] == 4 and shown["data"]["seed"] == 6


def test_config_show_hides_passwords_and_keys(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text('[memory]\nstore_url = "postgresql://me:hunter2@db:5432/r4r"\n'
                    '[agent]\ncheckpoint_url = "postgresql://db/r4r?password=swordfish"\n'
                    'remote_url = "http://bot:tiger@gpu:8000/v1"\nremote_api_key = "sk-live-123"\n')
    result = run_cli("config", "show", "--config", str(file))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    for secret in ("hunter2", "swordfish", "tiger", "sk-live-123"):
        assert secret not in result.stdout
    assert shown["memory"]["store_url"] == "postgresql://me:***@db:5432/r4r"
    assert shown["agent"]["checkpoint_url"] == "postgresql://db/r4r?password=***"
    assert shown["agent"]["remote_url"] == "http://bot:***@gpu:8000/v1" and shown["agent"]["remote_api_key"] == "***"


def test_unknown_flag_is_a_usage_error():
    result = run_cli("eval", "--bogus")
    assert result.returncode == 2 and "No such option" in result.stderr


def test_model_fetch_with_a_local_model(tiny_model_dir: Path, tmp_path: Path):
    result = run_cli("model", "fetch", "--model", str(tiny_model_dir), "--prompt", "Hello", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "base model" in result.stdout and "cpu, float32" in result.stdout
    assert "untuned reply" in result.stdout


def test_model_tiny_builds_a_loadable_folder(tmp_path: Path):
    result = run_cli("model", "tiny", str(tmp_path / "t"), "--layers", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "t" / "config.json").read_text())["num_hidden_layers"] == 1


def test_demo_runs_every_section(tiny_model_dir: Path, tiny_run: Path, tmp_path: Path):
    """The main job end to end, with the tiny model and adapters standing in for the shipped ones."""
    result = run_cli("demo", "--model", str(tiny_model_dir), "--adapters", str(tiny_run), "--no-memory",
                     env=FAST_BASELINES, home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Dataset: Musical Instruments" in out and "random-2020" in out
    assert "Rating baselines" in out and out.count("user+item bias") == 3
    assert "deliberation" in out and out.count("Reasoner:") == 2 and out.count("predicted ") == 2
    deliberation = out[out.index("deliberation"):]
    assert re.search(r"history [a-z][a-z ]* \(B[0-9A-Z]{9}\):", deliberation)  # items by name, as everywhere


def test_train_show_and_eval_from_the_command_line(tiny_model_dir: Path, tiny_recipe_path: Path,
                                                   sentence_model_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    trained = run_cli("train", "summarizer", "reward", "reasoner", "predictor", "--recipe", str(tiny_recipe_path),
                      "--model", str(tiny_model_dir), "--run", str(run), home=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "[reasoner] reward filter: kept" in trained.stdout and "-> " + str(run) in trained.stdout
    shown = run_cli("adapters", "show", str(run))
    assert shown.returncode == 0 and shown.stdout.count("recipe tiny-test") == 4
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / sentence_model_dir.name).symlink_to(sentence_model_dir)
    out_dir = tmp_path / "eval"
    evaluated = run_cli("eval", "--adapters", str(run), "--model", str(tiny_model_dir), "--limit", "3",
                        "--out", str(out_dir), env=FAST_BASELINES, home=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Reason4Rec" in evaluated.stdout and "One-step" not in evaluated.stdout  # not trained here
    assert "What the evaluation can tell" in evaluated.stdout and "grounded" in evaluated.stdout
    saved = json.loads((out_dir / "results.json").read_text())
    assert {row["targets"] for row in saved["rows"]} == {3}
    assert (out_dir / "ratings.png").is_file()
    assert len((out_dir / "predictions.jsonl").read_text().splitlines()) == 3
    again = run_cli("eval", "--adapters", str(run), "--model", str(tiny_model_dir), "--limit", "3",
                    "--out", str(out_dir), env=FAST_BASELINES, home=tmp_path)
    assert again.returncode == 0 and "3 already scored" in " ".join(again.stdout.split())
    lines = (out_dir / "predictions.jsonl").read_text().splitlines()
    middle = json.loads(lines[1])["review_id"]
    for wrong in ({"review_id": middle}, {**json.loads(lines[1]), "true": None}):  # whole JSON, wrong shape
        (out_dir / "predictions.jsonl").write_text("\n".join([lines[0], json.dumps(wrong), lines[2]]) + "\n")
        damaged = run_cli("eval", "--adapters", str(run), "--model", str(tiny_model_dir), "--limit", "3",
                          "--out", str(out_dir), env=FAST_BASELINES, home=tmp_path)
        said = " ".join(damaged.stderr.split())
        assert damaged.returncode == 2 and "Traceback" not in damaged.stderr, damaged.stderr
        assert "predictions.jsonl is damaged at line 2" in said and "--restart" in said
    (out_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    other = run_cli("eval", "--adapters", str(run), "--model", str(tiny_model_dir), "--limit", "2",
                    "--out", str(out_dir), env=FAST_BASELINES, home=tmp_path)
    assert other.returncode == 2 and "holds another evaluation" in " ".join(other.stderr.split())


def test_category_and_meta_reach_the_loader(tmp_path: Path):
    reviews = tmp_path / "mine.jsonl"
    reviews.write_text(
        '{"user_id": "u", "item_id": "B01", "rating": 4, "timestamp": 1, "review_text": "ok"}\n'
        '{"user_id": "v", "item_id": "B01", "rating": 5, "timestamp": 2, "review_text": "ok"}\n'
    )
    meta = tmp_path / "meta_x.json"
    meta.write_text("{'asin': 'B01', 'title': 'Pedal'}\n")
    result = run_cli("data", "stats", "--reviews", str(reviews), "--meta", str(meta),
                     "--split", "random", env={"REASON4REC_DATA__CATEGORY": "Pedals"})
    assert result.returncode == 0, result.stderr
    assert "Dataset: Pedals" in result.stdout and "1 (others are named by id)" in result.stdout


def test_memory_commands_from_the_command_line(tiny_model_dir: Path, tiny_run: Path, sentence_model_dir: Path,
                                               tmp_path: Path, shipped):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / sentence_model_dir.name).symlink_to(sentence_model_dir)
    env = {"REASON4REC_BASE_MODEL__NAME_OR_PATH": str(tiny_model_dir)}
    items = sorted({r.item_id for r in shipped.reviews})[:6]
    reviews = tmp_path / "some.jsonl"
    reviews.write_text("".join(json.dumps({"user_id": r.user_id, "item_id": r.item_id, "rating": r.rating,
                                           "timestamp": r.timestamp, "review_text": r.text}) + "\n"
                               for r in shipped.reviews if r.item_id in items))
    built = run_cli("memory", "build", "--reviews", str(reviews), "--category", "Musical Instruments", "--adapters",
                    str(tiny_run), env=env, home=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "profiles written" in built.stdout and LEXICON_VERSION in built.stdout

    added = run_cli("memory", "add-review", "--user", "newcomer", "--item", items[0], "--rating", "4", "--text",
                    "Quiet tuner, bright display.", "--adapters", str(tiny_run), "--json", env=env, home=tmp_path)
    assert added.returncode == 0, added.stderr
    result = json.loads(added.stdout)
    assert result["outcome"] == "created" and not result["pending"] and result["summary"]

    refused = run_cli("memory", "add-review", "--user", "newcomer", "--item", items[0], "--rating", "7", "--text",
                      "x", "--adapters", str(tiny_run), env=env, home=tmp_path)
    assert refused.returncode == 2 and "rating must be from 1 to 5" in refused.stderr
    assert "Traceback" not in refused.stderr

    profile = run_cli("memory", "profile", "--user", "newcomer", home=tmp_path)
    assert profile.returncode == 0 and "user newcomer" in profile.stdout and items[0] in profile.stdout
    unknown = run_cli("memory", "profile", "--item", "B_NOPE", home=tmp_path)
    assert unknown.returncode == 2 and "unknown item 'B_NOPE'" in unknown.stderr
    found = run_cli("memory", "search", "a tuner", "--user", "newcomer", "-k", "3", home=tmp_path)
    assert found.returncode == 0 and "items for newcomer: a tuner" in found.stdout
    assert items[0] not in found.stdout.split("a tuner", 1)[1]  # already reviewed by them
    similar = run_cli("memory", "similar-users", "--user", "newcomer", "-k", "2", home=tmp_path)
    assert similar.returncode == 0 and "users similar to newcomer" in similar.stdout
    synced = run_cli("memory", "sync", "--adapters", str(tiny_run), env=env, home=tmp_path)
    assert synced.returncode == 0 and "0 pending reviews" in synced.stdout, synced.stderr
    status = run_cli("memory", "status", home=tmp_path)
    assert status.returncode == 0 and re.search(r"pending reviews / stale profiles\s+│ 0 / 0", status.stdout)

    adapters = ["--adapters", str(tiny_run)]
    answered = run_cli("why", "--user", "newcomer", "--item", items[1], "--json", *adapters, env=env, home=tmp_path)
    assert answered.returncode == 0, answered.stderr
    result = json.loads(answered.stdout)
    assert 1 <= result["rating"]["expected"] <= 5 and result["reason"] and result["error"] is None
    streamed = run_cli("why", "--user", "newcomer", "--item", items[1], "-v", *adapters, env=env, home=tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    out = streamed.stdout
    assert "Reasoner ..." in out and "predicted " in out and "user_history" in out and "thread " in out
    assert out.index("recalling") < out.index("Reasoner ...") < out.index("Predictor ...")
    recommended = run_cli("recommend", "--user", "newcomer", "-k", "2", "--json", *adapters, env=env, home=tmp_path)
    assert recommended.returncode == 0, recommended.stderr
    assert len(json.loads(recommended.stdout)["recommendations"]) == 2
    stranger = run_cli("why", "--user", "nobody", "--item", items[1], *adapters, env=env, home=tmp_path)
    assert stranger.returncode == 2 and "unknown user 'nobody'" in stranger.stderr  # refused before the experts
    assert "Traceback" not in stranger.stderr


def test_memory_in_use_by_another_process_is_one_clear_line(sentence_model_dir: Path, tmp_path: Path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / sentence_model_dir.name).symlink_to(sentence_model_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom reason4rec.memory.lock import FolderLock\n"
         "from pathlib import Path\nlock = FolderLock(Path(sys.argv[1])).acquire()\nprint('held', flush=True)\n"
         "time.sleep(120)\n", str(tmp_path / "memory" / "chroma")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_cli("memory", "status", home=tmp_path)
        assert result.returncode == 2 and f"in use by process {holder.pid}" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- reliability (issue 16)


def _linked_home(home: Path, sentence_model_dir: Path) -> Path:
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "models" / sentence_model_dir.name).symlink_to(sentence_model_dir)
    return home


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding an embedded memory folder's lock, as an open memory does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom reason4rec.memory.lock import FolderLock\n"
         "from pathlib import Path\nlock = FolderLock(Path(sys.argv[1])).acquire()\nprint('held', flush=True)\n"
         "time.sleep(300)\n", str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


HOLD_MEMORY = (
    "import sys, time\n"
    "from reason4rec.config import load_config\n"
    "from reason4rec.memory.service import Memory\n"
    "memory = Memory.open(load_config(sys.argv[1]))\n"
    "print('held', flush=True)\n"
    "time.sleep(300)\n"
)


def test_a_refused_rebuild_changes_nothing(memory_config, tmp_path: Path, write_config):
    """`memory build --rebuild` while another process has the memory open: refused, and the
    reviews keep their summaries (it used to send all of them back to pending first)."""
    from reason4rec.memory.service import Memory
    from reason4rec.memory.store import ReviewStore
    from reason4rec.memory.summarizers import LexiconSummarizer

    with Memory.open(memory_config) as memory:
        for n, text in enumerate(["Great strings.", "Sturdy stand, no wobble.", "Noisy cable."]):
            memory.add_review(f"U{n}", f"B{n}", 4, text, summarizer=LexiconSummarizer())
    config_file = write_config(memory_config, tmp_path / "r4r.toml")
    reviews = tmp_path / "some.jsonl"
    reviews.write_text(json.dumps({"user_id": "U9", "item_id": "B9", "rating": 5, "timestamp": 1,
                                   "review_text": "Bright tone."}) + "\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_MEMORY, str(config_file)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_cli("memory", "build", "--rebuild", "--reviews", str(reviews), "--category", "Musical Instruments",
                         "--config", str(config_file))
        assert result.returncode == 2 and f"in use by process {holder.pid}" in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    with ReviewStore(memory_config.store_path) as store:
        assert store.counts()["pending"] == 0 and store.summary_versions() == {LEXICON_VERSION: 3}
        assert store.counts()["reviews"] == 3  # the file was not imported either
    assert not [p for p in memory_config.chroma_path.parent.iterdir() if p.name.startswith("chroma.old-")]


def test_a_damaged_vector_index_is_reported_with_the_way_out(memory_config, tmp_path: Path, write_config):
    """A truncated HNSW file leaves counts and ids readable (they are in Chroma's SQLite file);
    opening the memory must notice, and `memory build --rebuild` must recover from the store."""
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer
    from reason4rec.memory.vectors import VectorMemoryError

    # Built by another process, as a real memory is: the
    # one that wrote an index keeps it mapped, and truncating a mapped file crashes that process.
    reviews = indexed_reviews(tmp_path / "reviews.jsonl")
    config_file = str(write_config(memory_config, tmp_path / "r4r.toml"))
    built = run_cli("memory", "build", "--reviews", str(reviews), "--category", "Musical Instruments", "--config",
                    config_file)
    assert built.returncode == 0, built.stderr
    damaged = sorted(memory_config.chroma_path.rglob("data_level0.bin"))
    assert damaged
    for path in damaged:
        with path.open("r+b") as handle:
            handle.truncate(1000)
    status = run_cli("memory", "status", "--config", config_file)
    assert status.returncode == 2, status.stdout
    assert "memory build --rebuild" in " ".join(status.stderr.split()) and "Traceback" not in status.stderr
    with pytest.raises(VectorMemoryError, match=r"(?s)could not read the vector index files.*data_level0.bin is "
                                                r"1,000 bytes.*memory build --rebuild"):
        Memory.open(memory_config)
    with Memory.open(memory_config, rebuild=True) as memory:  # the way out the message names
        memory.sync(None, bulk=LexiconSummarizer())
        assert memory.search_items("a quiet switch", k=1)
        status = memory.status()
        assert (status["summaries"], status["pending"], status["item_profiles"]) == (1010, 0, 101)
    with Memory.open(memory_config) as memory:  # and the rebuilt vectors pass the check
        assert memory.status()["summaries"] == 1010


def test_add_review_refuses_bad_input_before_opening_the_memory_or_loading_a_model(sentence_model_dir: Path,
                                                                                  tmp_path: Path):
    home = _linked_home(tmp_path, sentence_model_dir)
    no_adapters = ["--adapters", str(tmp_path / "no-adapters")]  # loading the Summarizer would fail
    cases = [(["--rating", "7", "--text", "Fine."], None, "rating must be from 1 to 5"),
             (["--rating", "4", "--text", "-"], "\0\0", "review text is empty"),  # printf '\0\0' | ...
             (["--rating", "4", "--text", "Fine.", "--item-title", "\x1b[2J<|im_end|>"], None, "item title"),
             (["--rating", "4", "--text", "Fine.", "--user", " U1"], None, "starts or ends with whitespace"),
             (["--rating", "4", "--text", "Fine.", "--user", "[/x] "], None, "'[/x] ' starts or ends"),  # not markup
             (["--rating", "4", "--text", "Fine.", "--timestamp", str(10**20)], None, "timestamp 1000"),
             (["--rating", "4", "--text", "Fine.", "--timestamp", "-5"], None, "timestamp -5 is out of range"),
             (["--rating", "4", "--text", "caf\udce9 ok"], None, "not valid UTF-8")]  # a Latin-1 byte in argv
    for args, stdin, message in cases:
        result = run_cli("memory", "add-review", "--user", "U1", "--item", "B1", *args, *no_adapters, home=home,
                         input=stdin)
        assert result.returncode == 2 and message in " ".join(result.stderr.split()), result.stderr
        assert "Traceback" not in result.stderr
    assert not (home / "memory").exists()  # refused before the memory was even opened


def test_why_and_recommend_report_a_memory_in_use_before_loading_the_experts(sentence_model_dir: Path,
                                                                            tmp_path: Path):
    home = _linked_home(tmp_path, sentence_model_dir)
    holder = _hold_lock(home / "memory" / "chroma")
    try:
        for command in (["why", "--user", "U1", "--item", "B1"], ["recommend", "--user", "U1"]):
            result = run_cli(*command, "--adapters", str(tmp_path / "no-adapters"), home=home)
            assert result.returncode == 2 and f"in use by process {holder.pid}" in " ".join(result.stderr.split())
            assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_an_unknown_or_hostile_id_is_refused_before_the_experts_load(sentence_model_dir: Path, tmp_path: Path):
    """An id the memory does not know (or one with escape sequences) is one line on stderr, exit 2,
    from the memory alone: ``--adapters`` names no adapters, so loading the experts would fail
    differently (and take half a minute with the bundled model)."""
    home = _linked_home(tmp_path, sentence_model_dir)
    reviews = tmp_path / "r.jsonl"
    reviews.write_text(json.dumps({"user_id": "U1", "item_id": "B1", "rating": 5, "timestamp": 1,
                                   "review_text": "Bright tone."}) + "\n")
    assert run_cli("memory", "build", "--reviews", str(reviews), "--category", "Musical Instruments",
                   home=home).returncode == 0
    no_adapters = ["--adapters", str(tmp_path / "no-adapters")]
    for command, said in ((["why", "--user", "NOPE", "--item", "B1"], "unknown user 'NOPE'"),
                          (["why", "--user", "a\x1b[2Jb", "--item", "B1"], "unknown user 'a\\x1b[2Jb'"),
                          (["why", "--user", "U1", "--item", "B404"], "unknown item 'B404'"),
                          (["recommend", "--user", "NOPE"], "unknown user 'NOPE'")):
        result = run_cli(*command, *no_adapters, home=home)
        assert result.returncode == 2 and said in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "\x1b" not in result.stderr + result.stdout


def test_serve_reports_a_busy_port_in_one_line_before_loading_the_model(tmp_path: Path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--model", str(tmp_path / "no-model"), home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr


def test_an_environment_value_that_cannot_be_parsed_is_one_line_not_a_traceback():
    result = run_cli("config", "show", env={"REASON4REC_DATA": "notjson", "REASON4REC_DATA__SEED": "3"})
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "REASON4REC_DATA cannot be parsed" in message and "must be JSON" in message
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- real-world data files (issue 17)

def _write_gz(path: Path, lines: list[str], keep: float = 1.0) -> Path:
    """Gzip ``lines``; ``keep`` < 1 cuts the file short like an interrupted download."""
    import gzip

    data = gzip.compress("".join(line + "\n" for line in lines).encode())
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _mcauley_2018(n: int, *, text: bool = True, summary: str | None = "Five Stars", user: str | None = None) -> str:
    row = {"overall": 1.0 + n % 5, "verified": True, "reviewTime": "09 1, 2016", "reviewerID": user or f"A{n % 7}X",
           "asin": f"B000{n // 7:04d}", "reviewerName": "Shelly F", "unixReviewTime": 1472688000 + n}
    if text:
        row["reviewText"] = f"Ch&acirc;teau scent number {n},<br />lasts &quot;all day&quot;"
    if summary is not None:
        row["summary"] = summary
    return json.dumps(row)


def test_a_mcauley_2018_file_loads_from_the_command_line_reporting_reviews_without_text(tmp_path: Path):
    lines = [_mcauley_2018(n) for n in range(30)]
    lines += [_mcauley_2018(30, text=False), _mcauley_2018(31, text=False, summary=None)]  # summary/image-only
    reviews = _write_gz(tmp_path / "All_Beauty_5.json.gz", lines)
    meta = _write_gz(tmp_path / "meta_All_Beauty.json.gz", [
        '{"category": [], "description": [], "title": "Sol &amp; Luna <span class=\\"a\\">Wash</span>", '
        '"also_buy": [], "brand": "Sol", "main_cat": "All Beauty", "asin": "B0000000"}',
        '{"category": [], "description": [], "also_buy": [], "main_cat": "All Beauty", "asin": "B0000001"}',
    ])
    result = run_cli("data", "stats", "--reviews", str(reviews), "--meta", str(meta), "--split", "random")
    assert result.returncode == 0, result.stderr
    assert "Dataset: All Beauty" in result.stdout  # guessed from the 2018 file name
    assert "32 / 7 / 5" in result.stdout and "1 (others are named by id)" in result.stdout
    assert "warning: 2 reviews had no text (1 used their summary)" in " ".join(result.stderr.split())
    named = run_cli("data", "stats", "--reviews", str(reviews), "--category", "Luxury Beauty", "--split", "random",
                    env={"REASON4REC_DATA__CATEGORY": "Beauty"})
    assert named.returncode == 0 and "Dataset: Luxury Beauty" in named.stdout  # the flag wins


def _amazon_2023(user: str, item: str, n: int) -> str:
    return json.dumps({"rating": 1.0 + n % 5, "title": "Nice", "text": f"Works, number {n}.", "images": [],
                       "asin": f"{item}V{n % 2}", "parent_asin": item, "user_id": user,
                       "timestamp": 1588687728923 + n * 86_400_000, "helpful_vote": 0, "verified_purchase": True})


def test_an_amazon_2023_file_loads_from_the_command_line_and_keeps_its_core_on_request(tmp_path: Path):
    regulars = [(f"U{u}", f"B{i}") for u in range(6) for i in range(4)]  # every one of 6 users rated 4 items
    once = [(f"LONE{u}", f"B{u % 4}") for u in range(12)] + [("LONE_ELSEWHERE", "B_NOBODY_ELSE")]
    lines = [_amazon_2023(user, item, n) for n, (user, item) in enumerate(regulars + once)]
    reviews = _write_gz(tmp_path / "Video_Games.jsonl.gz", lines)
    meta = _write_gz(tmp_path / "meta_Video_Games.jsonl.gz",
                     [json.dumps({"parent_asin": "B0", "title": "Pad", "store": "X", "main_category": "Video Games"})])
    whole = run_cli("data", "stats", "--reviews", str(reviews), "--meta", str(meta), "--split", "random")
    assert whole.returncode == 0, whole.stderr
    assert "Dataset: Video Games" in whole.stdout and "37 / 19 / 5" in whole.stdout
    assert "1 (others are named by id)" in whole.stdout
    assert "13 of 19 users have a single review" in " ".join(whole.stderr.split())
    assert "2020-05-05" in whole.stdout  # milliseconds read as such: the first review's day
    core = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random", "--core", "4")
    assert core.returncode == 0, core.stderr
    assert "24 / 6 / 4" in core.stdout
    assert "kept the 4-core: left out 13 reviews" in " ".join(core.stderr.split())
    assert run_cli("data", "stats", "--reviews", str(reviews), "--core", "0").returncode == 2  # usage error


def test_repeated_pairs_are_refused_naming_the_flag_and_kept_with_it_or_the_config(tmp_path: Path):
    reviews = _write_gz(tmp_path / "Musical_Instruments_5.json.gz",
                        [_mcauley_2018(n) for n in range(20)] + [_mcauley_2018(3)])
    refused = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random")
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "duplicate (user, item) review(s), first at lines 4 and 21" in message
    assert "--on-duplicate keep-latest" in message and "data.on_duplicate" in message
    assert "Traceback" not in refused.stderr
    kept = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random", "--on-duplicate", "keep-latest")
    assert kept.returncode == 0, kept.stderr
    assert "duplicates dropped" in kept.stdout and "20 / 7 / 3" in kept.stdout
    config_file = tmp_path / "c.toml"
    config_file.write_text('[data]\non_duplicate = "keep-latest"\n')
    from_config = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random", "--config", str(config_file))
    assert from_config.returncode == 0 and "duplicates dropped" in from_config.stdout
    overruled = run_cli("data", "stats", "--reviews", str(reviews), "--config", str(config_file), "--on-duplicate",
                        "error")
    assert overruled.returncode == 2 and "--on-duplicate keep-latest" in " ".join(overruled.stderr.split())
    bad = run_cli("config", "show", env={"REASON4REC_DATA__ON_DUPLICATE": "keep-first"})
    assert bad.returncode == 2 and "data.on_duplicate" in bad.stderr
    assert run_cli("data", "stats", "--on-duplicate", "keep-first").returncode == 2  # usage error


def test_a_truncated_gzip_is_refused_saying_so_unless_allowed(tmp_path: Path):
    reviews = _write_gz(tmp_path / "reviews_Musical_Instruments_5.json.gz",
                        [_mcauley_2018(n, user=f"U{n}") for n in range(300)], keep=0.5)
    refused = run_cli("data", "stats", "--reviews", str(reviews))
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "the gzip file is truncated" in message and "--allow-truncated" in message
    complete = int(re.search(r"(\d+) complete line\(s\) were read before the cut", message)[1])
    allowed = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random", "--allow-truncated")
    assert allowed.returncode == 0, allowed.stderr
    assert f"truncated gzip; kept the {complete} complete line(s)" in " ".join(allowed.stderr.split())
    assert f"{complete} / {complete} /" in allowed.stdout and "Dataset: Musical Instruments" in allowed.stdout
    config_file = tmp_path / "c.toml"
    config_file.write_text("[data]\nallow_truncated = true\n")
    from_config = run_cli("data", "stats", "--reviews", str(reviews), "--split", "random", "--config", str(config_file))
    assert from_config.returncode == 0, from_config.stderr


def test_train_refuses_bad_review_files_before_loading_a_model(tmp_path: Path):
    reviews = _write_gz(tmp_path / "All_Beauty_5.json.gz", [_mcauley_2018(n) for n in range(20)], keep=0.5)
    result = run_cli("train", "summarizer", "--reviews", str(reviews), "--model", str(tmp_path / "no-model"),
                     home=tmp_path)
    assert result.returncode == 2 and "the gzip file is truncated" in " ".join(result.stderr.split())


@pytest.mark.parametrize("command", [("data", "stats"), ("eval",), ("train",), ("memory", "build")])
def test_every_command_that_reads_reviews_takes_the_data_loading_flags(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    for flag in ("--reviews", "--category", "--on-duplicate", "--allow-truncated"):
        assert flag in result.stdout


# --------------------------------------------------------------------------- plain output (issue 17)

def test_plain_output_never_breaks_a_word(tmp_path: Path):
    """Piped, with no $COLUMNS: a long path in an error stays whole on its line (Rich used to fold
    it at 80 columns, so it could not be copied)."""
    missing = tmp_path / ("x" * 150) / "reviews_Musical_Instruments_5.json.gz"
    result = run_cli("data", "stats", "--reviews", str(missing), env={"COLUMNS": ""}, input="")
    assert result.returncode == 2
    assert f"error: review file not found: {missing}\n" in result.stderr


def test_plain_consoles_keep_lines_whole_and_lay_out_renderables_wide(monkeypatch):
    import io

    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table

    from reason4rec.app.console import PLAIN_WIDTH, PlainConsole, make_console

    monkeypatch.delenv("COLUMNS", raising=False)
    word = "accurate_and_reliable_tuning_" * 4  # 116 characters: over Rich's 80, under the plain width
    out = io.StringIO()
    console = make_console(file=out)
    assert isinstance(console, PlainConsole) and console.width >= PLAIN_WIDTH
    console.print(f"[bold]a line[/] {'with words ' * 20}and {word * 2}")
    console.print(Markdown(f"**B1** might suit **A1**.\n\n> The user values {word} and this one delivers it."))
    console.print(Panel(f"B1 5*: {word} | warm"))
    table = Table("id", "profile")
    table.add_row("B000ABCDEF", f"Known for: {word}, sturdy construction")
    console.print(table)
    text = out.getvalue()
    assert f"and {word * 2}\n" in text and text.count("with words") == 20  # one line, not wrapped
    assert text.count(word) == 5 and "…" not in text  # every long word whole, none cut short
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console(file=io.StringIO()).width == 100  # an explicit width wins


def test_the_plain_console_writes_no_terminal_sequences():
    """Whatever reaches a pipe or a log is plain text: a clear-screen, a colour or a window title
    inside an id, a title or a review is dropped on the way out (issue 38)."""
    import io

    from reason4rec.app.console import make_console

    out = io.StringIO()
    console = make_console(file=out)
    console.print("item \x1b[2J\x1b[31mred\x1b[0m title\x1b]0;pwned\x1b\\ done", markup=False)
    console.print("next line \x1b]8;;http://x\x1b\\link\x07")
    assert out.getvalue() == "item red title done\nnext line link\n"

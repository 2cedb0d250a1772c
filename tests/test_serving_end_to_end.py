"""``reason4rec serve`` as a real subprocess: the remote backend and the agent through it, shutdown.

The tiny random Predictor never ranks the stars among its 20 most likely tokens (it is noise),
while a trained one does -- and OpenAI-style servers return at most 20 alternatives. So these
tests run on a copy of the tiny base whose output head is edited to favour the five star tokens
right after ``Predicted Rating:`` (what Predictor training teaches); the architecture, hence the
adapters' fingerprint, is unchanged and the rest of its generation is the same noise.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from reason4rec.experts.prompts import (
    RATING_PREFIX,
    HistoryEntry,
    TargetContext,
    predictor_messages,
    render_chat,
)

KEY = "e2e-key-0123456789"


def _predictor_prompts(dataset, count: int = 6) -> list:
    reviews = dataset.reviews
    prompts = []
    for i in range(count):
        entries = tuple(HistoryEntry(r.item_id, r.rating, "Positive Aspects: tone\nNegative Aspects: none\n"
                                     f"User Preference Elements: {r.title or 'gear'}")
                        for r in reviews[i * 3:i * 3 + 3])
        ctx = TargetContext("Musical Instruments", reviews[i].item_id, entries, entries[:2], 4.2, 3.9, 3, 2)
        prompts.append(predictor_messages(ctx, reviews[i].text[:200] if i % 2 else None))
    return prompts


@pytest.fixture(scope="module")
def star_base(tiny_model_dir: Path, small_dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base, its head untied and the star rows pushed along the mean final hidden state at
    ``Predicted Rating:``, just enough that all five stars lead there."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    stars = [tokenizer(f"{RATING_PREFIX}{k}", add_special_tokens=False)["input_ids"][-1] for k in range(1, 6)]
    texts = [render_chat(tokenizer, m) + RATING_PREFIX.rstrip() for m in _predictor_prompts(small_dataset, 8)]
    with torch.no_grad():
        hidden = torch.stack([model(**tokenizer(t, return_tensors="pt", add_special_tokens=False),
                                    output_hidden_states=True).hidden_states[-1][0, -1] for t in texts])
        direction = hidden.mean(0) / hidden.mean(0).norm()
        head = model.get_input_embeddings().weight.detach().clone()
        logits = hidden @ head.T
        gap = (logits.max(-1).values[:, None] - logits[:, stars]).max() + 2.0
        head[stars] += gap / (hidden @ direction).min() * direction
    model.config.tie_word_embeddings = False
    model.lm_head = torch.nn.Linear(head.shape[1], head.shape[0], bias=False)
    model.lm_head.weight = torch.nn.Parameter(head)
    folder = tmp_path_factory.mktemp("star-base")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def star_config(agent_config, star_base: Path):
    """The star base on transformers on both sides: these tests compare the server with the local
    backend to 1e-4, and a batched llama.cpp pass (the server batches) differs from a single one
    by more than that. The server on llama.cpp is exercised by the SIGTERM test."""
    return agent_config.model_copy(update={
        "base_model": agent_config.base_model.model_copy(update={"name_or_path": str(star_base)}),
        "agent": agent_config.agent.model_copy(update={"backend": "transformers"})})


@pytest.fixture(scope="module")
def engine_star_config(star_config):
    return star_config.model_copy(update={"agent": star_config.agent.model_copy(update={"backend": "llamacpp"})})


@pytest.fixture(scope="module")
def star_backend(star_config):
    from reason4rec.experts.loading import local_backend
    from reason4rec.experts.shipping import adapter_dirs

    return local_backend(star_config, adapter_dirs(star_config.agent.adapters, with_one_step=False), batch_size=4)


class ServerProcess:
    """``python -m reason4rec.cli serve --port 0 ...`` with its URL read from standard output."""

    def __init__(self, config_file: Path, log: Path, *extra: str) -> None:
        from reason4rec.serving import READY

        env = {k: v for k, v in os.environ.items() if not k.startswith("REASON4REC_")}
        env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reason4rec.cli", "serve", "--port", "0", "--config", str(config_file),
             "--api-key", KEY, *extra],
            stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        prefix = READY.split("{")[0]
        deadline = time.monotonic() + 180
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"the server did not start:\n{log.read_text()}") from None
            if line.startswith(prefix):
                self.url = line[len(prefix):].strip()
                break

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


@pytest.fixture(scope="module")
def server(star_config, write_config, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("serve")
    # One prompt per forward, as the local side runs: with batches, which requests the server joins
    # depends on when they arrive (its batch window), so under load a padded batch could flip a
    # random tiny model's near-tie and the greedy answers would differ for no fault of the server.
    one_by_one = star_config.model_copy(update={"serve": star_config.serve.model_copy(update={"batch_size": 1})})
    running = ServerProcess(write_config(one_by_one, folder / "serve.toml"), folder / "server.log")
    yield running
    assert running.stop() == 0


def _remote(server):
    from reason4rec.experts.engines.remote import RemoteBackend, RemoteSettings

    return RemoteBackend(RemoteSettings(base_url=server.url, api_key=KEY, max_retries=0))


def test_the_server_and_the_local_backend_give_the_same_rating_distribution(server, star_backend, small_dataset):
    prompts = _predictor_prompts(small_dataset)
    prefixes = ["", "It matches the user's love of warm tone.", "", "Too loud for them.", "", "ok"]
    for given in (None, prefixes):
        local = star_backend.rate("predictor", prompts, response_prefixes=given)
        remote = _remote(server).rate("predictor", prompts, response_prefixes=given)
        for near, far in zip(local, remote):
            assert far.probabilities == pytest.approx(near.probabilities, abs=1e-4)
            assert far.expected == pytest.approx(near.expected, abs=1e-4)
    spread = {round(d.expected, 3) for d in local}
    assert len(spread) > 1  # the distributions differ by prompt: the comparison is not vacuous


def test_why_and_recommend_through_the_server_equal_the_local_backend(server, star_config, star_backend,
                                                                       regular_user, tmp_path: Path,
                                                                       monkeypatch):
    """Greedy answers agree exactly when both sides run the same shapes: one prompt per forward
    (a padded batch changes the float sums a little, and a random tiny model's near-ties then
    flip), the memory's history summaries as they are (no Summarizer batch on either side), and
    the greedy reason alone: sampled drafts are drawn per request by a server, per batch locally."""
    from reason4rec.agent import Agent

    monkeypatch.setattr(star_backend, "batch_size", 1)
    from reason4rec.config import MemoryConfig

    user = regular_user[0]
    item = regular_user[1][0]

    def configured(name: str, **agent_settings):
        folder = tmp_path / name  # each run starts from its own copy of the same built memory
        folder.mkdir()
        store = Path(star_config.memory.store_path)
        for file in store.parent.glob(store.name + "*"):  # with any -wal/-shm companions
            shutil.copy2(file, folder / file.name.replace(store.name, "reviews.sqlite"))
        shutil.copytree(star_config.memory.chroma_path, folder / "chroma")
        return star_config.model_copy(update={
            "memory": MemoryConfig(store_path=folder / "reviews.sqlite", chroma_path=folder / "chroma"),
            "agent": star_config.agent.model_copy(update={"resummarize_lexicon": False, "reason_drafts": 1,
                                                          **agent_settings})})

    answers = {}
    for name, config, backend in [
        ("local", configured("local"), star_backend),
        ("remote", configured("remote", backend="remote", remote_url=server.url, remote_api_key=KEY), None),
    ]:
        with Agent.open(config, backend=backend, checkpoint=False) as agent:
            if name == "remote":
                assert type(agent.context.backend).__name__ == "RemoteBackend"
            answers[name] = (agent.why(user, item), agent.recommend(user, k=2))

    (why_local, top_local), (why_remote, top_remote) = answers["local"], answers["remote"]
    assert why_local["error"] is None and why_remote["error"] is None, why_remote["error"]
    assert why_remote["reason"] == why_local["reason"] and why_local["reason"]
    assert why_remote["rating"]["expected"] == pytest.approx(why_local["rating"]["expected"], abs=2e-4)
    assert why_remote["rating"]["probabilities"] == pytest.approx(why_local["rating"]["probabilities"], abs=2e-4)
    local_items, remote_items = top_local["recommendations"], top_remote["recommendations"]
    assert top_remote["error"] is None and len(remote_items) == len(local_items) == 2
    for near, far in zip(local_items, remote_items):
        assert far["item_id"] == near["item_id"] and far["reason"] == near["reason"]
        assert far["rating"]["expected"] == pytest.approx(near["rating"]["expected"], abs=2e-4)
    drafting = configured("drafts", backend="remote", remote_url=server.url, remote_api_key=KEY, reason_drafts=3,
                          reason_rounds=1)
    with Agent.open(drafting, checkpoint=False) as agent:  # the server samples the extra drafts
        drafted = agent.why(user, item)
    assert drafted["error"] is None and drafted["reason_check"]["drafts"] == 3 and drafted["reason"]


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(engine_star_config, write_config, tmp_path: Path):
    """On the compiled engine: the server runs on llama.cpp like on transformers."""
    running = ServerProcess(write_config(engine_star_config, tmp_path / "serve.toml"), tmp_path / "server.log")
    body = {"model": "reasoner", "max_tokens": 200, "stream": True,
            "messages": [{"role": "user", "content": "Tell me about this guitar tuner."}]}
    with httpx.stream("POST", running.url + "/chat/completions", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {KEY}"}) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        running.process.send_signal(signal.SIGTERM)  # mid-answer
        rest = [line for line in lines if line]
    assert first.startswith("data: ") and rest[-1] == "data: [DONE]"
    assert '"finish_reason":' in rest[-2] and '"finish_reason": null' not in rest[-2]
    assert running.process.wait(60) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url.removesuffix("/v1") + "/health", timeout=5)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "Finished server process" in log
    assert "compiled engine unavailable" not in log  # it ran on llama.cpp


def test_a_network_bind_without_a_key_exits_2_before_loading_anything(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REASON4REC_")}
    done = subprocess.run([sys.executable, "-m", "reason4rec.cli", "serve", "--host", "0.0.0.0",
                           "--home", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 2
    assert "--api-key" in done.stderr and "Traceback" not in done.stderr

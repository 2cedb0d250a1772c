"""Many users adding reviews at once: worker processes sharing PostgreSQL and a Chroma server.

The deployment of docs/deployment.md on one machine: a PostgreSQL server (the review store), a
Chroma server (``chroma run``, the vector memory) and W worker processes, each with its own
memory open on both (as ``reason4rec`` API or chat processes would be). ``--users`` simulated
users (threads here) each send ``--per-user`` reviews, one after another without pause (a closed
loop), through a queue any free worker takes from (a load balancer in front of the workers); a
review's latency is from the moment its user sends it to the answer (waiting for a free worker
included).

Each add runs the path ``reason4rec memory add-review --summaries lexicon`` runs
(``AgentContext.add_review``): the review committed to PostgreSQL, its lexicon summary embedded
(the MiniLM sentence model, in the worker) and upserted to Chroma, marked summarized, the user's
and the item's profiles rebuilt and upserted. The lexicon, not the Summarizer: the expert server
is one shared GPU (or CPU) that every ``why`` and every Summarizer summary waits for, a
bottleneck of its own that this test does not measure (see docs/serving.md for the server).

Two runs, each on a fresh database and fresh collections: one worker, then ``--workers``. Midway
through the second, one worker is killed with SIGKILL while it handles a review: its user gets
an error and sends the same review again (what a client does on a 502), and a replacement worker
starts. After each run ``memory sync`` (``Memory.sync`` with the lexicon) runs, then the
consistency check: every review sent is stored exactly once with the text last sent, summarized,
its summary in Chroma from its current revision, every user's and item's profile there counting
all their reviews, nothing pending, no stale profile.

    python bench/load.py --workers 4 --users 20 --per-user 15 --out artifacts/bench/load-cpu.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ the worker (a child process)
def serve_worker() -> None:
    """Open the memory named by the environment (REASON4REC_*), say ``ready``, then add each
    review read from stdin (one JSON object a line) and answer on stdout."""
    threads = int(os.environ.get("LOAD_TORCH_THREADS", "1"))
    if threads:
        import torch

        torch.set_num_threads(threads)
    from reason4rec.app.resources import open_lexicon_reviewer, quiet_transformers
    from reason4rec.config import load_config
    from reason4rec.errors import Reason4RecError
    from reason4rec.memory.service import Memory

    quiet_transformers()
    memory = Memory.open(load_config())
    reviewer = open_lexicon_reviewer(memory)  # the one add-a-review path, with the lexicon
    reviewer.finish_pending()  # as every process does when it opens the memory
    reviewer.memory.vectors.embed(["warm up the sentence model"])
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = reviewer.add_review(request["user"], request["item"],
                                         {"rating": request["rating"], "text": request["text"]})
            answer = {"outcome": result.outcome, "pending": result.pending, "error": result.error}
        except Reason4RecError as err:
            answer = {"outcome": None, "pending": True, "error": f"{type(err).__name__}: {err}"}
        answer |= {"id": request["id"], "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}
        print(json.dumps(answer), flush=True)
    memory.close()


# ------------------------------------------------------------------ the load balancer (this process)
@dataclass
class Request:
    id: int
    user: str
    item: str
    rating: float
    text: str
    sent: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict | None = None


class Workers:
    """W worker processes behind one queue; one request at a time each."""

    def __init__(self, count: int, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.jobs: queue.Queue[Request | None] = queue.Queue()
        self.busy: dict[int, Request] = {}  # pid -> the request it is handling
        self.procs: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.started = 0
        self.threads = [self.start() for _ in range(count)]
        deadline = time.monotonic() + 600
        while len(self.procs) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {log_dir}")
            time.sleep(0.1)

    def start(self) -> threading.Thread:
        self.started += 1
        log = (self.log_dir / f"worker-{self.started}.log").open("w")
        proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, text=True, env=self.env, cwd=ROOT)
        thread = threading.Thread(target=self._feed, args=(proc,), daemon=True)
        thread.start()
        return thread

    def _feed(self, proc: subprocess.Popen) -> None:
        ready = proc.stdout.readline()
        if not ready:
            return
        with self.lock:
            self.procs[proc.pid] = proc
        while True:
            request = self.jobs.get()
            if request is None:
                proc.stdin.close()
                proc.wait(60)
                return
            with self.lock:
                self.busy[proc.pid] = request
            try:
                proc.stdin.write(json.dumps({"id": request.id, "user": request.user, "item": request.item,
                                             "rating": request.rating, "text": request.text}) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            with self.lock:
                self.busy.pop(proc.pid, None)
            if not line:  # the worker died with this request: a 502 to its user, who sends it again
                request.answer = {"id": request.id, "error": "worker died", "died": True}
                request.done.set()
                with self.lock:
                    self.procs.pop(proc.pid, None)
                return
            request.answer = json.loads(line)
            request.done.set()

    def kill_one_busy(self) -> int | None:
        """SIGKILL a worker in the middle of a review; a replacement starts."""
        for _ in range(500):
            with self.lock:
                busy = list(self.busy)
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                self.threads.append(self.start())
                return busy[0]
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for proc in list(self.procs.values()):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_phase(workers: int, users: int, per_user: int, env: dict[str, str], reviews: list, items: list[str],
              kill: bool, log_dir: Path, seed: int, server_pids: dict[str, int]) -> dict:
    rng = random.Random(seed)
    pool = Workers(workers, env, log_dir)
    sent: dict[tuple[str, str], str] = {}  # (user, item) -> the text last sent
    latencies: list[float] = []
    service: list[float] = []  # seconds a worker spent on a review (no queueing)
    worker_cpu: list[float] = []
    retries = errors = 0
    done_count = 0
    total = users * per_user
    counter_lock = threading.Lock()
    kill_at = total // 2 if kill else None
    killed: list[int | None] = []
    ids = itertools.count()

    plans = []
    for u in range(users):
        user = f"load-user-{u:02d}"
        chosen = rng.sample(items, per_user)
        plans.append([(user, item, *rng.choice(reviews)) for item in chosen])
        for user_, item, _, text in plans[-1]:
            sent[(user_, item)] = text

    def user_loop(plan: list) -> None:
        nonlocal retries, errors, done_count
        for user, item, rating, text in plan:
            first = time.perf_counter()
            while True:
                request = Request(next(ids), user, item, rating, text, sent=first)
                pool.jobs.put(request)
                request.done.wait()
                if request.answer.get("died"):
                    with counter_lock:
                        retries += 1
                    continue
                break
            with counter_lock:
                latencies.append(time.perf_counter() - first)
                service.append(request.answer.get("seconds", 0.0))
                worker_cpu.append(request.answer.get("cpu", 0.0))
                done_count += 1
                if request.answer.get("error"):
                    errors += 1
                if kill_at is not None and done_count == kill_at and not killed:
                    killed.append(-1)
                    threading.Thread(target=lambda: killed.__setitem__(0, pool.kill_one_busy()), daemon=True).start()

    servers_cpu = _cpu_seconds(server_pids)
    started = time.perf_counter()
    threads = [threading.Thread(target=user_loop, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    servers_cpu = {name: round(1000 * (after - servers_cpu.get(name, 0.0)) / total, 1)
                   for name, after in _cpu_seconds(server_pids).items()}
    pool.stop()
    ordered = sorted(latencies)
    return {"workers": workers, "users": users, "reviews": total, "seconds": round(wall, 2),
            "reviews_per_s": round(total / wall, 2), "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
            "errors": errors, "retried_after_kill": retries, "killed_pid": killed[0] if killed else None,
            "workers_started": pool.started, "service_p50_ms": round(1000 * statistics.median(service), 1),
            "cpu_ms_per_review": {"worker": round(1000 * sum(worker_cpu) / total, 1), **servers_cpu},
            "_sent": sent}


def check(url: str, chroma_url: str, prefix: str, home: Path, sent: dict[tuple[str, str], str]) -> dict:
    """Sync, then: each review sent stored once, summarized, in Chroma; profiles whole."""
    from reason4rec.config import load_config
    from reason4rec.data import review_id
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    config = load_config(overrides={"home": home, "memory": {"store_url": url, "chroma_url": chroma_url,
                                                             "collection_prefix": prefix}})
    with Memory.open(config) as memory:
        store = memory.store
        pending_before = store.counts()["pending"]
        report = memory.sync(LexiconSummarizer())
        counts = store.counts()
        problems = []
        ids = {review_id(u, i): text for (u, i), text in sent.items()}
        if counts["reviews"] != len(ids):
            problems.append(f"{counts['reviews']} reviews stored, {len(ids)} sent")
        records = memory.vectors.summaries(ids)
        for rid, text in ids.items():
            review = store.get(rid)
            if review.text != text or review.status != "summarized" or review.summary_version != "lexicon-1":
                problems.append(f"{rid}: {review.status} {review.summary_version} text ok: {review.text == text}")
            record = records.get(rid)
            if record is None or record.revision != review.revision:
                problems.append(f"{rid}: summary missing or of another revision in Chroma")
        users = {u for u, _ in sent}
        items = {i for _, i in sent}
        for kind, entities in (("user", users), ("item", items)):
            profiles = memory.vectors.profiles(kind, entities)
            for entity in entities:
                want = len(store.user_reviews(entity) if kind == "user" else store.item_reviews(entity))
                got = profiles.get(entity)
                if got is None or got.review_count != want:
                    problems.append(f"{kind} {entity}: profile counts {got and got.review_count}, store has {want}")
        vectors = memory.vectors.counts()
    return {"pending_before_sync": pending_before, "synced": sum(report.summarized.values()),
            "pending_after_sync": counts["pending"], "stale_profiles": counts["stale_profiles"],
            "reviews_stored": counts["reviews"], "reviews_sent": len(ids), "summaries_in_chroma": vectors["summaries"],
            "problems": problems[:20], "consistent": not problems and counts["pending"] == 0
            and counts["stale_profiles"] == 0 and vectors["summaries"] == len(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--per-user", type=int, default=15)
    parser.add_argument("--items", type=int, default=60, help="items the users review (shared: profiles contend)")
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads per worker (1: the sentence model on a busy 2-core CPU is 20x slower "
                             "with 2 threads, which spin against the other processes)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/load.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve_worker()
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from pg import free_port, start_server

    from reason4rec.config import load_config
    from reason4rec.data import load_shipped
    from reason4rec.experts.model.sentence_model import ensure_sentence_model

    home = load_config().home
    ensure_sentence_model(home)
    shipped = load_shipped()
    rng = random.Random(args.seed)
    reviews = [(r.rating, r.text) for r in rng.sample(shipped.reviews, 2000) if r.text.strip()]
    items = [f"load-item-{n:03d}" for n in range(args.items)]
    work = Path(tempfile.mkdtemp(prefix="r4r-load-"))
    started = time.perf_counter()
    server = start_server(durable=True)
    chroma_port = free_port()
    chroma = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(work / "chroma"),
                               "--port", str(chroma_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chroma_url = f"http://127.0.0.1:{chroma_port}"
    try:
        _wait_for_port(chroma_port)
        results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'cpu'})",
                         "postgresql": _server_version(server.url()), "chromadb": _chromadb_version(),
                         "summaries": "lexicon (no expert model)", "embedding": "all-MiniLM-L6-v2 in each worker",
                         "postgres_durable": True, "torch_threads_per_worker": args.torch_threads,
                         "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "phases": []}
        for phase, workers in enumerate((1, args.workers)):
            url = server.create_database(f"load_{workers}w")
            prefix = f"load-{workers}w"
            env = {**os.environ, "REASON4REC_HOME": str(home), "REASON4REC_MEMORY__STORE_URL": url,
                   "REASON4REC_MEMORY__CHROMA_URL": chroma_url, "REASON4REC_MEMORY__COLLECTION_PREFIX": prefix,
                   "LOAD_TORCH_THREADS": str(args.torch_threads)}
            logs = work / f"logs-{workers}"
            logs.mkdir()
            print(f"== {workers} worker(s), {args.users} users x {args.per_user} reviews"
                  f"{', one worker killed midway' if phase else ''} ...", flush=True)
            before = {"load_average": [round(x, 2) for x in os.getloadavg()], "other_processes": _others()}
            measured = run_phase(workers, args.users, args.per_user, env, reviews, items, kill=phase == 1,
                                 log_dir=logs, seed=args.seed + phase,
                                 server_pids={"chroma_server": chroma.pid, "postgresql": server.pid()})
            measured["machine_before"] = before
            measured["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            sent = measured.pop("_sent")
            measured["check"] = check(url, chroma_url, prefix, home, sent)
            print(json.dumps(measured, indent=1), flush=True)
            results["phases"].append(measured)
        one, many = results["phases"]
        results["speedup"] = round(many["reviews_per_s"] / one["reviews_per_s"], 2)
        results["seconds_total"] = round(time.perf_counter() - started, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"throughput {one['reviews_per_s']} -> {many['reviews_per_s']} reviews/s "
              f"({results['speedup']}x with {args.workers} workers); written to {args.out}")
    finally:
        chroma.terminate()
        chroma.wait(30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named process and its children."""
    import psutil

    used = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        try:  # children already reaped (PostgreSQL's backends of closed connections) count with their parent
            finished = root.cpu_times()
            total = finished.children_user + finished.children_system
        except psutil.Error:
            total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        used[name] = total
    return used


def _others() -> list[str]:
    """Other processes using the CPU as a run starts (this machine is shared): the busiest, by %CPU."""
    try:
        rows = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                              timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.TimeoutExpired):
        return []
    mine = {str(os.getpid())}
    busy = [row.split(None, 2) for row in rows]
    return [f"{cpu}% {args[:120]}" for pid, cpu, args in busy[:8] if pid not in mine and float(cpu) >= 5.0]


def _server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _chromadb_version() -> str:
    import chromadb

    return chromadb.__version__


if __name__ == "__main__":
    main()

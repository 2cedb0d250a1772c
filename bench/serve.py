"""`reason4rec serve` under load: N concurrent clients for a fixed time, at 1, 4 and 16 clients.

Starts the server as a subprocess on loopback (a random port, a throwaway API key) with the
configured base model and adapters (default: the bundled base and the shipped adapters), then per
level runs N client threads for `--duration` seconds each. Each client alternates a Reasoner
request (`--max-tokens` new tokens, greedy) and a Predictor rating request (the remote backend's:
continue `Predicted Rating:`, 2 tokens, top-20 logprobs), so two adapters are always in play.
Reports p50/p95 latency, requests/s, generated tokens/s, errors, the server's mean batch size, and
its resident memory (psutil) after warm-up and at the end of each level.

    python bench/serve.py --duration 60 --out artifacts/bench/serve-cpu.json
    python bench/serve.py --duration 30 --batch-size 1 --out artifacts/bench/serve-cpu-nobatch.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _prompts(count: int) -> list[tuple[list[dict], list[dict]]]:
    """(reasoner, predictor) message pairs built from the shipped reviews (fixed, reproducible)."""
    from reason4rec.data import load_shipped
    from reason4rec.experts.prompts import (
        HistoryEntry,
        TargetContext,
        predictor_messages,
        reasoner_messages,
    )

    reviews = load_shipped().reviews
    pairs = []
    for i in range(count):
        chosen = reviews[i * 5:i * 5 + 5]
        entries = tuple(HistoryEntry(r.item_id, r.rating, f"Positive Aspects: {r.title or 'good'}\n"
                                     "Negative Aspects: none\nUser Preference Elements: sound, build")
                        for r in chosen[:3])
        ctx = TargetContext("Musical Instruments", chosen[3].item_id, entries, entries[:2], 4.3, 4.1, 3, 2)
        pairs.append((reasoner_messages(ctx), predictor_messages(ctx, chosen[4].text[:300])))
    return pairs


class _Server:
    def __init__(self, args: argparse.Namespace, key: str) -> None:
        from reason4rec.serving import READY

        command = [sys.executable, "-m", "reason4rec.cli", "serve", "--port", "0", "--api-key", key]
        if args.config:
            command += ["--config", str(args.config)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        self.log = Path(tempfile.gettempdir()) / f"reason4rec-bench-serve-{os.getpid()}.log"
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.process.stdout], daemon=True).start()
        prefix = READY.split("{")[0]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise SystemExit(f"the server exited with {self.process.returncode}; see {self.log}") from None
                continue
            if line.startswith(prefix):
                self.url = line[len(prefix):].strip()
                return
        self.process.kill()
        raise SystemExit(f"the server did not start in 600 s; see {self.log}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(120)
        print(f"server log: {self.log}")
        return code


def _client(url: str, key: str, pairs: list, max_tokens: int, deadline: float, offset: int,
            results: list, lock: threading.Lock) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    rating_turn = {"role": "assistant", "content": "Predicted Rating:"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
        i = offset
        while time.monotonic() < deadline:
            reasoner, predictor = pairs[i % len(pairs)]
            if i % 2 == 0:
                body = {"model": "reasoner", "messages": reasoner, "max_tokens": max_tokens, "temperature": 0}
            else:
                body = {"model": "predictor", "messages": [*predictor, rating_turn], "max_tokens": 2,
                        "temperature": 0, "logprobs": True, "top_logprobs": 20,
                        "continue_final_message": True, "add_generation_prompt": False}
            started = time.perf_counter()
            try:
                response = http.post("/chat/completions", json=body)
                ok = response.status_code == 200
                tokens = response.json()["usage"]["completion_tokens"] if ok else 0
                error = None if ok else f"{response.status_code}: {response.text[:200]}"
            except Exception as err:
                tokens, error = 0, repr(err)
            record = {"model": body["model"], "latency_s": time.perf_counter() - started, "tokens": tokens,
                      "error": error}
            with lock:
                results.append(record)
            i += 1


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(rows: list[dict], seconds: float) -> dict:
    good = [r for r in rows if r["error"] is None]
    latencies = [r["latency_s"] for r in good]
    return {"requests": len(rows), "errors": len(rows) - len(good),
            "requests_per_s": round(len(good) / seconds, 3),
            "generated_tokens_per_s": round(sum(r["tokens"] for r in good) / seconds, 2),
            "latency_p50_s": round(_percentile(latencies, 0.5), 3),
            "latency_p95_s": round(_percentile(latencies, 0.95), 3),
            "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,4,16", help="Concurrent clients per level, comma-separated.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds per level (bounded).")
    parser.add_argument("--max-tokens", type=int, default=16, help="New tokens per Reasoner request.")
    parser.add_argument("--batch-size", type=int, default=None, help="Server batch size (default: config).")
    parser.add_argument("--config", type=Path, default=None, help="reason4rec config file for the server.")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/serve.json"))
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if max(levels) > 64 or args.duration > 600:
        parser.error("keep it bounded: at most 64 clients and 600 s per level")

    import httpx
    import psutil
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    key = secrets.token_urlsafe(24)
    pairs = _prompts(32)
    console.print("starting the server (loading the model)...")
    started = time.perf_counter()
    server = _Server(args, key)
    load_s = time.perf_counter() - started
    process = psutil.Process(server.process.pid)

    def health():
        return httpx.get(server.url.removesuffix("/v1") + "/health", timeout=30).json()

    try:
        warm: list[dict] = []
        _client(server.url, key, pairs, args.max_tokens, time.monotonic() + 5, 0, warm, threading.Lock())
        rss_start = process.memory_info().rss
        results = []
        for clients in levels:
            rows: list[dict] = []
            lock = threading.Lock()
            before = health()
            rss_before = process.memory_info().rss
            deadline = time.monotonic() + args.duration
            threads = [threading.Thread(target=_client, args=(server.url, key, pairs, args.max_tokens, deadline,
                                                              n * 7, rows, lock), daemon=True)
                       for n in range(clients)]
            level_started = time.perf_counter()
            with Progress(TextColumn(f"{clients:>2} client(s)"), BarColumn(), TextColumn("{task.fields[n]} requests"),
                          TimeRemainingColumn(), console=console, transient=True) as progress:
                task = progress.add_task("load", total=args.duration, n=0)
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    time.sleep(0.5)
                    progress.update(task, completed=min(args.duration, time.perf_counter() - level_started),
                                    n=len(rows))
            seconds = time.perf_counter() - level_started
            after = health()
            batches = after["batches"] - before["batches"]
            level = {"clients": clients, "seconds": round(seconds, 1), **_summary(rows, seconds),
                     "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                     "by_model": {m: _summary([r for r in rows if r["model"] == m], seconds)
                                  for m in ("reasoner", "predictor")},
                     "mean_batch_size": round((after["batched_requests"] - before["batched_requests"])
                                              / max(1, batches), 2),
                     "server_rss_mb_start": round(rss_before / 2**20, 1),
                     "server_rss_mb_end": round(process.memory_info().rss / 2**20, 1),
                     "error_examples": sorted({r["error"] for r in rows if r["error"]})[:3]}
            console.print(level)
            results.append(level)
        rss_end = process.memory_info().rss
    finally:
        exit_code = server.stop()
    config_batch = args.batch_size
    if config_batch is None:
        from reason4rec.config import load_config

        config_batch = load_config(args.config).serve.batch_size
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "note": "load_average_1min_at_end above the core count means other processes shared the CPU",
        "server": "reason4rec serve (uvicorn, loopback), default config: bundled base + shipped adapters",
        "model_load_s": round(load_s, 1), "batch_size": config_batch, "duration_per_level_s": args.duration,
        "reasoner_max_tokens": args.max_tokens, "predictor_max_tokens": 2,
        "levels": results,
        "server_rss_mb_after_warmup": round(rss_start / 2**20, 1),
        "server_rss_mb_at_end": round(rss_end / 2**20, 1),
        "server_rss_growth_mb": round((rss_end - rss_start) / 2**20, 1),
        "total_errors": sum(level["errors"] for level in results),
        "server_exit_code": exit_code,
    }
    console.print({k: v for k, v in report.items() if k != "levels"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

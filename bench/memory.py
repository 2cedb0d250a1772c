"""The memory on this machine: build throughput, add-to-searchable time, query latency at two sizes.

1. Bulk build of the shipped dataset into a fresh memory (lexicon summaries plus the shipped
   Summarizer summaries, MiniLM embeddings, profiles): reviews per second.
2. ``add_review`` with the shipped Summarizer adapter on the bundled base model: seconds from the
   call until the new summary is readable and the user's and item's profiles are refreshed.
3. Query latency p50/p95 on that memory (items for a user, free-text search, similar users, a
   user's history with summaries).
4. The same vector queries on a synthetic collection of ``--scale`` summaries (random unit vectors
   upserted ready-made: scale, not quality), with and without a metadata filter.

    python bench/memory.py --out artifacts/bench/memory-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    seconds = []
    for call in calls:
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return {"p50_ms": round(1000 * statistics.median(seconds), 2), "p95_ms": round(1000 * _pct(seconds, 0.95), 2),
            "n": len(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adds", type=int, default=5, help="reviews added with the Summarizer")
    parser.add_argument("--queries", type=int, default=50, help="queries per kind")
    parser.add_argument("--scale", type=int, default=100_000, help="synthetic summaries for the scale test")
    parser.add_argument("--adapters", type=Path, default=None, help="adapters or run folder")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/memory.json"))
    args = parser.parse_args()

    import numpy as np
    from rich.console import Console
    from rich.table import Table
    from transformers.utils import logging as hf_logging

    from reason4rec.config import MemoryConfig, load_config
    from reason4rec.data import load_shipped
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer, cached_summaries, load_expert_summarizer
    from reason4rec.memory.vectors import PreferenceMemory
    from reason4rec.training.reports import progress_bars

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    console = Console()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="r4r-bench-memory-"))
    base = load_config()
    config = base.model_copy(update={"memory": MemoryConfig(store_path=work / "reviews.sqlite",
                                                            chroma_path=work / "chroma")})
    dataset = load_shipped()
    results: dict[str, object] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "reviews": len(dataset)}

    with Memory.open(config) as memory:
        cache, version = cached_summaries(config, args.adapters)
        with progress_bars(console) as bars:
            report = memory.build(dataset, summarizer=None, bulk=LexiconSummarizer(), cache=cache,
                                  cache_version=version, bars=bars)
        results["build"] = {"seconds": round(report.seconds, 1),
                            "reviews_per_s": round(len(dataset) / report.seconds, 1),
                            "from_cache": report.from_cache, "profiles": report.profiles}
        console.print(f"build: {results['build']}")

        summarizer = load_expert_summarizer(config, args.adapters, category=dataset.category)
        users = sorted(memory.store.user_ids())
        items = sorted(memory.store.item_ids())
        adds = []
        for n in range(args.adds):
            user, item = rng.choice(users), rng.choice(items)
            started = time.perf_counter()
            result = memory.add_review(user, item, 4, f"Bench review {n}: bright tone, quiet switch, the strap "
                                       "button came loose after a month.", summarizer=summarizer)
            assert memory.vectors.summaries([result.review.review_id]) and not result.pending, result.error
            adds.append(time.perf_counter() - started)
        results["add_to_searchable_s"] = {"p50": round(statistics.median(adds), 2), "max": round(max(adds), 2),
                                          "n": len(adds)}
        console.print(f"add -> searchable: {results['add_to_searchable_s']}")

        texts = ["a quiet pedal for apartment practice", "strings that stay in tune", "a sturdy guitar stand",
                 "a cable without hum", "a capo for acoustic guitar"]
        sample = [rng.choice(users) for _ in range(args.queries)]
        memory.search_items(texts[0])  # warm the model
        results["queries_shipped"] = {
            "items_for_user": _timed([lambda u=u: memory.items_for_user(u, k=5) for u in sample]),
            "items_for_user_with_text": _timed([lambda u=u, t=t: memory.items_for_user(u, 5, query=t)
                                                for u, t in zip(sample, texts * args.queries)]),
            "search_items": _timed([lambda t=t: memory.search_items(t, k=5)
                                    for t in (texts * args.queries)[:args.queries]]),
            "similar_users": _timed([lambda u=u: memory.similar_users(u, k=5) for u in sample]),
            "user_history": _timed([lambda u=u: memory.user_history(u) for u in sample]),
        }
        console.print(f"queries (shipped size): {results['queries_shipped']}")
        embedding = memory.vectors.embedding

    synthetic = PreferenceMemory.open_local(work / "synthetic", embedding)
    collection = synthetic._summaries
    batch = synthetic._batch
    started = time.perf_counter()
    vectors = np.random.default_rng(0).standard_normal((args.scale, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with progress_bars(console) as bars:
        progress = bars(f"upsert {args.scale:,} synthetic summaries")
        for start in range(0, args.scale, batch):
            stop = min(args.scale, start + batch)
            collection.upsert(ids=[f"s{i}" for i in range(start, stop)], embeddings=vectors[start:stop],
                              documents=[f"Positive Aspects: aspect {i}" for i in range(start, stop)],
                              metadatas=[{"user_id": f"U{i % 5000}", "item_id": f"I{i % 2000}", "rating": 4.0,
                                          "timestamp": i, "version": "synthetic", "revision": 1}
                                         for i in range(start, stop)])
            progress(stop, args.scale)
    upsert_s = time.perf_counter() - started
    queries = [vectors[rng.randrange(args.scale)].tolist() for _ in range(args.queries)]
    collection.query(query_embeddings=[queries[0]], n_results=5)  # load the index
    results["queries_scale"] = {
        "summaries": args.scale, "upsert_per_s": round(args.scale / upsert_s, 1),
        "nearest": _timed([lambda q=q: collection.query(query_embeddings=[q], n_results=5) for q in queries]),
        "nearest_filtered": _timed([lambda q=q, n=n: collection.query(query_embeddings=[q], n_results=5,
                                                                       where={"user_id": {"$ne": f"U{n}"}})
                                    for n, q in enumerate(queries)]),
        "get_by_ids": _timed([lambda n=n: collection.get(ids=[f"s{(n * 997 + j) % args.scale}" for j in range(10)])
                              for n in range(args.queries)]),
    }
    synthetic.close()
    console.print(f"queries ({args.scale:,} summaries): {results['queries_scale']}")

    table = Table(title="Memory benchmark", title_justify="left")
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row("bulk build (shipped, lexicon + cache)", f"{results['build']['reviews_per_s']} reviews/s "
                  f"({results['build']['seconds']} s)")
    table.add_row("add-review -> searchable", f"p50 {results['add_to_searchable_s']['p50']} s")
    for name, value in {**results["queries_shipped"],
                        **{f"{args.scale:,}: {k}": v for k, v in results["queries_scale"].items()
                           if isinstance(v, dict)}}.items():
        table.add_row(name, f"p50 {value['p50_ms']} ms, p95 {value['p95_ms']} ms")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"written to {args.out} (work folder {work})")


if __name__ == "__main__":
    main()

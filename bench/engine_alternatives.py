"""Other compiled engines against llama.cpp on the bundled base: raw prefill and decode, batch 1.

Issue 13 asked to choose the CPU engine by measurement. This script feeds the SAME token ids (the
Hugging Face tokenizer's) to each engine: llama.cpp (our f16 / q8_0 GGUF exports, through
llama-cpp-python) and onnxruntime-genai (its own model builder's int4 / fp32 exports). It is not
part of the project's dependencies; to run it:

    python -m venv --system-site-packages /tmp/ortvenv
    /tmp/ortvenv/bin/pip install onnxruntime-genai==0.18.0 onnx==1.23.2 onnx_ir ml_dtypes
    PYTHONPATH=.venv/lib/python3.11/site-packages /tmp/ortvenv/bin/python -m onnxruntime_genai.models.builder \\
        -i ~/.cache/reason4rec/models/smollm2-135m-instruct -o /tmp/ortmodel/int4 -p int4 -e cpu
    (the same with -p fp32 -o /tmp/ortmodel/fp32)
    PYTHONPATH=.venv/lib/python3.11/site-packages /tmp/ortvenv/bin/python bench/engine_alternatives.py \\
        --ort /tmp/ortmodel/int4 /tmp/ortmodel/fp32 --gguf ~/.cache/reason4rec/models/engine/*/base-f16.gguf \\
        ~/.cache/reason4rec/models/engine/*/base-q8_0.gguf --out artifacts/bench/engine-alternatives-cpu.json

Only meaningful on an idle machine. Three repeats after a warm-up; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

PROMPT_TOKENS, NEW_TOKENS, REPEATS = 500, 64, 3


def prompt_ids(model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    text = "The user's past reviews: 1. + clear sound, easy setup; - none; likes podcast recording. " * 40
    return tokenizer(text, add_special_tokens=False)["input_ids"][:PROMPT_TOKENS]


def time_ort(path: Path, ids: list[int]) -> tuple[float, float]:
    import onnxruntime_genai as og

    model = og.Model(str(path))

    def once() -> tuple[float, float]:
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + NEW_TOKENS, do_sample=False)
        generator = og.Generator(model, params)
        started = time.perf_counter()
        generator.append_tokens(ids)
        prefilled = time.perf_counter()
        for _ in range(NEW_TOKENS):
            generator.generate_next_token()
        return len(ids) / (prefilled - started), NEW_TOKENS / (time.perf_counter() - prefilled)

    return _median(once)


def time_llama(path: Path, ids: list[int], threads: int) -> tuple[float, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)

    def once() -> tuple[float, float]:
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        prefilled = time.perf_counter()
        token = ids[-1]
        for _ in range(NEW_TOKENS):
            llm.eval([token])
        return len(ids) / (prefilled - started), NEW_TOKENS / (time.perf_counter() - prefilled)

    return _median(once)


def _median(once) -> tuple[float, float]:
    once()  # warm-up
    runs = [once() for _ in range(REPEATS)]
    return (round(statistics.median(r[0] for r in runs), 1), round(statistics.median(r[1] for r in runs), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path.home() / ".cache/reason4rec/models/smollm2-135m-instruct")
    parser.add_argument("--ort", type=Path, nargs="*", default=[])
    parser.add_argument("--gguf", type=Path, nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    ids = prompt_ids(args.model)
    rows = []
    for path in args.ort:
        prefill, decode = time_ort(path, ids)
        rows.append({"engine": "onnxruntime-genai", "model": path.name, "prefill_tok_s": prefill,
                     "decode_tok_s": decode})
        print(json.dumps(rows[-1]), flush=True)
    for path in args.gguf:
        prefill, decode = time_llama(path, ids, args.threads)
        rows.append({"engine": "llama.cpp", "model": path.name, "prefill_tok_s": prefill, "decode_tok_s": decode})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"prompt_tokens": len(ids), "new_tokens": NEW_TOKENS, "batch": 1,
                                        "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

"""Prefill and decode speed of the default model under the llama-cpp-python build this Python has
(a lever of eval/speed-levers.md: which CPU features llama.cpp is compiled with).

Usage: python eval/levers/prefill_by_build.py [MODEL.gguf]   (default: the assembled Qwen in ~/.cache/briefbot)

Needs only llama-cpp-python, so it also runs in a bare virtualenv holding another build. Times what
an answer pays, 2 threads, median of 4: 360 new tokens of the default briefing prefilled after a
400-token prefix already in the KV cache, 700 tokens from an empty cache, and 30 single-token decodes.
"""

import re
import statistics
import sys
import time
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]
BRIEFING = ROOT / "src" / "briefbot" / "data" / "russia-taliban-2017-04-25.txt"
DEFAULT_MODEL = Path.home() / ".cache" / "briefbot" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def median_seconds(llm: Llama, prefix: list[int], new: list[int]) -> float:
    seconds = []
    for _ in range(4):
        llm.reset()
        llm.eval(prefix)
        start = time.perf_counter()
        llm.eval(new)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def decode_tokens_per_second(llm: Llama, tokens: list[int]) -> float:
    """Single-token decodes of `tokens`, one at a time as generation does."""
    start = time.perf_counter()
    for token in tokens:
        llm.eval([token])
    return len(tokens) / (time.perf_counter() - start)


def main() -> None:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL
    llm = Llama(model_path=str(model), n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False)
    tokens = llm.tokenize(BRIEFING.read_text(encoding="utf-8").encode(), add_bos=False)
    after_prefix = median_seconds(llm, tokens[:400], tokens[400:760])
    from_empty = median_seconds(llm, [], tokens[:700])
    decode = decode_tokens_per_second(llm, tokens[800:830])
    llm.close()
    features = re.findall(r"([A-Z0-9_]+) = 1\b", llama_cpp.llama_print_system_info().decode())
    print(f"build [{' '.join(features)}]")
    print(f"prefill 360 after 400 cached: {after_prefix:.2f} s ({360 / after_prefix:.0f} tok/s); "
          f"700 from empty: {from_empty:.2f} s ({700 / from_empty:.0f} tok/s); decode {decode:.1f} tok/s")


if __name__ == "__main__":
    main()

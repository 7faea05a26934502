"""Prefill speed of the default model requantized to other GGUF types (a lever of eval/speed-levers.md).

Usage: python eval/levers/prefill_by_quant.py [TYPE ...]   (default: Q4_0 IQ4_NL Q8_0 BF16)

Requantizes the cached Qwen2.5-Coder-1.5B Q4_K_M into a temporary folder, then for each file times
what an answer pays: 360 new tokens of the briefing prefilled after a 400-token prefix already in
the KV cache (2 threads), median of 4, and 30 single-token decodes.
"""

import ctypes
import sys
import tempfile
from pathlib import Path

import llama_cpp
from llama_cpp import Llama
# Run as a script, this folder is on sys.path: one timing recipe for both levers.
from prefill_by_build import decode_tokens_per_second, median_seconds

from briefbot.models import default_model_path
from briefbot.settings import DEFAULT_BRIEFING, Settings


def requantize(source: Path, target: Path, kind: str) -> None:
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = 2
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama.cpp could not requantize to {kind}")


def measure(path: Path, text: str) -> str:
    llm = Llama(model_path=str(path), n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False)
    tokens = llm.tokenize(text.encode(), add_bos=False)
    prefill = median_seconds(llm, tokens[:400], tokens[400:760])
    decode = decode_tokens_per_second(llm, tokens[800:830])
    llm.close()
    return f"{path.stem:8} {path.stat().st_size / 1e9:5.2f} GB  prefill 360 tokens {prefill:.2f} s ({360 / prefill:.0f} tok/s)  decode {decode:.1f} tok/s"


def main() -> None:
    kinds = sys.argv[1:] or ["Q4_0", "IQ4_NL", "Q8_0", "BF16"]
    source = default_model_path(Settings().cache_dir)
    text = DEFAULT_BRIEFING.read_text(encoding="utf-8")
    print(measure(source, text).replace(source.stem, "Q4_K_M", 1), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            target = Path(folder) / f"{kind}.gguf"
            requantize(source, target, kind)
            print(measure(target, text), flush=True)
            target.unlink()


if __name__ == "__main__":
    main()

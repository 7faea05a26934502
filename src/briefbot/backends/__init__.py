"""Answer generators behind one interface: stream an answer from passages, condense a follow-up.

`local`, `openai` and `fake` are llama-index LLMs driven by the prompt files in `prompts/`;
`extractive` needs no LLM and quotes the best-matching briefing sentences verbatim.
"""

from __future__ import annotations

from pathlib import Path

from briefbot.backends.base import Backend, LLMBackend
from briefbot.settings import Settings
from briefbot.span import Passage

__all__ = ["Backend", "LLMBackend", "make_backend"]


def make_backend(
    settings: Settings, embed_model=None, progress=lambda message: None, opening: Passage | None = None, isolated: bool = False
) -> Backend:
    """`opening`: passage [1] of every answer (the front matter), whose prompt state the local model keeps on disk.
    `isolated`: run the model in a worker process that is restarted if it crashes (backends/worker.py)."""
    if isolated and settings.backend != "extractive":
        from briefbot.backends.worker import WorkerBackend

        return WorkerBackend(settings, opening, progress)
    if settings.backend == "extractive":
        from briefbot.backends.extractive import ExtractiveBackend

        return ExtractiveBackend(embed_model)
    if settings.backend == "fake":
        from briefbot.backends.fake import FakeLLM

        return LLMBackend("fake", FakeLLM())
    if settings.backend == "openai":
        from llama_index.llms.openai_like import OpenAILike

        llm = OpenAILike(
            model=settings.openai_model,
            api_base=settings.openai_base_url,
            api_key=settings.openai_api_key,
            is_chat_model=True,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            context_window=settings.n_ctx,
            timeout=120,
            max_retries=1,
        )
        return LLMBackend("openai", llm)
    from briefbot.backends.local import LocalBackend, LocalLLM
    from briefbot.models import default_model_path

    model_path = Path(settings.model_path) if settings.model_path else default_model_path(settings.cache_dir)
    progress(f"loading {model_path.name}…")
    llm = LocalLLM(
        model_path=str(model_path),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
        allow_amx=settings.allow_amx,
    )
    return LocalBackend(llm, opening, Path(settings.cache_dir) / "prompt-states", progress)

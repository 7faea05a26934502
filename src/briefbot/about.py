"""What this install runs, in one line (`briefbot --version`): versions, the llama.cpp build, the
model file and its hash, the index and the thread count, so a bug report says it all at once."""

from __future__ import annotations

import importlib.metadata

from briefbot.settings import Settings


def _llama_build(settings: Settings) -> str:
    from briefbot.backends.llama_build import AMX_FEATURES, features

    try:
        built = features()
    except Exception as exc:  # an unloadable llama.cpp is itself what the user needs to see here
        return f"llama.cpp unavailable ({exc})"
    amx = "AMX on" if any(name in AMX_FEATURES for name in built) else "AMX off"
    allowed = "allowed" if settings.allow_amx else "not allowed"
    return f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')} [{' '.join(built)}] ({amx}, {allowed})"


def version_line(settings: Settings) -> str:
    from briefbot.models import describe_model

    index = settings.chroma_url or str(settings.index_dir)
    return " · ".join(
        [
            f"briefbot {importlib.metadata.version('briefbot')}",
            _llama_build(settings),
            f"model {describe_model(settings)}",
            f"index {index}",
            f"{settings.n_threads} threads",
            f"backend {settings.backend}",
        ]
    )

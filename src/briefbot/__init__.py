"""briefbot: questions answered from a briefing, every sentence cited to an exact, verified span."""

import os

# Air-gapped by design: models come from installed packages, and nothing phones home.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "RAGAS_DO_NOT_TRACK": "true",
    "TOKENIZERS_PARALLELISM": "false",
    # The embedding model loads in under a second; its per-tensor bar was only noise in the CLI.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}.items():
    os.environ.setdefault(_name, _value)

from briefbot.answer import Answer, Timings  # noqa: E402
from briefbot.bot import BriefBot  # noqa: E402
from briefbot.errors import BriefBotError  # noqa: E402
from briefbot.settings import Settings  # noqa: E402
from briefbot.span import Citation, Passage, Span  # noqa: E402

__all__ = ["Answer", "BriefBot", "BriefBotError", "Citation", "Passage", "Settings", "Span", "Timings"]

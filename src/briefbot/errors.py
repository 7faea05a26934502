"""Errors a user can cause or fix; every surface shows their message, never a traceback."""


class BriefBotError(Exception):
    """Base class: the message is written for the person who has to act on it."""


class BriefingError(BriefBotError):
    """A briefing file cannot be read or has no usable text."""


class QuestionError(BriefBotError):
    """The question is empty, too long or not text."""


class ModelError(BriefBotError):
    """A model file is missing, corrupted or cannot be loaded."""


class IndexBuildError(BriefBotError):
    """The index cannot be built, read or reached."""


class BackendError(BriefBotError):
    """The answer generator failed (server unreachable, model crashed)."""

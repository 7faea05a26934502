"""A span of briefing text: the one type that passes through the pipeline.

Each stage adds what it knows and no more: the index a chunk id and section (Chunk), retrieval the
passage's number in the prompt and its score (Passage), the verifier the exact part of a passage a
sentence rests on (Citation). Throughout, `text == briefing.text[start:end]` of briefing `doc_id`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk(Span):
    """A unit of the index: whole sentences of one section."""

    chunk_id: str
    section: str


@dataclass(frozen=True)
class Citation(Chunk):
    """The exact part of passage [n] that an answer rests on: `quote == briefing.text[start:end]`."""

    n: int
    page: int | None = None  # of a paginated source (PDF), where the span starts

    @property
    def quote(self) -> str:
        return self.text

    def to_dict(self) -> dict:
        """The JSON form of the public API (CLI --json, the web chat's /ask)."""
        return {"n": self.n, "chunk_id": self.chunk_id, "section": self.section, "start": self.start, "end": self.end,
                "quote": self.text, "doc_id": self.doc_id, "page": self.page}


@dataclass(frozen=True)
class Passage(Chunk):
    """A retrieved chunk as the generator sees it: numbered [n] in the prompt."""

    n: int
    score: float
    front_matter: bool = False
    # The whole paragraphs the chunk lies in: what a fact in it is said about (verify.py).
    paragraph: str = ""

    @property
    def context(self) -> str:
        return self.paragraph or self.text

    def cite(self, start: int, end: int, page: int | None = None) -> Citation:
        """The part `start:end` (offsets into the briefing) of this passage."""
        if not self.start <= start <= end <= self.end:
            raise ValueError(f"{start}:{end} is not within passage [{self.n}] ({self.start}:{self.end})")
        text = self.text[start - self.start : end - self.start]
        return Citation(self.doc_id, start, end, text, self.chunk_id, self.section, self.n, page)

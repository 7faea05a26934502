"""Load a briefing: strip web-page cruft, find title, date, lede and section headings.

All character offsets used anywhere in briefbot point into `Briefing.text`, the cleaned text.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from briefbot.errors import BriefingError

# Lines a browser "print" view or a site footer adds around an article.
_LEADING_CRUFT = re.compile(r"^\s*(print\b|save as pdf|share\b|\+a\b|a\s*-a\b)", re.IGNORECASE)
_TRAILING_CRUFT = re.compile(r"^\s*(©|\(c\)|copyright\b|all rights reserved)", re.IGNORECASE)
_DATE_LINE = re.compile(
    r"^\s*(\d{1,2}\s+[A-Z][a-z]+\s+\d{4}|[A-Z][a-z]+\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})\s*$"
)
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+(.*\S)\s*$")
MAX_BRIEFING_CHARS = 2_000_000


@dataclass(frozen=True)
class Section:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Page:
    """A page of a paginated source (PDF): `text[start:end]` came from page `number` (1-based)."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class Briefing:
    doc_id: str
    text: str
    title: str
    date: str
    lede: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
    pages: tuple[Page, ...] = field(default_factory=tuple)
    source_format: str = "txt"

    @property
    def sha256(self) -> str:
        """Of everything stored: the text and the structure read from the source."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()

    def page_at(self, offset: int) -> int | None:
        """The page number holding `offset`, or None for an unpaginated source."""
        return next((page.number for page in self.pages if page.start <= offset < page.end), None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Briefing":
        return cls(
            **{**data, "sections": tuple(Section(**s) for s in data["sections"]), "pages": tuple(Page(**p) for p in data["pages"])}
        )


def doc_id_for(path: Path) -> str:
    """A readable id from the file name; any script's letters kept, so "доклад.txt" and "报告.txt" differ."""
    readable = re.sub(r"[^\w.-]+", "-", path.stem).strip("-")
    return readable or "briefing-" + hashlib.sha256(path.stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def load_briefing(path: Path) -> Briefing:
    path = Path(path)
    if path.suffix.lower() not in {".txt", ".md"}:
        raise BriefingError(f"{path}: only .txt and .md briefings can be indexed")
    try:
        # A FIFO or a link to /dev/zero would block or fill memory before any size check on the text.
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise BriefingError(f"{path}: not a regular file")
        if status.st_size > MAX_BRIEFING_CHARS * 4:
            raise BriefingError(f"{path}: {status.st_size:,} bytes is over the {MAX_BRIEFING_CHARS:,}-character limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise BriefingError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if b"\x00" in raw:
        raise BriefingError(f"{path}: looks like a binary file, not a text briefing")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BriefingError(f"{path}: is not valid UTF-8 text (byte {exc.start})") from exc
    if len(text) > MAX_BRIEFING_CHARS:
        raise BriefingError(f"{path}: {len(text):,} characters is over the {MAX_BRIEFING_CHARS:,} limit")
    return parse_briefing(text, doc_id_for(path))


def clean_text(raw: str) -> str:
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and (not lines[0].strip() or _LEADING_CRUFT.match(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _TRAILING_CRUFT.match(lines[-1])):
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


def _is_heading(line: str) -> bool:
    if _MARKDOWN_HEADING.match(line):
        return True
    stripped = line.strip()
    words = stripped.split()
    return 0 < len(words) <= 8 and not re.search(r"[.,;:!\"”’)]$", stripped)


def parse_briefing(raw: str, doc_id: str) -> Briefing:
    text = clean_text(raw)
    if not re.search(r"\w", text):
        raise BriefingError(f"{doc_id}: the briefing has no text after cleaning")

    lines: list[tuple[int, str]] = []
    offset = 0
    for line in text.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    content = [(start, line) for start, line in lines if line.strip()]

    date = ""
    position = 0
    if _DATE_LINE.match(content[0][1]):
        date = content[0][1].strip()
        position = 1
    title_line = content[position][1] if position < len(content) else content[0][1]
    title = _heading_text(title_line)
    position += 1
    lede = ""
    if position < len(content) and not _is_heading(content[position][1]):
        lede = content[position][1].strip()

    sections: list[Section] = []
    current_title, current_start = title, 0
    for index, (start, line) in enumerate(content[position:], start=position):
        followed_by_paragraph = index + 1 < len(content) and not _is_heading(content[index + 1][1])
        if _is_heading(line) and followed_by_paragraph:
            sections.append(Section(current_title, current_start, start))
            current_title, current_start = _heading_text(line), start + len(line) + 1
    sections.append(Section(current_title, current_start, len(text)))
    sections = [s for s in sections if text[s.start : s.end].strip()]
    return Briefing(doc_id=doc_id, text=text, title=title, date=date, lede=lede, sections=tuple(sections))


def _heading_text(line: str) -> str:
    match = _MARKDOWN_HEADING.match(line)
    return (match.group(1) if match else line).strip()


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Exact (start, end) offsets of the sentences in text[start:end]; paragraphs and lines never merge."""
    from llama_index.core.utils import globals_helper

    end = len(text) if end is None else end
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        for s, e in globals_helper.punkt_tokenizer.span_tokenize(line.group()):
            if text[line_start + s : line_start + e].strip():
                spans.append((line_start + s, line_start + e))
    return spans


def paragraph_around(text: str, start: int, end: int) -> str:
    """The whole lines (paragraphs) of `text` that `start:end` touches."""
    stop = text.find("\n", end)
    return text[text.rfind("\n", 0, start) + 1 : len(text) if stop < 0 else stop]

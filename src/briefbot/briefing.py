"""Load a briefing: read its format, strip web-page cruft, find title, date, lede and section headings.

All character offsets used anywhere in briefbot point into `Briefing.text`, the cleaned text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from briefbot.errors import BriefingError
from briefbot.settings import BYTES_PER_MB, Settings

# Lines a browser "print" view or a site footer adds around an article.
_LEADING_CRUFT = re.compile(r"^\s*(print\b|save as pdf|share\b|\+a\b|a\s*-a\b)", re.IGNORECASE)
_TRAILING_CRUFT = re.compile(r"^\s*(©|\(c\)|copyright\b|all rights reserved)", re.IGNORECASE)
_DATE_LINE = re.compile(
    r"^\s*(\d{1,2}\s+[A-Z][a-z]+\s+\d{4}|[A-Z][a-z]+\s+\d{1,2},\s+\d{4}|\d{4}-\d{2}-\d{2})\s*$"
)
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+(.*\S)\s*$")
MAX_BRIEFING_CHARS = 2_000_000
SUPPORTED_FORMATS = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
PLAIN_FORMATS = {"txt", "md"}  # the others need a reader (readers.py)
# The settings' defaults; callers pass their settings' values.
DEFAULT_MAX_BYTES = int(Settings.model_fields["max_upload_mb"].default * BYTES_PER_MB)
DEFAULT_MAX_PAGES = Settings.model_fields["max_pages"].default


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


def load_briefing(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pages: int = DEFAULT_MAX_PAGES) -> Briefing:
    """Read a briefing file of any supported format; every problem is a BriefingError naming the file."""
    path = Path(path)
    if path.is_dir():
        # Before the suffix: a folder has none, and "cannot read a file without an extension" misleads.
        raise BriefingError(f"{path}: not a regular file but a folder; give the briefing files in it")
    source_format = SUPPORTED_FORMATS.get(path.suffix.lower())
    if source_format is None:
        kind = f"{path.suffix} files" if path.suffix else "a file without an extension"
        raise BriefingError(f"{path}: briefbot cannot read {kind}; supported formats: {', '.join(SUPPORTED_FORMATS)}")
    data = _read_bytes(path, max_bytes)
    if source_format in PLAIN_FORMATS:
        return parse_briefing(_plain_text(path, data), doc_id_for(path), source_format=source_format)
    from briefbot.readers import read_isolated  # readers imports Page from this module

    try:
        extract = read_isolated(source_format, data, max_bytes=max_bytes, max_pages=max_pages)
    except BriefingError as exc:
        raise BriefingError(f"{path}: {exc}") from None
    _check_length(path, extract.text)
    return parse_briefing(
        extract.text,
        doc_id_for(path),
        title=extract.title,
        date=extract.date,
        headings=extract.headings,
        pages=extract.pages,
        source_format=source_format,
    )


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        # A FIFO or a link to /dev/zero would block or fill memory before any size check on the text.
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise BriefingError(f"{path}: not a regular file")
        if status.st_size > max_bytes:
            raise BriefingError(f"{path}: {status.st_size:,} bytes is over the {max_bytes:,}-byte limit for a briefing file")
        return path.read_bytes()
    except OSError as exc:
        raise BriefingError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _plain_text(path: Path, raw: bytes) -> str:
    if b"\x00" in raw:
        raise BriefingError(f"{path}: looks like a binary file, not a text briefing")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BriefingError(f"{path}: is not valid UTF-8 text (byte {exc.start})") from exc
    _check_length(path, text)
    return text


def _check_length(path: Path, text: str) -> None:
    if len(text) > MAX_BRIEFING_CHARS:
        raise BriefingError(f"{path}: {len(text):,} characters is over the {MAX_BRIEFING_CHARS:,} limit")


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


def parse_briefing(
    raw: str,
    doc_id: str,
    *,
    title: str = "",
    date: str = "",
    headings: Sequence[tuple[int, int]] = (),
    pages: Sequence[Page] = (),
    source_format: str = "txt",
) -> Briefing:
    """A Briefing from plain text (.txt, .md) or from a reader's Extract (readers.py).

    Plain text is cleaned first (print-view cruft, line ends); a reader's text is already laid out
    clean and is kept as it is, since its `headings` ((start, end) of each heading line) and `pages`
    are offsets into it. A `title` or `date` the file's metadata gave goes first, on a line of its
    own, where the text does not open with it: the opening passage, shown with every answer, then
    holds it. Sections follow the format's headings where it has any, else the text's own.
    """
    text = clean_text(raw) if source_format in PLAIN_FORMATS else raw
    if not re.search(r"\w", text):
        raise BriefingError(f"{doc_id}: the briefing has no text after cleaning")
    front = _front_matter(text, title, date)
    text = front + text
    heading_starts = {start + len(front) for start, _ in headings}
    pages = tuple(Page(page.number, page.start + len(front), page.end + len(front)) for page in pages)

    content = _content_lines(text)
    found_date, title_index = _opening(content, title)
    title = title or _heading_text(content[title_index][1])
    position = title_index + 1

    def is_heading(index: int) -> bool:
        start, line = content[index]
        return start in heading_starts if heading_starts else _is_heading(line)

    lede = content[position][1].strip() if position < len(content) and not is_heading(position) else ""
    sections: list[Section] = []
    current_title, current_start = title, 0
    for index in range(position, len(content)):
        start, line = content[index]
        # Without the format's headings, a heading-like line counts only when a paragraph follows it.
        followed_by_paragraph = bool(heading_starts) or (index + 1 < len(content) and not is_heading(index + 1))
        if is_heading(index) and followed_by_paragraph:
            sections.append(Section(current_title, current_start, start))
            current_title, current_start = _heading_text(line), start + len(line) + 1
    sections.append(Section(current_title, current_start, len(text)))
    sections = [s for s in sections if text[s.start : s.end].strip()]
    return Briefing(
        doc_id=doc_id,
        text=text,
        title=title,
        date=date or found_date,
        lede=lede,
        sections=tuple(sections),
        pages=pages,
        source_format=source_format,
    )


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(start, line) of each line with text."""
    lines, offset = [], 0
    for line in text.split("\n"):
        if line.strip():
            lines.append((offset, line))
        offset += len(line) + 1
    return lines


def _same_line(line: str, wanted: str) -> bool:
    return " ".join(_heading_text(line).split()).casefold() == " ".join(wanted.split()).casefold()


def _front_matter(text: str, title: str, date: str) -> str:
    """The lines of metadata to put before `text`: its date and title, unless it opens with them."""
    opening = [line for _, line in _content_lines(text[:2000])[:2]]
    missing = []
    if date and not any(_DATE_LINE.match(line) for line in opening):
        missing.append(date)
    if title and not any(_same_line(line, title) for line in opening):
        missing.append(title)
    return "".join(line + "\n\n" for line in missing)


def _opening(content: list[tuple[int, str]], title: str) -> tuple[str, int]:
    """The date on the text's first line (or ""), and which content line is the title."""
    dated = bool(_DATE_LINE.match(content[0][1]))
    position = 1 if dated else 0
    if title:
        position = next((i for i, (_, line) in enumerate(content[:3]) if _same_line(line, title)), position)
    return (content[0][1].strip() if dated else ""), min(position, len(content) - 1)


def _heading_text(line: str) -> str:
    match = _MARKDOWN_HEADING.match(line)
    return (match.group(1) if match else line).strip()


# Titles before a name, and Latin abbreviations, that punkt's English model does not know.
_ABBREVIATIONS = {"rev", "capt", "cmdr", "sgt", "cpl", "pvt", "adm", "gov", "sen", "rep", "hon", "fr", "msgr", "e.g", "i.e", "cf", "viz"}
# Where punkt still ends a sentence that goes on: before a lower-case word ("etc.) but they",
# "E.I. du Pont"), after two initials or more ("W. E. B. Du Bois", "U.S. Ambassador"), or between
# one initial and the next ("J. A. Hobson"). A single capital ("X reduces to Y.") may end one.
_ENDS_IN_INITIALS = re.compile(r"(?:^|[\s(“\"])(?:[A-Z]\.\s?){2,}$")
_ENDS_IN_INITIAL = re.compile(r"(?:^|[\s(“\"])[A-Z]\.$")
_STARTS_WITH_INITIAL = re.compile(r"[A-Z]\.\s?[A-Z]")


@functools.cache
def _sentence_tokenizer():
    """Punkt's trained English model, which llama-index ships as data: llama-index's own
    `globals_helper.punkt_tokenizer` is untrained, and ends a sentence at "Mr.", "St." and "U.S."."""
    from llama_index.core.utils import globals_helper
    from nltk.data import find
    from nltk.tokenize.punkt import PunktSentenceTokenizer, load_punkt_params

    globals_helper.wait_for_nltk_check()  # puts llama-index's bundled NLTK data on NLTK's path
    params = load_punkt_params(find("tokenizers/punkt_tab/english/"))
    params.abbrev_types.update(_ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Exact (start, end) offsets of the sentences in text[start:end]; paragraphs and lines never merge."""
    end = len(text) if end is None else end
    tokenizer = _sentence_tokenizer()
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start, line_text = start + line.start(), line.group()
        line_spans: list[tuple[int, int]] = []
        for s, e in tokenizer.span_tokenize(line_text):
            if line_spans and _goes_on(line_text[line_spans[-1][0] : line_spans[-1][1]], line_text[s:e]):
                line_spans[-1] = (line_spans[-1][0], e)
            elif line_text[s:e].strip():
                line_spans.append((s, e))
        spans += [(line_start + s, line_start + e) for s, e in line_spans]
    return spans


def _goes_on(sentence: str, following: str) -> bool:
    """Whether punkt cut one sentence in two (see _ENDS_IN_INITIALS)."""
    return (
        following[:1].islower()
        or bool(_ENDS_IN_INITIALS.search(sentence))
        or bool(_ENDS_IN_INITIAL.search(sentence) and _STARTS_WITH_INITIAL.match(following))
    )


# How far back the sentence before a span is looked for; a longer sentence is cut to its end.
_SENTENCE_BEFORE_CHARS = 1000


def sentence_before(text: str, start: int) -> str:
    """The sentence that ends where `start` begins, across a paragraph break if need be: whom "the
    country" or "it" at `start` most often means."""
    window = max(0, start - _SENTENCE_BEFORE_CHARS)
    before = sentence_spans(text, window, start)
    return text[before[-1][0] : before[-1][1]] if before else ""


def paragraph_around(text: str, start: int, end: int) -> str:
    """The whole lines (paragraphs) of `text` that `start:end` touches."""
    stop = text.find("\n", end)
    return text[text.rfind("\n", 0, start) + 1 : len(text) if stop < 0 else stop]

"""Readers for the briefing formats that need a parser: HTML, PDF and DOCX.

Each reader takes the file's bytes and returns an `Extract`: the text laid out as briefbot keeps
it (one paragraph a line, a blank line between paragraphs) and the structure the format itself
records (headings, pages) as offsets into that text, so `parse_briefing` can use them unchanged.

They run in a worker process (`read_isolated`): a parser fed a hostile or broken file can exhaust
memory, loop or crash, and then one file fails with a message instead of the server or the CLI.
The parser libraries are imported inside the readers, so only the worker ever loads them.
"""

from __future__ import annotations

import importlib
import io
import logging
import multiprocessing
import re
import resource
import zipfile
from collections import Counter
from dataclasses import dataclass, field

from briefbot.briefing import Page
from briefbot.errors import BriefingError

WORKER_MEMORY_BYTES = 2 * 1024**3
# pdfminer lays out about 10 pages a second on one core here: 500 pages take a minute, more on a busy machine.
WORKER_TIMEOUT_S = 300
FORMAT_NAMES = {"html": "an HTML page", "pdf": "a PDF", "docx": "a Word (.docx) document"}
_PARSERS = {"html": ("trafilatura",), "pdf": ("pypdf", "pdfminer.high_level"), "docx": ("docx",)}
# Word's own XML compresses about 10:1; a member expanding far more than that is built to.
_BOMB_RATIO = 100
_BOMB_MIN_BYTES = 1_000_000
# Private-use glyphs (Symbol-font bullets), soft hyphens, zero-width marks, control characters.
_INVISIBLE = re.compile(r"[\ue000-\uf8ff\u00ad\u200b-\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A PDF title that names the file it was printed from says nothing about the briefing.
_FILE_NAME_TITLE = re.compile(r"\.(docx?|odt|rtf|pdf|txt|html?|indd|pptx?)\s*$|^Microsoft Word - ", re.IGNORECASE)
# A list item's bullet glyph starts a paragraph and is no part of its text (HTML and DOCX have none).
_BULLET = re.compile(r"^\s*[•◦▪●■‣]\s*")
_PAGE_NUMBER = re.compile(r"^\W*(page\s*)?#(\s*(/|of)\s*#)?\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class Extract:
    """A document's text and the structure its format records, as offsets into `text`."""

    text: str
    title: str = ""
    date: str = ""
    headings: tuple[tuple[int, int], ...] = ()  # (start, end) of each heading line
    pages: tuple[Page, ...] = ()


def tidy(text: str) -> str:
    """One line of text: invisible characters gone, every run of whitespace (NBSP too) one space."""
    return re.sub(r"\s+", " ", _INVISIBLE.sub("", text)).strip()


@dataclass
class _Layout:
    """The text built one block at a time, remembering where each block, heading and page falls."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, page
    headings: list[tuple[int, int]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def add(self, block: str, heading: bool = False, page: int = 0, joined: bool = False) -> bool:
        """A paragraph (or heading); `joined` continues the last paragraph instead (across a page
        break). False when the block has no text, and so was left out."""
        block = tidy(block)
        if not block:
            return False
        separator = (" " if joined else "\n\n") if self.parts else ""
        start = self.size + len(separator)
        self.parts += [separator, block]
        self.size = start + len(block)
        if joined and self.blocks:
            self.blocks[-1] = (self.blocks[-1][0], self.size, self.blocks[-1][2])
        else:
            self.blocks.append((start, self.size, page))
        if heading:
            self.headings.append((start, self.size))
        if page and (not self.pages or self.pages[-1].number != page):
            self.pages.append(Page(page, start, self.size))
        elif page:
            self.pages[-1] = Page(page, self.pages[-1].start, self.size)
        return True

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def extract(self, title: str = "", date: str = "") -> Extract:
        return Extract(self.text, tidy(title), date, tuple(self.headings), tuple(self.pages))


# --- HTML ---------------------------------------------------------------------------------------


def read_html(data: bytes) -> Extract:
    # trafilatura: the best main-text scores of the open extractors in published comparisons, and it
    # reads title and date from the page's metadata (htmldate); readability-lxml reads no date, and
    # resiliparse kept the navigation and table of contents of the test page.
    import copy

    import trafilatura

    tree = trafilatura.load_html(data)
    if tree is None:
        raise BriefingError("is not an HTML page with any text")
    source = copy.deepcopy(tree)  # extraction prunes the tree it is given
    document = trafilatura.bare_extraction(
        tree, include_comments=False, include_tables=True, with_metadata=True, date_extraction_params={"extensive_search": False}
    )
    blocks = list(_html_blocks(document.body)) if document is not None and document.body is not None else []
    if not any(text for text, _ in blocks):
        raise BriefingError("has no main text (only navigation, scripts or markup)")
    layout = _Layout()
    for text, heading in _with_source_headings(blocks, source):
        layout.add(text, heading)
    return layout.extract(document.title or "", document.date or "")


def _html_blocks(body):
    """(text, is_heading) of each block trafilatura kept: paragraphs, headings, list items, table rows."""
    for line_break in body.iter("lb"):  # a <br>: without a space its two lines' words would touch
        line_break.tail = " " + (line_break.tail or "")
    for element in body:
        if element.tag == "list":
            for item in element.iter("item"):
                yield _own_text(item), False
        elif element.tag == "table":
            for row in element.iter("row"):
                yield " | ".join(tidy("".join(cell.itertext())) for cell in row), False
        else:
            yield tidy("".join(element.itertext())), element.tag == "head"


def _own_text(item) -> str:
    """A list item's text without that of the lists nested in it (they are items of their own)."""
    pieces = [item.text or ""]
    for child in item:
        if child.tag != "list":
            pieces.append("".join(child.itertext()))
        pieces.append(child.tail or "")
    return tidy("".join(pieces))


_HTML_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _with_source_headings(blocks: list[tuple[str, bool]], source) -> list[tuple[str, bool]]:
    """The blocks with the page's h1-h6 put back before the block that follows each.

    trafilatura drops a heading that sits alone in nested wrappers (DocBook, many CMS themes), so
    headings come from the page itself: each block is found in the page's running text, and the
    headings between it and the block before come first. Before the first block only the nearest
    heading counts: the ones further up belong to the site's header.
    """
    from lxml import etree

    running, marks = [], []
    length = 0
    body = source.find(".//body")
    for event, element in etree.iterwalk(source if body is None else body, events=("start", "end")):
        if not isinstance(element.tag, str):
            continue
        piece = element.text if event == "start" else element.tail
        if event == "start" and element.tag in _HTML_HEADINGS:
            marks.append((length, tidy("".join(element.itertext()))))
        if piece:
            running.append(piece)
            length += len(piece)
    page_text = "".join(running)
    merged, cursor = [], 0
    for text, heading in blocks:
        words = text.split()[:8]
        found = re.compile(r"\s+".join(map(re.escape, words))).search(page_text, cursor) if words else None
        if found:
            before = [title for at, title in marks if cursor <= at <= found.start()]
            for title in before[-1:] if not merged else before:
                if title and title != text and (not merged or merged[-1][0] != title):
                    merged.append((title, True))
            cursor = found.end()
        merged.append((text, heading))
    return merged


# --- PDF ----------------------------------------------------------------------------------------


def read_pdf(data: bytes, max_pages: int) -> Extract:
    # pypdf (pure Python, BSD) for what the file declares: password, page count, bookmarks, metadata.
    # The text comes from pdfminer.six (pure Python, MIT): it spaces words by where the letters stand,
    # where pypdf ran the words of a LaTeX-made PDF together ("Thisdocumentgives…", pypdf#3978).
    # PyMuPDF reads well too but is AGPL.
    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise BriefingError("is not a PDF (it does not start with %PDF-)")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not _opens_without_password(reader):
        raise BriefingError("is an encrypted (password-protected) PDF: save a copy without the password and use that")
    count = len(reader.pages)
    if count > max_pages:
        raise BriefingError(f"has {count:,} pages, over the limit of {max_pages:,} pages")
    pages = _without_running_heads(_pdf_lines(data))
    vocabulary = _Vocabulary([line[2] for lines in pages for line in lines])
    layout, sizes = _Layout(), []
    for number, lines in enumerate(pages, start=1):
        for index, (paragraph, size) in enumerate(_paragraphs(lines, vocabulary)):
            joined = index == 0 and bool(layout.parts) and _continues(layout.parts[-1], paragraph)
            if layout.add(paragraph, page=number, joined=joined) and not joined:
                sizes.append(size)
    if not layout.size:
        raise BriefingError("has no text layer (a scanned PDF?): run it through OCR first")
    text = layout.text
    for title, number in _outline(reader):
        _mark_heading(layout, text, title, number)
    if not layout.headings:
        _headings_by_size(layout, sizes)
    return layout.extract(*_pdf_title_and_date(reader))


def _opens_without_password(reader) -> bool:
    """Many PDFs are encrypted only to restrict printing, with an empty password to open them."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # an encryption pypdf cannot undo is as closed to us as a password
        return False


def _pdf_lines(data: bytes) -> list[list[tuple[float, float, str]]]:
    """Per page, (bottom, font size, text) of each line, in pdfminer's reading order (columns one after the other)."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine

    pages = []
    for page in extract_pages(io.BytesIO(data), laparams=LAParams()):
        pieces = []
        for element in page:
            # Lines come in boxes (paragraph-like groups), or stand alone when they join no box.
            for line in list(element) if isinstance(element, LTTextBox) else [element]:
                sizes = [char.size for char in line if isinstance(char, LTChar)] if isinstance(line, LTTextLine) else []
                if sizes and line.get_text().strip():
                    pieces.append([line.y0, max(sizes), line.x0, line.x1, line.get_text().strip()])
        pages.append(_rejoined(pieces))
    return pages


def _rejoined(pieces: list[list]) -> list[tuple[float, float, str]]:
    """Pieces of one printed line put back together, in the reading order of the first: a writer
    that draws a link's text apart from its line (LibreOffice does) leaves pdfminer several lines at
    one height, an em or less apart. Columns, further apart, stay lines of their own."""
    rows: list[list[int]] = []
    for index, piece in enumerate(pieces):
        row = next((row for row in rows if abs(pieces[row[0]][0] - piece[0]) < 1), None)
        row.append(index) if row else rows.append([index])
    lines = []  # first piece's index, bottom, size, text, right edge
    for row in rows:
        current = None
        for index in sorted(row, key=lambda i: pieces[i][2]):
            y, size, x0, x1, text = pieces[index]
            if current and x0 - current[4] <= size:
                current[:] = [min(current[0], index), current[1], max(current[2], size), f"{current[3]} {text}", max(current[4], x1)]
            else:
                current = [index, y, size, text, x1]
                lines.append(current)
    return [(y, size, text) for _, y, size, text, _ in sorted(lines)]


def _without_running_heads(pages: list[list]) -> list[list]:
    """The pages without page numbers and running headers or footers: the row of lines at a page's
    top or bottom edge goes when one of them is a page number, or opens with words (digits aside)
    that recur at an edge of at least half the pages after the first."""

    def key(line) -> str:
        return " ".join(re.sub(r"\d+", "#", tidy(line[2]).lower()).split()[:4])

    def edges(lines) -> list[list]:
        """The lines level with the top line, and those level with the bottom one (a row: left and right parts)."""
        if not lines:
            return []
        top, bottom = max(line[0] for line in lines), min(line[0] for line in lines)
        return [[line for line in lines if abs(line[0] - edge) < 2] for edge in (top, bottom)]

    counts = Counter(k for lines in pages for k in {key(line) for row in edges(lines) for line in row})
    repeated = {k for k, n in counts.items() if n >= 2 and n >= (len(pages) - 1) / 2}

    def running(row) -> bool:
        return any(key(line) in repeated or _PAGE_NUMBER.match(key(line)) for line in row)

    cleaned = []
    for lines in pages:
        dropped = [line for row in edges(lines) if running(row) for line in row]
        cleaned.append([line for line in lines if line not in dropped])
    return cleaned


def _paragraphs(lines: list[tuple[float, float, str]], vocabulary: "_Vocabulary") -> list[tuple[str, float]]:
    """Lines joined into paragraphs (with their font size): a new one where the font size changes
    (a heading) or the gap above a line is wider than the usual pitch of lines of its size."""
    gaps: dict[float, list[float]] = {}
    for above, below in zip(lines, lines[1:]):
        if above[0] > below[0] and above[1] == below[1]:
            gaps.setdefault(below[1], []).append(above[0] - below[0])
    # The lower quartile, not the median: on a page of one-line paragraphs most gaps are paragraph gaps.
    pitch = {size: sorted(found)[len(found) // 4] for size, found in gaps.items()}
    paragraphs: list[list] = []
    for index, (y, size, text) in enumerate(lines):
        previous = lines[index - 1] if index else None
        gap = previous[0] - y if previous else 0.0
        new = (
            previous is None
            or abs(size - previous[1]) > 0.1 * max(size, previous[1])
            or not 0 < gap <= 1.3 * max(pitch.get(size, 0.0), 1.2 * size)
            or _BULLET.match(text)
        )
        if new:
            paragraphs.append([tidy(_BULLET.sub("", text)), size])
        else:
            paragraphs[-1][0] = _join_lines(paragraphs[-1][0], tidy(text), vocabulary)
    return [(text, size) for text, size in paragraphs]


class _Vocabulary:
    """The words of a PDF, to tell a hyphen that breaks a word at a line end from one that joins two.

    A document that hyphenates (LaTeX, justified text: over 2 % of its lines end in a broken word)
    loses the hyphen unless the document writes the compound elsewhere ("bug-fixes"); one that does
    not keeps it unless the document writes the word whole elsewhere. Without a dictionary, the
    document itself is the evidence.
    """

    def __init__(self, lines: list[str]):
        self.words = {word.lower() for line in lines for word in re.findall(r"[\w-]+", line)}
        broken = sum(1 for line in lines if re.search(r"\w-\s*$", line))
        self.hyphenates = broken >= 3 and broken > 0.02 * len(lines)

    def drops_hyphen(self, start: str, rest: str) -> bool:
        whole, compound = (start + rest).lower(), f"{start}-{rest}".lower()
        if self.hyphenates:
            return compound not in self.words
        return whole in self.words and compound not in self.words


def _join_lines(first: str, second: str, vocabulary: _Vocabulary) -> str:
    """Two lines of a paragraph as one; a URL broken inside goes on unspaced."""
    if re.search(r"https?:[^\s),;]*$", first) and re.match(r"[a-z0-9/#]", second):
        return first + second
    hyphenated = re.search(r"(\w+)-$", first)
    if not hyphenated:
        return f"{first} {second}"
    rest = re.match(r"[a-z]\w*", second)
    if rest and vocabulary.drops_hyphen(hyphenated.group(1), rest.group()):
        return first[:-1] + second
    return first + second


def _continues(last_paragraph: str, paragraph: str) -> bool:
    """Whether a page's first paragraph goes on with the sentence the previous page broke off."""
    return not re.search(r"[.!?:;\"”’)]$", last_paragraph) and paragraph[:1].islower()


def _outline(reader) -> list[tuple[str, int]]:
    """(title, page number) of each bookmark, nested ones too; [] when the outline is broken."""
    found: list[tuple[str, int]] = []

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                found.append((tidy(str(item.title)), reader.get_destination_page_number(item) + 1))

    try:
        walk(reader.outline)
    except Exception:  # a broken outline is no reason to refuse the text
        return []
    return found


def _mark_heading(layout: _Layout, text: str, title: str, page: int) -> None:
    """Record as a heading the block of that page that reads exactly as the bookmark's title."""
    for start, end, block_page in layout.blocks:
        if block_page == page and text[start:end].casefold() == title.casefold() and (start, end) not in layout.headings:
            layout.headings.append((start, end))
            layout.headings.sort()
            return


def _headings_by_size(layout: _Layout, sizes: list[float]) -> None:
    """Without bookmarks, a short paragraph set larger than the body text (the size most of the
    text is in) is a heading."""
    weights: Counter = Counter()
    for (start, end, _), size in zip(layout.blocks, sizes):
        weights[round(size, 1)] += end - start
    body = weights.most_common(1)[0][0]
    layout.headings = [(start, end) for (start, end, _), size in zip(layout.blocks, sizes) if size > 1.15 * body and end - start <= 200]


def _pdf_title_and_date(reader) -> tuple[str, str]:
    """The metadata's title, unless it names a file, and the day of its CreationDate ("D:YYYYMMDD…")."""
    try:
        metadata = reader.metadata or {}
        title, created = str(metadata.get("/Title") or ""), str(metadata.get("/CreationDate") or "")
    except Exception:  # unreadable metadata: the text still gives a title
        return "", ""
    day = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", created)
    return ("" if _FILE_NAME_TITLE.search(title) else title), ("-".join(day.groups()) if day else "")


# --- DOCX ---------------------------------------------------------------------------------------


def read_docx(data: bytes, max_bytes: int) -> Extract:
    # python-docx: paragraph styles (Heading n, Title) and core properties as they are in the file,
    # MIT-licensed; docx2python and mammoth turn styles into text or HTML first.
    import docx
    from docx.table import Table

    _check_zip(data, max_bytes)
    document = docx.Document(io.BytesIO(data))
    layout = _Layout()
    styled_title = ""
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = {cell._tc: cell for cell in row.cells}.values()  # a merged cell repeats in each column it spans
                layout.add(" | ".join(tidy(cell.text) for cell in cells))
            continue
        styles = _style_names(block.style)
        if "Title" in styles and not styled_title:
            styled_title = block.text
        layout.add(block.text, heading=any(re.fullmatch(r"Heading \d", name) for name in styles))
    if not layout.size:
        raise BriefingError("has no text")
    properties = document.core_properties
    date = properties.created.date().isoformat() if properties.created else ""
    return layout.extract(properties.title or styled_title, date)


def _style_names(style) -> set[str]:
    """The paragraph's style and those it is based on: a custom style built on "Heading 2" is a heading."""
    names = set()
    while style is not None and style.name not in names:
        names.add(style.name)
        style = style.base_style
    return names


def _check_zip(data: bytes, max_bytes: int) -> None:
    """Refuse a decompression bomb from its directory, before a byte of it is unpacked."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BriefingError("is not a Word document (a .docx is a zip archive, and this file is not one)") from None
    members = archive.infolist()
    total = sum(member.file_size for member in members)
    if total > max_bytes:
        raise BriefingError(f"would unzip to {total:,} bytes, over the {max_bytes:,}-byte limit (a decompression bomb?)")
    for member in members:
        if member.file_size > _BOMB_MIN_BYTES and member.file_size > _BOMB_RATIO * max(member.compress_size, 1):
            ratio = member.file_size // max(member.compress_size, 1)
            raise BriefingError(f"has a part that would expand {ratio:,} times when unzipped (a decompression bomb?)")
    if "word/document.xml" not in archive.namelist():
        raise BriefingError("is not a Word document (the zip archive has no word/document.xml)")


# --- the worker ---------------------------------------------------------------------------------


def read_isolated(source_format: str, data: bytes, *, max_bytes: int, max_pages: int) -> Extract:
    """Read `data` with the reader for `source_format` in a fresh process limited in memory and time.

    Raises BriefingError with a message for people (the caller adds the file name), whatever went
    wrong. The process is spawned, so like any spawned child it imports the main script again: a
    script calling this must guard its top-level code with `if __name__ == "__main__":`.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    limits = (max_bytes, max_pages, WORKER_MEMORY_BYTES)
    worker = context.Process(target=_work, args=(sender, source_format, data, *limits), daemon=True)
    worker.start()
    sender.close()  # the worker holds the only sending end now, so its death reads as end-of-file
    try:
        if not receiver.poll(WORKER_TIMEOUT_S):
            raise BriefingError(f"took longer than {WORKER_TIMEOUT_S} s to read, so reading it was stopped")
        outcome, value = receiver.recv()
    except EOFError:
        raise BriefingError(f"crashed the reader for {FORMAT_NAMES[source_format]}s: the file is damaged or hostile") from None
    finally:
        worker.kill()
        worker.join()
        receiver.close()
    if outcome == "error":
        raise BriefingError(value)
    return value


def _work(sender, source_format: str, data: bytes, max_bytes: int, max_pages: int, memory_bytes: int) -> None:
    # Imported before the limit, which is for what the file makes the parser do.
    for module in _PARSERS[source_format]:
        importlib.import_module(module)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError):  # a system without address-space limits still has the time limit
        pass
    for name in ("pypdf", "pdfminer"):  # their warnings about sloppy files are not for users
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        outcome = ("ok", _read(source_format, data, max_bytes, max_pages))
    except BriefingError as exc:
        outcome = ("error", str(exc))
    except MemoryError:
        outcome = ("error", f"needs more than {memory_bytes // 2**20:,} MB of memory to read (damaged or hostile?)")
    except Exception:
        outcome = ("error", f"cannot be read as {FORMAT_NAMES[source_format]}: it is damaged, or not really one")
    sender.send(outcome)


def _read(source_format: str, data: bytes, max_bytes: int, max_pages: int) -> Extract:
    if source_format == "pdf":
        return read_pdf(data, max_pages)
    if source_format == "docx":
        return read_docx(data, max_bytes)
    return read_html(data)

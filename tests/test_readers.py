"""Briefings from HTML, PDF and DOCX: the test documents of data/docs (README there) through the
whole loader, and the readers called directly (no worker process) for the cases made in the test."""

import datetime as dt
import io
import zipfile
from pathlib import Path

import docx
import pytest

from briefbot import readers
from briefbot.briefing import load_briefing, sentence_spans
from briefbot.errors import BriefingError

DOCS = Path(__file__).parent / "data" / "docs"
DOCUMENTS = [
    "harvard-university.txt",
    "islamism.md",
    "debian-faq-basic-defs.html",
    "debian-faq-basic-defs.docx",
    "debian-faq-basic-defs.pdf",
    "debian-faq-basic-defs-dblatex.pdf",
    "packet-switching.pdf",
]
FAQ_SECTIONS = [
    "Chapter 1. Definitions and overview",
    "1.1. What is this FAQ?",
    "1.2. What is Debian GNU/Linux?",
    "1.3. OK, now I know what Debian is... what is Linux?!",
    "1.4. Does Debian just do GNU/Linux?",
    "1.5. What is the difference between Debian GNU/Linux and other Linux distributions? Why should I choose Debian over some other distribution?",
    "1.6. How does the Debian project fit in or compare with the Free Software Foundation's GNU project?",
    "1.7. How does one pronounce Debian and what does this word mean?",
]
MURDOCK = "The Debian Project was created by Ian Murdock in 1993, initially under the sponsorship of the Free Software Foundation's GNU project."


@pytest.fixture(scope="module")
def briefings():
    """Each test document loaded once, through the worker process as every caller loads it."""
    return {name: load_briefing(DOCS / name) for name in DOCUMENTS}


def _sentence(briefing, sentence: str) -> tuple[int, int]:
    """The exact span of `sentence` among the briefing's sentence spans (what a citation quotes)."""
    spans = [(s, e) for s, e in sentence_spans(briefing.text) if briefing.text[s:e] == sentence]
    assert spans, f"{sentence!r} is no sentence span of {briefing.doc_id}"
    return spans[0]


def _section_at(briefing, offset: int) -> str:
    return next(s.title for s in briefing.sections if s.start <= offset < s.end)


@pytest.mark.parametrize("name", ["debian-faq-basic-defs.html", "debian-faq-basic-defs.docx", "debian-faq-basic-defs.pdf"])
def test_the_faq_chapter_keeps_its_headings_in_every_format(briefings, name):
    briefing = briefings[name]
    assert briefing.source_format == name.rsplit(".", 1)[1]
    assert briefing.title == "Chapter 1. Definitions and overview"
    assert [s.title for s in briefing.sections] == FAQ_SECTIONS
    start, end = _sentence(briefing, MURDOCK)
    assert _section_at(briefing, start) == "1.2. What is Debian GNU/Linux?"
    for section in briefing.sections[1:]:
        assert section.title not in briefing.text[section.start : section.end]


def test_html_drops_the_page_navigation_and_table_of_contents(briefings):
    briefing = briefings["debian-faq-basic-defs.html"]
    assert "Table of Contents" not in briefing.text and "Prev" not in briefing.text.split()
    assert briefing.text.count("1.1. What is this FAQ?") == 1
    assert briefing.pages == () and briefing.date == ""


def test_docx_date_comes_from_its_core_properties_and_leads_the_text(briefings):
    briefing = briefings["debian-faq-basic-defs.docx"]
    assert briefing.date == "2022-05-31"
    assert briefing.text.startswith("2022-05-31\n\nChapter 1. Definitions and overview\n\n1.1. What is this FAQ?")


def test_pdf_pages_are_offsets_into_the_text(briefings):
    briefing = briefings["debian-faq-basic-defs.pdf"]
    assert [p.number for p in briefing.pages] == [1, 2, 3, 4]
    assert all(a.end <= b.start for a, b in zip(briefing.pages, briefing.pages[1:]))
    assert briefing.text[briefing.pages[0].start :].startswith("Chapter 1. Definitions and overview")
    assert briefing.page_at(_sentence(briefing, MURDOCK)[0]) == 2
    assert briefing.page_at(briefing.text.index("Freedom:")) == 3
    assert briefing.page_at(0) is None  # the date line comes from the metadata, not from a page


def test_a_sentence_broken_by_a_page_end_is_one_span_on_two_pages(briefings):
    briefing = briefings["debian-faq-basic-defs.pdf"]
    start, end = _sentence(
        briefing, "FSF's powerful system development tools, utilities, and applications are also a key part of the Debian system."
    )
    assert (briefing.page_at(start), briefing.page_at(end - 1)) == (3, 4)


def test_pdf_without_bookmarks_takes_title_from_metadata_and_headings_from_type_sizes(briefings):
    briefing = briefings["packet-switching.pdf"]
    assert briefing.title == "Packet switching"
    assert [s.title for s in briefing.sections] == ["Packet switching"]
    assert [p.number for p in briefing.pages] == [1, 2, 3, 4, 5]
    assert briefing.lede.startswith("Starting in the late 1950s, American computer scientist Paul Baran")
    # Page 3 ends inside this paragraph: "… connected via gateways to the public network to" / "reach locations …".
    start = briefing.text.index("Tymnet was also connected to dozens of other public networks")
    assert briefing.page_at(start) == 4
    assert "\n" not in briefing.text[briefing.text.rindex("\n", 0, start) + 1 : start]


def test_a_latex_pdf_reads_as_its_words_without_page_furniture(briefings):
    briefing = briefings["debian-faq-basic-defs-dblatex.pdf"]
    assert [p.number for p in briefing.pages] == [1, 2, 3]
    # Spaced words (pypdf ran them together), the hyphenation undone, the URL broken over two lines whole.
    assert "This document gives frequently asked questions (with their answers!)" in briefing.text
    assert "pointers to other documentation will be given" in briefing.text
    assert "(https://www.debian.org/social_contract#guidelines))." in briefing.text
    # The running header ("CHAPTER 1. DEFINITIONS AND OVERVIEW  1.3. OK, NOW I KNOW…") and the page numbers go.
    assert "CHAPTER" not in briefing.text and not any(line.strip().isdigit() for line in briefing.text.split("\n"))
    start, end = _sentence(
        briefing,
        "For Debian, free has the GNUish meaning (see the Debian Free Software Guidelines (https://www.debian.org/social_contract#guidelines)).",
    )
    assert briefing.page_at(start) == 1
    assert "1.3 OK, now I know what Debian is... what is Linux?!" in [s.title for s in briefing.sections]


@pytest.mark.parametrize("name, title, source_format", [("harvard-university.txt", "Harvard University", "txt"), ("islamism.md", "Islamism", "md")])
def test_plain_text_documents(briefings, name, title, source_format):
    briefing = briefings[name]
    assert (briefing.title, briefing.source_format, briefing.pages) == (title, source_format, ())


def test_every_sentence_span_of_every_document_is_exact(briefings):
    for briefing in briefings.values():
        for start, end in sentence_spans(briefing.text):
            quote = briefing.text[start:end]
            assert quote == quote.strip() and "\n" not in quote


# --- readers called directly ---------------------------------------------------------------------


def test_html_metadata_gives_title_and_date():
    page = b"""<html><head><title>Border patrols rise | Example News</title>
    <meta property="og:title" content="Border patrols rise">
    <meta property="article:published_time" content="2017-04-25T09:00:00Z"></head>
    <body><nav><a href="/">Home</a> <a href="/world">World</a></nav><article><h1>Border patrols rise</h1>
    <p>Tajik border guards increased patrols along the Panj river by 40 percent in March, officials said on Tuesday.</p>
    <div><div><h2>Why now</h2></div></div>
    <p>Officials cited smuggling across the river and the fighting in Kunduz province over the winter months.</p>
    </article><footer>Copyright Example News</footer></body></html>"""
    extract = readers.read_html(page)
    assert (extract.title, extract.date) == ("Border patrols rise", "2017-04-25")
    assert [extract.text[s:e] for s, e in extract.headings] == ["Border patrols rise", "Why now"]
    assert "Home" not in extract.text and "Copyright" not in extract.text


def test_html_line_breaks_lists_and_inline_markup_keep_words_apart():
    page = b"""<html><body><article>
    <p>Patrols rose by 40 percent in March along the Panj river.<br>Officials cited smuggling across it.</p>
    <p>The <b>Khorog</b> crossing was closed for three days in April after the spring floods.</p>
    <ul><li>Khorog post</li><li>Ishkashim post<ul><li>its ferry</li></ul></li></ul></article></body></html>"""
    assert readers.read_html(page).text.split("\n\n") == [
        "Patrols rose by 40 percent in March along the Panj river. Officials cited smuggling across it.",
        "The Khorog crossing was closed for three days in April after the spring floods.",
        "Khorog post",
        "Ishkashim post",
        "its ferry",
    ]


def _docx(build) -> bytes:
    document = docx.Document()
    document.core_properties.title = ""
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_title_style_custom_heading_styles_and_tables():
    def build(document):
        document.core_properties.created = dt.datetime(2017, 4, 25)
        document.add_paragraph("Border note", style="Title")
        document.add_paragraph("Patrols rose by 40 percent in March.")
        style = document.styles.add_style("Briefing Heading", docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = document.styles["Heading 2"]
        document.add_paragraph("Numbers", style="Briefing Heading")
        table = document.add_table(rows=2, cols=2)
        for row, cells in zip(table.rows, [("Post", "Guards"), ("Khorog", "1,200")]):
            row.cells[0].text, row.cells[1].text = cells

    extract = readers.read_docx(_docx(build), max_bytes=10**7)
    assert (extract.title, extract.date) == ("Border note", "2017-04-25")
    assert [extract.text[s:e] for s, e in extract.headings] == ["Numbers"]
    assert "Post | Guards\n\nKhorog | 1,200" in extract.text


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, max_bytes, message",
    [
        (_zip({"word/document.xml": b" " * 3_000_000}), 10**7, "decompression bomb"),
        ((DOCS / "debian-faq-basic-defs.docx").read_bytes(), 20_000, "over the 20,000-byte limit"),
        (_zip({"content.xml": b"<office:document/>"}), 10**7, "no word/document.xml"),
        (b"\x00\x01 not a zip", 10**7, "not a Word document"),
    ],
)
def test_bad_docx_files(data, max_bytes, message):
    with pytest.raises(BriefingError, match=message):
        readers.read_docx(data, max_bytes=max_bytes)


@pytest.mark.parametrize(
    "data, max_pages, message",
    [
        ((DOCS / "debian-faq-basic-defs.pdf").read_bytes(), 3, "has 4 pages, over the limit of 3 pages"),
        ((DOCS / "bad" / "scanned.pdf").read_bytes(), 500, "no text layer"),
        ((DOCS / "bad" / "encrypted.pdf").read_bytes(), 500, "password"),
        (b"Border note\n\nPatrols rose by 40 percent.\n", 500, "not a PDF"),
    ],
)
def test_bad_pdf_files(data, max_pages, message):
    with pytest.raises(BriefingError, match=message):
        readers.read_pdf(data, max_pages=max_pages)


def test_running_heads_and_page_numbers_are_dropped():
    pages = [[(800, 9, "Briefing 12 · Confidential"), (700, 12, f"Body of page {n}."), (40, 9, f"Page {n} of 4")] for n in range(1, 5)]
    assert [[line[2] for line in lines] for lines in readers._without_running_heads(pages)] == [[f"Body of page {n}."] for n in range(1, 5)]


# --- the worker -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("report.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "cannot be read as a PDF: it is damaged, or not really one"),
        ("memo.docx", b"PK\x03\x04 cut off", "not a Word document"),
        ("broken.docx", _zip({"word/document.xml": b"<broken"}), "cannot be read as a Word (.docx) document: it is damaged"),
        ("menu.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no main text"),
        ("memo.odt", b"PK\x03\x04", "supported formats: .txt, .md, .html, .htm, .pdf, .docx"),
    ],
)
def test_load_briefing_names_the_file_and_says_what_is_wrong(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(BriefingError) as caught:
        load_briefing(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "Error" not in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("name", ["briefings", "folder.pdf"])
def test_a_folder_is_named_as_one_whatever_its_name(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    with pytest.raises(BriefingError, match="not a regular file but a folder"):
        load_briefing(folder)


def test_a_file_over_max_bytes_is_refused_before_it_is_read():
    path = DOCS / "debian-faq-basic-defs.pdf"
    with pytest.raises(BriefingError, match=f"{path.stat().st_size:,} bytes is over the 1,000-byte limit"):
        load_briefing(path, max_bytes=1000)


def test_the_worker_is_stopped_at_its_time_limit(monkeypatch):
    monkeypatch.setattr(readers, "WORKER_TIMEOUT_S", 0.01)
    with pytest.raises(BriefingError, match="took longer than 0.01 s"):
        load_briefing(DOCS / "debian-faq-basic-defs.html")


def test_the_worker_reports_its_memory_limit(monkeypatch):
    monkeypatch.setattr(readers, "WORKER_MEMORY_BYTES", 50 * 2**20)
    with pytest.raises(BriefingError, match="needs more than 50 MB of memory"):
        load_briefing(DOCS / "debian-faq-basic-defs.html")

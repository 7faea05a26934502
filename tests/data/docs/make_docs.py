"""Make the test documents of this folder and their reference texts (see README.md).

Needs LibreOffice (`soffice`), poppler's `pdftoppm` and `img2pdf` (Debian: libreoffice-writer-nogui,
poppler-utils, img2pdf), the debian-faq package unpacked (`apt-get download debian-faq`, then
`dpkg-deb -x debian-faq_*.deb DIR`) and the SQuAD articles of shared/documents:

    .venv/bin/python tests/data/docs/make_docs.py DIR /path/to/squad2-dev-13-articles.json

It is run by hand when the documents change, never by the tests.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lxml import html as lxml_html
from pypdf import PdfReader, PdfWriter

HERE = Path(__file__).resolve().parent
FAQ = "usr/share/doc/debian/FAQ"
NO_BOOKMARKS = 'pdf:writer_pdf_Export:{"ExportBookmarks":{"type":"boolean","value":"false"}}'


def soffice(source: Path, target_format: str, out_dir: Path) -> Path:
    subprocess.run(["soffice", "--headless", "--convert-to", target_format, "--outdir", str(out_dir), str(source)], check=True)
    return out_dir / f"{source.stem}.{target_format.split(':')[0]}"


def faq_documents(faq_root: Path, work: Path) -> None:
    """The FAQ's first chapter: its HTML page as shipped, and DOCX and PDF made from it by LibreOffice."""
    page = faq_root / FAQ / "basic-defs.en.html"
    shutil.copy(page, HERE / "debian-faq-basic-defs.html")
    tree = lxml_html.parse(str(page))
    # The page's navigation and table of contents are the web page's, not the chapter's.
    for element in tree.xpath('//div[@class="navheader" or @class="navfooter" or @class="toc"]'):
        element.getparent().remove(element)
    # The day the package built the page, which LibreOffice keeps as the document's creation date.
    built = dt.datetime.fromtimestamp(page.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    tree.find("head").append(lxml_html.Element("meta", name="created", content=built))
    chapter = work / "debian-faq-basic-defs.html"
    tree.write(str(chapter), method="html", encoding="utf-8")
    docx = soffice(chapter, "docx:MS Word 2007 XML", work)
    shutil.copy(docx, HERE / docx.name)
    pdf = soffice(HERE / docx.name, "pdf", work)
    shutil.copy(pdf, HERE / pdf.name)
    (HERE / "references" / "debian-faq-basic-defs.txt").write_text(faq_reference(faq_root), encoding="utf-8")


def faq_reference(faq_root: Path, chapter: int = 1, printed: bool = False) -> str:
    """A chapter of the FAQ's own plain-text edition (same DocBook source), one paragraph a line:
    lines unwrapped and list bullets dropped. The text edition prints each link's URL after its
    text; the HTML shows none, so they go, unless `printed`: the dblatex PDF prints them as the
    text edition does (once where the link text is the URL), its cross-references as "Section 12.1"
    without the section's title, and its headings' numbers without a final period."""
    text = gzip.decompress((faq_root / FAQ / "debian-faq.en.txt.gz").read_bytes()).decode("utf-8").replace("\xa0", " ")
    heading = re.findall(rf"\nChapter {chapter}\. .*\n", text)[-1].strip()  # the last: the first is in the contents
    body = text.split(f"\n{heading}\n")[-1].split(f"\nChapter {chapter + 1}. ")[0]
    paragraphs = []
    for block in re.split(r"\n\s*\n", f"{heading}\n\n{body}"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        paragraph = lines[0]
        for line in lines[1:]:
            # The text edition wraps at "/" too: "GNU/" + "Linux", "GNU" + "/Hurd" (not "bullseye/" + "/dists").
            paragraph += line if paragraph.endswith("/") != line.startswith("/") else " " + line
        paragraph = re.sub(r"^\* ", "", paragraph)
        if printed:
            paragraph = re.sub(r"^(\d+(?:\.\d+)+)\. ", r"\1 ", paragraph)
            paragraph = re.sub(r"^(Chapter \d+)\. ", "\\1\n\n", paragraph)
            paragraph = re.sub(r"\(https?:[^)]*\)", lambda url: url.group().replace(" ", ""), paragraph)
            paragraph = re.sub(r"(https?://\S+) \(\1\)", r"\1", paragraph)  # a URL shown as its own link text
            paragraph = re.sub(r"(?<=\S)\s+(?=[.,;)](?!\w))", "", paragraph)
            paragraph = re.sub(r"(Section \d+(?:\.\d+)*), “[^”]*”", r"\1", paragraph)
            paragraph = re.sub(r"(Chapter \d+), [A-Z][^.)]*", r"\1", paragraph)
        else:
            paragraph = re.sub(r"\s*\(https?:[^)]*\)\s*(?=[.,;)]|$)", "", paragraph)
            paragraph = re.sub(r"\s*\(https?:[^)]*\)", "", paragraph)
        paragraphs.append(paragraph)
    return "\n\n".join(paragraphs) + "\n"


def dblatex_pdf(faq_root: Path, chapter: int, name: str) -> None:
    """The pages of a chapter of the FAQ's PDF edition as shipped (dblatex and xdvipdfmx: LaTeX
    hyphenation, running headers, page numbers), copied out unchanged with pypdf."""
    full = PdfReader(io.BytesIO(gzip.decompress((faq_root / FAQ / "debian-faq.en.pdf.gz").read_bytes())))
    first = next(i for i, page in enumerate(full.pages) if page.extract_text().startswith(f"Chapter {chapter}\n"))
    last = next(i for i in range(first + 1, len(full.pages)) if full.pages[i].extract_text().startswith(f"Chapter {chapter + 1}\n")) - 1
    writer = PdfWriter()
    for page in full.pages[first:last + 1]:
        if page.extract_text().strip():  # the blank page before the next chapter
            writer.add_page(page)
    writer.add_metadata(full.metadata)
    writer.write(HERE / f"{name}.pdf")
    (HERE / "references" / f"{name}.txt").write_text(faq_reference(faq_root, chapter, printed=True), encoding="utf-8")


def squad_documents(squad_path: Path, work: Path) -> None:
    """Three SQuAD articles: as .txt, as .md, and as a PDF LibreOffice made without bookmarks."""
    articles = {entry["title"]: entry for entry in json.loads(squad_path.read_text(encoding="utf-8"))["data"]}

    def paragraphs(title: str) -> list[str]:
        return [p["context"].strip() for p in articles[title]["paragraphs"]]

    for title, name in [("Harvard_University", "harvard-university.txt"), ("Islamism", "islamism.md"), ("Packet_switching", "packet-switching.pdf")]:
        heading = title.replace("_", " ")
        reference = "\n\n".join([heading, *paragraphs(title)]) + "\n"
        (HERE / "references" / (Path(name).stem + ".txt")).write_text(reference, encoding="utf-8")
        if name.endswith(".txt"):
            (HERE / name).write_text(reference, encoding="utf-8")
        elif name.endswith(".md"):
            (HERE / name).write_text(f"# {reference}", encoding="utf-8")
        else:
            source = work / (Path(name).stem + ".html")
            body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs(title))
            source.write_text(f"<html><head><title>{heading}</title></head><body><h1>{heading}</h1>\n{body}</body></html>", encoding="utf-8")
            # Through ODT: straight from HTML, Writer/Web puts a blank page first.
            shutil.copy(soffice(soffice(source, "odt", work), NO_BOOKMARKS, work), HERE / name)


def bad_documents(work: Path) -> None:
    """A scan (the FAQ PDF's first page as a picture, made a PDF by img2pdf, as scanners' software
    does), a password-protected copy of the Packet switching PDF's first page, 501 blank pages."""
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-gray", "-jpeg", str(HERE / "debian-faq-basic-defs.pdf"), str(work / "scan")], check=True)
    scan = next(work.glob("scan*.jpg"))
    subprocess.run(["img2pdf", "--output", str(HERE / "bad" / "scanned.pdf"), str(scan)], check=True)
    writer = PdfWriter()
    writer.add_page(PdfReader(HERE / "packet-switching.pdf").pages[0])
    writer.encrypt(user_password="briefing", owner_password="briefing-owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    (HERE / "bad" / "encrypted.pdf").write_bytes(buffer.getvalue())
    writer = PdfWriter()
    for _ in range(501):  # one over the default max_pages
        writer.add_blank_page(595, 842)
    writer.write(HERE / "bad" / "501-pages.pdf")


def main(faq_root: str, squad_path: str) -> None:
    (HERE / "references").mkdir(exist_ok=True)
    (HERE / "bad").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        faq_documents(Path(faq_root), Path(work))
        dblatex_pdf(Path(faq_root), 1, "debian-faq-basic-defs-dblatex")
        # Held out: the PDF reader's rules were written looking at chapter 1 only.
        dblatex_pdf(Path(faq_root), 2, "debian-faq-getting-debian-dblatex")
        squad_documents(Path(squad_path), Path(work))
        bad_documents(Path(work))


if __name__ == "__main__":
    main(*sys.argv[1:])

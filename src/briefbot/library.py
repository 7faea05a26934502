"""The briefings the web chat offers: those given at start-up, uploaded ones, and a BriefBot per set.

Uploads live in `index_dir/uploads/`. Each is stored as `<stem>-<sha256[:8]><suffix>`, because
daily files are often all called "report.pdf", beside `<stored name>.json`: what was read from it
(title, date, format, pages, the name it was uploaded as), so listing the library reads no PDF;
a file without one was not stored here and is not offered. A file is stored only once it was read
successfully, and atomically: copied into a staging directory, read there under its final name
(which is where its doc id comes from), then renamed into place. A bad file leaves the library as
it was.

`example_questions` derives the questions a page offers from the briefing itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from briefbot.briefing import SUPPORTED_FORMATS, Briefing, doc_id_for
from briefbot.errors import BriefBotError, BriefingError
from briefbot.index import load_briefings, remove_index, set_root
from briefbot.settings import BYTES_PER_MB, Settings
from briefbot.verify import names

if TYPE_CHECKING:
    from briefbot.bot import BriefBot

ACCEPTED_SUFFIXES = tuple(SUPPORTED_FORMATS)
ALL = "all"  # the choice that asks across every briefing of the library
# Stems are cut so a stored name stays within the 255 bytes file systems allow (4 bytes a character at most).
_MAX_STEM_CHARS = 50
# A staging directory this old belongs to no upload still running: one that was killed.
_STALE_STAGING_SECONDS = 3600


class LibraryError(BriefBotError):
    """No such briefing, or it cannot be removed."""


@dataclass(frozen=True)
class BriefingEntry:
    """One briefing of the library: what the picker shows and where its file is."""

    doc_id: str
    title: str
    date: str
    format: str
    path: Path
    removable: bool  # uploaded (removable) or given at start-up (not)
    pages: int = 0
    original_name: str = ""

    def to_dict(self) -> dict:
        """What the `/briefings` endpoint lists."""
        return {"doc_id": self.doc_id, "title": self.title, "date": self.date, "format": self.format, "removable": self.removable}

    @classmethod
    def of(cls, briefing: Briefing, path: Path, removable: bool, original_name: str = "") -> "BriefingEntry":
        return cls(
            briefing.doc_id, briefing.title, briefing.date, briefing.source_format, Path(path), removable,
            len(briefing.pages), original_name or Path(path).name,
        )


class BriefingLibrary:
    """The start-up briefings (in the order given) and the uploads (newest first)."""

    def __init__(self, settings: Settings, startup: Sequence[tuple[Path, Briefing]]):
        self.settings = settings
        self.uploads_dir = Path(settings.index_dir) / "uploads"
        self._startup = [BriefingEntry.of(briefing, path, removable=False) for path, briefing in startup]
        self._lock = threading.Lock()  # one upload or removal at a time
        self._clear_stale_staging()

    def entries(self) -> list[BriefingEntry]:
        return self._startup + self._uploads()

    def get(self, doc_id: str) -> BriefingEntry:
        for entry in self.entries():
            if entry.doc_id == doc_id:
                return entry
        known = ", ".join(e.doc_id for e in self.entries())
        raise LibraryError(f"there is no briefing {doc_id!r} (it may have been removed); known: {known}, or {ALL!r}")

    def resolve(self, choice: str) -> list[BriefingEntry]:
        """The briefings a choice asks about: one doc id, or ALL."""
        return self.entries() if choice == ALL else [self.get(choice)]

    def add(self, source: Path, name: str | None = None) -> tuple[BriefingEntry, bool]:
        """Read and store an uploaded file; (its entry, whether it is new). BriefingError if unusable.

        `name` is the file's name as the user knows it (the upload's temp file may be named otherwise);
        error messages use it, never a server path.
        """
        source, name = Path(source), Path(name or Path(source).name).name
        self._check_file(source, name)
        digest = _sha256(source)
        stem = doc_id_for(Path(name))[:_MAX_STEM_CHARS].rstrip("-.") or "briefing"
        stored = self.uploads_dir / f"{stem}-{digest[:8]}{Path(name).suffix.lower()}"
        with self._lock:
            existing = next((e for e in self._uploads() if e.path == stored), None)
            if existing is not None:
                return existing, False
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.uploads_dir))
            try:
                briefing = self._read_staged(source, staging / stored.name, name)
                if any(e.doc_id == briefing.doc_id for e in self.entries()):
                    raise BriefingError(f"{name}: another briefing is already named {briefing.doc_id!r}; rename the file")
                entry = BriefingEntry.of(briefing, stored, removable=True, original_name=name)
                # The sidecar first: the listing goes by the documents, so neither is seen half-written.
                self._write_sidecar(entry)
                os.replace(staging / stored.name, stored)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return entry, True

    def remove(self, doc_id: str) -> BriefingEntry:
        """Delete an uploaded briefing, its stored file and every index of a set that holds it."""
        entry = self.get(doc_id)
        if not entry.removable:
            raise LibraryError(f"{entry.title!r} was given when the server started and cannot be removed here")
        with self._lock:
            for doc_ids in self._sets_holding(doc_id):
                remove_index(self.settings, doc_ids)
            _sidecar(entry.path).unlink(missing_ok=True)
            entry.path.unlink(missing_ok=True)
        return entry

    # --- storage ---------------------------------------------------------------------------------

    def _check_file(self, source: Path, name: str) -> None:
        if not source.is_file():
            raise BriefingError(f"{name}: not a regular file" if source.exists() else f"{name}: cannot be read (no such file)")
        size = source.stat().st_size
        if size > self.settings.max_upload_bytes:
            shown = f"{size / BYTES_PER_MB:,.1f} MB" if size >= BYTES_PER_MB / 10 else f"{size:,} bytes"
            raise BriefingError(f"{name}: {shown} is over the {self.settings.max_upload_mb:g} MB upload limit")

    def _read_staged(self, source: Path, staged: Path, name: str) -> Briefing:
        """Copy to the staging directory and read it there, under its final name."""
        shutil.copyfile(source, staged)
        try:
            (briefing,) = load_briefings(self.settings, [staged]).values()  # with the settings' size and page limits
        except BriefingError as exc:
            # Named as the user knows the file: the readers name the staged path, the parser its doc id.
            message = str(exc).replace(str(staged), name)
            own_id = f"{doc_id_for(staged)}: "
            raise BriefingError(name + ": " + message.removeprefix(own_id) if message.startswith(own_id) else message) from None
        return briefing

    def _write_sidecar(self, entry: BriefingEntry) -> None:
        data = {"doc_id": entry.doc_id, "title": entry.title, "date": entry.date, "format": entry.format,
                "pages": entry.pages, "original_name": entry.original_name}
        temporary = _sidecar(entry.path).with_suffix(".tmp")
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(temporary, _sidecar(entry.path))

    def _uploads(self) -> list[BriefingEntry]:
        if not self.uploads_dir.is_dir():
            return []
        dated = []
        for path in self.uploads_dir.iterdir():
            if path.suffix.lower() not in ACCEPTED_SUFFIXES or path.name.startswith("."):
                continue
            try:
                data = json.loads(_sidecar(path).read_text(encoding="utf-8"))
                entry = BriefingEntry(data["doc_id"], data["title"], data["date"], data["format"], path, True,
                                      data["pages"], data["original_name"])
                dated.append((path.stat().st_mtime, entry))
            except (OSError, ValueError, KeyError):
                continue  # no sidecar (not stored by add) or removed while listing: not offered
        return [entry for _, entry in sorted(dated, key=lambda pair: pair[0], reverse=True)]

    def _sets_holding(self, doc_id: str) -> list[list[str]]:
        """The doc ids of every indexed set that holds `doc_id`, from the manifests (index.py's layout)."""
        holding = []
        for manifest in (Path(self.settings.index_dir) / "sets").glob("*/live/manifest.json"):
            try:
                doc_ids = [source["doc_id"] for source in json.loads(manifest.read_text())["sources"]]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if doc_id in doc_ids and set_root(self.settings, doc_ids) == manifest.parent.parent:
                holding.append(doc_ids)
        return holding + [[doc_id]]  # its own set, even if half-built and without a manifest

    def _clear_stale_staging(self) -> None:
        for staging in self.uploads_dir.glob(".staging-*"):
            if time.time() - staging.stat().st_mtime > _STALE_STAGING_SECONDS:
                shutil.rmtree(staging, ignore_errors=True)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class BotPool:
    """One BriefBot per briefing set, made with `on_briefings` (sharing the loaded models) and kept,
    so switching back is instant. Beyond `size` sets the least recently used is let go (its index
    stays on disk and reopens in a second); the start-up bot is always kept."""

    def __init__(self, library: BriefingLibrary, startup: "BriefBot", size: int = 8):
        self.library = library
        self.startup = startup
        self.size = size
        self._startup_key = tuple(b.doc_id for b in startup.briefings)
        self._bots: OrderedDict[tuple[str, ...], BriefBot] = OrderedDict({self._startup_key: startup})
        self._lock = threading.Lock()  # guards _bots; held for dictionary work only
        self._building = threading.Lock()  # one index build at a time: they compete for the same CPUs

    def bot_for(self, choice: str, progress: Callable[[str], None] | None = None) -> "BriefBot":
        """The bot over what `choice` names (a doc id or ALL); LibraryError if it names nothing."""
        entries = self.library.resolve(choice)
        key = tuple(e.doc_id for e in entries)
        bot = self._cached(key)
        if bot is not None:
            return bot
        with self._building:
            bot = self._cached(key)  # another session may have built it while this one waited
            if bot is None:
                bot = self.startup.on_briefings([e.path for e in entries], progress=progress)
                with self._lock:
                    self._bots[key] = bot
                    self._evict()
        return bot

    def forget(self, doc_id: str) -> None:
        """Let go of every bot over a set holding `doc_id` (a removed briefing)."""
        with self._lock:
            for key in [key for key in self._bots if doc_id in key and key != self._startup_key]:
                del self._bots[key]

    def _cached(self, key: tuple[str, ...]) -> "BriefBot | None":
        with self._lock:
            bot = self._bots.get(key)
            if bot is not None:
                self._bots.move_to_end(key)
            return bot

    def _evict(self) -> None:
        for key in list(self._bots):
            if len(self._bots) <= self.size:
                return
            if key != self._startup_key:
                del self._bots[key]


# --- example questions ------------------------------------------------------------------------------

# Headings that say where one is in a document, not what it is about.
_GENERIC_HEADINGS = frozenset(
    {
        "abstract", "about", "about the author", "acknowledgements", "appendix", "background", "conclusion",
        "conclusions", "contact", "contents", "table of contents", "executive summary", "footnotes",
        "further reading", "introduction", "key points", "notes", "overview", "references", "related",
        "see also", "sources", "summary",
    }
)
# "2.", "2.3 ", "iv) ", "b. ", "Chapter 3: " before a heading.
_NUMBERING = re.compile(
    r"^\s*(\d+(\.\d+)*[.)]?\s+|([ivxlc]+|[a-z])[.)]\s+|(chapter|part|section)\s+\w+[:.]?\s+)", re.IGNORECASE
)
_QUESTION_WORD = re.compile(
    r"^(who|whom|whose|what|which|when|where|why|how|is|are|was|were|can|could|will|should|does|do|did)\b", re.IGNORECASE
)
# Where a heading holds several sentences: after ?, ! or an ellipsis ("." is also an abbreviation's).
_HEADING_SENTENCE_END = re.compile(r"(?<=[?!…])\s+|(?<=\.\.\.)\s+")
_INITIAL = re.compile(r"[A-Z]\.")
_POSSESSIVE = re.compile(r"['’]s$")
# Digits and at most one word: a dateline ("3 May 2024"), a year, "Table 3"; nothing to ask about.
_DATELIKE = re.compile(r"[\d\s,./:-]*(?:[^\W\d_]+[\d\s,./:-]*)?")
_EDGE_PUNCTUATION = "\"“”‘’'()[],;:.!?"
_MAX_HEADING_CHARS = 80


def example_questions(briefing: Briefing, count: int = 4) -> list[str]:
    """Questions a reader might ask first, made from the briefing's own structure.

    One per section heading, in document order, for the first `count` distinctive headings: not the
    title again, not a heading that only says where one is ("Introduction", "Summary", "References")
    or when ("3 May 2024": digits and at most one word), not a repeat (numbering such as "2." or
    "Chapter 3:" is ignored in all of these). A heading that is a question, or has one among its
    sentences ("OK, I know what X is... what is Y?!"), is asked as it stands; any other of one
    sentence and at most 80 characters becomes "What does the briefing say about <heading>?".

    With fewer headings than that, the names the lede mentions make up the rest, "What does the
    briefing say about <name>?": capitalised words that are not ordinary English, as the verifier
    finds them, adjacent ones joined ("Paul Baran"), names of several words first (they say more).
    Not the title's: Title Case capitalises ordinary words too. A briefing with neither gets "What
    are the main points of the briefing?". No rule knows any one document: only headings, the
    lede and capitals.
    """
    questions: list[str] = []
    seen = {_normalised(briefing.title)}
    for section in briefing.sections:
        key = _normalised(section.title)
        if key in seen or key in _GENERIC_HEADINGS:
            continue
        seen.add(key)
        question = _heading_question(_NUMBERING.sub("", section.title).strip(" \t:;,-–—"))
        if question:
            questions.append(question)
    mentioned = " ".join(questions).lower()
    for name in _name_phrases(briefing.lede, briefing.text):
        if name.lower() not in mentioned:
            questions.append(_about(name))
            mentioned += " " + name.lower()
    return questions[:count] or ["What are the main points of the briefing?"]


def _normalised(heading: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", _NUMBERING.sub("", heading).lower()).split())


def _heading_question(heading: str) -> str | None:
    parts = [part.rstrip("!") for part in _HEADING_SENTENCE_END.split(heading) if part.strip()]
    for part in parts:
        if part.endswith("?") and _QUESTION_WORD.match(part) and len(part) <= _MAX_HEADING_CHARS:
            return part[0].upper() + part[1:]
    dateline = _DATELIKE.fullmatch(heading) and re.search(r"\d", heading)
    if len(parts) == 1 and not dateline and len(heading) <= _MAX_HEADING_CHARS:
        return _about(heading)
    return None  # a date, or several sentences and none a question: no subject to ask about


def _name_phrases(text: str, source: str) -> list[str]:
    """The names in `text`, adjacent ones joined, in order of appearance, those of more words first."""
    found = names(text, source)
    phrases, run = [], []
    for token in text.split() + [""]:
        word = token.strip(_EDGE_PUNCTUATION)
        if run and (word not in found or token[:1] in _EDGE_PUNCTUATION):  # "Political Islam (Arabic: …)"
            phrases.append(" ".join(run))
            run = []
        if word in found:
            run.append(token if _INITIAL.fullmatch(token) else _POSSESSIVE.sub("", word))
            ends = token != token.rstrip(_EDGE_PUNCTUATION) and not _INITIAL.fullmatch(token)
            if ends or _POSSESSIVE.search(word):  # a comma, a full stop or an 's ends it; an initial ("W.") does not
                phrases.append(" ".join(run))
                run = []
    return sorted(dict.fromkeys(phrases), key=lambda phrase: -len(phrase.split()))


def _about(subject: str) -> str:
    subject = subject.rstrip("?!.")
    # A leading article reads as part of the sentence; any other capital is kept (it may be a name).
    subject = re.sub(r"^(The|A|An)\b", lambda m: m.group().lower(), subject)
    return f"What does the briefing say about {subject}?"

"""The briefing library (uploads stored by name and content hash, removed with their indexes), the
pool of one BriefBot per briefing set, and the example questions derived from a briefing."""

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from briefbot import Settings
from briefbot.briefing import load_briefing, parse_briefing
from briefbot.errors import BriefingError
from briefbot.index import open_index, set_root
from briefbot.library import ALL, BotPool, BriefingLibrary, LibraryError, example_questions
from briefbot.settings import DEFAULT_BRIEFING

DOCS = Path(__file__).parent / "data" / "docs"
NOTE = "# Border note\n\nPatrols along the Panj river rose by 40 percent in March.\n\n## Khorog crossing\n\nThe Khorog crossing closed.\n"


@pytest.fixture(scope="module")
def shipped():
    return load_briefing(DEFAULT_BRIEFING)


@pytest.fixture
def settings(tmp_path):
    return Settings(backend="fake", index_dir=tmp_path / "index")


@pytest.fixture
def library(settings, shipped):
    return BriefingLibrary(settings, [(DEFAULT_BRIEFING, shipped)])


def _file(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def test_an_upload_is_stored_atomically_under_its_name_and_content_hash(library, tmp_path, shipped):
    source = _file(tmp_path / "in", "report.md", NOTE)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]

    entry, new = library.add(source)

    assert new and entry.removable
    assert entry.path == library.uploads_dir / f"report-{digest}.md"
    assert entry.path.read_bytes() == source.read_bytes()
    assert (entry.doc_id, entry.title, entry.format, entry.original_name) == (f"report-{digest}", "Border note", "md", "report.md")
    assert sorted(p.name for p in library.uploads_dir.iterdir()) == [entry.path.name, entry.path.name + ".json"]  # no staging left
    assert [e.doc_id for e in library.entries()] == [shipped.doc_id, entry.doc_id]
    assert entry.to_dict() == {"doc_id": entry.doc_id, "title": "Border note", "date": "", "format": "md", "removable": True}


def test_daily_files_of_one_name_are_kept_apart_newest_first(library, tmp_path, shipped):
    monday, _ = library.add(_file(tmp_path / "mon", "report.md", NOTE))
    tuesday, _ = library.add(_file(tmp_path / "tue", "report.md", NOTE.replace("40", "45")))
    assert monday.doc_id != tuesday.doc_id and monday.path != tuesday.path
    assert [e.doc_id for e in library.entries()] == [shipped.doc_id, tuesday.doc_id, monday.doc_id]


def test_the_same_file_uploaded_twice_is_one_entry(library, tmp_path):
    first, new = library.add(_file(tmp_path / "a", "note.md", NOTE))
    again, new_again = library.add(_file(tmp_path / "b", "note.md", NOTE))
    assert new and not new_again and again == first
    assert len(library.entries()) == 2


def test_the_library_is_read_back_from_its_sidecars(library, settings, shipped):
    entry, _ = library.add(DOCS / "packet-switching.pdf")
    reopened = BriefingLibrary(settings, [(DEFAULT_BRIEFING, shipped)])
    assert reopened.entries()[1] == entry
    assert (entry.format, entry.pages, entry.title) == ("pdf", 5, "Packet switching")


@pytest.mark.parametrize(
    "name, content, mentions",
    [
        ("empty.txt", "", "no text"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin1.txt", "Note de Kaboul\n\nLe député a parlé.\n".encode("latin-1"), "UTF-8"),
        ("minutes.odt", NOTE, "supported formats"),
        ("scan.pdf", b"\x6e\x34\x0b\x9c" * 64, "not a PDF"),
    ],
)
def test_a_bad_file_is_refused_by_its_name_and_leaves_the_library_as_it_was(library, tmp_path, name, content, mentions):
    before = (library.entries(), _tree(library.uploads_dir))
    source = _file(tmp_path / "in", name, content)
    with pytest.raises(BriefingError) as caught:
        library.add(source, name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and mentions.lower() in message.lower()
    assert str(library.uploads_dir) not in message and ".staging" not in message
    assert (library.entries(), _tree(library.uploads_dir)) == before


def test_a_file_over_the_upload_limit_is_refused_before_it_is_copied(settings, shipped, tmp_path):
    library = BriefingLibrary(settings.model_copy(update={"max_upload_mb": 0.01}), [(DEFAULT_BRIEFING, shipped)])
    source = _file(tmp_path, "long.md", NOTE * 100)
    with pytest.raises(BriefingError, match=f"long.md: {source.stat().st_size:,} bytes is over the 0.01 MB upload limit"):
        library.add(source)
    assert not library.uploads_dir.exists()


def test_a_pdf_over_max_pages_is_refused(settings, shipped):
    library = BriefingLibrary(settings.model_copy(update={"max_pages": 3}), [(DEFAULT_BRIEFING, shipped)])
    with pytest.raises(BriefingError, match="debian-faq-basic-defs.pdf: has 4 pages, over the limit of 3"):
        library.add(DOCS / "debian-faq-basic-defs.pdf")
    assert _tree(library.uploads_dir) == {}


def test_removing_an_upload_deletes_its_file_and_every_index_holding_it(library, settings, tmp_path, fake_bot):
    gone, _ = library.add(_file(tmp_path / "a", "gone.md", NOTE))
    kept, _ = library.add(_file(tmp_path / "b", "kept.md", NOTE.replace("Panj", "Vakhsh")))
    embed = fake_bot.index.embed_model
    for paths in ([gone.path], [gone.path, kept.path], [kept.path]):
        open_index(settings, briefings=paths, embed_model=embed)

    assert library.remove(gone.doc_id) == gone

    assert not set_root(settings, [gone.doc_id]).exists()
    assert not set_root(settings, [gone.doc_id, kept.doc_id]).exists()
    assert set_root(settings, [kept.doc_id]).exists()
    assert sorted(p.name for p in library.uploads_dir.iterdir()) == [kept.path.name, kept.path.name + ".json"]
    assert [e.doc_id for e in library.entries()][1:] == [kept.doc_id]


def test_a_startup_briefing_cannot_be_removed(library, shipped):
    with pytest.raises(LibraryError, match="cannot be removed"):
        library.remove(shipped.doc_id)
    assert library.get(shipped.doc_id).path == DEFAULT_BRIEFING


def test_choices_resolve_to_one_briefing_or_all(library, tmp_path, shipped):
    entry, _ = library.add(_file(tmp_path, "note.md", NOTE))
    assert library.resolve(entry.doc_id) == [entry]
    assert [e.doc_id for e in library.resolve(ALL)] == [shipped.doc_id, entry.doc_id]
    with pytest.raises(LibraryError, match=f"no briefing 'nope'.*known: {shipped.doc_id}, {entry.doc_id}"):
        library.resolve("nope")


# --- one bot per briefing set ------------------------------------------------------------------


class StubBot:
    """What BotPool needs of a BriefBot: its briefings, and on_briefings (recorded)."""

    def __init__(self, doc_ids, made):
        self.briefings = [SimpleNamespace(doc_id=doc_id) for doc_id in doc_ids]
        self.made = made

    def on_briefings(self, paths, progress=None):
        doc_ids = [Path(path).stem for path in paths]
        self.made.append(doc_ids)
        return StubBot(doc_ids, self.made)


@pytest.fixture
def pool_library(settings, tmp_path):
    """A library whose start-up briefings are three stub files named by their doc ids."""
    paths = [_file(tmp_path / "start", f"{name}.md", NOTE.replace("Border", name)) for name in ("a", "b", "c")]
    return BriefingLibrary(settings, [(path, load_briefing(path)) for path in paths])


def test_a_set_is_built_once_and_kept(pool_library):
    made = []
    startup = StubBot(["a", "b", "c"], made)
    pool = BotPool(pool_library, startup)
    assert pool.bot_for(ALL) is startup and made == []  # the start-up set is the bot given
    first = pool.bot_for("a")
    assert pool.bot_for("a") is first and made == [["a"]]


def test_the_least_recently_used_set_goes_but_never_the_startup_one(pool_library):
    made = []
    startup = StubBot(["a", "b", "c"], made)
    pool = BotPool(pool_library, startup, size=2)
    a = pool.bot_for("a")
    pool.bot_for("b")  # over the size: "a" goes, the start-up set stays
    assert pool.bot_for(ALL) is startup
    assert pool.bot_for("a") is not a and made == [["a"], ["b"], ["a"]]


def test_forgetting_a_briefing_drops_every_set_holding_it(pool_library):
    made = []
    pool = BotPool(pool_library, StubBot(["a", "b", "c"], made))
    pool.bot_for("a"), pool.bot_for("b")
    pool.forget("a")
    pool.bot_for("a"), pool.bot_for("b")
    assert made == [["a"], ["b"], ["a"]]


# --- example questions -------------------------------------------------------------------------


def test_example_questions_come_from_the_distinctive_headings():
    briefing = parse_briefing(
        "# Weekly report\n\nIn brief, things happened.\n\n## 1. Introduction\n\nSome words here.\n\n"
        "## 2. Why does the Panj matter?\n\nIt is a river.\n\n## Chapter 3: The Wakhan Corridor\n\nA narrow strip.\n\n"
        "## OK, we know the route... who guards it?!\n\nBorder troops.\n\n## References\n\nNone.\n\n"
        "## The Wakhan corridor\n\nAgain.\n\n## 12 May 2024\n\nA dateline.\n\n## Trade\n\nSome trade.\n",
        "weekly", source_format="md",
    )
    assert example_questions(briefing) == [
        "Why does the Panj matter?",
        "What does the briefing say about the Wakhan Corridor?",
        "Who guards it?",
        "What does the briefing say about Trade?",
    ]


def test_example_questions_fall_back_on_the_names_of_the_lede():
    briefing = parse_briefing(
        "Packet notes\n\nIn the 1960s, Paul Baran of the RAND Corporation proposed it; Donald Davies built it in Britain.\n",
        "notes",
    )
    assert example_questions(briefing) == [
        "What does the briefing say about Paul Baran?",
        "What does the briefing say about RAND Corporation?",
        "What does the briefing say about Donald Davies?",
        "What does the briefing say about Britain?",
    ]


def test_a_briefing_without_headings_or_names_gets_a_general_question():
    assert example_questions(parse_briefing("patrol " * 40, "run-on")) == ["What are the main points of the briefing?"]


def _subject(question: str) -> str:
    """What a question asks about: "X" of "What does the briefing say about X?", else the question."""
    return question.removeprefix("What does the briefing say about ").rstrip("?!").lower()


def test_each_test_document_gets_questions_about_what_it_says():
    documents = [DEFAULT_BRIEFING, *(p for p in sorted(DOCS.glob("*.*")) if p.suffix in (".md", ".txt", ".pdf", ".html", ".docx"))]
    asked, titles = {}, set()
    for path in documents:
        if path.name == "README.md":
            continue
        briefing = load_briefing(path)
        questions = example_questions(briefing)
        assert 1 <= len(questions) <= 4 and len(set(questions)) == len(questions)
        for question in questions:
            assert question.endswith("?") and _subject(question) in briefing.text.lower(), (path.name, question)
        asked[path.name] = tuple(questions)
        titles.add(briefing.title)
    assert asked[DEFAULT_BRIEFING.name][0] == "What does the briefing say about the Turkmen Connection?"
    assert len(set(asked.values())) >= len(titles)  # a document of its own, questions of its own

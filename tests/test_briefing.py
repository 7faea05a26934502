import pytest

from briefbot.briefing import clean_text, load_briefing, parse_briefing, sentence_spans
from briefbot.errors import BriefingError
from briefbot.settings import DEFAULT_BRIEFING


def test_default_briefing_is_cleaned_and_structured():
    briefing = load_briefing(DEFAULT_BRIEFING)
    assert not briefing.text.startswith("Print")
    assert "©" not in briefing.text and "republishing rights" not in briefing.text
    assert briefing.text.startswith("25 April 2017")
    assert briefing.text.endswith("personal safety of Russian citizens.")
    assert briefing.title == "A Dangerous Flirtation: Russia and the Taliban"
    assert briefing.date == "25 April 2017"
    assert briefing.lede.startswith("By seeking a larger role in Afghanistan")
    assert [s.title for s in briefing.sections] == [
        "A Dangerous Flirtation: Russia and the Taliban",
        "The Turkmen Connection",
        "Maintaining Bases and Borders",
        "Recognising the Taliban?",
        "Caution Required",
    ]


def test_sections_exclude_their_heading_and_tile_the_text():
    briefing = load_briefing(DEFAULT_BRIEFING)
    for section in briefing.sections[1:]:
        body = briefing.text[section.start : section.end]
        assert section.title not in body.split("\n")[0]
    assert briefing.text[briefing.sections[1].start :].lstrip().startswith("As IS fighters are pushed back")


def test_sentence_spans_are_exact_and_never_cross_lines(briefing_text):
    spans = sentence_spans(briefing_text)
    assert len(spans) > 60
    for start, end in spans:
        piece = briefing_text[start:end]
        assert piece.strip() == piece and "\n" not in piece
    assert briefing_text[spans[-1][0] : spans[-1][1]].endswith("Russian citizens.")


def test_cleaning_is_idempotent(briefing_text):
    assert clean_text(briefing_text) == briefing_text


def test_markdown_headings_become_sections():
    briefing = parse_briefing("# Title here\n\nFirst para.\n\n## Part two\n\nSecond para.", "doc")
    assert briefing.title == "Title here"
    assert [s.title for s in briefing.sections] == ["Title here", "Part two"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("binary.txt", b"\x00\x01\x02abc", "binary"),
        ("latin1.txt", "caf\xe9 au lait".encode("latin-1"), "not valid UTF-8"),
        ("empty.txt", b"   \n\n", "no text"),
        ("image.png", b"\x89PNG", "only .txt and .md"),
    ],
)
def test_bad_briefing_files_get_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BriefingError, match=message):
        load_briefing(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(BriefingError, match="cannot be read"):
        load_briefing(tmp_path / "nope.txt")

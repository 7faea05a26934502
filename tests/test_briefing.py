import pytest

from briefbot.briefing import Page, clean_text, load_briefing, parse_briefing, sentence_before, sentence_spans
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


def test_a_title_or_an_abbreviation_does_not_end_a_sentence():
    text = "Mr. Kern sold maps in St. Louis. The U.S. Army bought them. Dr. Berg did not. In 1685, Rev. Anna Kern came."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Mr. Kern sold maps in St. Louis.", "The U.S. Army bought them.", "Dr. Berg did not.", "In 1685, Rev. Anna Kern came."
    ]


def test_initials_and_latin_abbreviations_do_not_end_a_sentence():
    text = (
        "For example, E.I. du Pont built mills (e.g. Eleutherian). Barriers exist, i.e. customs, etc. "
        "and taxes. It was J. A. Hobson who wrote, and W. E. B. Du Bois. We say X reduces to Y. Thus Y is hard."
    )
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "For example, E.I. du Pont built mills (e.g. Eleutherian).",
        "Barriers exist, i.e. customs, etc. and taxes.",
        "It was J. A. Hobson who wrote, and W. E. B. Du Bois.",
        "We say X reduces to Y.",
        "Thus Y is hard.",
    ]


def test_the_sentence_before_a_span_may_stand_in_the_paragraph_before():
    text = "Turkmenistan is neutral. Its army is small.\nThe country lacks guards."
    assert sentence_before(text, text.index("Its")) == "Turkmenistan is neutral."
    assert sentence_before(text, text.index("The country")) == "Its army is small."
    assert sentence_before(text, 0) == ""


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
        ("image.png", b"\x89PNG", "cannot read .png files; supported formats: .txt, .md, .html, .htm, .pdf, .docx"),
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


def _spans(text: str, *lines: str) -> tuple[tuple[int, int], ...]:
    return tuple((text.index(line), text.index(line) + len(line)) for line in lines)


def test_a_readers_title_and_date_lead_the_text_and_its_offsets_follow():
    raw = "Patrols rose in March.\n\nBorder posts\n\nKhorog has 1,200 guards.\n\nShort line\n\nRiver crossings\n\nThree were closed."
    pages = (Page(1, 0, raw.index("Short line") - 2), Page(2, raw.index("Short line"), len(raw)))
    briefing = parse_briefing(
        raw, "memo", title="Border memo", date="2017-04-25", headings=_spans(raw, "Border posts", "River crossings"), pages=pages, source_format="pdf"
    )
    assert briefing.text == "2017-04-25\n\nBorder memo\n\n" + raw
    assert (briefing.title, briefing.date, briefing.lede, briefing.source_format) == ("Border memo", "2017-04-25", "Patrols rose in March.", "pdf")
    # Only the format's headings make sections: "Short line" looks like one to the text rules, but is not.
    assert [s.title for s in briefing.sections] == ["Border memo", "Border posts", "River crossings"]
    assert briefing.text[briefing.sections[1].start : briefing.sections[1].end].strip() == "Khorog has 1,200 guards.\n\nShort line"
    assert briefing.page_at(briefing.text.index("Khorog")) == 1 and briefing.page_at(briefing.text.index("Three")) == 2
    assert briefing.page_at(0) is None


def test_a_text_that_opens_with_its_title_gets_nothing_put_before_it():
    raw = "Border memo\n\nPatrols rose in March."
    briefing = parse_briefing(raw, "memo", title="Border  memo", source_format="docx")
    assert briefing.text == raw and briefing.title == "Border  memo" and briefing.lede == "Patrols rose in March."


def test_without_the_formats_headings_sections_come_from_the_text():
    raw = "Border memo\n\nPatrols rose in March.\n\nRiver crossings\n\nThree were closed."
    briefing = parse_briefing(raw, "memo", title="Border memo", pages=(Page(1, 0, len(raw)),), source_format="pdf")
    assert [s.title for s in briefing.sections] == ["Border memo", "River crossings"]

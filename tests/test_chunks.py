from briefbot.briefing import load_briefing, sentence_spans
from briefbot.index import chunk_briefing
from briefbot.settings import DEFAULT_BRIEFING


def test_chunks_are_exact_spans_on_sentence_boundaries():
    briefing = load_briefing(DEFAULT_BRIEFING)
    starts = {s for s, _ in sentence_spans(briefing.text)}
    ends = {e for _, e in sentence_spans(briefing.text)}
    for size, overlap in [(64, 0), (128, 0), (128, 32), (256, 64), (1024, 0)]:
        chunks = chunk_briefing(briefing, size, overlap)
        for chunk in chunks:
            assert briefing.text[chunk.start : chunk.end] == chunk.text
            assert chunk.start in starts and chunk.end in ends


def test_chunks_cover_every_sentence_and_stay_in_their_section():
    briefing = load_briefing(DEFAULT_BRIEFING)
    chunks = chunk_briefing(briefing, 128, 0)
    covered = {(s, e) for s, e in sentence_spans(briefing.text) if any(c.start <= s and e <= c.end for c in chunks)}
    headings = {s.title for s in briefing.sections}
    uncovered = [briefing.text[s:e] for s, e in sentence_spans(briefing.text) if (s, e) not in covered]
    assert set(uncovered) <= headings
    for chunk in chunks:
        section = next(s for s in briefing.sections if s.title == chunk.section)
        assert section.start <= chunk.start and chunk.end <= section.end


def test_chunk_ids_are_deterministic_and_overlap_repeats_sentences():
    briefing = load_briefing(DEFAULT_BRIEFING)
    assert chunk_briefing(briefing, 128, 0) == chunk_briefing(briefing, 128, 0)
    assert [c.chunk_id for c in chunk_briefing(briefing, 128, 0)][:2] == [
        "russia-taliban-2017-04-25:000",
        "russia-taliban-2017-04-25:001",
    ]
    plain = chunk_briefing(briefing, 128, 0)
    overlapping = chunk_briefing(briefing, 128, 48)
    assert len(overlapping) > len(plain)
    assert any(a.end > b.start and a.section == b.section for a, b in zip(overlapping, overlapping[1:]))

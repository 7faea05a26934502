"""briefbot.text: one home for the word helpers that verify.py, the fake LLM and the stub judge had
each defined for themselves. Moving them must not change a single verdict, so each reading is
checked against the definition it replaced (kept here as written before the move) on every
sentence of the shipped briefing, the question set, the calibration pairs and the SQuAD test
articles, and on strings built to hit the differences between the old definitions."""

import json
import re
from pathlib import Path

from briefbot import text
from briefbot.backends.fake import _words as fake_words
from briefbot.eval.calibration import load_calibration
from briefbot.eval.dataset import load_dataset
from briefbot.verify import _HAYSTACK_WORD, _NAME, _words_of

OLD_WORD = re.compile(r"[a-z0-9]+")
OLD_VERIFY_ORDINARY = frozenset(
    """a an the this that these those it its in on at of for to from by with as and or but if
    yes no not however also although while when where which who what why how there their they them he him she
    his her we our you your i according after before during since despite both each all some many most
    more any one two three four five six seven eight nine ten first second third briefing passage
    passages answer question""".split()
)
OLD_VERIFY_STOPWORDS = OLD_VERIFY_ORDINARY | frozenset(
    "is are was were be been being has have had do does did will would can could should may might must "
    "than then so such very just only about into over under again further once here same other own".split()
)
# Changed on purpose after the move: these question words became ordinary words too, since "Whose"
# had joined the name after it ("Whose First Law of Motion …?").
QUESTION_WORDS_ADDED = frozenset("whom whose whatever whichever whoever".split())
OLD_JUDGE_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
OLD_JUDGE_STOPWORDS = frozenset(
    """a an the of in on to and or is are was were be been being it its this that these those as at by for with from
    into than then there their they them he she his her we our you your i not no but also has have had will would
    can could should may might which who whom whose what when where why how all any some such do does did""".split()
)
OLD_FAKE_STOPWORDS = frozenset(
    "the a an of in on to and or is are was were what which who whom when where why how did does do it its by for with from that this as at be".split()
)


def old_verify_normalise(value: str) -> str:
    return value.lower().replace("’", "'").replace("–", "-").replace("—", "-")


def old_verify_content_words(value: str) -> set[str]:
    return {w[:6] for w in OLD_WORD.findall(old_verify_normalise(value)) if w not in OLD_VERIFY_STOPWORDS}


def old_verify_words_of(value: str) -> list[str]:
    return OLD_WORD.findall(re.sub(r"n['’]t\b", " not", old_verify_normalise(value)))


def old_judge_content_words(value: str) -> set[str]:
    value = re.sub(r"\[\d+\]", " ", value.lower().replace("’", "'"))
    value = re.sub(r"(?<=\d),(?=\d{3})", "", value)
    return {w for w in OLD_JUDGE_WORD.findall(value) if w not in OLD_JUDGE_STOPWORDS and (len(w) > 2 or w.isdigit())}


def old_answer_sentences(value: str) -> list[str]:
    value = re.sub(r"\s*\[\d+\]", "", value).strip()
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9“\"])", value) if s.strip()]


def old_fake_words(value: str) -> set[str]:
    return {w for w in OLD_WORD.findall(value.lower()) if w not in OLD_FAKE_STOPWORDS}


def old_fake_sentences(value: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", value.strip()) if s]


EDGES = [
    "It doesn’t say; “16,000” guards — not 16000 — patrol 1.5 km of the Tajik–Afghan border [2].",
    "The U.S. army\u00a0dropped the GBU-43/B [1][3]. e.g. the 1999–2000 base; 2.5% or 25%? No: 1,344.5 km.",
    "Russia’s envoy, Zamir Kabulov, said it can’t be ruled out [12]. Whose? Whom? NOT IN BRIEFING.",
    "",
    "   ",
    "[1]",
]


def _corpus() -> list[str]:
    from briefbot.settings import DEFAULT_BRIEFING

    texts = [line for line in DEFAULT_BRIEFING.read_text(encoding="utf-8").splitlines() if line.strip()]
    for sample in load_dataset():
        texts += [sample.question, sample.reference_answer, *sample.reference_spans]
    for pair in load_calibration():
        texts += [pair.statement, pair.passage]
    squad = json.loads((Path(__file__).parent / "data" / "squad-mini.json").read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            texts += [paragraph["context"], *(qa["question"] for qa in paragraph["qas"])]
    return texts + EDGES


CORPUS = _corpus()


def test_the_corpus_holds_what_the_old_definitions_read_differently():
    joined = "\n".join(CORPUS)
    for needle in ("“", "”", "\u00a0", "–", "—", "’", "16,000", "1.5", "[1]"):
        assert needle in joined, needle


def test_verify_reads_every_text_as_before():
    for value in CORPUS:
        assert text.content_words(value) == old_verify_content_words(value) - {w[:6] for w in QUESTION_WORDS_ADDED}, value
        assert _words_of(value) == old_verify_words_of(value), value
        # Names, and the words a name is looked for among, go through the same normalisation.
        assert _HAYSTACK_WORD.findall(text.normalise(value)) == _HAYSTACK_WORD.findall(old_verify_normalise(value)), value
        for name in _NAME.findall(value):
            assert text.normalise(name) == old_verify_normalise(name), name


def test_the_test_doubles_read_every_text_as_before():
    for value in CORPUS:
        assert text.claim_words(value) == old_judge_content_words(value), value
        assert text.answer_sentences(value) == old_answer_sentences(value), value
        assert fake_words(value) == old_fake_words(value), value
        assert text.split_sentences(value) == old_fake_sentences(value), value


def test_the_readings_differ_where_they_were_meant_to():
    line = "Patrolling 16,000 km, 1.5 times"
    assert text.content_words(line) == {"patrol", "16", "000", "km", "1", "5", "times"}
    assert text.claim_words(line) == {"patrolling", "16000", "1.5", "times"}
    assert text.split_sentences("See e.g. the base. It is 2 km away.") == ["See e.g.", "the base.", "It is 2 km away."]
    assert text.split_sentences("See e.g. the base. It is 2 km away.", capitalised=True) == ["See e.g. the base.", "It is 2 km away."]

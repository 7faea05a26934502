"""How briefbot's word rules read text: normalisation, words, stopwords, rough sentences, refusals.

verify.py's rules, the fake LLM, the stub judge and the evaluation's metrics all read text through
these. Where two of them read differently on purpose, the difference is a parameter or a named list
here, and each caller says which it means. The briefing itself is split into sentences by punkt
(briefing.sentence_spans); `split_sentences` is the rough split of the test doubles.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+")
# A decimal ("1.5") as one word, so that a swapped number is another word, not the same digits elsewhere.
_WHOLE_NUMBER_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_DIGIT_GROUP = re.compile(r"(?<=\d),(?=\d{3})")
CITATION_MARKER = re.compile(r"\s*\[\d+\]")

# Capitalised only because they start a sentence or are ordinary English: not names (verify.names).
ORDINARY_WORDS = frozenset(
    """a an the this that these those it its in on at of for to from by with as and or but if yes no
    not however also although while when where which who whom whose what why how whatever
    whichever whoever there their they them he him she his her we our you your i according after
    before during since despite both each all some many most more any one two three four five
    six seven eight nine ten first second third briefing passage passages answer question""".split()
    # Titles say nothing of who is meant: "Mr Costa" is named wherever the text says "Costa".
    + "mr mrs ms dr messrs".split()
)
# Prepositions that open a sentence before a name ("Besides England, …"): not names either. Kept
# apart from ORDINARY_WORDS, whose words are also left out of the content words verify compares.
SENTENCE_OPENERS = frozenset(
    """besides apart aside unlike like among between within without through throughout under over
    against along across around toward towards upon beyond except""".split()
)
# What verify's word rules skip: words that say nothing of what a sentence is about.
STOPWORDS = ORDINARY_WORDS | frozenset(
    "is are was were be been being has have had do does did will would can could should may might must "
    "than then so such very just only about into over under again further once here same other own".split()
)
# The test doubles' shorter lists, kept as they were written: the tests and recorded runs pin what
# the fake LLM answers and what the stub judge finds with them.
QUESTION_STOPWORDS = frozenset(
    "the a an of in on to and or is are was were what which who whom when where why how did does do it its by for with from that this as at be".split()
)
CLAIM_STOPWORDS = QUESTION_STOPWORDS | frozenset(
    """been being these those into than then there their they them he she his her we our you your i not no but also
    has have had will would can could should may might whose all any some such""".split()
)

# Three readers of "this text gives no answer", each tuned on the texts it reads:
# a generated sentence that declines ("NOT IN BRIEFING" and its paraphrases), which verify drops;
REFUSAL_PATTERN = re.compile(
    r"not in (the )?briefing|"
    r"\b(does|do|did) not (mention|contain|state|say|specify|provide|include|give|discuss)|"
    r"\b(no|not enough) information\b|\bnot (mentioned|stated|specified|provided|given)\b|"
    r"\bcannot (be )?(answer|find|determine)|\bcan't (answer|find|determine)|\bunable to (answer|find|determine)",
    re.IGNORECASE,
)
# an answer of the naive baseline, which has no refusal channel and whose prompt speaks of "the context";
BASELINE_REFUSAL = re.compile(
    r"(empty response|not (mentioned|provided|stated|specified|given|included|available|discussed|addressed)"
    r"|no (information|mention|details?|data)|(does not|doesn't|do not|did not) (say|state|mention|provide|specify|contain|include|discuss)"
    r"|(cannot|can't|unable to) (be )?(answer|determine|determined|find)|not possible to (answer|determine)|not in the (context|briefing|text))",
    re.IGNORECASE,
)
# and an answer the stub judge calls noncommittal (ragas' answer relevancy).
NONCOMMITTAL = re.compile(
    r"\b(i don't know|not sure|does not (answer|say|state|mention)|no information|not in (the )?briefing|cannot answer)\b", re.I
)


def normalise(text: str, *, whole_numbers: bool = False) -> str:
    """Lower case, with typographic apostrophes, quotes, dashes and no-break spaces made plain.
    `whole_numbers`: digit-group commas dropped too, so "16,000" and "16000" are one word."""
    text = text.lower().replace("’", "'").replace("“", '"').replace("”", '"').replace("–", "-").replace("—", "-")
    text = text.replace("\u00a0", " ")
    return _DIGIT_GROUP.sub("", text) if whole_numbers else text


def content_words(
    text: str, stopwords: frozenset[str] = STOPWORDS, *, stem: int | None = 6, min_length: int = 1, whole_numbers: bool = False
) -> set[str]:
    """The words of `text` not in `stopwords`, cut to their first `stem` letters (verify's default:
    "patrol" matches "patrolling"; None keeps them whole), dropping words shorter than `min_length`
    but never a number. `whole_numbers`: "16,000" and "1.5" are one word each, not two."""
    pattern = _WHOLE_NUMBER_WORD if whole_numbers else WORD
    found = pattern.findall(normalise(text, whole_numbers=whole_numbers))
    return {w[:stem] for w in found if w not in stopwords and (len(w) >= min_length or w.isdigit())}


def split_sentences(text: str, *, capitalised: bool = False) -> list[str]:
    """Sentences at end punctuation and the space after it. `capitalised`: only where a capital, a
    digit or a quote follows, so "e.g. the" stays in one sentence."""
    boundary = r"(?<=[.!?])\s+(?=[A-Z0-9“\"])" if capitalised else r"(?<=[.!?])\s+"
    return [s.strip() for s in re.split(boundary, text.strip()) if s.strip()]


def answer_sentences(text: str) -> list[str]:
    """An answer's sentences, its [n] markers dropped."""
    return split_sentences(CITATION_MARKER.sub("", text), capitalised=True)


def claim_words(text: str) -> set[str]:
    """How the stub judge and the fake baseline LLM read a statement: [n] markers, stopwords and
    words under three letters dropped, each number one word, no word cut to a stem."""
    return content_words(CITATION_MARKER.sub(" ", text), CLAIM_STOPWORDS, stem=None, min_length=3, whole_numbers=True)

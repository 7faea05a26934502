"""Citation verification and abstention: nothing reaches the user unless the briefing supports it.

Hand-written because no library checks a generated sentence against the exact source span it cites.
A sentence is supported when
  1. every number in it occurs in the passage that supports it, and every capitalised name in the
     paragraph that passage lies in, the question or the front matter (hard facts), and
  2. it says what the passage says: the MiniLM cosine between the sentence and the passage's closest
     sentence reaches `threshold` (0.6), or at least 70% of its content words occur in the passage.
An answer as a whole must also address its question:
  3. a "who" answer names someone not already in the question or the front matter, and a "how
     many/much/long" answer gives a number not in the question, from a paragraph about what the
     question names (`answers_question`), and a question that repeats a quote but for one word or
     name is a look-alike unless the two words mean the same (`reworded`, which the caller puts to
     the generator, unless they are `opposites` by a prefix), as is a question that adds or drops a
     negation of what a quote states (`flipped_negation`).
The supporting span is that closest sentence plus any sentence holding one of the facts: the
citation's quote is exactly `briefing.text[start:end]` of that span.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

from rapidfuzz.distance import Levenshtein

from briefbot.briefing import sentence_spans
from briefbot.span import Citation, Passage
from briefbot.text import ORDINARY_WORDS, REFUSAL_PATTERN, SENTENCE_OPENERS, STOPWORDS, WORD, content_words, normalise

CITATION = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A range ("10–15") is one fact: its endpoints alone must not vouch for a garbled "15–15".
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:\s*[–—-]\s*\d+(?:[.,]\d+)*)?")
_NAME = re.compile(r"\b[A-Z][\w’'\-.]*\w|\b[A-Z]\b")
MIN_WORD_COVERAGE = 0.7


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    cited: tuple[int, ...]


def split_answer(text: str) -> list[AnswerSentence]:
    """Sentences of a generated answer with the [n] markers that follow them.

    A marker the sentence splitter put at the start of the next sentence ("… 25,000. [2] It …")
    still belongs to the sentence before it.
    """
    sentences: list[AnswerSentence] = []
    for start, end in sentence_spans(text):
        piece = text[start:end]
        leading = re.match(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\][.!?]?)+", piece)
        if leading and sentences:
            previous = sentences.pop()
            sentences.append(AnswerSentence(previous.text, previous.cited + _cited(leading.group())))
            piece = piece[leading.end() :]
        plain = re.sub(r"\s+([.!?])", r"\1", CITATION.sub("", piece)).strip()
        if re.search(r"\w", plain):
            sentences.append(AnswerSentence(plain, _cited(piece)))
    return sentences


def _cited(text: str) -> tuple[int, ...]:
    return tuple(int(n) for group in CITATION.findall(text) for n in re.split(r"[,;]", group))


def is_refusal(sentence: str) -> bool:
    return bool(REFUSAL_PATTERN.search(sentence))


def numbers(text: str) -> set[str]:
    """Numbers as a sentence states them; a range is kept whole, as "10-15"."""
    return {re.sub(r"\s*[–—-]\s*", "-", match.replace(",", "")) for match in _NUMBER.findall(text)}


def numbers_stated(text: str) -> set[str]:
    """Numbers a passage vouches for: each range whole and each of its ends ("10–15%" backs "15%")."""
    found = numbers(text)
    return found | {end for number in found for end in number.split("-")}


def names(text: str, source: str = "") -> set[str]:
    """Capitalised words, except ordinary words and a first word capitalised only for starting the
    sentence. `source` (the briefing) tells which a first word is: one it writes in lower case more
    often than it capitalises it mid-sentence ("Currently") is not a name, one it capitalises
    mid-sentence at least as often is ("Kazakhstan hosts the Russian air base in Kant" gets the
    country wrong; "Newton" is a name though "the newton" is a unit). Any other first word ("Today")
    counts only when the next word is capitalised too ("Emomali Rahmon"); a first word that is a
    function word ("Did Davies …") never does."""
    found = set()
    for match in _NAME.finditer(text):
        word = match.group()
        if word.lower() in ORDINARY_WORDS or word.lower() in SENTENCE_OPENERS:
            continue
        if _SENTENCE_START.search(text[: match.start()]) and not word.isupper():
            if word.lower() in STOPWORDS:
                continue
            lower, mid_sentence = _written_lower(word, source), _named_mid_sentence(word, source)
            if lower > mid_sentence:
                continue
            next_word = text[match.end() :].split(maxsplit=1)
            if not mid_sentence and not (next_word and next_word[0][:1].isupper()):
                continue
        found.add(word)
    return found


# Where a word starts a sentence: at the start of the text or after a sentence's end, past any
# spaces, quotes or brackets ("Where does it go? Through which borders?").
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"”’)\]]*\s)[\s“\"‘'(]*$")
# Something other than a sentence's end before the word, past any spaces, quotes or brackets.
_MID_SENTENCE = r"[^.!?:\n \t“\"‘'(][ \t“\"‘'(]*"


@functools.lru_cache(maxsize=4096)
def _named_mid_sentence(word: str, source: str) -> int:
    """How often `source` capitalises `word` where no sentence starts: "Securing the border …" opens
    a sentence of the briefing, "… into Kazakhstan and Russia" names a country."""
    return len(re.findall(rf"{_MID_SENTENCE}\b{re.escape(word)}\b", source))


@functools.lru_cache(maxsize=4096)
def _written_lower(word: str, source: str) -> int:
    return len(re.findall(rf"\b{re.escape(word.lower())}\b", source))


# A word starts at a letter or digit: a quote mark before it ("'Phags-pa", "'Moscow'") is no part of it.
_HAYSTACK_WORD = re.compile(r"\w(?:[\w’'.]*\w)?")


def _same_name(name: str, word: str) -> bool:
    """Whole words that are one name in two forms: one starts the other, or they differ only in the
    last letter of the shorter ('Russian'/'Russia', 'Chinese'/'China', 'Tajik'/'Tajikistan'), with a
    shared stem of four letters or more. 'Iran' is not 'Iraq', 'Austria' not 'Australia'."""
    if name == word:
        return True
    shorter = min(len(name), len(word))
    shared = next((i for i, (a, b) in enumerate(zip(name, word)) if a != b), shorter)
    return shared >= 4 and shared >= shorter - 1


# Letters Unicode does not decompose into a base letter and a diacritic ("Bolesław" is no "l" + mark).
_UNDECOMPOSED = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i"})


def _unaccented(text: str) -> str:
    """'Temür' as 'Temur', 'Bolesław' as 'Boleslaw': a question, or the generator copying a name,
    often drops its diacritics."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED)) if not unicodedata.combining(ch))


def _folded(text: str, keep_case: bool) -> str:
    """The form names are compared in: plain apostrophes, no diacritics, lower case unless `keep_case`."""
    return _unaccented(text.replace("’", "'") if keep_case else normalise(text))


@functools.lru_cache(maxsize=1024)
def _text_words(text: str, keep_case: bool) -> tuple[str, ...]:
    return tuple(word.removesuffix("'s") for word in _HAYSTACK_WORD.findall(_folded(text, keep_case)))


def _name_occurs(name: str, text: str) -> bool:
    """Whether the name stands in the text as a word (not inside one: 'Oman' is not in 'economic');
    an acronym keeps its case ('IS' is not 'is')."""
    acronym = name.isupper() and len(name) > 1
    words = _text_words(text, acronym)
    # A hyphenated name ("Tajik-Afghan", "Al-Qaeda", "GBU-43") stands where each of its parts does,
    # a lower-case part aside: "Syria-style" names Syria.
    parts = [_folded(part, acronym) for part in name.removesuffix("'s").removesuffix("’s").split("-") if part and not (part.isalpha() and part.islower())]
    return all(
        any(_same_name(part, word) for word in words) or (acronym and (_spelled_out(part, text) or _written_as_name(part, words)))
        for part in parts
    )


def _written_as_name(acronym: str, words: tuple[str, ...]) -> bool:
    """Whether the text's words (case kept) write an acronym of three letters or more as a
    capitalised word: "DATANET" as "Datanet", "NATO" as "Nato". A shorter one ("IS", "US") would be
    found in "Is" or "Us" opening a sentence."""
    return len(acronym) >= 3 and any(word[:1].isupper() and word.lower() == acronym.lower() for word in words)


def _spelled_out(acronym: str, text: str) -> bool:
    """Whether the text writes the acronym's words out: "EU" in "the European Union", "NSF" in
    "the National Science Foundation", skipping the small words inside a name."""
    if not acronym.isalpha() or len(acronym) < 2:
        return False
    joint = r"[\w’'-]*\s+(?:(?:of|the|and|for)\s+)*"
    return re.search(r"\b" + joint.join(acronym) + r"[\w’'-]*", text) is not None


_NEGATIONS = frozenset("no not never none nobody nothing neither nor without cannot".split())
# How far a negation reaches: "No peace talks, the Taliban claimed, were possible" negates the talks.
NEGATION_SCOPE = 4


def _words_of(text: str) -> list[str]:
    return WORD.findall(re.sub(r"n['’]t\b", " not", normalise(text)))


def polarity(text: str) -> int:
    """How many negations a text has."""
    return sum(word in _NEGATIONS for word in _words_of(text))


def negation_differs(claim: str, quote: str) -> bool:
    """Whether the claim drops or adds a negation of what it says: its own negations against those of
    the quote that reach one of the claim's words (a "not" in a clause the claim leaves out is not
    dropped: "Whether the Taliban would take part was uncertain" is true of a quote that goes on
    "No peace talks were possible")."""
    claimed = set(_words_of(claim)) - STOPWORDS - _NEGATIONS
    quoted = _words_of(quote)
    reaching = sum(
        word in _NEGATIONS and bool(claimed & set(quoted[i + 1 : i + 1 + NEGATION_SCOPE])) for i, word in enumerate(quoted)
    )
    return polarity(claim) != reaching


# Where a quote's clauses meet: a comma, semicolon, colon, bracket or spaced dash followed by a
# space, or a sentence end. "50,000" and "Tajik–Afghan" are no boundaries.
_CLAUSE_BOUNDARY = re.compile(r"[,;:)]\s+|\s+[(]|\s+[–—-]\s+|[.!?][\"”’)]*\s+")
# A dropped clause that says who claims it, how sure it is, or under what condition, changes what
# the rest asserts: "According to X, Y", "By all accounts, Y" and "Y, if X" are not "Y".
_QUALIFYING_CLAUSE = re.compile(
    r"\b(according|said|says|say|claim\w*|report\w*|believ\w*|alleg\w*|estimat\w*|accounts|apparently|seemingly|supposedly"
    r"|presumably|probably|possibly|perhaps|likely|if|unless|until|except|provided|whether)\b",
    re.IGNORECASE,
)


def _clauses(quote: str) -> list[tuple[str, list[str]]]:
    """The quote's clauses that hold words, each with its words."""
    pieces = [(clause, _words_of(clause)) for clause in _CLAUSE_BOUNDARY.split(quote)]
    return [(clause, words) for clause, words in pieces if words]


def is_copy(claim: str, quote: str) -> bool:
    """The claim is one or more whole clauses of the quote, word for word, with no negation dropped
    and no qualifying clause of the quote left out.

    Whole clauses because a copy cut inside one can drop what qualifies it: "50,000 Huguenots fled"
    out of "an estimated 50,000 Huguenots fled", or "Abercrombie refused to take any significant
    actions" out of "... until Loudoun approved them".
    """
    words = _words_of(claim)
    if not words or negation_differs(claim, quote):
        return False
    clauses = _clauses(quote)
    for first in range(len(clauses)):
        joined: list[str] = []
        for last in range(first, len(clauses)):
            joined += clauses[last][1]
            if joined == words:
                dropped = clauses[:first] + clauses[last + 1 :]
                return not any(_QUALIFYING_CLAUSE.search(clause) for clause, _ in dropped)
            if len(joined) >= len(words):
                break
    return False


def facts(sentence: str) -> list[str]:
    return sorted(numbers(sentence)) + sorted(names(sentence))


def fact_in(fact: str, text: str) -> bool:
    if fact[0].isdigit():
        return fact in numbers_stated(text)
    return _name_occurs(fact, text)


_PERSON_NOUNS = (
    "commanders?|leaders?|officials?|ministers?|presidents?|generals?|envoys?|diplomats?|ambassadors?|spokes\\w*"
    "|heads?|chiefs?|representatives?|persons?|people|m[ae]n|wom[ae]n|officers?|analysts?|experts?"
)
# "Which US commander ordered …" asks for a person just as "Who ordered …" does; "What is the
# general term …" does not.
_ASKS_FOR_NAME = re.compile(
    rf"\s*(who|whom|whose)\b|\s*(which|what)\s+((?!(is|are|was|were|the|a|an)\b)[\w.’'-]+\s+){{0,2}}?({_PERSON_NOUNS})\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
# An amount in words answers "how long/many" too: "nearly three hundred years", "less than a year".
_AMOUNT_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
    r"|hundreds?|thousands?|millions?|billions?|dozens?|half|(?<=\ba )(year|month|week|day|decade|century))\b",
    re.IGNORECASE,
)
_ASKS_FOR_NUMBER = re.compile(
    r"\s*(how (many|much|long|far|big|large|old|high)|what (percentage|percent|proportion|share|number|fraction))\b", re.IGNORECASE
)
# "In what year …?" needs a year, "which century" an ordinal. A plain "when" does not: "after
# liberation" and "before World War I" answer it.
_ASKS_FOR_YEAR = re.compile(r"\s*((in|during|by|after|before|since|until|from|to)\s+)?(what|which)\s+(year|century|decade|date)\b", re.IGNORECASE)
_ORDINALS = re.compile(
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth"
    r"|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-first)\b",
    re.IGNORECASE,
)


def asks_for_year(question: str) -> bool:
    """"In what year …?", "Which century …?": the question wants a year or an ordinal."""
    return _ASKS_FOR_YEAR.match(question) is not None


def answers_question(question: str, sentences: list[str], topic: str, paragraphs: list[str], source: str = "") -> bool:
    """Whether supported sentences give the kind of fact the question asks for.

    A true sentence near the topic is not an answer: "Who leads the Taliban?" answered with what
    the Taliban control names nobody. "Who" (or "which commander") needs a name that is neither in
    the question nor in `topic` (the briefing's front matter: "Afghan", "Russia" name no one in
    particular; `source`, the briefing text, tells a name from a capitalised first word);
    "how many/much/long" needs an amount in words ("three hundred", "a year") or a number the
    question does not contain, the number stated in one of
    `paragraphs` (those around the retrieved passages) that also names everything the question
    names: the 1344 km of the "Tajik–Afghan border" do not answer "How long is the Turkmen–Afghan
    border?" although "Turkmen" stands in the next paragraph. "In what year/century" needs a number
    the question does not contain, or an ordinal ("the nineteenth century").
    """
    asks_for_name = _ASKS_FOR_NAME.match(question)
    if asks_for_name:
        known = question + " " + topic
        # "Which commander" asks for a person, whom an acronym ("IS", "NATO") does not name.
        person = asks_for_name.group(5) is not None
        # A quoted phrase ("the Mother Of All Bombs") is a term, not somebody's name.
        given = {word for sentence in sentences for word in names(_QUOTED.sub(" ", sentence), source)}
        return any(not fact_in(word, known) and not (person and word.isupper()) for word in given)
    if _ASKS_FOR_NUMBER.match(question):
        asked, subjects = numbers(question), names(question)
        about_subjects = [p for p in paragraphs if all(fact_in(name, p) for name in subjects)]
        given = {number for sentence in sentences for number in numbers(sentence)} - asked
        worded = {m.group().lower() for sentence in sentences for m in _AMOUNT_WORDS.finditer(sentence)}
        return any(fact_in(number, p) for number in given for p in about_subjects) or bool(worded - set(_words_of(question)))
    if asks_for_year(question):
        given = {number for sentence in sentences for number in numbers(sentence)} - numbers(question)
        ordinals = {m.group().lower() for sentence in sentences for m in _ORDINALS.finditer(sentence)}
        return bool(given or ordinals - set(_words_of(question)))
    return True


# What may stand between the words of one name: "Bank of the North", "Duke of York".
_NAME_JOINT = re.compile(r"\s+(?:(?:of|the|de|du|von|van|der|la)\s+)*")


def name_phrases(text: str, source: str = "") -> list[tuple[str, ...]]:
    """The text's names (`names`), with the words of one name together: ("Anna", "Berg")."""
    kept = names(text, source)
    phrases: list[tuple[str, ...]] = []
    last_end = None
    for match in _NAME.finditer(text):
        if match.group() not in kept:
            last_end = None
            continue
        if last_end is not None and _NAME_JOINT.fullmatch(text[last_end : match.start()]):
            phrases[-1] += (match.group(),)
        else:
            phrases.append((match.group(),))
        last_end = match.end()
    return phrases


def unnamed_in(question: str, contexts: list[str], source: str = "") -> str | None:
    """The first name of the question that none of `contexts` names, or None.

    A passage that never names whom or what the question is about does not answer it, however close
    its words: adversarial questions swap one name for another ("When did the Danish fleet sail?"
    of a text about the Dutch fleet), or one word of a name ("the Kern National Museum" for "the Berg
    National Museum"), so each word of a name must stand in the contexts.
    """
    context = " ".join(contexts)
    for phrase in name_phrases(question, source):
        if not all(fact_in(word, context) for word in phrase):
            return " ".join(phrase)
    return None


# How many words the same on one side of a changed word make the question a rewrite of the quote
# (inside the question the word must also have a matched word on its other side).
REWORDED_ANCHOR = 2


def _same_word(one: str, other: str) -> bool:
    """Another form or a misspelling of one word: "gain" and "gained", "tesion" and "tension",
    "center" and "centre" (but "connected" is not "unconnected")."""
    distance = Levenshtein.distance(one, other)
    shared = len(os.path.commonprefix([one, other]))
    shorter = min(len(one), len(other))
    # Two letters apart is another word when the words are short ("old" and "of").
    return distance <= 1 or (distance <= 2 and one[0] == other[0] and shorter >= 5) or shared >= 5 or (shared >= 3 and shared >= 0.7 * shorter)


# Prefixes that make a word its opposite: "unsolved", "inconsistent", "misunderstandings".
_NEGATING_PREFIXES = ("un", "non", "in", "im", "il", "ir", "dis", "mis")


def opposites(one: str, other: str) -> bool:
    """Whether one word is the other with a negating prefix, which a synonym check can miss: the
    1.5B model calls "understandings" and "misunderstandings" the same."""
    one, other = one.lower(), other.lower()
    return any(one == prefix + other or other == prefix + one for prefix in _NEGATING_PREFIXES)


class Rewording(NamedTuple):
    word: str  # the question's
    replacement: str  # the quote's, in its place
    sentence: str  # the quote's sentence


def _cased_words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", re.sub(r"n['’]t\b", " not", _unaccented(text)))


def reworded(question: str, quotes: str) -> Rewording | None:
    """Where the question repeats the words of the quotes' sentence closest to it but puts one word
    in place of one of them, or one name in place of another, or None.

    SQuAD 2.0's unanswerable questions are written so ("Specific relativity offers an equivalence
    between what?" of "General relativity offers an equivalence between space-time and mass", "How
    were TRANSPAC and TYMNET modified?" of "networks such as TELENET and TYMNET were modified"): a
    look-alike the sentence does not answer. A synonym is also such a word ("needed" for
    "required"), so the caller asks the generator whether the two mean the same.
    """
    asked = _cased_words(question)
    closest, said = _closest_sentence(asked, quotes)
    # A word another quoted sentence has is no change: "Who was his father?" of quotes naming the
    # father in one sentence and the mother in the one closest to the question.
    quoted = {w.lower() for w in _cased_words(quotes)} - STOPWORDS
    for i, j, one_word in _changed_words([w.lower() for w in asked], [w.lower() for w in said]):
        word, instead = asked[i].lower(), said[j].lower()
        if any(_same_word(word, w) for w in quoted):
            continue
        if one_word and not any(len(w) < 3 or w in STOPWORDS for w in (word, instead)) and not word.isdigit():
            return Rewording(word, instead, closest)
        if _is_name(asked, i) and _is_name(said, j) and not (asked[i].isupper() and _spelled_out(asked[i], closest)):
            return Rewording(asked[i], said[j], closest)
    return None


def _closest_sentence(asked: list[str], quotes: str) -> tuple[str, list[str]]:
    """The quoted sentence that shares most words with the question, and its words."""
    lowered = {word.lower() for word in asked}
    worded = [(quotes[start:end], _cased_words(quotes[start:end])) for start, end in sentence_spans(quotes)]
    return max(worded, key=lambda pair: len(lowered & {w.lower() for w in pair[1]}), default=("", []))


def _differences(asked: list[str], said: list[str]) -> Iterator[tuple[str, int, int, int, int, int, int]]:
    """difflib's (tag, i1, i2, j1, j2) for each run where the two differ, with how many words the
    two share right before it and right after it."""
    blocks = difflib.SequenceMatcher(None, asked, said, autojunk=False).get_opcodes()

    def matched(k: int) -> int:
        return blocks[k][2] - blocks[k][1] if 0 <= k < len(blocks) and blocks[k][0] == "equal" else 0

    for k, (tag, i1, i2, j1, j2) in enumerate(blocks):
        if tag != "equal":
            yield tag, i1, i2, j1, j2, matched(k - 1), matched(k + 1)


def _changed_words(asked: list[str], said: list[str]) -> Iterator[tuple[int, int, bool]]:
    """(i, j, whether only that word changed) for each word asked[i] standing where said[j] stands:
    next to a run of words the two share (`REWORDED_ANCHOR` of them), where the rest differs."""
    for tag, i1, i2, j1, j2, left, right in _differences(asked, said):
        if tag != "replace":
            continue
        if i2 - i1 == 1 and j2 - j1 == 1:
            inside = 0 < i1 and i2 < len(asked)
            if max(left, right) >= REWORDED_ANCHOR and (not inside or min(left, right) >= 1):
                yield i1, j1, True
                continue
        # Where more words differ, only the word next to the shared run is compared, and only as a name.
        if right >= REWORDED_ANCHOR:
            yield i2 - 1, j2 - 1, False
        if left >= REWORDED_ANCHOR:
            yield i1, j1, False


# A question that opens so, after a phrase or not ("In 1972, did …"), asks yes or no, and "No, the
# talks did not take place" answers it.
_ASKS_YES_OR_NO = re.compile(r"\s*([^,?]{1,40},\s*)?(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might|must)\b", re.IGNORECASE)


def flipped_negation(question: str, quotes: str) -> Rewording | None:
    """Where the question puts a negation before words a quoted sentence states without one, or
    drops one the sentence puts before them, or None.

    More of SQuAD 2.0's look-alikes: the question asks about the opposite of what the quote says,
    and no synonym makes it the same. "What has Islamism been interdependent with following the
    non-Arab Spring?" of "Following the Arab Spring, …": "non" belongs to the words after it, so
    those suffice. "What is not strictly contained in EXPTIME?" of "PSPACE is strictly contained in
    EXPTIME": a "not" may open an inverted question ("Why haven't the guards faced …?"), so it must
    stand between words of the closest sentence, in that sentence's order. "What algorithm is always
    practical?" of "… is not always practical": a question without the quote's "not" or "never",
    unless it asks yes or no (answered by the denial).
    """
    asked = _cased_words(question)
    lowered = [word.lower() for word in asked]
    sentences = [quotes[start:end] for start, end in sentence_spans(quotes)]
    quoted = [[word.lower() for word in _cased_words(sentence)] for sentence in sentences]
    return (
        _added_non(asked, lowered, sentences, quoted)
        or _added_not(asked, lowered, quotes)
        or _dropped_negation(question, lowered, sentences, quoted)
    )


def _joined(words: list[str]) -> str:
    """The words between spaces, so that a run of words is found as a substring only whole."""
    return f" {' '.join(words)} "


def _added_non(asked: list[str], lowered: list[str], sentences: list[str], quoted: list[list[str]]) -> Rewording | None:
    for i in (i for i, word in enumerate(lowered) if word == "non" and i + REWORDED_ANCHOR < len(lowered)):
        run = _joined(lowered[i + 1 : i + 1 + REWORDED_ANCHOR])
        if not any(f" non{run}" in _joined(words) for words in quoted):
            holding = [sentence for sentence, words in zip(sentences, quoted) if run in _joined(words)]
            if holding:
                phrase = asked[i : i + 1 + REWORDED_ANCHOR]
                return Rewording(" ".join(phrase), " ".join(phrase[1:]), holding[0])
    return None


def _added_not(asked: list[str], lowered: list[str], quotes: str) -> Rewording | None:
    closest, said = _closest_sentence(asked, quotes)
    for tag, i1, i2, _, _, left, right in _differences(lowered, [word.lower() for word in said]):
        if tag == "delete" and all(word in _NEGATIONS for word in lowered[i1:i2]) and min(left, right) >= 1 and max(left, right) >= REWORDED_ANCHOR:
            return Rewording(" ".join(asked[i1 : i2 + right]), " ".join(asked[i2 : i2 + right]), closest)
    return None


def _dropped_negation(question: str, lowered: list[str], sentences: list[str], quoted: list[list[str]]) -> Rewording | None:
    if _ASKS_YES_OR_NO.match(question) or any(word in _NEGATIONS or word == "non" for word in lowered):
        return None
    for sentence, words in zip(sentences, quoted):
        # Only a negated verb or attribute: "No peace talks were possible while …" answers "What was
        # the condition for peace talks?", whose talks the quote's "no" does not deny.
        for j in (j for j, word in enumerate(words) if word in ("not", "never")):
            run = words[j + 1 : j + 1 + REWORDED_ANCHOR]
            if len(run) == REWORDED_ANCHOR and not all(word in STOPWORDS for word in run) and _joined(run) in _joined(lowered):
                return Rewording(" ".join(run), " ".join(words[j : j + 1 + REWORDED_ANCHOR]), sentence)
    return None


def _is_name(words: list[str], position: int) -> bool:
    """Capitalised where no sentence starts, and no ordinary word: a name."""
    word = words[position]
    return position > 0 and word[:1].isupper() and word.lower() not in ORDINARY_WORDS


# "Whether or not" asks nothing negative; "non-binary" does.
_EITHER_WAY = re.compile(r"\bor not\b")


def _denials(text: str) -> int:
    return sum(word in _NEGATIONS or word == "non" for word in _words_of(_EITHER_WAY.sub(" ", normalise(text))))


def asks_negated(question: str, quotes: str) -> bool:
    """Whether the question asks what is not so ("What is not a binary string?") of quotes that deny
    nothing: another of SQuAD 2.0's look-alikes, though a quote may also deny in other words
    ("failed to", "lacks")."""
    return _denials(question) > 0 and _denials(quotes) == 0


def keeps_follow_up(question: str, standalone: str) -> bool:
    """Whether a condensed question still asks what the follow-up asked: every content word of the
    follow-up, all but its pronouns, is still there."""
    return content_words(question) <= content_words(standalone)


class Verifier:
    def __init__(
        self,
        embed_model,
        threshold: float,
        source: str = "",
        entail: Callable[[str, str], float | None] | None = None,
        entail_threshold: float | None = None,
        quote_threshold: float | None = None,
    ):
        """`source`: the briefing texts, which tell a name from a capitalised first word (`names`).
        `entail(claim, quote)`: the generator's yes/no margin that the quote states the claim; with
        `entail_threshold` None no paraphrase is ever shown, only copies and quotes. Below
        `quote_threshold` the quote may not stand in for the claim either (None: not asked)."""
        self.embed_model = embed_model
        self.threshold = threshold
        self.source = source
        self.entail = entail
        self.entail_threshold = entail_threshold
        self.quote_threshold = quote_threshold
        self._sentence_cache: dict[str, tuple[list[tuple[int, int]], object]] = {}

    def follows(self, claim: str, quote: str) -> tuple[str, float | None]:
        """How the claim follows from its quote: ("copy", None), ("entailed", margin), ("no", margin)
        when it may not (a negation dropped or added, or the check is unsure or missing), or
        ("denied", margin) when the generator judges that the quote does not state it.

        Word checks cannot see who did what to whom; the generator's own yes/no judgement can, but it
        misses dropped negations (it said Yes to "peace talks were possible" against "No peace talks
        were possible"), so a negation mismatch is never left to it. Such a claim's quote still
        answers what the claim got backwards, so it is never "denied" either.
        """
        if negation_differs(claim, quote):
            return "no", None
        if is_copy(claim, quote):
            return "copy", None
        if self.entail is None or (self.entail_threshold is None and self.quote_threshold is None):
            return "no", None
        margin = self.entail(claim, quote)
        if margin is None:
            return "no", None
        if self.entail_threshold is not None and margin >= self.entail_threshold:
            return "entailed", margin
        if self.quote_threshold is not None and margin < self.quote_threshold:
            return "denied", margin
        return "no", margin

    def _passage_sentences(self, passage: Passage):
        """Sentence spans (absolute offsets) and their embeddings, cached per chunk."""
        import numpy as np

        if passage.chunk_id not in self._sentence_cache:
            spans = [(passage.start + s, passage.start + e) for s, e in sentence_spans(passage.text)]
            texts = [passage.text[s - passage.start : e - passage.start] for s, e in spans]
            vectors = np.array(self.embed_model.get_text_embedding_batch(texts))
            self._sentence_cache[passage.chunk_id] = (spans, vectors)
        return self._sentence_cache[passage.chunk_id]

    def support(self, sentence: AnswerSentence, passages: list[Passage], question: str = "") -> tuple[Citation, ...] | None:
        """The parts of passages that support the sentence; None if unsupported.

        Every number must stand in a supporting passage itself. Every name must stand in the
        paragraph a supporting span comes from, in the question (an answer may restate who is asked
        about) or in the front matter (the briefing's topic: "the Kremlin", "Afghanistan"): a true
        sentence about base No.201 does not vouch for "the Russian base in Ashgabat" because
        Ashgabat is named two paragraphs earlier.
        """
        import numpy as np

        sentence_names = names(sentence.text, self.source)
        retrieved = " ".join(p.text for p in passages) + " " + question
        if any(not fact_in(name, retrieved) for name in sentence_names):
            return None
        by_number = {p.n: p for p in passages}
        shared = question + " " + " ".join(p.text for p in passages if p.front_matter)

        def names_stand(spans: tuple[Citation, ...]) -> bool:
            context = shared + " " + " ".join(by_number[span.n].context for span in spans)
            return all(fact_in(name, context) for name in sentence_names)

        cited = [by_number[n] for n in dict.fromkeys(sentence.cited) if n in by_number]
        ordered = cited + [p for p in passages if p not in cited]
        vector = np.array(self.embed_model.get_text_embedding(sentence.text))
        needed = numbers(sentence.text)
        closeness = {p.n: self._closeness(p, vector) for p in ordered}
        # The passage with the sentence closest in meaning supports it, whichever the model cited:
        # a sentence copied from the body but cited to the lede must cite the body.
        holders = [p for p in ordered if needed <= numbers_stated(p.text)]
        holders.sort(key=lambda p: -closeness[p.n])
        for passage in holders:
            span = self._closest_span(sentence.text, sentence_names, vector, passage, needed)
            if span is not None and names_stand((span,)):
                return (span,)
        # A sentence may join facts from neighbouring chunks: the closest passage carries its meaning,
        # and each number it lacks is cited where it stands, though never in the front matter, whose
        # date is when the briefing was published, not when an event happened ("the GBU-43 was
        # dropped on 25 April 2017").
        best = max(ordered, key=lambda p: closeness[p.n], default=None)
        if best is None or not needed <= numbers_stated(retrieved):
            return None
        main = self._closest_span(sentence.text, sentence_names, vector, best, needed & numbers_stated(best.text))
        if main is None:
            return None
        spans = [main]
        for number in sorted(needed - numbers_stated(best.text)):
            holder = next((p for p in ordered if number in numbers_stated(p.text) and not p.front_matter), None)
            if holder is None:
                return None
            spans.append(self._closest_span(sentence.text, sentence_names, vector, holder, {number}, require_similarity=False))
        return tuple(spans) if names_stand(tuple(spans)) else None

    def closest_quote(self, sentence: AnswerSentence, passages: list[Passage]) -> Citation | None:
        """The passage sentence closest in meaning to an unsupported sentence, to show verbatim in its
        place; None when none is close. The generator often gets a copy slightly wrong ("15–15%" for
        "10–15%", a country added to a list), and the source's own words are true whatever it got wrong."""
        import numpy as np

        if not passages:
            return None
        vector = np.array(self.embed_model.get_text_embedding(sentence.text))
        best = max(passages, key=lambda p: self._closeness(p, vector))
        return self._closest_span(sentence.text, set(), vector, best, set())

    def _closeness(self, passage: Passage, vector) -> float:
        """How close in meaning the passage's closest sentence is to the embedded sentence."""
        import numpy as np

        return float(np.max(self._passage_sentences(passage)[1] @ vector))

    def _closest_span(
        self, sentence: str, sentence_names: set[str], vector, passage: Passage, facts_here: set[str], require_similarity: bool = True
    ) -> Citation | None:
        """The passage sentence closest in meaning, plus the closest one holding each fact it lacks."""
        import numpy as np

        spans, vectors = self._passage_sentences(passage)
        similarities = vectors @ vector
        best = int(np.argmax(similarities))
        words = content_words(sentence)
        coverage = len(words & content_words(passage.text)) / len(words) if words else 0.0
        if require_similarity and similarities[best] < self.threshold and coverage < MIN_WORD_COVERAGE:
            return None
        texts = [passage.text[s - passage.start : e - passage.start] for s, e in spans]
        chosen = {best}
        wanted = facts_here | {name for name in sentence_names if fact_in(name, passage.text)}
        for fact in sorted(wanted):
            if any(fact_in(fact, texts[i]) for i in chosen):
                continue
            holders = [i for i, text in enumerate(texts) if fact_in(fact, text)]
            if holders:
                chosen.add(max(holders, key=lambda i: similarities[i]))
        return passage.cite(min(spans[i][0] for i in chosen), max(spans[i][1] for i in chosen))

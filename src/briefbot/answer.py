"""Answer results, and the step from generated text to verified, cited sentences."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

from briefbot.briefing import Briefing, sentence_before
from briefbot.span import Citation, Passage
from briefbot.verify import (
    AnswerSentence,
    Rewording,
    Verifier,
    answers_question,
    asks_negated,
    flipped_negation,
    is_refusal,
    opposites,
    reworded,
    split_answer,
    unnamed_in,
)

CLOSEST_PASSAGES_ON_REFUSAL = 3


@dataclass
class Timings:
    retrieve: float = 0.0
    # First verified text shown to the user; the model's own first token comes earlier, because a
    # sentence is shown only once it is complete and supported.
    first_token: float | None = None
    total: float = 0.0
    model_first_token: float | None = None
    # When the generator's last token came: from there to first_token the checks ran.
    model_last_token: float | None = None


@dataclass
class Answer:
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    standalone_question: str = ""
    timings: Timings = field(default_factory=Timings)
    sentences: list[ShownSentence] = field(default_factory=list)
    refusal_reason: str = ""  # for a refusal: which step found no shown answer
    # The generator's yes−no margin that the supported sentences answer the question (AnswerPolicy);
    # None when it was not asked. Recorded for answers too, so a run can be re-read at other thresholds.
    answer_margin: float | None = None
    # What retrieval gave the generator, [1] first; a refusal's closest passages are among them.
    passages: list[Passage] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON form: the citations carry the quoted words; the passages stay in the index."""
        data = asdict(replace(self, citations=[], passages=[]))
        del data["passages"]
        data["citations"] = [citation.to_dict() for citation in self.citations]
        return data


@dataclass(frozen=True)
class ShownSentence:
    """One sentence of an answer, how it was checked against its quote, and the citations it rests on.

    `check`: "copy" (the quote's own words), "entailed" (the generator judged that the quote states it)
    or "quoted" (the generated sentence could not be shown, so the passage sentence it rests on, or
    for an unsupported one the closest, is shown verbatim in its place). `margin`: the generator's
    yes−no logit margin that the quote states the generated sentence, when it was asked.
    """

    text: str
    check: str
    cites: tuple[int, ...]
    margin: float | None = None


@dataclass
class VerifiedSentence:
    text: str
    spans: tuple[Citation, ...]
    # ShownSentence's checks, or "denied": the quote does not state the claim, and AnswerPolicy refuses.
    check: str = "copy"
    margin: float | None = None
    # What the generator wrote, which `text` shows or, when it did not follow, replaces by its quote.
    claim: str = ""

    def shown(self) -> ShownSentence:
        return ShownSentence(self.text, self.check, tuple(dict.fromkeys(s.n for s in self.spans)), self.margin)


def verified_stream(
    raw: Iterator[str], passages: list[Passage], verifier: Verifier, question: str = ""
) -> Iterator[VerifiedSentence | None]:
    """Turn the generated text into supported sentences, checked once the generation is over.

    Yields None for a sentence that was dropped (no passage sentence is close to it, a refusal, or
    resting only on text an earlier sentence already showed: a quote and then a copy out of it would
    say one thing twice).
    The checks wait for the end because the generator's own yes/no judgement runs in the same model
    context, which must not change under a generation in progress.
    """
    text = "".join(raw)
    shown: list[Citation] = []
    for sentence in split_answer(text):
        verified = _check(sentence, passages, verifier, question)
        if verified is not None and all(_within(span, shown) for span in verified.spans):
            verified = None
        if verified is not None:
            shown += verified.spans
        yield verified


def _quoted(spans: tuple[Citation, ...]) -> str:
    return " ".join(f"“{' '.join(span.text.split())}” [{span.n}]" for span in spans)


def _within(span: Citation, shown: list[Citation]) -> bool:
    return any(span.n == s.n and s.start <= span.start and span.end <= s.end for s in shown)


def _check(sentence: AnswerSentence, passages: list[Passage], verifier: Verifier, question: str) -> VerifiedSentence | None:
    if is_refusal(sentence.text):
        return None
    spans = verifier.support(sentence, passages, question)
    if spans is None:
        closest = verifier.closest_quote(sentence, passages)
        # The claim is the quote itself: what the generator wrote is what the check found false.
        return None if closest is None else VerifiedSentence(_quoted((closest,)), (closest,), "quoted", None, closest.text)
    quotes = [span.text for span in spans]
    check, margin = verifier.follows(sentence.text, " ".join(quotes))
    if check == "denied":
        # Kept so that AnswerPolicy refuses the whole answer: the passage it picked is suspect too.
        return VerifiedSentence(_quoted(spans), spans, "denied", margin, sentence.text)
    if check == "no":
        # Rather than a sentence that may say more or other than its source, the source itself.
        return VerifiedSentence(_quoted(spans), spans, "quoted", margin, sentence.text)
    text = sentence.text
    ending = text[-1] if text[-1] in ".!?" else ""
    body = text[:-1] if ending else text
    markers = "".join(f"[{n}]" for n in dict.fromkeys(span.n for span in spans))
    return VerifiedSentence(f"{body} {markers}{ending or '.'}", spans, check, margin, sentence.text)


def citations_for(sentences: list[VerifiedSentence], passages: list[Passage], briefings: dict[str, Briefing]) -> list[Citation]:
    """One citation per cited passage, spanning the sentences that support the answer."""
    by_number = {p.n: p for p in passages}
    spans: dict[int, tuple[int, int]] = {}
    for sentence in sentences:
        for s in sentence.spans:
            start, end = spans.get(s.n, (s.start, s.end))
            spans[s.n] = (min(start, s.start), max(end, s.end))
    return [_cited(by_number[n], *spans[n], briefings) for n in sorted(spans)]


def _cited(passage: Passage, start: int, end: int, briefings: dict[str, Briefing]) -> Citation:
    return passage.cite(start, end, briefings[passage.doc_id].page_at(start))


def refusal(passages: list[Passage], briefings: dict[str, Briefing]) -> tuple[str, list[Citation]]:
    closest = [p for p in passages if not p.front_matter][:CLOSEST_PASSAGES_ON_REFUSAL] or passages[:1]
    citations = [_cited(p, p.start, p.end, briefings) for p in closest]
    if not closest:
        return "The briefing does not answer this question.", citations
    listed = ", ".join(f"[{p.n}] {p.section}" for p in closest)
    return f"The briefing does not answer this question. Closest passages: {listed}.", citations


class AnswerPolicy:
    """Whether verified sentences answer the question, not only say something true near it.

    First the word rules (a "who" needs a new name, a "how many" a number: verify.answers_question;
    every name of the question stands somewhere in the briefing: verify.unnamed_in; a question that
    negates what a quote states asks about its opposite: verify.flipped_negation; a question that repeats a
    quote but for one word means that word: verify.reworded, then the generator's `synonym`
    yes/no), then the generator's yes/no on the quotes the sentences rest on: SQuAD's
    adversarial questions ("Who created ARPANET?" where the text says who funded it) pass the word
    rules. When the quotes and the front matter never name something the question names, or deny
    nothing where the question asks what is not so, the yes/no must reach the surer
    `unnamed_threshold`: the quote may be about someone else ("the Dutch fleet sailed in 1652" for
    "When did the Danish fleet sail?"), though it may also just say "Moscow" for "the Kremlin". A name
    in the sentence just before a quote counts as the quote's: that is where "the country" or "it"
    most often points (the quote's whole paragraph would count the other names that adversarial
    questions swap in). The bot holds its sentences back until all agree, so a true sentence that is
    no answer becomes a refusal.
    """

    def __init__(
        self,
        texts: dict[str, str],
        answers: Callable[[str, str], float | None],
        threshold: float,
        unnamed_threshold: float,
        synonym: Callable[[str, str, str, str], float | None],
        synonym_threshold: float,
    ):
        """`texts`: each briefing's text by doc id; `answers(question, quotes)`: the generator's yes−no
        margin; `synonym(question, sentence, word, replacement)`: its margin that the two words mean the same."""
        self.texts = texts
        self.source = "\n".join(texts.values())
        self.answers = answers
        self.threshold = threshold
        self.unnamed_threshold = unnamed_threshold
        self.synonym = synonym
        self.synonym_threshold = synonym_threshold

    def judge(self, question: str, kept: list[VerifiedSentence], passages: list[Passage]) -> tuple[str | None, float | None]:
        """(None when the sentences answer the question, else why not; the generator's yes−no margin,
        None when it was not asked because the word rules already refused, or it cannot tell)."""
        denied = next((v for v in kept if v.check == "denied"), None)
        if denied is not None:
            # An answer to a question the briefing cannot answer often restates the question's false
            # premise, which no quote states (eval/results/claim-entail-probe/).
            return f"the generator wrote a sentence its quote does not state (yes−no margin {denied.margin:+.2f}), so its answer is not trusted", None
        topic = " ".join(p.text for p in passages if p.front_matter)
        paragraphs = [p.context for p in passages]
        # What the generator claimed is the answer, also when a quote is shown in its place: the
        # quote's quotation marks would hide every name, and its other names answer nothing.
        claims = [v.claim or v.text for v in kept]
        if not answers_question(question, claims, topic, paragraphs, self.source):
            return "the supported sentences do not give the kind of fact the question asks for (a new name, a number)", None
        unnamed = unnamed_in(question, [self.source], self.source)
        if unnamed:
            return f"the briefing never names “{unnamed}”, which the question asks about", None
        quotes = " ".join(" ".join(dict.fromkeys(s.text for v in kept for s in v.spans)).split())
        changed = flipped_negation(question, quotes) or self._changed_word(question, quotes)
        if changed:
            return f"the question asks about “{changed.word}” where the quote says “{changed.replacement}”", None
        threshold, why = self.threshold, ""
        lead_ins = dict.fromkeys(sentence_before(self.texts[s.doc_id], s.start) for v in kept for s in v.spans)
        unquoted = unnamed_in(question, [topic, quotes, *lead_ins], self.source)
        if unquoted and self.unnamed_threshold > threshold:
            threshold, why = self.unnamed_threshold, f"; the quotes never name “{unquoted}”"
        elif asks_negated(question, quotes) and self.unnamed_threshold > threshold:
            threshold, why = self.unnamed_threshold, "; the question asks what is not so, and the quotes deny nothing"
        margin = self.answers(question, quotes)
        if margin is not None and margin < threshold:
            return f"the generator judged that the supported sentences do not answer the question (yes−no margin {margin:+.2f} < {threshold:+.2f}{why})", margin
        return None, margin

    def _changed_word(self, question: str, quotes: str) -> Rewording | None:
        """The word the question puts in place of one of a quote's, when the two are opposites or the
        generator says it means something else (None when it cannot tell)."""
        changed = reworded(question, quotes)
        if changed is None or opposites(changed.word, changed.replacement):
            return changed
        margin = self.synonym(question, changed.sentence, changed.word, changed.replacement)
        return changed if margin is not None and margin < self.synonym_threshold else None

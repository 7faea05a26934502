"""BriefBot: retrieve, generate, verify; follow-ups are condensed into standalone questions."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator, Sequence

from briefbot.answer import Answer, AnswerPolicy, Timings, VerifiedSentence, citations_for, refusal, verified_stream
from briefbot.backends import Backend, make_backend
from briefbot.briefing import Briefing
from briefbot.errors import QuestionError
from briefbot.index import BriefingIndex, chroma_client, load_embedding_model, open_index
from briefbot.retrieve import HybridRetriever
from briefbot.settings import Settings
from briefbot.verify import Verifier, keeps_follow_up

log = logging.getLogger("briefbot")


# Answers stay far below this (max_tokens is at most 2,048); questions have their own, lower limit.
MAX_HISTORY_MESSAGE_CHARS = 20_000


def _printable(text: str) -> str:
    """Drop control characters, lone surrogates (undecodable bytes) and other unprintables.

    They carry no meaning for retrieval, can drive a terminal (ESC sequences) and cannot be encoded
    as UTF-8 for the answer's JSON; newlines and tabs stay.
    """
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t").strip()


def validate_question(question: object, limit: int) -> str:
    """The cleaned question, or QuestionError. Cheap: the CLI checks a question before loading models."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    cleaned = _printable(question)
    if not cleaned:
        raise QuestionError("the question is empty: type a question about the briefing")
    if len(cleaned) > limit:
        raise QuestionError(f"the question is {len(cleaned):,} characters long; the limit is {limit:,}")
    return cleaned


def validate_history(history: object, limit: int) -> list[dict]:
    """Cleaned {'role', 'content'} messages, or QuestionError naming the first bad message.

    User turns were questions, so they get the question limit; every turn is checked even though
    only the last few reach the model, so a broken client fails at once and not turns later.
    """
    if history is None:
        return []
    if not isinstance(history, list):
        raise QuestionError("history must be a list of {'role', 'content'} messages")
    messages = []
    for number, message in enumerate(history, start=1):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise QuestionError(
                f"history message {number} must be a dict with role 'user' or 'assistant' and content"
            )
        content = message.get("content")
        if not isinstance(content, str):
            raise QuestionError(f"history message {number} must have text content")
        content = _printable(content)
        most = limit if message["role"] == "user" else max(limit, MAX_HISTORY_MESSAGE_CHARS)
        if len(content) > most:
            raise QuestionError(f"history message {number} is {len(content):,} characters long; the limit is {most:,}")
        messages.append({"role": message["role"], "content": content})
    return messages


class BriefBot:
    """Question answering over the indexed briefings, composed of its parts. Thread-safe: the local model is locked.

    `BriefBot.from_settings` builds today's defaults; `assemble` puts them around an opened index and
    a generator (tests pass a fake one).
    """

    def __init__(
        self,
        settings: Settings,
        index: BriefingIndex,
        retriever: HybridRetriever,
        generator: Backend,
        verifier: Verifier,
        policy: AnswerPolicy,
    ):
        self.settings = settings
        self.index = index
        self.retriever = retriever
        self.generator = generator
        self.verifier = verifier
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: Settings | None = None, progress=None, isolated_backend: bool = False) -> "BriefBot":
        """Opens the briefings of `settings.briefings` (none: the shipped one), the index and the models.

        `isolated_backend`: the model runs in a worker process restarted after a crash (the web server's choice).
        """
        settings = settings or Settings()
        progress = progress or (lambda message: log.info(message))
        if settings.chroma_url:
            # An unreachable index server is reported before the embedding model spends seconds loading.
            chroma_client(settings, Path(settings.index_dir))
        progress("loading the embedding model…")
        embed_model = load_embedding_model()
        index = open_index(settings, embed_model=embed_model, progress=progress)
        retriever = HybridRetriever(index, settings.top_k)
        first = index.nodes[0].metadata["doc_id"] if index.nodes else None
        opening = retriever.opening(first) if first else None
        generator = make_backend(settings, embed_model, progress, opening=opening, isolated=isolated_backend)
        return cls.assemble(settings, index, generator, retriever)

    @classmethod
    def from_files(cls, paths: Sequence[Path | str], settings: Settings | None = None, **options) -> "BriefBot":
        """A bot over exactly these briefing files (.txt .md .html .pdf .docx), not the shipped one beside them."""
        settings = (settings or Settings()).model_copy(update={"briefings": [Path(p) for p in paths]})
        return cls.from_settings(settings, **options)

    @classmethod
    def assemble(
        cls, settings: Settings, index: BriefingIndex, generator: Backend, retriever: HybridRetriever | None = None
    ) -> "BriefBot":
        """Today's retriever, verifier and answer policy around an opened index and a generator."""
        texts = {doc_id: briefing.text for doc_id, briefing in index.briefings.items()}
        source = "\n".join(texts.values())
        verifier = Verifier(
            index.embed_model, settings.support_threshold, source, generator.entailment, settings.entail_threshold, settings.quote_threshold
        )
        policy = AnswerPolicy(
            texts, generator.answers, settings.answer_threshold, settings.unnamed_answer_threshold, generator.synonym, settings.synonym_threshold
        )
        return cls(settings, index, retriever or HybridRetriever(index, settings.top_k), generator, verifier, policy)

    def on_briefings(self, paths: Sequence[Path | str], progress=None) -> "BriefBot":
        """A bot over another briefing set that shares this one's models (the web chat's switch)."""
        settings = self.settings.model_copy(update={"briefings": [Path(p) for p in paths]})
        index = open_index(settings, embed_model=self.index.embed_model, progress=progress or (lambda m: None))
        return BriefBot.assemble(settings, index, self.generator)

    @property
    def texts(self) -> dict[str, str]:
        """Each briefing's text by doc id: what a citation's offsets point into."""
        return {doc_id: briefing.text for doc_id, briefing in self.index.briefings.items()}

    @property
    def briefings(self) -> list[Briefing]:
        """The briefings this bot answers about, in the order given."""
        return list(self.index.briefings.values())

    @property
    def briefing(self) -> Briefing:
        """The first (usually the only) briefing: title, date, lede, sections, pages, text."""
        return self.briefings[0]

    def ask(self, question: str) -> Answer:
        return self.chat(question, [])

    def chat(self, question: str, history: list[dict] | None = None) -> Answer:
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        return answer

    @staticmethod
    def _timed(raw: Iterator[str], timings: Timings, started: float) -> Iterator[str]:
        for delta in raw:
            timings.model_last_token = time.perf_counter() - started
            if timings.model_first_token is None:
                timings.model_first_token = timings.model_last_token
            yield delta

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Yield the verified answer text, then the final Answer. The text comes once the whole
        answer is generated and checked: a check may still turn it into a refusal."""
        started = time.perf_counter()
        question = validate_question(question, self.settings.max_question_chars)
        history = validate_history(history, self.settings.max_question_chars)
        standalone = self.generator.condense(history, question) if history else question
        if not keeps_follow_up(question, standalone):
            # The model rewrote the question while resolving "that" ("How much of that goes to
            # Russia?" became "How much of the world's heroin comes from Afghanistan?"): its version
            # still says what "that" is, and the follow-up itself is asked after it.
            standalone = f"{standalone} {question}"

        retrieval_started = time.perf_counter()
        retrieval = self.retriever.retrieve(standalone)
        timings = Timings(retrieve=time.perf_counter() - retrieval_started)
        passages = retrieval.passages

        kept: list[VerifiedSentence] = []
        margin = None
        why = "no passage of the briefing is close to the question"
        if passages and retrieval.best_dense_score >= self.settings.min_relevance:
            raw = self._timed(self.generator.stream_answer(standalone, passages), timings, started)
            kept = [v for v in verified_stream(raw, passages, self.verifier, standalone) if v is not None]
            why = "the generator found no answer in the passages, or none of its sentences is supported"
            not_an_answer, margin = self.policy.judge(standalone, kept, passages) if kept else (None, None)
            if not_an_answer:
                kept, why = [], not_an_answer
            timings.first_token = time.perf_counter() - started
            for number, verified in enumerate(kept):
                yield (" " if number else "") + verified.text

        if kept:
            text = " ".join(v.text for v in kept)
            citations = citations_for(kept, passages, self.index.briefings)
            refused = False
        else:
            text, citations = refusal(passages, self.index.briefings)
            refused = True
            if timings.first_token is None:
                timings.first_token = time.perf_counter() - started
            yield text
        timings.total = time.perf_counter() - started
        yield Answer(text=text, refused=refused, citations=citations, standalone_question=standalone, timings=timings,
                     sentences=[v.shown() for v in kept], refusal_reason=why if refused else "", answer_margin=margin, passages=passages)

"""The systems a run compares: briefbot on a backend, and a naive llama-index RAG baseline.

Each answers a question (with the chat history of its own earlier answers) and says what it shows
as the basis of its answer, so both are scored alike.
"""

from __future__ import annotations

import re
import time

from briefbot import Answer, BriefBot, Timings
from briefbot.backends import make_backend
from briefbot.eval.records import AuditedSentence, SystemOutput
from briefbot.index import briefing_paths, load_briefings, load_embedding_model
from briefbot.span import Chunk
from briefbot.text import BASELINE_REFUSAL, answer_sentences, claim_words
from briefbot.verify import CITATION, split_answer

SYSTEM_NAMES = ("briefbot-local", "briefbot-extractive", "briefbot-openai", "briefbot-fake", "baseline")


def shown_sentences(sample_id: str, output: SystemOutput, cites: bool) -> list[AuditedSentence]:
    """Briefbot's sentences rest on the citations they name (Answer.sentences), the baseline's on
    its source nodes. A refusal claims nothing, so it has no sentence to audit."""
    answer = output.answer
    if answer.refused:
        return []
    if cites:
        quotes = {c.n: c for c in answer.citations}
        return [
            AuditedSentence(f"{sample_id}#{index}", CITATION.sub("", s.text).strip(),
                            tuple(quotes[n] for n in s.cites if n in quotes), s.check, s.margin)
            for index, s in enumerate(answer.sentences)
        ]
    nodes = tuple(output.evidence)
    return [AuditedSentence(f"{sample_id}#{index}", s.text, nodes) for index, s in enumerate(split_answer(answer.text))]


class BriefBotSystem:
    """BriefBot through its public API: chat(), whose Answer carries the passages it was built from."""

    cites = True

    def __init__(self, name: str, bot: BriefBot):
        self.name = name
        self.bot = bot
        self.source_text = bot.briefing.text
        self.chunks = [chunk for chunk in bot.index.chunks if chunk.doc_id == bot.briefing.doc_id]

    def respond(self, question: str, history: list[dict]) -> SystemOutput:
        answer = self.bot.chat(question, history)
        return SystemOutput(answer, answer.passages, list(answer.citations))


def looks_like_refusal(text: str) -> bool:
    """The baseline has no refusal channel: an empty answer or a 'not mentioned' answer counts as one."""
    return not text.strip() or bool(BASELINE_REFUSAL.search(text))


class BaselineSystem:
    """Naive llama-index RAG: default SentenceSplitter, in-memory VectorStoreIndex with the same MiniLM,
    dense top-2, default query engine, same LLM. No history (follow-ups are asked as they are), no
    citations: its evidence is the source nodes."""

    name = "baseline"
    cites = False

    def __init__(self, source_text: str, embed_model, llm, top_k: int = 2):
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        self.source_text = source_text
        self.embed_model = embed_model
        self.index = VectorStoreIndex.from_documents(
            [Document(text=source_text, id_="briefing")], embed_model=embed_model, transformations=[SentenceSplitter()]
        )
        self.engine = self.index.as_query_engine(llm=llm, similarity_top_k=top_k)
        self.chunks = [_chunk(node) for node in self.index.docstore.docs.values()]

    def respond(self, question: str, history: list[dict]) -> SystemOutput:
        started = time.perf_counter()
        response = self.engine.query(question)
        elapsed = time.perf_counter() - started
        text = (response.response or "").strip()
        if text == "Empty Response":
            text = ""
        evidence = [_chunk(hit.node) for hit in response.source_nodes]
        answer = Answer(
            text=text, refused=looks_like_refusal(text), citations=[], standalone_question=question,
            timings=Timings(retrieve=0.0, first_token=None, total=elapsed),
        )
        return SystemOutput(answer, evidence, evidence)


def _chunk(node) -> Chunk:
    return Chunk("briefing", node.start_char_idx, node.end_char_idx, node.get_content(), node.node_id, "")


def fake_baseline_llm():
    """For backend=fake: a deterministic llama-index LLM that answers the default QA prompt with the
    context sentence sharing most words with the query (the fake LLM only speaks briefbot's prompt)."""
    from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
    from llama_index.core.llms.custom import CustomLLM

    class FakeBaselineLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=32768, num_output=256, is_chat_model=False, model_name="fake-baseline")

        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            query = re.search(r"Query: (.*)", prompt)
            context = prompt.split("---------------------")[1] if prompt.count("---------------------") >= 2 else ""
            words = claim_words(query.group(1) if query else "")
            best = max(answer_sentences(context), key=lambda s: len(words & claim_words(s)), default="")
            return CompletionResponse(text=best if words & claim_words(best) else "The context does not mention this.")

        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponseGen:
            yield self.complete(prompt)

    return FakeBaselineLLM()


def build_systems(settings, names: list[str], progress=lambda message: None) -> list:
    """`briefbot-<backend>` systems share nothing but the index; the baseline reuses an LLM already loaded.
    All of them answer about the first of `settings.briefings` (the shipped briefing when none)."""
    unknown = [n for n in names if n not in SYSTEM_NAMES]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(SYSTEM_NAMES)}")
    systems = []
    bots = {}
    for name in names:
        if name.startswith("briefbot-"):
            backend = name.removeprefix("briefbot-")
            bots[backend] = BriefBot.from_settings(settings.model_copy(update={"backend": backend}), progress=progress)
            systems.append(BriefBotSystem(name, bots[backend]))
    if "baseline" in names:
        systems.insert(names.index("baseline"), build_baseline(settings, bots, progress))
    return systems


def build_baseline(settings, bots: dict[str, BriefBot], progress) -> BaselineSystem:
    """The baseline on the LLM of `settings.backend` (local for extractive, which has none), taken
    from a bot that has it loaded, and on a bot's briefing and embedding model if there is one."""
    llm_backend = settings.backend if settings.backend in ("local", "openai", "fake") else "local"
    if llm_backend == "fake":
        llm = fake_baseline_llm()
    elif llm_backend in bots:
        llm = bots[llm_backend].generator.llm
    else:
        llm = make_backend(settings.model_copy(update={"backend": llm_backend}), progress=progress).llm
    any_bot = next(iter(bots.values()), None)
    if any_bot is not None:
        source_text, embed_model = any_bot.briefing.text, any_bot.index.embed_model
    else:
        first = next(iter(load_briefings(settings, briefing_paths(settings)[:1]).values()))
        source_text, embed_model = first.text, load_embedding_model()
    progress("building the naive llama-index baseline…")
    return BaselineSystem(source_text, embed_model, llm)

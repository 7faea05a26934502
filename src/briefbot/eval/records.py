"""What passes between the evaluation's steps: a system's output, the evidence and sentences it
showed, and the scored record of one answer (one line of samples.jsonl)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from briefbot import Answer
from briefbot.span import Chunk


@dataclass
class SystemOutput:
    answer: Answer  # the baseline's is built from its response
    passages: list[Chunk]  # what retrieval returned, for recall@k
    # What the system shows as the basis of its answer: briefbot's citations, the baseline's source nodes.
    evidence: list[Chunk]


@dataclass(frozen=True)
class AuditedSentence:
    """One sentence a system showed and what it showed as its basis: the unit a support audit labels.
    `check`: how briefbot checked it ("copy", "entailed", "quoted"; see answer.ShownSentence)."""

    id: str  # "<question id>#<index>"
    text: str  # without its [n] markers
    cited: tuple[Chunk, ...]
    check: str = ""
    margin: float | None = None


class SampleRecord(TypedDict, total=False):
    """One system's answer to one sample, scored: a line of samples.jsonl, in the key order written.

    A mapping, not a dataclass, because the line's keys are its format: `f1` stands only in an
    answerable SQuAD sample's line, a judged metric only once the judge tier ran."""

    article: str  # SQuAD: the article the sample was asked about (first key)
    system: str
    id: str
    question: str
    standalone_question: str
    answerable: bool
    answer: str
    refused: bool
    refusal_reason: str
    answer_margin: float | None  # briefbot.Answer.answer_margin
    citations: list[dict]  # briefbot.Citation fields
    citations_exact: bool | None  # None: the system does not cite
    timings: dict  # briefbot.Timings fields
    correct: bool
    # answerable samples only:
    facts_found: int  # with key facts
    f1: float  # SQuAD
    false_refusal: bool
    recall_at_k: float | None
    citation_hits_reference: bool | None
    wall_seconds: float
    evidence: list[dict]  # SystemOutput.evidence, as Chunk (briefbot: Citation) fields
    sentences: list[dict]  # AuditedSentence fields
    # metrics.EVIDENCE_KEYS, None without a reference span:
    nonllm_context_precision: float | None
    nonllm_context_recall: float | None
    id_context_precision: float | None
    id_context_recall: float | None
    reference_span_quoted: float | None
    evidence_precision: float | None
    evidence_recall: float | None
    judge: dict[str, dict]  # per judged metric: value, status ("ok", "failed", "n/a"), reason, calls
    # judged.LLM_METRICS, once judged (None: failed or not applicable):
    faithfulness: float | None
    answer_relevancy: float | None
    context_precision: float | None
    context_recall: float | None

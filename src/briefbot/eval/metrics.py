"""The LLM-free metrics: every run, CI included, scores each answer without a judge.

Correctness (key facts present; refusal on unanswerable questions), false refusals, citation
exactness (quote == source[start:end]), citation overlap with the reference spans, retrieval
recall@k, and ragas' non-LLM context metrics on the evidence a system shows (briefbot: its citation
quotes and chunk ids; the baseline: its source nodes) against the reference spans:
NonLLMContextPrecisionWithReference, NonLLMContextRecall, IDBasedContextPrecision,
IDBasedContextRecall and StringPresence, plus offset-based evidence precision/recall.
"""

from __future__ import annotations

import functools
import re

from briefbot import Answer
from briefbot.eval import squad
from briefbot.eval.dataset import Sample
from briefbot.eval.records import SampleRecord
from briefbot.span import Chunk
from briefbot.text import CITATION_MARKER, normalise

# (key, label, tier, description): the order of the report's tables.
METRICS = [
    ("correct", "correct", "llm-free",
     "answerable: not refused and every key fact present (SQuAD: a gold answer contained, both SQuAD-normalised); unanswerable: refused"),
    ("f1", "token F1 (SQuAD)", "llm-free", "answerable SQuAD questions: SQuAD's token F1, best gold answer, citation markers removed; 0 if refused"),
    ("false_refusal", "false refusal", "llm-free", "answerable questions refused (lower is better)"),
    ("refused", "abstention (unanswerable)", "llm-free", "unanswerable questions refused"),
    ("citations_exact", "citations exact", "llm-free", "every citation quote equals the briefing at its offsets"),
    ("citation_hits_reference", "citation hits reference", "llm-free", "a citation overlaps a reference span"),
    ("recall_at_k", "retrieval recall@k", "llm-free", "reference spans at least half inside the retrieved passages"),
    ("nonllm_context_precision", "context precision (non-LLM)", "llm-free",
     "ragas NonLLMContextPrecisionWithReference: evidence texts vs reference spans (string similarity >= 0.5)"),
    ("nonllm_context_recall", "context recall (non-LLM)", "llm-free",
     "ragas NonLLMContextRecall: reference spans matched by an evidence text (string similarity > 0.5)"),
    ("id_context_precision", "context precision (ids)", "llm-free", "ragas IDBasedContextPrecision: evidence chunk ids vs chunks holding a reference span"),
    ("id_context_recall", "context recall (ids)", "llm-free", "ragas IDBasedContextRecall: chunks holding a reference span among the evidence ids"),
    ("reference_span_quoted", "reference span quoted", "llm-free", "ragas StringPresence: reference spans found verbatim in the evidence (mean)"),
    ("evidence_precision", "evidence precision (offsets)", "llm-free", "evidence items overlapping a reference span, by character offsets"),
    ("evidence_recall", "evidence recall (offsets)", "llm-free", "reference spans at least half covered by the evidence, by character offsets"),
    ("faithfulness", "faithfulness", "judge", "share of the answer's statements the judge finds supported by the evidence (ragas prompts, scored here)"),
    ("answer_relevancy", "answer relevancy", "judge", "ragas AnswerRelevancy: cosine(question, judge-generated question) with MiniLM; 0 if noncommittal"),
    ("context_precision", "context precision (LLM)", "judge", "ragas ContextPrecisionWithReference on the evidence vs the reference answer"),
    ("context_recall", "context recall (LLM)", "judge", "ragas ContextRecall: reference answer statements attributable to the evidence"),
]
METRIC_KEYS = [m[0] for m in METRICS]
JUDGED_KEYS = frozenset(m[0] for m in METRICS if m[2] == "judge")
EVIDENCE_KEYS = (
    "nonllm_context_precision", "nonllm_context_recall", "id_context_precision", "id_context_recall",
    "reference_span_quoted", "evidence_precision", "evidence_recall",
)


def fact_present(fact: str, answer: str) -> bool:
    """A key fact is 'a|b|c' alternatives; short ones must match as whole words ('no' is not in 'know')."""
    text = normalise(answer, whole_numbers=True)
    for alternative in fact.split("|"):
        alternative = normalise(alternative.strip(), whole_numbers=True)
        if len(alternative) <= 3:
            if re.search(rf"(?<!\w){re.escape(alternative)}(?!\w)", text):
                return True
        elif alternative in text:
            return True
    return False


def covered(span: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    """At least half of the reference span lies inside the given ranges."""
    inside = sum(max(0, min(span[1], e) - max(span[0], s)) for s, e in ranges)
    return inside >= (span[1] - span[0]) / 2


def is_correct(sample: Sample, text: str, refused: bool) -> bool:
    """Answerable: not refused and every key fact present (SQuAD: a gold answer contained); unanswerable: refused."""
    if not sample.answerable:
        return refused
    if refused:
        return False
    if sample.gold_answers:
        # A marker "[2]" normalises to the token "2", which must not pass for a gold "2".
        plain = CITATION_MARKER.sub("", text)
        return any(squad.answer_contained(gold, plain) for gold in sample.gold_answers)
    return all(fact_present(f, text) for f in sample.key_facts)


def score_sample(sample: Sample, answer: Answer, passages, source_text: str) -> SampleRecord:
    citations_exact = all(source_text[c.start : c.end] == c.quote for c in answer.citations)
    references = sample.reference_offsets(source_text)
    retrieved = [(p.start, p.end) for p in passages]
    cited = [(c.start, c.end) for c in answer.citations]
    record: SampleRecord = {
        "id": sample.id,
        "question": sample.question,
        "standalone_question": answer.standalone_question,
        "answerable": sample.answerable,
        "answer": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "answer_margin": answer.answer_margin,
        "citations": [c.to_dict() for c in answer.citations],
        "citations_exact": citations_exact,
        "timings": answer.timings.__dict__,
        "correct": is_correct(sample, answer.text, answer.refused),
    }
    if sample.answerable:
        if sample.key_facts:
            record["facts_found"] = sum(fact_present(f, answer.text) for f in sample.key_facts)
        if sample.gold_answers:
            plain = CITATION_MARKER.sub("", answer.text)
            record["f1"] = 0.0 if answer.refused else round(squad.best_f1(sample.gold_answers, plain), 4)
        record["false_refusal"] = answer.refused
        record["recall_at_k"] = sum(covered(r, retrieved) for r in references) / len(references) if references else None
        record["citation_hits_reference"] = (
            any(max(0, min(c[1], r[1]) - max(c[0], r[0])) > 0 for c in cited for r in references) if cited and not answer.refused else None
        )
    return record


# ---------------------------------------------------------------------------------------------
# Evidence against the reference spans


@functools.cache
def non_llm_metrics() -> dict:
    """ragas' metric objects, made once (importing ragas takes seconds)."""
    # Imported from their modules: `ragas.metrics.X` is the deprecated alias of the same classes.
    from ragas.metrics._context_precision import IDBasedContextPrecision, NonLLMContextPrecisionWithReference
    from ragas.metrics._context_recall import IDBasedContextRecall, NonLLMContextRecall
    from ragas.metrics.collections import StringPresence

    return {
        "precision": NonLLMContextPrecisionWithReference(),
        "recall": NonLLMContextRecall(),
        "id_precision": IDBasedContextPrecision(),
        "id_recall": IDBasedContextRecall(),
        "presence": StringPresence(),
    }


def reference_chunk_ids(references: list[tuple[int, int]], chunks: list[Chunk], evidence_ids: set[str]) -> list[str]:
    """One chunk id per reference span: a chunk that holds the whole span (an evidence chunk first,
    where overlapping chunks both hold it), else the chunk overlapping it most."""
    ids = []
    for start, end in references:
        holding = [c.chunk_id for c in chunks if c.start is not None and c.start <= start and end <= c.end]
        if holding:
            ids.append(next((cid for cid in holding if cid in evidence_ids), holding[0]))
            continue
        overlaps = [(min(end, c.end) - max(start, c.start), c.chunk_id) for c in chunks if c.start is not None]
        best = max(overlaps, default=(0, None))
        if best[0] > 0:
            ids.append(best[1])
    return sorted(set(ids))


def evidence_metrics(sample: Sample, evidence: list[Chunk], chunks: list[Chunk], source_text: str) -> dict:
    """ragas' non-LLM context metrics and offset-based ones; None where there is no reference span."""
    out = {key: None for key in EVIDENCE_KEYS}
    references = sample.reference_offsets(source_text)
    if not sample.reference_spans or not references:
        return out
    if not evidence:
        out.update(nonllm_context_recall=0.0, id_context_recall=0.0, reference_span_quoted=0.0, evidence_recall=0.0)
        return out
    from ragas.dataset_schema import SingleTurnSample

    metrics = non_llm_metrics()
    contexts = [e.text for e in evidence]
    evidence_ids = [e.chunk_id for e in evidence]
    ragas_sample = SingleTurnSample(
        retrieved_contexts=contexts,
        reference_contexts=list(sample.reference_spans),
        retrieved_context_ids=evidence_ids,
        reference_context_ids=reference_chunk_ids(references, chunks, set(evidence_ids)) or ["(none)"],
    )
    joined = "\n".join(contexts)
    ranges = [(e.start, e.end) for e in evidence]
    out.update(
        nonllm_context_precision=float(metrics["precision"].single_turn_score(ragas_sample)),
        nonllm_context_recall=float(metrics["recall"].single_turn_score(ragas_sample)),
        id_context_precision=float(metrics["id_precision"].single_turn_score(ragas_sample)),
        id_context_recall=float(metrics["id_recall"].single_turn_score(ragas_sample)),
        reference_span_quoted=sum(metrics["presence"].score(reference=span, response=joined).value for span in sample.reference_spans)
        / len(sample.reference_spans),
        evidence_precision=sum(any(min(e, re_) - max(s, rs) > 0 for rs, re_ in references) for s, e in ranges) / len(ranges),
        evidence_recall=sum(covered(r, ranges) for r in references) / len(references),
    )
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# Aggregates


def mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def percentile(values, fraction: float) -> float | None:
    """The value at `fraction` of the way through the sorted values (the nearest one, no interpolation)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

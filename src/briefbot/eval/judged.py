"""The judge tier: LLM-judged metrics of each answer, computed from ragas' prompts and formulas.

Faithfulness and answer relevancy are scored here from ragas' own prompts, not by ragas' `ascore`,
so that a broken judge output is counted as a failure instead of being averaged away: a sample fails
when an output does not parse, when no statement is extracted from a non-empty answer, or when the
verdict count differs from the statement count. Failures are counted and reported beside each mean;
judging runs metric by metric after all answers are in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ragas.embeddings.base import BaseRagasEmbedding
from tqdm import tqdm

from briefbot.eval.dataset import Sample
from briefbot.eval.judge import Judge, JudgeError, JudgeParseError, schema_for, with_item_count
from briefbot.eval.records import SampleRecord
from briefbot.text import CITATION_MARKER

LLM_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
DEFAULT_LLM_METRICS = ("faithfulness", "answer_relevancy")


@dataclass
class Judged:
    """One judged metric for one sample: a value, or a failure with its reason (never silently dropped)."""

    value: float | None
    status: str  # "ok" | "failed"
    reason: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"value": self.value, "status": self.status, "reason": self.reason, **self.details}


def _failed(reason: str, **details) -> Judged:
    return Judged(None, "failed", reason, details)


def _generate(judge: Judge, prompt: str, response_model, step: str, schema: dict | None = None, **details):
    """(parsed output, None), or (None, the failure naming `step`, with the raw output when unparsable)."""
    try:
        return judge.generate(prompt, response_model, schema=schema), None
    except JudgeError as exc:
        raw = {"raw": exc.raw} if isinstance(exc, JudgeParseError) else {}
        return None, _failed(f"{step}: {exc}", **details, **raw)


def faithfulness(judge: Judge, question: str, response: str, contexts: list[str]) -> Judged:
    """ragas' statement extraction and NLI prompts; the score is computed here from the verdicts."""
    from ragas.metrics.collections import Faithfulness
    from ragas.metrics.collections.faithfulness.util import (
        NLIStatementInput,
        NLIStatementOutput,
        StatementGeneratorInput,
        StatementGeneratorOutput,
    )

    metric = Faithfulness(llm=judge)
    prompt = metric.statement_generator_prompt.to_string(StatementGeneratorInput(question=question, answer=response))
    extracted, failure = _generate(judge, prompt, StatementGeneratorOutput, "statement extraction")
    if failure:
        return failure
    statements = [s.strip() for s in extracted.statements if s and s.strip()]
    if not statements:
        return _failed("no statements extracted from a non-empty answer")

    prompt = metric.nli_statement_prompt.to_string(NLIStatementInput(context="\n".join(contexts), statements=statements))
    schema = with_item_count(schema_for(NLIStatementOutput), "statements", len(statements))
    judged, failure = _generate(judge, prompt, NLIStatementOutput, "verdicts", schema=schema, statements=statements)
    if failure:
        return failure
    verdicts = [item.verdict for item in judged.statements]
    details = {"statements": statements, "verdicts": verdicts, "reasons": [item.reason for item in judged.statements]}
    if len(verdicts) != len(statements):
        return _failed(f"{len(verdicts)} verdicts for {len(statements)} statements", **details)
    if any(v not in (0, 1) for v in verdicts):
        return _failed(f"verdicts other than 0/1: {verdicts}", **details)
    return Judged(sum(verdicts) / len(verdicts), "ok", None, details)


def answer_relevancy(judge: Judge, embeddings: BaseRagasEmbedding, question: str, response: str, strictness: int = 1) -> Judged:
    """ragas' AnswerRelevancy (prompt and formula); an empty generated question is a failure, not a 0.

    strictness 1: the judge is deterministic, so ragas' default of 3 generations would ask the same
    prompt three times and get the same question back.
    """
    import numpy as np
    from ragas.metrics.collections import AnswerRelevancy
    from ragas.metrics.collections.answer_relevancy.util import AnswerRelevanceInput, AnswerRelevanceOutput

    metric = AnswerRelevancy(llm=judge, embeddings=embeddings, strictness=strictness)
    questions, noncommittal = [], []
    for _ in range(strictness):
        prompt = metric.prompt.to_string(AnswerRelevanceInput(response=response))
        out, failure = _generate(judge, prompt, AnswerRelevanceOutput, "question generation")
        if failure:
            return failure
        if not out.question.strip():
            return _failed("the judge generated an empty question")
        questions.append(out.question.strip())
        noncommittal.append(out.noncommittal)
    vectors = np.asarray(embeddings.embed_texts([question, *questions]))  # one batch: MiniLM on CPU
    question_vec, generated = vectors[:1], vectors[1:]
    cosine = generated @ question_vec.T / (np.linalg.norm(generated, axis=1, keepdims=True) * np.linalg.norm(question_vec))
    all_noncommittal = all(noncommittal)
    value = float(cosine.mean()) * (0 if all_noncommittal else 1)
    return Judged(value, "ok", None, {"generated_questions": questions, "noncommittal": noncommittal})


def _ragas_metric(metric, **inputs) -> Judged:
    import math

    try:
        result = asyncio.run(metric.ascore(**inputs))
    except JudgeParseError as exc:
        return _failed(str(exc), raw=exc.raw)
    except (JudgeError, ValueError) as exc:
        return _failed(str(exc))
    value = float(result.value)
    if math.isnan(value):
        return _failed("ragas returned NaN (no classifications)")
    return Judged(value, "ok")


def context_precision(judge: Judge, question: str, reference: str, contexts: list[str]) -> Judged:
    """ragas ContextPrecisionWithReference: is each evidence context useful for the reference answer."""
    from ragas.metrics.collections import ContextPrecisionWithReference

    return _ragas_metric(ContextPrecisionWithReference(llm=judge), user_input=question, reference=reference, retrieved_contexts=contexts)


def context_recall(judge: Judge, question: str, reference: str, contexts: list[str]) -> Judged:
    """ragas ContextRecall: share of the reference answer's statements attributable to the evidence."""
    from ragas.metrics.collections import ContextRecall

    return _ragas_metric(ContextRecall(llm=judge), user_input=question, reference=reference, retrieved_contexts=contexts)


# ---------------------------------------------------------------------------------------------
# Judging a run's records


def judge_applicable(metric: str, record: SampleRecord, sample: Sample) -> str | None:
    """None when the metric applies to this record, else why not."""
    if metric in ("faithfulness", "answer_relevancy"):
        if record["refused"]:
            return "refused"
        if not record["answer"].strip():
            return "empty answer"
        if metric == "faithfulness" and not record["evidence"]:
            return "no evidence"
        return None
    if not sample.answerable or not sample.reference_answer:
        return "unanswerable (no reference answer)"
    if not record["evidence"]:
        return "no evidence"
    return None


def judge_records(
    records: list[SampleRecord], samples: list[Sample], judge: Judge, embeddings, metrics=None, progress=lambda message: None
) -> None:
    """Add judged metrics to the records in place, metric by metric (similar prompts back to back)."""
    metrics = list(metrics or DEFAULT_LLM_METRICS)
    by_id = {s.id: s for s in samples}
    for metric in metrics:
        if metric not in LLM_METRICS:
            raise ValueError(f"unknown judged metric {metric!r}: choose from {', '.join(LLM_METRICS)}")
        progress(f"judging {metric}: {len(records)} answers")
        for record in tqdm(records, desc=f"judging {metric}", disable=None):
            sample = by_id[record["id"]]
            why_not = judge_applicable(metric, record, sample)
            if why_not:
                record[metric] = None
                record["judge"][metric] = {"value": None, "status": "n/a", "reason": why_not}
                continue
            first_call = len(judge.calls)
            with judge.labelled(system=record["system"], sample=record["id"], metric=metric):
                result = judge_metric(metric, judge, embeddings, sample, record)
            calls = judge.calls[first_call:]
            record[metric] = None if result.value is None else round(result.value, 4)
            record["judge"][metric] = {
                **result.to_dict(),
                "value": record[metric],
                "calls": [c["key"] for c in calls],
                "seconds_uncached": round(sum(c["seconds"] for c in calls if not c["cached"]), 2),
            }


def judge_metric(metric: str, judge: Judge, embeddings, sample: Sample, record: SampleRecord) -> Judged:
    """One metric of one answer, against the evidence its system showed."""
    response = CITATION_MARKER.sub("", record["answer"]).strip()
    contexts = [e["text"] for e in record["evidence"]]
    if metric == "faithfulness":
        return faithfulness(judge, sample.question, response, contexts)
    if metric == "answer_relevancy":
        return answer_relevancy(judge, embeddings, sample.question, response)
    if metric == "context_precision":
        return context_precision(judge, sample.question, sample.reference_answer, contexts)
    return context_recall(judge, sample.question, sample.reference_answer, contexts)

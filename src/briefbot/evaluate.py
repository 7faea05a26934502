"""Run the question set through briefbot (and a naive baseline) and score it.

LLM-free tier (every run, CI included): correctness (key facts present; refusal on unanswerable
questions), false refusals, citation exactness (quote == source[start:end]), citation overlap with
the reference spans, retrieval recall@k, and ragas' non-LLM context metrics on the evidence a system
shows (briefbot: its citation quotes and chunk ids; the baseline: its source nodes) against the
reference spans: NonLLMContextPrecisionWithReference, NonLLMContextRecall, IDBasedContextPrecision,
IDBasedContextRecall and StringPresence, plus offset-based evidence precision/recall.

Judge tier (`judge=local|openai|stub`, see judge.py): faithfulness and answer relevancy, and on
request ragas' LLM context precision/recall against the reference answer; failures are counted and
reported beside each mean. Judging runs metric by metric after all answers are in.

A SQuAD 2.0 file (squad.py) is the other dataset: each article one briefing with an index of its
own, a seeded stratified sample of its questions, and per article: a gold answer contained, SQuAD's
token F1, abstention and false refusals. Every run records each shown sentence with what it cites,
so hand labels of those sentences (`labels`) give the unsupported-claim rate.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from briefbot import squad
from briefbot.settings import PACKAGE_DIR
from briefbot.text import BASELINE_REFUSAL, normalise

DEFAULT_DATASET = PACKAGE_DIR.parent.parent / "eval" / "dataset.jsonl"


@dataclass(frozen=True)
class Sample:
    id: str
    question: str
    answerable: bool
    reference_answer: str
    reference_spans: list[str]
    key_facts: list[str]
    chain: str | None
    turn: int
    # SQuAD: alternative gold answers (one contained is correct) and the exact offsets of the spans.
    gold_answers: tuple[str, ...] = ()
    reference_ranges: tuple[tuple[int, int], ...] = ()

    def reference_offsets(self, text: str) -> list[tuple[int, int]]:
        """Where the reference spans stand: as given (SQuAD), else their first occurrence."""
        return list(self.reference_ranges) or span_ranges(self.reference_spans, text)


def load_dataset(path: Path = DEFAULT_DATASET) -> list[Sample]:
    samples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                samples.append(Sample(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a dataset sample ({exc})") from exc
    return samples


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


def span_ranges(spans: list[str], text: str) -> list[tuple[int, int]]:
    ranges = []
    for span in spans:
        start = text.find(span)
        if start >= 0:
            ranges.append((start, start + len(span)))
    return ranges


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


def score_sample(sample: Sample, answer, passages, source_text: str) -> dict:
    citations_exact = all(source_text[c.start : c.end] == c.quote for c in answer.citations)
    references = sample.reference_offsets(source_text)
    retrieved = [(p.start, p.end) for p in passages]
    cited = [(c.start, c.end) for c in answer.citations]
    record = {
        "id": sample.id,
        "question": sample.question,
        "standalone_question": answer.standalone_question,
        "answerable": sample.answerable,
        "answer": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "citations": [c.__dict__ for c in answer.citations],
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


def summarise(records: list[dict]) -> dict:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    recalls = [r["recall_at_k"] for r in answerable if r.get("recall_at_k") is not None]
    hits = [r["citation_hits_reference"] for r in answerable if r.get("citation_hits_reference") is not None]
    totals = sorted(r["timings"]["total"] for r in records)
    return {
        "samples": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": _mean(r["correct"] for r in records),
        "correct_answerable": _mean(r["correct"] for r in answerable),
        "false_refusals": _mean(r["false_refusal"] for r in answerable),
        "refusal_accuracy_unanswerable": _mean(r["refused"] for r in unanswerable),
        "citations_exact": _mean(r["citations_exact"] for r in records if r["citations_exact"] is not None),
        "citation_hits_reference": _mean(hits),
        "recall_at_k": _mean(recalls),
        "answer_seconds_p50": totals[len(totals) // 2] if totals else None,
        "answer_seconds_p95": totals[min(len(totals) - 1, int(len(totals) * 0.95))] if totals else None,
    }


def _mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def write_results(records: list[dict], summary: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "samples.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))


# =============================================================================================
# The evaluator-facing suite: several systems side by side, the LLM-free tier and a judge tier.

SYSTEM_NAMES = ("briefbot-local", "briefbot-extractive", "briefbot-openai", "briefbot-fake", "baseline")
CITATION_MARKER = re.compile(r"\s*\[\d+\]")

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
MIN_CALIBRATION_PAIRS = 60  # fewer (--calibration-limit) is reported as a partial calibration
EVIDENCE_KEYS = (
    "nonllm_context_precision", "nonllm_context_recall", "id_context_precision", "id_context_recall",
    "reference_span_quoted", "evidence_precision", "evidence_recall",
)


@dataclass(frozen=True)
class Evidence:
    """What a system shows as the basis of its answer: a cited span or a retrieved node."""

    id: str
    start: int
    end: int
    text: str


@dataclass
class SystemOutput:
    answer: object  # briefbot.Answer (the baseline's is built from its response)
    passages: list  # what retrieval returned (objects with .start/.end), for recall@k
    evidence: list[Evidence]


@dataclass(frozen=True)
class Quote:
    id: str  # chunk or node id
    start: int
    end: int
    quote: str  # == the source text [start:end]


@dataclass(frozen=True)
class AuditedSentence:
    """One sentence a system showed and what it showed as its basis: the unit a support audit labels.
    `check`: how briefbot checked it ("copy", "entailed", "quoted"; see answer.ShownSentence)."""

    id: str  # "<question id>#<index>"
    text: str  # without its [n] markers
    cited: tuple[Quote, ...]
    check: str = ""
    margin: float | None = None


def shown_sentences(sample_id: str, output: SystemOutput, cites: bool) -> list[AuditedSentence]:
    """Briefbot's sentences rest on the citations they name (Answer.sentences), the baseline's on
    its source nodes. A refusal claims nothing, so it has no sentence to audit."""
    from briefbot.verify import CITATION, split_answer

    answer = output.answer
    if answer.refused:
        return []
    if cites:
        quotes = {c.n: Quote(c.chunk_id, c.start, c.end, c.quote) for c in answer.citations}
        return [
            AuditedSentence(f"{sample_id}#{index}", CITATION.sub("", s.text).strip(),
                            tuple(quotes[n] for n in s.cites if n in quotes), s.check, s.margin)
            for index, s in enumerate(answer.sentences)
        ]
    nodes = tuple(Quote(e.id, e.start, e.end, e.text) for e in output.evidence)
    return [AuditedSentence(f"{sample_id}#{index}", s.text, nodes) for index, s in enumerate(split_answer(answer.text))]


class BriefBotSystem:
    """BriefBot as a black box: chat(), then the passages its retriever returns for the standalone question."""

    cites = True

    def __init__(self, name: str, bot):
        self.name = name
        self.bot = bot
        self.source_text = bot.briefing.text
        doc_id = bot.briefing.doc_id
        self.chunks = [
            (node.node_id, node.metadata["start"], node.metadata["end"]) for node in bot.index.nodes if node.metadata.get("doc_id") == doc_id
        ]

    def respond(self, question: str, history: list[dict]) -> SystemOutput:
        answer = self.bot.chat(question, history)
        passages = self.bot.retriever.retrieve(answer.standalone_question).passages
        evidence = [Evidence(c.chunk_id, c.start, c.end, c.quote) for c in answer.citations]
        return SystemOutput(answer, passages, evidence)


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
        self.chunks = [(n.node_id, n.start_char_idx, n.end_char_idx) for n in self.index.docstore.docs.values()]

    def respond(self, question: str, history: list[dict]) -> SystemOutput:
        from briefbot.answer import Answer, Timings

        started = time.perf_counter()
        response = self.engine.query(question)
        elapsed = time.perf_counter() - started
        text = (response.response or "").strip()
        if text == "Empty Response":
            text = ""
        evidence = [
            Evidence(hit.node.node_id, hit.node.start_char_idx, hit.node.end_char_idx, hit.node.get_content()) for hit in response.source_nodes
        ]
        answer = Answer(
            text=text, refused=looks_like_refusal(text), citations=[], standalone_question=question,
            timings=Timings(retrieve=0.0, first_token=None, total=elapsed),
        )
        return SystemOutput(answer, evidence, evidence)


def _fake_baseline_llm():
    """For backend=fake: a deterministic llama-index LLM that answers the default QA prompt with the
    context sentence sharing most words with the query (so the baseline wiring runs in tests)."""
    from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
    from llama_index.core.llms.custom import CustomLLM

    class FakeBaselineLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=32768, num_output=256, is_chat_model=False, model_name="fake-baseline")

        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            from briefbot.text import answer_sentences, claim_words

            query = re.search(r"Query: (.*)", prompt)
            context = prompt.split("---------------------")[1] if prompt.count("---------------------") >= 2 else ""
            words = claim_words(query.group(1) if query else "")
            best = max(answer_sentences(context), key=lambda s: len(words & claim_words(s)), default="")
            return CompletionResponse(text=best if words & claim_words(best) else "The context does not mention this.")

        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponseGen:
            yield self.complete(prompt)

    return FakeBaselineLLM()


# ---------------------------------------------------------------------------------------------
# LLM-free evidence metrics


_RAGAS_NON_LLM: dict = {}


def _non_llm_metrics() -> dict:
    if not _RAGAS_NON_LLM:
        # Imported from their modules: `ragas.metrics.X` is the deprecated alias of the same classes.
        from ragas.metrics._context_precision import IDBasedContextPrecision, NonLLMContextPrecisionWithReference
        from ragas.metrics._context_recall import IDBasedContextRecall, NonLLMContextRecall
        from ragas.metrics.collections import StringPresence

        _RAGAS_NON_LLM.update(
            precision=NonLLMContextPrecisionWithReference(),
            recall=NonLLMContextRecall(),
            id_precision=IDBasedContextPrecision(),
            id_recall=IDBasedContextRecall(),
            presence=StringPresence(),
        )
    return _RAGAS_NON_LLM


def reference_chunk_ids(references: list[tuple[int, int]], chunks: list[tuple[str, int, int]], evidence_ids: set[str]) -> list[str]:
    """One chunk id per reference span: a chunk that holds the whole span (an evidence chunk first,
    where overlapping chunks both hold it), else the chunk overlapping it most."""
    ids = []
    for start, end in references:
        holding = [cid for cid, s, e in chunks if s is not None and s <= start and end <= e]
        if holding:
            ids.append(next((cid for cid in holding if cid in evidence_ids), holding[0]))
            continue
        overlaps = [(min(end, e) - max(start, s), cid) for cid, s, e in chunks if s is not None]
        best = max(overlaps, default=(0, None))
        if best[0] > 0:
            ids.append(best[1])
    return sorted(set(ids))


def evidence_metrics(sample: Sample, evidence: list[Evidence], chunks: list[tuple[str, int, int]], source_text: str) -> dict:
    """ragas' non-LLM context metrics and offset-based ones; None where there is no reference span."""
    out = {key: None for key in EVIDENCE_KEYS}
    references = sample.reference_offsets(source_text)
    if not sample.reference_spans or not references:
        return out
    if not evidence:
        out.update(nonllm_context_recall=0.0, id_context_recall=0.0, reference_span_quoted=0.0, evidence_recall=0.0)
        return out
    from ragas.dataset_schema import SingleTurnSample

    metrics = _non_llm_metrics()
    contexts = [e.text for e in evidence]
    evidence_ids = [e.id for e in evidence]
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


def run_system(system, samples: list[Sample], progress: bool = True) -> list[dict]:
    """Ask every sample; a chain's follow-ups get the system's own earlier answers as history."""
    from tqdm import tqdm

    histories: dict[str, list[dict]] = {}
    records = []
    for sample in tqdm(samples, desc=f"answering ({system.name})", disable=not progress):
        history = histories.get(sample.chain, []) if sample.chain and sample.turn > 0 else []
        started = time.perf_counter()
        output = system.respond(sample.question, history)
        record = {"system": system.name, **score_sample(sample, output.answer, output.passages, system.source_text)}
        record["wall_seconds"] = round(time.perf_counter() - started, 3)
        if not system.cites:
            record["citations_exact"] = None
            record["citation_hits_reference"] = None
        record["evidence"] = [e.__dict__ for e in output.evidence]
        record["sentences"] = [asdict(s) for s in shown_sentences(sample.id, output, system.cites)]
        record.update(evidence_metrics(sample, output.evidence, system.chunks, system.source_text))
        record["judge"] = {}
        records.append(record)
        if sample.chain:
            histories[sample.chain] = history + [
                {"role": "user", "content": sample.question},
                {"role": "assistant", "content": output.answer.text},
            ]
    return records


# ---------------------------------------------------------------------------------------------
# Judge tier


def judge_applicable(metric: str, record: dict, sample: Sample) -> str | None:
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


def judge_records(records: list[dict], samples: list[Sample], judge, embeddings, metrics=None, progress: bool = True) -> None:
    """Add judged metrics to the records in place, metric by metric (similar prompts back to back)."""
    from tqdm import tqdm

    from briefbot import judge as judging

    metrics = list(metrics or judging.DEFAULT_LLM_METRICS)
    by_id = {s.id: s for s in samples}
    for metric in metrics:
        if metric not in judging.LLM_METRICS:
            raise ValueError(f"unknown judged metric {metric!r}: choose from {', '.join(judging.LLM_METRICS)}")
        for record in tqdm(records, desc=f"judging {metric}", disable=not progress):
            sample = by_id[record["id"]]
            why_not = judge_applicable(metric, record, sample)
            if why_not:
                record[metric] = None
                record["judge"][metric] = {"value": None, "status": "n/a", "reason": why_not}
                continue
            response = CITATION_MARKER.sub("", record["answer"]).strip()
            contexts = [e["text"] for e in record["evidence"]]
            first_call = len(judge.calls)
            with judge.labelled(system=record["system"], sample=record["id"], metric=metric):
                if metric == "faithfulness":
                    result = judging.faithfulness(judge, sample.question, response, contexts)
                elif metric == "answer_relevancy":
                    result = judging.answer_relevancy(judge, embeddings, sample.question, response)
                elif metric == "context_precision":
                    result = judging.context_precision(judge, sample.question, sample.reference_answer, contexts)
                else:
                    result = judging.context_recall(judge, sample.question, sample.reference_answer, contexts)
            calls = judge.calls[first_call:]
            record[metric] = None if result.value is None else round(result.value, 4)
            record["judge"][metric] = {
                **result.to_dict(),
                "value": record[metric],
                "calls": [c["key"] for c in calls],
                "seconds_uncached": round(sum(c["seconds"] for c in calls if not c["cached"]), 2),
            }


# ---------------------------------------------------------------------------------------------
# Summaries


def metric_summary(records: list[dict], key: str) -> dict:
    """Mean over the scored records; judge failures are counted and never averaged in."""
    values = [float(r[key]) for r in records if r.get(key) is not None]
    failed = sum(1 for r in records if r.get("judge", {}).get(key, {}).get("status") == "failed")
    attempted = len(values) + failed
    return {
        "mean": round(sum(values) / len(values), 4) if values else None,
        "n": len(values),
        "failed": failed,
        "failure_rate": round(failed / attempted, 4) if attempted else None,
        "not_applicable": len(records) - attempted,
    }


def summarise_system(records: list[dict], labels: dict[tuple[str, str], bool] | None = None) -> dict:
    summary = summarise(records)
    metrics = {key: metric_summary(records, key) for key in METRIC_KEYS}
    # `refused` is the abstention rate only on unanswerable questions; `false_refusal` only on answerable ones.
    metrics["refused"] = metric_summary([r for r in records if not r["answerable"]], "refused")
    summary["metrics"] = metrics
    summary["unsupported_claims"] = asdict(audit_claims(records, labels or {}))
    judged = [r["judge"][m] for r in records for m in r.get("judge", {})]
    summary["judge_seconds_uncached"] = round(sum(j.get("seconds_uncached", 0) for j in judged), 1)
    return summary


def load_labels(path: Path) -> dict[tuple[str, str], bool]:
    """Hand labels of shown sentences, JSONL {"sentence_id", "system", "supported": true/false}, by (system, sentence id)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    labels = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, supported = (str(item["system"]), str(item["sentence_id"])), item["supported"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a sentence label ({exc})") from exc
        if not isinstance(supported, bool):
            raise ValueError(f"{path}:{number}: supported must be true or false")
        labels[key] = supported
    return labels


@dataclass(frozen=True)
class ClaimAudit:
    """Shown sentences against the hand labels; the unsupported-claim rate is None until some are labelled."""

    shown: int
    labelled: int
    unsupported: int
    rate: float | None


def audit_claims(records: list[dict], labels: dict[tuple[str, str], bool]) -> ClaimAudit:
    shown = [(r["system"], s["id"]) for r in records for s in r["sentences"]]
    verdicts = [labels[key] for key in shown if key in labels]
    unsupported = verdicts.count(False)
    return ClaimAudit(len(shown), len(verdicts), unsupported, round(unsupported / len(verdicts), 4) if verdicts else None)


@dataclass(frozen=True)
class ArticleScores:
    """One system's SQuAD scores on one article's questions, or on all of them pooled."""

    answerable: int
    unanswerable: int
    correct: float | None  # answerable questions answered with a gold answer in the text
    f1: float | None  # mean token F1 over the answerable questions
    abstention: float | None  # unanswerable questions refused
    false_refusals: float | None  # answerable questions refused
    claims: ClaimAudit


def article_scores(records: list[dict], labels: dict[tuple[str, str], bool]) -> ArticleScores:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    return ArticleScores(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        correct=_mean(r["correct"] for r in answerable),
        f1=_mean(r["f1"] for r in answerable),
        abstention=_mean(r["refused"] for r in unanswerable),
        false_refusals=_mean(r["refused"] for r in answerable),
        claims=audit_claims(records, labels),
    )


def summarise_articles(records: list[dict], systems: list[str], labels: dict[tuple[str, str], bool]) -> dict:
    """{"per_article": {title: {system: scores}}, "overall": {system: scores}}, in the order asked."""
    titles = list(dict.fromkeys(r["article"] for r in records))

    def scores(selected) -> dict:
        return {name: asdict(article_scores([r for r in selected if r["system"] == name], labels)) for name in systems}

    return {
        "per_article": {title: scores([r for r in records if r["article"] == title]) for title in titles},
        "overall": scores(records),
    }


def faithfulness_trust(calibration: dict | None, judge_kind: str) -> dict:
    from briefbot.judge import TRUST_THRESHOLD

    if judge_kind == "none":
        return {"status": "not judged", "threshold": TRUST_THRESHOLD}
    if not calibration or calibration.get("balanced_accuracy") is None:
        return {"status": "uncalibrated", "threshold": TRUST_THRESHOLD,
                "note": "run with --calibrate-judge to measure the judge against eval/judge_calibration.jsonl"}
    trusted = calibration["balanced_accuracy"] >= TRUST_THRESHOLD
    return {
        "status": "trusted" if trusted else "untrustworthy",
        "balanced_accuracy": calibration["balanced_accuracy"],
        "threshold": TRUST_THRESHOLD,
        "pairs": calibration["pairs"],
        "partial": calibration["pairs"] < MIN_CALIBRATION_PAIRS,
    }


# ---------------------------------------------------------------------------------------------
# The whole run


def evaluate_systems(
    systems: list,
    samples: list[Sample],
    judge=None,
    embeddings=None,
    judge_metrics=None,
    calibration_pairs: list[dict] | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
    run_info: dict | None = None,
    labels: dict[tuple[str, str], bool] | None = None,
) -> tuple[list[dict], dict]:
    """Answer with every system, score, then finish the run (judge, calibrate, summarise, write)."""
    started = time.perf_counter()
    records: list[dict] = []
    for system in systems:
        records += run_system(system, samples, progress)
    return finish_run(
        records, samples, [s.name for s in systems], started, judge, embeddings, judge_metrics, calibration_pairs,
        out_dir, progress, run_info, labels,
    )


def finish_run(
    records: list[dict],
    samples: list[Sample],
    systems: list[str],
    started: float,
    judge=None,
    embeddings=None,
    judge_metrics=None,
    calibration_pairs: list[dict] | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
    run_info: dict | None = None,
    labels: dict[tuple[str, str], bool] | None = None,
) -> tuple[list[dict], dict]:
    """Judge and calibrate the answered records, summarise them (per article too, for SQuAD), write
    results and the report."""
    from briefbot import judge as judging

    answered = time.perf_counter()
    if judge is not None and records:
        judge_records(records, samples, judge, embeddings, judge_metrics, progress)
    judged = time.perf_counter()
    calibration = None
    if calibration_pairs and judge is not None:
        calibration = judging.calibrate(judge, calibration_pairs, progress)
    finished = time.perf_counter()

    judged_metrics = list(judge_metrics or judging.DEFAULT_LLM_METRICS) if judge is not None else []
    judged_samples = sum(1 for r in records if any(r["judge"].get(m, {}).get("status") in ("ok", "failed") for m in judged_metrics))
    summary = {
        "run": {
            **(run_info or {}),
            "samples": len(samples),
            "systems": systems,
            "judged_metrics": judged_metrics,
            "seconds": {
                "answering": round(answered - started, 1),
                "judging": round(judged - answered, 1),
                "calibration": round(finished - judged, 1),
            },
        },
        "judge": {**judge.describe(), **judge.stats()} if judge is not None else {"kind": "none"},
        "calibration": {k: v for k, v in calibration.items() if k != "items"} if calibration else None,
        "faithfulness_trust": faithfulness_trust(calibration, judge.kind if judge is not None else "none"),
        "systems": {name: summarise_system([r for r in records if r["system"] == name], labels) for name in systems},
    }
    if labels is not None:
        shown = {(r["system"], s["id"]) for r in records for s in r["sentences"]}
        summary["labels"] = {"labels": len(labels), "matching_shown_sentences": len(shown & labels.keys())}
    if any("article" in r for r in records):
        summary["articles"] = summarise_articles(records, systems, labels or {})
    if judged_samples:
        summary["run"]["judge_seconds_per_judged_sample"] = round((judged - answered) / judged_samples, 1)
    if out_dir is not None:
        write_suite(records, summary, calibration, judge, Path(out_dir))
    return records, summary


def write_suite(records: list[dict], summary: dict, calibration: dict | None, judge, out_dir: Path) -> dict[str, Path]:
    from briefbot.report import write_report

    write_results(records, summary, out_dir)
    paths = {"samples": out_dir / "samples.jsonl", "summary": out_dir / "summary.json"}
    if judge is not None:
        paths["judge_calls"] = out_dir / "judge_calls.jsonl"
        with open(paths["judge_calls"], "w", encoding="utf-8") as handle:
            for call in judge.calls:
                handle.write(json.dumps(call, ensure_ascii=False) + "\n")
    if calibration is not None:
        paths["calibration"] = out_dir / "calibration.jsonl"
        with open(paths["calibration"], "w", encoding="utf-8") as handle:
            for item in calibration["items"]:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    paths.update(write_report(summary, records, out_dir, calibration))
    return paths


def build_systems(settings, names: list[str], progress=lambda message: None) -> list:
    """`briefbot-<backend>` systems share nothing but the index; the baseline reuses an LLM already loaded.
    All of them answer about the first of `settings.briefings` (the shipped briefing when none)."""
    from briefbot import BriefBot

    unknown = [n for n in names if n not in SYSTEM_NAMES]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(SYSTEM_NAMES)}")
    systems = []
    bots = {}
    for name in names:
        if name.startswith("briefbot-"):
            backend = name.removeprefix("briefbot-")
            bots[backend] = BriefBot(settings.model_copy(update={"backend": backend}), progress=progress)
            systems.append(BriefBotSystem(name, bots[backend]))
    if "baseline" in names:
        llm_backend = settings.backend if settings.backend in ("local", "openai", "fake") else "local"
        any_bot = next(iter(bots.values()), None)
        if llm_backend == "fake":
            llm = _fake_baseline_llm()
        elif llm_backend in bots:
            llm = bots[llm_backend].backend.llm
        else:
            from briefbot.backends import make_backend

            llm = make_backend(settings.model_copy(update={"backend": llm_backend}), progress=progress).llm
        if any_bot is not None:
            source_text, embed_model = any_bot.briefing.text, any_bot.index.embed_model
        else:
            from briefbot.index import briefing_paths, load_briefings, load_embedding_model

            first = next(iter(load_briefings(settings, briefing_paths(settings)[:1]).values()))
            source_text, embed_model = first.text, load_embedding_model()
        progress("building the naive llama-index baseline…")
        systems.insert(names.index("baseline"), BaselineSystem(source_text, embed_model, llm))
    return systems


def run_suite(
    settings,
    systems: list[str],
    judge_kind: str = "none",
    dataset: Path = DEFAULT_DATASET,
    limit: int | None = None,
    out_dir: Path = Path("eval/runs/latest"),
    judge_metrics=None,
    judge_cache: Path | None = None,
    judge_options: dict | None = None,
    calibrate: bool = False,
    calibration_path: Path | None = None,
    calibration_limit: int | None = None,
    progress=lambda message: None,
    per_article: int | None = None,
    articles: tuple[str, ...] = (),
    split: str | None = None,
    labels_path: Path | None = None,
) -> tuple[list[dict], dict]:
    """What `briefbot eval` runs: the JSONL question set, or a SQuAD file (see run_squad_suite)."""
    from briefbot import judge as judging

    if squad.is_squad(dataset):
        if judge_kind != "none" or calibrate or limit is not None:
            raise ValueError("a SQuAD dataset runs without --judge, --calibrate-judge and --limit: "
                             "choose its questions with --split, --articles and --per-article")
        selection = SquadSelection(DEFAULT_PER_ARTICLE if per_article is None else per_article, tuple(articles), split, settings.seed)
        return run_squad_suite(settings, systems, Path(dataset), selection, out_dir, labels_path, progress)
    if per_article is not None or articles or split:
        raise ValueError(f"--per-article, --articles and --split choose SQuAD questions; {dataset} is a JSONL question set")

    labels = load_labels(labels_path) if labels_path else None
    samples = load_dataset(dataset)[:limit]
    built = build_systems(settings, systems, progress) if samples else []
    judge = None
    if judge_kind != "none":
        progress(f"loading the {judge_kind} judge…")
        judge = judging.make_judge(judge_kind, settings, cache_dir=judge_cache or Path(settings.cache_dir) / "judge", **(judge_options or {}))
    elif calibrate:
        raise ValueError("--calibrate-judge needs a judge: --judge local, openai or stub")
    embeddings = None
    if judge is not None and samples and "answer_relevancy" in (judge_metrics or judging.DEFAULT_LLM_METRICS):
        embed_model = next((s.bot.index.embed_model for s in built if isinstance(s, BriefBotSystem)), None)
        if embed_model is None:
            embed_model = next(s for s in built if isinstance(s, BaselineSystem)).embed_model
        embeddings = judging.LlamaIndexEmbeddings(embed_model)
    pairs = None
    if calibrate:
        pairs = judging.load_calibration(calibration_path or judging.DEFAULT_CALIBRATION)[:calibration_limit]
    run_info = {"dataset": str(dataset), "limit": limit, "labels": str(labels_path) if labels_path else None, "settings": _settings_info(settings)}
    return evaluate_systems(built, samples, judge, embeddings, judge_metrics, pairs, out_dir, progress=True, run_info=run_info, labels=labels)


def _settings_info(settings) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in settings.model_dump().items() if k != "openai_api_key"}


# ---------------------------------------------------------------------------------------------
# SQuAD 2.0: every article is a briefing of its own, asked a seeded sample of its questions


DEFAULT_SPLIT = PACKAGE_DIR.parent.parent / "eval" / "squad-split.json"
DEFAULT_PER_ARTICLE = 12  # 13 articles x 12 questions: about an hour of the local model on 2 cores


@dataclass(frozen=True)
class SquadSelection:
    """Which SQuAD questions a run asks: articles by split and/or title, then a seeded sample of each."""

    per_article: int = DEFAULT_PER_ARTICLE
    articles: tuple[str, ...] = ()  # titles, with underscores or spaces; none: every article (of the split)
    split: str | None = None  # "tune" or "held_out" of DEFAULT_SPLIT
    seed: int = 0


def load_split(path: Path = DEFAULT_SPLIT) -> dict[str, list[str]]:
    split = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: list(split[name]) for name in ("tune", "held_out")}


def select_articles(articles: list[squad.SquadArticle], selection: SquadSelection) -> list[squad.SquadArticle]:
    """The articles asked for, in the dataset's order; a title outside the dataset or the split is an error."""
    titles = {a.title for a in articles}
    wanted = {t.strip().replace(" ", "_") for t in selection.articles if t.strip()}
    if wanted - titles:
        raise ValueError(f"no article {', '.join(sorted(wanted - titles))} in the dataset; it has {', '.join(sorted(titles))}")
    if selection.split is not None:
        splits = load_split()
        if selection.split not in splits:
            raise ValueError(f"unknown split {selection.split!r}: choose from {', '.join(splits)}")
        in_split = set(splits[selection.split])
        if wanted - in_split:
            raise ValueError(f"{', '.join(sorted(wanted - in_split))} not in the {selection.split} split")
        wanted = wanted or (in_split & titles)
        if not wanted:
            raise ValueError(f"no article of the {selection.split} split is in the dataset")
    return [a for a in articles if not wanted or a.title in wanted]


def squad_sample(question: squad.SquadQuestion) -> Sample:
    return Sample(
        id=question.id,
        question=question.question,
        answerable=question.answerable,
        reference_answer=question.answers[0] if question.answers else "",
        reference_spans=list(question.answers),
        key_facts=[],
        chain=None,
        turn=0,
        gold_answers=question.answers,
        reference_ranges=question.spans,
    )


def write_briefing(article: squad.SquadArticle, directory: Path) -> Path:
    """The article as a briefing file, checked to load back as the very text its gold offsets point into."""
    from briefbot.briefing import load_briefing

    path = directory / f"{article.doc_id}.txt"
    path.write_text(article.text, encoding="utf-8")
    if load_briefing(path).text != article.text:
        raise ValueError(f"{article.title}: the briefing loader changes this article's text, so its gold offsets would not hold")
    return path


def run_article(settings, names: list[str], article: squad.SquadArticle, samples: list[Sample], scratch: Path, progress) -> list[dict]:
    """One article's questions, asked of systems built on an index of that article alone, so no
    answer can cite another article."""
    briefing = write_briefing(article, scratch)
    article_settings = settings.model_copy(update={"index_dir": scratch / f"index-{article.doc_id}", "briefings": [briefing]})
    records = []
    for system in build_systems(article_settings, names, progress):
        records += [{"article": article.title, **record} for record in run_system(system, samples)]
    return records


def run_squad_suite(
    settings, systems: list[str], dataset: Path, selection: SquadSelection, out_dir: Path | None, labels_path: Path | None, progress
) -> tuple[list[dict], dict]:
    """Each article indexed on its own in a temporary directory (settings.index_dir is not touched)."""
    if selection.per_article < 1:
        raise ValueError("--per-article must be at least 1")
    labels = load_labels(labels_path) if labels_path else None
    chosen = select_articles(squad.load_squad(dataset), selection)
    asked = [(a, [squad_sample(q) for q in squad.sample_questions(a, selection.per_article, selection.seed)]) for a in chosen]
    started = time.perf_counter()
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="briefbot-squad-") as scratch:
        for article, samples in asked:
            if not samples:
                continue
            progress(f"{article.title}: {len(samples)} questions")
            records += run_article(settings, systems, article, samples, Path(scratch), progress)
    run_info = {
        "dataset": str(dataset),
        "limit": None,
        "squad": {**asdict(selection), "articles": [a.title for a in chosen]},
        "labels": str(labels_path) if labels_path else None,
        "settings": _settings_info(settings),
    }
    samples = [sample for _, article_samples in asked for sample in article_samples]
    return finish_run(records, samples, systems, started, out_dir=out_dir, run_info=run_info, labels=labels)

"""Run the question set through briefbot and score it without an LLM judge.

Scores: correctness (key facts present; refusal on unanswerable questions), false refusals,
citation exactness (quote == source[start:end]), citation overlap with the reference spans, and
retrieval recall@k on the reference spans.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from briefbot.settings import PACKAGE_DIR

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


def load_dataset(path: Path = DEFAULT_DATASET) -> list[Sample]:
    samples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                samples.append(Sample(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a dataset sample ({exc})") from exc
    return samples


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("“", '"').replace("”", '"').replace("–", "-").replace("—", "-")
    text = text.replace("\u00a0", " ")
    return re.sub(r"(?<=\d),(?=\d{3})", "", text)


def fact_present(fact: str, answer: str) -> bool:
    """A key fact is 'a|b|c' alternatives; short ones must match as whole words ('no' is not in 'know')."""
    text = _normalise(answer)
    for alternative in fact.split("|"):
        alternative = _normalise(alternative.strip())
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


def score_sample(sample: Sample, answer, passages, source_text: str) -> dict:
    citations_exact = all(source_text[c.start : c.end] == c.quote for c in answer.citations)
    references = span_ranges(sample.reference_spans, source_text)
    retrieved = [(p.start, p.end) for p in passages]
    cited = [(c.start, c.end) for c in answer.citations]
    record = {
        "id": sample.id,
        "question": sample.question,
        "standalone_question": answer.standalone_question,
        "answerable": sample.answerable,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [c.__dict__ for c in answer.citations],
        "citations_exact": citations_exact,
        "timings": answer.timings.__dict__,
    }
    if sample.answerable:
        facts = [fact_present(f, answer.text) for f in sample.key_facts]
        record["facts_found"] = sum(facts)
        record["correct"] = not answer.refused and all(facts)
        record["false_refusal"] = answer.refused
        record["recall_at_k"] = sum(covered(r, retrieved) for r in references) / len(references) if references else None
        record["citation_hits_reference"] = (
            any(max(0, min(c[1], r[1]) - max(c[0], r[0])) > 0 for c in cited for r in references) if cited and not answer.refused else None
        )
    else:
        record["correct"] = answer.refused
    return record


def summarise(records: list[dict]) -> dict:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    recalls = [r["recall_at_k"] for r in answerable if r.get("recall_at_k") is not None]
    hits = [r["citation_hits_reference"] for r in answerable if r.get("citation_hits_reference") is not None]
    totals = sorted(r["timings"]["total"] for r in records)

    def rate(values) -> float | None:
        values = list(values)
        return round(sum(values) / len(values), 4) if values else None

    return {
        "samples": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": rate(r["correct"] for r in records),
        "correct_answerable": rate(r["correct"] for r in answerable),
        "false_refusals": rate(r["false_refusal"] for r in answerable),
        "refusal_accuracy_unanswerable": rate(r["refused"] for r in unanswerable),
        "citations_exact": rate(r["citations_exact"] for r in records),
        "citation_hits_reference": rate(hits),
        "recall_at_k": rate(recalls),
        "answer_seconds_p50": totals[len(totals) // 2] if totals else None,
        "answer_seconds_p95": totals[min(len(totals) - 1, int(len(totals) * 0.95))] if totals else None,
    }


def run(bot, samples: list[Sample], progress=True) -> list[dict]:
    """Ask every sample; a chain's follow-ups get the bot's own earlier answers as history."""
    from tqdm import tqdm

    histories: dict[str, list[dict]] = {}
    records = []
    for sample in tqdm(samples, desc="questions", disable=not progress):
        history = histories.get(sample.chain, []) if sample.chain and sample.turn > 0 else []
        started = time.perf_counter()
        answer = bot.chat(sample.question, history)
        passages = bot.retriever.retrieve(answer.standalone_question).passages
        source_text = bot.briefing.text
        record = score_sample(sample, answer, passages, source_text)
        record["wall_seconds"] = round(time.perf_counter() - started, 3)
        records.append(record)
        if sample.chain:
            histories[sample.chain] = history + [
                {"role": "user", "content": sample.question},
                {"role": "assistant", "content": answer.text},
            ]
    return records


def write_results(records: list[dict], summary: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "samples.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))

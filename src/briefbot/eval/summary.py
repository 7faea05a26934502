"""A run's scored records summed up: per system, per SQuAD article, and the unsupported-claim rate
among shown sentences (which needs hand labels: without them it stays open, never estimated)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from briefbot.eval.metrics import METRIC_KEYS, mean, percentile
from briefbot.eval.records import SampleRecord

Labels = dict[tuple[str, str], bool]  # (system, sentence id) -> supported


def headline_rates(records: list[SampleRecord]) -> dict:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    recalls = [r["recall_at_k"] for r in answerable if r.get("recall_at_k") is not None]
    hits = [r["citation_hits_reference"] for r in answerable if r.get("citation_hits_reference") is not None]
    totals = [r["timings"]["total"] for r in records]
    return {
        "samples": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": mean(r["correct"] for r in records),
        "correct_answerable": mean(r["correct"] for r in answerable),
        "false_refusals": mean(r["false_refusal"] for r in answerable),
        "refusal_accuracy_unanswerable": mean(r["refused"] for r in unanswerable),
        "citations_exact": mean(r["citations_exact"] for r in records if r["citations_exact"] is not None),
        "citation_hits_reference": mean(hits),
        "recall_at_k": mean(recalls),
        "answer_seconds_p50": percentile(totals, 0.5),
        "answer_seconds_p95": percentile(totals, 0.95),
    }


def metric_summary(records: list[SampleRecord], key: str) -> dict:
    """Mean over the scored records; judge failures are counted and never averaged in."""
    values = [float(r[key]) for r in records if r.get(key) is not None]
    failed = sum(1 for r in records if r.get("judge", {}).get(key, {}).get("status") == "failed")
    attempted = len(values) + failed
    return {
        "mean": mean(values),
        "n": len(values),
        "failed": failed,
        "failure_rate": round(failed / attempted, 4) if attempted else None,
        "not_applicable": len(records) - attempted,
    }


def summarise_system(records: list[SampleRecord], labels: Labels | None = None) -> dict:
    summary = headline_rates(records)
    metrics = {key: metric_summary(records, key) for key in METRIC_KEYS}
    # `refused` is the abstention rate only on unanswerable questions; `false_refusal` only on answerable ones.
    metrics["refused"] = metric_summary([r for r in records if not r["answerable"]], "refused")
    summary["metrics"] = metrics
    summary["unsupported_claims"] = asdict(audit_claims(records, labels or {}))
    judged = [r["judge"][m] for r in records for m in r.get("judge", {})]
    summary["judge_seconds_uncached"] = round(sum(j.get("seconds_uncached", 0) for j in judged), 1)
    return summary


@dataclass(frozen=True)
class ClaimAudit:
    """Shown sentences against the hand labels; the unsupported-claim rate is None until some are labelled."""

    shown: int
    labelled: int
    unsupported: int
    rate: float | None


def audit_claims(records: list[SampleRecord], labels: Labels) -> ClaimAudit:
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


def article_scores(records: list[SampleRecord], labels: Labels) -> ArticleScores:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    return ArticleScores(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        correct=mean(r["correct"] for r in answerable),
        f1=mean(r["f1"] for r in answerable),
        abstention=mean(r["refused"] for r in unanswerable),
        false_refusals=mean(r["refused"] for r in answerable),
        claims=audit_claims(records, labels),
    )


def summarise_articles(records: list[SampleRecord], systems: list[str], labels: Labels) -> dict:
    """{"per_article": {title: {system: scores}}, "overall": {system: scores}}, in the order asked."""
    titles = list(dict.fromkeys(r["article"] for r in records))

    def scores(selected) -> dict:
        return {name: asdict(article_scores([r for r in selected if r["system"] == name], labels)) for name in systems}

    return {
        "per_article": {title: scores([r for r in records if r["article"] == title]) for title in titles},
        "overall": scores(records),
    }

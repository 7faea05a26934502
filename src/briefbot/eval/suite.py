"""A whole run, what `briefbot eval` does: ask every system every question, score the answers, then
judge, calibrate, summarise and write samples.jsonl, summary.json and the report.

A SQuAD 2.0 file is the other dataset: each article one briefing with an index of its own, a seeded
stratified sample of its questions, and per article: a gold answer contained, SQuAD's token F1,
abstention and false refusals. Every run records each shown sentence with what it cites, so hand
labels of those sentences (`labels`) give the unsupported-claim rate.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from briefbot.briefing import load_briefing
from briefbot.eval import squad
from briefbot.eval.calibration import DEFAULT_CALIBRATION, Calibration, CalibrationPair, calibrate, faithfulness_trust, load_calibration
from briefbot.eval.dataset import (
    DEFAULT_DATASET,
    DEFAULT_PER_ARTICLE,
    Sample,
    SquadSelection,
    is_squad,
    load_dataset,
    load_labels,
    load_squad,
    select_articles,
    squad_sample,
)
from briefbot.eval.judge import Judge, LlamaIndexEmbeddings, make_judge
from briefbot.eval.judged import DEFAULT_LLM_METRICS, judge_records
from briefbot.eval.metrics import evidence_metrics, score_sample
from briefbot.eval.records import SampleRecord
from briefbot.eval.report import write_report
from briefbot.eval.summary import Labels, summarise_articles, summarise_system
from briefbot.eval.systems import BaselineSystem, BriefBotSystem, build_systems, shown_sentences


def run_system(system, samples: list[Sample], progress=lambda message: None) -> list[SampleRecord]:
    """Ask every sample; a chain's follow-ups get the system's own earlier answers as history."""
    histories: dict[str, list[dict]] = {}
    records = []
    progress(f"answering with {system.name}: {len(samples)} questions")
    for sample in tqdm(samples, desc=f"answering ({system.name})", disable=None):
        history = histories.get(sample.chain, []) if sample.chain and sample.turn > 0 else []
        started = time.perf_counter()
        output = system.respond(sample.question, history)
        record: SampleRecord = {"system": system.name, **score_sample(sample, output.answer, output.passages, system.source_text)}
        record["wall_seconds"] = round(time.perf_counter() - started, 3)
        if not system.cites:
            record["citations_exact"] = None
            record["citation_hits_reference"] = None
        record["evidence"] = [asdict(e) for e in output.evidence]
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


@dataclass(frozen=True)
class JudgeTier:
    """A run's judge: the metrics it judges (answer relevancy embeds with `embeddings`) and the
    hand-labelled pairs it is calibrated on, if any."""

    judge: Judge
    embeddings: LlamaIndexEmbeddings | None = None
    metrics: tuple[str, ...] = DEFAULT_LLM_METRICS
    calibration_pairs: tuple[CalibrationPair, ...] = ()


@dataclass(frozen=True)
class RunSetup:
    """What a run does after answering: judge (None: no judge), write to `out_dir` (None: nowhere),
    describe itself in the summary (`info`), and score shown sentences against hand `labels`."""

    judging: JudgeTier | None = None
    out_dir: Path | None = None
    info: dict = field(default_factory=dict)
    labels: Labels | None = None
    progress: Callable[[str], None] = lambda message: None


def evaluate_systems(systems: list, samples: list[Sample], setup: RunSetup = RunSetup()) -> tuple[list[SampleRecord], dict]:
    """Answer with every system, score, then finish the run (judge, calibrate, summarise, write)."""
    started = time.perf_counter()
    records: list[SampleRecord] = []
    for system in systems:
        records += run_system(system, samples, setup.progress)
    return finish_run(records, samples, [s.name for s in systems], started, setup)


def finish_run(
    records: list[SampleRecord], samples: list[Sample], systems: list[str], started: float, setup: RunSetup
) -> tuple[list[SampleRecord], dict]:
    """Judge and calibrate the answered records, summarise them (per article too, for SQuAD), write
    results and the report."""
    judging, progress, labels = setup.judging, setup.progress, setup.labels
    judge = judging.judge if judging else None
    answered = time.perf_counter()
    if judging and records:
        judge_records(records, samples, judge, judging.embeddings, judging.metrics, progress)
    judged = time.perf_counter()
    calibration = calibrate(judge, list(judging.calibration_pairs), progress) if judging and judging.calibration_pairs else None
    finished = time.perf_counter()

    judged_metrics = list(judging.metrics) if judging else []
    seconds = {"answering": round(answered - started, 1), "judging": round(judged - answered, 1), "calibration": round(finished - judged, 1)}
    summary = {
        "run": {**setup.info, "samples": len(samples), "systems": systems, "judged_metrics": judged_metrics, "seconds": seconds},
        "judge": {**judge.describe(), **judge.stats()} if judge is not None else {"kind": "none"},
        "calibration": calibration.summary() if calibration else None,
        "faithfulness_trust": faithfulness_trust(calibration, judge.kind if judge is not None else "none"),
        "systems": {name: summarise_system([r for r in records if r["system"] == name], labels) for name in systems},
    }
    if labels is not None:
        shown = {(r["system"], s["id"]) for r in records for s in r["sentences"]}
        summary["labels"] = {"labels": len(labels), "matching_shown_sentences": len(shown & labels.keys())}
    if any("article" in r for r in records):
        summary["articles"] = summarise_articles(records, systems, labels or {})
    judged_samples = sum(1 for r in records if any(r["judge"].get(m, {}).get("status") in ("ok", "failed") for m in judged_metrics))
    if judged_samples:
        summary["run"]["judge_seconds_per_judged_sample"] = round((judged - answered) / judged_samples, 1)
    if setup.out_dir is not None:
        write_suite(records, summary, calibration, judge, Path(setup.out_dir))
    return records, summary


def _write_jsonl(path: Path, items) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")


def write_suite(records: list[SampleRecord], summary: dict, calibration: Calibration | None, judge: Judge | None, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"samples": out_dir / "samples.jsonl", "summary": out_dir / "summary.json"}
    _write_jsonl(paths["samples"], records)
    paths["summary"].write_text(json.dumps(summary, indent=2))
    if judge is not None:
        paths["judge_calls"] = out_dir / "judge_calls.jsonl"
        _write_jsonl(paths["judge_calls"], judge.calls)
    if calibration is not None:
        paths["calibration"] = out_dir / "calibration.jsonl"
        _write_jsonl(paths["calibration"], (verdict.to_dict() for verdict in calibration.verdicts))
    paths.update(write_report(summary, records, out_dir, calibration))
    return paths


def run_suite(
    settings,
    systems: list[str],
    judge_kind: str = "none",
    dataset: Traversable | str = DEFAULT_DATASET,
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
) -> tuple[list[SampleRecord], dict]:
    """What `briefbot eval` runs: the JSONL question set, or a SQuAD file (see run_squad_suite)."""
    if is_squad(dataset):
        if judge_kind != "none" or calibrate or limit is not None:
            raise ValueError("a SQuAD dataset runs without --judge, --calibrate-judge and --limit: "
                             "choose its questions with --split, --articles and --per-article")
        selection = SquadSelection(DEFAULT_PER_ARTICLE if per_article is None else per_article, tuple(articles), split, settings.seed)
        return run_squad_suite(settings, systems, dataset, selection, out_dir, labels_path, progress)
    if per_article is not None or articles or split:
        raise ValueError(f"--per-article, --articles and --split choose SQuAD questions; {dataset} is a JSONL question set")
    if calibrate and judge_kind == "none":
        raise ValueError("--calibrate-judge needs a judge: --judge local, openai or stub")

    labels = load_labels(labels_path) if labels_path else None
    samples = load_dataset(dataset)[:limit]
    built = build_systems(settings, systems, progress) if samples else []
    judge = None
    if judge_kind != "none":
        progress(f"loading the {judge_kind} judge…")
        judge = make_judge(judge_kind, settings, cache_dir=judge_cache or Path(settings.cache_dir) / "judge", **(judge_options or {}))
    judging = None
    if judge is not None:
        metrics = tuple(judge_metrics or DEFAULT_LLM_METRICS)
        embeddings = LlamaIndexEmbeddings(shared_embed_model(built)) if samples and "answer_relevancy" in metrics else None
        pairs = tuple(load_calibration(calibration_path or DEFAULT_CALIBRATION)[:calibration_limit]) if calibrate else ()
        judging = JudgeTier(judge, embeddings, metrics, pairs)
    run_info = {"dataset": str(dataset), "limit": limit, "labels": str(labels_path) if labels_path else None, "settings": settings_info(settings)}
    return evaluate_systems(built, samples, RunSetup(judging, out_dir, run_info, labels, progress))


def shared_embed_model(systems: list):
    """The MiniLM a briefbot system loaded, else the baseline's: answer relevancy embeds with it too."""
    embed_model = next((s.bot.index.embed_model for s in systems if isinstance(s, BriefBotSystem)), None)
    if embed_model is None:
        embed_model = next(s for s in systems if isinstance(s, BaselineSystem)).embed_model
    return embed_model


def settings_info(settings) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in settings.model_dump().items() if k != "openai_api_key"}


# ---------------------------------------------------------------------------------------------
# SQuAD 2.0: every article is a briefing of its own, asked a seeded sample of its questions


def write_briefing(article: squad.SquadArticle, directory: Path) -> Path:
    """The article as a briefing file, checked to load back as the very text its gold offsets point into."""
    path = directory / f"{article.doc_id}.txt"
    path.write_text(article.text, encoding="utf-8")
    if load_briefing(path).text != article.text:
        raise ValueError(f"{article.title}: the briefing loader changes this article's text, so its gold offsets would not hold")
    return path


def run_article(
    settings, names: list[str], article: squad.SquadArticle, samples: list[Sample], scratch: Path, progress
) -> list[SampleRecord]:
    """One article's questions, asked of systems built on an index of that article alone, so no
    answer can cite another article."""
    briefing = write_briefing(article, scratch)
    article_settings = settings.model_copy(update={"index_dir": scratch / f"index-{article.doc_id}", "briefings": [briefing]})
    records = []
    for system in build_systems(article_settings, names, progress):
        records += [{"article": article.title, **record} for record in run_system(system, samples, progress)]
    return records


def run_squad_suite(
    settings, systems: list[str], dataset: Traversable | str, selection: SquadSelection, out_dir: Path | None, labels_path: Path | None,
    progress,
) -> tuple[list[SampleRecord], dict]:
    """Each article indexed on its own in a temporary directory (settings.index_dir is not touched)."""
    if selection.per_article < 1:
        raise ValueError("--per-article must be at least 1")
    labels = load_labels(labels_path) if labels_path else None
    chosen = select_articles(load_squad(dataset), selection)
    asked = [(a, [squad_sample(q) for q in squad.sample_questions(a, selection.per_article, selection.seed)]) for a in chosen]
    started = time.perf_counter()
    records: list[SampleRecord] = []
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
        "settings": settings_info(settings),
    }
    samples = [sample for _, article_samples in asked for sample in article_samples]
    return finish_run(records, samples, systems, started, RunSetup(None, out_dir, run_info, labels, progress))

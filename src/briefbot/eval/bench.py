"""`briefbot bench`: what a staff member waits for, measured on this machine, against the naive baseline.

Prints numbers only; targets live in the issue notes, never in asserts.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from briefbot import BriefBot, Settings
from briefbot.eval.dataset import load_dataset
from briefbot.eval.metrics import is_correct, percentile
from briefbot.eval.systems import BaselineSystem, fake_baseline_llm, looks_like_refusal
from briefbot.index import open_index

COLD_START_QUESTION = "How many Tajik border guards are on patrol today?"


def _peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def measure_index_build(settings: Settings, embed_model) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        open_index(settings.model_copy(update={"index_dir": Path(scratch)}), embed_model=embed_model)
        return time.perf_counter() - started


def measure_cold_start(settings: Settings) -> tuple[float, float]:
    """A fresh process, from exec to the first complete answer (index already built, model cached)."""
    command = [sys.executable, "-m", "briefbot.cli", "ask", "--json", COLD_START_QUESTION, "--backend", settings.backend,
               "--index-dir", str(settings.index_dir), *(f"--briefing={path}" for path in settings.briefings)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"cold-start run failed: {result.stderr.strip()[-500:]}")
    return elapsed, _peak_rss_mb(resource.RUSAGE_CHILDREN)


def run_bench(
    settings: Settings, limit: int | None = None, baseline: bool = True, cold_baseline: int = 4, progress=lambda message: None
) -> dict:
    samples = [s for s in load_dataset() if s.turn == 0][:limit]
    progress("cold start (a separate process)…")
    cold_start, cold_rss = measure_cold_start(settings)
    bot = BriefBot.from_settings(settings, progress=progress)
    index_build = measure_index_build(settings, bot.index.embed_model)
    llm = getattr(bot.generator, "llm", None)
    rows = time_briefbot(bot, samples)
    baseline_rows, cold_baseline_rows = [], []
    if baseline and llm is not None:
        # The fake LLM only speaks briefbot's prompt; the baseline's default QA prompt needs its twin.
        baseline_llm = fake_baseline_llm() if settings.backend == "fake" else llm
        system = BaselineSystem(bot.briefing.text, bot.index.embed_model, baseline_llm)
        baseline_rows, cold_baseline_rows = time_baseline(system, getattr(llm, "llama", None), samples, cold_baseline)

    def stat(values) -> dict:
        values = [v for v in values if v is not None]
        return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}

    report = {
        "backend": settings.backend,
        "questions": len(samples),
        "index_build_seconds": index_build,
        "cold_start_seconds": cold_start,
        "cold_start_peak_rss_mb": cold_rss,
        "warm_peak_rss_mb": _peak_rss_mb(),
        "retrieve_seconds": stat(r["retrieve"] for r in rows),
        "model_first_token_seconds": stat(r["model_first_token"] for r in rows),
        "first_token_seconds": stat(r["first_token"] for r in rows),
        "answer_seconds": stat(r["total"] for r in rows),
        "prompt_tokens": stat(r["prompt_tokens"] for r in rows),
        "generated_tokens_per_second": stat(r["tokens_per_second"] for r in rows),
        "check_seconds": stat(r["checks"] for r in rows),
        "correct": sum(r["correct"] for r in rows) / len(rows) if rows else None,
    }
    if baseline_rows:
        report["baseline_answer_seconds"] = stat(r["total"] for r in baseline_rows)
        report["baseline_correct"] = sum(r["correct"] for r in baseline_rows) / len(baseline_rows)
        ours, theirs = report["answer_seconds"]["p50"], report["baseline_answer_seconds"]["p50"]
        report["speedup_vs_baseline_p50"] = theirs / ours if ours else None
    if cold_baseline_rows:
        report["baseline_reset_answer_seconds"] = stat(r["total"] for r in cold_baseline_rows)
        report["speedup_vs_baseline_reset_p50"] = report["baseline_reset_answer_seconds"]["p50"] / ours if ours else None
    return report


def time_briefbot(bot: BriefBot, samples) -> list[dict]:
    llm = getattr(bot.generator, "llm", None)
    rows = []
    for sample in tqdm(samples, desc="briefbot (warm)"):
        answer = bot.ask(sample.question)
        prompt_tokens, generated = getattr(llm, "last_usage", (0, 0))
        timings = answer.timings
        decoding = (timings.model_last_token or 0.0) - (timings.model_first_token or 0.0)
        checking = timings.first_token - timings.model_last_token if timings.model_last_token is not None else None
        rows.append(
            {
                "retrieve": answer.timings.retrieve,
                "model_first_token": answer.timings.model_first_token,
                "first_token": answer.timings.first_token,
                "total": answer.timings.total,
                "prompt_tokens": prompt_tokens,
                "generated_tokens": generated,
                "tokens_per_second": generated / decoding if generated and decoding > 0 else None,
                "checks": checking,
                "correct": is_correct(sample, answer.text, answer.refused),
            }
        )
    return rows


def time_baseline(system: BaselineSystem, llama, samples, cold_baseline: int) -> tuple[list[dict], list[dict]]:
    """The baseline back to back, then `cold_baseline` questions each after a context reset."""
    rows, cold_rows = [], []
    # The baseline gets llama.cpp's own reuse of the live context but none of briefbot's caching.
    cache = llama.cache if llama else None
    if llama:
        llama.set_cache(None)
    try:
        for sample in tqdm(samples, desc="naive baseline"):
            output = system.respond(sample.question, [])
            text = output.answer.text
            rows.append({"total": output.answer.timings.total, "correct": is_correct(sample, text, looks_like_refusal(text))})
        # Consecutive baseline prompts often start with the same 1,024-token chunk, which the live
        # context keeps; a question after unrelated traffic pays for the whole prompt.
        for sample in tqdm(samples[:cold_baseline], desc="naive baseline, context reset"):
            if llama:
                llama.reset()
            output = system.respond(sample.question, [])
            cold_rows.append({"total": output.answer.timings.total})
    finally:
        if llama:
            llama.set_cache(cache)
    return rows, cold_rows


def format_table(report: dict) -> str:
    def show(value, unit=""):
        if value is None:
            return "–"
        return f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    lines = [f"briefbot bench · backend {report['backend']} · {report['questions']} questions (warm)", ""]
    lines.append(f"{'metric':34} {'p50':>10} {'p95':>10}")
    for key, label, unit in [
        ("retrieve_seconds", "retrieval latency", " s"),
        ("model_first_token_seconds", "time to first model token", " s"),
        ("first_token_seconds", "time to first verified sentence", " s"),
        ("answer_seconds", "total answer time", " s"),
        ("generated_tokens_per_second", "decode speed, tokens/s", ""),
        ("check_seconds", "checks after generation", " s"),
        ("prompt_tokens", "prompt tokens per answer", ""),
        ("baseline_answer_seconds", "naive baseline answer time", " s"),
        ("baseline_reset_answer_seconds", "  same, context reset first", " s"),
    ]:
        if key in report:
            lines.append(f"{label:34} {show(report[key]['p50'], unit):>10} {show(report[key]['p95'], unit):>10}")
    lines.append("")
    lines.append(f"{'index build':34} {show(report['index_build_seconds'], ' s'):>10}")
    lines.append(f"{'cold start (exec → first answer)':34} {show(report['cold_start_seconds'], ' s'):>10}")
    lines.append(f"{'peak RSS, cold-start process':34} {show(report['cold_start_peak_rss_mb'], ' MB'):>10}")
    lines.append(f"{'peak RSS, this process':34} {show(report['warm_peak_rss_mb'], ' MB'):>10}")
    lines.append(f"{'correct (key facts / refusals)':34} {show(report['correct']):>10}")
    if "baseline_correct" in report:
        lines.append(f"{'naive baseline correct':34} {show(report['baseline_correct']):>10}")
        lines.append(f"{'speed-up vs baseline (p50)':34} {show(report['speedup_vs_baseline_p50'], '×'):>10}")
    if "speedup_vs_baseline_reset_p50" in report:
        lines.append(f"{'speed-up vs reset baseline (p50)':34} {show(report['speedup_vs_baseline_reset_p50'], '×'):>10}")
    return "\n".join(lines)


def print_report(report: dict, as_json: bool) -> None:
    print(json.dumps(report, indent=2) if as_json else format_table(report))

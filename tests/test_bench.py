"""`briefbot bench` with the fake backend: every number it prints is measured, and they add up."""

from briefbot import Settings
from briefbot.eval.bench import format_table, run_bench


def test_bench_reports_latencies_in_pipeline_order(index_dir):
    report = run_bench(Settings(backend="fake", index_dir=index_dir), limit=3, baseline=True, cold_baseline=0)
    assert report["questions"] == 3
    assert report["cold_start_seconds"] > 0 and report["index_build_seconds"] > 0
    p50 = {key: report[key]["p50"] for key in ("model_first_token_seconds", "first_token_seconds", "answer_seconds", "check_seconds")}
    # The checks run between the generator's last token and the first shown sentence.
    assert 0 <= p50["check_seconds"] <= p50["first_token_seconds"] <= p50["answer_seconds"]
    assert p50["model_first_token_seconds"] <= p50["first_token_seconds"]
    assert report["baseline_answer_seconds"]["p50"] > 0 and 0 <= report["baseline_correct"] <= 1
    table = format_table(report)
    assert "checks after generation" in table and "decode speed" in table

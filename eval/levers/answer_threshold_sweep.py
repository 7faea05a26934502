"""A finished run re-read at stricter answer thresholds (a lever of issue #14's abstention).

Usage: python eval/levers/answer_threshold_sweep.py RUN_DIR [THRESHOLD ...]

Every shown answer of briefbot records the generator's yes−no margin that its quotes answer the
question (samples.jsonl: answer_margin). At a threshold above the run's own, an answer whose margin
falls below it would have been refused; nothing else changes. (Below the run's threshold nothing
can be re-read: a refused answer's sentences are not kept.) Prints, per threshold, answerable
correct, false refusals and abstention on unanswerable questions, pooled over the run's records.
"""

import json
import sys
from pathlib import Path


def reread(records: list[dict], threshold: float) -> dict[str, str]:
    shown = [r for r in records if not r["refused"] and (r.get("answer_margin") is None or r["answer_margin"] >= threshold)]
    ids = {r["id"] for r in shown}
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    correct = sum(r["correct"] for r in answerable if r["id"] in ids)
    refused = sum(r["id"] not in ids for r in answerable)
    abstained = sum(r["id"] not in ids for r in unanswerable)
    return {
        "correct": f"{correct / len(answerable):.2f} ({correct}/{len(answerable)})",
        "false refusals": f"{refused / len(answerable):.2f} ({refused}/{len(answerable)})",
        "abstention": f"{abstained / len(unanswerable):.2f} ({abstained}/{len(unanswerable)})" if unanswerable else "–",
    }


def main() -> None:
    run = Path(sys.argv[1])
    thresholds = [float(t) for t in sys.argv[2:]] or [0.0, 0.5, 1.0, 1.5, 2.0]
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines() if line.strip()]
    records = [r for r in records if r["system"].startswith("briefbot")]
    print(f"{run}: {len(records)} records")
    print("| answer threshold | correct (answerable) | false refusals | abstention (unanswerable) |")
    print("|---:|---|---|---|")
    for threshold in thresholds:
        row = reread(records, threshold)
        print(f"| {threshold:+.1f} | {row['correct']} | {row['false refusals']} | {row['abstention']} |")


if __name__ == "__main__":
    main()

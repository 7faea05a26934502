"""Re-score the answerable SQuAD questions of recorded runs with today's containment rule.

Usage: python eval/rescore_squad.py RUN_DIR/samples.jsonl [...]

Recorded runs keep each answer's text, so a change to how correctness is scored (briefbot.eval.squad:
Unicode punctuation such as a closing ” now counts as punctuation, a possessive "’s" is a word of its own, and so is each side of a dash) can be applied to them without
asking the model again. Prints, per run and system, answerable correct as recorded and as re-scored.
"""

import json
import sys
from pathlib import Path

from briefbot.eval.dataset import load_squad, squad_sample
from briefbot.eval.metrics import is_correct

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "documents" / "squad2-dev-13-articles.json"


def main() -> None:
    samples = {q.id: squad_sample(q) for article in load_squad(str(SQUAD)) for q in article.questions}
    for path in sys.argv[1:]:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        if not all(row["id"] in samples for row in rows):
            print(f"{path}: not a run on {SQUAD.name}, skipped")
            continue
        for system in sorted({row["system"] for row in rows}):
            answerable = [row for row in rows if row["system"] == system and row["answerable"]]
            recorded = sum(row["correct"] for row in answerable)
            rescored = sum(is_correct(samples[row["id"]], row["answer"], row["refused"]) for row in answerable)
            print(f"{path} {system}: answerable correct {recorded}/{len(answerable)} recorded, {rescored}/{len(answerable)} re-scored")


if __name__ == "__main__":
    main()

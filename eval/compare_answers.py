"""Whether two `briefbot eval` runs gave the same answers: python eval/compare_answers.py BEFORE AFTER.

Each argument is a run's directory (its samples.jsonl). Compares, per (system, question id), what
was shown: answer text, refusal and its reason, the standalone question, correctness, and the
citations, shown sentences and evidence by content (chunk id, offsets, quoted text), so a record
format that names a field differently (`quote`/`text`, `id`/`chunk_id`) still compares.
Prints the count of records differing in each and exits 1 if any does.
"""

import json
import sys
from pathlib import Path

SHOWN = ("answer", "refused", "refusal_reason", "standalone_question", "correct")


def _records(run: Path) -> dict[tuple[str, str], dict]:
    lines = (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return {(r["system"], r["id"]): r for r in map(json.loads, lines)}


def _span(item: dict) -> tuple:
    return (item.get("chunk_id", item.get("id")), item["start"], item["end"], item.get("quote", item.get("text")))


def _parts(record: dict) -> dict:
    parts = {key: record.get(key) for key in SHOWN}
    parts["citations"] = [(c["n"], c["section"], c["doc_id"], c["page"], *_span(c)) for c in record["citations"]]
    parts["sentences"] = [(s["id"], s["text"], s["check"], s["margin"], [_span(c) for c in s["cited"]]) for s in record["sentences"]]
    parts["evidence"] = [_span(e) for e in record["evidence"]]
    return parts


def main(before: str, after: str) -> int:
    old, new = _records(Path(before)), _records(Path(after))
    if old.keys() != new.keys():
        print(f"different questions: {len(old.keys() - new.keys())} only before, {len(new.keys() - old.keys())} only after")
        return 1
    differing = {}
    for key in old:
        a, b = _parts(old[key]), _parts(new[key])
        for part in a:
            if a[part] != b[part]:
                differing.setdefault(part, []).append(key[1])
    print(f"{len(old)} records compared")
    for part in (*SHOWN, "citations", "sentences", "evidence"):
        ids = differing.get(part, [])
        print(f"  {part:20} {len(ids)} differ" + (f": {', '.join(ids[:10])}" if ids else ""))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

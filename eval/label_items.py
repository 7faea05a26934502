"""The shown sentences of an eval run, one labelling item each, for an independent hand audit.

Usage: python eval/label_items.py SAMPLES_JSONL OUT_JSONL [SYSTEM]   (default system: briefbot-local)

Each item: sentence_id (answer id # sentence number), system, doc, question, the sentence as shown
and the quotes it cites. The labeller reads them against the whole document and writes
{sentence_id, system, supported, answers_question, note} per item (eval/labels/).
"""

import json
import sys
from pathlib import Path


def items(samples: Path, system: str) -> list[dict]:
    found = []
    for line in samples.read_text().splitlines():
        record = json.loads(line)
        if record["system"] != system or record["refused"]:
            continue
        for sentence in record.get("sentences", []):
            found.append({
                "sentence_id": sentence["id"],
                "system": system,
                "doc": record.get("doc_id") or record.get("article") or "",
                "question": record["standalone_question"] or record["question"],
                "sentence": sentence["text"],
                "cited_quotes": [cited["text"] for cited in sentence["cited"]],
            })
    return found


if __name__ == "__main__":
    chosen = items(Path(sys.argv[1]), sys.argv[3] if len(sys.argv) > 3 else "briefbot-local")
    Path(sys.argv[2]).write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in chosen))
    print(f"{len(chosen)} sentences")

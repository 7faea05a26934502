"""Does the answer's own first token say "I would rather refuse"? (a lever of issue #14's abstention;
tune articles only)

Usage: python eval/levers/first_token_refusal.py SAMPLES_JSONL LOG_JSONL

The answer prompt tells the model to write NOT IN BRIEFING when the passages do not answer. When it
answers anyway, the probability it gave a refusal as its first token costs nothing to read (the
logits are there before the first token is sampled). `first_token_refusal.patch` (apply at e550d21)
logs log P(first token is "NOT"/"Not") with the answer check's margin for every generated answer;
run an eval with EXP_NR_LOG=LOG_JSONL, then this script asks whether that probability separates
answerable from unanswerable questions beyond the answer check, and scores "the shipped policy, and
also refuse when log P(refusal) > c".
"""

import json
import sys

from answers_probe import auc


def rows(samples_path: str, log_path: str) -> list[dict]:
    logged = {d["question"]: d for d in map(json.loads, open(log_path))}
    found = []
    for sample in map(json.loads, open(samples_path)):
        if sample["system"] == "briefbot-local":
            found.append({"sample": sample, "log": logged.get(sample["standalone_question"])})
    return found


def score(found: list[dict], cut: float) -> str:
    yes = [r for r in found if r["sample"]["answerable"]]
    no = [r for r in found if not r["sample"]["answerable"]]

    def shown(r) -> bool:
        refusal = (r["log"] or {}).get("refusal_logprob")
        return not r["sample"]["refused"] and not (refusal is not None and refusal > cut)

    correct = sum(shown(r) and r["sample"]["correct"] for r in yes)
    return (f"correct {correct}/{len(yes)}, false refusals {sum(not shown(r) for r in yes)}/{len(yes)}, "
            f"abstention {sum(not shown(r) for r in no)}/{len(no)}")


def main() -> None:
    found = rows(sys.argv[1], sys.argv[2])
    judged = [r for r in found if r["log"] and r["log"]["kept"] and r["log"]["quote_margin"] is not None]
    yes = [r["log"] for r in judged if r["sample"]["answerable"]]
    no = [r["log"] for r in judged if not r["sample"]["answerable"]]
    print(f"{len(found)} questions; {len(yes)} answerable and {len(no)} unanswerable reached the answer check")
    print(f"ROC AUC: answer check margin {auc([d['quote_margin'] for d in yes], [d['quote_margin'] for d in no]):.3f}, "
          f"−log P(refusal) {auc([-d['refusal_logprob'] for d in yes], [-d['refusal_logprob'] for d in no]):.3f}")
    for weight in (0.25, 0.5, 1.0):
        combined = [d["quote_margin"] - weight * d["refusal_logprob"] for d in yes], [d["quote_margin"] - weight * d["refusal_logprob"] for d in no]
        print(f"ROC AUC: margin − {weight}·log P(refusal) {auc(*combined):.3f}")
    print("shipped:", score(found, float("inf")))
    for cut in (-0.5, -1.0, -1.5, -2.0, -2.5):
        print(f"shipped, and refuse when log P(refusal) > {cut:+.1f}:", score(found, cut))


if __name__ == "__main__":
    main()

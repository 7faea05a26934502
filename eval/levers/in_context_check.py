"""Could the "does it answer the question?" check be asked inside the answer's KV cache? (issue #14's
speed lever; tune articles only)

Usage: python eval/levers/in_context_check.py SAMPLES_JSONL MARGINS_JSONL

The shipped check (answer.AnswerPolicy) prefills a prompt of its own: fixed instructions (cached)
and then the cited quotes and the question, ~0.95 s a question. Asked as a follow-up turn after the
answer, with the passages and the question already in the KV cache, it prefills ~30 tokens. To
measure that, `in_context_check.patch` (apply to src/briefbot/bot.py at 779e8c8) logs, for every answer with
supported sentences, two follow-up margins beside the shipped one:
- v1: "Does the passage you cited state the answer to this very question, about the same people,
  things, places and times it names? Answer Yes or No."
- v2: "Is your answer correct according to the passages? Answer Yes or No."
Run an eval with EXP_CTX_LOG=MARGINS_JSONL, then this script scores each policy on that run's
questions: an answer the shipped check refused counts as correct if the gold answer is in the
generator's raw text.
"""

import json
import sys
from statistics import median

from answers_probe import SQUAD

from briefbot.eval.dataset import load_squad
from briefbot.eval.squad import normalize_answer
from briefbot.verify import unnamed_in


def rows(samples_path: str, margins_path: str) -> list[dict]:
    gold = {q.question: (article, q) for article in load_squad(str(SQUAD)) for q in article.questions}
    logged = {d["question"]: d for d in map(json.loads, open(margins_path))}
    found = []
    for sample in map(json.loads, open(samples_path)):
        if sample["system"] != "briefbot-local":
            continue
        article, question = gold[sample["question"]]
        margins = logged.get(sample["standalone_question"])
        row = {"answerable": sample["answerable"], "judged": False}
        if margins is not None and margins["quote_margin"] is not None:
            row.update(judged=True, quote=margins["quote_margin"], v1=margins["v1"], v2=margins["v2"],
                       seconds=margins["v2_seconds"], unquoted=_unquoted(sample, article),
                       correct=_correct_if_shown(sample, question, margins["raw"]))
        found.append(row)
    return found


def _unquoted(sample: dict, article) -> bool:
    """Did the shipped policy need its surer margin (a name of the question not in the quotes)?"""
    if sample["refused"]:
        return "never name" in sample["refusal_reason"]
    quotes = " ".join(span["text"] for sentence in sample["sentences"] for span in sentence["cited"])
    front_matter = article.text.split("\n\n")[0]
    return unnamed_in(sample["standalone_question"], [front_matter, " ".join(quotes.split())], article.text) is not None


def _correct_if_shown(sample: dict, question, raw: str) -> bool:
    if not sample["refused"]:
        return sample["correct"]
    return sample["answerable"] and any(normalize_answer(g) in normalize_answer(raw) for g in question.answers)


def score(found: list[dict], shows) -> str:
    yes = [r for r in found if r["answerable"]]
    no = [r for r in found if not r["answerable"]]
    shown = [r["judged"] and shows(r) for r in found]
    correct = sum(s and r["correct"] for r, s in zip(found, shown) if r["answerable"])
    false_refusals = sum(not s for r, s in zip(found, shown) if r["answerable"])
    abstained = sum(not s for r, s in zip(found, shown) if not r["answerable"])
    return f"correct {correct}/{len(yes)}, false refusals {false_refusals}/{len(yes)}, abstention {abstained}/{len(no)}"


def main() -> None:
    found = rows(sys.argv[1], sys.argv[2])
    judged = [r for r in found if r["judged"]]
    print(f"{len(found)} questions, {len(judged)} judged by a margin (the rest refused before it)")
    print("shipped: quote margin ≥ 0, ≥ 1 when a name is unquoted:", score(found, lambda r: r["quote"] >= (1.0 if r["unquoted"] else 0.0)))
    for key in ("v1", "v2"):
        values = sorted(r[key] for r in judged)
        print(f"{key} margins: min {values[0]:+.2f}, median {median(values):+.2f}, max {values[-1]:+.2f}")
        for low in (0.0, 0.5, 1.0, 1.5, 2.0):
            for surer in (low, low + 0.5, low + 1.0):
                print(f"  {key} ≥ {low:+.1f} (≥ {surer:+.1f} unquoted):", score(found, lambda r: r[key] >= (surer if r["unquoted"] else low)))
    print(f"median seconds of the v2 follow-up (asked after v1, so its prefix up to the turn was cached): {median(r['seconds'] for r in judged):.2f}")


if __name__ == "__main__":
    main()

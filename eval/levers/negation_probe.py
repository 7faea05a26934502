"""Does "the question puts a negation before words a quote states" tell SQuAD 2.0's answerable
questions from its look-alikes? (issue #14's abstention; the rule, briefbot.verify.flipped_negation, was
shaped on the tune articles, the held-out ones and the Russia set are only reported)

Usage: python eval/levers/negation_probe.py [RUN_DIR ...]

No model is asked. For every question of each split with a gold answer, or for an unanswerable one
a "plausible" answer, the sentence holding it (answers_probe.py) stands in for the quote; prints how
often the rule fires on answerable and on unanswerable questions. Then, for each recorded eval run
given (a directory with samples.jsonl), the answered questions whose shown quotes it fires on: those
it would now refuse.
"""

import sys
from pathlib import Path

from answers_probe import answered, cases

from briefbot.verify import flipped_negation


def gold_sentences(split: str) -> None:
    chosen = cases(None, split)
    fired = [(question, found, answerable) for question, sentence, answerable in chosen if (found := flipped_negation(question, sentence))]
    answerable = sum(a for _, _, a in chosen)
    print(
        f"{split}: {len(chosen)} questions; fires on {sum(a for *_, a in fired)}/{answerable} answerable, "
        f"{sum(not a for *_, a in fired)}/{len(chosen) - answerable} unanswerable"
    )
    for question, found, answerable in fired:
        print(f"    {'answerable' if answerable else 'unanswerable'}: {question.strip()}  [{found.word} → {found.replacement}]")


def recorded_run(run: Path) -> None:
    counts = {"correct": 0, "answerable, not correct": 0, "unanswerable": 0}
    for _, question, kind, quoted in answered(run):
        found = flipped_negation(question, " ".join(" ".join(quoted).split()))
        if found:
            counts[kind] += 1
            print(f"    {kind}: {question.strip()}  [{found.word} → {found.replacement}]")
    print(f"{run.name}: answered questions it would refuse: {counts}")


def main() -> None:
    for split in ("tune", "held_out"):
        gold_sentences(split)
    for run in sys.argv[1:]:
        recorded_run(Path(run))


if __name__ == "__main__":
    main()

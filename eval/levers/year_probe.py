"""Does "an 'in what year/century' question needs a year or an ordinal" tell SQuAD 2.0's answerable
questions from its look-alikes? (issue #14's abstention; the rule is in briefbot.verify.answers_question.
It was suggested by one held-out seed-13 answer, "In what year did William the Silent issue his
'Apologie'?" answered with a quote that gives no year; it has no threshold to tune.)

Usage: python eval/levers/year_probe.py [RUN_DIR ...]

No model is asked. For every question of each split with a gold answer, or for an unanswerable one
a "plausible" answer, the sentence holding it (answers_probe.py) stands in for the quote; prints how
often the rule refuses answerable and unanswerable questions that ask for a year. Then, for each
recorded eval run given (a directory with samples.jsonl), the answered questions asking for a year
whose shown sentences it refuses: the paragraphs are the article's, so this is the rule's word test.
"""

import sys
from pathlib import Path

from answers_probe import answered, cases

from briefbot.verify import answers_question, asks_for_year


def gold_sentences(split: str) -> None:
    asking = [(q, s, a) for q, s, a in cases(None, split) if asks_for_year(q)]
    refused = [(q, s, a) for q, s, a in asking if not answers_question(q, [s], "", [s], s)]
    answerable = sum(a for *_, a in asking)
    print(
        f"{split}: {len(asking)} questions ask for a year; refuses {sum(a for *_, a in refused)}/{answerable} answerable, "
        f"{sum(not a for *_, a in refused)}/{len(asking) - answerable} unanswerable"
    )
    for question, sentence, answerable in refused:
        print(f"    {'answerable' if answerable else 'unanswerable'}: {question.strip()}  [{sentence[:90]}]")


def recorded_run(run: Path) -> None:
    counts = {"asking": 0, "correct": 0, "answerable, not correct": 0, "unanswerable": 0}
    for sample, question, kind, quoted in answered(run):
        if not asks_for_year(question):
            continue
        counts["asking"] += 1
        shown = [sentence["text"] for sentence in sample["sentences"]]
        cited = " ".join(quoted)
        if not answers_question(question, shown, "", [cited], cited):
            counts[kind] += 1
            print(f"    {kind}: {question.strip()}  [{sample['answer'][:90]}]")
    print(f"{run}: answered questions asking for a year, and those it would refuse: {counts}")


def main() -> None:
    for split in ("tune", "held_out"):
        gold_sentences(split)
    for run in sys.argv[1:]:
        recorded_run(Path(run))


if __name__ == "__main__":
    main()

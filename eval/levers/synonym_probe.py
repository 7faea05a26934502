"""Does "the question changes one word of the quote, and the generator says it means something
else" tell SQuAD 2.0's answerable questions from its look-alikes? (issue #14's abstention; the
threshold was chosen on the tune articles, the held-out ones are only reported)

Usage: python eval/levers/synonym_probe.py [SPLIT ...]   (default: tune held_out)

For every question of the split's articles with a gold answer, or for an unanswerable one a
"plausible" answer, the sentence holding it is what a model is drawn to quote (answers_probe.py).
briefbot.verify.reworded finds where the question repeats that sentence but for one word; for those
pairs the generator is asked whether the two words mean the same (prompts/synonym_*.txt). Prints,
per split, how often the word rule fires, the check's ROC AUC on the pairs, and per threshold the
answerable questions kept and the unanswerable stopped (of the pairs, and of all questions).
"""

import sys

from answers_probe import auc, cases

from briefbot.backends import make_backend
from briefbot.settings import Settings
from briefbot.verify import reworded


def main() -> None:
    backend = make_backend(Settings())
    for split in sys.argv[1:] or ["tune", "held_out"]:
        chosen = cases(None, split)
        answerable = sum(a for _, _, a in chosen)
        pairs = [(question, changed, a) for question, sentence, a in chosen if (changed := reworded(question, sentence))]
        scored = [(backend.synonym(question, c.sentence, c.word, c.replacement), a, c) for question, c, a in pairs]
        yes = [m for m, a, _ in scored if a]
        no = [m for m, a, _ in scored if not a]
        print(f"{split}: {len(chosen)} questions ({answerable} answerable); the word rule fires on {len(yes)} answerable, {len(no)} unanswerable")
        print(f"  synonym check ROC AUC on those pairs {auc(yes, no):.3f}")
        for threshold in (-1, -0.5, 0, 0.5, 1):
            lost = sum(m < threshold for m in yes)
            stopped = sum(m < threshold for m in no)
            print(
                f"  threshold {threshold:+.1f}: pairs kept {len(yes) - lost}/{len(yes)}, stopped {stopped}/{len(no)}; "
                f"of all questions, answerable lost {lost}/{answerable} = {lost / answerable:.3f}, "
                f"unanswerable stopped {stopped}/{len(chosen) - answerable} = {stopped / (len(chosen) - answerable):.3f}"
            )
        for margin, a, c in sorted(scored, key=lambda row: row[0]):
            print(f"    {'answerable' if a else 'unanswerable'} {margin:+.2f} {c.word} → {c.replacement}")


if __name__ == "__main__":
    main()

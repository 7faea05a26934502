"""Does the "does it answer the question?" check tell answers from near misses better when it also
reads the sentence before the quote? (a lever of issue #14; tune articles only)

Usage: python eval/levers/check_context_probe.py [PER_ARTICLE] [MARGINS_JSON] [CONTEXT_MARGINS_JSON]

A quote often names its subject only through the sentence before it ("… the country now lacks
qualified personnel", where the sentence before names Turkmenistan), so the check says "no" and the
names rule finds the question's name missing. For the cases of answers_probe.py this asks the
generator's yes/no once on the sentence alone (as shipped) and once on the sentence before it plus
the sentence, and scores the shipped rule (refuse when a name is not in the article, or when the
margin is below +1.0 where the quote lacks a name of the question, else below 0) on both.
"""

import sys
from pathlib import Path

from answers_probe import auc, cases
from question_names_probe import previous_sentence, print_surer_rule, rows
from question_words_probe import margins, paragraph_of


def with_previous(sentence: str) -> str:
    return f"{previous_sentence(sentence, paragraph_of(sentence))} {sentence}".strip()


def main() -> None:
    per_article = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    margins_path = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/question-words-margins.json")
    context_path = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/check-context-margins.json")
    shipped = rows(per_article, margins_path)
    widened = [dict(row, margin=margin) for row, margin in zip(shipped, margins(cases(per_article), context_path, with_previous))]
    for title, scored in (("the check reads the quote alone (shipped)", shipped), ("the check reads the sentence before the quote too", widened)):
        yes = [r for r in scored if r["answerable"]]
        no = [r for r in scored if not r["answerable"]]
        print(f"{title}: {len(yes)} answerable, {len(no)} unanswerable; margin ROC AUC {auc([r['margin'] for r in yes], [r['margin'] for r in no]):.3f}")
        print(" surer only when a name is not in the quote")
        print_surer_rule(yes, no, "not_in_quote")
        print(" surer only when a name is not in the quote nor the sentence before it")
        print_surer_rule(yes, no, "not_in_previous")


if __name__ == "__main__":
    main()

"""Do the question's own words help the generator's yes/no tell an answer from a near miss?
(a lever of issue #14's abstention; tune articles only)

Usage: python eval/levers/question_words_probe.py [PER_ARTICLE] [MARGINS_JSON]

SQuAD 2.0's adversarial questions change one word of an answerable one ("encouraged" for
"discouraged", "Allston" for "Longwood", "21st" for "20th century"), so the sentence a model is drawn
to lacks a word the question rests on. For the cases of answers_probe.py (the sentence holding the
gold or the plausible answer), this counts the question's content words (briefbot.text.content_words)
found neither in that sentence nor in its paragraph, and scores each rule "refuse when the margin is
below t, or when at least k question words are missing" by answerable kept and unanswerable stopped.
The margins are computed once and kept in MARGINS_JSON (default /tmp/question-words-margins.json).
"""

import json
import sys
from pathlib import Path

from answers_probe import auc, cases

from briefbot.backends import make_backend
from briefbot.settings import Settings
from briefbot.text import content_words


def paragraph_of(sentence: str) -> str:
    """The SQuAD paragraph holding the sentence (answers_probe's cases keep only the sentence)."""
    return PARAGRAPHS.get(sentence, sentence)


def _paragraphs() -> dict[str, str]:
    from answers_probe import SQUAD, holding_sentence

    found = {}
    for article in json.loads(SQUAD.read_text())["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                for span in qa["answers"] or qa.get("plausible_answers") or []:
                    found[holding_sentence(paragraph["context"], span["answer_start"])] = paragraph["context"]
    return found


PARAGRAPHS = _paragraphs()


def missing(question: str, text: str) -> int:
    return len(content_words(question) - content_words(text))


def margins(chosen, path: Path, passage_of=lambda sentence: sentence) -> list[float]:
    """The generator's yes−no margin for each case, asked of `passage_of(sentence)`; kept in `path`."""
    if path.is_file():
        stored = json.loads(path.read_text())
        if len(stored) == len(chosen):
            return stored
    backend = make_backend(Settings())
    found = [backend.answers(question, passage_of(sentence)) for question, sentence, _ in chosen]
    path.write_text(json.dumps(found))
    return found


def main() -> None:
    chosen = cases(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
    scored = margins(chosen, Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/question-words-margins.json"))
    rows = [
        (margin, missing(q, sentence), missing(q, paragraph_of(sentence)), answerable)
        for (q, sentence, answerable), margin in zip(chosen, scored)
    ]
    yes, no = [r for r in rows if r[3]], [r for r in rows if not r[3]]
    print(f"{len(yes)} answerable, {len(no)} unanswerable")
    print(f"ROC AUC: margin {auc([r[0] for r in yes], [r[0] for r in no]):.3f}, "
          f"−missing from the sentence {auc([-r[1] for r in yes], [-r[1] for r in no]):.3f}, "
          f"−missing from the paragraph {auc([-r[2] for r in yes], [-r[2] for r in no]):.3f}")
    for unit, column in (("sentence", 1), ("paragraph", 2)):
        for weight in (0.5, 1.0, 2.0):
            combined = auc([r[0] - weight * r[column] for r in yes], [r[0] - weight * r[column] for r in no])
            print(f"ROC AUC margin − {weight}·missing from the {unit}: {combined:.3f}")
    print("rule: refuse when margin < t or missing from the paragraph ≥ k")
    for t in (0.0, 0.5, 1.0):
        for k in (1, 2, 3, 99):
            kept = sum(r[0] >= t and r[2] < k for r in yes) / len(yes)
            stopped = sum(r[0] < t or r[2] >= k for r in no) / len(no)
            print(f"  t {t:+.1f} k {k:>2}: answerable kept {kept:.2f}, unanswerable stopped {stopped:.2f}")


if __name__ == "__main__":
    main()

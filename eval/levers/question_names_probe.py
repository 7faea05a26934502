"""Do the question's names tell an answer from a near miss? (a lever of issue #14's abstention;
tune articles only)

Usage: python eval/levers/question_names_probe.py [PER_ARTICLE] [MARGINS_JSON]

SQuAD 2.0's adversarial questions often swap a name ("the first reference to Prussia" where the text
says Warsaw) or a word of one. For the cases of answers_probe.py (the sentence holding the gold or
the plausible answer), this asks briefbot.verify.unnamed_in whether a name of the question is
missing from the whole article, or from the sentence and the article's first paragraph (its front
matter), or, as wider alternatives for a quote that says "the country" for a name, from the
sentence's paragraph or from the sentence and the one before it, and scores rules that combine that
with the generator's yes/no margin (answers_probe; computed once and kept in MARGINS_JSON, shared
with question_words_probe.py).
"""

import sys
from pathlib import Path

from answers_probe import SQUAD, auc, cases
from question_words_probe import margins, paragraph_of

from briefbot.eval.dataset import load_squad
from briefbot.briefing import sentence_spans
from briefbot.verify import unnamed_in


def article_of(paragraph: str, articles):
    """The article holding the paragraph (the cases keep only the sentence and its paragraph)."""
    opening = " ".join(paragraph.split())[:200]
    return next(a for a in articles if opening in " ".join(a.text.split()))


def previous_sentence(sentence: str, paragraph: str) -> str:
    """The sentence before `sentence` in its paragraph, where an anaphor's name ("the country") would stand."""
    start = paragraph.find(sentence)
    before = [paragraph[s:e] for s, e in sentence_spans(paragraph) if e <= start]
    return before[-1] if before else ""


def rows(per_article: int, margins_path: Path) -> list[dict]:
    articles = load_squad(str(SQUAD))
    chosen = cases(per_article)
    found = []
    for (question, sentence, answerable), margin in zip(chosen, margins(chosen, margins_path)):
        paragraph = paragraph_of(sentence)
        article = article_of(paragraph, articles)
        front_matter = article.text.split("\n\n")[0]
        found.append({
            "answerable": answerable,
            "margin": margin,
            "not_in_article": unnamed_in(question, [article.text], article.text) is not None,
            "not_in_quote": unnamed_in(question, [front_matter, sentence], article.text) is not None,
            "not_in_paragraph": unnamed_in(question, [front_matter, paragraph], article.text) is not None,
            "not_in_previous": unnamed_in(question, [front_matter, previous_sentence(sentence, paragraph), sentence], article.text) is not None,
        })
    return found


def main() -> None:
    scored = rows(int(sys.argv[1]) if len(sys.argv) > 1 else 40, Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/question-words-margins.json"))
    yes = [r for r in scored if r["answerable"]]
    no = [r for r in scored if not r["answerable"]]
    print(f"{len(yes)} answerable, {len(no)} unanswerable; margin ROC AUC {auc([r['margin'] for r in yes], [r['margin'] for r in no]):.3f}")
    for key in ("not_in_article", "not_in_quote", "not_in_paragraph", "not_in_previous"):
        print(f"{key}: answerable {sum(r[key] for r in yes)}, unanswerable {sum(r[key] for r in no)}")
    kept = sum(r["margin"] >= 0 for r in yes) / len(yes)
    stopped = sum(r["margin"] < 0 for r in no) / len(no)
    print(f"no name rule, margin < 0: answerable kept {kept:.2f}, unanswerable stopped {stopped:.2f}, balanced {(kept + stopped) / 2:.3f}")
    print("rule: refuse when a name is not in the article, or margin < (surer if a name is not in the quote, else 0)")
    print_surer_rule(yes, no, "not_in_quote")
    for key, where in (("not_in_paragraph", "the quote's paragraph"), ("not_in_previous", "the quote and the sentence before it")):
        print(f"the same, but surer only when a name is not in {where}")
        print_surer_rule(yes, no, key)


def print_surer_rule(yes: list[dict], no: list[dict], unquoted: str) -> None:
    """Refuse when a name is not in the article, or the margin is below `surer` when row[unquoted], else 0."""
    for surer in (0.0, 0.5, 1.0, 1.5, 2.0, 99.0):
        def needed(r):
            return 99.0 if r["not_in_article"] else (surer if r[unquoted] else 0.0)
        kept = sum(r["margin"] >= needed(r) for r in yes) / len(yes)
        stopped = sum(r["margin"] < needed(r) for r in no) / len(no)
        print(f"  surer {surer:+.1f}: answerable kept {kept:.2f}, unanswerable stopped {stopped:.2f}, balanced {(kept + stopped) / 2:.3f}")


if __name__ == "__main__":
    main()

"""SQuAD 2.0's format: each article one briefing, its questions with exact gold spans, a seeded
stratified sample of them, and SQuAD's official answer normalisation and token F1 (reading the
file is dataset.py's).

SQuAD 2.0: Rajpurkar, Jia and Liang (2018), "Know What You Don't Know: Unanswerable Questions for
SQuAD", released under CC BY-SA 4.0. `normalize_answer` and `f1` follow its official evaluation
script (evaluate-v2.0.py), which no installed package offers as a public function.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

_PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answerable: bool
    answers: tuple[str, ...]  # distinct gold answer texts
    spans: tuple[tuple[int, int], ...]  # where the gold answers stand in the article's text


@dataclass(frozen=True)
class SquadArticle:
    title: str  # SQuAD's, e.g. "Packet_switching"
    text: str  # the heading, then the paragraphs, blank lines between
    questions: tuple[SquadQuestion, ...]

    @property
    def doc_id(self) -> str:
        """A file name that briefing.doc_id_for keeps as it is."""
        return re.sub(r"[^\w-]+", "-", self.title).strip("-") or "article"


def articles_from(document: dict) -> list[SquadArticle]:
    """SQuAD's JSON document as articles (KeyError or TypeError if it is not SQuAD's format)."""
    return [article_from(entry) for entry in document["data"]]


def article_from(entry: dict) -> SquadArticle:
    """The briefing format reads a title from the first line, so the heading comes first; paragraphs
    are stripped (the briefing loader drops trailing spaces, which would shift every later offset)."""
    text = entry["title"].replace("_", " ")
    questions = []
    for paragraph in entry["paragraphs"]:
        context = paragraph["context"]
        text += "\n\n"
        origin = len(text) - (len(context) - len(context.lstrip()))  # where context[0] would stand
        text += context.strip()
        questions += [question_from(qa, text, origin) for qa in paragraph["qas"]]
    return SquadArticle(entry["title"], text, tuple(questions))


def question_from(qa: dict, text: str, origin: int) -> SquadQuestion:
    spans = []
    for answer in qa.get("answers", []):
        start = origin + answer["answer_start"]
        span = (start, start + len(answer["text"]))
        if text[span[0] : span[1]] != answer["text"]:
            raise ValueError(f"question {qa['id']}: answer {answer['text']!r} is not at its answer_start")
        spans.append(span)
    spans = list(dict.fromkeys(spans))
    answerable = not qa.get("is_impossible", False)
    if answerable and not spans:
        raise ValueError(f"question {qa['id']}: answerable but without answers")
    answers = tuple(dict.fromkeys(text[s:e] for s, e in spans))
    return SquadQuestion(qa["id"], qa["question"], answerable, answers, tuple(spans))


def sample_questions(article: SquadArticle, per_article: int | None, seed: int) -> list[SquadQuestion]:
    """`per_article` questions (None: all), answerable and unanswerable in about the article's own
    proportion and each at least once when the article has both. Seeded by article title too, so
    an article's sample does not depend on which other articles are asked."""
    questions = list(article.questions)
    if per_article is None or per_article >= len(questions):
        return questions
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    n_unanswerable = round(per_article * len(unanswerable) / len(questions))
    if answerable and unanswerable and per_article >= 2:
        n_unanswerable = min(max(n_unanswerable, 1), per_article - 1)
    rng = random.Random(f"{seed}:{article.title}")
    chosen = rng.sample(unanswerable, n_unanswerable) + rng.sample(answerable, per_article - n_unanswerable)
    ids = {q.id for q in chosen}
    return [q for q in questions if q.id in ids]


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation dropped, articles a/an/the dropped, whitespace collapsed.

    Unicode punctuation is dropped as ASCII punctuation is: SQuAD's own script keeps “ ” and –, so a
    gold answer at the end of a quote briefbot shows, "… urbanisation.”", would not count as contained.
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION and not unicodedata.category(ch).startswith("P"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


# A possessive is its own word here: "President Charles W. Eliot's long tenure" names "Charles W. Eliot".
_POSSESSIVE = re.compile(r"['’]s\b")


def _words_apart(text: str) -> str:
    """A possessive, and each side of a dash, as words of their own: dropping a dash as punctuation
    would make "(1277–1347)" one word, which does not contain the gold "1347"."""
    text = _POSSESSIVE.sub(" s", text)
    return "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in text)


def answer_contained(gold: str, answer: str) -> bool:
    """The normalised gold answer stands in the normalised answer as whole words ("3" is not in "30")."""
    gold = normalize_answer(_words_apart(gold))
    return bool(gold) and f" {gold} " in f" {normalize_answer(_words_apart(answer))} "


def f1(gold: str, prediction: str) -> float:
    """SQuAD's token F1; two empty answers agree (1.0), one empty answer scores 0."""
    gold_tokens, predicted = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not predicted:
        return float(gold_tokens == predicted)
    same = sum((Counter(gold_tokens) & Counter(predicted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_f1(golds: tuple[str, ...], prediction: str) -> float:
    return max((f1(gold, prediction) for gold in golds), default=0.0)

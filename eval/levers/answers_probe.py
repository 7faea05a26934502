"""How well the generator's yes/no "does the passage answer the question?" tells SQuAD 2.0's
answerable questions from its adversarial unanswerable ones (a lever of issue #14's abstention).

Usage: python eval/levers/answers_probe.py [PER_ARTICLE]   (default 40; tune articles only)

Then the same for eval/answers_yes_no_pairs.jsonl: hand-written yes/no questions with a passage
that settles them either way ("Did the board approve it?" / "The board rejected it.": it answers)
or does not, because a model asked "does the passage answer it?" tends to answer the question instead.

For each sampled question of the tune articles (briefbot.eval.dataset.load_split), the passage is the sentence
holding its gold answer, or for an unanswerable question the sentence holding its "plausible" answer
(the sentence a model is drawn to). Prints the margin's ROC AUC and, per threshold, the share of
answerable kept and of unanswerable stopped.
"""

import json
import random
import sys
from pathlib import Path
from typing import Iterator

from briefbot import BriefBot
from briefbot.backends import make_backend
from briefbot.briefing import sentence_spans
from briefbot.eval.dataset import load_split
from briefbot.eval.squad import SquadArticle
from briefbot.eval.suite import write_briefing
from briefbot.index import open_index
from briefbot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SQUAD = ROOT.parent / "shared" / "documents" / "squad2-dev-13-articles.json"


def holding_sentence(context: str, start: int) -> str:
    return next((context[s:e] for s, e in sentence_spans(context) if s <= start < e), context)


def cases(per_article: int | None, split: str = "tune") -> list[tuple[str, str, bool]]:
    """(question, the sentence holding its gold or plausible answer, answerable) for the split's
    articles: `per_article` of each, drawn by a seed per article, or all of them in order (None)."""
    titles = set(load_split()[split])
    found = []
    for article in json.loads(SQUAD.read_text())["data"]:
        if article["title"] not in titles:
            continue
        pool = []
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                spans = qa["answers"] or qa.get("plausible_answers") or []
                if spans:
                    pool.append((qa["question"], holding_sentence(paragraph["context"], spans[0]["answer_start"]), not qa["is_impossible"]))
        found += pool if per_article is None else random.Random(article["title"]).sample(pool, min(per_article, len(pool)))
    return found


def answered(run: Path) -> Iterator[tuple[dict, str, str, list[str]]]:
    """briefbot's answered questions in a recorded run (a directory with samples.jsonl): the sample,
    its standalone question, its outcome ("correct", "answerable, not correct" or "unanswerable") and
    the quotes its shown sentences cite, each once."""
    for line in (run / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        if sample["system"] != "briefbot-local" or sample["refused"]:
            continue
        quoted = dict.fromkeys(span.get("text") or span["quote"] for sentence in sample["sentences"] for span in sentence["cited"])
        outcome = "unanswerable" if not sample["answerable"] else "correct" if sample["correct"] else "answerable, not correct"
        yield sample, sample["standalone_question"] or sample["question"], outcome, list(quoted)


def article_bot(bots: dict[str, BriefBot], article: SquadArticle | None, scratch: Path) -> BriefBot:
    """The bot over one SQuAD article (None: the shipped briefing), built once into `bots`. Later bots
    share the first one's embedder and generator, so the model is loaded once."""
    key = article.title if article else "russia"
    if key not in bots:
        briefings = [write_briefing(article, scratch)] if article else []
        settings = Settings(index_dir=scratch / f"index-{key}", briefings=briefings)
        if not bots:
            bots[key] = BriefBot.from_settings(settings)
        else:
            base = next(iter(bots.values()))
            index = open_index(settings, embed_model=base.index.embed_model, progress=lambda message: None)
            bots[key] = BriefBot.assemble(settings, index, base.generator)
    return bots[key]


def auc(positives: list[float], negatives: list[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs)


def yes_no_cases() -> list[tuple[str, str, bool]]:
    rows = [json.loads(line) for line in (ROOT / "eval" / "answers_yes_no_pairs.jsonl").read_text().splitlines() if line.strip()]
    return [(row["question"], row["passage"], row["answers"]) for row in rows]


def main() -> None:
    backend = make_backend(Settings())
    for name, chosen in (("SQuAD tune articles", cases(int(sys.argv[1]) if len(sys.argv) > 1 else 40)), ("yes/no pairs", yes_no_cases())):
        print(name)
        report([(backend.answers(question, passage), answerable) for question, passage, answerable in chosen])


def report(scored: list[tuple[float, bool]]) -> None:
    yes = [m for m, a in scored if a]
    no = [m for m, a in scored if not a]
    print(f"{len(yes)} answerable, {len(no)} unanswerable; ROC AUC {auc(yes, no):.3f}")
    for threshold in (-2, -1, 0, 0.5, 1, 1.5, 2, 3):
        kept = sum(m >= threshold for m in yes) / len(yes)
        stopped = sum(m < threshold for m in no) / len(no)
        print(f"threshold {threshold:+.1f}: answerable kept {kept:.2f}, unanswerable stopped {stopped:.2f}")


if __name__ == "__main__":
    main()

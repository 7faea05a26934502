"""The questions a run asks: the packaged JSONL question set, or SQuAD 2.0 articles and a sample
of their questions, and hand labels of the sentences a run showed.

The question set, the SQuAD split and the judge's calibration pairs are package data
(briefbot/eval/data/), read through importlib.resources, so an installed copy finds them too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from briefbot.eval import squad

DATA = resources.files("briefbot.eval") / "data"
DEFAULT_DATASET = DATA / "dataset.jsonl"
DEFAULT_SPLIT = DATA / "squad-split.json"
DEFAULT_PER_ARTICLE = 12  # 13 articles x 12 questions: about an hour of the local model on 2 cores


def read_text(source: Traversable | str) -> str:
    """A packaged file or one on disk."""
    return (Path(source) if isinstance(source, str) else source).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Sample:
    id: str
    question: str
    answerable: bool
    reference_answer: str
    reference_spans: list[str]
    key_facts: list[str]
    chain: str | None
    turn: int
    # SQuAD: alternative gold answers (one contained is correct) and the exact offsets of the spans.
    gold_answers: tuple[str, ...] = ()
    reference_ranges: tuple[tuple[int, int], ...] = ()

    def reference_offsets(self, text: str) -> list[tuple[int, int]]:
        """Where the reference spans stand: as given (SQuAD), else their first occurrence."""
        return list(self.reference_ranges) or span_ranges(self.reference_spans, text)


def span_ranges(spans: list[str], text: str) -> list[tuple[int, int]]:
    ranges = []
    for span in spans:
        start = text.find(span)
        if start >= 0:
            ranges.append((start, start + len(span)))
    return ranges


def load_dataset(source: Traversable | str = DEFAULT_DATASET) -> list[Sample]:
    samples = []
    for number, line in enumerate(read_text(source).splitlines(), start=1):
        if line.strip():
            try:
                samples.append(Sample(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{source}:{number}: not a dataset sample ({exc})") from exc
    return samples


def load_labels(path: Path) -> dict[tuple[str, str], bool]:
    """Hand labels of shown sentences, JSONL {"sentence_id", "system", "supported": true/false}, by (system, sentence id)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    labels = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, supported = (str(item["system"]), str(item["sentence_id"])), item["supported"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a sentence label ({exc})") from exc
        if not isinstance(supported, bool):
            raise ValueError(f"{path}:{number}: supported must be true or false")
        labels[key] = supported
    return labels


# ---------------------------------------------------------------------------------------------
# SQuAD 2.0: every article is a briefing of its own, asked a seeded sample of its questions


def is_squad(source: Traversable | str) -> bool:
    """SQuAD's JSON is one object with a `data` list; the JSONL question set is one object per line."""
    try:
        document = json.loads(read_text(source))
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("data"), list)


def load_squad(source: Traversable | str) -> list[squad.SquadArticle]:
    try:
        return squad.articles_from(json.loads(read_text(source)))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{source}: not SQuAD's format (missing {exc})") from exc


@dataclass(frozen=True)
class SquadSelection:
    """Which SQuAD questions a run asks: articles by split and/or title, then a seeded sample of each."""

    per_article: int = DEFAULT_PER_ARTICLE
    articles: tuple[str, ...] = ()  # titles, with underscores or spaces; none: every article (of the split)
    split: str | None = None  # "tune" or "held_out" of DEFAULT_SPLIT
    seed: int = 0


def load_split(source: Traversable | str = DEFAULT_SPLIT) -> dict[str, list[str]]:
    split = json.loads(read_text(source))
    return {name: list(split[name]) for name in ("tune", "held_out")}


def select_articles(articles: list[squad.SquadArticle], selection: SquadSelection) -> list[squad.SquadArticle]:
    """The articles asked for, in the dataset's order; a title outside the dataset or the split is an error."""
    titles = {a.title for a in articles}
    wanted = {t.strip().replace(" ", "_") for t in selection.articles if t.strip()}
    if wanted - titles:
        raise ValueError(f"no article {', '.join(sorted(wanted - titles))} in the dataset; it has {', '.join(sorted(titles))}")
    if selection.split is not None:
        splits = load_split()
        if selection.split not in splits:
            raise ValueError(f"unknown split {selection.split!r}: choose from {', '.join(splits)}")
        in_split = set(splits[selection.split])
        if wanted - in_split:
            raise ValueError(f"{', '.join(sorted(wanted - in_split))} not in the {selection.split} split")
        wanted = wanted or (in_split & titles)
        if not wanted:
            raise ValueError(f"no article of the {selection.split} split is in the dataset")
    return [a for a in articles if not wanted or a.title in wanted]


def squad_sample(question: squad.SquadQuestion) -> Sample:
    return Sample(
        id=question.id,
        question=question.question,
        answerable=question.answerable,
        reference_answer=question.answers[0] if question.answers else "",
        reference_spans=list(question.answers),
        key_facts=[],
        chain=None,
        turn=0,
        gold_answers=question.answers,
        reference_ranges=question.spans,
    )

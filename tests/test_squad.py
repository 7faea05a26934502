"""SQuAD 2.0 evaluation: the reader, sampling, SQuAD's normalisation and F1, per-article scores, the CLI.

tests/data/squad-mini.json holds two synthetic articles written for these tests in SQuAD's format.
"""

import json
from pathlib import Path

import pytest

from briefbot import Settings
from briefbot.eval import squad
from briefbot.eval.dataset import (
    DEFAULT_DATASET,
    DEFAULT_PER_ARTICLE,
    SquadSelection,
    is_squad,
    load_labels,
    load_split,
    load_squad,
    select_articles,
    squad_sample,
)
from briefbot.eval.metrics import is_correct
from briefbot.eval.suite import write_briefing
from briefbot.eval.summary import summarise_articles

MINI = Path(__file__).parent / "data" / "squad-mini.json"


@pytest.fixture(scope="module")
def articles():
    return load_squad(MINI)


# ---------------------------------------------------------------------------------------------
# Reading the format


def test_gold_spans_point_into_the_joined_article(articles):
    lighthouse, clipper = articles
    assert lighthouse.text.startswith("Lighthouse keeping\n\nLighthouse keeping was the work")
    # The second paragraph's leading and trailing spaces are dropped; blank lines separate paragraphs.
    assert "lighthouse. In 1890" in lighthouse.text and "the lens.\n\nThe Fresnel lens" in lighthouse.text
    assert "soft cloth.\n\nAutomation" in lighthouse.text
    for article in articles:
        for question in article.questions:
            assert bool(question.spans) == question.answerable
            assert [article.text[s:e] for s, e in question.spans] == list(question.answers), question.id
    by_id = {q.id: q for a in articles for q in a.questions}
    assert by_id["lh1"].answers == ("about 1,200", "1,200")
    # Offsets come from the question's own paragraph, not the first place the text occurs.
    assert by_id["lh4"].spans[0][0] > lighthouse.text.find("each morning") > 0
    assert by_id["tc5"].spans[0][0] > clipper.text.find("1869") > 0
    assert not by_id["tc2"].answerable and by_id["tc2"].answers == ()


def test_the_article_loads_back_as_a_briefing_with_the_same_text(articles, tmp_path):
    from briefbot.briefing import load_briefing

    path = write_briefing(articles[1], tmp_path)
    briefing = load_briefing(path)
    assert briefing.text == articles[1].text
    assert (briefing.doc_id, briefing.title, briefing.date) == ("Tea_clipper", "Tea clipper", "")


def test_a_misplaced_answer_start_is_an_error():
    entry = {"title": "T", "paragraphs": [{"context": "Kant is near Bishkek.", "qas": [
        {"id": "x", "question": "Where?", "is_impossible": False, "answers": [{"text": "Bishkek", "answer_start": 3}]}]}]}
    with pytest.raises(ValueError, match="not at its answer_start"):
        squad.article_from(entry)


def test_squad_json_is_told_from_the_jsonl_question_set(tmp_path):
    one_line = tmp_path / "one.jsonl"
    one_line.write_text(json.dumps({"id": "q1", "question": "?"}) + "\n")
    assert is_squad(MINI)
    assert not is_squad(DEFAULT_DATASET)
    assert not is_squad(one_line)


# ---------------------------------------------------------------------------------------------
# Sampling


def _article(title: str, answerable: int, unanswerable: int) -> squad.SquadArticle:
    questions = [squad.SquadQuestion(f"{title}-{i}", f"q{i}?", i < answerable, ("a",) if i < answerable else (), ((0, 1),) if i < answerable else ())
                 for i in range(answerable + unanswerable)]
    return squad.SquadArticle(title, "a", tuple(questions))


def test_sampling_is_seeded_and_stratified():
    article = _article("Many", 20, 10)
    first = squad.sample_questions(article, 6, seed=0)
    assert [q.id for q in squad.sample_questions(article, 6, seed=0)] == [q.id for q in first]
    assert {q.id for q in squad.sample_questions(article, 6, seed=1)} != {q.id for q in first}
    assert sum(not q.answerable for q in first) == 2  # 6 x 10/30
    assert first == sorted(first, key=lambda q: int(q.id.split("-")[1]))  # in the article's order
    # A small minority is still represented, and a short article is asked everything.
    lopsided = squad.sample_questions(_article("Lopsided", 28, 2), 2, seed=0)
    assert sorted(q.answerable for q in lopsided) == [False, True]
    assert len(squad.sample_questions(article, 100, seed=0)) == 30
    # The seed is per title: another article with the same questions draws another sample.
    assert [q.id.split("-")[1] for q in squad.sample_questions(_article("Other", 20, 10), 6, seed=0)] != [
        q.id.split("-")[1] for q in first
    ]


# ---------------------------------------------------------------------------------------------
# SQuAD's normalisation and F1 (official evaluate-v2.0.py), computed by hand


def test_normalisation_is_squads():
    assert squad.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert squad.normalize_answer("An apple a day") == "apple day"
    assert squad.normalize_answer("Another theatre") == "another theatre"  # articles only as whole words
    assert squad.normalize_answer("about 1,200 (est.)") == "about 1200 est"


@pytest.mark.parametrize(
    "gold, prediction, expected",
    [
        ("the cat sat", "a cat sat down", 0.8),  # P 2/3, R 1
        ("Augustin Fresnel", "Fresnel", 2 / 3),  # P 1, R 1/2
        ("new new york", "new york york", 2 / 3),  # shared tokens counted with multiplicity: 2 of 3 each way
        ("1,200", "about 1200", 2 / 3),
        ("cat", "dog", 0.0),
        ("", "", 1.0),  # both empty agree
        ("the", "cat", 0.0),  # empty after normalisation
    ],
)
def test_f1_is_squads(gold, prediction, expected):
    assert squad.f1(gold, prediction) == pytest.approx(expected)


def test_best_f1_and_containment():
    assert squad.best_f1(("Fresnel", "Augustin Fresnel"), "Augustin Fresnel") == 1.0
    assert squad.answer_contained("1,200", "About 1,200 keepers.")
    assert squad.answer_contained("The Ariel", "ariel docked")
    assert not squad.answer_contained("3", "30 keepers")
    assert squad.answer_contained("Charles W. Eliot", "President Charles W. Eliot’s long tenure")
    assert squad.answer_contained("Eliot's tenure", "Eliot’s tenure")
    assert squad.answer_contained("1347", "The physician Wei Yilin (1277–1347) invented a suspension method")
    assert squad.answer_contained("cell-mediated", "cell–mediated immunity")
    assert not squad.answer_contained("134", "Wei Yilin (1277–1347)")
    assert not squad.answer_contained("the", "the keeper")
    # A gold answer at the end of a quote briefbot shows: the closing ” is punctuation too.
    assert squad.answer_contained("internal migration", "“Growth is based on internal migration.” [2]")


def test_squad_correctness_ignores_citation_markers():
    sample = squad_sample(squad.SquadQuestion("x", "How many?", True, ("2",), ((0, 1),)))
    assert not is_correct(sample, "Keepers polished the lens [2].", refused=False)
    assert is_correct(sample, "There were 2 keepers [1].", refused=False)
    assert not is_correct(sample, "There were 2 keepers [1].", refused=True)


# ---------------------------------------------------------------------------------------------
# Per-article scores and labels


def _record(article, id_, answerable, correct, refused, f1=None, sentences=0, system="bb"):
    record = {"system": system, "article": article, "id": id_, "answerable": answerable, "correct": correct, "refused": refused,
              "sentences": [{"id": f"{id_}#{i}"} for i in range(sentences)]}
    if answerable:
        record["f1"] = f1
    return record


def test_per_article_scores_and_the_unsupported_claim_rate():
    records = [
        _record("A", "r1", True, True, False, f1=1.0, sentences=1),
        _record("A", "r2", True, False, True, f1=0.0),
        _record("A", "r3", False, True, True),
        _record("A", "r4", False, False, False, sentences=1),
        _record("B", "r5", True, True, False, f1=0.5, sentences=1),
        _record("B", "r6", False, True, True),
    ]
    labels = {("bb", "r1#0"): True, ("bb", "r4#0"): False, ("other", "r5#0"): False}
    scores = summarise_articles(records, ["bb"], labels)
    a, b, overall = scores["per_article"]["A"]["bb"], scores["per_article"]["B"]["bb"], scores["overall"]["bb"]
    assert (a["answerable"], a["unanswerable"], a["correct"], a["f1"], a["abstention"], a["false_refusals"]) == (2, 2, 0.5, 0.5, 0.5, 0.5)
    assert (b["correct"], b["f1"], b["abstention"], b["false_refusals"]) == (1.0, 0.5, 1.0, 0.0)
    assert (overall["answerable"], overall["correct"], overall["f1"], overall["abstention"], overall["false_refusals"]) == (
        3, 0.6667, 0.5, 0.6667, 0.3333)
    assert a["claims"] == {"shown": 2, "labelled": 2, "unsupported": 1, "rate": 0.5}
    assert b["claims"] == {"shown": 1, "labelled": 0, "unsupported": 0, "rate": None}  # the label is another system's
    assert list(scores["per_article"]) == ["A", "B"]


def test_labels_file_is_checked(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"sentence_id": "q1#0", "system": "baseline", "supported": false}\n\n'
                    '{"sentence_id": "q1#0", "system": "briefbot-local", "supported": true}\n')
    assert load_labels(path) == {("baseline", "q1#0"): False, ("briefbot-local", "q1#0"): True}
    path.write_text('{"sentence_id": "q1#0", "system": "baseline", "supported": "yes"}\n')
    with pytest.raises(ValueError, match="1: supported must be true or false"):
        load_labels(path)
    path.write_text('{"sentence_id": "q1#0", "supported": true}\n')
    with pytest.raises(ValueError, match="1: not a sentence label"):
        load_labels(path)
    with pytest.raises(ValueError, match="cannot be read"):
        load_labels(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------------
# Choosing articles: the committed split


def test_the_split_is_fixed_and_disjoint():
    split = load_split()
    assert split["tune"] == ["Computational_complexity_theory", "Force", "Imperialism", "Packet_switching", "Warsaw"]
    assert len(split["held_out"]) == 8 and not set(split["tune"]) & set(split["held_out"])


def test_articles_are_chosen_by_split_and_title(articles):
    assert [a.title for a in select_articles(articles, SquadSelection(articles=("Tea clipper",)))] == ["Tea_clipper"]
    assert [a.title for a in select_articles(articles, SquadSelection())] == ["Lighthouse_keeping", "Tea_clipper"]
    with pytest.raises(ValueError, match="no article Steam_boat"):
        select_articles(articles, SquadSelection(articles=("Steam_boat",)))
    with pytest.raises(ValueError, match="no article of the tune split"):
        select_articles(articles, SquadSelection(split="tune"))
    named = [_article(title, 1, 1) for title in ("Warsaw", "Huguenot", "Force")]
    assert [a.title for a in select_articles(named, SquadSelection(split="tune"))] == ["Warsaw", "Force"]
    with pytest.raises(ValueError, match="Huguenot not in the tune split"):
        select_articles(named, SquadSelection(split="tune", articles=("Huguenot",)))


# ---------------------------------------------------------------------------------------------
# An index of one article, and the CLI end to end (fake backend)


def test_a_bot_on_an_article_indexes_that_article_alone(articles, tmp_path):
    from briefbot import BriefBot

    path = write_briefing(articles[0], tmp_path)
    bot = BriefBot.from_files([path], Settings(backend="fake", index_dir=tmp_path / "index"))
    assert list(bot.index.briefings) == ["Lighthouse_keeping"]
    assert {node.metadata["doc_id"] for node in bot.index.nodes} == {"Lighthouse_keeping"}
    assert bot.briefing.title == "Lighthouse keeping"
    answer = bot.ask("Who invented the Fresnel lens?")
    assert not answer.refused and "Augustin Fresnel" in answer.text
    assert all(articles[0].text[c.start : c.end] == c.quote for c in answer.citations)


def test_cli_eval_on_squad_writes_the_per_article_table(articles, tmp_path):
    from briefbot.cli import main

    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(item) + "\n" for item in [
        {"sentence_id": "lh3#0", "system": "briefbot-fake", "supported": False},
        {"sentence_id": "lh3#0", "system": "baseline", "supported": True},
        {"sentence_id": "gone#0", "system": "baseline", "supported": True},
    ]))
    out = tmp_path / "run"
    code = main(["eval", "--dataset", str(MINI), "--systems", "briefbot-fake,baseline", "--backend", "fake", "--judge", "none",
                 "--articles", "Lighthouse_keeping,Tea_clipper", "--labels", str(labels), "--out", str(out)])
    assert code == 0

    report = (out / "report.md").read_text()
    assert "| article | system | answerable | unanswerable | correct (answerable) | F1 (answerable) |" in report
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): line for line in report.splitlines() if line.startswith("| ")}
    for article in ("Lighthouse_keeping", "Tea_clipper", "overall (pooled)"):
        for system in ("briefbot-fake", "baseline"):
            assert (article, system) in rows, (article, system)
    assert "| Lighthouse_keeping | briefbot-fake | 4 | 3 |" in rows[("Lighthouse_keeping", "briefbot-fake")]
    assert "1.000 (1 of 1 labelled" in rows[("Lighthouse_keeping", "briefbot-fake")]
    assert "0.000 (0 of 1 labelled" in rows[("Lighthouse_keeping", "baseline")]
    assert "not labelled" in rows[("Tea_clipper", "baseline")]
    assert "3 labels, 2 match a sentence shown in this run" in report

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["articles"]["per_article"]) == ["Lighthouse_keeping", "Tea_clipper"]
    assert summary["articles"]["overall"]["baseline"]["answerable"] == 7
    assert summary["run"]["squad"]["per_article"] == DEFAULT_PER_ARTICLE

    texts = {a.title: a.text for a in articles}
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 13
    for record in records:
        text = texts[record["article"]]
        for citation in record["citations"]:
            assert citation["chunk_id"].startswith(record["article"] + ":")  # never another article's index
            assert text[citation["start"] : citation["end"]] == citation["quote"]
        for index, sentence in enumerate(record["sentences"]):
            assert sentence["id"] == f"{record['id']}#{index}"
            assert sentence["cited"] and all(text[q["start"] : q["end"]] == q["text"] for q in sentence["cited"])
        assert record["sentences"] or record["refused"]
        assert ("f1" in record) == record["answerable"]


def test_cli_rejects_squad_flags_on_jsonl_and_a_judge_on_squad(capsys):
    from briefbot.cli import main

    assert main(["eval", "--split", "tune", "--backend", "fake"]) == 2
    assert "choose SQuAD questions" in capsys.readouterr().err
    assert main(["eval", "--dataset", str(MINI), "--judge", "stub", "--backend", "fake"]) == 2
    assert "runs without --judge" in capsys.readouterr().err

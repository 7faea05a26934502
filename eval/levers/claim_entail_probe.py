"""Does what the generator wrote tell a true answer from one to an adversarial question, when a quote
is shown in its place (issue #14's abstention)? Re-asks each question a recorded SQuAD run answered
and, when it is answered again, records per shown sentence how it came to be shown and, for a quote
shown in place of the generator's sentence, the generator's yes−no margin that the quote states that
sentence (`Backend.entailment`, the check `entail_threshold` would use). An answer to an
unanswerable question often restates its false premise, which the quote should not state.

Usage: PYTHONPATH=src python eval/levers/claim_entail_probe.py OUT.jsonl RUN_DIR/samples.jsonl [...]
(SQuAD runs on ../shared/documents/squad2-dev-13-articles.json). Asks the default model. Prints, per
threshold on the lowest such margin of an answer, the correct answers and the unanswerable ones it
would stop; answers with no quote in a sentence's place are never stopped.
"""
import json
import sys
import tempfile
from pathlib import Path

import briefbot.answer as answer_module
from briefbot.eval import squad
from briefbot.text import CITATION_MARKER
from answers_probe import SQUAD, article_bot, auc

checked = []
shipped_check = answer_module._check


def recording_check(sentence, passages, verifier, question):
    verified = shipped_check(sentence, passages, verifier, question)
    if verified is not None:
        checked.append((sentence.text, verified))
    return verified


answer_module._check = recording_check  # verified_stream looks it up in the module


def kind(generated: str, verified) -> str:
    if verified.check != "quoted":
        return verified.check
    return "quoted, supported" if verified.claim == generated else "quoted, closest"


def probe(bots: dict, articles: dict, scratch: Path, record: dict) -> dict | None:
    checked.clear()
    bot = article_bot(bots, articles[record["article"]], scratch)
    result = bot.ask(record["standalone_question"])
    if result.refused:
        return None
    shown_texts = {s.text for s in result.sentences}
    sentences = []
    for generated, verified in checked:
        if verified.text not in shown_texts:
            continue
        quotes = " ".join(span.text for span in verified.spans)
        margin = None if verified.check != "quoted" else bot.generator.entailment(generated, quotes)
        sentences.append(dict(kind=kind(generated, verified), entail_margin=margin))
    golds = next(q.answers for q in articles[record["article"]].questions if q.id == record["id"])
    plain = CITATION_MARKER.sub("", result.text)  # a marker "[2]" is no gold "2"
    correct = record["answerable"] and any(squad.answer_contained(g, plain) for g in golds)
    outcome = "correct" if correct else "answerable, not correct" if record["answerable"] else "unanswerable"
    return dict(article=record["article"], id=record["id"], outcome=outcome, answer_margin=result.answer_margin, sentences=sentences)


def lowest(row: dict) -> float | None:
    margins = [s["entail_margin"] for s in row["sentences"] if s["entail_margin"] is not None]
    return min(margins) if margins else None


def report(rows: list[dict]) -> None:
    for outcome in ("correct", "answerable, not correct", "unanswerable"):
        group = [r for r in rows if r["outcome"] == outcome]
        scored = [lowest(r) for r in group if lowest(r) is not None]
        print(f"{outcome}: {len(group)} shown, {len(scored)} with a quote in a sentence's place")
    correct = [lowest(r) for r in rows if r["outcome"] == "correct" and lowest(r) is not None]
    unanswerable = [lowest(r) for r in rows if r["outcome"] == "unanswerable" and lowest(r) is not None]
    if correct and unanswerable:
        print(f"ROC AUC of the lowest entailment margin, correct against unanswerable: {auc(correct, unanswerable):.3f}")
    for threshold in (-3, -2, -1, 0, 1):
        lost = sum(m < threshold for m in correct)
        stopped = sum(m < threshold for m in unanswerable)
        print(f"refuse below {threshold:+d}: correct answers lost {lost}, unanswerable stopped {stopped}")


def main() -> None:
    out, runs = Path(sys.argv[1]), sys.argv[2:]
    articles = {a.title: a for a in squad.articles_from(json.loads(SQUAD.read_text()))}
    scratch = Path(tempfile.mkdtemp())
    bots, rows, asked = {}, [], set()
    with out.open("w") as sink:
        for path in runs:
            for line in open(path):
                record = json.loads(line)
                if record["system"] != "briefbot-local" or record["refused"] or (record["article"], record["id"]) in asked:
                    continue
                asked.add((record["article"], record["id"]))
                row = probe(bots, articles, scratch, record)
                if row is not None:
                    rows.append(dict(run=Path(path).parent.name, **row))
                    sink.write(json.dumps(rows[-1]) + "\n")
                    sink.flush()
    report(rows)


if __name__ == "__main__":
    main()

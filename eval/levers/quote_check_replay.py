"""What the quote check (`quote_threshold`) cost and bought in a recorded SQuAD run: re-asks each
question it refused with the check off and prints flags only (answered then? a gold answer in it?),
so no held-out text is read.

Usage: PYTHONPATH=src python eval/levers/quote_check_replay.py RUN_DIR/samples.jsonl [...]
"""
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from briefbot import BriefBot
from briefbot.eval import squad
from briefbot.text import CITATION_MARKER
from answers_probe import SQUAD, article_bot

DENIED = "its quote does not state"


def unchecked(bot: BriefBot) -> BriefBot:
    settings = bot.settings.model_copy(update={"quote_threshold": None})
    return BriefBot.assemble(settings, bot.index, bot.generator)


def main() -> None:
    articles = {a.title: a for a in squad.articles_from(json.loads(SQUAD.read_text()))}
    golds = {q.id: q.answers for a in articles.values() for q in a.questions}
    scratch, bots, tally = Path(tempfile.mkdtemp()), {}, Counter()
    for path in sys.argv[1:]:
        for line in open(path):
            record = json.loads(line)
            if record["system"] != "briefbot-local" or DENIED not in record["refusal_reason"]:
                continue
            answer = unchecked(article_bot(bots, articles[record["article"]], scratch)).ask(record["standalone_question"])
            plain = CITATION_MARKER.sub("", answer.text)
            correct = not answer.refused and any(squad.answer_contained(g, plain) for g in golds[record["id"]])
            flags = dict(answerable=record["answerable"], answered_without_check=not answer.refused, correct_without_check=correct)
            tally[tuple(flags.values())] += 1
            print(json.dumps(dict(run=Path(path).parent.name, article=record["article"], id=record["id"], **flags)), flush=True)
    print("answerable answered_without_check correct_without_check: count")
    for key, count in tally.most_common():
        print(key, count)


if __name__ == "__main__":
    main()

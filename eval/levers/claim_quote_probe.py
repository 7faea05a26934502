"""Where do answerable questions go wrong when briefbot shows a quote that lacks the gold answer
(issue #14)? Re-asks each answerable question a recorded SQuAD run answered wrongly and prints,
per question, whether a gold answer stands in what the generator wrote (its claims), in the quotes
shown for them, and in the retrieved passages. A gold answer in a claim but not in its quote means
the claim was mapped to the wrong sentence (`Verifier.support` / `closest_quote`); one in no claim
means the generator picked the wrong fact. Nothing is read but the gold answers and these flags.

Usage: PYTHONPATH=src python eval/levers/claim_quote_probe.py RUN_DIR/samples.jsonl [...]
(SQuAD runs on ../shared/documents/squad2-dev-13-articles.json). Asks the default model.
"""
import json, sys, tempfile
from collections import Counter
from pathlib import Path
import briefbot.bot as bot_module
from briefbot.eval import squad
from answers_probe import article_bot

seen = []
shipped_stream = bot_module.verified_stream


def recording_stream(raw, passages, verifier, question=""):
    text = "".join(raw)
    verified = list(shipped_stream(iter([text]), passages, verifier, question))
    seen.append(dict(raw=text, passages=" ".join(p.text for p in passages), kept=[v for v in verified if v is not None]))
    yield from verified


bot_module.verified_stream = recording_stream  # the bot's own imported name

SQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "documents" / "squad2-dev-13-articles.json"
articles = {a.title: a for a in squad.articles_from(json.loads(SQUAD.read_text()))}
golds = {q.id: q.answers for a in articles.values() for q in a.questions}
scratch = Path(tempfile.mkdtemp())
bots = {}
tally = Counter()
asked = set()
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        if r["system"] != "briefbot-local" or not r["answerable"] or r["correct"] or r["refused"]:
            continue
        if (r["article"], r["id"]) in asked:
            continue
        asked.add((r["article"], r["id"]))
        key = r["article"]
        seen.clear()
        result = article_bot(bots, articles[key], scratch).ask(r["standalone_question"])
        if not seen:
            continue
        s = seen[-1]
        contains = lambda text: any(squad.answer_contained(g, text) for g in golds[r["id"]])
        flags = dict(
            in_raw=contains(s["raw"]),
            in_claims=contains(" ".join(v.claim or v.text for v in s["kept"])),
            in_shown=contains(" ".join(v.text for v in s["kept"])),
            in_passages=contains(s["passages"]),
            refused_now=result.refused,
        )
        tally[tuple(flags.values())] += 1
        print(json.dumps(dict(run=path.split("/")[-2], article=key, id=r["id"], **flags)), flush=True)
print("in_raw in_claims in_shown in_passages refused_now: count")
for k, v in tally.most_common():
    print(k, v)

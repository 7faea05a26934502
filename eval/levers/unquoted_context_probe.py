"""Would "a question's name may stand in the paragraph a quote comes from" free false refusals
(issue #14)? Re-asks each question a recorded run refused only because the quotes never name a
question name (answer-check margin in [0, +1.0)) and prints, per question, whether that name stands
in the cited paragraphs: if it does, the shipped +0.0 threshold would apply and the answer be shown.

Usage: PYTHONPATH=src python eval/levers/unquoted_context_probe.py RUN_DIR/samples.jsonl [...]
(SQuAD runs on ../shared/documents/squad2-dev-13-articles.json, or Russia-set runs). Asks the default model.
"""
import json, re, sys, tempfile
from pathlib import Path
from briefbot.answer import AnswerPolicy
from briefbot.eval import squad
from briefbot.verify import unnamed_in
from answers_probe import article_bot

found = []
orig = AnswerPolicy.judge
def judge(self, question, kept, passages):
    result = orig(self, question, kept, passages)
    topic = " ".join(p.text for p in passages if p.front_matter)
    by_n = {p.n: p for p in passages}
    cited = dict.fromkeys(s.n for v in kept for s in v.spans)
    quotes = " ".join(" ".join(dict.fromkeys(s.text for v in kept for s in v.spans)).split())
    contexts = " ".join(by_n[n].context for n in cited)
    found.append(dict(result=result[0], margin=result[1], unquoted=unnamed_in(question, [topic, quotes], self.source),
                      in_context=unnamed_in(question, [topic, quotes, contexts], self.source), quotes=quotes[:300]))
    return result
AnswerPolicy.judge = judge

SQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "documents" / "squad2-dev-13-articles.json"
articles = {a.title: a for a in squad.articles_from(json.loads(SQUAD.read_text()))}
scratch = Path(tempfile.mkdtemp())
bots = {}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        if r["system"] != "briefbot-local" or not r["refused"]:
            continue
        m = re.search(r"margin ([-+.\d]+) < \+1\.00; the quotes never name", r["refusal_reason"])
        if not m or float(m.group(1)) < 0:
            continue
        key = r.get("article", "russia")
        found.clear()
        article_bot(bots, articles.get(key), scratch).ask(r["standalone_question"])
        f = found[-1] if found else {}
        print(json.dumps(dict(run=path.split("/")[-2], article=key, q=r["question"], answerable=r["answerable"],
                              **f)), flush=True)

"""Which questions of `eval/results/unquoted-context-probe.jsonl` (refused only because the quotes
never name a question name, margin in [0, +1.0)) would the shipped surer margin let through if the
sentence just before each quote counted as quoted, against counting the quote's whole paragraph (the
probe's `in_context`)? No model: it finds each recorded quote in its briefing and applies
`briefing.sentence_before` and `verify.unnamed_in` (issue #14).

Usage: PYTHONPATH=src python eval/levers/lead_in_probe.py [eval/results/unquoted-context-probe.jsonl]
(SQuAD articles from ../shared/documents/squad2-dev-13-articles.json).
"""
import json, sys
from collections import Counter
from pathlib import Path
from briefbot.briefing import load_briefing, parse_briefing, sentence_before, sentence_spans
from briefbot.eval import squad
from briefbot.index import chunk_briefing
from briefbot.settings import Settings
from briefbot.verify import unnamed_in

ROOT = Path(__file__).resolve().parents[2]
SQUAD = ROOT.parent / "shared" / "documents" / "squad2-dev-13-articles.json"
briefings = {a.title: parse_briefing(a.text, a.title) for a in squad.articles_from(json.loads(SQUAD.read_text()))}
briefings["russia"] = load_briefing(ROOT / "src/briefbot/data/russia-taliban-2017-04-25.txt")
texts = {key: b.text for key, b in briefings.items()}
settings = Settings()
# The opening chunk is the front matter shown with every answer.
openings = {key: chunk_briefing(b, settings.chunk_size, settings.chunk_overlap)[0].text for key, b in briefings.items()}
probe = sys.argv[1] if len(sys.argv) > 1 else ROOT / "eval/results/unquoted-context-probe.jsonl"

freed = Counter()
asked = set()  # a question refused in two recorded runs counts once
for line in open(probe):
    r = json.loads(line)
    if (r["article"], r["q"]) in asked:
        continue
    asked.add((r["article"], r["q"]))
    text = texts[r["article"]]
    # The probe kept only the quotes' first 300 characters: each quoted sentence found there whole
    # is located; a cut last one is found by its opening.
    starts = {text.find(r["quotes"][:80])} | {
        text.find(text[a:b]) for a, b in sentence_spans(text, 0, len(text)) if text[a:b] in r["quotes"]}
    lead_ins = [sentence_before(text, s) for s in sorted(starts - {-1})]
    topic = openings[r["article"]]
    lead_in = unnamed_in(r["q"], [topic, r["quotes"], *lead_ins], text) is None
    paragraph = r["in_context"] is None
    freed[r["answerable"], "sentence before", lead_in] += 1
    freed[r["answerable"], "paragraph", paragraph] += 1
    print(f"{'answerable  ' if r['answerable'] else 'unanswerable'} lead-in {'frees' if lead_in else '-----'} "
          f"paragraph {'frees' if paragraph else '-----'} | {r['article'][:20]:20} | {r['q'][:70]}")
for rule in ("sentence before", "paragraph"):
    print(f"{rule}: frees {freed[True, rule, True]} of {freed[True, rule, True] + freed[True, rule, False]} answerable, "
          f"{freed[False, rule, True]} of {freed[False, rule, True] + freed[False, rule, False]} unanswerable")

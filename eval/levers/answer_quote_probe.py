"""Which questions does "the quote shown for an unsupported sentence holds the names and numbers it
adds to the question" (`Verifier.closest_quote`) change, and how (issue #14)? Runs `briefbot eval`
with the arguments given, the shipped rule in force, and beside each quote it picks also finds the
one closeness alone picks (the rule before). Every pick is logged to OUT.jsonl: whether the two
differ and whether each holds a gold answer of an answerable SQuAD question. A question whose picks
never differ got the same answer the rule before would have given on this machine.

The rule was not kept (`eval/results/2026-12-03-answer-quote/README.md`); to run this probe, first
`git apply eval/levers/answer_quote.patch`.

Usage: PYTHONPATH=src python eval/levers/answer_quote_probe.py OUT.jsonl <briefbot eval arguments>
"""
import json, sys
from briefbot.cli import main
from briefbot.verify import Verifier

out = open(sys.argv[1], "w")
shipped = Verifier.closest_quote


def closest_quote(self, sentence, passages, question=""):
    picked = shipped(self, sentence, passages, question)
    before = _closeness_alone(self, sentence, passages)
    out.write(json.dumps(dict(question=question, claim=sentence.text, picked=picked and picked.text, before=before and before.text,
                              differs=(picked and picked.text) != (before and before.text))) + "\n")
    out.flush()
    return picked


def _closeness_alone(self, sentence, passages):
    import numpy as np

    if not passages:
        return None
    vector = np.array(self.embed_model.get_text_embedding(sentence.text))
    best = max(passages, key=lambda p: self._closeness(p, vector))
    return self._closest_span(sentence.text, set(), vector, best, set())


Verifier.closest_quote = closest_quote
sys.exit(main(sys.argv[2:]))

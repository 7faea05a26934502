"""Prompt-lookup speculative decoding (llama-cpp-python's LlamaPromptLookupDecoding) on the answer
generation: does it keep every answer, and how much decode time does it save? (a speed lever)

Usage: PYTHONPATH=src python eval/levers/prompt_lookup_probe.py [DRAFT_TOKENS [QUESTIONS]]
Asks the first QUESTIONS standalone questions of the Russia set three times: plain, with drafts,
plain again; the generation's own time (first to last model token) is compared. llama-cpp-python
would keep logits for every position of every batch once a draft model is set (a 4096 x 151,936
float array), so the probe sets the draft model afterwards and asks for all logits only in the
short batches that carry drafted tokens.
"""
import json, statistics, sys
from pathlib import Path
from briefbot import BriefBot
from briefbot.backends import local
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

DRAFT = int(sys.argv[1]) if len(sys.argv) > 1 else 8
def eval_all_logits(self, tokens):
    # a drafted batch needs logits at each position to check each drafted token
    self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
    for i in range(0, len(tokens), self.n_batch):
        batch = tokens[i : min(len(tokens), i + self.n_batch)]
        n_past, n = self.n_tokens, len(batch)
        self._batch.set_batch(batch=batch, n_past=n_past, logits_all=self.draft_model is not None and len(tokens) <= DRAFT + 1)
        self._ctx.decode(self._batch)
        self.input_ids[n_past : n_past + n] = batch
        self.n_tokens += n
        self._requires_eval = False
local._KVStateLlama.eval = eval_all_logits

qs = [json.loads(l) for l in (Path(__file__).resolve().parents[2] / "src/briefbot/eval/data/dataset.jsonl").open()]
qs = [q["question"] for q in qs if q["turn"] == 0][:int(sys.argv[2]) if len(sys.argv) > 2 else 20]
bot = BriefBot.from_settings()
llama = bot.generator.llm.llama
bot.ask("warm up: what is this briefing about?")
out = {}
for mode in ("plain", "lookup", "plain2"):
    llama.draft_model = LlamaPromptLookupDecoding(num_pred_tokens=DRAFT) if mode == "lookup" else None
    times, gen = [], []
    answers = []
    for q in qs:
        a = bot.ask(q)
        t = a.timings
        times.append(t.model_last_token - t.model_first_token if t.model_last_token else 0.0)
        gen.append(bot.generator.llm.last_usage[1])
        answers.append(a.text)
        # the same prompt next time would be fully cached; reset so every mode prefills alike
        llama.n_tokens = 0
    out[mode] = answers
    print(f"{mode}: decode seconds p50 {statistics.median(times):.2f} mean {statistics.mean(times):.2f}, tokens mean {statistics.mean(gen):.1f}", flush=True)
print("same as plain:", sum(a == b for a, b in zip(out["plain"], out["lookup"])), "/", len(qs), "; plain vs plain2:", sum(a == b for a, b in zip(out["plain"], out["plain2"])))
for q, a, b in zip(qs, out["plain"], out["lookup"]):
    if a != b: print("Q", q, "\n  plain:", a[:200], "\n  lookup:", b[:200])

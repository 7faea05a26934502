"""The real stack end to end: Chroma on disk, MiniLM, and real GGUF models through llama.cpp."""

import signal
import subprocess
import sys

import pytest

from briefbot import BriefBot, Settings
from briefbot.models import tiny_model_path
from briefbot.verify import CITATION, numbers, numbers_stated

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def qwen_bot(index_dir):
    return BriefBot.from_settings(Settings(backend="local", index_dir=index_dir))


PREFILL = """
from briefbot.backends.local import LocalLLM
from briefbot.models import default_model_path
from briefbot.settings import DEFAULT_BRIEFING, Settings

settings = Settings()
llm = LocalLLM(model_path=str(default_model_path(settings.cache_dir, progress=False)), n_ctx=2048, max_tokens=8,
               n_threads=settings.n_threads, allow_amx=settings.allow_amx)
tokens = llm.llama.tokenize(DEFAULT_BRIEFING.read_text(encoding="utf-8").encode())[:600]
llm.llama.eval(tokens)
print(len(tokens), llm.llama.n_tokens)
"""


def test_default_model_prefills_hundreds_of_tokens_without_crashing():
    """In a child process: a crash inside llama.cpp (the AMX segfault on Q4_K, llama.cpp#20824) then
    fails this test with its signal, where in-process it would end the test run with no summary."""
    result = subprocess.run([sys.executable, "-c", PREFILL], capture_output=True, text=True, timeout=900)
    died = f"signal {signal.Signals(-result.returncode).name}" if result.returncode < 0 else f"status {result.returncode}"
    assert result.returncode == 0, f"prefilling 600 tokens ended with {died}:\n{result.stderr[-2000:]}"
    assert result.stdout.split() == ["600", "600"]


def test_default_model_answers_with_an_exact_citation(qwen_bot):
    answer = qwen_bot.ask("How many Tajik border guards are on patrol today?")
    assert not answer.refused
    assert "16,000" in answer.text
    assert any("16,000" in c.quote for c in answer.citations)
    for citation in answer.citations:
        assert qwen_bot.briefing.text[citation.start : citation.end] == citation.quote


def test_default_model_refuses_general_knowledge(qwen_bot):
    answer = qwen_bot.ask("What is the boiling point of water at sea level?")
    assert answer.refused
    assert "100" not in answer.text


def test_default_model_condenses_a_follow_up(qwen_bot):
    history = [
        {"role": "user", "content": "Where is the Russian air base in Kyrgyzstan?"},
        {"role": "assistant", "content": "It is in Kant, near Bishkek [1]."},
    ]
    answer = qwen_bot.chat("When was it set up?", history)
    assert "kyrgyz" in answer.standalone_question.lower() or "kant" in answer.standalone_question.lower()
    # The condensed question finds the passage that answers it (the base was "set up ... in
    # 1999–2000"): it is cited by an answer, or listed among a refusal's closest passages. The 1.5B
    # model has answered "2000–2001 [2]" here, which the number check refuses: a wrong year is never
    # shown, so an answer must give the right one.
    assert any("1999–2000" in c.quote for c in answer.citations), answer.citations
    if not answer.refused:
        assert "1999" in answer.text and "2001" not in answer.text
    for citation in answer.citations:
        assert qwen_bot.briefing.text[citation.start : citation.end] == citation.quote


def test_tiny_gguf_runs_through_the_local_backend(index_dir, tmp_path):
    """SmolLM2-135M hallucinates freely: this checks plumbing, and that verification still holds."""
    bot = BriefBot.from_settings(Settings(backend="local", model_path=tiny_model_path(), index_dir=index_dir, cache_dir=tmp_path, max_tokens=48))
    answer = bot.ask("Which bomb did the US drop in Nangarhar?")
    prompt_tokens, generated = bot.generator.llm.last_usage
    assert prompt_tokens > 0 and 0 < generated <= 48, "the model did not generate, or past max_tokens"
    timings = answer.timings
    assert 0 < timings.model_first_token <= timings.model_last_token <= timings.first_token <= timings.total
    # An answer cites what supports it, a refusal the closest passages; either way, exact spans.
    assert answer.citations
    for citation in answer.citations:
        assert bot.briefing.text[citation.start : citation.end] == citation.quote
    if answer.refused:
        assert answer.refusal_reason and not answer.sentences
    else:
        cited = {c.n for c in answer.citations}
        assert answer.sentences and all(s.cites and set(s.cites) <= cited for s in answer.sentences)
        quotes = " ".join(c.quote for c in answer.citations)
        assert numbers(CITATION.sub("", answer.text)) <= numbers_stated(quotes), "a number no citation states"


def test_saved_kv_state_restores_the_prompt_without_the_logits_copy():
    from briefbot.backends.local import LocalLLM

    llm = LocalLLM(model_path=str(tiny_model_path()), n_ctx=512, max_tokens=8)
    llama = llm.llama
    prompt = llama.tokenize(b"The Tajik-Afghan border is 1344 km long. The border guards number")
    llama.eval(prompt)
    state = llama.save_state()
    assert state.scores.size == 0  # no n_batch x vocab copy per state
    assert state.n_tokens == len(prompt) and list(state.input_ids) == prompt
    expected = [next(llama.generate(prompt, temp=0.0, reset=True))]

    llama.reset()
    llama.eval(llama.tokenize(b"Something else entirely, to overwrite the KV cache."))
    llama.load_state(state)
    assert llama.n_tokens == len(prompt)
    # generate() reuses the restored prefix and re-evaluates only the last token for its logits.
    assert [next(llama.generate(prompt, temp=0.0, reset=True))] == expected


def test_the_answer_prompts_opening_is_prefilled_once_then_read_from_disk(tmp_path):
    from briefbot.backends.local import LocalBackend, LocalLLM
    from briefbot.span import Passage

    front = Passage(n=1, chunk_id="doc:000", doc_id="doc", section="", start=0, end=40, text="25 April 2017. Russia and the Taliban.", score=0.0, front_matter=True)
    body = Passage(n=2, chunk_id="doc:001", doc_id="doc", section="", start=41, end=90, text="Currently 16,000 Tajik border guards are on patrol.", score=0.5)
    question = "How many Tajik border guards are on patrol?"
    states = tmp_path / "prompt-states"

    def start(progress):
        return LocalBackend(LocalLLM(model_path=str(tiny_model_path()), max_tokens=8), front, states, progress)

    said = []
    first = start(said.append)
    assert any("prefilling the answer instructions" in message for message in said)
    opening = first.opening_tokens(front)
    prompt = first.llm.prompt_tokens(first.answer_messages(question, [front, body]))
    assert len(opening) > 20 and prompt[: len(opening)] == opening  # every answer prompt starts with it
    fresh_answer = "".join(first.stream_answer(question, [front, body]))
    [saved] = states.glob("*.npz")

    said.clear()
    second = start(said.append)
    assert said == []  # read from disk, not prefilled
    llama = second.llm.llama
    assert llama.n_tokens == len(opening) and list(llama.input_ids[: len(opening)]) == opening
    assert "".join(second.stream_answer(question, [front, body])) == fresh_answer

    saved.write_bytes(b"not a KV state")
    said.clear()
    start(said.append)
    assert any("prefilling" in message for message in said)  # a broken file is rebuilt, not trusted
    assert [p.name for p in states.glob("*.npz")] == [saved.name]

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unsaved = LocalBackend(LocalLLM(model_path=str(tiny_model_path()), max_tokens=8), front, blocker / "prompt-states", said.append)
    assert unsaved.llm.llama.n_tokens == len(opening)  # prefilled all the same; only saving it failed


def test_saved_openings_are_kept_for_the_most_recently_used_models_only(tmp_path):
    import os

    import numpy as np
    from llama_cpp.llama import LlamaState

    from briefbot.backends.opening_state import KEPT_MODELS, _prune, _write

    def saved(name: str, used: int):
        path = tmp_path / name
        path.write_bytes(b"old")
        os.utime(path, (used, used))
        return path

    # A model file that moved (another virtualenv) leaves its state behind under another model hash.
    older = [saved(f"model{i}-prompt.npz", used=1_000 + i) for i in range(KEPT_MODELS + 1)]
    same_model_old_prompt = saved("current-oldprompt.npz", used=9_000)
    being_written = saved("partial.other-prompt.npz", used=1)
    state = LlamaState(input_ids=np.arange(3, dtype=np.intc), scores=np.empty((0, 4), dtype=np.single), n_tokens=3, llama_state=b"kv", llama_state_size=2, seed=0)

    _write(tmp_path / "current-newprompt.npz", [0, 1, 2], state)

    kept = sorted(path.name for path in tmp_path.glob("*.npz") if not path.name.startswith("partial."))
    newest_others = sorted(path.name for path in older[-(KEPT_MODELS - 1) :])
    assert kept == sorted(["current-newprompt.npz", *newest_others])
    assert not same_model_old_prompt.exists()
    assert being_written.exists()  # another process's write in progress is not pruned

    # Reading a state prunes too: a machine whose model never changes would otherwise keep them all.
    leftover = saved("moved-prompt.npz", used=500)
    _prune(tmp_path / "current-newprompt.npz")
    assert not leftover.exists() and (tmp_path / "current-newprompt.npz").exists()

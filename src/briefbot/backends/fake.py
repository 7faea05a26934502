"""A deterministic stand-in LLM (backend `fake`): the real code path offline, in milliseconds.

Without a script it answers like a careful extractive model: the passage sentence that shares
most words with the question, cited, or the refusal when nothing overlaps. With
`replies` (answers) and `condensations` (standalone questions), it returns those texts in order, so
tests can feed exact model outputs to verification.
"""

from __future__ import annotations

import re
from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms.custom import CustomLLM

from briefbot.backends.base import REFUSAL
from briefbot.text import QUESTION_STOPWORDS, content_words, split_sentences


def _words(text: str) -> set[str]:
    return content_words(text, QUESTION_STOPWORDS, stem=None)


_NEGATION = re.compile(r"\b(no|not|never|none|nor|neither|without)\b|n't\b", re.IGNORECASE)


class FakeLLM(CustomLLM):
    replies: list[str] = []
    condensations: list[str] = []
    # Scripted yes/no margins (entailment, answer and synonym checks, in the order asked); unscripted,
    # a claim is entailed when its words all stand in the passage and both say "not" alike (a weak
    # Yes when three in four do), a passage answers a question when it has half of the question's
    # words, and two words mean the same when they start alike ("gained" and "gain").
    margins: list[float] = []

    def yes_no_margin(self, messages, opening: int = 0) -> float:
        if self.margins:
            return self.margins.pop(0)
        asked = messages[-1].content or ""
        words = re.search(r"^Question word: (.*)\. Passage word: (.*)\.$", asked, re.MULTILINE)
        if words:
            return 4.0 if words[1].lower()[:4] == words[2].lower()[:4] else -4.0
        passage, kind, said = re.fullmatch(r"Passage: (.*)\n(Claim|Question): (.*)\nDoes the passage.*", asked, re.DOTALL).groups()
        if kind == "Question":  # answered when the passage has most of the question's words
            asked = _words(said)
            return 4.0 if len(asked & _words(passage)) >= 0.5 * len(asked) else -4.0
        if len(_NEGATION.findall(passage)) != len(_NEGATION.findall(said)):
            return -4.0
        claimed = _words(said)
        stated = len(claimed & _words(passage))
        return 4.0 if stated == len(claimed) else 1.0 if stated >= 0.75 * len(claimed) else -4.0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=32768, num_output=256, is_chat_model=False, model_name="fake")

    def _reply(self, prompt: str) -> str:
        if prompt.rstrip().endswith("Standalone question:"):
            if self.condensations:
                return self.condensations.pop(0)
            # The last occurrences: the prompt's worked example comes before the real conversation.
            follow_up = re.findall(r"Follow-up question: (.*)", prompt)[-1].strip()
            conversation = prompt[prompt.rfind("Conversation:") :]
            earlier = re.findall(r"^User: (.*)$", conversation, re.MULTILINE)
            return f"{follow_up} (about: {earlier[-1]})" if earlier else follow_up
        if self.replies:
            return self.replies.pop(0)
        # Only the passages after the last "Passages:" header: the system prompt has worked examples.
        # The question is the last line: a question quoting "Passages:" must not move the cut.
        head, _, question_text = prompt.rpartition("Question: ")
        prompt = head[head.rfind("Passages:") :] + "Question:"
        question = _words(question_text)
        best, best_overlap = None, 0.0
        for number, text in re.findall(r"^\[(\d+)\] (.*?)(?=^\[\d+\] |^Question:)", prompt, re.MULTILINE | re.DOTALL):
            for sentence in split_sentences(text):
                words = _words(sentence)
                overlap = len(question & words) / (1 + len(words)) ** 0.5
                if overlap > best_overlap:
                    best, best_overlap = (number, sentence), overlap
        if best is None:
            return REFUSAL
        return f"{best[1].rstrip('.')} [{best[0]}]."

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._reply(prompt))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = ""
        for token in re.findall(r"\S+\s*", self._reply(prompt)):
            text += token
            yield CompletionResponse(text=text, delta=token)

"""No-LLM backend: quote the retrieved sentences closest to the question, verbatim, with citations."""

from __future__ import annotations

from typing import Iterator

from briefbot.backends.base import REFUSAL
from briefbot.briefing import sentence_spans
from briefbot.span import Passage

# Below this MiniLM cosine a sentence is too far from the question to count as an answer.
MIN_SIMILARITY = 0.45
# A second sentence is quoted only when it is nearly as close as the best one.
SECOND_SENTENCE_MARGIN = 0.05


class ExtractiveBackend:
    name = "extractive"

    def __init__(self, embed_model):
        self.embed_model = embed_model

    def stream_answer(self, question: str, passages: list[Passage]) -> Iterator[str]:
        import numpy as np

        candidates = [(p.n, p.text[s:e]) for p in passages for s, e in sentence_spans(p.text)]
        if not candidates:
            yield REFUSAL
            return
        query = np.array(self.embed_model.get_query_embedding(question))
        vectors = np.array(self.embed_model.get_text_embedding_batch([text for _, text in candidates]))
        scores = vectors @ query
        order = np.argsort(-scores)
        best = scores[order[0]]
        if best < MIN_SIMILARITY:
            yield REFUSAL
            return
        chosen = [i for i in order[:2] if scores[i] >= best - SECOND_SENTENCE_MARGIN]
        for position, i in enumerate(chosen):
            n, text = candidates[i]
            sentence = text.rstrip()
            cited = f"{sentence[:-1]} [{n}]." if sentence.endswith(".") else f"{sentence} [{n}]"
            yield ("" if position == 0 else " ") + cited

    def entailment(self, claim: str, passage: str) -> None:
        return None  # it only quotes; a quote needs no entailment check

    def answers(self, question: str, passage: str) -> None:
        return None  # without an LLM, only the word rules of verify.answers_question apply

    def synonym(self, question: str, passage: str, word: str, replacement: str) -> None:
        return None  # without an LLM a word the question changed is not weighed; the other rules still apply

    def condense(self, history: list[dict], question: str) -> str:
        # Without an LLM the best standalone form is the follow-up plus the last question it follows.
        earlier = [m["content"] for m in history if m["role"] == "user"]
        return f"{earlier[-1]} {question}" if earlier else question

"""The backend contract: a generator streams an answer from passages and condenses a follow-up.

`LLMBackend` drives any llama-index LLM with the prompt files in `prompts/`; the factory that picks a
backend for the settings is `briefbot.backends.make_backend`.
"""

from __future__ import annotations

import logging
from typing import Iterator, Protocol

from briefbot.errors import BackendError
from briefbot.settings import PACKAGE_DIR
from briefbot.span import Passage

PROMPTS_DIR = PACKAGE_DIR / "prompts"
log = logging.getLogger("briefbot")
REFUSAL = "NOT IN BRIEFING"
YES_NO_KINDS = {
    "entail": ("passage", "claim"),
    "answers": ("passage", "question"),
    "synonym": ("passage", "question", "word", "replacement"),
}


class Backend(Protocol):
    name: str

    def stream_answer(self, question: str, passages: list[Passage]) -> Iterator[str]: ...

    def condense(self, history: list[dict], question: str) -> str: ...

    def entailment(self, claim: str, passage: str) -> float | None:
        """Yes−No logit margin of "does the passage state the claim?", None if the backend cannot tell."""
        ...

    def answers(self, question: str, passage: str) -> float | None:
        """Yes−No logit margin of "does the passage answer the question?", None if the backend cannot tell."""
        ...

    def synonym(self, question: str, passage: str, word: str, replacement: str) -> float | None:
        """Yes−No logit margin of "does the question's `word` mean the passage's `replacement`?", None if the backend cannot tell."""
        ...


def read_prompt(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")


def format_passages(passages: list[Passage]) -> str:
    return "\n".join(f"[{p.n}] {p.text}" for p in passages)


def format_history(history: list[dict], max_turns: int = 4) -> str:
    lines = []
    for message in history[-2 * max_turns :]:
        speaker = "User" if message["role"] == "user" else "Assistant"
        lines.append(f"{speaker}: {message['content'].strip()}")
    return "\n".join(lines)


class LLMBackend:
    """Any llama-index LLM, prompted with the templates in prompts/."""

    def __init__(self, name: str, llm):
        from llama_index.core.prompts import ChatPromptTemplate, PromptTemplate
        from llama_index.core.base.llms.types import ChatMessage, MessageRole

        self.name = name
        self.llm = llm
        self.answer_template = ChatPromptTemplate(
            [
                ChatMessage(role=MessageRole.SYSTEM, content=read_prompt("answer_system")),
                ChatMessage(role=MessageRole.USER, content=read_prompt("answer_user")),
            ]
        )
        self.condense_template = PromptTemplate(read_prompt("condense"))
        # Yes/no questions to the model about a passage: prompts/<kind>_system.txt and _user.txt.
        self.yes_no_templates = {
            kind: ChatPromptTemplate(
                [
                    ChatMessage(role=MessageRole.SYSTEM, content=read_prompt(f"{kind}_system")),
                    ChatMessage(role=MessageRole.USER, content=read_prompt(f"{kind}_user")),
                ]
            )
            for kind in YES_NO_KINDS
        }

    def entailment(self, claim: str, passage: str) -> float | None:
        return self._yes_no("entail", passage=passage, claim=claim)

    def answers(self, question: str, passage: str) -> float | None:
        return self._yes_no("answers", passage=passage, question=question)

    def synonym(self, question: str, passage: str, word: str, replacement: str) -> float | None:
        return self._yes_no("synonym", passage=passage, question=question, word=word, replacement=replacement)

    def _yes_no(self, kind: str, **fields: str) -> float | None:
        # Only an LLM that exposes its first-token logits can say how sure it is (not an HTTP API).
        margin = getattr(self.llm, "yes_no_margin", None)
        if margin is None:
            return None
        try:
            return margin(self.yes_no_templates[kind].format_messages(**fields), self.yes_no_opening(kind))
        except BackendError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    def yes_no_opening(self, kind: str) -> int:
        """Prompt tokens every yes/no question of this kind starts with (its fixed instructions); 0 if unknown."""
        return 0

    def answer_messages(self, question: str, passages: list[Passage]):
        return self.answer_template.format_messages(passages=format_passages(passages), question=question)

    def stream_answer(self, question: str, passages: list[Passage]) -> Iterator[str]:
        try:
            for response in self.llm.stream_chat(self.answer_messages(question, passages)):
                if response.delta:
                    yield response.delta
        except BackendError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: Exception) -> BackendError:
        # The user sees what failed; the internals (which may quote prompts or hosts) go to the log.
        log.error("the %s backend failed: %r", self.name, exc)
        return BackendError(f"the {self.name} backend could not answer just now (details are logged)")

    def condense(self, history: list[dict], question: str) -> str:
        prompt = self.condense_template.format(history=format_history(history), question=question)
        try:
            text = self.llm.complete(prompt, max_tokens=60).text
        except Exception as exc:
            raise self._failure(exc) from exc
        standalone = text.strip().split("\n")[0].strip().strip('"').strip()
        return standalone or question

"""The default generator: a GGUF model run in-process by llama-cpp-python, as a llama-index LLM.

Hand-written (not llama-index's LlamaCPP) because that integration downloads a model when no path
is given and hides the llama.cpp handle we need for a process-wide lock and prefix-cache reuse.
"""

from __future__ import annotations

import atexit
import ctypes
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaRAMCache
from llama_cpp.llama import LlamaState
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_index.core.llms.custom import CustomLLM
from pydantic import PrivateAttr

from briefbot.backends.base import YES_NO_KINDS, LLMBackend
from briefbot.backends.llama_build import check_build
from briefbot.backends.opening_state import warm_start
from briefbot.errors import BackendError, ModelError
from briefbot.span import Passage


class _KVStateLlama(Llama):
    """Saves and restores only the KV cache. llama-cpp-python also copies the scores array (up to
    n_batch x vocab floats, ~300 MB for Qwen) into every state, although with sampling done inside
    llama.cpp it reads scores only for logprobs, which need logits_all=True (not used here)."""

    def save_state(self) -> LlamaState:
        size = llama_cpp.llama_state_get_size(self._ctx.ctx)
        buffer = (ctypes.c_uint8 * size)()
        used = llama_cpp.llama_state_get_data(self._ctx.ctx, buffer, size)
        return LlamaState(
            input_ids=self.input_ids[: self.n_tokens].copy(),
            scores=np.empty((0, self._n_vocab), dtype=np.single),
            n_tokens=self.n_tokens,
            llama_state=ctypes.string_at(buffer, used),
            llama_state_size=used,
            seed=self._seed,
        )

    def load_state(self, state: LlamaState) -> None:
        self.input_ids[: state.n_tokens] = state.input_ids
        self.n_tokens = state.n_tokens
        self._requires_eval = True
        self._seed = state.seed
        buffer = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
        if llama_cpp.llama_state_set_data(self._ctx.ctx, buffer, state.llama_state_size) != state.llama_state_size:
            raise RuntimeError("llama.cpp refused a saved KV state")

    def last_logits(self) -> np.ndarray:
        """The logits after the last evaluated token (llama.cpp keeps them without logits_all)."""
        return np.ctypeslib.as_array(self._ctx.get_logits(), shape=(self._n_vocab,))


class LocalLLM(CustomLLM):
    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    max_tokens: int = 200
    temperature: float = 0.0
    seed: int = 0
    prompt_cache_bytes: int = 128 * 1024 * 1024
    allow_amx: bool = False

    _llama: Any = PrivateAttr(default=None)
    _formatter: Any = PrivateAttr(default=None)
    # KV states of fixed prompt openings (the entailment check's instructions), kept in memory so
    # they are prefilled once, whatever other prompts ran in between.
    _opening_states: dict = PrivateAttr(default_factory=dict)
    # (prompt tokens, generated tokens) of the last call, for `briefbot bench`.
    last_usage: tuple[int, int] = (0, 0)
    # One llama.cpp context serves every caller; concurrent use would corrupt its KV cache.
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **data: Any):
        super().__init__(**data)
        if not Path(self.model_path).is_file():
            raise ModelError(f"model file not found: {self.model_path}")
        check_build(self.allow_amx)
        try:
            self._llama = _KVStateLlama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        except Exception as exc:
            raise ModelError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
        llama = self._llama
        if "tokenizer.chat_template" not in llama.metadata:
            raise ModelError(f"{self.model_path} has no chat template; briefbot needs an instruction-tuned GGUF")
        # The template llama-cpp-python applies in create_chat_completion, to know a prompt's tokens beforehand.
        self._formatter = Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=llama._model.token_get_text(llama.token_eos()),
            bos_token=llama._model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else "",
        )
        # Keeps the KV state of recent prompts: the fixed instructions and front matter are prefilled
        # once, not again after every condense call that evicted them from the live context.
        self._llama.set_cache(LlamaRAMCache(capacity_bytes=self.prompt_cache_bytes))
        # Freed before interpreter teardown; llama.cpp's own __del__ fails once modules are gone.
        atexit.register(self._llama.close)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.n_ctx, num_output=self.max_tokens, is_chat_model=True, model_name=Path(self.model_path).name
        )

    @property
    def llama(self):
        return self._llama

    @property
    def identity(self) -> str:
        stat = Path(self.model_path).stat()
        return f"{Path(self.model_path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The tokens create_chat_completion feeds the model for these messages."""
        prompt = self._formatter(messages=[{"role": m.role.value, "content": m.content or ""} for m in messages]).prompt
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def yes_no_margin(self, messages: Sequence[ChatMessage], opening: int = 0) -> float:
        """logit("Yes") − logit("No") as the reply's first token: how sure the model is of yes.

        `opening`: how many prompt tokens are a fixed opening shared by every call; its KV state is
        computed once and restored, so a call prefills only what follows it.
        """
        tokens = self.prompt_tokens(messages)
        llama = self._llama
        with self._lock:
            reused = Llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
            if opening and reused < opening:
                key = tuple(tokens[:opening])
                if key in self._opening_states:
                    llama.load_state(self._opening_states[key])
                else:
                    llama.n_tokens = reused
                    llama.eval(tokens[reused:opening])
                    self._opening_states[key] = llama.save_state()
                reused = opening
            llama.n_tokens = min(reused, len(tokens) - 1)  # the last token is evaluated for its logits
            llama.eval(tokens[llama.n_tokens :])
            logits = llama.last_logits()
            return float(logits[self._answer_token("Yes")] - logits[self._answer_token("No")])

    def _answer_token(self, word: str) -> int:
        return self._llama.tokenize(word.encode(), add_bos=False, special=False)[0]

    def run_locked(self, work: Callable[[Any], Any]) -> Any:
        with self._lock:
            return work(self._llama)

    def _sampling(self, kwargs: dict) -> dict:
        return {
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": self.temperature,
            "seed": self.seed,
            **({"response_format": kwargs["response_format"]} if "response_format" in kwargs else {}),
        }

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(response.delta or "" for response in self.stream_chat(messages, **kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        payload = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        with self._lock:
            try:
                stream = self._llama.create_chat_completion(payload, stream=True, **self._sampling(kwargs))
                text, generated = "", 0
                for chunk in stream:
                    delta = chunk["choices"][0]["delta"].get("content") or ""
                    if delta:
                        generated += 1  # llama-cpp-python streams one token per chunk
                        text += delta
                        yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta)
                self.last_usage = (max(0, self._llama.n_tokens - generated), generated)
            except ValueError as exc:
                raise BackendError(f"the local model could not process this request: {exc}") from exc

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs).message.content or "")

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        for response in self.stream_chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs):
            yield CompletionResponse(text=response.message.content or "", delta=response.delta)


class LocalBackend(LLMBackend):
    """The local model; the answer prompt's fixed opening is prefilled from disk at start-up."""

    def __init__(self, llm: LocalLLM, opening: Passage | None, state_dir: Path, progress: Callable[[str], None]):
        super().__init__("local", llm)
        self._yes_no_openings = {}
        for kind, fields in YES_NO_KINDS.items():
            ask = self.yes_no_templates[kind].format_messages
            one, other = ask(**dict.fromkeys(fields, "One.")), ask(**dict.fromkeys(fields, "Other."))
            self._yes_no_openings[kind] = len(self._shared_prefix(one, other))
        if opening is not None:
            tokens = self.opening_tokens(opening)
            llm.run_locked(lambda llama: warm_start(llama, tokens, state_dir, llm.identity, progress))

    def yes_no_opening(self, kind: str) -> int:
        return self._yes_no_openings[kind]

    def _shared_prefix(self, one_messages, other_messages) -> list[int]:
        """The tokens two prompts share (token boundaries depend on what follows, so compare, not cut)."""
        one, other = self.llm.prompt_tokens(one_messages), self.llm.prompt_tokens(other_messages)
        shared = next((i for i, (a, b) in enumerate(zip(one, other)) if a != b), min(len(one), len(other)))
        return one[:shared]

    def opening_tokens(self, front_matter: Passage) -> list[int]:
        """The tokens every answer prompt starts with: those two prompts that differ right after
        passage [1] share (token boundaries there depend on what follows, so compare, not cut)."""
        filler = replace(front_matter, n=2, text="Another passage.", front_matter=False)
        return self._shared_prefix(self.answer_messages("One?", [front_matter, filler]), self.answer_messages("Other?", [front_matter]))

"""The LLM judges of the evaluation, run offline by default.

Judges are ragas 0.4 `InstructorBaseRagasLLM`s (the interface ragas' `metrics.collections` accept):
`generate(prompt, response_model)` returns a validated pydantic object. Three kinds:

- `local`: the Qwen GGUF through llama-cpp-python, output constrained by the response model's JSON
  schema (`response_format={"type": "json_object", "schema": ...}`), temperature 0, fixed seed, and
  before every call the KV state of the prompt's fixed instructions restored (computed once, from an
  empty context), so an answer depends on its prompt only, never on the call before it;
- `openai`: any OpenAI-compatible server (`response_format` json_schema, temperature 0, seed);
- `stub`: deterministic and instant, for CI: statements are the answer's sentences and a statement
  is supported when all its content words occur in the contexts.

Every raw judge output is cached on disk under sha256(judge model hash + request), the request being
the rendered prompt, the system prompt, the JSON schema and the sampling parameters; every call is
logged (prompt, raw output, cache hit) so the results carry the exact prompts that produced them.

What they judge is judged.py's; how far a judge can be trusted, calibration.py's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms.base import InstructorBaseRagasLLM

from briefbot.text import NONCOMMITTAL, answer_sentences, claim_words

JUDGE_SYSTEM = "You are a strict, careful evaluator. Reply with one JSON object that follows the given schema, and nothing else."
JUDGE_SEED = 0
JUDGE_MAX_TOKENS = 1024
JUDGE_N_CTX = 8192
BINARY_FIELDS = frozenset({"verdict", "noncommittal", "attributed"})
JUDGE_KINDS = ("local", "openai", "stub", "none")


class JudgeError(Exception):
    """The judge gave no usable answer (unparsable output, or the model/server failed)."""


class JudgeParseError(JudgeError):
    def __init__(self, message: str, raw: str):
        super().__init__(message)
        self.raw = raw


# ---------------------------------------------------------------------------------------------
# Schemas and the on-disk cache


def tighten_schema(schema: dict) -> dict:
    """The response model's schema with its 0/1 integer fields restricted to 0 or 1."""

    def walk(node):
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            for name, prop in (out.get("properties") or {}).items():
                if name in BINARY_FIELDS and isinstance(prop, dict) and prop.get("type") == "integer":
                    prop["enum"] = [0, 1]
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


def schema_for(response_model: type[BaseModel]) -> dict:
    return tighten_schema(response_model.model_json_schema())


def with_item_count(schema: dict, array_field: str, count: int) -> dict:
    """Pin an array property to exactly `count` items (the grammar then cannot drop or add verdicts)."""
    schema = json.loads(json.dumps(schema))
    schema["properties"][array_field]["minItems"] = count
    schema["properties"][array_field]["maxItems"] = count
    return schema


class JudgeCache:
    """One JSON file per request: <dir>/<key[:2]>/<key>.json, written atomically."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)


def _extract_json(raw: str) -> str:
    """Tolerate a code fence or text around the object (servers that ignore the schema)."""
    text = raw.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    if not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            text = text[start : end + 1]
    return text


# ---------------------------------------------------------------------------------------------
# Judges


class Judge(InstructorBaseRagasLLM):
    """Base judge: caching, call log, parsing. Subclasses implement `_raw(prompt, schema)`."""

    kind = "base"

    def __init__(self, model_id: str, model_sha256: str | None, params: dict, cache: JudgeCache | None = None):
        self.model_id = model_id
        self.model_sha256 = model_sha256
        self.params = params
        self.cache = cache
        self.calls: list[dict] = []
        self.labels: dict = {}

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "model": self.model_id,
            "model_sha256": self.model_sha256,
            "params": self.params,
            "system_prompt": JUDGE_SYSTEM,
            "cache_dir": str(self.cache.directory) if self.cache else None,
        }

    @contextmanager
    def labelled(self, **labels) -> Iterator[None]:
        """Tag the calls made inside (system, sample id, metric) for the call log."""
        previous = self.labels
        self.labels = {**previous, **labels}
        try:
            yield
        finally:
            self.labels = previous

    def cache_key(self, prompt: str, schema: dict) -> str:
        request = {
            "model": self.model_sha256 or self.model_id,
            "system": JUDGE_SYSTEM,
            "prompt": prompt,
            "schema": schema,
            "params": self.params,
        }
        return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def _raw(self, prompt: str, schema: dict) -> str:
        raise NotImplementedError

    def complete_json(self, prompt: str, schema: dict) -> tuple[str, str]:
        """The raw output for this request (cached), and the cache key."""
        key = self.cache_key(prompt, schema)
        cached = self.cache.get(key) if self.cache else None
        started = time.perf_counter()
        if cached is not None:
            raw, hit = cached["raw"], True
        else:
            try:
                raw = self._raw(prompt, schema)
            except Exception as exc:  # the model or server failed: not cached, reported as a failure
                self._log(key, prompt, schema, None, False, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
                if isinstance(exc, JudgeError):
                    raise
                raise JudgeError(f"the {self.kind} judge failed: {exc}") from exc
            hit = False
            if self.cache:
                self.cache.put(key, {"model": self.model_sha256 or self.model_id, "prompt": prompt, "schema": schema, "raw": raw})
        self._log(key, prompt, schema, raw, hit, time.perf_counter() - started, None)
        return raw, key

    def _log(self, key, prompt, schema, raw, hit, seconds, error) -> None:
        self.calls.append(
            {
                **self.labels,
                "key": key,
                "schema": schema.get("title"),
                "cached": hit,
                "seconds": round(seconds, 3),
                "prompt": prompt,
                "raw": raw,
                "error": error,
            }
        )

    def generate(self, prompt: str, response_model: type[BaseModel], schema: dict | None = None):
        schema = schema or schema_for(response_model)
        raw, _ = self.complete_json(prompt, schema)
        try:
            return response_model.model_validate_json(_extract_json(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise JudgeParseError(f"unparsable {response_model.__name__}: {first['msg']} at {first['loc']}", raw) from exc

    async def agenerate(self, prompt: str, response_model: type[BaseModel], schema: dict | None = None):
        return self.generate(prompt, response_model, schema)

    def stats(self) -> dict:
        made = [c for c in self.calls if not c["cached"]]
        return {
            "calls": len(self.calls),
            "cache_hits": len(self.calls) - len(made),
            "errors": sum(1 for c in self.calls if c["error"]),
            "seconds_uncached": round(sum(c["seconds"] for c in made), 1),
        }


class LocalJudge(Judge):
    """The GGUF model in-process (its own llama.cpp context, n_ctx 8192 for the baseline's long contexts)."""

    kind = "local"

    def __init__(self, model_path: Path, model_sha256: str, n_threads: int = 2, n_ctx: int = JUDGE_N_CTX,
                 max_tokens: int = JUDGE_MAX_TOKENS, seed: int = JUDGE_SEED, cache: JudgeCache | None = None,
                 allow_amx: bool = False):
        from briefbot.backends.local import LocalLLM

        params = {"temperature": 0.0, "seed": seed, "max_tokens": max_tokens, "n_ctx": n_ctx, "response_format": "json_object+schema",
                  "prefix_state": "instructions"}
        super().__init__(Path(model_path).name, model_sha256, params, cache)
        self.max_tokens = max_tokens
        self.llm = LocalLLM(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, max_tokens=max_tokens, temperature=0.0, seed=seed,
                            allow_amx=allow_amx)
        # Not llama.cpp's prompt-state cache (LocalLLM sets one for the chat prompts): it restores the
        # state a previous call left, so one call's output could depend on the calls before it.
        if getattr(self.llm.llama, "cache", None) is not None:
            self.llm.llama.set_cache(None)
        self._instruction_states: dict[str, Any] = {}

    @staticmethod
    def _messages(user: str) -> list:
        from llama_index.core.base.llms.types import ChatMessage, MessageRole

        return [ChatMessage(role=MessageRole.SYSTEM, content=JUDGE_SYSTEM), ChatMessage(role=MessageRole.USER, content=user)]

    def _restore_instructions(self, prompt: str) -> None:
        """Load the KV state of the prompt's fixed part: ragas' instructions and examples, ~400-750 of
        its tokens, prefilled once per prompt kind instead of on every call (~95 tok/s on 2 cores).

        The state is always computed the same way, from an empty context, and llama.cpp then reuses
        the longest token prefix it shares with the prompt: what is reused and what is evaluated
        depends on the prompt alone, never on the calls before it.
        """
        llama = self.llm.llama
        cut = prompt.rfind("\ninput: ")
        if cut < 0:
            llama.reset()
            return
        instructions = prompt[: cut + 1]
        state = self._instruction_states.get(instructions)
        if state is None:
            llama.reset()
            self.llm.chat(self._messages(instructions), max_tokens=1)
            state = self._instruction_states[instructions] = llama.save_state()
        llama.load_state(state)

    def _raw(self, prompt: str, schema: dict) -> str:
        self._restore_instructions(prompt)
        response = self.llm.chat(self._messages(prompt), response_format={"type": "json_object", "schema": schema}, max_tokens=self.max_tokens)
        return response.message.content or ""


class OpenAIJudge(Judge):
    """An OpenAI-compatible server (llama.cpp server, vLLM, …) with JSON-schema constrained output."""

    kind = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", max_tokens: int = JUDGE_MAX_TOKENS,
                 seed: int = JUDGE_SEED, cache: JudgeCache | None = None, timeout: float = 300):
        import openai

        params = {"temperature": 0.0, "seed": seed, "max_tokens": max_tokens, "base_url": base_url, "response_format": "json_schema"}
        super().__init__(f"{model} @ {base_url}", None, params, cache)
        self.model = model
        self.max_tokens = max_tokens
        self.seed = seed
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1)

    def _raw(self, prompt: str, schema: dict) -> str:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}],
            temperature=0.0,
            seed=self.seed,
            max_tokens=self.max_tokens,
            response_format={"type": "json_schema", "json_schema": {"name": schema.get("title", "output"), "schema": schema}},
        )
        return response.choices[0].message.content or ""


class StubJudge(Judge):
    """Deterministic, instant, offline: answers ragas' prompts by rule from the prompt's input JSON."""

    kind = "stub"
    VERSION = "stub-keywords-v1"

    def __init__(self, cache: JudgeCache | None = None):
        super().__init__(self.VERSION, hashlib.sha256(self.VERSION.encode()).hexdigest(), {"rule": "all content words present"}, cache)

    @staticmethod
    def prompt_input(prompt: str) -> dict:
        match = re.search(r"\ninput: (\{.*\})\nOutput: ?$", prompt, re.DOTALL)
        if not match:
            raise JudgeError("the stub judge could not find the input JSON in the prompt")
        return json.loads(match.group(1))

    @staticmethod
    def supported(statement: str, context: str) -> bool:
        words = claim_words(statement)
        return bool(words) and words <= claim_words(context)

    def _raw(self, prompt: str, schema: dict) -> str:
        data = self.prompt_input(prompt)
        title = schema.get("title")
        if title == "StatementGeneratorOutput":
            out = {"statements": answer_sentences(data["answer"])}
        elif title == "NLIStatementOutput":
            out = {
                "statements": [
                    {"statement": s, "reason": "all content words found" if self.supported(s, data["context"]) else "content words missing",
                     "verdict": int(self.supported(s, data["context"]))}
                    for s in data["statements"]
                ]
            }
        elif title == "AnswerRelevanceOutput":
            response = data["response"]
            out = {"question": answer_sentences(response)[0] if answer_sentences(response) else response,
                   "noncommittal": int(bool(NONCOMMITTAL.search(response)))}
        elif title == "ContextPrecisionOutput":
            answer, context = claim_words(data["answer"]), claim_words(data["context"])
            useful = bool(answer) and len(answer & context) / len(answer) >= 0.5
            out = {"reason": "overlap with the answer", "verdict": int(useful)}
        elif title == "ContextRecallOutput":
            out = {
                "classifications": [
                    {"statement": s, "reason": "word overlap", "attributed": int(self.supported(s, data["context"]))}
                    for s in answer_sentences(data["answer"])
                ]
            }
        else:
            raise JudgeError(f"the stub judge has no rule for {title}")
        return json.dumps(out, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Embeddings for answer relevancy


class LlamaIndexEmbeddings(BaseRagasEmbedding):
    """The project's MiniLM (a llama-index HuggingFaceEmbedding) as a ragas 0.4 embedding."""

    def __init__(self, embed_model):
        super().__init__(cache=None)
        self.embed_model = embed_model

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        return list(self.embed_model.get_text_embedding(text))

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self.embed_text(text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return [list(v) for v in self.embed_model.get_text_embedding_batch(list(texts))]

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return self.embed_texts(texts)


# ---------------------------------------------------------------------------------------------
# Factory


def make_judge(kind: str, settings, cache_dir: Path | None = None, model_path: Path | None = None,
               base_url: str | None = None, model: str | None = None, api_key: str | None = None,
               n_ctx: int = JUDGE_N_CTX) -> Judge | None:
    """`none` → None. The local judge defaults to the verified default GGUF (its sha256 is known)."""
    cache = JudgeCache(cache_dir) if cache_dir else None
    if kind == "none":
        return None
    if kind == "stub":
        return StubJudge(cache=None)
    if kind == "openai":
        return OpenAIJudge(
            base_url=base_url or os.environ.get("BRIEFBOT_JUDGE_BASE_URL") or settings.openai_base_url,
            model=model or os.environ.get("BRIEFBOT_JUDGE_MODEL") or settings.openai_model,
            api_key=api_key or os.environ.get("BRIEFBOT_JUDGE_API_KEY") or settings.openai_api_key,
            cache=cache,
        )
    if kind == "local":
        from briefbot.models import DEFAULT_MODEL_SHA256, default_model_path, sha256_of

        if model_path is None and settings.model_path is None:
            path, digest = default_model_path(settings.cache_dir), DEFAULT_MODEL_SHA256
        else:
            path = Path(model_path or settings.model_path)
            digest = sha256_of(path)
        return LocalJudge(path, digest, n_threads=settings.n_threads, n_ctx=n_ctx, cache=cache, allow_amx=settings.allow_amx)
    raise ValueError(f"unknown judge {kind!r}: choose one of {', '.join(JUDGE_KINDS)}")

"""The bad-input corpus (data/bad_inputs.jsonl) through the Python API, the web API and the CLI.

Case fields, one JSON object a line:
  id, kind (question | history | briefing_file), expect (error | answer_or_refusal), why
  question          any JSON value (null, numbers and lists test the type check); for a
                    briefing_file, the question asked once the file is indexed
  history           kind history: the history argument, any JSON value
  file              kind briefing_file: {"name", and "text" | "bytes" | "path" | "directory": true | "missing": true};
                    "path" is a fixture under tests/data/ (a binary too big to inline), copied to "name"
  error_mentions    words the error message must contain (case-insensitive)
  model_reply       what the fake model says instead of its own choice: a model that obeyed an injection
  must_not_contain  text the answer must never contain (the system prompt is always checked)
  known_issue       a bug in code this module does not own; the case is a strict xfail until it is fixed
Values JSON cannot hold literally are objects, expanded on load: {"$b64": "..."} is bytes (invalid
UTF-8, binary files), {"$repeat": value, "times": n} a long string, bytes or list, {"$concat": [...]}
its pieces joined. Control characters and lone surrogates are plain JSON \\u escapes. A question
given as bytes reaches the API and the web as Python decodes undecodable argv and stdin bytes
(surrogateescape: lone surrogates) and the CLI as the bytes themselves.

Outcomes: `error` is a BriefBotError whose message says what is wrong, with no traceback and no
exception class name; `answer_or_refusal` is an Answer whose every citation (a refusal's closest
passages too) is `quote == text[start:end]`, with at least one citation when not refused. No line
of the system prompt ever appears in an answer or a message.

Surfaces:
- API: every question and history case through `fake_bot.chat`; every rejected briefing file
  through `open_index(briefings=[...])`, the call `briefbot index FILE` makes, against a copy of a
  built index that must stay byte-for-byte the same; the accepted files, indexed together once,
  each answer its question.
- Web: every question and history case through gradio_client and the real server's `/ask`.
  gradio_client cannot encode lone surrogates, so those cases are posted as escaped JSON to the
  same endpoint over Gradio's plain HTTP API (/gradio_api/call/ask). Every rejected briefing file
  that is a file (no browser sends a directory or a missing file) goes through `/upload_briefing`;
  the server must list the same briefings after it and its uploads folder stay byte-for-byte the
  same.
- CLI: a `briefbot ask` process loads MiniLM and the index (~12 s), so not one per case. Every
  error question goes through `briefbot ask` (it is rejected before anything loads: a fraction of
  a second), except NUL bytes, which no argv can hold; every single-line question goes through one
  `briefbot chat` process reading stdin with strict UTF-8 decoding (PYTHONIOENCODING=utf-8, as in
  a desktop UTF-8 locale). Chat condenses a question with the earlier answered turns, which
  changes what is searched for but not the outcome class. Multi-line answerable questions, history
  cases (chat keeps its own history) and non-text questions have no CLI run. Every rejected file
  goes through a `briefbot index FILE` process against the same copied index. The accepted files
  go through `briefbot index` and `briefbot ask` called in-process (`cli.main`), index sharing the
  loaded MiniLM and ask handed the bot over that index, since a process each would cost ~12 s.
  Scripted model replies reach only the in-process bots, so on the CLI those cases run unscripted.

`pytest tests/test_bad_inputs.py -s` prints the outcome of every case on every surface as a Markdown
table (the last test).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from briefbot import BriefBot, Settings
from briefbot.backends.base import read_prompt
from briefbot.bot import MAX_HISTORY_MESSAGE_CHARS
from briefbot.briefing import doc_id_for
from briefbot.cli import main
from briefbot.errors import BriefBotError, BriefingError
from briefbot.index import open_index
from briefbot.web import MAX_REQUEST_BYTES

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside Gradio

CORPUS = Path(__file__).parent / "data" / "bad_inputs.jsonl"
BRIEFBOT = Path(sys.executable).parent / "briefbot"
# Every instruction and worked example of the answer prompt: none may ever be shown to a user.
SYSTEM_PROMPT_LINES = [line.strip("- ") for line in read_prompt("answer_system").splitlines() if len(line) > 30]
# What a terminal would obey: C0 and C1 control characters other than newline and tab.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LEAK = re.compile(r"Traceback|File \"|\b[A-Za-z]+(Error|Exception)\b|NoneType|object has no attribute")
RESULTS: list[tuple[str, str, str]] = []


def _expand(value):
    if isinstance(value, list):
        return [_expand(item) for item in value]
    if isinstance(value, dict):
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
        if "$repeat" in value:
            return _expand(value["$repeat"]) * value["times"]
        if "$concat" in value:
            pieces = [_expand(piece) for piece in value["$concat"]]
            return pieces[0][:0].join(pieces)
        return {key: _expand(item) for key, item in value.items()}
    return value


def _load() -> list[dict]:
    cases = [_expand(json.loads(line)) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len({case["id"] for case in cases}) == len(cases), "case ids must be unique"
    return cases


CASES = _load()


def _params(cases: list[dict], scripted: bool = True) -> list:
    """One test per case; a known issue is a strict xfail, unless it needs the scripted reply and there is none."""
    params = []
    for case in cases:
        known = "known_issue" in case and (scripted or "model_reply" not in case)
        marks = [pytest.mark.xfail(strict=True, reason=case["known_issue"])] if known else []
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


def _text(value):
    """The question as a str-taking surface receives it: bytes as Python decodes argv and stdin."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _cli_bytes(value) -> bytes | None:
    """The question as a command line or a terminal carries it, or None if it has no byte form."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return None  # surrogates outside U+DC80–U+DCFF stand for no byte
    return None


def _fits_argv(case: dict) -> bool:
    line = _cli_bytes(case["question"])
    return line is not None and b"\0" not in line


def _fits_chat_line(case: dict) -> bool:
    """One line that `briefbot chat` reads as a question: a blank one ends the chat instead."""
    line = _cli_bytes(case["question"])
    return line is not None and bool(_text(line).strip()) and not re.search(rb"[\r\n]", line)


ASKED = [case for case in CASES if case["kind"] in ("question", "history")]
QUESTIONS = [case for case in CASES if case["kind"] == "question"]
ASK_ERRORS = [case for case in QUESTIONS if case["expect"] == "error" and _fits_argv(case)]
CHAT_LINES = [case for case in QUESTIONS if _fits_chat_line(case)]
FILES = [case for case in CASES if case["kind"] == "briefing_file"]
REJECTED_FILES = [case for case in FILES if case["expect"] == "error"]
ACCEPTED_FILES = [case for case in FILES if case["expect"] == "answer_or_refusal"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """MiniLM embeds a sentence or two at a time here; on a busy 2-core machine two OpenMP threads
    made each question 5-15x slower than one (the CLI processes get OMP_NUM_THREADS=1 likewise)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- checks and the result table -----------------------------------------------------------


def _record(case: dict, surface: str, outcome: str) -> None:
    RESULTS.append((case["id"], surface, outcome))


def _answer_outcome(refused: bool, citations: int) -> str:
    return f"refused ({citations} closest passages)" if refused else f"answered, {citations} citation{'s' * (citations != 1)}"


def _check_error(case: dict, surface: str, message: str) -> None:
    _record(case, surface, f"error: {message}")
    assert case["expect"] == "error", f"expected an answer or a refusal, got the error {message!r}"
    assert message.strip(), "an error needs a message"
    assert not LEAK.search(message), f"internals leak into {message!r}"
    for word in case.get("error_mentions", []):
        assert word.lower() in message.lower(), f"{message!r} does not mention {word!r}"
    assert not any(line in message for line in SYSTEM_PROMPT_LINES)


def _check_answer(case: dict, surface: str, answer: dict, texts: dict[str, str]) -> None:
    citations = answer["citations"]
    _record(case, surface, _answer_outcome(answer["refused"], len(citations)))
    assert case["expect"] == "answer_or_refusal", f"expected an error, got the answer {answer['text']!r}"
    assert answer["refused"] or citations, "an answer without citations"
    for c in citations:
        assert texts[c["chunk_id"].rsplit(":", 1)[0]][c["start"] : c["end"]] == c["quote"], c
        assert f"[{c['n']}]" in answer["text"]
    for line in SYSTEM_PROMPT_LINES:
        assert line not in answer["text"], "the system prompt was shown"
    for forbidden in case.get("must_not_contain", []):
        assert forbidden not in answer["text"]


def _script(llm, case: dict) -> None:
    if "model_reply" in case:
        llm.replies.append(case["model_reply"])


# --- Python API --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(ASKED))
def test_api(case, fake_bot, fake_llm):
    _script(fake_llm, case)
    try:
        answer = fake_bot.chat(_text(case["question"]), case.get("history"))
    except BriefBotError as exc:
        _check_error(case, "api", str(exc))
    else:
        _check_answer(case, "api", answer.to_dict(), fake_bot.texts)


# --- web ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def _json_encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ask_over_http(server_url: str, question, history) -> tuple[str, object]:
    """/ask through Gradio's HTTP API with an ASCII-escaped JSON body: ("answer", dict) or ("error", message)."""
    # \ud800 stays an escape, as any JSON client may send it; plain HTTP sends every argument (briefing: the default).
    body = json.dumps({"data": [question, history, None]})
    posted = httpx.post(f"{server_url}gradio_api/call/ask", content=body, headers={"content-type": "application/json"}, timeout=30)
    posted.raise_for_status()
    events = httpx.get(f"{server_url}gradio_api/call/ask/{posted.json()['event_id']}", timeout=60).text
    kind, data = re.search(r"event: (complete|error)\ndata: (.*)", events).groups()
    payload = json.loads(data)
    return ("answer", payload[0]) if kind == "complete" else ("error", payload["error"])


@pytest.mark.parametrize("case", _params(ASKED))
def test_web(case, client, server_url, fake_bot, fake_llm):
    _script(fake_llm, case)
    question, history = _text(case["question"]), case.get("history")
    if _json_encodable([question, history]):
        try:
            kind, result = "answer", client.predict(question, history, api_name="/ask")
        except AppError as exc:
            kind, result = "error", str(exc)
    else:
        kind, result = _ask_over_http(server_url, question, history)
    if kind == "error":
        _check_error(case, "web", result)
    else:
        _check_answer(case, "web", result, fake_bot.texts)


def test_web_refuses_a_huge_request_body_at_once(client, server_url):
    """Bodies over MAX_REQUEST_BYTES get a 413 and a message before Gradio parses or queues them."""
    huge = "x" * (MAX_REQUEST_BYTES + 1)
    posted = httpx.post(f"{server_url}gradio_api/call/ask", json={"data": [huge, []]}, timeout=30)
    assert posted.status_code == 413
    assert "larger than the server accepts" in posted.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"x" * 100_000

    streamed = httpx.post(f"{server_url}gradio_api/call/ask", content=chunks(), timeout=30)
    assert streamed.status_code == 413

    with pytest.raises(httpx.HTTPStatusError, match="413"):
        client.predict(huge, [], api_name="/ask")


def test_web_body_limit_leaves_room_for_the_largest_allowed_question(client):
    """The body limit stays above max_question_chars' ceiling, JSON-escaped, with a long conversation."""
    ceiling = next(rule.le for rule in Settings.model_fields["max_question_chars"].metadata if hasattr(rule, "le"))
    longest = "ж" * ceiling
    history = [{"role": "assistant", "content": "Kant. " * (MAX_HISTORY_MESSAGE_CHARS // 6)}] * 20
    assert len(json.dumps({"data": [longest, history]})) < MAX_REQUEST_BYTES
    with pytest.raises(AppError, match="limit is 2,000"):
        client.predict(longest, history, api_name="/ask")


# --- CLI: questions -------------------------------------------------------------------------------


def _cli_env(index_dir: Path) -> dict:
    # One OpenMP thread for MiniLM, as in-process (see one_torch_thread): the chat ran 2.5x faster with it.
    return {
        **os.environ, "HF_HUB_OFFLINE": "1", "BRIEFBOT_INDEX_DIR": str(index_dir), "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1",
    }


@pytest.mark.parametrize("case", _params(ASK_ERRORS))
def test_cli_ask_rejects_before_loading_models(case, index_dir):
    done = subprocess.run(
        [BRIEFBOT, "ask", "--backend", "fake", "--json", "--", _cli_bytes(case["question"])],
        capture_output=True, env=_cli_env(index_dir), timeout=60,
    )
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 1 and done.stdout == b""
    assert "loading the embedding model" not in stderr
    assert stderr.startswith("briefbot: ")
    _check_error(case, "cli ask", stderr.removeprefix("briefbot: ").strip())


_CITATION_LINE = re.compile(r"^  \[(\d+)\] .* \(chars (\d+)–(\d+)\): (.*)$")


@pytest.fixture(scope="module")
def chat_transcript(index_dir, fake_bot):
    """One `briefbot chat` over every single-line question, split into one reply per question."""
    stdin = b"".join(_cli_bytes(case["question"]) + b"\n" for case in CHAT_LINES)
    done = subprocess.run(
        [BRIEFBOT, "chat", "--backend", "fake"], input=stdin, capture_output=True, env=_cli_env(index_dir), timeout=300
    )
    stdout = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "backslashreplace")[-2000:]
    replies = stdout.split("you> ")[1:]
    assert len(replies) == len(CHAT_LINES) + 1 and replies[-1] == "\n", "chat stopped early"
    return dict(zip((case["id"] for case in CHAT_LINES), replies))


@pytest.mark.parametrize("case", _params(CHAT_LINES, scripted=False))
def test_cli_chat(case, chat_transcript, fake_bot):
    reply = chat_transcript[case["id"]].removeprefix("briefbot> ")
    assert not CONTROL.search(reply), "control characters reached the terminal"
    text, *rest = reply.rstrip("\n").split("\n")
    citations = [_CITATION_LINE.match(line) for line in rest if _CITATION_LINE.match(line)]
    if not text and not citations:
        _check_error(case, "cli chat", "\n".join(rest))
        return
    answer = {"text": text, "refused": text.startswith("The briefing does not answer"), "citations": []}
    briefing = fake_bot.briefing.text
    for match in citations:
        n, start, end, quote = int(match[1]), int(match[2]), int(match[3]), match[4]
        shown = " ".join(briefing[start:end].split())
        # Quotes are printed on one line, and over 300 characters cut to 297 and an ellipsis.
        assert quote == shown or (quote.endswith("…") and shown.startswith(quote[:-1]))
        answer["citations"].append({"n": n, "chunk_id": f"{fake_bot.briefing.doc_id}:x", "start": start, "end": end, "quote": briefing[start:end]})
    _check_answer(case, "cli chat", answer, fake_bot.texts)


# --- briefing files -----------------------------------------------------------------------------


def _write(case: dict, folder: Path) -> Path:
    spec = case["file"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / spec["name"]
    if spec.get("directory"):
        path.mkdir()
    elif "text" in spec:
        path.write_bytes(spec["text"].encode("utf-8"))
    elif "bytes" in spec:
        path.write_bytes(spec["bytes"])
    elif "path" in spec:
        shutil.copy(CORPUS.parent / spec["path"], path)
    return path


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def kept_index(index_dir, fake_bot, tmp_path_factory):
    """A copy of a built index, and its contents, which no rejected file may change."""
    copy = tmp_path_factory.mktemp("kept") / "index"
    shutil.copytree(index_dir, copy)
    return copy, _snapshot(copy)


@pytest.mark.parametrize("case", _params(REJECTED_FILES))
def test_api_index_rejects_the_file_and_keeps_the_index(case, kept_index, fake_bot, tmp_path):
    copy, before = kept_index
    path = _write(case, tmp_path)
    with pytest.raises(BriefingError) as caught:
        open_index(Settings(backend="fake", index_dir=copy), briefings=[path], embed_model=fake_bot.verifier.embed_model)
    _check_error(case, "api index", str(caught.value).replace(str(path), path.name))
    assert _snapshot(copy) == before


@pytest.mark.parametrize("case", _params(REJECTED_FILES))
def test_cli_index_rejects_the_file_and_keeps_the_index(case, kept_index, tmp_path):
    copy, before = kept_index
    path = _write(case, tmp_path)
    done = subprocess.run([BRIEFBOT, "index", path], capture_output=True, env=_cli_env(copy), timeout=60)
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 1 and done.stdout == b""
    assert "loading the embedding model" not in stderr and stderr.startswith("briefbot: ")
    _check_error(case, "cli index", stderr.removeprefix("briefbot: ").strip().replace(str(path), path.name))
    assert _snapshot(copy) == before


def _uploadable(case: dict) -> bool:
    """A browser or gradio_client sends files only: not a directory, not a file that is not there."""
    return not (case["file"].get("directory") or case["file"].get("missing"))


@pytest.mark.parametrize("case", _params([case for case in REJECTED_FILES if _uploadable(case)]))
def test_web_upload_rejects_the_file_and_keeps_the_library(case, client, index_dir, tmp_path):
    uploads = index_dir / "uploads"
    before = client.predict(api_name="/briefings"), _snapshot(uploads)
    path = _write(case, tmp_path)
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(path)), api_name="/upload_briefing")
    message = str(caught.value)
    # Named as uploaded; Gradio's own upload renames a few (Windows' reserved "nul" becomes "_nul").
    assert message.startswith("Not added: ") and path.stem in message.split(": ")[1]
    _check_error(case, "web upload", message.removeprefix("Not added: "))
    assert (client.predict(api_name="/briefings"), _snapshot(uploads)) == before


def _run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def added(fake_bot, tmp_path_factory):
    """The accepted files, indexed together by `briefbot index` (in-process, sharing the loaded MiniLM)."""
    folder = tmp_path_factory.mktemp("added")
    paths = {case["id"]: _write(case, folder / case["id"]) for case in ACCEPTED_FILES}
    index_dir = folder / "index"
    code, printed = _run_cli(["index", *map(str, paths.values()), "--index-dir", str(index_dir)])
    assert code == 0
    bot = BriefBot.from_settings(Settings(backend="fake", index_dir=index_dir, briefings=list(paths.values())))
    return SimpleNamespace(bot=bot, paths=paths, index_dir=index_dir, printed=printed)


@pytest.mark.parametrize("case", _params(ACCEPTED_FILES))
def test_cli_index_accepts_the_file(case, added):
    doc_id = doc_id_for(added.paths[case["id"]])
    assert doc_id in added.bot.index.briefings
    assert f"  {doc_id} [" in added.printed
    assert not CONTROL.search(added.printed), "control characters reached the terminal"
    _record(case, "cli index", f"indexed as {doc_id}")


@pytest.mark.parametrize("case", _params(ACCEPTED_FILES))
def test_api_answers_from_the_added_file(case, added):
    llm = added.bot.generator.llm
    _script(llm, case)
    try:
        answer = added.bot.chat(case["question"], [])
    except BriefBotError as exc:
        _check_error(case, "api", str(exc))
    else:
        _check_answer(case, "api", answer.to_dict(), added.bot.texts)
    finally:
        llm.replies.clear()  # a reply left unused (no generation) must not answer the next case


@pytest.mark.parametrize("case", _params(ACCEPTED_FILES, scripted=False))
def test_cli_ask_about_the_added_file_prints_no_control_characters(case, added):
    briefings = [flag for path in added.paths.values() for flag in ("--briefing", str(path))]
    code, printed = _run_cli(["ask", case["question"], *briefings, "--backend", "fake", "--index-dir", str(added.index_dir)])
    assert code == 0
    assert not CONTROL.search(printed), "control characters reached the terminal"
    assert not any(line in printed for line in SYSTEM_PROMPT_LINES)
    citations = sum(1 for line in printed.splitlines() if _CITATION_LINE.match(line))
    refused = printed.startswith("The briefing does not answer")
    _record(case, "cli ask", _answer_outcome(refused, citations))


# --- after the corpus -----------------------------------------------------------------------------


def test_server_still_answers_after_the_corpus(client, fake_bot):
    answer = client.predict("How many Tajik border guards are on patrol today?", [], api_name="/ask")
    assert not answer["refused"] and "16,000" in answer["text"]


def test_corpus_table(request):
    """Every case's outcome on every surface that ran, as a Markdown table (shown with -s): each case
    run in this session has its row (whether an outcome is the one expected, its own test says)."""
    ran = {item.callspec.params["case"]["id"] for item in request.session.items
           if item.module is request.module and "case" in getattr(getattr(item, "callspec", None), "params", {})}
    if not ran:
        pytest.skip("no corpus case ran in this session")
    recorded = {case_id for case_id, _, _ in RESULTS}
    assert ran - recorded == set(), "cases that ran without an outcome"
    cells: dict[str, dict[str, list[str]]] = {}
    for case_id, surface, outcome in RESULTS:
        column, _, command = surface.partition(" ")
        shown = outcome if len(outcome) <= 70 else outcome[:67] + "…"
        cells.setdefault(case_id, {}).setdefault(column, []).append(f"{command}: {shown}" if command else shown)
    print("\n| case | expected | API | web | CLI |\n|---|---|---|---|---|")
    for case in CASES:
        row = cells.get(case["id"], {})
        shown = [" · ".join(row.get(column, ["–"])).replace("|", "\\|").replace("\n", " ") for column in ("api", "web", "cli")]
        expected = case["expect"] + (" (known issue)" if "known_issue" in case else "")
        print(f"| {case['id']} | {expected} | {' | '.join(shown)} |")

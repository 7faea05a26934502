"""Many people on one server at once, through its real HTTP API (gradio_client).

Every request is answered and goes back to whoever asked; no conversation leaks into another; and
when more people wait for the model than its line holds, the excess is told "Queue is full" at once
instead of hanging, while the rest of the page keeps working. Run with -s to see the waits; `-m slow` also runs the sessions against the real model.
"""

import json
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import pytest
import httpx
from gradio_client import Client

from briefbot import BriefBot, Settings
from briefbot.backends import LLMBackend
from briefbot.backends.fake import FakeLLM
from briefbot.eval.dataset import DEFAULT_DATASET
from conftest import free_port

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

SESSIONS = 20
FOLLOW_UP = "When did that happen?"


def _first_questions(count: int) -> list[str]:
    rows = [json.loads(line) for line in DEFAULT_DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = list(dict.fromkeys(row["question"] for row in rows if row["turn"] == 0))
    assert len(questions) >= count
    return questions[:count]


def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: the value that q of the requests did not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _launch(app) -> str:
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    return app.local_url


@pytest.fixture(
    scope="module",
    params=["fake", pytest.param("local", marks=[pytest.mark.real, pytest.mark.slow])],
)
def served(request, index_dir):
    """(backend name, URL) of a live server: the shared fake-backend one, or one on the real model."""
    if request.param == "fake":
        yield "fake", request.getfixturevalue("server_url")
        return
    from briefbot.web import build_app

    app = build_app(BriefBot.from_settings(Settings(backend="local", index_dir=index_dir)))
    yield "local", _launch(app)
    app.close()


def _chat_session(url: str, first: str, start: threading.Barrier, timeout: float) -> list[dict]:
    """One person: a question, then a follow-up that only makes sense with their own history."""
    client = Client(url, verbose=False)
    start.wait()
    history, turns = [], []
    for question in (first, FOLLOW_UP):
        submitted = time.perf_counter()
        answer = client.submit(question, history, api_name="/ask").result(timeout=timeout)
        latency = time.perf_counter() - submitted
        # Waiting is what the server did not spend on this answer: the queue and the transport.
        turns.append({"question": question, "answer": answer, "latency": latency, "wait": latency - answer["timings"]["total"]})
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer["text"]}]
    return turns


def test_simultaneous_sessions_are_all_answered_and_kept_apart(served):
    backend, url = served
    firsts = _first_questions(SESSIONS)
    timeout = 60 if backend == "fake" else 2 * SESSIONS * 180
    start = threading.Barrier(SESSIONS)
    with ThreadPoolExecutor(SESSIONS) as pool:
        sessions = list(pool.map(lambda first: _chat_session(url, first, start, timeout), firsts))

    turns = [turn for session in sessions for turn in session]
    waits = [turn["wait"] for turn in turns]
    latencies = [turn["latency"] for turn in turns]
    print(
        f"\n{backend}: sessions {SESSIONS}, answered {len(turns)}/{2 * SESSIONS} requests, "
        f"wait p50 {_percentile(waits, 0.5):.2f} s, p95 {_percentile(waits, 0.95):.2f} s, max {max(waits):.2f} s; "
        f"request p95 {_percentile(latencies, 0.95):.2f} s"
    )

    assert len(turns) == 2 * SESSIONS
    for first, (opening, follow_up) in zip(firsts, sessions):
        assert opening["answer"]["text"] and follow_up["answer"]["text"]
        assert opening["answer"]["standalone_question"] == first  # this answer went back to its asker
        if backend == "fake":
            # The fake model echoes the earlier question it was given: only this session's may appear.
            assert follow_up["answer"]["standalone_question"].endswith(f" (about: {first})")


class HeldFakeLLM(FakeLLM):
    """The fake model, held: no completion is made until the test sets `release`, so whatever the
    server says before that it says while the model is busy."""

    release: Any = None  # a threading.Event

    def _reply(self, prompt: str) -> str:
        assert self.release.wait(timeout=120), "the test never released the model"
        return super()._reply(prompt)


QUEUE_SIZE = 3
FLOOD = 12
ADMITTED = QUEUE_SIZE + 1  # one question with the model, QUEUE_SIZE waiting


@pytest.fixture
def held_app(fake_bot, monkeypatch):
    """(the real app with a small model line, answering through a held model; its release)."""
    from briefbot import web

    # test_web pins the real size; the behaviour at the limit is the same with a small one.
    monkeypatch.setattr(web, "MAX_QUEUE_SIZE", QUEUE_SIZE)
    release = threading.Event()
    app = web.build_app(BriefBot.assemble(fake_bot.settings, fake_bot.index, LLMBackend("held-fake", HeldFakeLLM(release=release))))
    _launch(app)
    yield app, release
    release.set()  # nothing stays blocked in the server being closed
    app.close()


def _flood_request(url: str, number: int, start: threading.Barrier) -> dict:
    client = Client(url, verbose=False)
    start.wait()
    submitted = time.perf_counter()
    try:
        answer = client.submit(f"How many Tajik border guards are on patrol today? ({number})", [], api_name="/ask").result(timeout=120)
        return {"answered": True, "seconds": time.perf_counter() - submitted, "text": answer["text"]}
    except Exception as exc:  # what the caller sees, whatever gradio_client wraps it in
        return {"answered": False, "seconds": time.perf_counter() - submitted, "error": f"{type(exc).__name__}: {exc}"}


def _flood(url: str, pool: ThreadPoolExecutor) -> tuple[list[dict], list[Future]]:
    """FLOOD questions at once at a held model: (the refusals, the questions still waiting).

    The refusals are collected while the model cannot answer, so they came before any answer."""
    start = threading.Barrier(FLOOD)
    pending = {pool.submit(_flood_request, url, number, start) for number in range(FLOOD)}
    refused = []
    for future in as_completed(pending, timeout=60):  # only a failing test waits this long
        pending.remove(future)
        outcome = future.result()
        assert not outcome["answered"], "an answer came while the model was held"
        assert "queue is full" in outcome["error"].lower(), outcome["error"]
        refused.append(outcome)
        if len(refused) == FLOOD - ADMITTED:
            break
    assert len(pending) == ADMITTED and not any(future.done() for future in pending)
    return refused, list(pending)


def test_a_full_queue_says_busy_at_once_and_serves_the_rest(held_app):
    app, release = held_app
    with ThreadPoolExecutor(FLOOD) as pool:
        refused, waiting = _flood(app.local_url, pool)
        release.set()
        answered = [future.result(timeout=60) for future in waiting]

    print(
        f"\nflood of {FLOOD} on a queue of {QUEUE_SIZE}: answered {len(answered)}, refused {len(refused)}, "
        f"all refused before the first answer; slowest refusal {max(o['seconds'] for o in refused):.2f} s, "
        f"slowest answer {max(o['seconds'] for o in answered):.2f} s"
    )
    assert all(o["answered"] and "16,000" in o["text"] for o in answered), answered
    # Once the line drains, the server takes questions again.
    assert _flood_request(app.local_url, FLOOD, threading.Barrier(1))["answered"]


def _new_chat(app, session: str) -> dict:
    """What the browser sends when someone clicks "New chat" (the endpoint is private to gradio_client)
    and Gradio's last message about it. Its one input is the session's briefing choice, a State the
    server fills in for the null."""
    url = app.local_url
    new_chat = next(index for index, fn in app.fns.items() if fn.name == "new_chat")
    joined = httpx.post(
        f"{url}gradio_api/queue/join",
        json={"data": [None], "fn_index": new_chat, "session_hash": session, "event_data": None, "trigger_id": None},
    )
    assert joined.status_code == 200, joined.text
    event_id = joined.json()["event_id"]
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=30) as stream:
        for line in stream.iter_lines():
            message = json.loads(line.removeprefix("data: ")) if line.startswith("data: ") else {}
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                return message
    raise AssertionError("New chat never completed")


def test_a_full_model_queue_does_not_lock_the_rest_of_the_page(held_app):
    app, release = held_app
    with ThreadPoolExecutor(FLOOD) as pool:
        _, waiting = _flood(app.local_url, pool)
        # The model line is full and cannot move: New chat still runs, to the end.
        clicked = _new_chat(app, "full-queue-test")
        assert clicked["success"], clicked
        assert not any(future.done() for future in waiting)
        release.set()
        assert all(future.result(timeout=60)["answered"] for future in waiting)

"""Many people on one server at once, through its real HTTP API (gradio_client).

Every request is answered and goes back to whoever asked; no conversation leaks into another; and
when more people wait than the queue holds, the excess is told "queue full" at once instead of
hanging. Run with -s to see the waits; `-m slow` also runs the sessions against the real model.
"""

import copy
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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

    app = build_app(BriefBot(Settings(backend="local", index_dir=index_dir)))
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


class SlowFakeLLM(FakeLLM):
    """The fake model at the pace of a busy CPU: every completion takes `delay` seconds."""

    delay: float = 1.5

    def _reply(self, prompt: str) -> str:
        time.sleep(self.delay)
        return super()._reply(prompt)


QUEUE_SIZE = 3
FLOOD = 12


@pytest.fixture
def slow_app(fake_bot, monkeypatch):
    """The real app with a small queue, answering through a slow model (same index and verifier)."""
    from briefbot import web

    # test_web pins the real size; the behaviour at the limit is the same with a small one.
    monkeypatch.setattr(web, "MAX_QUEUE_SIZE", QUEUE_SIZE)
    bot = copy.copy(fake_bot)
    bot.backend = LLMBackend("slow-fake", SlowFakeLLM())
    app = web.build_app(bot)
    _launch(app)
    yield app
    app.close()


@pytest.fixture
def slow_server(slow_app) -> str:
    return slow_app.local_url


def _flood_request(url: str, number: int, start: threading.Barrier) -> dict:
    client = Client(url, verbose=False)
    start.wait()
    submitted = time.perf_counter()
    try:
        answer = client.submit(f"How many Tajik border guards are on patrol today? ({number})", [], api_name="/ask").result(timeout=60)
        finished = time.perf_counter()
        return {"answered": True, "seconds": finished - submitted, "finished": finished, "text": answer["text"]}
    except Exception as exc:  # what the caller sees, whatever gradio_client wraps it in
        finished = time.perf_counter()
        return {"answered": False, "seconds": finished - submitted, "finished": finished, "error": f"{type(exc).__name__}: {exc}"}


def test_a_full_queue_says_busy_at_once_and_serves_the_rest(slow_server):
    start = threading.Barrier(FLOOD)
    with ThreadPoolExecutor(FLOOD) as pool:
        outcomes = list(pool.map(lambda number: _flood_request(slow_server, number, start), range(FLOOD)))

    answered = [o for o in outcomes if o["answered"]]
    busy = [o for o in outcomes if not o["answered"]]
    print(
        f"\nflood of {FLOOD} on a queue of {QUEUE_SIZE}: answered {len(answered)}, busy {len(busy)}, "
        f"slowest busy reply {max((o['seconds'] for o in busy), default=0):.2f} s, "
        f"slowest answer {max((o['seconds'] for o in answered), default=0):.2f} s"
    )
    # One answer being generated, QUEUE_SIZE waiting, and at most one slot freed while the flood arrived.
    assert QUEUE_SIZE <= len(answered) <= QUEUE_SIZE + 2
    assert all("16,000" in o["text"] for o in answered)
    first_answer = min(o["finished"] for o in answered)
    for o in busy:
        assert "queue is full" in o["error"].lower()
        # Told before even the first answer was done: an order of events, so a slow machine cannot fail it.
        assert o["finished"] < first_answer
    # Once the queue drains, the server takes questions again.
    assert _flood_request(slow_server, FLOOD, threading.Barrier(1))["answered"]


def test_a_full_model_queue_does_not_lock_the_rest_of_the_page(slow_app):
    url = slow_app.local_url
    clients = [Client(url, verbose=False) for _ in range(QUEUE_SIZE + 1)]
    jobs = [client.submit("How many Tajik border guards are on patrol today?", [], api_name="/ask") for client in clients]
    deadline = time.monotonic() + 10
    while len(slow_app._queue) < QUEUE_SIZE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(slow_app._queue) == QUEUE_SIZE
    # What the browser sends when someone clicks "New chat" (the endpoint is private to gradio_client);
    # its one input is the session's briefing choice, a State the server fills in for the null.
    new_chat = next(index for index, fn in slow_app.fns.items() if fn.name == "new_chat")
    clicked = httpx.post(
        f"{url}gradio_api/queue/join",
        json={"data": [None], "fn_index": new_chat, "session_hash": "full-queue-test", "event_data": None, "trigger_id": None},
    )
    for job in jobs:
        job.result(timeout=60)
    assert clicked.status_code == 200, clicked.text

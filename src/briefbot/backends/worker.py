"""The answer generator in a child process, restarted when it dies.

A crash inside llama.cpp (a segfault, an illegal instruction) is no Python exception: in-process it
ends the whole web server, and every user sees a dead page. In a worker it ends one answer, which
gets a plain message; the server logs what was being answered and starts a new worker.

Protocol over a multiprocessing Pipe, one request at a time: the parent sends (op, args); the worker
answers ("delta", text)… then ("done", None), or ("error", message). During a stream the parent may
send ("stop", None) to end it early (the user started a new chat); the worker then sends ("done", None).
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import signal
import threading
import traceback
from contextlib import closing
from typing import Callable, Iterator

from briefbot.errors import BackendError, BriefBotError, ModelError
from briefbot.settings import Settings
from briefbot.span import Passage

log = logging.getLogger("briefbot")
# Loading the 1.5B model takes seconds; a worker silent for this long is stuck, not loading.
START_TIMEOUT_S = 600


def _serve(conn, settings_fields: dict, opening: Passage | None) -> None:
    from briefbot.backends import make_backend

    faulthandler.enable()  # a crash prints the Python stack of the worker to the server's stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then ends the worker
    try:
        backend = make_backend(Settings(**settings_fields), opening=opening)
    except BriefBotError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", backend.name))
    while True:
        try:
            op, args = conn.recv()
        except EOFError:
            return  # the server is gone
        if op == "stop":
            continue  # the stream it meant had already ended; its "done" is sent
        try:
            if op == "answer":
                with closing(backend.stream_answer(*args)) as deltas:
                    for delta in deltas:
                        conn.send(("delta", delta))
                        if conn.poll() and conn.recv()[0] == "stop":
                            break
            elif op == "condense":
                conn.send(("delta", backend.condense(*args)))
            elif op == "entail":
                conn.send(("delta", backend.entailment(*args)))
            elif op == "answers":
                conn.send(("delta", backend.answers(*args)))
            elif op == "synonym":
                conn.send(("delta", backend.synonym(*args)))
            conn.send(("done", None))
        except BriefBotError as exc:
            conn.send(("error", str(exc)))
        except Exception:
            traceback.print_exc()  # a bug: the details go to the server log, the user gets a plain message
            conn.send(("error", "the local model failed on this question (details are in the server log)"))


def _death(process) -> str:
    process.join(timeout=5)
    code = process.exitcode
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class WorkerBackend:
    """A Backend whose model runs in a child process (see the module docstring)."""

    def __init__(self, settings: Settings, opening: Passage | None = None, progress: Callable[[str], None] = lambda m: None):
        self._settings_fields = settings.model_dump()
        self._opening = opening
        self._progress = progress
        self._lock = threading.Lock()  # one request at a time on the one pipe
        self._process = None
        self._conn = None
        self.name = self._start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> str:
        # spawn, not fork: the server has threads (Gradio, tokenizers) that a fork would copy mid-state.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, self._settings_fields, self._opening), daemon=True,
                                  name="briefbot-model")
        self._progress("starting the model worker…")
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            process.kill()
            raise ModelError(f"the model worker did not start within {START_TIMEOUT_S} s")
        try:
            kind, value = parent.recv()
        except EOFError:
            raise ModelError(f"the model worker {_death(process)} while loading the model (details are in the server log)") from None
        if kind == "error":
            process.join(timeout=5)
            raise ModelError(value)
        self._process, self._conn = process, parent
        return value

    def _ensure_running(self) -> None:
        # An idle worker sends nothing: anything to read (the EOF of its closed end) means it is gone.
        process = self._process
        if process is not None and process.is_alive() and not self._conn.poll():
            return
        if process is not None:
            if process.is_alive():
                process.kill()  # out of step with its pipe: not to be trusted with the next answer
            log.error("the model worker (pid %s) %s while idle; starting a new one", process.pid, _death(process))
        self._start()

    def _request(self, op: str, args: tuple, about: str) -> Iterator[str]:
        with self._lock:
            self._ensure_running()
            process, conn = self._process, self._conn
            finished = False
            try:
                conn.send((op, args))
                while True:
                    kind, value = conn.recv()
                    if kind == "delta":
                        yield value
                    elif kind == "error":
                        finished = True
                        raise BackendError(value)
                    else:
                        finished = True
                        return
            except (EOFError, OSError):
                finished = True
                how = _death(process)
                log.error("the model worker (pid %s) %s while %s; a new one starts with the next question", process.pid, how, about)
                self._process = None
                raise BackendError(
                    "the local model crashed while answering and is being restarted: please ask again (details are in the server log)"
                ) from None
            finally:
                if not finished:  # the caller stopped reading (a new chat): end the stream, keep the worker
                    self._stop_stream(conn)

    @staticmethod
    def _stop_stream(conn) -> None:
        try:
            conn.send(("stop", None))
            while conn.recv()[0] == "delta":
                pass
        except (EOFError, OSError):
            pass  # it died meanwhile; the next request notices and restarts it

    def stream_answer(self, question: str, passages: list[Passage]) -> Iterator[str]:
        yield from self._request("answer", (question, passages), f"answering {question!r}")

    def condense(self, history: list[dict], question: str) -> str:
        return "".join(self._request("condense", (history, question), f"condensing the follow-up {question!r}"))

    def entailment(self, claim: str, passage: str) -> float | None:
        (margin,) = self._request("entail", (claim, passage), f"checking the claim {claim!r}")
        return margin

    def answers(self, question: str, passage: str) -> float | None:
        (margin,) = self._request("answers", (question, passage), f"checking that a passage answers {question!r}")
        return margin

    def synonym(self, question: str, passage: str, word: str, replacement: str) -> float | None:
        (margin,) = self._request("synonym", (question, passage, word, replacement), f"checking that {word!r} means {replacement!r}")
        return margin

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                self._conn.close()
                self._process.join(timeout=5)
                if self._process.is_alive():
                    self._process.kill()
                self._process = None

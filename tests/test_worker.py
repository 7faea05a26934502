"""The model in a worker process: a crash there costs one answer, never the server."""

import logging
import os
import signal
import select

import pytest

from briefbot import BriefBot, Settings
from briefbot.backends import make_backend
from briefbot.backends.worker import WorkerBackend
from briefbot.errors import BackendError, ModelError
from briefbot.span import Passage

PASSAGE = Passage(n=2, chunk_id="c", doc_id="d", section="Body", start=0, end=43,
                  text="The border guards number 16,000 in total.", score=1.0)
QUESTION = "How many border guards are there?"


class CrashesTheWorker:
    """Unpickled in the worker, it kills it with SIGSEGV, as a crash inside llama.cpp would."""

    def __reduce__(self):
        return (signal.raise_signal, (signal.SIGSEGV,))


@pytest.fixture
def worker(tmp_path):
    backend = WorkerBackend(Settings(backend="fake", index_dir=tmp_path, cache_dir=tmp_path))
    yield backend
    backend.close()


def wait_until_dead(pid: int) -> None:
    """Until the kernel has ended the whole process (all its threads, so its pipe is closed): a pidfd
    becomes readable then, without reaping the child from under multiprocessing."""
    pidfd = os.pidfd_open(pid)
    try:
        assert select.select([pidfd], [], [], 60)[0], f"process {pid} did not end"
    finally:
        os.close(pidfd)


def in_process_answer() -> str:
    return "".join(make_backend(Settings(backend="fake")).stream_answer(QUESTION, [PASSAGE]))


def test_the_worker_answers_as_the_backend_in_process_does(worker):
    assert worker.name == "fake"
    assert worker.pid != os.getpid()
    assert "".join(worker.stream_answer(QUESTION, [PASSAGE])) == in_process_answer()
    assert worker.condense([{"role": "user", "content": "Who guards the border?"}], "How many are there?")


def test_a_crash_while_answering_is_a_plain_error_and_the_next_question_is_answered(worker, caplog):
    crashed = worker.pid
    with caplog.at_level(logging.ERROR, logger="briefbot"), pytest.raises(BackendError, match="crashed while answering"):
        list(worker.stream_answer("What crashes the model?", [PASSAGE, CrashesTheWorker()]))
    assert f"pid {crashed}" in caplog.text and "SIGSEGV" in caplog.text
    assert "What crashes the model?" in caplog.text  # the log says what was running
    assert "".join(worker.stream_answer(QUESTION, [PASSAGE])) == in_process_answer()
    assert worker.pid != crashed


def test_a_worker_killed_while_idle_is_restarted_for_the_next_question(worker):
    killed = worker.pid
    os.kill(killed, signal.SIGKILL)
    wait_until_dead(killed)
    assert "".join(worker.stream_answer(QUESTION, [PASSAGE])) == in_process_answer()
    assert worker.pid != killed


def test_a_stream_stopped_early_leaves_the_worker_in_step(worker):
    stream = worker.stream_answer(QUESTION, [PASSAGE])
    assert next(stream)
    stream.close()  # the user started a new chat mid-answer
    # Nothing of the stopped stream may leak into the next answers.
    assert "".join(worker.stream_answer(QUESTION, [PASSAGE])) == in_process_answer()
    assert worker.condense([], "Who guards the border?")


def test_a_worker_that_cannot_load_its_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        WorkerBackend(Settings(backend="local", model_path=tmp_path / "missing.gguf", cache_dir=tmp_path))


def test_the_bot_runs_its_isolated_backend_through_the_pipeline(index_dir):
    bot = BriefBot.from_settings(Settings(backend="fake", index_dir=index_dir), isolated_backend=True)
    answer = bot.ask("How many Tajik border guards are on patrol today?")
    assert isinstance(bot.generator, WorkerBackend)
    assert not answer.refused and "16,000" in answer.text
    for citation in answer.citations:
        assert bot.briefing.text[citation.start : citation.end] == citation.quote
    bot.generator.close()


def test_the_web_chat_keeps_answering_after_its_model_worker_dies(index_dir):
    """What `briefbot serve` runs: the app on an isolated bot; the worker is killed between two questions."""
    from gradio_client import Client

    from briefbot.web import build_app
    from conftest import free_port

    bot = BriefBot.from_settings(Settings(backend="fake", index_dir=index_dir), isolated_backend=True)
    app = build_app(bot)
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        client = Client(app.local_url, verbose=False)
        question = "How many Tajik border guards are on patrol today?"
        first = client.predict(question, [], api_name="/ask")
        killed = bot.generator.pid
        os.kill(killed, signal.SIGKILL)
        wait_until_dead(killed)
        second = client.predict(question, [], api_name="/ask")
        assert second["text"] == first["text"] and "16,000" in second["text"]
        assert bot.generator.pid != killed
    finally:
        app.close()
        bot.generator.close()

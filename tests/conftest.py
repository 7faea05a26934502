import socket

import pytest

from briefbot import BriefBot, Settings
from briefbot.settings import DEFAULT_BRIEFING


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def fake_bot(index_dir):
    """The whole pipeline (real Chroma on disk, real MiniLM) with the deterministic fake LLM."""
    return BriefBot.from_settings(Settings(backend="fake", index_dir=index_dir))


@pytest.fixture
def fake_llm(fake_bot):
    llm = fake_bot.generator.llm
    yield llm
    llm.replies.clear()
    llm.condensations.clear()
    llm.margins.clear()


@pytest.fixture(scope="session")
def briefing_text():
    from briefbot.briefing import load_briefing

    return load_briefing(DEFAULT_BRIEFING).text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(fake_bot):
    """The real web app on a free localhost port, one per test module."""
    from briefbot.web import build_app

    app = build_app(fake_bot)
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield app.local_url
    app.close()

import pytest

from briefbot import BriefBot, Settings
from briefbot.settings import DEFAULT_BRIEFING


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def fake_bot(index_dir):
    """The whole pipeline (real Chroma on disk, real MiniLM) with the deterministic fake LLM."""
    return BriefBot(Settings(backend="fake", index_dir=index_dir))


@pytest.fixture
def fake_llm(fake_bot):
    llm = fake_bot.backend.llm
    yield llm
    llm.replies.clear()


@pytest.fixture(scope="session")
def briefing_text():
    from briefbot.briefing import load_briefing

    return load_briefing(DEFAULT_BRIEFING).text

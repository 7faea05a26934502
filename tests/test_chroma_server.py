"""Scale-out by configuration (issue #5): the same pipeline against a real Chroma server process."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from briefbot import BriefBot, Settings
from briefbot.errors import IndexBuildError
from briefbot.index import chroma_client, open_index
from conftest import free_port

VENV_BIN = Path(sys.executable).parent
STARTUP_SECONDS = 20
CLI_SECONDS = 90


def _server_output(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no output)"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A `chroma run` server on a free localhost port; its URL. Stopped at teardown even when a test fails."""
    chroma = VENV_BIN / "chroma"
    if not chroma.exists():
        pytest.fail(f"{chroma} is missing: the chromadb package should install the `chroma` CLI")
    root = tmp_path_factory.mktemp("chroma-server")
    log = root / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A log file, not a pipe: nobody reads a pipe while the tests run, and a full pipe blocks the server.
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(root / "data"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited with code {proc.returncode} before answering:\n{_server_output(log)}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run gave no heartbeat on {url} within {STARTUP_SECONDS} s:\n{_server_output(log)}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _inspect(url: str):
    """A client of our own, to look at what is on the server independently of briefbot's objects."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parsed = urlparse(url)
    # The same settings as briefbot's client: Chroma refuses a second client of one server with different ones.
    return chromadb.HttpClient(host=parsed.hostname, port=parsed.port, settings=ChromaSettings(anonymized_telemetry=False))


def _assert_exact_citations(answer: dict, texts: dict[str, str]) -> None:
    assert answer["citations"], answer
    for c in answer["citations"]:
        doc_id = c["chunk_id"].rsplit(":", 1)[0]
        assert texts[doc_id][c["start"] : c["end"]] == c["quote"], c


@pytest.fixture(scope="module")
def server_bot(chroma_server, tmp_path_factory):
    settings = Settings(backend="fake", chroma_url=chroma_server, index_dir=tmp_path_factory.mktemp("server-index"))
    messages = []
    bot = BriefBot.from_settings(settings, progress=messages.append)
    assert any("building" in m for m in messages), messages
    return bot


def test_index_lives_on_the_server_and_a_second_bot_reuses_it(server_bot, chroma_server):
    settings, manifest = server_bot.settings, server_bot.index.manifest
    assert manifest["chroma"] == chroma_server
    client = _inspect(chroma_server)
    try:
        assert [c.name for c in client.list_collections()] == [manifest["collection"]]
        assert client.get_collection(manifest["collection"]).count() == manifest["chunks"] == len(server_bot.index.nodes)
        # With a server configured nothing may be written to an embedded store as well.
        assert not list(Path(settings.index_dir).rglob("chroma.sqlite3"))

        messages = []
        again = BriefBot.from_settings(settings, progress=messages.append)
        assert not any("building" in m for m in messages), messages
        assert again.index.manifest == manifest
        assert [c.name for c in client.list_collections()] == [manifest["collection"]]
        assert client.get_collection(manifest["collection"]).count() == manifest["chunks"]
    finally:
        client.close()


def test_chroma_client_has_telemetry_off(server_bot):
    # The client behind the opened index (chromadb keeps it on the collection, privately), and the factory's.
    assert server_bot.index.vector_store.client._client.get_settings().anonymized_telemetry is False
    assert chroma_client(server_bot.settings, Path(server_bot.settings.index_dir)).get_settings().anonymized_telemetry is False


def test_answer_through_the_server_cites_exact_spans(server_bot):
    answer = server_bot.ask("How many Tajik border guards are on patrol today?")
    assert not answer.refused and "16,000" in answer.text, answer
    _assert_exact_citations(answer.to_dict(), server_bot.texts)


def _cli(*args: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [str(VENV_BIN / "briefbot"), *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"briefbot {' '.join(args)} still running after {timeout} s:\n{exc.stderr!r}")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return env | extra


def test_cli_is_a_second_worker_on_the_same_server(chroma_server, tmp_path, fake_bot, server_bot):
    """Another process with its own index_dir, as a second machine would be: same answers, one shared collection."""
    question = "When was the briefing published?"
    env = _env(BRIEFBOT_CHROMA_URL=chroma_server, BRIEFBOT_INDEX_DIR=str(tmp_path / "index"))
    result = _cli("ask", question, "--backend", "fake", "--json", env=env, timeout=CLI_SECONDS)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    _assert_exact_citations(answer, fake_bot.texts)
    # fake_bot uses the embedded store: the server must change where vectors live, not what is answered.
    embedded = fake_bot.ask(question).to_dict()
    for key in ("text", "refused", "citations", "standalone_question"):
        assert answer[key] == embedded[key], key

    (manifest_path,) = (tmp_path / "index").glob("sets/*/live/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["chroma"] == chroma_server
    assert manifest["collection"] == server_bot.index.manifest["collection"]
    client = _inspect(chroma_server)
    try:
        assert [c.name for c in client.list_collections()] == [manifest["collection"]]
        assert client.get_collection(manifest["collection"]).count() == manifest["chunks"]
    finally:
        client.close()
    # The first worker's collection must not have been replaced under it.
    assert not server_bot.ask("How many Tajik border guards are on patrol today?").refused


def test_unreachable_chroma_server_is_a_clear_error(tmp_path, fake_bot):
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(IndexBuildError, match="Chroma server"):
        open_index(
            Settings(backend="fake", chroma_url=closed, index_dir=tmp_path / "api"), embed_model=fake_bot.verifier.embed_model
        )
    assert not list((tmp_path / "api").glob(".staging-*")), "a failed build must not leave its staging directory"

    env = _env(BRIEFBOT_CHROMA_URL=closed, BRIEFBOT_INDEX_DIR=str(tmp_path / "cli"))
    result = _cli("ask", "When was the briefing published?", "--backend", "fake", "--json", env=env, timeout=CLI_SECONDS)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"briefbot: cannot reach the Chroma server at {closed}" in result.stderr

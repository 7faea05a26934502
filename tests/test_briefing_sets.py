"""Choosing the briefing: a file given means that briefing alone, through every way of giving it."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from briefbot import BriefBot, Settings
from briefbot.cli import build_parser, main, settings_from

NOTE = (
    "# Harbour report\n\n3 May 2024\n\nThe harbour master counted 212 fishing boats in April.\n\n"
    "## Repairs\n\nThe northern pier was closed for repairs after the March storm.\n"
)
MEMO = "# Budget memo\n\n4 May 2024\n\nThe council set aside 40,000 euros for new lighting.\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("briefings")
    (folder / "harbour.md").write_text(NOTE, encoding="utf-8")
    (folder / "memo.md").write_text(MEMO, encoding="utf-8")
    return folder / "harbour.md", folder / "memo.md"


@pytest.fixture(scope="module")
def harbour_bot(files, fake_bot, tmp_path_factory):
    """A bot on the harbour note alone, sharing fake_bot's models: on_briefings is the web chat's switch."""
    return fake_bot.on_briefings([files[0]])


def test_a_bot_on_files_answers_from_them_alone(harbour_bot, files, fake_bot):
    assert [b.doc_id for b in harbour_bot.briefings] == ["harbour"]
    assert {n.metadata["doc_id"] for n in harbour_bot.index.nodes} == {"harbour"}
    answer = harbour_bot.ask("How many fishing boats did the harbour master count?")
    assert not answer.refused and "212" in answer.text
    assert {c.doc_id for c in answer.citations} == {"harbour"}
    assert all(harbour_bot.briefing.text[c.start : c.end] == c.quote for c in answer.citations)
    # The default briefing's bot is untouched by the switch, and the models are shared, not reloaded.
    assert [b.doc_id for b in fake_bot.briefings] == ["russia-taliban-2017-04-25"]
    assert harbour_bot.generator is fake_bot.generator
    assert harbour_bot.index.embed_model is fake_bot.index.embed_model


def test_a_question_about_another_briefing_is_refused_not_answered_from_it(harbour_bot):
    answer = harbour_bot.ask("How many Tajik border guards are on patrol today?")
    assert answer.refused
    assert all(c.doc_id == "harbour" for c in answer.citations)


def test_asking_across_two_briefings_cites_each_from_its_own_text(files, fake_bot):
    both = fake_bot.on_briefings(files)
    assert [b.doc_id for b in both.briefings] == ["harbour", "memo"]
    answer = both.ask("How much did the council set aside for new lighting?")
    assert not answer.refused and {c.doc_id for c in answer.citations} == {"memo"}
    texts = {b.doc_id: b.text for b in both.briefings}
    assert all(texts[c.doc_id][c.start : c.end] == c.quote for c in answer.citations)


def test_env_var_api_and_cli_flags_name_the_same_setting(files, monkeypatch):
    harbour, memo = files
    monkeypatch.setenv("BRIEFBOT_BRIEFINGS", f"{harbour}:{memo}")
    assert Settings().briefings == [harbour, memo]
    monkeypatch.delenv("BRIEFBOT_BRIEFINGS")
    assert Settings(briefings=[str(memo)]).briefings == [memo]
    parser = build_parser()
    assert settings_from(parser.parse_args(["ask", "--briefing", str(harbour), "--briefing", str(memo), "Q?"])).briefings == [harbour, memo]
    for command in ("serve", "chat", "index"):
        assert settings_from(parser.parse_args([command, str(harbour)])).briefings == [harbour]
    assert settings_from(parser.parse_args(["serve"])).briefings == []


def test_from_files_opens_exactly_those_files(files, fake_bot, tmp_path):
    bot = BriefBot.from_files([files[1]], Settings(backend="fake", index_dir=tmp_path))
    assert [b.doc_id for b in bot.briefings] == ["memo"]
    assert bot.settings.briefings == [files[1]]


def test_cli_ask_with_a_briefing_answers_from_it(files, fake_bot, index_dir):
    out = io.StringIO()
    argv = ["ask", "--briefing", str(files[0]), "--backend", "fake", "--index-dir", str(index_dir), "--json",
            "When was the northern pier closed?"]
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    answer = json.loads(out.getvalue())
    assert not answer["refused"] and "storm" in answer["text"]
    assert {c["doc_id"] for c in answer["citations"]} == {"harbour"}

"""The web surface through its real HTTP API (gradio_client), its handlers without a server, its
renderers and serve() guards."""

import asyncio
import dataclasses
import html
import re
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from briefbot import BriefBot, Settings
from briefbot.briefing import Page, parse_briefing
from briefbot.cli import main
from briefbot.library import ALL, example_questions
from briefbot.web import (
    MAX_REQUEST_BYTES, ServeError, WebChat, _progress_messages, build_app, render_answer, render_briefing, render_header, serve,
    upload_allowed,
)
from conftest import free_port

DOCS = Path(__file__).parent / "data" / "docs"

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside Gradio


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def test_the_public_endpoints_are_ask_briefings_and_upload(client):
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == {"/ask", "/briefings", "/upload_briefing"}


def test_ask_returns_the_answer_with_exact_citations(client, fake_bot):
    answer = client.predict("How many Tajik border guards are on patrol today?", [], api_name="/ask")
    assert not answer["refused"]
    assert "16,000" in answer["text"]
    assert answer["citations"]
    for citation in answer["citations"]:
        briefing = fake_bot.index.briefings[citation["doc_id"]]
        assert briefing.text[citation["start"] : citation["end"]] == citation["quote"]
        assert f"[{citation['n']}]" in answer["text"]


def test_out_of_briefing_question_is_refused_with_closest_passages(client, fake_bot, fake_llm):
    fake_llm.replies.append("NOT IN BRIEFING")  # what a real model answers; the fake one is too eager
    answer = client.predict("What is the capital of France?", [], api_name="/ask")
    assert answer["refused"]
    assert "does not answer" in answer["text"]
    assert 1 <= len(answer["citations"]) <= 3
    for citation in answer["citations"]:
        assert fake_bot.briefing.text[citation["start"] : citation["end"]] == citation["quote"]


def test_follow_up_with_history_reports_the_standalone_question(client):
    history = [
        {"role": "user", "content": "Where is the Russian air base in Kyrgyzstan?"},
        {"role": "assistant", "content": "It is in Kant, near Bishkek [1]."},
    ]
    answer = client.predict("When was it set up?", history, api_name="/ask")
    assert answer["standalone_question"] != "When was it set up?"
    assert "Kyrgyzstan" in answer["standalone_question"]


@pytest.mark.parametrize("question, expected", [("", "empty"), ("x" * 2001, "limit is 2,000")])
def test_bad_question_gives_a_clear_error_not_a_traceback(client, question, expected):
    with pytest.raises(AppError) as caught:
        client.predict(question, [], api_name="/ask")
    message = str(caught.value)
    assert expected in message
    assert "Traceback" not in message and "File " not in message


def test_briefing_panel_escapes_text_and_marks_exactly_the_span():
    raw = "25 April 2017\n\nA <b>Bold</b> Title\n\nLede & more.\n\nIntro <script>alert(1)</script> {{value}} ${x} `y`.\nNext line."
    briefing = parse_briefing(raw, "doc")
    start = briefing.text.index("<script>")
    end = briefing.text.index("Next line.") + len("Next line.")
    citation = {"n": 2, "chunk_id": "doc:000", "section": "A <b>Bold</b> Title", "start": start, "end": end,
                "quote": briefing.text[start:end]}

    page = render_briefing(briefing, citation)

    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{" not in page and "${" not in page and "`" not in page  # nothing for gr.HTML's templating
    marks = re.findall(r"<mark ([^>]*)>(.*?)</mark>", page, re.DOTALL)
    assert len(marks) == 1
    attributes, inner = marks[0]
    assert f'data-start="{start}"' in attributes and f'data-end="{end}"' in attributes and 'data-n="2"' in attributes
    assert html.unescape(re.sub(r"<[^>]+>", "", inner)) == citation["quote"]
    # Without a citation the whole text is there, unmarked.
    plain = render_briefing(briefing)
    assert "<mark" not in plain
    assert html.unescape(re.sub(r"<[^>]+>", "", plain)).endswith(briefing.text)


def test_chat_message_escapes_engine_text_and_badges_refusals():
    answer = {
        "text": "The briefing does not answer this question. Closest passages: [1] <img src=x onerror=alert(1)>.",
        "refused": True,
        "citations": [{"n": 1, "chunk_id": "d:0", "section": "*Intro*", "start": 0, "end": 5, "quote": "hello"}],
        "standalone_question": "What is it? (about: Kant)",
        "timings": {},
    }
    message = render_answer(answer, "What is it?")
    assert 'class="badge-refused">Not in the briefing' in message
    assert re.search(r"(?<!\\)<img", message) is None and "\\<img" in message
    assert "\\*Intro\\*" in message
    assert "Searched the briefing for" in message
    answer.update(refused=False, standalone_question="What is it?")
    assert "badge-refused" not in render_answer(answer, "What is it?")
    assert "Searched the briefing for" not in render_answer(answer, "What is it?")


def test_serve_refuses_a_public_interface_without_auth(monkeypatch, tmp_path):
    monkeypatch.delenv("BRIEFBOT_AUTH", raising=False)
    with pytest.raises(ServeError, match="BRIEFBOT_AUTH=user:password"):
        serve(Settings(backend="fake", index_dir=tmp_path), host="0.0.0.0", port=free_port())


def test_cli_serve_reports_the_refusal_and_exits_nonzero(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("BRIEFBOT_AUTH", raising=False)
    code = main(["serve", "--host", "0.0.0.0", "--backend", "fake", "--index-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "--insecure-no-auth" in err
    assert "Traceback" not in err


def test_malformed_auth_setting_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("BRIEFBOT_AUTH", "just-a-user")
    with pytest.raises(ServeError, match="user:password"):
        serve(Settings(backend="fake", index_dir=tmp_path), host="0.0.0.0", port=free_port())


def test_the_app_never_creates_share_links(fake_bot):
    with pytest.raises(ServeError, match="share"):
        build_app(fake_bot).launch(share=True, prevent_thread_lock=True)


def test_model_work_waits_in_the_model_line_and_nothing_else_waits_for_it(fake_bot):
    from briefbot.web import UPLOAD_QUEUE

    app = build_app(fake_bot)
    fns = {fn.name: fn for fn in app.fns.values() if fn.fn is not None}
    # The model steps start at once and wait in briefbot's model line (ModelLine: tests below).
    assert fns["stream_answer"].concurrency_limit is None and fns["ask"].concurrency_limit is None
    # Uploads read and index one file at a time, in a queue of their own.
    upload_steps = {name: fn for name, fn in fns.items() if fn.concurrency_id == UPLOAD_QUEUE}
    assert {"upload", "upload_briefing"} == set(upload_steps)
    assert all(fn.concurrency_limit == 1 for fn in upload_steps.values())
    # Everything else (showing the question, citations, new chat, switching) never waits behind either.
    others = [fn for fn in fns.values() if fn.concurrency_id != UPLOAD_QUEUE]
    assert others and all(fn.concurrency_limit is None for fn in others)


def _take_places(line, count: int, served: list, release: asyncio.Event) -> list:
    """`count` questions taking their places in `line` one after another; each records how many
    it saw ahead of it, joins `served` when its turn comes and keeps the model until `release`."""

    async def question(number: int, placed: asyncio.Event) -> list[int]:
        async with line.place() as ticket:
            placed.set()
            seen = [ahead async for ahead in line.ahead(ticket)]
            served.append(number)
            await release.wait()
            return seen

    async def arrive() -> list:
        tasks = []
        for number in range(count):
            placed = asyncio.Event()
            tasks.append(asyncio.create_task(question(number, placed)))
            await placed.wait()  # in this order, and only then the next
        return tasks

    return arrive()


def test_the_model_line_serves_in_order_of_arrival_and_refuses_beyond_its_size():
    from briefbot.web import ModelLine

    async def scenario():
        line, served, release = ModelLine(2), [], asyncio.Event()
        tasks = await _take_places(line, 3, served, release)
        with pytest.raises(gr.Error) as refused:
            async with line.place():
                pass
        assert refused.value.message.startswith("Queue is full: 2 questions are waiting")
        assert served == [0]  # the others wait while the first one has the model
        release.set()
        seen = await asyncio.gather(*tasks)
        assert served == [0, 1, 2]
        # Each was told its place on arrival (the last one may see the line move twice at once).
        assert seen[0] == [] and seen[1] == [1] and seen[2][0] == 2 and seen[2] == sorted(set(seen[2]), reverse=True)
        async with line.place():  # drained: the line takes questions again
            pass

    asyncio.run(scenario())


def test_a_question_cancelled_while_waiting_gives_up_its_place():
    from briefbot.web import ModelLine

    async def scenario():
        line, served, release = ModelLine(1), [], asyncio.Event()
        first, waiting = await _take_places(line, 2, served, release)
        waiting.cancel()  # New chat while the question waits
        with pytest.raises(asyncio.CancelledError):
            await waiting

        async def latecomer():
            async with line.turn():  # room in the line (else gr.Error), the model after the first
                served.append("latecomer")

        late = asyncio.create_task(latecomer())
        release.set()
        await asyncio.gather(first, late)
        assert served == [0, "latecomer"]

    asyncio.run(scenario())


# --- handlers, without a server --------------------------------------------------------------

NOTE = (
    "# Border note\n\n3 May 2024\n\nPatrols along the Panj river rose by 40 percent in March.\n\n"
    "## Khorog crossing\n\nThe Khorog crossing was closed for three days after the landslide.\n\n"
    "## Wakhan corridor\n\nTraders in the Wakhan corridor reported new checkpoints.\n"
)


def _own_bot(fake_bot, index_dir):
    """The shared fake bot (models, start-up index) with uploads and their indexes in `index_dir`."""
    settings = fake_bot.settings.model_copy(update={"index_dir": index_dir})
    return BriefBot(settings, fake_bot.index, fake_bot.retriever, fake_bot.generator, fake_bot.verifier, fake_bot.policy)


@pytest.fixture
def web(fake_bot, tmp_path):
    return WebChat(_own_bot(fake_bot, tmp_path / "index"))


def _note(folder, name="border-note.md", text=NOTE):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def _doc_ids(answer: dict) -> set[str]:
    return {c["doc_id"] for c in answer["citations"]}


def test_the_default_view_offers_questions_from_its_own_headings(web, fake_bot):
    view = web.view(web.default_choice)
    assert view.examples == example_questions(fake_bot.briefing)
    assert view.examples[0] == "What does the briefing say about the Turkmen Connection?"
    assert fake_bot.briefing.title in view.header and not view.removable
    assert [value for _, value in view.choices] == [fake_bot.briefing.doc_id]  # no "All" with one briefing


def test_an_upload_switches_its_session_to_the_new_briefing_and_its_questions(web, tmp_path, fake_bot):
    view = web.upload(_note(tmp_path / "in"), web.default_choice)

    entry = web.library.entries()[1]
    assert view.choice == entry.doc_id and view.new_chat and view.removable and not view.warning
    assert view.status == "Added “Border note” (MD, from border-note.md)."
    assert view.examples == ["What does the briefing say about Khorog crossing?", "What does the briefing say about Wakhan corridor?"]
    assert "Border note" in view.header and f'data-doc="{entry.doc_id}"' in view.panel
    assert [value for _, value in view.choices] == [fake_bot.briefing.doc_id, entry.doc_id, ALL]


def test_an_upload_reports_its_reading_and_indexing_as_it_goes(web, tmp_path):
    messages = []
    web.upload(_note(tmp_path / "in"), web.default_choice, messages.append)
    assert messages[0] == "reading border-note.md…"
    assert any(message.startswith("building the index of 1 briefing") for message in messages[1:])
    assert messages[-1].startswith("index built:")


def test_progress_messages_fill_the_bar_without_reaching_its_end():
    shown = []
    report = _progress_messages(lambda done, desc: shown.append((done, desc)))
    for message in ("reading a.pdf…", "building the index…", "index built"):
        report(message)
    assert [desc for _, desc in shown] == ["reading a.pdf…", "building the index…", "index built"]
    assert [done for done, _ in shown] == sorted(done for done, _ in shown) and shown[-1][0] < 1


def test_a_bad_upload_warns_and_keeps_the_briefing_and_the_chat(web, tmp_path):
    bad = tmp_path / "in" / "scan.pdf"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x01 not a pdf at all")
    before = web.library.entries()

    view = web.upload(str(bad), web.default_choice)

    assert view.choice == web.default_choice and not view.new_chat
    assert view.warning.startswith("Not added: scan.pdf: ") and "not a PDF" in view.warning
    assert "Traceback" not in view.warning and str(tmp_path) not in view.warning
    assert web.library.entries() == before
    assert not any(web.library.uploads_dir.iterdir())


def _stream_answer(web, question: str, choice: str) -> list:
    """Every output of the page's answer step for a new conversation, run as Gradio runs it."""

    async def outputs():
        return [step async for step in web.stream_answer(question, [], [], [], choice)]

    return asyncio.run(outputs())


def test_switching_is_per_session_and_each_session_asks_its_own_briefing(web, tmp_path, fake_bot):
    uploaded = web.upload(_note(tmp_path / "in"), web.default_choice).choice
    question = "What happened after the landslide at the Khorog crossing?"
    chats = {}
    for choice in (uploaded, web.default_choice):  # two sessions, each with its own choice
        *_, (chat, history, turns, selected) = _stream_answer(web, question, choice)
        chats[choice] = turns[-1]["answer"]
    assert _doc_ids(chats[uploaded]) == {uploaded}
    assert _doc_ids(chats[web.default_choice]) <= {fake_bot.briefing.doc_id}
    assert web.default_choice == fake_bot.briefing.doc_id  # nothing shared changed


def test_all_briefings_asks_across_every_briefing(web, tmp_path, fake_bot):
    uploaded = web.upload(_note(tmp_path / "in"), web.default_choice).choice
    view = web.choose(ALL, uploaded)
    assert "All briefings" in view.header and "Border note" in view.header
    # One question from each briefing's headings, in turn.
    assert view.examples[:2] == [example_questions(fake_bot.briefing)[0], "What does the briefing say about Khorog crossing?"]
    answer = asyncio.run(web.ask("What happened after the landslide at the Khorog crossing?", [], ALL))
    assert _doc_ids(answer) == {uploaded}
    assert {b.doc_id for b in web.bots.bot_for(ALL).briefings} == {uploaded, fake_bot.briefing.doc_id}


def test_removing_an_upload_returns_to_the_default_and_the_api_says_it_is_gone(web, tmp_path, fake_bot):
    uploaded = web.upload(_note(tmp_path / "in"), web.default_choice).choice
    view = web.remove(uploaded)
    assert view.choice == web.default_choice and view.status == "Removed “Border note” (border-note.md)."
    assert [e.doc_id for e in web.library.entries()] == [fake_bot.briefing.doc_id]
    with pytest.raises(gr.Error, match="no briefing"):
        asyncio.run(web.ask("What happened at the Khorog crossing?", [], uploaded))
    stale = web.choose(uploaded, uploaded)  # a session still showing it
    assert stale.choice == web.default_choice and "no briefing" in stale.warning


def test_a_startup_briefing_cannot_be_removed(web, fake_bot):
    view = web.remove(fake_bot.briefing.doc_id)
    assert not view.new_chat and "cannot be removed" in view.warning
    assert [e.doc_id for e in web.library.entries()] == [fake_bot.briefing.doc_id]


def test_with_uploads_off_there_is_no_upload_control_and_every_upload_is_refused(fake_bot, tmp_path):
    bot = _own_bot(fake_bot, tmp_path / "index")
    web = WebChat(bot, allow_upload=False)
    view = web.upload(_note(tmp_path / "in"), web.default_choice)
    assert "turned off" in view.warning and not web.library.uploads_dir.exists()
    with pytest.raises(gr.Error, match="uploading briefings is turned off"):
        web.upload_briefing({"path": _note(tmp_path / "in"), "orig_name": "border-note.md"})
    app = build_app(bot, allow_upload=False)
    assert not [block for block in app.blocks.values() if isinstance(block, gr.File)]
    assert [block for block in build_app(bot).blocks.values() if isinstance(block, gr.File)]


def test_settings_and_the_listening_address_decide_on_uploads():
    on, off = Settings(backend="fake"), Settings(backend="fake", allow_upload=False)
    assert upload_allowed(on, "127.0.0.1", None) and upload_allowed(on, "::1", None)
    assert not upload_allowed(on, "0.0.0.0", None)  # --insecure-no-auth
    assert upload_allowed(on, "0.0.0.0", ("user", "pass"))
    assert not upload_allowed(off, "127.0.0.1", None)


def test_a_pdf_citation_names_its_page_and_marks_exactly_its_span(web, fake_bot):
    entry, _ = web.add_upload(DOCS / "debian-faq-basic-defs.pdf", "debian-faq-basic-defs.pdf")
    briefing = web.bots.bot_for(entry.doc_id).briefing
    answer = asyncio.run(web.ask("Who created the Debian Project in 1993?", [], entry.doc_id))
    citation = next(c for c in answer["citations"] if c["page"] and c["page"] > 1)
    assert citation["page"] == briefing.page_at(citation["start"])

    panel = web.show_citation(citation, answer["refused"], entry.doc_id)
    assert f"· p. {citation['page']} ·" in panel
    assert re.findall(r'class="page-marker" data-page="(\d+)"', panel) == [str(p.number) for p in briefing.pages]
    inner = re.search(r"<mark [^>]*>(.*?)</mark>", panel, re.DOTALL)[1]
    assert html.unescape(re.sub(r"<[^>]+>", "", inner)) == citation["quote"] == briefing.text[citation["start"] : citation["end"]]
    assert f"p. {citation['page']}" in render_answer(answer, "Who created the Debian Project in 1993?")


def test_page_markers_add_no_text_even_inside_a_mark():
    briefing = parse_briefing("Title line\n\nFirst page ends here.\nSecond page starts here.\n", "doc")
    boundary = briefing.text.index("Second")
    briefing = dataclasses.replace(
        briefing, pages=(Page(1, 0, boundary), Page(2, boundary, len(briefing.text))), source_format="pdf"
    )
    start, end = briefing.text.index("ends"), briefing.text.index(" starts")
    citation = {"n": 1, "chunk_id": "doc:000", "section": "Title line", "start": start, "end": end, "page": 1,
                "quote": briefing.text[start:end]}
    page = render_briefing(briefing, citation)
    inner = re.search(r"<mark [^>]*>(.*?)</mark>", page, re.DOTALL)[1]
    assert 'data-page="2"' in inner and html.unescape(re.sub(r"<[^>]+>", "", inner)) == citation["quote"]
    assert html.unescape(re.sub(r"<[^>]+>", "", page)).endswith(briefing.text)
    assert "PDF, 2 pages" in render_header(briefing)


# --- the API of uploads, through a server ----------------------------------------------------------


@pytest.fixture(scope="module")
def upload_server(fake_bot, tmp_path_factory):
    """A server with a library of its own, so what is uploaded here stays here."""
    app = build_app(_own_bot(fake_bot, tmp_path_factory.mktemp("uploads") / "index"))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield Client(app.local_url, verbose=False)
    app.close()


def test_briefings_lists_what_can_be_asked_about(client, fake_bot):
    assert client.predict(api_name="/briefings")[0] == {
        "doc_id": fake_bot.briefing.doc_id, "title": fake_bot.briefing.title, "date": fake_bot.briefing.date,
        "format": "txt", "removable": False,
    }


def test_an_uploaded_briefing_is_listed_and_asked_by_its_doc_id(upload_server, tmp_path, fake_bot):
    entry = upload_server.predict(handle_file(_note(tmp_path, "daily-report.md")), api_name="/upload_briefing")
    assert entry["doc_id"].startswith("daily-report-") and entry["title"] == "Border note" and entry["removable"]
    assert entry in upload_server.predict(api_name="/briefings")

    question = "What happened after the landslide at the Khorog crossing?"
    answer = upload_server.predict(question, [], entry["doc_id"], api_name="/ask")
    assert not answer["refused"] and _doc_ids(answer) == {entry["doc_id"]}
    assert "landslide" in answer["text"]
    across = upload_server.predict(question, [], "all", api_name="/ask")
    assert _doc_ids(across) == {entry["doc_id"]}
    default = upload_server.predict(question, [], api_name="/ask")  # no briefing: the start-up one
    assert _doc_ids(default) <= {fake_bot.briefing.doc_id}


def test_a_bad_upload_through_the_api_is_a_clear_error_and_changes_nothing(upload_server, tmp_path):
    before = upload_server.predict(api_name="/briefings")
    bad = tmp_path / "report.docx"
    bad.write_bytes(b"PK\x03\x04 cut off")
    with pytest.raises(AppError) as caught:
        upload_server.predict(handle_file(str(bad)), api_name="/upload_briefing")
    message = str(caught.value)
    assert message.startswith("Not added: report.docx: ") and "Traceback" not in message and "/tmp" not in message
    assert upload_server.predict(api_name="/briefings") == before


def test_asking_an_unknown_briefing_names_the_known_ones(client, fake_bot):
    with pytest.raises(AppError, match=f"no briefing 'yesterday'.*known: {fake_bot.briefing.doc_id}"):
        client.predict("What is the population of Tajikistan?", [], "yesterday", api_name="/ask")


def test_a_file_over_the_request_limit_but_within_the_upload_limit_reaches_the_reader(upload_server, tmp_path):
    big = tmp_path / "long.txt"
    big.write_text("Patrols rose. " * 200_000, encoding="utf-8")  # 2.8 MB: over MAX_REQUEST_BYTES
    assert big.stat().st_size > MAX_REQUEST_BYTES
    with pytest.raises(AppError, match="2,800,000 characters is over the 2,000,000 limit"):
        upload_server.predict(handle_file(str(big)), api_name="/upload_briefing")

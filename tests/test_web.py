"""The web surface through its real HTTP API (gradio_client), plus its renderers and serve() guards."""

import html
import re

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from briefbot import Settings
from briefbot.briefing import parse_briefing
from briefbot.cli import main
from briefbot.web import ServeError, build_app, render_answer, render_briefing, serve
from conftest import free_port

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside Gradio


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def test_only_the_ask_endpoint_is_public(client):
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == {"/ask"}


def test_ask_returns_the_answer_with_exact_citations(client, fake_bot):
    answer = client.predict("How many Tajik border guards are on patrol today?", [], api_name="/ask")
    assert not answer["refused"]
    assert "16,000" in answer["text"]
    assert answer["citations"]
    for citation in answer["citations"]:
        briefing = fake_bot.index.briefing_for(citation["chunk_id"])
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


def test_model_work_is_serialised_and_the_queue_is_bounded(fake_bot):
    from briefbot.web import MAX_QUEUE_SIZE, MODEL_QUEUE, UI_QUEUE_FACTOR

    app = build_app(fake_bot)
    model_steps = {fn.name: fn for fn in app.fns.values() if fn.concurrency_id == MODEL_QUEUE}
    assert {"stream_answer", "ask"} <= set(model_steps)
    assert all(fn.concurrency_limit == 1 for fn in model_steps.values())
    # Everything else (showing the question, citations, new chat) never waits behind the model.
    others = [fn for fn in app.fns.values() if fn.concurrency_id != MODEL_QUEUE and fn.fn is not None]
    assert others and all(fn.concurrency_limit is None for fn in others)
    # The model step is bounded at MAX_QUEUE_SIZE on its own (test_concurrency floods it); page events get more room.
    assert app._queue.max_size == MAX_QUEUE_SIZE * UI_QUEUE_FACTOR

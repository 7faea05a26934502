"""The web chat in real headless Chromium: type, read the streamed answer, click a citation, see the
mark; upload a PDF and an HTML page, ask each, pick and remove briefings.

Screenshots go to test-output/ at the repo root (git-ignored) so a person can look at the page;
those of the upload flow also to eval/results/web-upload/ (committed).
"""

import io
import re
import shutil
from pathlib import Path

import pytest

from briefbot import BriefBot
from conftest import free_port


pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"
WAIT_MS = 60_000  # generous: the test machine is shared and slow


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, url, width: int = 1280, height: int = 860):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.locator("#question textarea").wait_for()
    return page


@pytest.fixture
def page(browser, server_url):
    page = _open(browser, server_url, 1400, 950)
    yield page
    page.context.close()


def ask(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def highlighted(page):
    return page.locator("#briefing-panel mark.citation-mark")


MARK_IN_VIEW = """() => {
    const box = document.querySelector('#briefing-panel .briefing-scroll')?.getBoundingClientRect();
    const mark = document.querySelector('#briefing-panel mark.citation-mark')?.getBoundingClientRect();
    return Boolean(box && mark && mark.top >= box.top && mark.top < box.bottom);
}"""


def assert_mark_is_scrolled_into_view(page) -> None:
    """The panel scrolls on an animation frame after the mark appears: wait for that, not a fixed time."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(MARK_IN_VIEW, timeout=WAIT_MS)
    except PlaywrightTimeout:
        pytest.fail("the highlighted passage is not scrolled into view in the briefing panel")


def test_citation_click_highlights_exactly_the_cited_span(page, fake_bot):
    from playwright.sync_api import expect

    question = "How many Tajik border guards are on patrol today?"
    expected = fake_bot.ask(question)
    assert expected.citations and not expected.refused

    ask(page, question)
    chat = page.locator("#chat")
    expect(chat).to_contain_text(expected.text, timeout=WAIT_MS)
    citation = expected.citations[-1]
    button = page.locator(f"#citations #citation-{citation.n}")
    expect(button).to_contain_text(citation.section)

    button.click()
    mark = highlighted(page)
    expect(mark).to_have_attribute("data-start", str(citation.start))
    assert mark.evaluate("element => element.textContent") == citation.quote
    assert mark.get_attribute("data-end") == str(citation.end)
    assert mark.get_attribute("data-n") == str(citation.n)
    assert_mark_is_scrolled_into_view(page)
    OUTPUT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT_DIR / "web-citation.png"))

    # A follow-up shows what the engine searched for; clicking the first answer brings back its sources.
    ask(page, "Who trained them?")
    expect(chat).to_contain_text("Searched the briefing for")
    expect(page.locator("#citations-label")).to_contain_text("Who trained them?")
    page.locator("#chat [data-testid='bot']").first.click()
    expect(page.locator("#citations-label")).to_contain_text(question)

    page.locator("#new-chat").click()
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(0)
    expect(page.locator("#citations .citation-button")).to_have_count(0)
    expect(mark).to_have_count(0)


def test_refusal_is_badged_and_lists_clickable_closest_passages(page, fake_bot, fake_llm):
    from playwright.sync_api import expect

    question = "What is the capital of France?"
    fake_llm.replies.append("NOT IN BRIEFING")  # a real model refuses here; the fake one needs telling
    ask(page, question)
    expect(page.locator("#chat .badge-refused")).to_have_text("Not in the briefing", timeout=WAIT_MS)
    expect(page.locator("#citations-label")).to_contain_text("not in the briefing")
    buttons = page.locator("#citations .citation-button.refused")
    expect(buttons.first).to_be_visible()
    count = buttons.count()
    assert 1 <= count <= 3

    fake_llm.replies.append("NOT IN BRIEFING")
    refusal = fake_bot.ask(question)  # same question, same retrieval: the passages the page lists
    closest = refusal.citations[count - 1]
    buttons.nth(count - 1).click()
    mark = page.locator("#briefing-panel mark.citation-mark.refused")
    expect(mark).to_have_attribute("data-start", str(closest.start))
    assert mark.evaluate("element => element.textContent") == closest.quote
    assert_mark_is_scrolled_into_view(page)
    OUTPUT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT_DIR / "web-refusal.png"))


def test_empty_question_warns_and_adds_nothing(page):
    from playwright.sync_api import expect

    page.locator("#ask-button").click()
    expect(page.get_by_text("Type a question about the briefing first.")).to_be_visible()
    expect(page.locator("#chat [data-testid='user']")).to_have_count(0)


def test_two_sessions_keep_separate_conversations(browser, server_url):
    from playwright.sync_api import expect

    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 950})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server_url)
        page.locator("#question textarea").wait_for()
        pages.append(page)
    first, second = pages
    try:
        ask(first, "Why is the Kremlin courting the Taliban?")
        ask(second, "How many Tajik border guards are on patrol today?")
        expect(first.locator("#citations .citation-button").first).to_be_visible()
        expect(second.locator("#citations .citation-button").first).to_be_visible()
        expect(first.locator("#chat [data-testid='user']")).to_have_count(1)
        expect(second.locator("#chat [data-testid='user']")).to_have_count(1)
        expect(first.locator("#chat")).not_to_contain_text("border guards")
        expect(second.locator("#chat")).not_to_contain_text("courting")
    finally:
        for page in pages:
            page.context.close()


# --- briefings: upload, pick, ask, remove ------------------------------------------------------

DOCS = Path(__file__).resolve().parent / "data" / "docs"
# Committed beside the code, so a reviewer sees the upload flow without running it.
RESULTS_DIR = Path(__file__).resolve().parent.parent / "eval" / "results" / "web-upload"
PDF, HTML = DOCS / "packet-switching.pdf", DOCS / "debian-faq-basic-defs.html"
# The fake model answers with the passage sentence that shares most words with the question.
QUESTIONS = {
    PDF: "What does routing a packet require the node to look up?",
    HTML: "Who created the Debian Project in 1993?",
}


@pytest.fixture(scope="module")
def upload_server(fake_bot, tmp_path_factory):
    """A server whose uploads and their indexes stay in a directory of their own."""
    from briefbot.web import build_app

    settings = fake_bot.settings.model_copy(update={"index_dir": tmp_path_factory.mktemp("browser-uploads") / "index"})
    app = build_app(BriefBot(settings, fake_bot.index, fake_bot.retriever, fake_bot.generator, fake_bot.verifier, fake_bot.policy))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield app.local_url
    app.close()


def _screenshot(page, name: str) -> None:
    """The top of the page; the committed copy in 256 colours (a flat UI loses nothing, the file ~3x)."""
    from PIL import Image

    page.evaluate("() => window.scrollTo(0, 0)")
    png = page.screenshot()
    for folder in (OUTPUT_DIR, RESULTS_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    (OUTPUT_DIR / name).write_bytes(png)
    Image.open(io.BytesIO(png)).quantize(256).save(RESULTS_DIR / name, optimize=True)


def _upload(page, path: Path) -> None:
    page.locator("#upload-briefing input[type=file]").set_input_files(str(path))


def _ask_and_open_citation(page, client, question: str, doc_id: str):
    """Ask on the page, wait for the answer the API gives for that briefing, open its last citation."""
    from playwright.sync_api import expect

    expected = client.predict(question, [], doc_id, api_name="/ask")
    assert not expected["refused"] and {c["doc_id"] for c in expected["citations"]} == {doc_id}
    ask(page, question)
    expect(page.locator("#chat")).to_contain_text(expected["text"].split(" [")[0], timeout=WAIT_MS)
    citation = expected["citations"][-1]
    button = page.locator(f"#citations #citation-{citation['n']}")
    if citation["page"]:
        expect(button).to_contain_text(f"p. {citation['page']}")
    button.click()
    expect(highlighted(page)).to_have_attribute("data-start", str(citation["start"]))
    assert highlighted(page).evaluate("element => element.textContent") == citation["quote"]
    assert_mark_is_scrolled_into_view(page)
    return citation


def test_an_uploaded_pdf_and_html_page_are_asked_and_cited_exactly(browser, upload_server):
    from gradio_client import Client
    from playwright.sync_api import expect

    from briefbot.briefing import load_briefing
    from briefbot.library import example_questions

    client = Client(upload_server, verbose=False)
    page = _open(browser, upload_server)
    try:
        for path, shot in ((PDF, "pdf-citation.png"), (HTML, "html-citation.png")):
            briefing = load_briefing(path)
            _upload(page, path)
            expect(page.locator("#library-status")).to_contain_text(f"Added “{briefing.title}”", timeout=WAIT_MS)
            doc_id = next(e["doc_id"] for e in client.predict(api_name="/briefings") if e["doc_id"].startswith(path.stem))
            expect(page.locator("#app-header h1")).to_have_text(briefing.title)
            expect(page.locator("#briefing-panel .briefing-panel")).to_have_attribute("data-doc", doc_id)
            expect(page.locator("#examples .example-question:visible")).to_have_text(example_questions(briefing))
            citation = _ask_and_open_citation(page, client, QUESTIONS[path], doc_id)
            if path == PDF:
                assert citation["page"] > 1  # the question's answer stands on a later page
                expect(page.locator("#briefing-panel .briefing-caption")).to_contain_text(f"p. {citation['page']}")
                expect(page.locator("#briefing-panel .page-marker")).to_have_count(len(briefing.pages))
            _screenshot(page, shot)
    finally:
        page.context.close()


def test_a_file_it_cannot_read_is_refused_with_a_message_and_changes_nothing(browser, upload_server, tmp_path):
    from gradio_client import Client
    from playwright.sync_api import expect

    client = Client(upload_server, verbose=False)
    before = client.predict(api_name="/briefings")
    bad = tmp_path / "minutes.pdf"
    bad.write_text("Border note\n\nPatrols rose by 40 percent.\n", encoding="utf-8")
    page = _open(browser, upload_server)
    try:
        header = page.locator("#app-header h1").text_content()
        _upload(page, bad)
        expect(page.get_by_text("Not added: minutes.pdf:").first).to_be_visible()
        expect(page.locator("#library-status")).to_contain_text("not a PDF")
        expect(page.locator("#app-header h1")).to_have_text(header)
        _screenshot(page, "refused-upload.png")
    finally:
        page.context.close()
    assert client.predict(api_name="/briefings") == before


def test_picking_a_briefing_is_per_session_and_an_upload_can_be_removed(browser, upload_server, fake_bot):
    from gradio_client import Client
    from gradio_client import handle_file
    from playwright.sync_api import expect

    client = Client(upload_server, verbose=False)
    entry = client.predict(handle_file(str(HTML)), api_name="/upload_briefing")
    first, second = _open(browser, upload_server), _open(browser, upload_server)
    try:
        first.locator("#briefing-choice input").click()
        first.get_by_role("option", name=re.compile(re.escape(entry["title"]))).first.click()
        expect(first.locator("#app-header h1")).to_have_text(entry["title"])
        expect(first.locator("#remove-briefing")).to_be_visible()
        # The other session still shows, and asks, the start-up briefing.
        expect(second.locator("#app-header h1")).to_have_text(fake_bot.briefing.title)
        expect(second.locator("#remove-briefing")).to_be_hidden()
        ask(second, "How many Tajik border guards are on patrol today?")
        expect(second.locator("#chat")).to_contain_text("16,000", timeout=WAIT_MS)

        first.locator("#remove-briefing").click()
        expect(first.locator("#library-status")).to_contain_text(f"Removed “{entry['title']}”")
        expect(first.locator("#app-header h1")).to_have_text(fake_bot.briefing.title)
        assert entry["doc_id"] not in {e["doc_id"] for e in client.predict(api_name="/briefings")}
    finally:
        for page in (first, second):
            page.context.close()

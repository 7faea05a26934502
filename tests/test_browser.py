"""The web chat in real headless Chromium: type, read the streamed answer, click a citation, see the mark.

Screenshots go to test-output/ at the repo root (git-ignored) so a person can look at the page.
"""

import shutil
from pathlib import Path

import pytest


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


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server_url)
    page.locator("#question textarea").wait_for()
    yield page
    context.close()


def ask(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def highlighted(page):
    return page.locator("#briefing-panel mark.citation-mark")


def assert_mark_is_scrolled_into_view(page) -> None:
    inside = page.evaluate(
        """() => {
            const box = document.querySelector('#briefing-panel .briefing-scroll').getBoundingClientRect();
            const mark = document.querySelector('#briefing-panel mark.citation-mark').getBoundingClientRect();
            return mark.top >= box.top && mark.top < box.bottom;
        }"""
    )
    assert inside, "the highlighted passage is not scrolled into view in the briefing panel"


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
    page.wait_for_timeout(300)  # the scroll runs on the next animation frame
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
    page.wait_for_timeout(300)
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

"""The web chat: pick or upload a briefing, ask about it, read the cited passage highlighted beside the answer.

Start it with `briefbot serve` (http://127.0.0.1:7860). Each answer lists its numbered citations
as buttons (with "p. N" for a PDF); clicking one opens the briefing beside the chat, scrolled to
the cited span (`briefing.text[start:end]`) inside a `<mark class="citation-mark">`. Refused
answers carry a "Not in the briefing" badge and list the closest passages instead.

The "Briefing" picker offers the briefings given at start-up, the uploaded ones and, when there
are several, "All briefings"; the header, the briefing panel, the example questions (derived from
the briefing's headings and lede: `library.example_questions`) and a new chat follow the choice.
A file dropped on "Add a briefing" (.txt .md .html .htm .pdf .docx, up to `max_upload_mb`) is
read, stored under `index_dir/uploads/` and indexed, with progress on the status line; a file that
cannot be used is refused with a message and changes nothing. An uploaded briefing can be removed
again. Uploading is off with `allow_upload=False` (BRIEFBOT_ALLOW_UPLOAD=0) and whenever the server
listens beyond 127.0.0.1 without a login; then no upload control is shown and /upload_briefing
refuses.

Many people can use one server: every browser tab has its own briefing choice and conversation
(gr.State), the library of briefings is shared, and questions are answered one at a time, in the
order they came, because there is one local model; the others see how many are ahead of theirs.

The same server answers programs through `gradio_client`:

    from gradio_client import Client, handle_file

    client = Client("http://127.0.0.1:7860/")  # with BRIEFBOT_AUTH=user:pass add auth=("user", "pass")
    answer = client.predict("How many Tajik border guards are on patrol today?", [], api_name="/ask")
    print(answer["text"])                # Answer.to_dict()
    for c in answer["citations"]:
        print(f'[{c["n"]}] {c["section"]} p. {c["page"]} ({c["start"]}-{c["end"]}): {c["quote"]}')

    # A follow-up passes the conversation so far; `standalone_question` is what was searched for.
    history = [
        {"role": "user", "content": "How many Tajik border guards are on patrol today?"},
        {"role": "assistant", "content": answer["text"]},
    ]
    follow_up = client.predict("Who trained them?", history, api_name="/ask")
    print(follow_up["standalone_question"], follow_up["refused"])

    # The briefings: [{"doc_id", "title", "date", "format", "removable"}, ...]; ask one by its doc_id,
    # or all of them with "all" (without the argument: the start-up briefing).
    print(client.predict(api_name="/briefings"))
    entry = client.predict(handle_file("report.pdf"), api_name="/upload_briefing")  # its /briefings entry
    answer = client.predict("What changed at the border?", [], entry["doc_id"], api_name="/ask")

Over Gradio's plain HTTP API (`POST /gradio_api/call/ask`) a call sends all three arguments,
`{"data": [question, history, briefing or null]}`: Gradio refuses a call with fewer.

A question the engine rejects (empty, too long, malformed history, unknown briefing) or a file it
cannot use raises `gradio_client.exceptions.AppError` with a readable message; a request body over
MAX_REQUEST_BYTES (2 MB; an upload: max_upload_mb) is answered with HTTP 413 before Gradio reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import html
import ipaddress
import json
import logging
import re
import socket
import time
from dataclasses import dataclass
from functools import partial
from itertools import zip_longest
from pathlib import Path
from types import SimpleNamespace
from typing import AsyncIterator, Callable, Iterator

import gradio as gr
from gradio import FileData
from starlette.middleware import Middleware

from briefbot.answer import Answer
from briefbot.bot import BriefBot
from briefbot.briefing import Briefing
from briefbot.errors import BriefBotError
from briefbot.index import briefing_paths
from briefbot.library import (
    ACCEPTED_SUFFIXES, ALL, BotPool, BriefingEntry, BriefingLibrary, LibraryError, example_questions,
)
from briefbot.settings import BYTES_PER_MB, Settings

log = logging.getLogger("briefbot.web")

# Questions waiting for the model beyond this are turned away with "Queue is full" instead of piling up for minutes.
MAX_QUEUE_SIZE = 24
# Largest request body the server reads. A question at the highest max_question_chars (100,000),
# JSON-escaped at up to 6 bytes a character, plus a long conversation fits; a bigger body is
# refused with 413 before it is parsed, queued or held in memory.
MAX_REQUEST_BYTES = 2 * 1024 * 1024
# Gradio's own queue holds uploads and, while all its workers are busy, page events; the model's
# questions wait in ModelLine instead, so a full model line never fills it.
UI_QUEUE_FACTOR = 4


class ServeError(BriefBotError):
    """The server cannot start as asked (unsafe bind address, bad BRIEFBOT_AUTH, port taken)."""


# ---------------------------------------------------------------------------------------------
# Rendering. Every piece of briefing or answer text goes through an escape function: briefings
# are arbitrary files and answers come from a model, so neither may become markup.
# ---------------------------------------------------------------------------------------------


def _html(text: str) -> str:
    """HTML-escape, and also neutralise the characters gr.HTML's template engine reacts to."""
    return (
        html.escape(text, quote=True)
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("$", "&#36;")
        .replace("`", "&#96;")
    )


# The chat renders Markdown (for the badge and the small print). Engine text must stay literal:
# a backslash before Markdown/HTML punctuation does that, and "1." or "-" starting a line must not
# turn into a list. (Fewer escapes than "all punctuation" keep screen-reader labels readable.)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~&$])")
_LIST_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-=])", re.MULTILINE)


def _md(text: str) -> str:
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _LIST_START.sub(lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] else f"{m[4]}\\{m[5]}", text)


def _heading_ranges(briefing: Briefing) -> list[tuple[int, int]]:
    """(start, end) of the title and section-heading lines, so the panel can set them in bold."""
    text = briefing.text
    ranges = []
    for section in briefing.sections:
        if section.start == 0:
            continue
        line_end = section.start - 1  # the heading line ends just before its section's text
        line_start = text.rfind("\n", 0, line_end) + 1
        if text[line_start:line_end].strip():
            ranges.append((line_start, line_end))
    title_at = text.find(briefing.title)
    if briefing.title and title_at >= 0:
        ranges.append((title_at, title_at + len(briefing.title)))
    return sorted(ranges)


def _escaped_span(text: str, lo: int, hi: int, headings: list[tuple[int, int]], pages: dict[int, int]) -> str:
    """text[lo:hi] escaped, heading lines wrapped in spans and an empty marker where a page starts.

    Cut at lo/hi, so tags nest. A marker holds no text (CSS draws its "p. N"), so what the tags
    enclose is still exactly text[lo:hi], also inside a citation's <mark>.
    """
    inner = [x for start, end in headings for x in (start, end) if lo < x < hi]
    cuts = sorted({lo, hi, *inner, *(offset for offset in pages if lo <= offset < hi)})
    out = []
    for start, end in zip(cuts, cuts[1:]):
        if start in pages:
            out.append(f'<span class="page-marker" data-page="{pages[start]}"></span>')
        piece = _html(text[start:end])
        in_heading = any(h_start <= start and end <= h_end for h_start, h_end in headings)
        out.append(f'<span class="briefing-heading">{piece}</span>' if in_heading else piece)
    return "".join(out)


def _page_label(page: int | None) -> str:
    return f" · p. {page}" if page else ""


def render_briefing(briefing: Briefing, citation: dict | None = None, refused: bool = False) -> str:
    """The briefing as HTML; with a citation, exactly text[start:end] is inside one <mark>.

    The text keeps its own line breaks (CSS white-space: pre-wrap), so the character offsets of
    the engine map one to one onto what is shown, and a span may cross paragraphs. A paginated
    source (PDF) gets a "p. N" marker where each of its pages starts.
    """
    text = briefing.text
    headings = _heading_ranges(briefing)
    pages = {page.start: page.number for page in briefing.pages}
    if citation is None:
        caption = "Click a numbered citation under an answer to see the passage here."
        body = _escaped_span(text, 0, len(text), headings, pages)
    else:
        start, end = int(citation["start"]), int(citation["end"])
        if not (0 <= start <= end <= len(text)):
            raise ValueError(f"citation span {start}:{end} is outside the briefing")
        kind = "Closest passage" if refused else "Citation"
        page = _page_label(citation.get("page"))
        caption = f"{kind} [{citation['n']}] · {citation['section']}{page} · characters {start}–{end}"
        mark_class = "citation-mark refused" if refused else "citation-mark"
        body = (
            _escaped_span(text, 0, start, headings, pages)
            + f'<mark id="citation-mark" class="{mark_class}" data-n="{int(citation["n"])}"'
            + f' data-start="{start}" data-end="{end}" data-chunk="{_html(str(citation["chunk_id"]))}">'
            + _escaped_span(text, start, end, headings, pages)
            + "</mark>"
            + _escaped_span(text, end, len(text), headings, pages)
        )
    return (
        f'<div class="briefing-panel" data-doc="{_html(briefing.doc_id)}">'
        f'<div class="briefing-caption">{_html(caption)}</div>'
        f'<div class="briefing-scroll"><div class="briefing-text">{body}</div></div>'
        "</div>"
    )


def _source_line(briefing: Briefing) -> str:
    """Date, and for a converted source its format and pages: "25 April 2017 · PDF, 12 pages"."""
    parts = [briefing.date] if briefing.date else []
    if briefing.source_format not in ("txt", "md"):
        pages = len(briefing.pages)
        parts.append(briefing.source_format.upper() + (f", {pages} page{'s' * (pages != 1)}" if pages else ""))
    return " · ".join(parts)


def render_header(briefing: Briefing) -> str:
    meta = _source_line(briefing)
    date = f'<span class="briefing-date">{_html(meta)}</span>' if meta else ""
    lede = f'<p class="briefing-lede">{_html(briefing.lede)}</p>' if briefing.lede else ""
    return f'<div class="app-header"><h1>{_html(briefing.title)}</h1>{date}{lede}</div>'


def render_header_all(briefings: list[Briefing]) -> str:
    """The header of the "All briefings" choice: what is asked across."""
    listed = " · ".join(briefing.title for briefing in briefings)
    return (
        f'<div class="app-header"><h1>All briefings</h1>'
        f'<span class="briefing-date">{len(briefings)} briefing{"s" * (len(briefings) != 1)}</span>'
        f'<p class="briefing-lede">{_html(listed)}</p></div>'
    )


def _sentence_case(message: str) -> str:
    return message[:1].upper() + message[1:]


def render_answer(answer: Answer | dict, question: str) -> str:
    """The chat message for a finished answer (Markdown; all engine text escaped)."""
    data = answer.to_dict() if isinstance(answer, Answer) else answer
    parts = []
    if data["refused"]:
        parts.append('<span class="badge-refused">Not in the briefing</span>')
    parts.append(_md(data["text"]))
    standalone = data.get("standalone_question") or ""
    if standalone and standalone.strip() != question.strip():
        parts.append(f'<span class="searched-for">Searched the briefing for: “{_md(standalone)}”</span>')
    if data["citations"]:
        label = "Closest passages" if data["refused"] else "Sources"
        listed = " · ".join(f"\\[{c['n']}\\] {_md(c['section'])}{_page_label(c.get('page'))}" for c in data["citations"])
        parts.append(f'<span class="sources-line">{label}: {listed}</span>')
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The app.
# ---------------------------------------------------------------------------------------------

CSS = """
.app-header h1 { margin: 0 0 2px 0; font-size: 1.45rem; }
.app-header .briefing-date { color: var(--body-text-color-subdued); font-size: .9rem; }
.app-header .briefing-lede { margin: 4px 0 0 0; color: var(--body-text-color-subdued); font-style: italic;
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden; }
#briefing-column { position: sticky; top: 8px; align-self: flex-start; }
.briefing-caption { font-size: .85rem; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.briefing-scroll { position: relative; max-height: 72vh; overflow-y: auto; padding-right: 8px; }
.briefing-text { white-space: pre-wrap; line-height: 1.55; font-size: .95rem; }
.briefing-heading { font-weight: 700; }
mark.citation-mark { background: #ffe066; color: inherit; border-radius: 2px; box-shadow: 0 0 0 2px #ffe066; }
mark.citation-mark.refused { background: #d7dde6; box-shadow: 0 0 0 2px #d7dde6; }
.badge-refused { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .8rem;
  font-weight: 600; background: #fde2e1; color: #8a1c13; border: 1px solid #f2b8b5; }
.searched-for, .sources-line { font-size: .85rem; color: var(--body-text-color-subdued); }
#citations .citation-button { flex: 0 1 auto; min-width: 0; }
#citations .citation-button.refused { border-style: dashed; }
#status-line { font-size: .85rem; color: var(--body-text-color-subdued); }
#library-status { font-size: .9rem; min-height: 1.4em; }
#examples .example-question { flex: 1 1 auto; min-width: 0; white-space: normal; text-align: left; }
.page-marker { display: block; margin: 6px 0 2px 0; border-top: 1px dashed var(--border-color-primary);
  text-align: right; font-size: .75rem; color: var(--body-text-color-subdued); }
.page-marker::before { content: "p. " attr(data-page); }
"""

# Runs in the browser whenever the briefing panel re-renders: bring the <mark> into view inside
# the panel's own scroll box (scrollIntoView would also scroll the page away from the chat).
SCROLL_TO_MARK_JS = """
const scrollToMark = () => {
  const box = element.querySelector('.briefing-scroll');
  const mark = element.querySelector('mark.citation-mark');
  if (!box) return;
  box.scrollTop = mark ? Math.max(0, mark.offsetTop - box.clientHeight / 3) : 0;
};
watch('value', () => requestAnimationFrame(scrollToMark));
requestAnimationFrame(scrollToMark);
"""


# Gradio's default theme with the bundled Source Sans in regular and bold only: its semibold file is
# a few-glyph stub in some installs, which made bold text fall back glyph by glyph. Local fonts
# only, so the page loads nothing from the internet.
THEME = gr.themes.Default(
    font=(gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif"),
    font_mono=(gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "Consolas", "monospace"),
)


class BriefBotBlocks(gr.Blocks):
    """gr.Blocks whose launch() defaults are briefbot's: no share links, no tracebacks, no
    telemetry or run history, and the app's CSS (Gradio 6 takes CSS in launch, not in Blocks).

    `max_upload_bytes`: the largest file Gradio takes (and the request size the upload route
    allows); the default keeps stray uploads small where nothing is meant to be uploaded."""

    LAUNCH_DEFAULTS = dict(
        share=False,
        show_error=False,  # gr.Error messages still show; other exceptions stay in the server log
        css=CSS,
        theme=THEME,
        footer_links=["api"],
        run_history=False,  # questions about internal briefings are not stored in the browser
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
    )
    max_upload_bytes: int = 1_000_000

    def launch(self, *args, **kwargs):
        for name, value in self.LAUNCH_DEFAULTS.items():
            kwargs.setdefault(name, value)
        kwargs.setdefault("max_file_size", self.max_upload_bytes)
        app_kwargs = dict(kwargs.get("app_kwargs") or {})
        limit = Middleware(RequestSizeLimit, upload_bytes=self.max_upload_bytes)
        app_kwargs["middleware"] = [limit, *app_kwargs.get("middleware", [])]
        kwargs["app_kwargs"] = app_kwargs
        if kwargs["share"]:
            raise ServeError("briefbot never creates public share links")
        return super().launch(*args, **kwargs)


# A file's bytes come in a multipart body, whose boundaries and part headers take a little more.
MULTIPART_ROOM = 64 * 1024


class RequestSizeLimit:
    """ASGI middleware: a request body over `max_bytes` gets a 413 with a readable message.

    Gradio's `max_file_size` covers uploads only; the JSON of an API call or a queued event has no
    limit of its own. The body is read here (never more than the limit of it is kept) and handed
    on, so a chunked body without a Content-Length is counted too. Gradio's upload route may carry
    one file of up to `upload_bytes`.
    """

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES, upload_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].endswith("/gradio_api/upload")
        most = max(self.max_bytes, self.upload_bytes + MULTIPART_ROOM) if upload else self.max_bytes
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before finishing the request
            size += len(message.get("body", b""))
            if size > most:
                await self._refuse(send, self.upload_bytes if upload else most, upload)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: disconnect notices for streamed responses
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, limit_bytes: int, upload: bool) -> None:
        limit = f"{limit_bytes / BYTES_PER_MB:g} MB"
        advice = "Send a smaller file." if upload else "Send a shorter question or history."
        body = json.dumps({"error": f"The request is larger than the server accepts ({limit}). {advice}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                # The unread rest of the body cannot be skipped on a kept-alive connection.
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------
# Handlers: every event of the page and every API endpoint, callable without a server.
# ---------------------------------------------------------------------------------------------

UPLOAD_OFF = "uploading briefings is turned off on this server"


def _friendly(exc: BriefBotError) -> str:
    return _sentence_case(str(exc)) or "The question could not be answered."


def _entry_label(entry: BriefingEntry) -> str:
    """The picker's label, "Title · 25 April 2017 · PDF · report.pdf": an upload's own file name
    tells daily files of one title apart."""
    parts = [entry.title, entry.date, entry.format.upper(), entry.original_name if entry.removable else ""]
    return " · ".join(part for part in parts if part)


def _interleaved(groups: list[list[str]]) -> list[str]:
    """The first of each group, then the second of each, …, without repeats."""
    return list(dict.fromkeys(item for row in zip_longest(*groups) for item in row if item is not None))


def _progress_messages(progress: Callable) -> Callable[[str], None]:
    """A gr.Progress fed with messages: how many steps an index build takes is not known before,
    so each message fills half of what is left of the bar."""
    done = 0.0

    def report(message: str) -> None:
        nonlocal done
        done += (1 - done) / 2
        progress(done, desc=message)

    return report


@dataclass
class BriefingView:
    """What the page shows for one briefing choice; a switch, an upload and a removal re-draw it.

    `new_chat`: the page shows another briefing than before, so its conversation starts anew; when
    False only the picker and the status line change. `warning`: a problem, for a toast."""

    choice: str
    choices: list[tuple[str, str]]
    header: str
    panel: str
    examples: list[str]
    removable: bool
    status: str = ""
    warning: str = ""
    new_chat: bool = True


class ModelLine:
    """The questions for the one model: answered one at a time, in the order they came, with at most
    `size` waiting; one more is refused at once with "Queue is full".

    Briefbot keeps this line itself because Gradio 6 bounds only its whole queue (`Blocks.queue(max_size)`,
    page clicks included), not one event's or one concurrency group's. A question waits here in the
    server's event loop, holding no thread; one cancelled while waiting (New chat) leaves the line.
    """

    def __init__(self, size: int):
        self.size = size
        self._tickets: list[object] = []  # in order of arrival; the first is being answered
        self._moved = asyncio.Event()  # set, and replaced, whenever a ticket leaves

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[object]:
        """A ticket in the line, held for the `async with` block; gr.Error when the line is full."""
        waiting = len(self._tickets) - 1
        if waiting >= self.size:
            raise gr.Error(
                f"Queue is full: {waiting} {'question is' if waiting == 1 else 'questions are'} waiting for the model. "
                "Please try again in a minute.",
                title="Busy", print_exception=False,
            )
        ticket = object()
        self._tickets.append(ticket)
        try:
            yield ticket
        finally:
            self._tickets.remove(ticket)
            self._moved.set()
            self._moved = asyncio.Event()

    async def ahead(self, ticket: object) -> AsyncIterator[int]:
        """How many questions are ahead of `ticket`'s, again after each move, until it is its turn."""
        while True:
            moved = self._moved  # taken before looking, so a move while the caller is busy is not missed
            if not (ahead := self._tickets.index(ticket)):
                return
            yield ahead
            await moved.wait()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The model is this block's, once the questions ahead are answered; gr.Error when full."""
        async with self.place() as ticket:
            async for _ in self.ahead(ticket):
                pass
            yield


async def _in_threads(steps: Iterator) -> AsyncIterator:
    """A blocking iterator's items, each made in a worker thread, so the event loop keeps serving."""
    done = object()
    while (item := await asyncio.to_thread(next, steps, done)) is not done:
        yield item


class WebChat:
    """The page's and the API's handlers over one library of briefings.

    What one browser session owns comes in as arguments (the page keeps it in gr.State: its
    briefing choice, conversation and citations); what all sessions share lives here: the library
    of briefings and one BriefBot per briefing set (library.py).
    """

    def __init__(self, bot: BriefBot, allow_upload: bool | None = None):
        self.settings = bot.settings
        self.allow_upload = self.settings.allow_upload if allow_upload is None else allow_upload
        startup = list(zip(briefing_paths(self.settings), bot.briefings))
        self.library = BriefingLibrary(self.settings, startup)
        self.bots = BotPool(self.library, bot)
        # The start-up briefing, or all of them when several were given.
        self.default_choice = bot.briefing.doc_id if len(startup) == 1 else ALL
        self.backend_name = bot.generator.name
        self.line = ModelLine(MAX_QUEUE_SIZE)

    # --- asking ---------------------------------------------------------------------------------

    def check_question(self, question: str, busy: bool) -> tuple[str, bool]:
        """Accept the question or refuse it with a toast; nothing reaches the model line on refusal.

        Its outputs are States only: a gr.Error then shows as a toast and not as an "Error"
        overlay over the chat, and `.success()` stops the chain.
        """
        self.claim(busy)
        limit = self.settings.max_question_chars
        question = (question or "").strip()
        if not question:
            raise gr.Error("Type a question about the briefing first.", title="Empty question", print_exception=False)
        if len(question) > limit:
            raise gr.Error(
                f"The question is {len(question):,} characters long; the limit is {limit:,}. Please shorten it.",
                title="Question too long",
                print_exception=False,
            )
        return question, True

    @staticmethod
    def claim(busy: bool) -> bool:
        """One answer or upload at a time per conversation: both end by re-drawing the chat."""
        if busy:
            raise gr.Error(
                "Please wait until the current answer or upload is finished.", title="Still working", print_exception=False
            )
        return True

    @staticmethod
    def show_question(question: str, chat: list, typed: bool = True) -> tuple:
        """Show the question at once, even while other people's answers are being generated."""
        chat = list(chat or []) + [{"role": "user", "content": _md(question)}]
        # An example button leaves whatever the user was typing in the box alone.
        return "" if typed else gr.skip(), chat

    async def stream_answer(self, question: str, chat: list, history: list, turns: list, choice: str):
        """Stream the verified answer into the chat once the model is free (until then the chat
        says how many questions are ahead); finally record the turn and its citations."""
        chat = list(chat) + [{"role": "assistant", "content": "…"}]
        async with self.line.place() as ticket:
            async for ahead in self.line.ahead(ticket):
                chat[-1] = {"role": "assistant", "content": f"⏳ {ahead} question{'s' * (ahead != 1)} ahead of yours…"}
                yield chat, history, turns, gr.skip()
            chat[-1] = {"role": "assistant", "content": "…"}
            yield chat, history, turns, gr.skip()
            async for outputs in _in_threads(self._answer_steps(question, chat, history, turns, choice)):
                yield outputs

    def _answer_steps(self, question: str, chat: list, history: list, turns: list, choice: str):
        """stream_answer's outputs while the model answers (blocking: run in a worker thread)."""
        answer, text = None, ""
        try:
            for item in self.bots.bot_for(choice).stream(question, history):
                if isinstance(item, Answer):
                    answer = item
                else:
                    text += item
                    chat[-1] = {"role": "assistant", "content": _md(text) + " ▍"}
                    yield chat, history, turns, gr.skip()
        except BriefBotError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠️ {_md(_friendly(exc))}"}
            yield chat, history, turns, gr.skip()
            return
        except Exception:
            # A bug, not the user's doing: log the traceback here, show nothing of it there.
            log.exception("answering %r failed", question)
            chat[-1] = {
                "role": "assistant",
                "content": "⚠️ Something went wrong while answering. The error was logged on the server; please try again.",
            }
            yield chat, history, turns, gr.skip()
            return
        chat[-1] = {"role": "assistant", "content": render_answer(answer, question)}
        history = list(history) + [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        turns = list(turns) + [{"message": len(chat) - 1, "question": question, "answer": answer.to_dict()}]
        yield chat, history, turns, len(turns) - 1

    @staticmethod
    def select_message(turns: list, evt: gr.SelectData):
        """Clicking an earlier answer (or its question) shows that answer's citations."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        for number, turn in enumerate(turns):
            if index in (turn["message"], turn["message"] - 1):
                return number
        return gr.skip()

    def show_citation(self, citation: dict, refused: bool, choice: str) -> str:
        """The panel for a clicked citation: the briefing it cites, exactly its span marked."""
        try:
            bot = self.bots.bot_for(choice)
        except BriefBotError as exc:
            raise gr.Error(_friendly(exc), title="Briefing not available", print_exception=False) from None
        doc_id = citation.get("doc_id") or citation["chunk_id"].rsplit(":", 1)[0]
        return render_briefing(bot.index.briefings.get(doc_id, bot.briefing), citation, refused)

    def new_chat(self, choice: str | None = None) -> tuple:
        """An empty conversation; the panel shows the chosen briefing, unmarked."""
        try:
            panel = render_briefing(self.bots.bot_for(choice or self.default_choice).briefing)
        except BriefBotError:
            panel = gr.skip()  # removed meanwhile: the next question says so
        return [], [], [], None, "", panel, False

    # --- briefings ------------------------------------------------------------------------------

    def choices(self) -> list[tuple[str, str]]:
        """The picker's (label, value) pairs: every briefing, then "All briefings" when there are several."""
        entries = self.library.entries()
        choices = [(_entry_label(entry), entry.doc_id) for entry in entries]
        if len(entries) > 1:
            choices.append((f"All briefings ({len(entries)})", ALL))
        return choices

    def view(self, choice: str, progress: Callable[[str], None] | None = None, **notes) -> BriefingView:
        """The page for `choice`, its bot (and index) made first if none is kept; BriefBotError if it cannot be."""
        briefings = self.bots.bot_for(choice, progress).briefings
        if choice == ALL:
            header, examples = render_header_all(briefings), _interleaved([example_questions(b) for b in briefings])
        else:
            header, examples = render_header(briefings[0]), example_questions(briefings[0])
        removable = self.allow_upload and choice != ALL and self.library.get(choice).removable
        panel = render_briefing(briefings[0])
        return BriefingView(choice, self.choices(), header, panel, examples[:EXAMPLE_SLOTS], removable, **notes)

    def choose(self, choice: str, current: str, progress: Callable[[str], None] | None = None) -> BriefingView:
        """Switch this session to another briefing (a new chat starts); on failure stay where it was."""
        try:
            return self.view(choice, progress)
        except BriefBotError as exc:
            return self._stay(current, f"That briefing cannot be shown: {exc}")

    def upload(self, file: str, current: str, progress: Callable[[str], None] | None = None) -> BriefingView:
        """Add a dropped file to the library and switch this session to it; a bad file changes nothing."""
        name = Path(file).name  # Gradio keeps the uploaded file's own name
        try:
            entry, new = self.add_upload(Path(file), name, progress)
        except BriefBotError as exc:
            return self._stay(current, f"Not added: {exc}")
        kind = entry.format.upper() + (f", {entry.pages} page{'s' * (entry.pages != 1)}" if entry.pages else "")
        done = "Added" if new else "Already in the library:"
        return self.view(entry.doc_id, status=f"{done} “{entry.title}” ({kind}, from {entry.original_name}).")

    def remove(self, current: str) -> BriefingView:
        """Remove this session's uploaded briefing (file and index) and show the default one."""
        if not self.allow_upload:
            return self._stay(current, f"Not removed: {UPLOAD_OFF}")
        try:
            entry = self.library.remove(current)
        except BriefBotError as exc:
            return self._stay(current, f"Not removed: {exc}")
        self.bots.forget(entry.doc_id)
        return self.view(self.default_choice, status=f"Removed “{entry.title}” ({entry.original_name}).")

    def add_upload(self, path: Path, name: str, progress: Callable[[str], None] | None = None) -> tuple[BriefingEntry, bool]:
        """Store and index an uploaded file: (its entry, whether it is new); BriefBotError if it cannot be."""
        if not self.allow_upload:
            raise LibraryError(UPLOAD_OFF)
        report = progress or (lambda message: None)
        report(f"reading {name}…")
        entry, new = self.library.add(path, name)
        try:
            self.bots.bot_for(entry.doc_id, report)  # indexed now, so its first question does not wait for that
        except Exception:
            if new:
                self.library.remove(entry.doc_id)
            raise
        return entry, new

    def _stay(self, current: str, warning: str) -> BriefingView:
        """The page as it was, with a warning; the default briefing if the current one is gone."""
        try:
            return self.view(current, status=f"⚠️ {warning}", warning=warning, new_chat=False)
        except BriefBotError:
            return self.view(self.default_choice, status=f"⚠️ {warning}", warning=warning)

    # --- API ------------------------------------------------------------------------------------

    async def ask(self, question: str, history: list[dict] | None = None, briefing: str | None = None) -> dict:
        """Answer a question about a briefing. `history` is the conversation so far as
        [{"role": "user"|"assistant", "content": str}, ...]; `briefing` a doc_id from /briefings or
        "all" (default: the start-up briefing). Returns Answer.to_dict()."""
        async with self.line.turn():
            return await asyncio.to_thread(self._answer, question, history, briefing)

    def _answer(self, question: str, history: list[dict] | None, briefing: str | None) -> dict:
        try:
            return self.bots.bot_for(briefing or self.default_choice).chat(question, history).to_dict()
        except BriefBotError as exc:
            raise gr.Error(_friendly(exc), title="Question not answered", print_exception=False) from None

    def briefings(self) -> list[dict]:
        """The briefings to ask about, [{"doc_id", "title", "date", "format", "removable"}, ...]
        (removable: uploaded, not given at start-up); a doc_id, or "all", is /ask's `briefing`."""
        return [entry.to_dict() for entry in self.library.entries()]

    def upload_briefing(self, file: FileData) -> dict:
        """Add a briefing file (.txt .md .html .htm .pdf .docx) and index it; returns its /briefings
        entry. An unreadable, empty, binary, too large or unsupported file is refused with a message."""
        path = Path(file["path"])
        try:
            entry, _ = self.add_upload(path, file.get("orig_name") or path.name)
        except BriefBotError as exc:
            raise gr.Error(f"Not added: {exc}", title="Briefing not added", print_exception=False) from None
        return entry.to_dict()


# ---------------------------------------------------------------------------------------------
# The page: layout first, then the events that connect it to the handlers.
# ---------------------------------------------------------------------------------------------

# Example-question buttons; a briefing offering fewer leaves the rest hidden.
EXAMPLE_SLOTS = 4
# Uploads (page and API) read and index one file at a time, waiting their turn in this group.
UPLOAD_QUEUE = "upload"
# UI events stay on the queue (queue=False would drop gr.Error toasts and State-change re-renders)
# but without a concurrency limit, so they never wait behind an answer.
UI = dict(concurrency_limit=None, api_visibility="private")


def build_app(bot: BriefBot, allow_upload: bool | None = None) -> gr.Blocks:
    """The chat UI and the API over `bot`'s briefings and the uploaded ones (queue enabled, not
    launched). `allow_upload`: None follows `settings.allow_upload`; serve() turns it off for a
    server reachable beyond this machine without a login."""
    chat = WebChat(bot, allow_upload)
    with BriefBotBlocks(title="briefbot", fill_width=True) as app:
        page = _layout(chat)
        answering = _wire_asking(chat, page)
        _wire_briefings(chat, page, answering)
        gr.api(chat.ask, api_name="ask", concurrency_limit=None)  # waits in chat.line, not in Gradio's queue
        gr.api(chat.briefings, api_name="briefings", concurrency_limit=None)
        gr.api(chat.upload_briefing, api_name="upload_briefing", concurrency_limit=1, concurrency_id=UPLOAD_QUEUE)
        # Briefings others uploaded since the page was built.
        app.load(lambda: gr.Dropdown(choices=chat.choices()), None, page.picker, **UI)
    if chat.allow_upload:
        app.max_upload_bytes = chat.settings.max_upload_bytes
    app.queue(max_size=MAX_QUEUE_SIZE * UI_QUEUE_FACTOR, default_concurrency_limit=1)
    return app


def _layout(chat: WebChat) -> SimpleNamespace:
    """The page's components, in place; the only event here is the citation buttons' re-draw."""
    first = chat.view(chat.default_choice)
    page = SimpleNamespace(
        choice=gr.State(chat.default_choice),  # this session's briefing: a doc id or "all"
        history=gr.State([]),  # what the engine needs for follow-ups: plain text messages
        turns=gr.State([]),  # one per answered question: its chat position and Answer dict
        selected=gr.State(None),  # which turn's citations are shown under the chat
        pending=gr.State(""),  # the question between "show it" and "answer it"
        busy=gr.State(False),  # an answer or upload is on its way: one at a time per conversation
    )
    with gr.Row(elem_id="briefing-bar", equal_height=False):
        page.picker = gr.Dropdown(
            first.choices, value=first.choice, label="Briefing", elem_id="briefing-choice", scale=3, interactive=True
        )
        page.remove = gr.Button("Remove this briefing", visible=first.removable, elem_id="remove-briefing",
                                size="sm", variant="stop", scale=0, min_width=170)
        page.upload = None
        if chat.allow_upload:
            page.upload = gr.File(
                label=f"Add a briefing ({' '.join(ACCEPTED_SUFFIXES)}, up to {chat.settings.max_upload_mb:g} MB)",
                file_types=list(ACCEPTED_SUFFIXES), elem_id="upload-briefing", scale=2, height=140,
            )
    page.status = gr.Markdown("", elem_id="library-status")
    page.header = gr.HTML(first.header, elem_id="app-header")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            _chat_column(chat, page, first)
        with gr.Column(scale=2, min_width=320, elem_id="briefing-column"):
            page.panel = gr.HTML(first.panel, elem_id="briefing-panel", js_on_load=SCROLL_TO_MARK_JS, container=True, padding=True)
    gr.Markdown(
        f"Backend: {chat.backend_name} · answers come only from the briefing; unsupported sentences are removed.",
        elem_id="status-line",
    )
    return page


def _chat_column(chat: WebChat, page: SimpleNamespace, first: BriefingView) -> None:
    page.chatbot = gr.Chatbot(
        elem_id="chat",
        label="Chat",
        height=520,
        placeholder="Ask about the briefing. Every sentence of an answer is checked against the text and cited.",
        buttons=["copy"],
        feedback_options=None,
        latex_delimiters=[],
        allow_tags=False,
        group_consecutive_messages=False,
    )
    _citation_buttons(chat, page)
    limit = chat.settings.max_question_chars
    with gr.Row():
        page.question = gr.Textbox(
            elem_id="question",
            show_label=False,
            placeholder=f"Your question (up to {limit:,} characters), Enter to send",
            max_length=limit,
            scale=5,
            autofocus=True,
        )
        page.send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-button")
        page.new = gr.Button("New chat", scale=1, min_width=100, elem_id="new-chat")
    with gr.Row(elem_id="examples"):
        shown = first.examples + [""] * (EXAMPLE_SLOTS - len(first.examples))
        page.examples = [
            gr.Button(question, visible=bool(question), size="sm", elem_classes=["example-question"]) for question in shown
        ]


def _citation_buttons(chat: WebChat, page: SimpleNamespace) -> None:
    # Re-drawn when `selected` changes: a new answer selects itself, clicking an older one selects
    # that. One trigger only, so two re-draws of one page never overlap.
    @gr.render(inputs=[page.turns, page.selected], triggers=[page.selected.change], concurrency_limit=None)
    def citation_buttons(turns, selected):
        with gr.Column(elem_id="citations"):
            if selected is None or not turns or selected >= len(turns):
                return
            turn = turns[selected]
            answer, refused = turn["answer"], turn["answer"]["refused"]
            label = "Closest passages (not in the briefing)" if refused else "Sources"
            question = turn["question"] if len(turn["question"]) <= 80 else turn["question"][:79] + "…"
            gr.Markdown(f"**{label}** for “{_md(question)}” · click one to open it in the briefing", elem_id="citations-label")
            with gr.Row():
                for c in answer["citations"]:
                    button = gr.Button(
                        f"[{c['n']}] {c['section']}{_page_label(c.get('page'))}",
                        size="sm",
                        variant="secondary",
                        elem_id=f"citation-{c['n']}",
                        elem_classes=["citation-button", "refused"] if refused else ["citation-button"],
                    )
                    button.click(partial(chat.show_citation, c, refused), [page.choice], page.panel, **UI)


def _wire_asking(chat: WebChat, page: SimpleNamespace) -> list:
    """Asking is two steps: showing the question never waits (no concurrency limit), generating
    waits its turn for the single model in `chat.line`, the chat showing how many are ahead.
    Returns the model steps, so New chat and a briefing switch can cancel one in progress."""
    answering = []

    def wire(checked, typed: bool) -> None:
        step = checked.success(
            partial(chat.show_question, typed=typed), [page.pending, page.chatbot], [page.question, page.chatbot], **UI
        ).success(
            chat.stream_answer, [page.pending, page.chatbot, page.history, page.turns, page.choice],
            [page.chatbot, page.history, page.turns, page.selected],
            concurrency_limit=None, api_visibility="private", show_progress="minimal",  # waits in chat.line
        )
        answering.append(step)
        step.then(lambda: False, None, page.busy, **UI)  # also after an error, so the chat never sticks

    for trigger in (page.question.submit, page.send.click):
        wire(trigger(chat.check_question, [page.question, page.busy], [page.pending, page.busy], **UI), typed=True)
    for button in page.examples:  # a button's value is its label: the question it shows
        wire(button.click(chat.check_question, [button, page.busy], [page.pending, page.busy], **UI), typed=False)

    page.chatbot.select(chat.select_message, [page.turns], [page.selected], **UI)
    reset = [page.chatbot, page.history, page.turns, page.selected, page.question, page.panel, page.busy]
    page.new.click(chat.new_chat, [page.choice], reset, cancels=answering, **UI)
    page.chatbot.clear(chat.new_chat, [page.choice], reset, cancels=answering, **UI)
    return answering


def _view_outputs(page: SimpleNamespace) -> list:
    """What `_shown` fills: the briefing's view, then the conversation it starts."""
    return [page.choice, page.picker, page.header, page.panel, page.remove, page.status, *page.examples,
            page.chatbot, page.history, page.turns, page.selected, page.question, page.busy]


def _shown(view: BriefingView) -> list:
    """A BriefingView as the values of `_view_outputs`."""
    if view.warning:
        gr.Warning(view.warning, title="Briefings")
    picker = gr.Dropdown(choices=view.choices, value=view.choice)
    if not view.new_chat:
        return [gr.skip(), picker, gr.skip(), gr.skip(), gr.skip(), _md(view.status)] + [gr.skip()] * (EXAMPLE_SLOTS + 6)
    examples = [gr.Button(value=q, visible=True) for q in view.examples]
    examples += [gr.Button(visible=False)] * (EXAMPLE_SLOTS - len(examples))
    return [view.choice, picker, view.header, view.panel, gr.Button(visible=view.removable), _md(view.status),
            *examples, [], [], [], None, "", False]


def _wire_briefings(chat: WebChat, page: SimpleNamespace, answering: list) -> None:
    """Picking, uploading and removing a briefing; each re-draws the page for this session only."""
    outputs = _view_outputs(page)

    def choose(choice: str, current: str, progress=gr.Progress()) -> list:
        return _shown(chat.choose(choice, current, _progress_messages(progress)))

    def upload(file: str, current: str, progress=gr.Progress()) -> list:
        return _shown(chat.upload(file, current, _progress_messages(progress))) + [None]  # the drop zone empties

    def remove(current: str) -> list:
        return _shown(chat.remove(current))

    # A switch starts a new chat, so an answer on its way to the old one stops.
    page.picker.input(choose, [page.picker, page.choice], outputs, cancels=answering, show_progress_on=[page.status], **UI)
    page.picker.focus(lambda: gr.Dropdown(choices=chat.choices()), None, page.picker, **UI)
    page.remove.click(remove, [page.choice], outputs, cancels=answering, **UI)
    if page.upload is not None:
        # While a file is read and indexed the conversation is busy: no answer may land in the chat
        # the upload is about to replace.
        claimed = page.upload.upload(chat.claim, [page.busy], [page.busy], **UI)
        claimed.success(
            upload, [page.upload, page.choice], [*outputs, page.upload],
            concurrency_limit=1, concurrency_id=UPLOAD_QUEUE, api_visibility="private", show_progress_on=[page.status],
        ).then(lambda: False, None, page.busy, **UI)


# ---------------------------------------------------------------------------------------------
# Serving.
# ---------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname other than localhost may resolve to anything


def auth_from(settings: Settings) -> tuple[str, str] | None:
    """BRIEFBOT_AUTH=user:password (split at the first colon) turns on Gradio's login page."""
    value = (settings.auth or "").strip()
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ServeError("BRIEFBOT_AUTH must look like user:password (both non-empty)")
    return user, password


def upload_allowed(settings: Settings, host: str, auth: tuple[str, str] | None) -> bool:
    """Uploads need `allow_upload`, and a login wherever people beyond this machine can reach the server:
    anyone on the network could otherwise fill the disk and read what others uploaded."""
    return settings.allow_upload and (_is_loopback(host) or auth is not None)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    insecure_no_auth: bool = False,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Load the engine (printing progress) and run the web chat until Ctrl-C."""
    progress = progress or (lambda message: log.info(message))
    auth = auth_from(settings)
    # Refuse before the slow model load, so a wrong command fails in a second.
    if not _is_loopback(host) and auth is None:
        if not insecure_no_auth:
            raise ServeError(
                f"refusing to listen on {host} without a login: anyone who can reach this machine could use it. "
                "Set BRIEFBOT_AUTH=user:password, or pass --insecure-no-auth if the network is trusted "
                "(the default --host 127.0.0.1 is only reachable from this machine)."
            )
        progress(f"WARNING: listening on {host} without a login (--insecure-no-auth); uploading briefings is off")
    _check_port_free(host, port)

    started = time.perf_counter()
    progress("starting briefbot (the first start builds the index and can take a minute)…")
    # A crash in native code still prints the Python stacks of what was running, and the model runs
    # in a worker process: a crash there costs one answer, not the server (backends/worker.py).
    faulthandler.enable()
    bot = BriefBot.from_settings(settings, progress=progress, isolated_backend=True)
    progress(f"engine ready in {time.perf_counter() - started:.1f} s")
    app = build_app(bot, allow_upload=upload_allowed(settings, host, auth))
    try:
        app.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            auth_message="Sign in to ask about the briefing." if auth else None,
            quiet=True,
            prevent_thread_lock=True,  # so "serving on" is printed only once the port is really open
        )
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from exc
    shown_host = f"[{host}]" if ":" in host else host
    progress(f"serving on http://{shown_host}:{port}" + (" (login required)" if auth else "") + "; Ctrl-C stops")
    app.block_thread()  # until Ctrl-C, which closes the server

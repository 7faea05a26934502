"""The web chat: ask about the briefing, read the cited passage highlighted beside the answer.

Start it with `briefbot serve` (http://127.0.0.1:7860). Each answer lists its numbered citations
as buttons; clicking one opens the briefing beside the chat, scrolled to the cited span
(`briefing.text[start:end]`) inside a `<mark class="citation-mark">`. Refused answers carry a
"Not in the briefing" badge and list the closest passages instead.

Many people can use one server: every browser tab has its own conversation (gr.State), and the
queue runs one answer at a time because there is one local model; the others see their place.

The same server answers programs through `gradio_client` (endpoint `/ask`, returns `Answer.to_dict()`):

    from gradio_client import Client

    client = Client("http://127.0.0.1:7860/")  # with BRIEFBOT_AUTH=user:pass add auth=("user", "pass")
    answer = client.predict("How many Tajik border guards are on patrol today?", [], api_name="/ask")
    print(answer["text"])
    for c in answer["citations"]:
        print(f'[{c["n"]}] {c["section"]} ({c["start"]}-{c["end"]}): {c["quote"]}')

    # A follow-up passes the conversation so far; `standalone_question` is what was searched for.
    history = [
        {"role": "user", "content": "How many Tajik border guards are on patrol today?"},
        {"role": "assistant", "content": answer["text"]},
    ]
    follow_up = client.predict("Who trained them?", history, api_name="/ask")
    print(follow_up["standalone_question"], follow_up["refused"])

A question the engine rejects (empty, too long, malformed history) raises
`gradio_client.exceptions.AppError` with a readable message; a request body over
MAX_REQUEST_BYTES (2 MB) is answered with HTTP 413 before Gradio reads it.
"""

from __future__ import annotations

import faulthandler
import html
import ipaddress
import json
import logging
import re
import socket
import time
from functools import partial
from typing import Callable

import gradio as gr
from starlette.middleware import Middleware

from briefbot.answer import Answer
from briefbot.bot import BriefBot
from briefbot.briefing import Briefing
from briefbot.errors import BriefBotError
from briefbot.settings import Settings

log = logging.getLogger("briefbot.web")

# Shown under the question box; the last one is deliberately outside the briefing.
EXAMPLE_QUESTIONS = [
    "How many Tajik border guards are on patrol today?",
    "Why is the Kremlin courting the Taliban?",
    "Which countries took part in the April consultations in Moscow?",
    "What is the population of Tajikistan?",
]

# Waiting requests beyond this are turned away with "queue full" instead of piling up for minutes.
MAX_QUEUE_SIZE = 24
# Largest request body the server reads. A question at the highest max_question_chars (100,000),
# JSON-escaped at up to 6 bytes a character, plus a long conversation fits; a bigger body is
# refused with 413 before it is parsed, queued or held in memory.
MAX_REQUEST_BYTES = 2 * 1024 * 1024
# Page events (New chat, citation clicks) wait in the same Gradio queue; they get this much more room.
UI_QUEUE_FACTOR = 4
# Every event that runs the model shares this concurrency group: one answer at a time.
MODEL_QUEUE = "model"


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


def _escaped_span(text: str, lo: int, hi: int, headings: list[tuple[int, int]]) -> str:
    """text[lo:hi] escaped, with heading lines wrapped in spans (cut at lo/hi so tags nest)."""
    out, position = [], lo
    for start, end in headings:
        start, end = max(start, lo), min(end, hi)
        if start >= end or start < position:
            continue
        out.append(_html(text[position:start]))
        out.append(f'<span class="briefing-heading">{_html(text[start:end])}</span>')
        position = end
    out.append(_html(text[position:hi]))
    return "".join(out)


def render_briefing(briefing: Briefing, citation: dict | None = None, refused: bool = False) -> str:
    """The briefing as HTML; with a citation, exactly text[start:end] is inside one <mark>.

    The text keeps its own line breaks (CSS white-space: pre-wrap), so the character offsets of
    the engine map one to one onto what is shown, and a span may cross paragraphs.
    """
    text = briefing.text
    headings = _heading_ranges(briefing)
    if citation is None:
        caption = "Click a numbered citation under an answer to see the passage here."
        body = _escaped_span(text, 0, len(text), headings)
    else:
        start, end = int(citation["start"]), int(citation["end"])
        if not (0 <= start <= end <= len(text)):
            raise ValueError(f"citation span {start}:{end} is outside the briefing")
        kind = "Closest passage" if refused else "Citation"
        caption = f"{kind} [{citation['n']}] · {citation['section']} · characters {start}–{end}"
        mark_class = "citation-mark refused" if refused else "citation-mark"
        body = (
            _escaped_span(text, 0, start, headings)
            + f'<mark id="citation-mark" class="{mark_class}" data-n="{int(citation["n"])}"'
            + f' data-start="{start}" data-end="{end}" data-chunk="{_html(str(citation["chunk_id"]))}">'
            + _escaped_span(text, start, end, headings)
            + "</mark>"
            + _escaped_span(text, end, len(text), headings)
        )
    return (
        f'<div class="briefing-panel" data-doc="{_html(briefing.doc_id)}">'
        f'<div class="briefing-caption">{_html(caption)}</div>'
        f'<div class="briefing-scroll"><div class="briefing-text">{body}</div></div>'
        "</div>"
    )


def render_header(briefing: Briefing) -> str:
    date = f'<span class="briefing-date">{_html(briefing.date)}</span>' if briefing.date else ""
    lede = f'<p class="briefing-lede">{_html(briefing.lede)}</p>' if briefing.lede else ""
    return f'<div class="app-header"><h1>{_html(briefing.title)}</h1>{date}{lede}</div>'


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
        listed = " · ".join(f"\\[{c['n']}\\] {_md(c['section'])}" for c in data["citations"])
        parts.append(f'<span class="sources-line">{label}: {listed}</span>')
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The app.
# ---------------------------------------------------------------------------------------------

CSS = """
.app-header h1 { margin: 0 0 2px 0; font-size: 1.45rem; }
.app-header .briefing-date { color: var(--body-text-color-subdued); font-size: .9rem; }
.app-header .briefing-lede { margin: 4px 0 0 0; color: var(--body-text-color-subdued); font-style: italic; }
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
    telemetry or run history, and the app's CSS (Gradio 6 takes CSS in launch, not in Blocks)."""

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
        max_file_size="1mb",  # nothing is uploaded; keep stray uploads small
    )

    def launch(self, *args, **kwargs):
        for name, value in self.LAUNCH_DEFAULTS.items():
            kwargs.setdefault(name, value)
        app_kwargs = dict(kwargs.get("app_kwargs") or {})
        app_kwargs["middleware"] = [Middleware(RequestSizeLimit), *app_kwargs.get("middleware", [])]
        kwargs["app_kwargs"] = app_kwargs
        if kwargs["share"]:
            raise ServeError("briefbot never creates public share links")
        return super().launch(*args, **kwargs)


class RequestSizeLimit:
    """ASGI middleware: a request body over `max_bytes` gets a 413 with a readable message.

    Gradio's `max_file_size` covers uploads only; the JSON of an API call or a queued event has no
    limit of its own. The body is read here (never more than `max_bytes` of it is kept) and handed
    on, so a chunked body without a Content-Length is counted too.
    """

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before finishing the request
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
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

    async def _refuse(self, send) -> None:
        limit = f"{self.max_bytes / 1024 / 1024:g} MB"
        body = json.dumps(
            {"error": f"The request is larger than the server accepts ({limit}). Send a shorter question or history."}
        ).encode()
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


def _friendly(exc: BriefBotError) -> str:
    return _sentence_case(str(exc)) or "The question could not be answered."


def build_app(bot: BriefBot) -> gr.Blocks:
    """The chat UI and the `/ask` API for one BriefBot (queue enabled, not launched)."""
    settings = bot.settings
    limit = settings.max_question_chars
    briefing = bot.briefing

    def briefing_of(citation: dict) -> Briefing:
        try:
            return bot.index.briefing_for(citation["chunk_id"])
        except KeyError:
            return briefing

    # --- event handlers (closures over `bot`; everything per user lives in gr.State) ---------

    def check_question(question: str, busy: bool) -> tuple:
        """Accept the question or refuse it with a toast; nothing reaches the model queue on refusal.

        Its outputs are States only: a gr.Error then shows as a toast and not as an "Error"
        overlay over the chat, and `.success()` stops the chain.
        """
        if busy:
            raise gr.Error(
                "Please wait until the current answer is finished.", title="Still answering", print_exception=False
            )
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

    def show_question(question: str, chat: list, typed: bool = True) -> tuple:
        """Show the question at once, even while other people's answers are being generated."""
        chat = list(chat or []) + [{"role": "user", "content": _md(question)}]
        # An example button leaves whatever the user was typing in the box alone.
        return "" if typed else gr.skip(), chat

    def stream_answer(question: str, chat: list, history: list, turns: list):
        """Stream the verified answer into the chat; finally record the turn and its citations."""
        chat = list(chat) + [{"role": "assistant", "content": "…"}]
        yield chat, history, turns, gr.skip()
        answer, text = None, ""
        try:
            for item in bot.stream(question, history):
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
        history = list(history) + [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
        turns = list(turns) + [{"message": len(chat) - 1, "question": question, "answer": answer.to_dict()}]
        yield chat, history, turns, len(turns) - 1

    def select_message(turns: list, evt: gr.SelectData):
        """Clicking an earlier answer (or its question) shows that answer's citations."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        for number, turn in enumerate(turns):
            if index in (turn["message"], turn["message"] - 1):
                return number
        return gr.skip()

    def show_citation(citation: dict, refused: bool) -> str:
        return render_briefing(briefing_of(citation), citation, refused)

    def new_chat():
        return [], [], [], None, "", render_briefing(briefing), False

    def ask(question: str, history: list[dict] | None = None) -> dict:
        """Answer a question about the briefing. `history` is the conversation so far as
        [{"role": "user"|"assistant", "content": str}, ...]; returns Answer.to_dict()."""
        try:
            return bot.chat(question, history).to_dict()
        except BriefBotError as exc:
            raise gr.Error(_friendly(exc), title="Question not answered", print_exception=False) from None

    # --- layout ----------------------------------------------------------------------------

    with BriefBotBlocks(title=f"briefbot · {briefing.title}", fill_width=True) as app:
        history = gr.State([])  # what the engine needs for follow-ups: plain text messages
        turns = gr.State([])  # one per answered question: its chat position and Answer dict
        selected = gr.State(None)  # which turn's citations are shown under the chat
        pending = gr.State("")  # the question between "show it" and "answer it"
        busy = gr.State(False)  # an answer is on its way: one question at a time per conversation

        gr.HTML(render_header(briefing), js_on_load=None, elem_id="app-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
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

                # Re-drawn when `selected` changes: a new answer selects itself, clicking an older one
                # selects that. One trigger only, so two re-draws of one page never overlap.
                @gr.render(inputs=[turns, selected], triggers=[selected.change], concurrency_limit=None)
                def citation_buttons(turns_value, selected_value):
                    with gr.Column(elem_id="citations"):
                        if selected_value is None or not turns_value or selected_value >= len(turns_value):
                            return
                        turn = turns_value[selected_value]
                        answer, refused = turn["answer"], turn["answer"]["refused"]
                        label = "Closest passages (not in the briefing)" if refused else "Sources"
                        question = turn["question"] if len(turn["question"]) <= 80 else turn["question"][:79] + "…"
                        gr.Markdown(
                            f"**{label}** for “{_md(question)}” · click one to open it in the briefing",
                            elem_id="citations-label",
                        )
                        with gr.Row():
                            for c in answer["citations"]:
                                button = gr.Button(
                                    f"[{c['n']}] {c['section']}",
                                    size="sm",
                                    variant="secondary",
                                    elem_id=f"citation-{c['n']}",
                                    elem_classes=["citation-button", "refused"] if refused else ["citation-button"],
                                )
                                button.click(
                                    partial(show_citation, c, refused), None, panel,
                                    concurrency_limit=None, api_visibility="private",
                                )

                with gr.Row():
                    question_box = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder=f"Your question (up to {limit:,} characters), Enter to send",
                        max_length=limit,
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-button")
                    new = gr.Button("New chat", scale=1, min_width=100, elem_id="new-chat")
                with gr.Row(elem_id="examples"):
                    example_buttons = [gr.Button(q, size="sm", elem_classes=["example-question"]) for q in EXAMPLE_QUESTIONS]

            with gr.Column(scale=2, min_width=320, elem_id="briefing-column"):
                panel = gr.HTML(
                    render_briefing(briefing),
                    elem_id="briefing-panel",
                    js_on_load=SCROLL_TO_MARK_JS,
                    container=True,
                    padding=True,
                )
        gr.Markdown(
            f"Backend: {bot.backend.name} · answers come only from the briefing; unsupported sentences are removed.",
            elem_id="status-line",
        )

        # --- events ------------------------------------------------------------------------
        # Asking is two steps: showing the question never waits (no concurrency limit), generating
        # waits its turn for the single model, and Gradio shows the waiting user their queue position.
        # UI events stay on the queue (queue=False would drop gr.Error toasts and State-change
        # re-renders) but without a concurrency limit, so they never wait behind an answer.
        ui = dict(concurrency_limit=None, api_visibility="private")
        answering = []  # the model steps, so "New chat" can cancel one in progress

        def wire_ask(checked, typed: bool) -> None:
            step = checked.success(
                partial(show_question, typed=typed), [pending, chatbot], [question_box, chatbot], **ui
            ).success(
                stream_answer, [pending, chatbot, history, turns], [chatbot, history, turns, selected],
                concurrency_limit=1, concurrency_id=MODEL_QUEUE, api_visibility="private",
                show_progress="minimal",
            )
            answering.append(step)
            step.then(lambda: False, None, busy, **ui)  # also after an error, so the chat never sticks

        for trigger in (question_box.submit, send.click):
            wire_ask(trigger(check_question, [question_box, busy], [pending, busy], **ui), typed=True)
        for button, example in zip(example_buttons, EXAMPLE_QUESTIONS):
            wire_ask(button.click(partial(check_question, example), [busy], [pending, busy], **ui), typed=False)

        chatbot.select(select_message, [turns], [selected], **ui)
        reset_out = [chatbot, history, turns, selected, question_box, panel, busy]
        new.click(new_chat, None, reset_out, cancels=answering, **ui)
        chatbot.clear(new_chat, None, reset_out, cancels=answering, **ui)

        gr.api(ask, api_name="ask", concurrency_limit=1, concurrency_id=MODEL_QUEUE)

    app.queue(max_size=MAX_QUEUE_SIZE * UI_QUEUE_FACTOR, default_concurrency_limit=1)
    _bound_model_queue(app)
    return app


def _bound_model_queue(app: gr.Blocks) -> None:
    """Apply MAX_QUEUE_SIZE to questions waiting for the model only.

    Gradio's max_size counts every waiting event, so a full model queue would also refuse "New chat"
    and citation clicks. Hand-written over Gradio internals (`Queue.push`, its per-concurrency-id
    queues; gradio is pinned) because Gradio has no per-group size limit.
    """
    from gradio.route_utils import get_fn

    queue = app._queue
    push = queue.push

    async def push_bounded(body, request, username):
        try:
            fn = get_fn(app, None, body)
        except Exception:
            return await push(body, request, username)  # Gradio reports a bad request itself
        waiting = queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
        if fn.concurrency_id == MODEL_QUEUE and waiting is not None and len(waiting.queue) >= MAX_QUEUE_SIZE:
            return False, f"Queue is full: {len(waiting.queue)} questions are waiting. Please try again in a minute.", "queue_full"
        return await push(body, request, username)

    queue.push = push_bounded


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
        progress(f"WARNING: listening on {host} without a login (--insecure-no-auth)")
    _check_port_free(host, port)

    started = time.perf_counter()
    progress("starting briefbot (the first start builds the index and can take a minute)…")
    # A crash in native code still prints the Python stacks of what was running, and the model runs
    # in a worker process: a crash there costs one answer, not the server (backends/worker.py).
    faulthandler.enable()
    bot = BriefBot(settings, progress=progress, isolated_backend=True)
    progress(f"engine ready in {time.perf_counter() - started:.1f} s")
    app = build_app(bot)
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

"""The `briefbot` command: parses flags, calls the library, prints. No logic of its own."""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing
from pathlib import Path

from briefbot.briefing import SUPPORTED_FORMATS
from briefbot.settings import Settings

FORMATS = " ".join(SUPPORTED_FORMATS)


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """Every Settings field is also a flag: --top-k 6 wins over BRIEFBOT_TOP_K=6, which wins over the default."""
    group = parser.add_argument_group("settings (each also as BRIEFBOT_<NAME> env var)")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        annotation = field.annotation
        choices = None
        if typing.get_origin(annotation) is list:
            # A list setting is a repeatable singular flag: --briefing a.pdf --briefing b.html.
            group.add_argument(
                flag.removesuffix("s"), dest=f"setting_{name}", type=typing.get_args(annotation)[0], action="append", default=None,
                metavar="FILE", help=f"{field.description} (repeatable)",
            )
            continue
        if typing.get_origin(annotation) is typing.Literal:
            choices, kind = typing.get_args(annotation), str
        else:
            kinds = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
            kind = kinds[0] if kinds[0] in (int, float, str, Path) else str
        group.add_argument(
            flag, dest=f"setting_{name}", type=kind, choices=choices, default=None, metavar=None if choices else name.upper(),
            help=f"{field.description} (default: {field.default})",
        )


def settings_from(args: argparse.Namespace) -> Settings:
    given = {k.removeprefix("setting_"): v for k, v in vars(args).items() if k.startswith("setting_") and v is not None}
    if getattr(args, "files", None):
        given["briefings"] = [*given.get("briefings", []), *args.files]
    return Settings(**given)


class _VersionAction(argparse.Action):
    """Like argparse's version action, but the line depends on the settings (env vars and defaults)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from briefbot.about import version_line

        print(_shown(version_line(Settings())))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefbot",
        description="Ask questions about a briefing; every answer cites exact, verified passages.",
    )
    parser.add_argument(
        "--version", action=_VersionAction,
        help="print briefbot's version, the llama.cpp build features, the model file and its hash, the index and threads",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    files_help = f"briefing files ({FORMATS}); these alone are answered about (default: BRIEFBOT_BRIEFINGS, else the shipped briefing)"
    index = commands.add_parser("index", help="read the briefings and build their index (rebuilt only when something changed)")
    index.add_argument("files", nargs="*", type=Path, metavar="FILE", help=files_help)

    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the Answer as one JSON object")

    chat = commands.add_parser("chat", help="chat in the terminal (follow-up questions work; empty line or Ctrl-D ends)")
    chat.add_argument("files", nargs="*", type=Path, metavar="FILE", help=files_help)

    bench = commands.add_parser("bench", help="time index build, cold start, retrieval, first token, answers and RSS; compare the naive baseline")
    bench.add_argument("--limit", type=int, default=None, help="only the first N standalone questions")
    bench.add_argument("--json", action="store_true", help="print the numbers as JSON")
    bench.add_argument("--no-baseline", action="store_true", help="skip timing the naive llama-index baseline")
    bench.add_argument("--baseline-reset", type=int, default=4, metavar="N",
                       help="also time the baseline on the first N questions with the model context reset first (default 4)")

    evaluate = commands.add_parser(
        "eval",
        help="run the question set and score it: LLM-free metrics, and with --judge faithfulness and answer relevancy (ragas)",
    )
    evaluate.add_argument(
        "--dataset", type=Path, default=None,
        help="question set: JSONL (default: the packaged briefbot/eval/data/dataset.jsonl), or SQuAD 2.0 JSON, where each article is one briefing with an index of its own",
    )
    evaluate.add_argument(
        "--per-article", type=int, default=None, metavar="N",
        help="SQuAD: questions per article, answerable and unanswerable in the article's proportion, drawn with --seed (default: 12)",
    )
    evaluate.add_argument("--articles", default=None, metavar="LIST", help="SQuAD: comma-separated article titles (default: every article, or those of --split)")
    evaluate.add_argument("--split", choices=("tune", "held_out"), default=None, help="SQuAD: only the articles of this split of briefbot/eval/data/squad-split.json")
    evaluate.add_argument(
        "--labels", type=Path, default=None, metavar="PATH",
        help="hand labels of shown sentences, JSONL of {sentence_id, system, supported}: the report gives the unsupported-claim rate "
        "(default: 'not labelled')",
    )
    evaluate.add_argument("--limit", type=int, default=None, help="JSONL: only the first N questions (0: none, e.g. with --calibrate-judge)")
    evaluate.add_argument(
        "--out", type=Path, default=Path("eval/runs/latest"),
        help="where samples.jsonl, summary.json, judge_calls.jsonl, report.md/.html and plots/ go",
    )
    evaluate.add_argument(
        "--systems", default=None, metavar="LIST",
        help="comma-separated systems side by side: briefbot-local, briefbot-extractive, briefbot-openai, briefbot-fake, baseline "
        "(naive llama-index RAG on the same model) (default: briefbot-<backend>)",
    )
    evaluate.add_argument(
        "--judge", choices=("local", "openai", "stub", "none"), default="none",
        help="LLM judge: local GGUF via llama.cpp, an OpenAI-compatible server, a deterministic stub (CI), none (default: none; "
        "a SQuAD run has none)",
    )
    evaluate.add_argument(
        "--judge-metrics", default="faithfulness,answer_relevancy", metavar="LIST",
        help="judged metrics, comma-separated from faithfulness, answer_relevancy, context_precision, context_recall "
        "(default: faithfulness,answer_relevancy; context precision/recall are always scored LLM-free on the reference spans)",
    )
    evaluate.add_argument("--judge-cache", type=Path, default=None, help="judge output cache (default: <cache-dir>/judge)")
    evaluate.add_argument("--judge-model-path", type=Path, default=None, help="GGUF for the local judge (default: the model of --model-path, else the default Qwen)")
    evaluate.add_argument("--judge-base-url", default=None, help="OpenAI-compatible judge server (default: BRIEFBOT_JUDGE_BASE_URL, else --openai-base-url)")
    evaluate.add_argument("--judge-model", default=None, help="model name on the judge server (default: BRIEFBOT_JUDGE_MODEL, else --openai-model)")
    evaluate.add_argument("--judge-api-key", default=None, help="judge server API key (default: BRIEFBOT_JUDGE_API_KEY, else --openai-api-key)")
    evaluate.add_argument(
        "--calibrate-judge", action="store_true",
        help="also score the judge on hand-labelled statement/passage pairs (balanced accuracy; faithfulness is flagged below 0.75)",
    )
    evaluate.add_argument("--calibration", type=Path, default=None, help="calibration pairs JSONL (default: briefbot/eval/data/judge_calibration.jsonl)")
    evaluate.add_argument("--calibration-limit", type=int, default=None, help="only the first N calibration pairs")

    serve = commands.add_parser("serve", help="web chat for staff, with clickable citations and briefing upload (http://127.0.0.1:7860)")
    serve.add_argument("files", nargs="*", type=Path, metavar="FILE", help=files_help)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    serve.add_argument(
        "--insecure-no-auth", action="store_true",
        help="allow a non-loopback --host without BRIEFBOT_AUTH=user:password (trusted networks only)",
    )

    for sub in commands.choices.values():
        _settings_flags(sub)
    return parser


# C0 and C1 control characters except newline and tab: ESC, CSI and OSC sequences in a briefing
# (which the model may copy into an answer) would otherwise recolour, retitle or rewrite the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    """Text from briefings, the model or the user, safe to print: control characters made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _progress(message: str) -> None:
    print(f"· {_shown(message)}", file=sys.stderr, flush=True)


def _print_citations(answer) -> None:
    for c in answer.citations:
        # One line per citation: the offsets give the exact span, the terminal gets it unwrapped.
        quote = " ".join(c.quote.split())
        quote = quote if len(quote) <= 300 else quote[:297] + "…"
        where = f"p. {c.page}, chars" if c.page else "chars"
        print(f"  [{c.n}] {_shown(c.section)} ({where} {c.start}–{c.end}): {_shown(quote)}")


def run_index(args, settings: Settings) -> int:
    from briefbot.index import open_index

    index = open_index(settings, progress=_progress)
    manifest = index.manifest
    print(f"index: {index.root} ({manifest['chunks']} chunks, chunking {manifest['chunking']})")
    for source in manifest["sources"]:
        print(f"  {source['doc_id']} [{source['format']}]: {_shown(source['title'])} {_shown(source['date'])} ({source['chars']:,} chars)")
    return 0


def run_ask(args, settings: Settings) -> int:
    from briefbot import BriefBot
    from briefbot.bot import validate_question

    # Before the models load: a mistyped question fails in a fraction of a second, not ten.
    question = validate_question(args.question, settings.max_question_chars)
    bot = BriefBot.from_settings(settings, progress=_progress)
    if args.json:
        print(json.dumps(bot.ask(question).to_dict(), ensure_ascii=False, indent=2))
        return 0
    answer = None
    for item in bot.stream(question):
        if isinstance(item, str):
            print(_shown(item), end="", flush=True)
        else:
            answer = item
    print()
    _print_citations(answer)
    return 0


def run_chat(args, settings: Settings) -> int:
    from briefbot import BriefBot
    from briefbot.errors import BriefBotError

    bot = BriefBot.from_settings(settings, progress=_progress)
    if hasattr(sys.stdin, "reconfigure"):
        # Undecodable input bytes become lone surrogates, which validation drops, as it does for
        # `ask` arguments; a strict UTF-8 locale would otherwise end the chat with a traceback.
        sys.stdin.reconfigure(errors="surrogateescape")
    print(f"{_shown(bot.briefing.title)} ({_shown(bot.briefing.date)}). Ask a question; an empty line ends.")
    history: list[dict] = []
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        answer = None
        print("briefbot> ", end="", flush=True)
        try:
            for item in bot.stream(question, history):
                if isinstance(item, str):
                    print(_shown(item), end="", flush=True)
                else:
                    answer = item
        except BriefBotError as exc:
            print(f"\n{_shown(str(exc))}")
            continue
        print()
        if answer.standalone_question != question:
            print(f"  (searched for: {_shown(answer.standalone_question)})")
        _print_citations(answer)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def run_eval(args, settings: Settings) -> int:
    from briefbot.eval.dataset import DEFAULT_DATASET
    from briefbot.eval.metrics import JUDGED_KEYS
    from briefbot.eval.suite import run_suite

    systems = [s.strip() for s in (args.systems or f"briefbot-{settings.backend}").split(",") if s.strip()]
    judge_options = {}
    if args.judge == "local" and args.judge_model_path:
        judge_options["model_path"] = args.judge_model_path
    if args.judge == "openai":
        judge_options.update(base_url=args.judge_base_url, model=args.judge_model, api_key=args.judge_api_key)
    try:
        _, summary = run_suite(
            settings,
            systems,
            judge_kind=args.judge,
            dataset=args.dataset or DEFAULT_DATASET,
            limit=args.limit,
            out_dir=args.out,
            judge_metrics=[m.strip() for m in args.judge_metrics.split(",") if m.strip()],
            judge_cache=args.judge_cache,
            judge_options=judge_options,
            calibrate=args.calibrate_judge,
            calibration_path=args.calibration,
            calibration_limit=args.calibration_limit,
            progress=_progress,
            per_article=args.per_article,
            articles=tuple(a.strip() for a in (args.articles or "").split(",") if a.strip()),
            split=args.split,
            labels_path=args.labels,
        )
    except ValueError as exc:
        print(f"briefbot: {exc}", file=sys.stderr)
        return 2
    for name, system in summary["systems"].items():
        print(f"{name}:")
        for key, stats in system["metrics"].items():
            if stats["n"] or stats["failed"]:
                failed = f", failed {stats['failed']} ({stats['failure_rate']:.1%})" if key in JUDGED_KEYS else ""
                print(f"  {key:<26} {stats['mean']!s:<8} n={stats['n']}{failed}")
    _print_articles(summary)
    if summary["calibration"]:
        c = summary["calibration"]
        print(f"judge calibration: balanced accuracy {c['balanced_accuracy']} on {c['pairs']} pairs ({c['failures']} failures)")
    trust = summary["faithfulness_trust"]
    if trust["status"] in ("untrustworthy", "uncalibrated"):
        print(f"faithfulness: {trust['status'].upper()} (threshold {trust['threshold']})")
    print(f"results: {args.out}/summary.json, samples.jsonl, report.md, report.html")
    return 0


def _print_articles(summary: dict) -> None:
    articles = summary.get("articles")
    if not articles:
        return
    print("per article (answerable: correct, F1, false refusals; unanswerable: abstention):")
    rows = [(title, by_system) for title, by_system in articles["per_article"].items()] + [("overall", articles["overall"])]
    for title, by_system in rows:
        for name, s in by_system.items():
            print(f"  {title:<32} {name:<20} n={s['answerable']}+{s['unanswerable']}  correct {s['correct']!s:<6} F1 {s['f1']!s:<6} "
                  f"false refusals {s['false_refusals']!s:<6} abstention {s['abstention']}")


def run_bench(args, settings: Settings) -> int:
    from briefbot.eval.bench import print_report, run_bench

    print_report(run_bench(settings, limit=args.limit, baseline=not args.no_baseline, cold_baseline=args.baseline_reset, progress=_progress), args.json)
    return 0


def run_serve(args, settings: Settings) -> int:
    from briefbot.web import serve

    serve(settings, host=args.host, port=args.port, insecure_no_auth=args.insecure_no_auth, progress=_progress)
    return 0


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from briefbot.errors import BriefBotError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # inside: --version reads the settings
        settings = settings_from(args)
        return {"index": run_index, "ask": run_ask, "chat": run_chat, "eval": run_eval, "serve": run_serve, "bench": run_bench}[args.command](args, settings)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"briefbot: invalid setting: {problems}", file=sys.stderr)
        return 2
    except BriefBotError as exc:
        print(f"briefbot: {_shown(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

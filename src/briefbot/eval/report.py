"""The evaluation report: report.md and a self-contained report.html, with plots (matplotlib).

Plots: metric means per system side by side, per-metric distributions, per-question bars. The
report states the judge (model hash, parameters), each judged metric's failure rate beside its mean,
and flags faithfulness as untrustworthy when the judge's calibration is below the threshold. A SQuAD
run adds a per-article table; the unsupported-claim rate among shown sentences needs hand labels and
reads "not labelled" without them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

from briefbot.eval.calibration import Calibration
from briefbot.eval.metrics import METRICS
from briefbot.eval.records import SampleRecord

HEADLINES = [
    ("correct", "correct (all)"),
    ("correct_answerable", "correct (answerable)"),
    ("false_refusals", "false refusals (answerable)"),
    ("refusal_accuracy_unanswerable", "abstention (unanswerable)"),
    ("citations_exact", "citations exact"),
    ("citation_hits_reference", "citation hits reference"),
    ("recall_at_k", "retrieval recall@k"),
    ("answer_seconds_p50", "answer seconds p50"),
    ("answer_seconds_p95", "answer seconds p95"),
    ("judge_seconds_uncached", "judge seconds (uncached, total)"),
]
DISTRIBUTION_METRICS = [
    "faithfulness", "answer_relevancy", "context_precision", "context_recall", "nonllm_context_precision",
    "nonllm_context_recall", "id_context_precision", "id_context_recall", "evidence_precision", "evidence_recall", "f1",
]
PER_QUESTION_METRICS = ["correct", "faithfulness", "answer_relevancy", "evidence_recall"]
LABELS = {key: label for key, label, _, _ in METRICS}
TIERS = {key: tier for key, _, tier, _ in METRICS}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(stats: dict, judged: bool) -> str:
    if not stats or (stats["n"] == 0 and stats["failed"] == 0):
        return "–"
    text = f"{_fmt(stats['mean'])} (n={stats['n']}"
    if judged:
        text += f", failed {stats['failed']} = {stats['failure_rate'] * 100:.1f}%"
    return text + ")"


def _metric_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    systems = list(summary["systems"])
    untrusted = summary.get("faithfulness_trust", {}).get("status") in ("untrustworthy", "uncalibrated")
    rows = []
    for key, label, tier, _ in METRICS:
        cells = [_cell(summary["systems"][name]["metrics"].get(key) or {}, tier == "judge") for name in systems]
        if all(c == "–" for c in cells):
            continue
        if key == "faithfulness" and untrusted:
            label += " ⚠"
        rows.append([label, tier, *cells])
    return ["metric", "tier", *systems], rows


def _claims_cell(audit: dict | None) -> str:
    """The rate needs an independent judge's labels; without them it is left open, not estimated."""
    if not audit or not audit["labelled"]:
        return "not labelled"
    return f"{_fmt(audit['rate'])} ({audit['unsupported']} of {audit['labelled']} labelled; {audit['shown']} shown)"


def _headline_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    systems = list(summary["systems"])
    rows = [[label, *[_fmt(summary["systems"][s].get(key)) for s in systems]] for key, label in HEADLINES]
    rows.append(["unsupported claims (shown sentences)", *[_claims_cell(summary["systems"][s].get("unsupported_claims")) for s in systems]])
    return ["", *systems], rows


def _article_rows(articles: dict) -> tuple[list[str], list[list[str]]]:
    def row(article: str, system: str, scores: dict) -> list[str]:
        return [
            article, system, str(scores["answerable"]), str(scores["unanswerable"]), _fmt(scores["correct"]), _fmt(scores["f1"]),
            _fmt(scores["abstention"]), _fmt(scores["false_refusals"]), _claims_cell(scores["claims"]),
        ]

    rows = [row(title, system, scores) for title, by_system in articles["per_article"].items() for system, scores in by_system.items()]
    rows += [row("overall (pooled)", system, scores) for system, scores in articles["overall"].items()]
    headers = ["article", "system", "answerable", "unanswerable", "correct (answerable)", "F1 (answerable)",
               "abstention (unanswerable)", "false refusals (answerable)", "unsupported claims"]
    return headers, rows


SQUAD_NOTES = [
    "Correct: a gold answer, SQuAD-normalised (lower case, punctuation and a/an/the removed, whitespace collapsed), "
    "stands as whole words in the normalised answer (a possessive 's and each side of a dash count as words of their own), "
    "citation markers removed first; a refusal is never correct.",
    "F1: SQuAD's token F1 against the closest gold answer, over the answerable questions; a refusal scores 0. "
    "briefbot answers in whole sentences, so F1's precision stays low even when the answer is right: read it beside 'correct'.",
    "Abstention: SQuAD marks a question unanswerable from its own paragraph, but the briefing is the whole article; "
    "check an answered 'unanswerable' question against the article before counting it wrong.",
    "Unsupported claims: the share of shown sentences an independent judge labelled as not supported by what they cite "
    "(samples.jsonl: sentences[].id, cited quotes for briefbot, source nodes for the baseline; labels via --labels). "
    "A refusal shows no sentence.",
]


def _dataset_lines(summary: dict) -> list[str]:
    run = summary["run"]
    lines = []
    if run.get("squad"):
        chosen = run["squad"]
        lines.append(
            f"SQuAD 2.0: {len(chosen['articles'])} article(s){' of the ' + chosen['split'] + ' split' if chosen.get('split') else ''}, "
            f"up to {chosen['per_article']} questions each (stratified, seed {chosen['seed']}); each article is a briefing with its own index"
        )
    if summary.get("labels"):
        labels = summary["labels"]
        lines.append(f"Labels: {run.get('labels')} — {labels['labels']} labels, {labels['matching_shown_sentences']} match a sentence shown in this run")
    return lines


def _failure_rows(records: list[SampleRecord]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for record in records:
        for metric, judged in record.get("judge", {}).items():
            if judged.get("status") == "failed":
                rows.append([record["system"], record["id"], metric, judged.get("reason") or ""])
    return ["system", "question", "metric", "reason"], rows


def _per_question_rows(records: list[SampleRecord], systems: list[str]) -> tuple[list[str], list[list[str]]]:
    by_key = {(r["system"], r["id"]): r for r in records}
    ids = list(dict.fromkeys(r["id"] for r in records))
    questions = {r["id"]: r["question"] for r in records}

    def cell(record):
        if record is None:
            return "–"
        parts = ["✓" if record["correct"] else "✗"]
        if record["refused"]:
            parts.append("refused")
        for metric, short in (("faithfulness", "F"), ("answer_relevancy", "R")):
            judged = record.get("judge", {}).get(metric)
            if judged and judged["status"] == "ok":
                parts.append(f"{short} {judged['value']:.2f}")
            elif judged and judged["status"] == "failed":
                parts.append(f"{short} FAILED")
        return " ".join(parts)

    rows = []
    for sample_id in ids:
        question = questions[sample_id]
        rows.append([sample_id, question if len(question) <= 70 else question[:67] + "…", *[cell(by_key.get((s, sample_id))) for s in systems]])
    return ["id", "question", *systems], rows


def _calibration_rows(calibration: Calibration) -> tuple[list[str], list[list[str]]]:
    rows = [[kind, str(v["pairs"]), str(v["correct"]), _fmt(v["accuracy"])] for kind, v in calibration.by_kind.items()]
    return ["kind", "pairs", "judged right", "accuracy"], rows


def _trust_line(summary: dict) -> str:
    trust = summary.get("faithfulness_trust") or {}
    status = trust.get("status")
    partial = f" Only {trust.get('pairs')} pairs were judged: a partial calibration." if trust.get("partial") else ""
    if status == "untrustworthy":
        return (f"⚠ Faithfulness is UNTRUSTWORTHY: the judge's balanced accuracy on {trust['pairs']} hand-labelled pairs is "
                f"{trust['balanced_accuracy']:.3f}, below {trust['threshold']}.{partial}")
    if status == "trusted":
        return (f"{'⚠ ' if partial else ''}Faithfulness judge calibrated: balanced accuracy {trust['balanced_accuracy']:.3f} ≥ "
                f"{trust['threshold']} on {trust['pairs']} hand-labelled pairs.{partial}")
    if status == "uncalibrated":
        return f"⚠ The judge was not calibrated in this run, so faithfulness is unverified ({trust.get('note', '')})."
    return "No LLM judge in this run: LLM-free metrics only."


def _judge_lines(summary: dict) -> list[str]:
    judge = summary.get("judge") or {}
    if judge.get("kind") in (None, "none"):
        return ["Judge: none."]
    lines = [
        f"Judge: {judge['kind']} — {judge.get('model')}",
        f"Judge model sha256: {judge.get('model_sha256') or 'n/a (remote server)'}",
        f"Judge parameters: {judge.get('params')}",
        f"Judge calls: {judge.get('calls')} ({judge.get('cache_hits')} from cache, {judge.get('errors')} errors); "
        f"uncached judge time {judge.get('seconds_uncached')} s; prompts and raw outputs in judge_calls.jsonl",
    ]
    per_sample = summary["run"].get("judge_seconds_per_judged_sample")
    if per_sample is not None:
        lines.append(f"Judging wall time per judged sample: {per_sample} s")
    return lines


# ---------------------------------------------------------------------------------------------
# Plots


def _plots(summary: dict, records: list[SampleRecord], plot_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    systems = list(summary["systems"])
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(systems)}

    def figures():
        yield "systems", _systems_figure(summary, colours)
        yield "distributions", _distributions_figure(records, colours)
        for key in PER_QUESTION_METRICS:
            yield f"per_question_{key}", _per_question_figure(records, key, colours)

    paths: dict[str, Path] = {}
    for name, fig in figures():
        if fig is None:
            continue
        fig.tight_layout()
        paths[name] = plot_dir / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)
    return paths


def _systems_figure(summary: dict, colours: dict):
    """Systems side by side: each metric's mean per system, judge failure rates in red."""
    import matplotlib.pyplot as plt

    systems = list(summary["systems"])
    keys = [k for k, *_ in METRICS if any((summary["systems"][s]["metrics"].get(k) or {}).get("n") for s in systems)]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(keys) * max(1, len(systems)) / 1.5 + 1.5))
    height = 0.8 / len(systems)
    for i, name in enumerate(systems):
        means = [(summary["systems"][name]["metrics"].get(k) or {}).get("mean") for k in keys]
        ys = [j + i * height for j in range(len(keys))]
        ax.barh(ys, [m or 0 for m in means], height=height, color=colours[name], label=name)
        for y, k in zip(ys, keys):
            stats = summary["systems"][name]["metrics"].get(k) or {}
            if stats.get("failed"):
                ax.text(1.01, y, f"fail {stats['failure_rate'] * 100:.0f}%", va="center", fontsize=7, color="crimson")
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(keys))], [LABELS[k] for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("mean (judge failures excluded, their rate in red)")
    ax.set_title("Systems side by side")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _distributions_figure(records: list[SampleRecord], colours: dict):
    """Each metric's distribution per system."""
    import matplotlib.pyplot as plt

    keys = [k for k in DISTRIBUTION_METRICS if any(r.get(k) is not None for r in records)]
    if not keys:
        return None
    cols = 3
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    bins = [i / 10 for i in range(11)]
    for ax, key in zip(axes.flat, keys):
        for name in colours:
            values = [r[key] for r in records if r["system"] == name and r.get(key) is not None]
            if values:
                ax.hist(values, bins=bins, histtype="step", linewidth=1.6, color=colours[name], label=f"{name} (n={len(values)})")
        ax.set_title(LABELS[key], fontsize=9)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    return fig


def _per_question_figure(records: list[SampleRecord], key: str, colours: dict):
    """One metric per question, systems side by side; a judge failure is a red x."""
    import matplotlib.pyplot as plt

    if not any(r.get(key) is not None or r.get("judge", {}).get(key, {}).get("status") == "failed" for r in records):
        return None
    systems = list(colours)
    ids = list(dict.fromkeys(r["id"] for r in records))
    by_key = {(r["system"], r["id"]): r for r in records}
    fig, ax = plt.subplots(figsize=(max(8, 0.16 * len(ids) * len(systems)), 3.2))
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        xs, heights, failed_xs = [], [], []
        for j, sample_id in enumerate(ids):
            record = by_key.get((name, sample_id))
            if record is None:
                continue
            x = j + i * width
            if record.get("judge", {}).get(key, {}).get("status") == "failed":
                failed_xs.append(x)
            elif record.get(key) is not None:
                xs.append(x)
                heights.append(float(record[key]))
        ax.bar(xs, heights, width=width, color=colours[name], label=name)
        if failed_xs:
            ax.scatter(failed_xs, [0.03] * len(failed_xs), marker="x", color="crimson", s=14, zorder=3)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ids))], ids, rotation=90, fontsize=6)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{LABELS[key]} per question (red x: judge failure; no bar: not applicable)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------------------------------------
# Markdown and HTML


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(summary: dict, records: list[SampleRecord], calibration: Calibration | None) -> list[tuple[str, object]]:
    """(title, content): content is a list of paragraphs, or a (headers, rows) table."""
    systems = list(summary["systems"])
    run = summary["run"]
    sections: list[tuple[str, object]] = [
        ("", [_trust_line(summary)]),
        ("Run", [
            f"Dataset: {run.get('dataset')} — {run['samples']} questions{' (limit ' + str(run['limit']) + ')' if run.get('limit') is not None else ''}",
            *_dataset_lines(summary),
            f"Systems: {', '.join(systems) or '(none)'}",
            *_judge_lines(summary),
            f"Wall time: answering {run['seconds']['answering']} s, judging {run['seconds']['judging']} s, calibration {run['seconds']['calibration']} s",
        ]),
    ]
    if summary.get("articles"):
        sections.append(("Per article", _article_rows(summary["articles"])))
        sections.append(("", SQUAD_NOTES))
    if systems:
        sections.append(("Metrics (mean; n scored; judge failures and their rate, never averaged in)", _metric_rows(summary)))
        sections.append(("Evidence", [
            "Evidence is what a system shows for its answer: briefbot's citation quotes and chunk ids (for a refusal, the "
            "closest passages it lists); the baseline's source nodes (default SentenceSplitter, ~1024-token chunks, top 2). "
            "Faithfulness is judged against the evidence; context metrics compare it with the reference spans.",
            "ragas' non-LLM context metrics compare whole strings (similarity ≥ 0.5), so a large chunk that holds a "
            "reference span still scores 0 there; the id and offset variants credit containment.",
            "Answer relevancy (ragas) sees only the answer: a terse correct answer ('25 April 2017') scores low.",
        ]))
        sections.append(("Headline rates", _headline_rows(summary)))
    if calibration:
        sections.append(("Judge calibration", [
            f"Balanced accuracy {_fmt(calibration.balanced_accuracy)} (true-positive rate {_fmt(calibration.true_positive_rate)}, "
            f"true-negative rate {_fmt(calibration.true_negative_rate)}) on {calibration.pairs} pairs "
            f"({calibration.supported} supported); {calibration.failures} judge failures, counted as wrong; threshold {calibration.threshold}.",
        ]))
        sections.append(("Calibration by kind", _calibration_rows(calibration)))
    failures = _failure_rows(records)
    if failures[1]:
        sections.append((f"Judge failures ({len(failures[1])})", failures))
    if records:
        sections.append(("Per question (✓ correct; F faithfulness; R answer relevancy)", _per_question_rows(records, systems)))
    sections.append(("Metric definitions", (["metric", "tier", "definition"], [[label, tier, text] for _, label, tier, text in METRICS])))
    return sections


def write_report(summary: dict, records: list[SampleRecord], out_dir: Path, calibration: Calibration | None = None) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _plots(summary, records, out_dir / "plots") if records else {}
    sections = _sections(summary, records, calibration)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")

    md = [f"# briefbot evaluation report\n\nGenerated {stamp}."]
    for title, content in sections:
        if title:
            md.append(f"## {title}")
        md.append(_md_table(*content) if isinstance(content, tuple) else "\n\n".join(f"> {p}" if p.startswith("⚠") else p for p in content))
    if plots:
        md.append("## Plots")
        md += [f"![{name}](plots/{path.name})" for name, path in plots.items()]
    (out_dir / "report.md").write_text("\n\n".join(md) + "\n", encoding="utf-8")

    body = [f"<h1>briefbot evaluation report</h1><p>Generated {html.escape(stamp)}.</p>"]
    for title, content in sections:
        if title:
            body.append(f"<h2>{html.escape(title)}</h2>")
        if isinstance(content, tuple):
            body.append(_html_table(*content))
        else:
            body += [f"<p class='{'warn' if p.startswith('⚠') else ''}'>{html.escape(p)}</p>" for p in content]
    if plots:
        body.append("<h2>Plots</h2>")
        for name, path in plots.items():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            body.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'><figcaption>{html.escape(name)}</figcaption></figure>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}"
        "th{background:#f2f2f2}.warn{background:#fff3cd;border-left:4px solid #d39e00;padding:.5em}img{max-width:100%}"
    )
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>briefbot evaluation</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    return {"report_md": out_dir / "report.md", "report_html": out_dir / "report.html", **{f"plot_{k}": v for k, v in plots.items()}}

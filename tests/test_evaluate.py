"""The evaluation suite: LLM-free metrics, hardened judge scoring, calibration, report, no network."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest

from briefbot.eval.calibration import balanced_accuracy, calibrate, faithfulness_trust, load_calibration
from briefbot.eval.dataset import Sample, load_dataset
from briefbot.eval.judge import JUDGE_SEED, Judge, JudgeCache, LlamaIndexEmbeddings, OpenAIJudge, StubJudge, make_judge, schema_for, with_item_count
from briefbot.eval.judged import context_precision, context_recall, faithfulness, judge_records
from briefbot.eval.metrics import evidence_metrics, reference_chunk_ids
from briefbot.span import Chunk
from briefbot.eval.suite import JudgeTier, RunSetup, evaluate_systems, run_system
from briefbot.eval.summary import metric_summary, summarise_system
from briefbot.eval.systems import BaselineSystem, BriefBotSystem, build_systems, fake_baseline_llm, looks_like_refusal


def _sample(**overrides) -> Sample:
    fields = {
        "id": "t1",
        "question": "How many Tajik border guards are on patrol?",
        "answerable": True,
        "reference_answer": "16,000 Tajik border guards are on patrol.",
        "reference_spans": ["Currently, the number of Tajik border guards on patrol is 16,000."],
        "key_facts": ["16,000|16000"],
        "chain": None,
        "turn": 0,
    }
    return Sample(**{**fields, **overrides})


def _evidence(text: str, briefing_text: str, id_: str) -> Chunk:
    start = briefing_text.index(text)
    return Chunk("briefing", start, start + len(text), text, id_, "")


def _chunks(*bounds: tuple[str, int, int]) -> list[Chunk]:
    return [Chunk("briefing", start, end, "", chunk_id, "") for chunk_id, start, end in bounds]


class ScriptedJudge(Judge):
    """Returns the given raw outputs in order, whatever the prompt."""

    kind = "scripted"

    def __init__(self, outputs):
        super().__init__("scripted", "0" * 64, {})
        self.outputs = list(outputs)

    def _raw(self, prompt, schema):
        return self.outputs.pop(0)


# ---------------------------------------------------------------------------------------------
# LLM-free metrics


def test_llm_free_metrics_on_crafted_samples(briefing_text):
    sample = _sample()
    span = sample.reference_spans[0]
    start = briefing_text.index(span)
    chunks = _chunks(("c0", 0, start), ("c1", start, start + len(span) + 50), ("c2", start + len(span) + 50, len(briefing_text)))
    exact = _evidence(span, briefing_text, "c1")
    unrelated = _evidence("The Kremlin invited the United States to take part, but the Americans rejected the invitation.", briefing_text, "c0")

    perfect = evidence_metrics(sample, [exact], chunks, briefing_text)
    assert perfect == {
        "nonllm_context_precision": pytest.approx(1.0, abs=1e-6),
        "nonllm_context_recall": 1.0,
        "id_context_precision": 1.0,
        "id_context_recall": 1.0,
        "reference_span_quoted": 1.0,
        "evidence_precision": 1.0,
        "evidence_recall": 1.0,
    }

    # A miss ranked first, the hit second: average precision 0.5, half the ids right, recall intact.
    mixed = evidence_metrics(sample, [unrelated, exact], chunks, briefing_text)
    assert mixed["nonllm_context_precision"] == pytest.approx(0.5, abs=1e-3)
    assert mixed["id_context_precision"] == 0.5
    assert mixed["evidence_precision"] == 0.5
    assert mixed["nonllm_context_recall"] == mixed["id_context_recall"] == mixed["evidence_recall"] == 1.0

    wrong = evidence_metrics(sample, [unrelated], chunks, briefing_text)
    assert wrong["nonllm_context_precision"] == pytest.approx(0.0, abs=1e-6)
    assert wrong["nonllm_context_recall"] == wrong["id_context_recall"] == wrong["reference_span_quoted"] == 0.0

    nothing = evidence_metrics(sample, [], chunks, briefing_text)
    assert nothing["nonllm_context_recall"] == nothing["evidence_recall"] == 0.0
    assert nothing["nonllm_context_precision"] is None  # no evidence: precision undefined, not 0

    unanswerable = evidence_metrics(_sample(answerable=False, reference_spans=[], key_facts=[]), [exact], chunks, briefing_text)
    assert set(unanswerable.values()) == {None}


def test_big_evidence_chunk_fails_string_similarity_but_not_offsets(briefing_text):
    """Why offsets are reported too: ragas' non-LLM metrics compare whole strings, so a large chunk
    holding the reference span scores 0 there (the naive baseline's 1024-token nodes)."""
    sample = _sample()
    span = sample.reference_spans[0]
    start = briefing_text.index(span)
    big = _evidence(briefing_text[max(0, start - 1500) : start + len(span) + 1500], briefing_text, "n1")
    scores = evidence_metrics(sample, [big], [big], briefing_text)
    assert scores["nonllm_context_recall"] == 0.0
    assert scores["evidence_recall"] == scores["id_context_recall"] == scores["reference_span_quoted"] == 1.0


def test_reference_chunk_ids_prefer_a_holding_evidence_chunk():
    chunks = _chunks(("a", 0, 100), ("b", 50, 150), ("c", 150, 300))
    assert reference_chunk_ids([(60, 90)], chunks, {"b"}) == ["b"]  # held by a and b; b was shown
    assert reference_chunk_ids([(60, 90)], chunks, set()) == ["a"]
    assert reference_chunk_ids([(140, 200)], chunks, set()) == ["c"]  # straddles: most overlap


def test_baseline_refusal_heuristic():
    assert looks_like_refusal("")
    assert looks_like_refusal("The context does not mention the number of aircraft.")
    assert looks_like_refusal("There is no information about that.")
    assert not looks_like_refusal("Currently 16,000 Tajik border guards are on patrol.")


# ---------------------------------------------------------------------------------------------
# Hardened faithfulness


def _statements(*texts):
    return json.dumps({"statements": list(texts)})


def _verdicts(*pairs):
    return json.dumps({"statements": [{"statement": s, "reason": "r", "verdict": v} for s, v in pairs]})


def test_faithfulness_is_computed_from_the_verdicts():
    judge = ScriptedJudge([_statements("A is 1.", "B is 2."), _verdicts(("A is 1.", 1), ("B is 2.", 0))])
    result = faithfulness(judge, "q?", "A is 1. B is 2.", ["A is 1."])
    assert (result.status, result.value) == ("ok", 0.5)
    assert result.details["verdicts"] == [1, 0]


@pytest.mark.parametrize(
    "outputs, reason",
    [
        ([_statements("A is 1.", "B is 2."), _verdicts(("A is 1.", 1))], "1 verdicts for 2 statements"),
        ([_statements("A is 1."), _verdicts(("A is 1.", 1), ("extra", 1))], "2 verdicts for 1 statements"),
        (["I think the answer is fine."], "statement extraction: unparsable"),
        ([_statements("A is 1."), '{"statements": [{"statement": "A is 1.", "verdict": 1'], "verdicts: unparsable"),
        ([_statements()], "no statements extracted"),
        ([_statements("A is 1."), _verdicts(("A is 1.", 2))], "verdicts other than 0/1"),
    ],
)
def test_faithfulness_failures_are_failures(outputs, reason):
    result = faithfulness(ScriptedJudge(outputs), "q?", "A is 1. B is 2.", ["A is 1."])
    assert result.status == "failed"
    assert result.value is None
    assert reason in result.reason


def test_failures_are_counted_beside_the_mean_not_averaged():
    records = [
        {"faithfulness": 1.0, "judge": {"faithfulness": {"status": "ok"}}},
        {"faithfulness": 0.5, "judge": {"faithfulness": {"status": "ok"}}},
        {"faithfulness": None, "judge": {"faithfulness": {"status": "failed"}}},
        {"faithfulness": None, "judge": {"faithfulness": {"status": "n/a"}}},
    ]
    assert metric_summary(records, "faithfulness") == {
        "mean": 0.75, "n": 2, "failed": 1, "failure_rate": pytest.approx(1 / 3, abs=1e-4), "not_applicable": 1,
    }


def test_judge_records_marks_failures_and_not_applicable(fake_bot):
    sample = _sample()
    system = BriefBotSystem("briefbot-fake", fake_bot)
    [record] = run_system(system, [sample])
    refused = {**record, "id": sample.id, "refused": True, "judge": {}}
    judge = ScriptedJudge(["garbage"])
    judge_records([record, refused], [sample], judge, None, ["faithfulness"])
    assert record["judge"]["faithfulness"]["status"] == "failed"
    assert record["faithfulness"] is None
    assert refused["judge"]["faithfulness"] == {"value": None, "status": "n/a", "reason": "refused"}
    summary = summarise_system([record, refused])
    assert summary["metrics"]["faithfulness"]["failed"] == 1
    assert summary["metrics"]["faithfulness"]["failure_rate"] == 1.0


# ---------------------------------------------------------------------------------------------
# Judges: stub rules, JSON schema, cache


def test_stub_judge_finds_swapped_numbers(briefing_text):
    passage = "Currently, the number of Tajik border guards on patrol is 16,000."
    judge = StubJudge()
    right = faithfulness(judge, "How many?", "Currently 16,000 Tajik border guards are on patrol [1].", [passage])
    wrong = faithfulness(judge, "How many?", "Currently 25,000 Tajik border guards are on patrol [1].", [passage])
    assert (right.value, wrong.value) == (1.0, 0.0)


def test_binary_fields_are_constrained_and_verdict_count_pinned():
    from ragas.metrics.collections.faithfulness.util import NLIStatementOutput

    schema = with_item_count(schema_for(NLIStatementOutput), "statements", 3)
    assert schema["properties"]["statements"]["minItems"] == schema["properties"]["statements"]["maxItems"] == 3
    assert schema["$defs"]["StatementFaithfulnessAnswer"]["properties"]["verdict"]["enum"] == [0, 1]


def test_judge_outputs_are_cached_by_model_and_prompt(tmp_path):
    cache = JudgeCache(tmp_path)
    first = StubJudge(cache=cache)
    faithfulness(first, "q?", "Kant is near Bishkek.", ["Kant, near Bishkek."])
    assert [c["cached"] for c in first.calls] == [False, False]
    again = StubJudge(cache=cache)
    faithfulness(again, "q?", "Kant is near Bishkek.", ["Kant, near Bishkek."])
    assert [c["cached"] for c in again.calls] == [True, True]
    assert [c["key"] for c in again.calls] == [c["key"] for c in first.calls]
    other_model = StubJudge(cache=cache)
    other_model.model_sha256 = "f" * 64
    assert other_model.cache_key("p", {}) != first.cache_key("p", {})
    assert first.cache_key("p", {}) != first.cache_key("p2", {})
    stored = json.loads(next(tmp_path.rglob("*.json")).read_text())
    assert {"model", "prompt", "schema", "raw"} <= stored.keys()


# ---------------------------------------------------------------------------------------------
# Calibration


def test_balanced_accuracy():
    result = balanced_accuracy([True, True, True, False], [True, True, False, True])
    assert result["true_positive_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["true_negative_rate"] == 0.0
    assert result["balanced_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["accuracy"] == 0.5


def test_calibration_scoring_on_a_tiny_file(tmp_path):
    pairs = [
        {"statement": "A", "passage": "A.", "supported": True, "kind": "supported_verbatim"},
        {"statement": "B", "passage": "B.", "supported": True, "kind": "supported_paraphrase"},
        {"statement": "C", "passage": "D.", "supported": False, "kind": "swapped_number"},
        {"statement": "E", "passage": "F.", "supported": False, "kind": "unsupported_claim"},
    ]
    path = tmp_path / "calibration.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    loaded = load_calibration(path)
    # Right, wrong (says unsupported), unparsable (counted wrong), right.
    judge = ScriptedJudge([_verdicts(("A", 1)), _verdicts(("B", 0)), "not json", _verdicts(("E", 0))])
    result = calibrate(judge, loaded)
    assert result.true_positive_rate == 0.5
    assert result.true_negative_rate == 0.5
    assert result.balanced_accuracy == 0.5
    assert result.failures == 1
    assert result.trustworthy is False
    assert result.by_kind["swapped_number"] == {"pairs": 1, "correct": 0, "accuracy": 0.0}
    assert [v.predicted for v in result.verdicts] == [True, False, None, False]
    assert result.verdicts[2].to_dict() == {**pairs[2], "id": "line3", "predicted": None, "error": result.verdicts[2].error, "correct": False}
    assert "unparsable" in result.verdicts[2].error
    assert "verdicts" not in result.summary()
    assert faithfulness_trust(result, "scripted")["status"] == "untrustworthy"
    assert faithfulness_trust(replace(result, balanced_accuracy=0.8), "scripted")["status"] == "trusted"
    assert faithfulness_trust(None, "local")["status"] == "uncalibrated"


def test_calibration_file_is_hand_labelled_from_the_briefing(briefing_text):
    pairs = load_calibration()
    assert len(pairs) >= 60
    assert len({p.statement for p in pairs}) == len(pairs)
    assert len({p.id for p in pairs}) == len(pairs)
    for pair in pairs:
        assert pair.passage in briefing_text, pair.id
        assert pair.kind.startswith("supported") == pair.supported, pair.id
    kinds = {p.kind for p in pairs}
    assert {"swapped_number", "swapped_country", "swapped_person", "unsupported_claim", "negation"} <= kinds
    supported = sum(p.supported for p in pairs)
    assert 0.35 <= supported / len(pairs) <= 0.65


# ---------------------------------------------------------------------------------------------
# The whole run, offline


_LOOPBACK = ("127.", "::1", "localhost")


def _block_network(monkeypatch):
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOOPBACK):
            raise OSError(f"network blocked in this test: {address}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOOPBACK):
            raise OSError(f"network blocked in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_llm_free_tier_and_stub_judge_run_without_network(fake_bot, tmp_path, monkeypatch):
    _block_network(monkeypatch)
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"

    samples = load_dataset()
    chosen = [s for s in samples if s.id in ("q07", "q73")] + [s for s in samples if s.chain][:2]
    systems = [
        BriefBotSystem("briefbot-fake", fake_bot),
        BaselineSystem(fake_bot.briefing.text, fake_bot.index.embed_model, fake_baseline_llm()),
    ]
    judge = StubJudge(cache=JudgeCache(tmp_path / "cache"))
    judging = JudgeTier(judge, LlamaIndexEmbeddings(fake_bot.index.embed_model), calibration_pairs=tuple(load_calibration()[:8]))
    records, summary = evaluate_systems(systems, chosen, RunSetup(judging, out_dir=tmp_path / "run"))

    assert len(records) == 2 * len(chosen)
    assert set(summary["systems"]) == {"briefbot-fake", "baseline"}
    for name, system in summary["systems"].items():
        assert system["metrics"]["faithfulness"]["n"] + system["metrics"]["faithfulness"]["failed"] > 0, name
        assert system["metrics"]["correct"]["n"] == len(chosen)
    baseline = [r for r in records if r["system"] == "baseline"]
    assert all(r["citations_exact"] is None and r["evidence"] for r in baseline)
    assert summary["systems"]["briefbot-fake"]["citations_exact"] == 1.0
    assert summary["judge"]["kind"] == "stub" and summary["judge"]["model_sha256"]
    assert summary["calibration"]["pairs"] == 8
    assert summary["faithfulness_trust"]["status"] in ("trusted", "untrustworthy")

    out = tmp_path / "run"
    for name in ("samples.jsonl", "summary.json", "judge_calls.jsonl", "calibration.jsonl", "report.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    plots = {p.name for p in (out / "plots").glob("*.png")}
    assert {"systems.png", "distributions.png", "per_question_faithfulness.png"} <= plots
    calls = [json.loads(line) for line in (out / "judge_calls.jsonl").read_text().splitlines()]
    assert all(c["prompt"] and c["key"] for c in calls)
    assert {c["metric"] for c in calls} >= {"faithfulness", "answer_relevancy", "calibration"}
    report = (out / "report.md").read_text()
    assert "faithfulness" in report and "failed" in report and "briefbot-fake" in report and "baseline" in report
    assert "data:image/png;base64," in (out / "report.html").read_text()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["systems"]["baseline"]["metrics"]["faithfulness"]["failure_rate"] is not None


def test_importing_the_suite_opens_no_socket():
    code = """
import socket
def refuse(*args, **kwargs):
    raise SystemExit("a socket was opened: " + repr(args))
socket.socket.connect = refuse
socket.getaddrinfo = refuse
import briefbot, os
assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
import ragas
from briefbot.eval import judge, metrics, report, suite
metrics.non_llm_metrics()
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")


def test_cli_eval_flags_parse():
    from briefbot.cli import build_parser

    args = build_parser().parse_args(
        ["eval", "--systems", "briefbot-local,briefbot-extractive,baseline", "--judge", "local", "--limit", "3",
         "--calibrate-judge", "--calibration-limit", "5", "--judge-metrics", "faithfulness"]
    )
    assert (args.judge, args.limit, args.calibrate_judge, args.calibration_limit) == ("local", 3, True, 5)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--judge", "gpt"])


def test_unknown_system_is_rejected():
    from briefbot import Settings

    with pytest.raises(ValueError, match="unknown system"):
        build_systems(Settings(backend="fake"), ["briefbot-fake", "ragflow"])


# ---------------------------------------------------------------------------------------------
# The real judge (minutes on 2 cores): python -m pytest -m slow tests/test_evaluate.py


@pytest.mark.slow
def test_local_qwen_judge_on_three_samples(fake_bot, tmp_path):
    from briefbot import Settings

    judge = make_judge("local", Settings(), cache_dir=tmp_path / "cache")
    from briefbot.models import DEFAULT_MODEL_SHA256

    assert judge.model_sha256 == DEFAULT_MODEL_SHA256
    samples = [s for s in load_dataset() if s.id in ("q06", "q07", "q10")]
    judging = JudgeTier(judge, LlamaIndexEmbeddings(fake_bot.index.embed_model), calibration_pairs=tuple(load_calibration()[:4]))
    records, summary = evaluate_systems([BriefBotSystem("briefbot-fake", fake_bot)], samples, RunSetup(judging, out_dir=tmp_path / "run"))
    judged = [r["judge"]["faithfulness"] for r in records if r["judge"]["faithfulness"]["status"] != "n/a"]
    assert judged
    for result in judged:
        assert result["status"] in ("ok", "failed")
        if result["status"] == "ok":
            assert len(result["verdicts"]) == len(result["statements"])
            assert 0.0 <= result["value"] <= 1.0
    assert summary["calibration"]["pairs"] == 4
    assert summary["judge"]["model_sha256"] == DEFAULT_MODEL_SHA256
    # Deterministic whatever came before: the same request after a different one decodes the same.
    from ragas.metrics.collections.answer_relevancy.util import AnswerRelevanceOutput

    judge.cache = None
    first, _ = judge.complete_json("Generate a question for: Kant is near Bishkek.", schema_for(AnswerRelevanceOutput))
    judge.complete_json("Generate a question for: 16,000 guards patrol the border.", schema_for(AnswerRelevanceOutput))
    second, _ = judge.complete_json("Generate a question for: Kant is near Bishkek.", schema_for(AnswerRelevanceOutput))
    assert first == second
    # Also with ragas' prompt shape, where the KV state of the instructions before "input:" is restored.
    from ragas.metrics.collections import AnswerRelevancy
    from ragas.metrics.collections.answer_relevancy.util import AnswerRelevanceInput

    prompt = AnswerRelevancy(llm=judge, embeddings=LlamaIndexEmbeddings(fake_bot.index.embed_model)).prompt
    kant, guards = (prompt.to_string(AnswerRelevanceInput(response=r)) for r in ("Kant is near Bishkek.", "16,000 guards patrol the border."))
    schema = schema_for(AnswerRelevanceOutput)
    first, _ = judge.complete_json(kant, schema)
    judge.complete_json(guards, schema)
    assert judge.complete_json(kant, schema)[0] == first
    fresh = make_judge("local", Settings())
    assert fresh.complete_json(kant, schema)[0] == first
    # A re-run is answered from the cache.
    again = make_judge("local", Settings(), cache_dir=tmp_path / "cache")
    evaluate_systems([BriefBotSystem("briefbot-fake", fake_bot)], samples, RunSetup(JudgeTier(again, LlamaIndexEmbeddings(fake_bot.index.embed_model))))
    assert again.calls and all(c["cached"] for c in again.calls)


def test_openai_judge_sends_a_json_schema_and_parses_the_reply(tmp_path):
    """Against a canned OpenAI-compatible server on loopback."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            reply = json.dumps({"question": "How many guards patrol?", "noncommittal": 0})
            payload = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"```json\n{reply}\n```"}}],
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from ragas.metrics.collections.answer_relevancy.util import AnswerRelevanceOutput

        judge = OpenAIJudge(f"http://127.0.0.1:{server.server_port}/v1", "judge-model", cache=JudgeCache(tmp_path))
        out = judge.generate("Generate a question.", AnswerRelevanceOutput)
        assert out.question == "How many guards patrol?"
        assert judge.generate("Generate a question.", AnswerRelevanceOutput).noncommittal == 0
        assert len(seen) == 1  # the second answer came from the cache
        request = seen[0]
        assert request["temperature"] == 0.0 and request["seed"] == JUDGE_SEED
        schema = request["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["noncommittal"]["enum"] == [0, 1]
    finally:
        server.shutdown()


def test_llm_context_metrics_run_through_ragas_with_the_stub_judge():
    judge = StubJudge()
    reference = "Currently, the number of Tajik border guards on patrol is 16,000."
    contexts = ["The Kremlin invited the United States to take part.", reference]
    precision = context_precision(judge, "How many guards?", reference, contexts)
    recall = context_recall(judge, "How many guards?", reference, contexts)
    assert (precision.status, recall.status) == ("ok", "ok")
    assert precision.value == pytest.approx(0.5, abs=1e-6)  # useful context ranked second
    assert recall.value == 1.0
    broken = context_recall(ScriptedJudge(['{"classifications": []}']), "q?", reference, contexts)
    assert broken.status == "failed"  # ragas' NaN is a failure, not a silent gap

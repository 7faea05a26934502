"""How far the judge's faithfulness can be trusted: its NLI verdict step on hand-labelled
(statement, passage) pairs, scored by balanced accuracy. Below TRUST_THRESHOLD the report flags
faithfulness as untrustworthy."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from importlib.resources.abc import Traversable
from typing import Iterable

from tqdm import tqdm

from briefbot.eval.dataset import DATA, read_text
from briefbot.eval.judge import Judge, JudgeError, schema_for, with_item_count

DEFAULT_CALIBRATION = DATA / "judge_calibration.jsonl"
TRUST_THRESHOLD = 0.75  # judge balanced accuracy below this: faithfulness is flagged untrustworthy
MIN_CALIBRATION_PAIRS = 60  # fewer (--calibration-limit) is reported as a partial calibration


@dataclass(frozen=True)
class CalibrationPair:
    """Does the passage support the statement? `kind`: how the pair was made ("supported_paraphrase",
    "swapped_number", …)."""

    id: str
    statement: str
    passage: str
    supported: bool
    kind: str


@dataclass(frozen=True)
class Verdict:
    """The judge's verdict on one pair: None when it gave none, which counts as wrong."""

    pair: CalibrationPair
    predicted: bool | None
    error: str | None

    @property
    def correct(self) -> bool:
        return self.predicted == self.pair.supported

    def to_dict(self) -> dict:
        """A line of calibration.jsonl."""
        return {**asdict(self.pair), "predicted": self.predicted, "error": self.error, "correct": self.correct}


@dataclass(frozen=True)
class Calibration:
    balanced_accuracy: float | None
    true_positive_rate: float | None
    true_negative_rate: float | None
    accuracy: float | None
    pairs: int
    supported: int
    failures: int
    threshold: float
    trustworthy: bool
    by_kind: dict[str, dict]  # kind -> pairs, correct, accuracy
    judge: dict  # Judge.describe()
    verdicts: tuple[Verdict, ...]

    def summary(self) -> dict:
        """What summary.json keeps: all but the verdicts."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "verdicts"}


def load_calibration(source: Traversable | str = DEFAULT_CALIBRATION) -> list[CalibrationPair]:
    pairs = []
    for number, line in enumerate(read_text(source).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pair = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{source}:{number}: not JSON ({exc})") from exc
        missing = {"statement", "passage", "supported", "kind"} - pair.keys()
        if missing or not isinstance(pair["supported"], bool):
            raise ValueError(f"{source}:{number}: needs statement, passage, supported (true/false) and kind")
        pairs.append(CalibrationPair(pair.get("id", f"line{number}"), pair["statement"], pair["passage"], pair["supported"], pair["kind"]))
    return pairs


def balanced_accuracy(labels: Iterable[bool], predictions: Iterable[bool]) -> dict:
    """Mean of the true-positive and true-negative rates (positive = supported)."""
    labels, predictions = list(labels), list(predictions)
    positives = [p for l, p in zip(labels, predictions) if l]
    negatives = [p for l, p in zip(labels, predictions) if not l]
    tpr = sum(positives) / len(positives) if positives else None
    tnr = sum(not p for p in negatives) / len(negatives) if negatives else None
    rates = [r for r in (tpr, tnr) if r is not None]
    return {
        "balanced_accuracy": round(sum(rates) / len(rates), 4) if rates else None,
        "true_positive_rate": None if tpr is None else round(tpr, 4),
        "true_negative_rate": None if tnr is None else round(tnr, 4),
        "accuracy": round(sum(l == p for l, p in zip(labels, predictions)) / len(labels), 4) if labels else None,
    }


def judge_pair(judge: Judge, pair: CalibrationPair) -> Verdict:
    """Ragas' NLI prompt for this pair alone, its one verdict pinned by the schema."""
    from ragas.metrics.collections.faithfulness.util import NLIStatementInput, NLIStatementOutput, NLIStatementPrompt

    prompt = NLIStatementPrompt().to_string(NLIStatementInput(context=pair.passage, statements=[pair.statement]))
    schema = with_item_count(schema_for(NLIStatementOutput), "statements", 1)
    with judge.labelled(system="calibration", sample=pair.id, metric="calibration"):
        try:
            out = judge.generate(prompt, NLIStatementOutput, schema=schema)
        except JudgeError as exc:
            return Verdict(pair, None, str(exc))
    if len(out.statements) != 1 or out.statements[0].verdict not in (0, 1):
        return Verdict(pair, None, f"{len(out.statements)} verdicts for 1 statement")
    return Verdict(pair, out.statements[0].verdict == 1, None)


def calibrate(judge: Judge, pairs: list[CalibrationPair], progress=lambda message: None) -> Calibration:
    """The judge's verdict on each pair; a failed call counts as a wrong verdict."""
    progress(f"judge calibration: {len(pairs)} pairs")
    verdicts = tuple(judge_pair(judge, pair) for pair in tqdm(pairs, desc="judge calibration", disable=None))
    scored = [(v.pair.supported, v.predicted if v.predicted is not None else not v.pair.supported) for v in verdicts]
    rates = balanced_accuracy([l for l, _ in scored], [p for _, p in scored])
    by_kind: dict[str, dict] = {}
    for verdict in verdicts:
        kind = by_kind.setdefault(verdict.pair.kind, {"pairs": 0, "correct": 0})
        kind["pairs"] += 1
        kind["correct"] += verdict.correct
    return Calibration(
        **rates,
        pairs=len(verdicts),
        supported=sum(v.pair.supported for v in verdicts),
        failures=sum(1 for v in verdicts if v.error),
        threshold=TRUST_THRESHOLD,
        trustworthy=rates["balanced_accuracy"] is not None and rates["balanced_accuracy"] >= TRUST_THRESHOLD,
        by_kind={k: {**v, "accuracy": round(v["correct"] / v["pairs"], 4)} for k, v in sorted(by_kind.items())},
        judge=judge.describe(),
        verdicts=verdicts,
    )


def faithfulness_trust(calibration: Calibration | None, judge_kind: str) -> dict:
    if judge_kind == "none":
        return {"status": "not judged", "threshold": TRUST_THRESHOLD}
    if not calibration or calibration.balanced_accuracy is None:
        return {"status": "uncalibrated", "threshold": TRUST_THRESHOLD,
                "note": "run with --calibrate-judge to measure the judge against briefbot/eval/data/judge_calibration.jsonl"}
    trusted = calibration.balanced_accuracy >= TRUST_THRESHOLD
    return {
        "status": "trusted" if trusted else "untrustworthy",
        "balanced_accuracy": calibration.balanced_accuracy,
        "threshold": TRUST_THRESHOLD,
        "pairs": calibration.pairs,
        "partial": calibration.pairs < MIN_CALIBRATION_PAIRS,
    }

"""Calibrate and test the entailment check on hand-labelled (passage, claim, supported?) pairs.

Usage: python eval/calibrate_entailment.py [PAIRS.jsonl] [OUT_DIR] [--reuse]
       (default: eval/entailment_pairs.jsonl → eval/results/entailment-calibration/;
        --reuse: take the margins from OUT_DIR/margins.jsonl instead of asking the model again)

Thresholds on the generator's yes−no margin are chosen on the pairs of the calibration documents
only and reported on the pairs of the other documents, for three rules: the margin alone; with the
negation rule (a claim that drops or adds a negation of what it says never follows); and the
product's rule (verify.Verifier.follows: a copy of the quote follows without the model, then the
negation rule, then the margin). Two choices per rule: the best balanced accuracy, and the lowest
threshold that lets no unsupported claim of the calibration documents through (the product's
default: a sentence that fails is replaced by its quote, so strictness costs wording, not answers).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

from briefbot.backends import make_backend
from briefbot.settings import Settings
from briefbot.verify import is_copy, negation_differs

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_DOCS = {"Force", "Imperialism", "Warsaw"}
THRESHOLDS = [t / 2 for t in range(-8, 13)]


def decide(rule: str, pair: dict, threshold: float) -> bool:
    claim, passage, margin = pair["claim"], pair["passage"], pair["margin"]
    if rule == "margin":
        return margin >= threshold
    if negation_differs(claim, passage):
        return False
    if rule == "product" and is_copy(claim, passage):
        return True
    return margin >= threshold


def scores(pairs: list[dict], rule: str, threshold: float) -> dict:
    kept = [decide(rule, p, threshold) for p in pairs]
    true_kept = sum(k for k, p in zip(kept, pairs) if p["supported"])
    false_kept = sum(k for k, p in zip(kept, pairs) if not p["supported"])
    n_true = sum(p["supported"] for p in pairs)
    n_false = len(pairs) - n_true
    recall, specificity = true_kept / max(n_true, 1), 1 - false_kept / max(n_false, 1)
    return {"threshold": threshold, "balanced_accuracy": round((recall + specificity) / 2, 3), "supported_kept": round(recall, 3),
            "unsupported_stopped": round(specificity, 3), "unsupported_among_kept": round(false_kept / max(true_kept + false_kept, 1), 3),
            "pairs": len(pairs)}


def by_kind(pairs: list[dict], rule: str, threshold: float) -> dict:
    kinds = defaultdict(list)
    for p in pairs:
        kinds[p["kind"]].append(decide(rule, p, threshold) == p["supported"])
    return {kind: f"{sum(right)}/{len(right)}" for kind, right in sorted(kinds.items())}


def main() -> None:
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    source = Path(paths[0]) if paths else ROOT / "eval" / "entailment_pairs.jsonl"
    out = Path(paths[1]) if len(paths) > 1 else ROOT / "eval" / "results" / "entailment-calibration"
    pairs = [p for p in map(json.loads, source.read_text(encoding="utf-8").splitlines()) if p.get("id") != "_source"]
    if "--reuse" in sys.argv:
        margins = {p["id"]: p["margin"] for p in map(json.loads, (out / "margins.jsonl").read_text(encoding="utf-8").splitlines())}
        for pair in pairs:
            pair["margin"] = margins[pair["id"]]
    else:
        backend = make_backend(Settings())
        for pair in pairs:
            pair["margin"] = round(backend.entailment(pair["claim"], pair["passage"]), 3)
    calibration = [p for p in pairs if p["doc"] in CALIBRATION_DOCS]
    test = [p for p in pairs if p["doc"] not in CALIBRATION_DOCS]
    report = {"calibration_docs": sorted(CALIBRATION_DOCS), "test_docs": sorted({p["doc"] for p in test}), "rules": {}}
    for rule in ("margin", "margin+negation", "product"):
        best = max(THRESHOLDS, key=lambda t: (scores(calibration, rule, t)["balanced_accuracy"], t))
        strict = min((t for t in THRESHOLDS if scores(calibration, rule, t)["unsupported_among_kept"] == 0), default=THRESHOLDS[-1])
        report["rules"][rule] = {
            choice: {"calibration": scores(calibration, rule, t), "test": scores(test, rule, t), "test_by_kind": by_kind(test, rule, t)}
            for choice, t in (("best_balanced_accuracy", best), ("none_unsupported_kept", strict))
        }
        report["rules"][rule]["test_sweep"] = [scores(test, rule, t) for t in THRESHOLDS]
    out.mkdir(parents=True, exist_ok=True)
    (out / "margins.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    (out / "calibration.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for rule, result in report["rules"].items():
        for choice in ("best_balanced_accuracy", "none_unsupported_kept"):
            c, t = result[choice]["calibration"], result[choice]["test"]
            print(f"{rule:16} {choice:22} threshold {c['threshold']:+.1f}: calibration BA {c['balanced_accuracy']}, "
                  f"test BA {t['balanced_accuracy']} (supported kept {t['supported_kept']}, unsupported stopped {t['unsupported_stopped']}, "
                  f"unsupported among kept {t['unsupported_among_kept']}, n={t['pairs']}) by kind {result[choice]['test_by_kind']}")


if __name__ == "__main__":
    main()

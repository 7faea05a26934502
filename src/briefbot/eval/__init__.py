"""Evaluation: the question set through briefbot and a naive baseline, scored, judged and reported.

A run (suite.py, what `briefbot eval` runs) asks every question of a dataset (dataset.py: the
packaged JSONL question set, or a SQuAD 2.0 file, squad.py) of each system (systems.py), scores
each answer without an LLM (metrics.py), optionally has an LLM judge score faithfulness and
relevancy (judge.py, judged.py) and measures that judge on hand-labelled pairs (calibration.py),
then summarises (summary.py) and writes samples.jsonl, summary.json and the report (report.py).
`briefbot bench` (bench.py) times the same systems instead.

Every module here uses briefbot only through its public names; none imports this package's
modules in a circle (tests/test_imports.py).
"""

"""No network at run time: index, ask, eval and serve run with every non-loopback connection refused.

The commands run through the CLI's `main` in one subprocess (tests/data/net_commands.py) whose
`sitecustomize` is tests/data/net_sitecustomize.py: it refuses and logs any connect or name lookup
beyond loopback. The env is stripped of the offline and no-telemetry variables, so what keeps the
product offline is the product itself (`import briefbot` sets them).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from conftest import free_port

DATA = Path(__file__).parent / "data"
QUESTION = "How many Tajik border guards are on patrol today?"
# What the product must set by itself; a developer's shell may have them, the test does not.
PRODUCT_SETS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "RAGAS_DO_NOT_TRACK")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline")
    (root / "guard").mkdir()
    shutil.copy(DATA / "net_sitecustomize.py", root / "guard" / "sitecustomize.py")
    return root


def _env(sandbox: Path, log_name: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCT_SETS and not k.startswith("BRIEFBOT_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(sandbox / "guard"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        BRIEFBOT_NET_LOG=str(sandbox / f"{log_name}.blocked.log"),
        BRIEFBOT_INDEX_DIR=str(sandbox / "index"),
        BRIEFBOT_CACHE_DIR=str(sandbox / "cache"),
        BRIEFBOT_BACKEND="fake",
    )
    return env


def _blocked(sandbox: Path, name: str) -> str:
    log = sandbox / f"{name}.blocked.log"
    return log.read_text(encoding="utf-8") if log.exists() else ""


def _result(sandbox: Path, name: str) -> dict:
    code = sandbox / f"{name}.code"
    return {
        "returncode": int(code.read_text()) if code.exists() else None,
        "stdout": (sandbox / f"{name}.out").read_text() if code.exists() else "",
        "stderr": (sandbox / f"{name}.err").read_text() if code.exists() else "",
    }


@pytest.fixture(scope="module")
def offline_runs(sandbox) -> dict:
    """Index, ask and eval, then serve: asked one question over loopback, then stopped with Ctrl-C."""
    port = free_port()
    commands = {
        "index": ["index"],
        "ask": ["ask", "--json", QUESTION],
        "eval": ["eval", "--judge", "stub", "--limit", "2", "--out", str(sandbox / "eval")],
        "serve": ["serve", "--port", str(port)],
    }
    process = subprocess.Popen(
        [sys.executable, str(DATA / "net_commands.py"), str(sandbox), json.dumps(commands)],
        env=_env(sandbox, "startup"), cwd=sandbox, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while not any("serving on" in line for line in lines) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    answer = None
    if any("serving on" in line for line in lines):
        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, [], api_name="/ask")
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    finally:
        process.kill()
    reader.join(timeout=10)
    results = {name: _result(sandbox, name) for name in ("index", "ask", "eval")}
    results["serve"] = {"answer": answer, "stderr": "".join(lines)}
    return results


def test_the_guard_refuses_and_logs_the_network_but_not_loopback(sandbox):
    probe = (
        "import socket, urllib.request\n"
        "for attempt in (lambda: socket.create_connection(('example.com', 80), timeout=2),\n"
        "                lambda: urllib.request.urlopen('http://192.0.2.1/', timeout=2)):\n"
        "    try:\n"
        "        attempt()\n"
        "    except OSError as exc:\n"
        "        print('refused:', exc)\n"
        "listener = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(listener.getsockname(), timeout=2).close()\n"
        "print('loopback ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=_env(sandbox, "guard"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("[Errno 101] network access blocked") == 2 and "loopback ok" in done.stdout
    log = _blocked(sandbox, "guard")
    assert "'example.com'" in log and "192.0.2.1" in log


def test_index_builds_offline(offline_runs, sandbox):
    run = offline_runs["index"]
    assert run["returncode"] == 0, run["stderr"]
    assert "chunks" in run["stdout"]
    assert _blocked(sandbox, "startup") == "" and _blocked(sandbox, "index") == ""


def test_ask_answers_offline(offline_runs, sandbox):
    run = offline_runs["ask"]
    assert run["returncode"] == 0, run["stderr"]
    assert "16,000" in json.loads(run["stdout"])["text"]
    assert _blocked(sandbox, "ask") == ""


def test_serve_answers_over_loopback_offline(offline_runs, sandbox):
    run = offline_runs["serve"]
    assert run["answer"] is not None, run["stderr"]
    assert "16,000" in run["answer"]["text"]
    assert _blocked(sandbox, "serve") == ""


def test_eval_scores_offline(offline_runs, sandbox):
    run = offline_runs["eval"]
    assert run["returncode"] == 0, run["stderr"]
    assert (sandbox / "eval" / "summary.json").is_file()
    assert _blocked(sandbox, "eval") == ""

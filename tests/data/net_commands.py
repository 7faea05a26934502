"""Run briefbot commands one after another in this one (network-guarded) interpreter, then serve.

    python net_commands.py OUT_DIR COMMANDS_JSON

COMMANDS_JSON maps a name to the CLI arguments, e.g. {"index": ["index"], "serve": ["serve"]}.
One process instead of one per command saves the imports and model loads of each (tens of
seconds of CPU). Each command but the last writes OUT_DIR/<name>.out, .err and .code; the last
(`serve`, which does not return) keeps the process's own stdout and stderr. Blocked network
attempts go to OUT_DIR/<name>.blocked.log.
"""

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from briefbot.cli import main


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return exc.code if isinstance(exc.code, int) else 2


def run_all(out: Path, commands: dict) -> int:
    *steps, (last, last_argv) = commands.items()
    for name, argv in steps:
        os.environ["BRIEFBOT_NET_LOG"] = str(out / f"{name}.blocked.log")
        with open(out / f"{name}.out", "w") as stdout, open(out / f"{name}.err", "w") as stderr:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = run(argv)
        (out / f"{name}.code").write_text(str(code))
    os.environ["BRIEFBOT_NET_LOG"] = str(out / f"{last}.blocked.log")
    return run(last_argv)


# Guarded: `serve` starts its model worker with multiprocessing's spawn, which imports this file again.
if __name__ == "__main__":
    # The test stops `serve` with Ctrl-C. A suite started as a background job of a non-interactive
    # shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(run_all(Path(sys.argv[1]), json.loads(sys.argv[2])))

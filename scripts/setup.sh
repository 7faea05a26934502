#!/usr/bin/env bash
# Create or reuse .venv at the repo root and install briefbot into it (editable), once per pyproject change.
# Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-run}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "briefbot needs Python 3.11 or newer (found: $("$python" --version 2>&1)); set PYTHON=python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

extras=""
[ "$what" = test ] && extras="[test]"
# llama.cpp is built for this CPU's features, never AMX unless BRIEFBOT_ALLOW_AMX=1, into a wheel
# dir keyed by that configuration (scripts/llama_wheel.py says why); the key is part of the stamp,
# so a .venv moved to another CPU, or a changed BRIEFBOT_ALLOW_AMX, reinstalls llama-cpp-python.
llama_key=$(.venv/bin/python scripts/llama_wheel.py --describe | sed -n 's/.*"key": "\(.*\)".*/\1/p')
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-$llama_key-$what"
if [ ! -f "$stamp" ]; then
  echo "· installing briefbot$extras into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  llama_wheel=$(.venv/bin/python scripts/llama_wheel.py)
  .venv/bin/python -m pip install --quiet --no-deps --force-reinstall "$llama_wheel"
  .venv/bin/python -m pip install --quiet -e ".$extras"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

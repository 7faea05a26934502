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
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-$what"
if [ ! -f "$stamp" ]; then
  echo "· installing briefbot$extras into .venv (the first time builds llama-cpp-python: ~7 min on 2 cores)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv/bin/python -m pip install --quiet -e ".$extras"
  touch "$stamp"
fi

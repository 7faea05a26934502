#!/usr/bin/env bash
# Set up (first time) and open the web chat on the default briefing and model: http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
exec .venv/bin/briefbot serve "$@"

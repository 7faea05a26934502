#!/usr/bin/env bash
# Set up (first time) and run the test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "· installing Debian chromium for the browser test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "· chromium could not be installed; the browser test will be skipped" >&2
  else
    echo "· /usr/bin/chromium missing (sudo apt-get install chromium); the browser test will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"

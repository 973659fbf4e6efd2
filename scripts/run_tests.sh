#!/usr/bin/env bash
# Runs the test suite with the project's interpreter. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python.sh"
cd "$ROOT"
exec "$PY" -m pytest tests -q -p no:cacheprovider --durations=15 "$@"

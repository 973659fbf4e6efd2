#!/usr/bin/env bash
# Lints the tree (ruff, ruff.toml), then runs the test suite with the project's interpreter on two workers
# (pytest-xdist; one test file per worker, so module fixtures such as the documented-commands run happen once).
# Extra arguments go to pytest (e.g. `-n 0` for one process, `-k NAME`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python.sh"
cd "$ROOT"
"$PY" -m ruff check .  # lint first (ruff.toml): seconds
exec "$PY" -m pytest tests -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile "$@"

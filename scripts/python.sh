# Sourced by the scripts: sets PY to the project's interpreter (DETRX_PYTHON or .venv).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# the venv by its real folder: PyTorch's path is part of the C++ kernels' build command (mmdet_detrx/ops), and a
# second path to the same venv (a linked .venv, as in the docs tests' sandboxes) would rebuild them
VENV_BIN="$(cd "$ROOT/.venv/bin" 2>/dev/null && pwd -P || echo "$ROOT/.venv/bin")"
PY="${DETRX_PYTHON:-$VENV_BIN/python}"
export PATH="$(dirname "$PY"):$PATH"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning,ignore::UserWarning,ignore::FutureWarning}"

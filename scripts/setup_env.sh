#!/usr/bin/env bash
# Sets up the project's Python environment. Idempotent: a second run checks a stamp and returns in seconds.
#
#   bash scripts/setup_env.sh            # creates .venv and installs everything
#   DETRX_PYTHON=/path/to/python bash scripts/setup_env.sh   # installs into an existing interpreter
#                                        # (e.g. one with a CUDA torch: its torch is kept)
#
# What it installs and why:
#   torch==2.13.0     the CPU wheel (a looser pin would pull GBs of CUDA packages); kept if torch is present
#   mmengine==0.10.7, mmcv==2.1.0 (compiled ops), mmdet==3.3.0, pycocotools, scipy, openmim, matplotlib
#   onnx, onnxruntime (requirements/deploy.txt): ONNX export and its check, tools/deploy/export_onnx.py
#   setuptools>=77,<81: mmcv and openmim import pkg_resources (removed in setuptools 81); torch wants >=77.
#     openmim pulls openxlab, which pins setuptools==60.2.0: we re-pin afterwards.
#   mmcv 2.1.0 has no wheel for torch 2.13, so it is built from its sdist with MMCV_WITH_OPS=1
#     (~10-22 min on 2 cores). ../shared/wheels is used as a wheel cache when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

if [[ -n "${DETRX_PYTHON:-}" ]]; then
  PY="$DETRX_PYTHON"
else
  if [[ ! -x .venv/bin/python ]]; then
    log "creating virtualenv .venv"
    python3 -m venv .venv
  fi
  PY="$ROOT/.venv/bin/python"
fi

STAMP_INPUTS="$(cat scripts/setup_env.sh setup.py requirements/*.txt 2>/dev/null | sha1sum | cut -d' ' -f1)"
STAMP_FILE="$("$PY" -c 'import sys; print(sys.prefix)')/.detrx_setup_stamp"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# up to date: same inputs, imports work, and mim's link (below) resolves (a removed checkout leaves it dangling)
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP_INPUTS" && -e "$SITE/mmdet_detrx" ]] \
   && "$PY" -c 'import mmdet_detrx, mmcv.ops' >/dev/null 2>&1; then
  log "environment up to date ($PY)"
  exit 0
fi

pip_install() {
  # pip warns about this machine's absent local index folders once per package: drop that noise only.
  "$PY" -m pip install --disable-pip-version-check "$@" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
  return "${PIPESTATUS[0]}"
}
WHEEL_CACHE="$ROOT/../shared/wheels"
FIND_LINKS=()
if [[ -d "$WHEEL_CACHE" ]]; then
  FIND_LINKS=(--find-links "$WHEEL_CACHE")
  log "using wheel cache $WHEEL_CACHE"
fi

log "build tools: setuptools>=77,<81 (pkg_resources for mmcv/openmim), wheel, ninja"
pip_install -q --upgrade "pip>=23" "setuptools>=77,<81" wheel ninja

if "$PY" -c 'import torch' >/dev/null 2>&1; then
  log "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing torch==2.13.0 (CPU wheel)"
  pip_install -q torch==2.13.0
fi

log "installing mmengine, scipy, pycocotools, matplotlib"
pip_install -q -r requirements/runtime.txt

if "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' >/dev/null 2>&1; then
  log "mmcv 2.1.0 with ops already installed"
else
  if [[ ${#FIND_LINKS[@]} -gt 0 ]] && ls "$WHEEL_CACHE"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "installing mmcv 2.1.0 from the wheel cache"
  else
    log "building mmcv 2.1.0 from its sdist with compiled ops (MMCV_WITH_OPS=1)."
    log "  No mmcv wheel exists for torch 2.13; this takes about 10-22 minutes on 2 cores."
  fi
  # A heartbeat while pip compiles (it prints nothing for many minutes).
  ( t=0; while sleep 60; do t=$((t + 1)); log "  ... still installing mmcv ($t min)"; done ) &
  HEARTBEAT=$!
  trap 'kill $HEARTBEAT 2>/dev/null || true' EXIT
  MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    pip_install "${FIND_LINKS[@]}" --no-build-isolation mmcv==2.1.0
  kill $HEARTBEAT 2>/dev/null || true
fi

log "installing mmdet==3.3.0, openmim, test and ONNX export tools"
pip_install -q mmdet==3.3.0 openmim -r requirements/tests.txt -r requirements/deploy.txt
log "re-pinning setuptools>=77,<81 (openmim/openxlab downgrades it)"
pip_install -q "setuptools>=77,<81"

log "installing mmdet_detrx (editable)"
pip_install -q --no-build-isolation --no-deps -e .

# mim finds a package's tools/configs at <site-packages>/<module>/.mim; a PEP 660 editable install has no
# such folder, so link the package there (the link resolves to this checkout, so edits stay live).
if [[ ! -e "$SITE/mmdet_detrx" ]]; then  # absent, or a link left dangling by a removed checkout
  log "linking $SITE/mmdet_detrx -> $ROOT/mmdet_detrx (for mim)"
  ln -sfn "$ROOT/mmdet_detrx" "$SITE/mmdet_detrx"
elif [[ -L "$SITE/mmdet_detrx" && "$(readlink -f "$SITE/mmdet_detrx")" != "$ROOT/mmdet_detrx" ]]; then
  log "re-linking $SITE/mmdet_detrx -> $ROOT/mmdet_detrx (for mim)"
  ln -sfn "$ROOT/mmdet_detrx" "$SITE/mmdet_detrx"
fi

"$PY" - <<'PY'
import mmcv, mmdet, mmengine, torch, setuptools
import mmcv.ops  # compiled ops must load
import mmdet_detrx
print(f'[setup] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmdet {mmdet.__version__}, setuptools {setuptools.__version__}')
PY
echo "$STAMP_INPUTS" > "$STAMP_FILE"
log "done"

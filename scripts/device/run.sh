#!/usr/bin/env bash
# On the lent GPU machine: unpack .device_kit, put mmcv_ext_stub.py in place of mmcv's compiled ops, check the
# imports and the GPU, run scripts/device/driver.py until the deadline, pack work_dirs (no checkpoints) into $OUT.
#   bash scripts/device/run.sh SLOTS DEADLINE_SECONDS [driver options...]
set -u
T0=$(date +%s)
SLOTS=${1:-10}; DEADLINE=${2:-540}; shift 2 || true
OUT=${OUT:-/tmp/device_out}; mkdir -p "$OUT"
SITE=${SITE:-/tmp/site}
PY=${PY:-python3}
if [ ! -f "$SITE/.ok" ]; then
  mkdir -p "$SITE" && tar -xJf .device_kit/site.tar.xz -C "$SITE" || exit 3
  if [ -z "${SKIP_WHL:-}" ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .device_kit/whl/*.whl || exit 4
  fi
  touch "$SITE/.ok"
fi
cp scripts/device/mmcv_ext_stub.py "$SITE/mmcv/_ext.py" || exit 3
export PYTHONPATH="$SITE:$(pwd)" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
echo "setup done in $(( $(date +%s) - T0 )) s"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null
$PY -c "import torch, mmcv.ops, mmdet, mmdet_detrx; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  || exit 5
$PY scripts/device/driver.py --slots "$SLOTS" --deadline $(( DEADLINE - ($(date +%s) - T0) )) "$@" 2>&1 \
  | tee "$OUT/driver.log"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null | tee -a "$OUT/driver.log"
tar --exclude='*.pth' -czf "$OUT/results.tar.gz" work_dirs 2>/dev/null
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"

#!/usr/bin/env bash
# The main job: a short real training of this plugin's Conditional DETR on the vendored coco128 (2 CPU cores:
# a few minutes), COCO evaluation, a checkpoint, and a PNG with predicted boxes on an image.
# No ImageNet weights can be downloaded here, so the ResNet-18 trains from scratch (GroupNorm, full learning
# rate: scripts/scratch_backbone.txt): expect a near-zero mAP after minutes; the point is the whole pipeline.
#   DEMO_EPOCHS=N      epochs to train (default 6)
#   DEMO_CONFIG=PATH   another config (default: Conditional DETR R-18 on coco128)
#   DEMO_WORK_DIR=DIR  output folder (default work_dirs/demo; recreated on each run)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python.sh"
cd "$ROOT"
CONFIG="${DEMO_CONFIG:-configs/conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py}"
EPOCHS="${DEMO_EPOCHS:-6}"
WD="${DEMO_WORK_DIR:-work_dirs/demo}"
IMAGE="data/coco128/train2017/000000000009.jpg"
rm -rf "$WD"
mkdir -p "$WD"
start=$(date +%s)
echo "[demo] training $CONFIG for $EPOCHS epochs on data/coco128 (CPU) -> $WD"
"$PY" tools/train.py "$CONFIG" --work-dir "$WD" \
  --cfg-options train_cfg.max_epochs="$EPOCHS" train_cfg.val_interval="$EPOCHS" default_hooks.logger.interval=20 \
  $(cat scripts/scratch_backbone.txt) \
  2>&1 | tee "$WD/train.log" | grep -E "Epoch\(train\).*\]\[[0-9]+/[0-9]+\].*loss:|bbox_mAP_copypaste|Saving checkpoint" || true
CKPT="$WD/epoch_${EPOCHS}.pth"
[[ -f "$CKPT" ]] || { echo "[demo] training failed, see $WD/train.log" >&2; tail -30 "$WD/train.log" >&2; exit 1; }
echo "[demo] evaluating $CKPT"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WD/test" 2>&1 | tee "$WD/test.log" \
  | grep -E "Average Precision|bbox_mAP" || true
grep -q "coco/bbox_mAP" "$WD/test.log" || { echo "[demo] evaluation failed, see $WD/test.log" >&2; exit 1; }
echo "[demo] drawing predictions on $IMAGE"
"$PY" tools/analysis/draw_predictions.py "$CONFIG" "$CKPT" "$IMAGE" --out-dir "$WD/vis" --score-thr 0.05 --max-boxes 10 \
  2>&1 | grep -E "_pred.png" || { echo "[demo] drawing failed" >&2; exit 1; }
end=$(date +%s)
MAP=$(grep -oE "coco/bbox_mAP: [0-9.]+" "$WD/test.log" | tail -1)
echo "[demo] done in $((end - start)) s: $MAP (coco128, evaluated on its own 128 images)"
echo "[demo] checkpoint: $CKPT"
echo "[demo] picture:    $WD/vis/$(basename "${IMAGE%.*}")_pred.png"

#!/usr/bin/env bash
# The main job (make demo): a working detector on a CPU box, in about 5 minutes on 2 cores, never evaluated on
# training images.
#   1. evaluates the shipped checkpoint (Co-DINO-trained DINO, EfficientNet-Lite0, checkpoints/README.md) on the
#      BCCD *test* split (72 images) and prints its VOC mAP and per-class AP;
#   2. draws its predictions (class names, scores) on a BCCD test image into a PNG;
#   3. trains the same recipe (configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py) for a few minutes from the ImageNet
#      backbone alone, evaluates that on BCCD test too and prints both numbers side by side.
#   DEMO_TRAIN_IMAGES=N  training images for step 3 (default 60: one epoch of 30 iterations)
#   DEMO_WORK_DIR=DIR    output folder (default work_dirs/demo; recreated on each run)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python.sh"
cd "$ROOT"
SHIPPED_CONFIG=configs/dino/dino_lite0_1xb2-14e_bccd.py
SHIPPED_CKPT=checkpoints/dino_lite0_bccd_co-dino-14e.pth
TRAIN_CONFIG=configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py
IMAGE=data/bccd/BCCD/JPEGImages/BloodImage_00031.jpg  # BCCD test: 18 RBC, 2 WBC, 4 platelets
TRAIN_IMAGES="${DEMO_TRAIN_IMAGES:-60}"
WD="${DEMO_WORK_DIR:-work_dirs/demo}"
rm -rf "$WD"
mkdir -p "$WD"
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }
voc_map() { grep -oE "pascal_voc/mAP: [0-9.]+" "$1" | tail -1 | awk '{print $2}'; }
per_class() {  # the per-class table VOCMetric logs: | class | gts | dets | recall | ap |
  grep -E "^\| (RBC|WBC|Platelets|class) " "$1" | tail -4 || true
}
run_test() {  # config checkpoint out_dir [extra args]
  local cfg=$1 ckpt=$2 out=$3; shift 3
  "$PY" tools/test.py "$cfg" "$ckpt" --work-dir "$out" "$@" > "$out.log" 2>&1 \
    || { echo "[demo] evaluation failed, see $out.log" >&2; tail -20 "$out.log" >&2; exit 1; }
}

echo "[demo] 1/3 evaluating the shipped checkpoint $SHIPPED_CKPT on BCCD test (72 held-out images) ..."
run_test "$SHIPPED_CONFIG" "$SHIPPED_CKPT" "$WD/shipped"
SHIPPED_MAP=$(voc_map "$WD/shipped.log")
per_class "$WD/shipped.log"
echo "[demo]     shipped checkpoint: BCCD test VOC mAP@0.5 = $SHIPPED_MAP ($(elapsed))"

echo "[demo] 2/3 drawing its predictions on $IMAGE ..."
"$PY" tools/analysis/draw_predictions.py "$SHIPPED_CONFIG" "$SHIPPED_CKPT" "$IMAGE" --out-dir "$WD/vis" \
  --score-thr 0.3 --max-boxes 50 2>&1 | grep -E "_pred.png" || { echo "[demo] drawing failed" >&2; exit 1; }

echo "[demo] 3/3 training $TRAIN_CONFIG from the ImageNet backbone: 1 epoch on $TRAIN_IMAGES BCCD train images ..."
"$PY" tools/train.py "$TRAIN_CONFIG" --work-dir "$WD/train" \
  --cfg-options train_cfg.max_epochs=1 train_cfg.val_interval=100 "train_dataloader.dataset.indices=$TRAIN_IMAGES" \
  param_scheduler.0.end=20 default_hooks.logger.interval=10 default_hooks.checkpoint.save_best=None \
  > "$WD/train.log" 2>&1 &
TRAIN_PID=$!
while kill -0 $TRAIN_PID 2>/dev/null; do  # progress: the latest logged iteration and loss
  sleep 15
  line=$(grep -oE "Epoch\(train\) +\[1\]\[ *[0-9]+/[0-9]+\].*eta: [0-9:]+|loss: [0-9.]+" "$WD/train.log" 2>/dev/null \
         | grep -oE "\[ *[0-9]+/[0-9]+\]|eta: [0-9:]+|^loss: [0-9.]+" | tail -3 | tr '\n' ' ' || true)
  [[ -n "$line" ]] && echo "[demo]     $line($(elapsed))"
done
wait $TRAIN_PID || { echo "[demo] training failed, see $WD/train.log" >&2; tail -30 "$WD/train.log" >&2; exit 1; }
CKPT="$WD/train/epoch_1.pth"
echo "[demo]     evaluating the short run on BCCD test ..."
run_test "$TRAIN_CONFIG" "$CKPT" "$WD/short"
SHORT_MAP=$(voc_map "$WD/short.log")

echo "[demo] done in $(elapsed). BCCD test VOC mAP@0.5 (72 held-out images):"
echo "[demo]   shipped checkpoint (14-epoch recipe, checkpoints/README.md): $SHIPPED_MAP"
echo "[demo]   this demo's short run ($TRAIN_IMAGES images, 1 epoch, from ImageNet): $SHORT_MAP"
echo "[demo] picture: $WD/vis/$(basename "${IMAGE%.*}")_pred.png"

# METR pre-training -> Co-DETR fine-tuning of DINO on BCCD (what transfers: see
# ./dino_lite0_1xb2-14e_bccd_from-metr.py), model, data and schedule of ../co_detr/co-dino_lite0_1xb2-14e_bccd.py.
#   1. pre-train:  python tools/train.py configs/metr/metr-256_lite0_1xb2-12e_coco128-bccd.py
#   2. python tools/model_converters/transfer.py work_dirs/metr-256_lite0_1xb2-12e_coco128-bccd/epoch_12.pth \
#          work_dirs/metr-256_lite0_1xb2-12e_coco128-bccd/co-dino_init.pth \
#          --config configs/metr/co-dino_lite0_1xb2-14e_bccd_from-metr.py
#   3. python tools/train.py configs/metr/co-dino_lite0_1xb2-14e_bccd_from-metr.py
# The transfer tool prints what loaded and refuses a checkpoint that would leave the transformer at its
# initialisation. The whole matrix of pre-trainings x detectors x Co-DETR: docs/composition.md.
_base_ = '../co_detr/co-dino_lite0_1xb2-14e_bccd.py'

load_from = 'work_dirs/metr-256_lite0_1xb2-12e_coco128-bccd/co-dino_init.pth'
model = dict(backbone=dict(init_cfg=None))  # the backbone comes from load_from too

# Fine-tune the small Deformable DETR (EfficientNet-Lite0) on BCCD from its UP-DETR pre-training: model, data and
# schedule of ../deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py, only the initialisation differs.
#   1. pre-train:  python tools/train.py configs/up_detr/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/transfer.py \
#          work_dirs/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-deformable-detr_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-deformable-detr_lite0_1xb2-14e_finetune-bccd.py
# The transfer tool prints what loaded and refuses a checkpoint that would leave the transformer at its
# initialisation. The whole matrix of pre-trainings x detectors x Co-DETR: docs/composition.md.
_base_ = '../deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py'

load_from = 'work_dirs/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth'
model = dict(backbone=dict(init_cfg=None))  # the backbone comes from load_from too

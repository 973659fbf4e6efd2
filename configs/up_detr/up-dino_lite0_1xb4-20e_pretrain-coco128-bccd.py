# UP-DETR pre-training of the small DINO (256-d, 2+2 layers, 4 levels, 100 queries in 10 groups, query selection,
# contrastive denoising of the patch boxes) with the frozen ImageNet EfficientNet-Lite0 on the vendored coco128 +
# BCCD images without labels (data, patches and schedule: ../_base_/up-detr_lite0_pretrain.py). The patch embedding
# is added to DINO's content queries, the reference boxes are its selected encoder proposals, the group mask joins
# the denoising mask (mmdet_detrx.models.detectors.UPDINO).
#   1. python tools/train.py configs/up_detr/up-dino_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/transfer.py work_dirs/up-dino_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-dino_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-dino_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-dino_lite0_1xb2-14e_finetune-bccd.py
# (or Co-DETR fine-tuning: ./co-up-dino_lite0_1xb2-14e_finetune-bccd.py, docs/composition.md)
_base_ = ['../_base_/models/dino_lite0.py', '../_base_/up-detr_lite0_pretrain.py']

model = dict(type='UPDINO', patch_encoder={{_base_.up_patch_encoder}},
             bbox_head=dict(type='UPDINOHead', num_classes=1, patch_channels={{_base_.backbone_channels}}))

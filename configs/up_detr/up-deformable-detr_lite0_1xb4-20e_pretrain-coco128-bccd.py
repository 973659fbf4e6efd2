# UP-DETR pre-training of the small single-stage Deformable DETR (128-d, 2+2 layers, 4 levels, 100 queries in 10
# groups) with the frozen ImageNet EfficientNet-Lite0 (strides 8-32; the patches are pooled from its last level) on
# the vendored coco128 + BCCD images without labels (data, patches and schedule: ../_base_/up-detr_lite0_pretrain.py).
# The patch embedding is added to the content queries; the reference points come from the learnt positional
# queries (mmdet_detrx.models.detectors.UPDeformableDETR).
#   1. python tools/train.py configs/up_detr/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/transfer.py \
#          work_dirs/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-deformable-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-deformable-detr_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-deformable-detr_lite0_1xb2-14e_finetune-bccd.py
# (or Co-DETR fine-tuning: ./co-up-deformable-detr_lite0_1xb2-14e_finetune-bccd.py, docs/composition.md)
_base_ = ['../_base_/models/deformable-detr_lite0.py', '../_base_/up-detr_lite0_pretrain.py']

model = dict(type='UPDeformableDETR', patch_encoder={{_base_.up_patch_encoder}},
             bbox_head=dict(type='UPDeformableDETRHead', num_classes=1, patch_channels={{_base_.backbone_channels}}))

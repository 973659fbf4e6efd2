# A small Co-DINO on the vendored coco128 (80 classes) for a quick CPU run:
#   mim train mmdet_detrx configs/co_detr/co-dino_r18_1xb2-12e_coco128.py
# The model of ../_base_/models/co-dino_lite0.py (4 scales, 2 encoder / 2 decoder layers, 100 queries, auxiliary
# RPN + RoI head (aux0) and ATSS (aux1) on the encoder memory) with a ResNet-18 trained from scratch (GroupNorm,
# no download) instead of the ImageNet EfficientNet-Lite0 (co-dino_lite0_1xb2-14e_bccd.py has those weights).
_base_ = ['../_base_/models/co-dino_lite0.py', '../_base_/datasets/coco128_detection.py',
          '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py']
model = dict(
    num_classes=80,
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(_delete_=True, type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), norm_eval=False, style='pytorch',
                  init_cfg=None),
    neck=dict(in_channels=[128, 256, 512]))

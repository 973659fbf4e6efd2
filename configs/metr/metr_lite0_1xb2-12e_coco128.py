# METR (small) trained on coco128 alone with the ImageNet EfficientNet-Lite0 backbone: the single-dataset baseline
# of ./metr_lite0_1xb2-12e_coco128-bccd.py (./metr_r18_1xb2-12e_coco128.py with the Lite0 backbone). See docs/metr.md.
#   python tools/train.py configs/metr/metr_lite0_1xb2-12e_coco128.py
_base_ = ['./metr_r18_1xb2-12e_coco128.py', '../_base_/models/lite0_backbone.py']
model = dict(data_preprocessor={{_base_.lite0_data_preprocessor_replace}}, backbone={{_base_.lite0_c3_c5_replace}},
             neck=dict(in_channels={{_base_.lite0_c3_c5_channels}}))
randomness = dict(seed=0)

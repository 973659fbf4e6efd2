# Model part of the small DETR configs: exactly the Conditional DETR settings of ./conditional-detr_r18.py
# (backbone, neck, encoder, queries) with DETR's plain decoder and softmax classification (no-object weight 0.1;
# ./detr_parts_128.py) and its matching cost (./detr_matching.py), for a like-for-like DETR vs Conditional DETR
# comparison.
_base_ = ['./conditional-detr_r18.py', './detr_parts_128.py']

model = dict(type='ModularDETR', decoder={{_base_.detr_decoder}}, bbox_head={{_base_.detr_head}},
             train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}))

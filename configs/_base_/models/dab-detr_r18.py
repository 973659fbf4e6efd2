# Model part of the small DAB-DETR configs: the backbone, neck, queries and matching of ./conditional-detr_r18.py
# with mmdet's DAB-DETR encoder, anchor-box decoder and head (./dab_parts_128.py).
_base_ = ['./conditional-detr_r18.py', './dab_parts_128.py']

model = dict(
    type='DABDETR',
    with_random_refpoints=False,
    num_patterns=0,
    encoder={{_base_.dab_encoder}},
    decoder={{_base_.dab_decoder}},
    positional_encoding={{_base_.dab_positional_encoding}},
    bbox_head={{_base_.dab_head}})

# Model part of the small DAB-DETR configs: the backbone, neck, queries and matching of ./conditional-detr_r18.py
# with mmdet's DAB-DETR encoder, anchor-box decoder and head (./dab_parts_128.py).
_base_ = ['./conditional-detr_r18.py', './dab_parts_128.py']

model = {{_base_.dab_detector}}

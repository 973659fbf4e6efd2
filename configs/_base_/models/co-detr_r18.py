# Model part of the small Co-DETR-over-plain-DETR configs: ./co-conditional-detr_r18.py (auxiliary RPN + RoI head
# and ATSS on the single-level memory turned into strides 8-128) with the plain DETR of ./detr_r18.py as the base.
# Positive queries of a base without reference points: see DETRQueryDecoder in
# mmdet_detrx/models/detectors/co_query_decoders.py.
_base_ = ['./co-conditional-detr_r18.py', './detr_parts_128.py']

model = dict(
    query_head=dict(type='ModularDETR', decoder={{_base_.detr_decoder}}, bbox_head={{_base_.co_detr_head}},
                    train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}})))

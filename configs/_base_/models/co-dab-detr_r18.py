# Model part of the small Co-DAB-DETR configs: ./co-conditional-detr_r18.py (auxiliary RPN + RoI head and ATSS on
# the single-level memory turned into strides 8-128) with the DAB-DETR of ./dab-detr_r18.py as the base; a positive
# box becomes a DAB anchor query (DABQueryDecoder in mmdet_detrx/models/detectors/co_query_decoders.py).
_base_ = ['./co-conditional-detr_r18.py', './dab_parts_128.py']

model = dict(
    query_head=dict(
        type='DABDETR',
        with_random_refpoints=False,
        num_patterns=0,
        encoder={{_base_.dab_encoder}},
        decoder={{_base_.dab_decoder}},
        positional_encoding={{_base_.dab_positional_encoding}},
        bbox_head={{_base_.co_dab_head}}))

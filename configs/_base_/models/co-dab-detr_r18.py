# Model part of the small Co-DAB-DETR configs: ./co-conditional-detr_r18.py (auxiliary RPN + RoI head and ATSS on
# the single-level memory turned into strides 8-128) with the DAB-DETR of ./dab-detr_r18.py as the base; a positive
# box becomes a DAB anchor query (DABQueryDecoder in mmdet_detrx/models/detectors/co_query_decoders.py).
_base_ = ['./co-conditional-detr_r18.py', './dab_parts_128.py']

model = dict(query_head={{_base_.co_dab_detector}})

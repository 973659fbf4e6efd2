# ./co_aux_heads_128.py on a 256-d encoder memory (the small DINO of ./dino_lite0.py): the heads keep their
# 128-d convolutions, only their input width changes.
_base_ = './co_aux_heads_128.py'
co_rpn_head = dict(in_channels=256)
co_roi_head = dict(bbox_roi_extractor=dict(out_channels=256), bbox_head=dict(in_channels=256))
co_atss_head = dict(in_channels=256)

# ./co_aux_heads_r50.py on strides 4-128 (5 encoder levels from stride 4 + the memory neck's extra level), as
# the Co-DINO 5-scale configs: the same variables, only the strides and the RoI level mapping differ.
_base_ = './co_aux_heads_r50.py'
co_strides = [4, 8, 16, 32, 64, 128]
co_rpn_head = dict(anchor_generator=dict(strides=co_strides))
co_roi_head = dict(bbox_roi_extractor=dict(featmap_strides=co_strides[:5], finest_scale=56))
co_atss_head = dict(anchor_generator=dict(strides=co_strides))

# Model part of the small Co-Conditional-DETR configs: the Conditional DETR of ./conditional-detr_r18.py
# (ResNet-18 from scratch, embed_dims 128, 2+2 layers, 100 queries) with auxiliary RPN + RoI head (aux0) and ATSS
# (aux1) on the encoder memory turned into strides 8-128 (./co_aux_heads_128.py), as
# ../../co_detr/co-conditional-detr_r50_8xb2-50e_coco.py but with narrow auxiliary heads and fewer sampled RoIs.
# A dataset config sets ``model.num_classes`` (every head follows it).
_base_ = ['./conditional-detr_r18.py', './co_aux_heads_128.py']

num_dec_layers = 2

# DetrxCoDETR around the base detector: its backbone, neck and preprocessor at the top level, the rest (read from
# the base, not restated) as the query head
model = dict(
    _delete_=True, type='DetrxCoDETR', num_classes=80, data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
    query_head=dict(type='CondDETR', num_queries={{_base_.model.num_queries}}, encoder={{_base_.model.encoder}},
                    decoder={{_base_.model.decoder}}, positional_encoding={{_base_.model.positional_encoding}},
                    bbox_head={{_base_.model.bbox_head}}, train_cfg={{_base_.model.train_cfg}},
                    test_cfg={{_base_.model.test_cfg}}),
    # the single stride-32 level becomes strides 8-128: 2 upsampled levels and 2 extra downsampled ones
    memory_neck=dict(type='DetrxCoMemoryNeck', num_upsample_levels=2, num_extra_levels=2),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100),
    aux_head_loss_weight=num_dec_layers * 2.0, aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}), test_cfg=dict(eval_module='detr', eval_index=0))

# Model part of the small Co-Deformable-DETR configs: the Deformable DETR of ./deformable-detr_r18.py (128-d, 2+2
# layers, 100 queries, 4 levels) with Co-DETR's auxiliary RPN + RoI head (aux0) and FCOS (aux1) on the encoder
# memory + 1 extra level (strides 8-128, ./co_aux_heads_128.py). The FCOS head (the paper's third one-to-many
# head) is used here; the other small Co-DETR configs use ATSS. A dataset config sets ``model.num_classes``.
_base_ = ['./deformable-detr_r18.py', './co_aux_heads_128.py']

num_dec_layers = 2

# DetrxCoDETR around the base detector (as ./co-conditional-detr_r18.py); the head is the base's, able to train
# the positive query groups
model = dict(
    _delete_=True, type='DetrxCoDETR', num_classes=80, data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
    query_head=dict(type='DeformableDETR', num_queries={{_base_.model.num_queries}},
                    num_feature_levels={{_base_.model.num_feature_levels}},
                    with_box_refine={{_base_.model.with_box_refine}}, as_two_stage={{_base_.model.as_two_stage}},
                    encoder={{_base_.model.encoder}}, decoder={{_base_.model.decoder}},
                    positional_encoding={{_base_.model.positional_encoding}},
                    bbox_head=dict(_base_.model.bbox_head, type='DetrxCoDeformableDETRHead'),
                    train_cfg={{_base_.model.train_cfg}}, test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100),
    aux_head_loss_weight=num_dec_layers * 2.0, aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_fcos_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}), test_cfg=dict(eval_module='detr', eval_index=0))

# Model part of the small Co-Deformable-DETR configs: the Deformable DETR of ./deformable-detr_r18.py (128-d, 2+2
# layers, 100 queries, 4 levels) with Co-DETR's auxiliary RPN + RoI head (aux0) and FCOS (aux1) on the encoder
# memory + 1 extra level (strides 8-128, ./co_aux_heads_128.py). The FCOS head (the paper's third one-to-many
# head) is used here; the other small Co-DETR configs use ATSS. A dataset config sets ``model.num_classes``.
_base_ = ['./deformable-detr_r18.py', './co_aux_heads_128.py']

num_dec_layers = 2

model = dict(
    _delete_=True,
    type='DetrxCoDETR',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    query_head=dict(
        type='DeformableDETR',
        num_queries=100,
        num_feature_levels=4,
        with_box_refine=False,
        as_two_stage=False,
        encoder={{_base_.model.encoder}},
        decoder={{_base_.model.decoder}},
        positional_encoding={{_base_.model.positional_encoding}},
        bbox_head=dict(type='DetrxCoDeformableDETRHead', num_classes=80, embed_dims={{_base_.embed_dims}},
                       sync_cls_avg_factor=True,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg={{_base_.model.train_cfg}},
        test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100),
    aux_head_loss_weight=num_dec_layers * 2.0,
    aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}},
    roi_head=[{{_base_.co_roi_head}}],
    bbox_head=[{{_base_.co_fcos_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}),
    num_classes=80,
    test_cfg=dict(eval_module='detr', eval_index=0))

# Model part of the small Co-DINO configs: the DINO of ./dino_lite0.py (EfficientNet-Lite0 with offline ImageNet
# weights, 4 scales, 2+2 layers, 100 queries) with Co-DETR's auxiliary RPN + RoI head (aux0) and ATSS (aux1) on the
# encoder memory (strides 8-128, ./co_aux_heads_128_in256.py), Co-DINO's quality focal loss. A dataset config
# sets ``model.num_classes`` (every head follows it).
_base_ = ['./dino_lite0.py', './co_aux_heads_128_in256.py']
num_classes = 80
num_dec_layers = 2  # as ./dino_lite0.py

# DetrxCoDETR around the base detector (as ./co-conditional-detr_r18.py)
model = dict(
    _delete_=True, type='DetrxCoDETR', data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
    query_head=dict(
        type='DINO', num_queries={{_base_.model.num_queries}}, dn_cfg={{_base_.model.dn_cfg}},
        with_box_refine={{_base_.model.with_box_refine}}, as_two_stage={{_base_.model.as_two_stage}},
        num_feature_levels={{_base_.model.num_feature_levels}}, encoder={{_base_.model.encoder}},
        decoder={{_base_.model.decoder}}, positional_encoding={{_base_.model.positional_encoding}},
        # Co-DINO's head: quality focal loss, no class-average sync
        bbox_head=dict(type='DetrxCoDINOHead', num_classes=num_classes, embed_dims={{_base_.embed_dims}},
                       loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
                       loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
        train_cfg={{_base_.model.train_cfg}}, test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    # the reference's Co-DINO trains without the positive queries' content term (its with_coord_feat=False)
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100,
                         with_content_feat=False),
    aux_head_loss_weight=num_dec_layers * 2.0, aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}), test_cfg=dict(eval_module='detr', eval_index=0))

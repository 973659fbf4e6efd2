# Model part of the small Co-DINO configs: the DINO of ./dino_lite0.py (EfficientNet-Lite0 with offline ImageNet
# weights, 4 scales, 2+2 layers, 100 queries) with Co-DETR's auxiliary RPN + RoI head (aux0) and ATSS (aux1) on the
# encoder memory (strides 8-128), Co-DINO's quality focal loss. A dataset config sets ``model.num_classes`` (every
# head follows it).
_base_ = './dino_lite0.py'
num_classes = 80
num_dec_layers = 2  # as ./dino_lite0.py
strides = [8, 16, 32, 64, 128]
embed_dims = 256  # as ./dino_lite0.py

model = dict(
    _delete_=True,
    type='DetrxCoDETR',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    query_head=dict(
        type='DINO',
        num_queries={{_base_.model.num_queries}},
        with_box_refine=True,
        as_two_stage=True,
        num_feature_levels=4,
        encoder={{_base_.model.encoder}},
        decoder={{_base_.model.decoder}},
        positional_encoding={{_base_.model.positional_encoding}},
        bbox_head=dict(
            type='DetrxCoDINOHead',
            num_classes=num_classes,
            embed_dims=embed_dims,
            loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=5.0),
            loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        dn_cfg={{_base_.model.dn_cfg}},
        train_cfg={{_base_.model.train_cfg}},
        test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    # the reference's Co-DINO trains without the positive queries' content term (its with_coord_feat=False)
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100,
                         with_content_feat=False),
    aux_head_loss_weight=num_dec_layers * 2.0,
    aux_query_loss_weight=1.0,
    rpn_head=dict(
        type='RPNHead',
        in_channels=embed_dims,
        feat_channels=128,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=strides),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0),
        train_cfg=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=128, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
            allowed_border=-1, pos_weight=-1, debug=False),
        test_cfg=dict(nms_pre=500, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)),
    roi_head=[
        dict(
            type='DetrxCoStandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=embed_dims, featmap_strides=strides[:4], finest_scale=56),
            bbox_head=dict(
                type='Shared2FCBBoxHead', in_channels=embed_dims, fc_out_channels=256, roi_feat_size=7,
                num_classes=num_classes, reg_class_agnostic=False, reg_decoded_bbox=True,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                                target_stds=[0.1, 0.1, 0.2, 0.2]),
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=10.0)),
            train_cfg=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                              match_low_quality=False, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=256, pos_fraction=0.25, neg_pos_ub=-1,
                             add_gt_as_proposals=True),
                pos_weight=-1, debug=False),
            test_cfg=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    ],
    bbox_head=[
        dict(
            type='DetrxCoATSSHead',
            num_classes=num_classes,
            in_channels=embed_dims,
            stacked_convs=1,
            feat_channels=128,
            anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8, scales_per_octave=1,
                                  strides=strides),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
            loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
            train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1, debug=False),
            test_cfg=dict(nms_pre=500, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.6),
                          max_per_img=100)),
    ],
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)),
    test_cfg=dict(eval_module='detr', eval_index=0))

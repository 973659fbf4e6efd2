# A small Co-DINO on the vendored coco128 (80 classes) for a quick CPU run:
#   mim train mmdet_detrx configs/co_detr/co-dino_r18_1xb2-12e_coco128.py
# ResNet-18 from scratch (GroupNorm, trainable: no download; co-dino_lite0_1xb2-14e_bccd.py has ImageNet weights
# offline), 4 scales, 2 encoder /
# 2 decoder layers, 100 queries, auxiliary RPN + RoI head (aux0) and ATSS (aux1) on the encoder memory.
# embed_dims stays 256: mmdet's DINO decoder hard-codes its 4 x 128 sine embedding of the reference boxes.
_base_ = [
    '../_base_/datasets/coco128_detection.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]

num_classes = 80
num_dec_layers = 2
strides = [8, 16, 32, 64, 128]
embed_dims = 256

model = dict(
    type='DetrxCoDETR',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), norm_eval=False, style='pytorch',
        init_cfg=None),
    neck=dict(
        type='ChannelMapper', in_channels=[128, 256, 512], kernel_size=1, out_channels=embed_dims, act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    query_head=dict(
        type='DINO',
        num_queries=100,
        with_box_refine=True,
        as_two_stage=True,
        num_feature_levels=4,
        encoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, dropout=0.0),
                ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.0))),
        decoder=dict(
            num_layers=num_dec_layers,
            return_intermediate=True,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0),
                cross_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, dropout=0.0),
                ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.0)),
            post_norm_cfg=None),
        positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=0.0, temperature=20),
        bbox_head=dict(
            type='DetrxCoDINOHead',
            num_classes=num_classes,
            embed_dims=embed_dims,
            loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=5.0),
            loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                    group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=50)),
        train_cfg=dict(
            assigner=dict(
                type='HungarianAssigner',
                match_costs=[
                    dict(type='FocalLossCost', weight=2.0),
                    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                    dict(type='IoUCost', iou_mode='giou', weight=2.0)
                ])),
        test_cfg=dict(max_per_img=100)),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=100),
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

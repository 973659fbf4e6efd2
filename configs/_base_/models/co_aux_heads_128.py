# Co-DETR's auxiliary heads for the small 128-d models, as variables: an RPN (`co_rpn_head`) + RoI head
# (`co_roi_head`), ATSS (`co_atss_head`) and FCOS (`co_fcos_head`), all on the encoder memory turned into strides
# 8-128 (DetrxCoMemoryNeck), narrow and with fewer sampled RoIs than the paper's R50 configs. A Co-DETR model base
# picks its heads: `rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}],
# bbox_head=[{{_base_.co_atss_head}}]`. `model.num_classes` of DetrxCoDETR sets every head's classes.
_co_dims = 128
co_strides = [8, 16, 32, 64, 128]
co_rpn_head = dict(
    type='RPNHead',
    in_channels=_co_dims,
    feat_channels=_co_dims,
    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                          strides=co_strides),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True,
                      ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=128, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
        allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=500, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0))
# proposals of the auxiliary RPN during training (DetrxCoDETR train_cfg.rpn_proposal)
co_rpn_proposal = dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
co_roi_head = dict(
    type='DetrxCoStandardRoIHead',
    bbox_roi_extractor=dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                            out_channels=_co_dims, featmap_strides=co_strides[:4], finest_scale=56),
    bbox_head=dict(
        type='Shared2FCBBoxHead', in_channels=_co_dims, fc_out_channels=256, roi_feat_size=7, reg_class_agnostic=False,
        reg_decoded_bbox=True,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=256, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
        pos_weight=-1, debug=False),
    test_cfg=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
co_atss_head = dict(
    type='DetrxCoATSSHead',
    in_channels=_co_dims,
    stacked_convs=1,
    feat_channels=_co_dims,
    anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8, scales_per_octave=1,
                          strides=co_strides),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
    loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=500, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))
# FCOS as in the Co-DETR paper's one-to-many heads: a positive point of stride s gives the box of side 8 * s
# centred on it (DetrxCoFCOSHead.pos_box_scale), the size of an ATSS anchor above
co_fcos_head = dict(
    type='DetrxCoFCOSHead',
    in_channels=_co_dims,
    stacked_convs=1,
    feat_channels=_co_dims,
    strides=co_strides,
    regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)),
    norm_on_bbox=True,
    centerness_on_reg=True,
    center_sampling=True,
    center_sample_radius=1.5,
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
    loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    test_cfg=dict(nms_pre=500, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))

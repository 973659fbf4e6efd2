# Co-DETR's auxiliary heads of the paper's ResNet-50 configs, as variables: RPN (`co_rpn_head`, proposals
# `co_rpn_proposal`) + RoI head (`co_roi_head`) and ATSS (`co_atss_head`), 256 channels, on the encoder memory
# as strides 8-128 (4 encoder levels + the memory neck's extra level). A Co-DETR config lists this file in its
# `_base_` and sets `rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}],
# bbox_head=[{{_base_.co_atss_head}}], train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}})`.
# ./co_aux_heads_r50_5scale.py: the same on strides 4-128 (Co-DINO 5-scale); ./co_aux_heads_128.py: narrower.
# `model.num_classes` of DetrxCoDETR sets every head's classes.
co_strides = [8, 16, 32, 64, 128]
co_rpn_head = dict(
    type='RPNHead',
    in_channels=256,
    feat_channels=256,
    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                          strides=co_strides),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True,
                      ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
        allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0))
co_rpn_proposal = dict(nms_pre=4000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
co_roi_head = dict(
    type='DetrxCoStandardRoIHead',
    bbox_roi_extractor=dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                            out_channels=256, featmap_strides=co_strides[:4], finest_scale=112),
    bbox_head=dict(
        type='Shared2FCBBoxHead', in_channels=256, fc_out_channels=1024, roi_feat_size=7,
        reg_class_agnostic=False, reg_decoded_bbox=True,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
        pos_weight=-1, debug=False),
    test_cfg=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
co_atss_head = dict(
    type='DetrxCoATSSHead',
    in_channels=256,
    stacked_convs=1,
    feat_channels=256,
    anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8, scales_per_octave=1,
                          strides=co_strides),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
    loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.6),
                  max_per_img=100))

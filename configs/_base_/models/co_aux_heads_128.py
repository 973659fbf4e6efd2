# Co-DETR's auxiliary heads for the small 128-d models, as variables: an RPN (`co_rpn_head`) + RoI head
# (`co_roi_head`), ATSS (`co_atss_head`) and FCOS (`co_fcos_head`), all on the encoder memory turned into strides
# 8-128 (DetrxCoMemoryNeck): ./co_aux_heads_r50.py narrower and with fewer sampled RoIs, and FCOS. A Co-DETR model base
# picks its heads: `rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}],
# bbox_head=[{{_base_.co_atss_head}}]`. `model.num_classes` of DetrxCoDETR sets every head's classes.
_base_ = './co_aux_heads_r50.py'
co_rpn_head = dict(in_channels=128, feat_channels=128, train_cfg=dict(sampler=dict(num=128)),
                   test_cfg=dict(nms_pre=500, max_per_img=300))
co_rpn_proposal = dict(nms_pre=1000, max_per_img=300)
co_roi_head = dict(bbox_roi_extractor=dict(out_channels=128, finest_scale=56),
                   bbox_head=dict(in_channels=128, fc_out_channels=256), train_cfg=dict(sampler=dict(num=256)))
co_atss_head = dict(in_channels=128, feat_channels=128, test_cfg=dict(nms_pre=500))
# FCOS as in the Co-DETR paper's one-to-many heads: a positive point of stride s gives the box of side 8 * s
# centred on it (DetrxCoFCOSHead.pos_box_scale), the size of an ATSS anchor above
co_fcos_head = dict(
    type='DetrxCoFCOSHead',
    in_channels=128,
    stacked_convs=1,
    feat_channels=128,
    strides={{_base_.co_strides}},
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

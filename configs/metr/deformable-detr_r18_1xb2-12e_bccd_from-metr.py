# Fine-tune a plain Deformable DETR (same R18 / 128-d / 2+2-layer transformer as ../_base_/models/metr_r18.py)
# on BCCD from a METR pre-training checkpoint. Make the initialisation first:
#   python tools/model_converters/metr_to_finetune.py \
#       work_dirs/metr_r18_1xb2-12e_coco128-bccd/epoch_12.pth \
#       work_dirs/metr_r18_1xb2-12e_coco128-bccd/deformable-detr_r18_from-metr.pth \
#       --config configs/metr/deformable-detr_r18_1xb2-12e_bccd_from-metr.py
# It keeps backbone, neck, encoder, decoder, level embedding, reference points and box branches; the
# classifier (3 BCCD classes) and the query embedding start fresh. See docs/metr.md.
_base_ = [
    '../_base_/datasets/bccd_detection.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx'], allow_failed_imports=False)
embed_dims = 128
model = dict(
    type='DeformableDETR',
    num_queries=100,
    num_feature_levels=4,
    with_box_refine=False,
    as_two_stage=False,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=None),  # comes from the METR checkpoint
    neck=dict(
        type='ChannelMapper',
        in_channels=[128, 256, 512],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        num_outs=4),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.1))),
    decoder=dict(
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1, batch_first=True),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.1)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=-0.5),
    bbox_head=dict(
        type='DeformableDETRHead',
        num_classes=3,
        embed_dims=embed_dims,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=100))
load_from = 'work_dirs/metr_r18_1xb2-12e_coco128-bccd/deformable-detr_r18_from-metr.pth'

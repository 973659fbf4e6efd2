# A tiny DETR on coco128 for entry-point tests: ResNet-18 without pretrained weights, 64-d transformer,
# 1 encoder / 1 decoder layer, 10 queries, 96 px images, first 4 images. Seconds per epoch on CPU.
_base_ = [
    '../../configs/_base_/datasets/coco128_detection.py',
    '../../configs/_base_/schedules/adamw_12e.py',
    '../../configs/_base_/default_runtime.py',
]
model = dict(
    type='DETR',
    num_queries=10,
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch', init_cfg=None),
    neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=64, act_cfg=None,
              norm_cfg=None, num_outs=1),
    encoder=dict(num_layers=1, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=64, num_heads=4, dropout=0.0, batch_first=True),
        ffn_cfg=dict(embed_dims=64, feedforward_channels=128, num_fcs=2, ffn_drop=0.0,
                     act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(num_layers=1, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=64, num_heads=4, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(embed_dims=64, num_heads=4, dropout=0.0, batch_first=True),
        ffn_cfg=dict(embed_dims=64, feedforward_channels=128, num_fcs=2, ffn_drop=0.0,
                     act_cfg=dict(type='ReLU', inplace=True))), return_intermediate=True),
    positional_encoding=dict(num_feats=32, normalize=True),
    bbox_head=dict(
        type='DETRHead', num_classes=80, embed_dims=64,
        loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                      class_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
        dict(type='ClassificationCost', weight=1.), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
    test_cfg=dict(max_per_img=10))

small = (128, 96)
train_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=small, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='Resize', scale=small, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline, indices=4))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline, indices=4))
test_dataloader = val_dataloader
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
randomness = dict(seed=0, deterministic=False)

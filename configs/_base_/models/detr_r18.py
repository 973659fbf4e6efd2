# Model part of the small DETR configs: exactly the Conditional DETR settings of ./conditional-detr_r18.py
# (backbone, neck, encoder, queries) with DETR's plain decoder, softmax classification (no-object weight 0.1)
# and its matching cost, for a like-for-like DETR vs Conditional DETR comparison.
_base_ = './conditional-detr_r18.py'

embed_dims = 128
model = dict(
    type='ModularDETR',
    decoder=dict(
        _delete_=True,
        type='ModularDetrDecoder',
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(
            type='ModularDetrDecoderLayer',
            self_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            cross_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                                batch_first=True),
            ffn_cfg=dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=512, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    bbox_head=dict(
        _delete_=True,
        type='DETRHead',
        num_classes=80,
        embed_dims=embed_dims,
        loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                      class_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='BatchedHungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])))

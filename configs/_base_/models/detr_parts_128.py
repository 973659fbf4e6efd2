# DETR's decoder, head and matching for the small 128-d models (2 decoder layers), as variables with
# `_delete_=True` so that they replace the Conditional DETR parts of an inherited model: used by ./detr_r18.py
# (plain DETR) and ./co-detr_r18.py (Co-DETR over plain DETR, head `co_detr_head`).
_detr_dims = 128
detr_decoder = dict(
    _delete_=True,
    type='ModularDETRDecoder',
    num_layers=2,
    return_intermediate=True,
    layer_cfg=dict(
        type='ModularDETRDecoderLayer',
        self_attn_cfg=dict(type='MultiheadAttention', embed_dims=_detr_dims, num_heads=8, dropout=0.1,
                           batch_first=True),
        cross_attn_cfg=dict(type='MultiheadAttention', embed_dims=_detr_dims, num_heads=8, dropout=0.1,
                            batch_first=True),
        ffn_cfg=dict(type='FastDropoutFFN', embed_dims=_detr_dims, feedforward_channels=512, num_fcs=2,
                     ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))))
detr_head = dict(
    _delete_=True,
    type='DETRHead',
    num_classes=80,
    embed_dims=_detr_dims,
    loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                  class_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=5.0),
    loss_iou=dict(type='GIoULoss', loss_weight=2.0))
co_detr_head = dict(detr_head, type='DetrxCoDETRHead')
detr_assigner = dict(
    _delete_=True,
    type='BatchedHungarianAssigner',
    match_costs=[
        dict(type='ClassificationCost', weight=1.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)
    ])

# DETR, ResNet-50, 50 epochs on COCO, on exactly the settings of
# ../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py (backbone, neck, encoder, positional encoding,
# data pipeline, optimizer, 50-epoch schedule, runtime), so the two are directly comparable (paper Table 1,
# "DETR-R50, 50 epochs"). Only what defines DETR differs: the plain decoder (ModularDETRDecoder with mmcv
# MultiheadAttention), 100 queries, softmax classification with no-object weight 0.1 and its matching cost.
_base_ = '../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py'

embed_dims = 256
model = dict(
    type='ModularDETR',
    num_queries=100,
    decoder=dict(
        _delete_=True,
        type='ModularDETRDecoder',
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            type='ModularDETRDecoderLayer',
            self_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            cross_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                                batch_first=True),
            ffn_cfg=dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    bbox_head=dict(
        _delete_=True,
        type='DETRHead',
        num_classes=80,
        embed_dims=embed_dims,
        loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                      class_weight=1.0),
        loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}))

# mmdet's own DETR (type='DETR', DETRHead, HungarianAssigner), shrunk like ./tiny_conditional_detr_coco128.py
# (ResNet-18 without pretrained weights, 64-d transformer, 1 encoder / 1 decoder layer, 10 queries, images at
# most 128x96, first 4 coco128 images) for the benchmark tests. mmdet's DETR builds its encoder, decoder and
# positional encoding without the registry, so those configs carry no `type`.
_base_ = './tiny_conditional_detr_coco128.py'
d = 64
attn = dict(embed_dims=d, num_heads=4, dropout=0.0, batch_first=True)
ffn = dict(embed_dims=d, feedforward_channels=128, num_fcs=2, ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='DETR',
    encoder=dict(_delete_=True, num_layers=1, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
    decoder=dict(_delete_=True, num_layers=1, return_intermediate=True,
                 layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
    positional_encoding=dict(_delete_=True, num_feats=d // 2, normalize=True),
    bbox_head=dict(type='DETRHead', loss_cls=dict(_delete_=True, type='CrossEntropyLoss', bg_cls_weight=0.1,
                                                  use_sigmoid=False, loss_weight=1.0, class_weight=1.0)),
    train_cfg=dict(assigner={{_base_.softmax_hungarian_assigner}}))

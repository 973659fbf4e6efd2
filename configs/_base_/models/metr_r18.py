# Model part of the small METR configs: Deformable-DETR-style, ResNet-18, 128-d transformer, 2+2 layers,
# 100 class-specific queries, K=10 categories per image. label_spaces must be set by the config that uses it
# (names = the label_space tags of the data samples, see mmdet_detrx/datasets/multi_label_space.py).
# ResNet-18 from scratch (GroupNorm, see ./deformable-detr_r18.py).
# Everything but the METR parts comes from ./deformable-detr_r18.py.
_base_ = './deformable-detr_r18.py'
embed_dims = {{_base_.embed_dims}}
model = dict(
    type='METR',
    num_categories=10,
    negative_sampling='hard',
    label_spaces=dict(),
    category_extractor=dict(type='METRCategoryExtractor', num_layers=1, num_heads=8, feedforward_channels=512,
                            dropout=0.0,
                            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)),
    query_generator=dict(type='METRQueryGenerator', distribute='balanced'),
    bbox_head=dict(_delete_=True, type='METRHead', embed_dims=embed_dims, score_combination='geometric_mean',
                   sync_cls_avg_factor=True,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                   loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(assigner=dict(type='GroupHungarianAssigner')))

# Model part of the small Deformable DETR configs: ResNet-18 (C3-C5), 128-d transformer, 2+2 layers, 100 queries,
# 4 feature levels, single stage, no box refinement. The base of ./metr_r18.py and of the plain Deformable DETR that
# fine-tunes from METR (../../metr/deformable-detr_r18_1xb2-12e_bccd_from-metr.py).
# ResNet-18 from scratch (GroupNorm, trainable, no download): runs anywhere. For ImageNet weights offline use the
# EfficientNet-Lite0 configs (*_lite0_*, ./lite0_backbone.py); with torchvision and its weights cached you may set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18') (and BN).
_base_ = './detr_matching.py'
embed_dims = 128
model = dict(
    type='DeformableDETR',
    num_queries=100,
    num_feature_levels=4,
    with_box_refine=False,
    as_two_stage=False,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), norm_eval=False, style='pytorch',
                  init_cfg=None),
    neck=dict(type='ChannelMapper', in_channels=[128, 256, 512], kernel_size=1, out_channels=embed_dims, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, batch_first=True),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.1))),
    decoder=dict(
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1, batch_first=True),
                       cross_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, batch_first=True),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.1)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=-0.5),
    bbox_head=dict(type='DeformableDETRHead', num_classes=80, embed_dims=embed_dims, sync_cls_avg_factor=True,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                   loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    train_cfg=dict(assigner={{_base_.focal_hungarian_assigner}}),
    test_cfg=dict(max_per_img=100))

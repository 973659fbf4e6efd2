# Model part of the small Conditional DETR configs (ResNet-18, 128-d transformer, 2+2 layers, 100 queries).
# Our decoder sizes its sine embedding from embed_dims (mmdet's ConditionalDETR needs 256).
# ResNet-18 from scratch (GroupNorm, trainable, no download): runs anywhere. For ImageNet weights offline use the
# EfficientNet-Lite0 configs (*_lite0_*, ./lite0_backbone.py); with torchvision and its weights cached you may set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18') (and BN).
_base_ = './detr_matching.py'
embed_dims = 128
ffn_cfg = dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=512, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='CondDETR',
    num_queries=100,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=-1,
                  norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), norm_eval=False, style='pytorch',
                  init_cfg=None),
    neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=embed_dims, act_cfg=None,
              norm_cfg=None, num_outs=1),
    encoder=dict(
        type='ModularDETREncoder',
        num_layers=2,
        layer_cfg=dict(
            type='ModularDETREncoderLayer',
            self_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            ffn_cfg=ffn_cfg)),
    decoder=dict(
        type='CondDETRDecoder',
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(
            type='CondDETRDecoderLayer',
            self_attn_cfg=dict(type='CondDETRSelfAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                               proj_drop=0.1),
            cross_attn_cfg=dict(type='CondDETRCrossAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                                proj_drop=0.1),
            ffn_cfg=ffn_cfg)),
    positional_encoding=dict(type='SinePositionalEncoding', num_feats=embed_dims // 2, normalize=True),
    bbox_head=dict(type='CondDETRHead', num_classes=80, embed_dims=embed_dims,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                   loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    train_cfg=dict(assigner={{_base_.batched_focal_hungarian_assigner}}),
    test_cfg=dict(max_per_img=100))


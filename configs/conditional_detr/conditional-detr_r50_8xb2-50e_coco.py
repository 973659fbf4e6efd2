# Conditional DETR, ResNet-50, 50 epochs on COCO (paper Table 1; official repo: Atten4Vis/ConditionalDETR).
# Built from mmdet_detrx registry components; every part (encoder/decoder layers, attentions, FFNs, positional
# encoding, assigner) can be swapped by changing its `type`. The state dict equals mmdet's `ConditionalDETR`, so
# mmdet model-zoo checkpoints load with `load_from=...`.
# Data pipeline, optimizer (AdamW 1e-4, backbone x0.1, clip 0.1) and runtime come from mmdet's DETR config.
# Differences from mmdet's conditional-detr_r50_8xb2-50e_coco.py, following the official code:
#   * proj_drop=0.1 in the decoder attentions (official: dropout 0.1 on both attention residuals; mmdet: none);
#   * the head zero-initializes its last box layer (CondDETRHead(zero_init_reg=True)), as the official code;
#   * BatchedHungarianAssigner (same matching as HungarianAssigner, costs computed for the whole batch);
#   * FastDropoutFFN: mmcv's FFN (same parameters) with a cheaper dropout mask on CPU (no change on GPU).
_base_ = ['mmdet::detr/detr_r50_8xb2-150e_coco.py', '../_base_/models/detr_matching.py']
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

embed_dims = 256
model = dict(
    _delete_=True,
    type='CondDETR',
    num_queries=300,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=50, num_stages=4, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1),
                  out_indices=(3, ), frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
                  style='pytorch', init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='ChannelMapper', in_channels=[2048], kernel_size=1, out_channels=embed_dims, act_cfg=None,
              norm_cfg=None, num_outs=1),
    encoder=dict(
        type='ModularDETREncoder',
        num_layers=6,
        layer_cfg=dict(
            type='ModularDETREncoderLayer',
            self_attn_cfg=dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1,
                               batch_first=True),
            ffn_cfg=dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    decoder=dict(
        type='CondDETRDecoder',
        num_layers=6,
        return_intermediate=True,  # auxiliary losses on every decoder layer
        keep_query_pos=False,  # object query enters the cross-attention of the first layer only
        layer_cfg=dict(
            type='CondDETRDecoderLayer',
            self_attn_cfg=dict(type='CondDETRSelfAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                               proj_drop=0.1),
            cross_attn_cfg=dict(type='CondDETRCrossAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                                proj_drop=0.1),
            ffn_cfg=dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2,
                         ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)))),
    positional_encoding=dict(type='SinePositionalEncoding', num_feats=embed_dims // 2, normalize=True),
    bbox_head=dict(type='CondDETRHead', num_classes=80, embed_dims=embed_dims,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                   loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    train_cfg=dict(assigner={{_base_.batched_focal_hungarian_assigner}}),
    test_cfg=dict(max_per_img=100))

# The decoder keeps mmdet's parameter layout, in which the query-position projection of the cross-attention
# exists in every layer but only the first uses it (keep_query_pos=False): DDP must allow unused parameters.
find_unused_parameters = True

max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)
]
# 8 GPUs x 2 images, as the official runs
auto_scale_lr = dict(base_batch_size=16)

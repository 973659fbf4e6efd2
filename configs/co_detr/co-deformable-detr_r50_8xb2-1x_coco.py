# Co-Deformable-DETR: Co-DETR around mmdet's two-stage Deformable DETR with box refinement, ResNet-50,
# 4 scales, 300 queries, DETR multi-scale augmentation, 12 epochs, batch 8x2.
# Auxiliary heads: RPN + RoI head (aux0) and ATSS (aux1) on the encoder memory + 1 extra level (strides 8-128).
# Differences to Sense-X/Co-DETR's co_deformable_detr_r50_1x_coco.py (so its checkpoints do not load): mmdet's
# Deformable DETR has no mixed query selection nor look-forward-twice, and the positive queries carry no
# memory features (with_coord_feat); padding of the positive query groups is masked instead of negatives.
_base_ = ['mmdet::_base_/datasets/coco_detection.py', 'mmdet::_base_/default_runtime.py',
          '../_base_/models/co_aux_heads_r50.py', '../_base_/models/detr_matching.py',
          '../_base_/datasets/detr_multiscale_augment.py']
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

num_classes = 80
num_dec_layers = 6
aux_head_loss_weight = num_dec_layers * 2.0  # see the Co-DINO config

model = dict(
    type='DetrxCoDETR',
    num_classes=num_classes,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='ChannelMapper', in_channels=[512, 1024, 2048], kernel_size=1, out_channels=256, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    query_head=dict(
        type='DeformableDETR',
        num_queries=300,
        num_feature_levels=4,
        with_box_refine=True,
        as_two_stage=True,
        encoder=dict(
            num_layers=6,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, batch_first=True, dropout=0.0),
                           ffn_cfg=dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0))),
        decoder=dict(
            num_layers=num_dec_layers,
            return_intermediate=True,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
                           cross_attn_cfg=dict(embed_dims=256, batch_first=True, dropout=0.0),
                           ffn_cfg=dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0)),
            post_norm_cfg=None),
        positional_encoding=dict(num_feats=128, normalize=True, offset=-0.5),
        bbox_head=dict(type='DetrxCoDeformableDETRHead', num_classes=num_classes, sync_cls_avg_factor=True,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
        train_cfg=dict(assigner={{_base_.focal_hungarian_assigner}}),
        test_cfg=dict(max_per_img=100)),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=300),
    aux_head_loss_weight=aux_head_loss_weight,
    aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}},
    roi_head=[{{_base_.co_roi_head}}],
    bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}),
    test_cfg=dict(eval_module='detr', eval_index=0))

# DETR multi-scale augmentation (with a random-crop branch)
train_pipeline = {{_base_.detr_train_pipeline}}
train_dataloader = dict(dataset=dict(filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[11], gamma=0.1)
]
# base_batch_size = 8 GPUs x 2 images
auto_scale_lr = dict(base_batch_size=16)

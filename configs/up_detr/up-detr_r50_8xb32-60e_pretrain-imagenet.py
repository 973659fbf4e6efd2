# UP-DETR pre-training (Dai et al., CVPR 2021; github dddzg/up-detr) of DETR-R50 on ImageNet without labels:
# random query patch detection, 100 object queries in 10 groups of 10, one query patch per group (query
# shuffle as in the paper), 10% of the patch features masked, feature reconstruction, frozen CNN, 60 epochs.
#   bash tools/dist_train.sh configs/up_detr/up-detr_r50_8xb32-60e_pretrain-imagenet.py 8 \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/imagenet/   # images under train/
# The paper initializes the frozen CNN from SwAV (self-supervised); set
# model.backbone.init_cfg.checkpoint=<an mmdet-style SwAV ResNet-50 checkpoint>, else the torchvision
# (supervised) ResNet-50 is used. Differences from the reference: post-norm transformer layers (mmdet's DETR;
# the reference pre-trains with --pre_norm), and our query groups allow any num_patches <= num_queries.
_base_ = ['../_base_/datasets/up-detr_pretrain_imagenet.py', '../_base_/schedules/up-detr_pretrain_60e.py',
          '../_base_/default_runtime.py', '../_base_/models/detr_matching.py']

embed_dims = 256
backbone_channels = 2048
num_patches = {{ _base_.num_patches }}
ffn_cfg = dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
attn_cfg = dict(embed_dims=embed_dims, num_heads=8, dropout=0.1, batch_first=True)
# DETR-R50 (mmdet's detr_r50 sizes); the parts' types are the detector's defaults (ModularDETR's encoder and decoder
# with mmcv MultiheadAttention), so a subclass (UPCondDETR) brings its own decoder
model = dict(
    type='UPDETR',
    num_queries=100,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='ChannelMapper', in_channels=[backbone_channels], kernel_size=1, out_channels=embed_dims,
              act_cfg=None, norm_cfg=None, num_outs=1),
    encoder=dict(num_layers=6, layer_cfg=dict(self_attn_cfg=attn_cfg, ffn_cfg=ffn_cfg)),
    decoder=dict(num_layers=6, return_intermediate=True,
                 layer_cfg=dict(self_attn_cfg=attn_cfg, cross_attn_cfg=attn_cfg, ffn_cfg=ffn_cfg)),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
    # the pooled backbone feature of every query patch, projected to embed_dims, is added to its group's queries
    patch_encoder=dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches=num_patches, mask_ratio=0.1,
                       query_shuffle=True),
    # match / no-match (softmax over object and no-object, weight 0.1), boxes, feature reconstruction
    bbox_head=dict(
        type='UPDETRHead',
        num_classes=1,
        embed_dims=embed_dims,
        patch_channels=backbone_channels,
        loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                      class_weight=1.0),
        loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}},
        loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)),
    train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}),
    test_cfg=dict(max_per_img=100))

# Model part of the small DINO configs: EfficientNet-Lite0 with offline ImageNet weights (./lite0_backbone.py),
# 4 scales (strides 8-64), 2 encoder / 2 decoder layers, 100 queries, contrastive denoising, two-stage query
# selection, box refinement. embed_dims stays 256: mmdet's DINO decoder hard-codes its 4 x 128 sine embedding of
# the reference boxes. A dataset config sets ``model.bbox_head.num_classes``.
_base_ = ['./lite0_backbone.py', './detr_matching.py']
embed_dims = 256
num_dec_layers = 2
model = dict(
    type='DINO',
    num_queries=100,
    with_box_refine=True,
    as_two_stage=True,
    num_feature_levels=4,
    data_preprocessor={{_base_.lite0_data_preprocessor}},
    backbone={{_base_.lite0_c3_c5}},
    neck=dict(type='ChannelMapper', in_channels={{_base_.lite0_c3_c5_channels}}, kernel_size=1, out_channels=embed_dims,
              act_cfg=None, norm_cfg=dict(type='GN', num_groups=32), num_outs=4),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, dropout=0.0),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.0))),
    decoder=dict(
        num_layers=num_dec_layers,
        return_intermediate=True,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0),
                       cross_attn_cfg=dict(embed_dims=embed_dims, num_levels=4, dropout=0.0),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512, ffn_drop=0.0)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=0.0, temperature=20),
    bbox_head=dict(type='DINOHead', num_classes=80, embed_dims=embed_dims, sync_cls_avg_factor=True,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                   loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=50)),
    train_cfg=dict(assigner={{_base_.focal_hungarian_assigner}}),
    test_cfg=dict(max_per_img=100))

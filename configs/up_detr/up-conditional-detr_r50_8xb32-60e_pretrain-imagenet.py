# UP-DETR pre-training of Conditional DETR-R50 on ImageNet without labels: the recipe of
# ./up-detr_r50_8xb32-60e_pretrain-imagenet.py (data, 10 query patches, frozen CNN, 60 epochs) on Conditional
# DETR (300 queries in 10 groups of 30, sigmoid focal match / no-match score, its loss weights and matching).
_base_ = './up-detr_r50_8xb32-60e_pretrain-imagenet.py'

embed_dims = 256
ffn_cfg = dict(type='FastDropoutFFN', embed_dims=embed_dims, feedforward_channels=2048, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='UPCondDETR',
    num_queries=300,
    decoder=dict(
        _delete_=True,
        type='CondDETRDecoder',
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            type='CondDETRDecoderLayer',
            self_attn_cfg=dict(type='CondDETRSelfAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                               proj_drop=0.1),
            cross_attn_cfg=dict(type='CondDETRCrossAttention', embed_dims=embed_dims, num_heads=8, attn_drop=0.1,
                                proj_drop=0.1),
            ffn_cfg=ffn_cfg)),
    bbox_head=dict(_delete_=True, type='UPCondDETRHead', num_classes=1, embed_dims=embed_dims, patch_channels=2048,
                   loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                   loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}},
                   loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)),
    train_cfg=dict(assigner={{_base_.batched_focal_hungarian_assigner}}))

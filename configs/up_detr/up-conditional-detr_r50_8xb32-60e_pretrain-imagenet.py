# UP-DETR pre-training of Conditional DETR-R50 on ImageNet without labels: the recipe of
# ./up-detr_r50_8xb32-60e_pretrain-imagenet.py (data, 10 query patches, frozen CNN, 60 epochs) on Conditional
# DETR (300 queries in 10 groups of 30, sigmoid focal match / no-match score, its loss weights and matching).
#   bash tools/dist_train.sh configs/up_detr/up-conditional-detr_r50_8xb32-60e_pretrain-imagenet.py 8 \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/imagenet/   # images under train/
_base_ = './up-detr_r50_8xb32-60e_pretrain-imagenet.py'

cond_attn = dict(_delete_=True, embed_dims=256, num_heads=8, attn_drop=0.1, proj_drop=0.1)
model = dict(
    type='UPCondDETR',  # its decoder defaults: CondDETRDecoder, CondDETRDecoderLayer, conditional attentions
    num_queries=300,
    decoder=dict(layer_cfg=dict(self_attn_cfg=cond_attn, cross_attn_cfg=cond_attn)),
    bbox_head=dict(type='UPCondDETRHead', loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True, gamma=2.0,
                                                        alpha=0.25, loss_weight=2.0)),
    train_cfg=dict(assigner={{_base_.batched_focal_hungarian_assigner}}))
